"""Writing staged rows: content hashes, dedup within the import and against the pool, and one INSERT of the kept
samples inside the caller's transaction (token estimates came with the staged rows)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.data.ingest.staging import _STAGE_COLS, _STAGE_SCHEMA, _one, _Run, _write_quarantine

if TYPE_CHECKING:
    from engine.core.store import Store


@dataclass
class ImportResult:
    """Outcome of one import (counts are records: n_records = n_inserted + n_duplicates + n_invalid)."""

    pool_id: int
    import_id: int
    format: str
    n_records: int
    n_inserted: int
    n_duplicates: int
    n_invalid: int
    quarantine_path: str | None
    seconds: float
    pool: str = ""
    files: list[str] = field(default_factory=list)
    fast_path: bool = False
    notes: list[str] = field(default_factory=list)  # what else the import did (preference pairs, KTO labels)


@dataclass
class _Staged:
    """One import read, staged and hashed, waiting for the write."""

    pool: str
    domain: str | None
    description: str | None
    source: str  # the pool's source and the import's path: the resolved path, or the name the caller gave it
    run: _Run
    n_rows: int
    t0: float
    kto_tag: str | None = None  # LLaMA-Factory KTO label key (a boolean kept in meta): false -> excluded
    pool_meta: dict | None = None  # more pools.meta for a new pool (e.g. its dataset_info entry)


def _next_id(con, table: str) -> int:
    """max(id) + 1 of a table, read on the import's own connection inside its transaction."""
    return int(_one(con, f"SELECT coalesce(max(id), 0) + 1 FROM {table}")[0])


def _flat_messages_sql(system: str, u: str, a: str) -> str:
    """The messages JSON of a flat row (optional system, user, optional reply) from SQL expressions: the same text
    as the JSON that formats.dumps writes for the normalised messages, read back by DuckDB (to_json of a list of
    structs costs a third of json_array(json_object(...)) cast to text and back)."""

    def msg(role: str, col: str) -> str:
        return f"{{'role': '{role}', 'content': {col}}}"

    us, asst, sy = msg("user", u), msg("assistant", a), msg("system", system)
    return f"""CASE WHEN {system} IS NULL AND {a} IS NULL THEN to_json([{us}])
        WHEN {system} IS NULL THEN to_json([{us}, {asst}])
        WHEN {a} IS NULL THEN to_json([{sy}, {us}])
        ELSE to_json([{sy}, {us}, {asst}]) END"""


_MESSAGES_SQL = f"CASE WHEN messages IS NOT NULL THEN json(messages) ELSE {_flat_messages_sql('system', 'u', 'a')} END"

# The content hash (see formats.content_hash_text): rows normalised in Python bring theirs; for flat rows
# (optional system, user, optional reply) the same serialisation is built here from plain strings.
_FLAT_HASH_SQL = """md5(coalesce(system, '') || chr(30) || chr(30)
    || CASE WHEN system IS NOT NULL THEN 'system' || chr(31) || system || chr(29) ELSE '' END
    || 'user' || chr(31) || u
    || CASE WHEN a IS NOT NULL THEN chr(29) || 'assistant' || chr(31) || a ELSE '' END)"""


def _source_sql(run: _Run) -> str:
    """The staged rows of a run: the Python-staged table plus each fast-path table (flat rows: never a
    preference pair, so `rejected` is NULL there)."""
    fast_cols = ", ".join("NULL::VARCHAR AS rejected" if f.name == "rejected" else f.name for f in _STAGE_SCHEMA)
    parts = [f"SELECT {_STAGE_COLS} FROM {run.stage}"] + [f"SELECT {fast_cols} FROM {t}" for t in run.fast_tables]
    return " UNION ALL ".join(parts)


def _prepare(run: _Run) -> int:
    """Hash every staged row into a narrow table (ord, h); the big rows are not copied."""
    con, p = run.con, run.prefix
    con.execute(f"CREATE OR REPLACE TEMP VIEW {p}src AS {_source_sql(run)}")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {p}hash AS
        SELECT ord, coalesce(h, {_FLAT_HASH_SQL}) AS h FROM {p}src""")
    return _one(con, f"SELECT count(*) FROM {p}hash")[0]


def _keep(con, p: str, pool_id: int) -> int:
    """Rows to insert: first occurrence of each hash, not already in the pool; rn numbers them in order."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {p}keep AS
        SELECT ord, h, row_number() OVER (ORDER BY ord) AS rn FROM (
            SELECT ord, h FROM {p}hash QUALIFY row_number() OVER (PARTITION BY h ORDER BY ord) = 1) x
        WHERE NOT EXISTS (SELECT 1 FROM samples y WHERE y.pool_id = ? AND y.content_hash = x.h)""",
        [pool_id],
    )
    return _one(con, f"SELECT count(*) FROM {p}keep")[0]


def _write_job(con, store: Store, st: _Staged, *, cancel) -> ImportResult:
    """Inside the caller's transaction: pool and import rows, then one INSERT of the kept samples."""
    run, p = st.run, st.run.prefix
    rows = con.execute("SELECT id, domain FROM pools WHERE name = ?", [st.pool]).fetchall()
    fmt = ",".join(run.formats) or "unknown"
    if not rows:
        pool_id = _next_id(con, "pools")
        pool_domain = st.domain or "general"
        con.execute(
            "INSERT INTO pools (id, name, domain, format, source, description, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                pool_id,
                st.pool,
                pool_domain,
                fmt,
                st.source,
                st.description,
                json.dumps({"detection": run.reasons, **(st.pool_meta or {})}, default=str),
            ],
        )
    else:
        pool_id, pool_domain = rows[0]
        pool_domain = st.domain or pool_domain
    import_id = _next_id(con, "imports")
    con.execute(
        "INSERT INTO imports (id, pool_id, path, format) VALUES (?, ?, ?, ?)",
        [import_id, pool_id, st.source, fmt],
    )
    n_keep = _keep(con, p, pool_id)
    if cancel is not None:
        cancel.check()
    con.execute(f"CREATE OR REPLACE TEMP TABLE {p}files (file_no INTEGER, path VARCHAR)")
    con.executemany(f"INSERT INTO {p}files VALUES (?, ?)", [[i, f] for i, f in enumerate(run.files)])
    base = _next_id(con, "samples")
    run.meter.report("writing", force=True)
    # JSON columns take a JSON value (json(x)): text cast to JSON would be parsed once more
    con.execute(
        f"""INSERT INTO samples (id, pool_id, import_id, source_file, record_index, source_line, messages,
            system, tools, instruction, response, n_turns, domain, domain_source, content_hash, n_chars,
            n_tokens, meta, rejected)
        SELECT ? + k.rn - 1, ?, ?, f.path, s.record_index, s.source_line, {_MESSAGES_SQL}, s.system, json(s.tools),
               coalesce(s.instruction, s.u), coalesce(s.response, s.a, ''),
               coalesce(s.n_turns, CASE WHEN s.a IS NULL THEN 1 ELSE 2 END), ?, 'pool', k.h,
               coalesce(s.n_chars, length(coalesce(s.system, '')) + length(s.u) + length(coalesce(s.a, ''))),
               s.n_tokens, json(s.meta), json(s.rejected)
        FROM {p}src s JOIN {p}keep k USING (ord) JOIN {p}files f USING (file_no)""",
        [base, pool_id, import_id, pool_domain],
    )
    notes = _notes(con, import_id, st.kto_tag)
    n_dup = st.n_rows - n_keep
    qpath = _write_quarantine(store, run, st.pool, import_id)
    report = {
        "files": run.files if len(run.files) <= 50 else run.files[:50] + [f"... {len(run.files)} files"],
        "detection": run.reasons,
        "fast_path_files": run.fast_files,
        "quarantine_path": qpath,
        "issues": [i.to_dict() for i in run.issues[:20]],
        "n_issues": run.n_issues,
    }
    seconds = time.perf_counter() - st.t0
    con.execute(
        """UPDATE imports SET finished_at = current_timestamp, n_records = ?, n_inserted = ?, n_duplicates = ?,
                   n_invalid = ?, report = ? WHERE id = ?""",
        [run.n_records, n_keep, n_dup, run.n_invalid, json.dumps(report, default=str), import_id],
    )
    run.meter.report("done", force=True)
    return ImportResult(
        pool_id,
        import_id,
        fmt,
        run.n_records,
        n_keep,
        n_dup,
        run.n_invalid,
        qpath,
        seconds,
        pool=st.pool,
        files=list(run.files),
        fast_path=run.fast_files == len(run.files),
        notes=notes,
    )


def kto_path(key: str) -> str:
    """JSON path of a KTO label key inside samples.meta."""
    return "$." + json.dumps(key)


def _notes(con, import_id: int, kto_tag: str | None) -> list[str]:
    """Inside the transaction: KTO labels to tags and exclusion, and notes on what the import holds."""
    notes = []
    n_pairs = _one(con, "SELECT count(*) FROM samples WHERE import_id = ? AND rejected IS NOT NULL", [import_id])[0]
    if n_pairs:
        notes.append(f"{n_pairs:,} preference pairs (chosen reply last in messages, rejected kept)")
    if kto_tag:
        label = "json_extract_string(meta, ?)"
        for value, tag in (("true", "kto:desired"), ("false", "kto:undesired")):
            con.execute(
                f"INSERT INTO sample_tags (sample_id, tag) SELECT id, ? FROM samples WHERE import_id = ? AND {label} = ?",
                [tag, import_id, kto_path(kto_tag), value],
            )
        con.execute(
            f"UPDATE samples SET excluded = true WHERE import_id = ? AND {label} = 'false'",
            [import_id, kto_path(kto_tag)],
        )
        good, bad = _one(
            con,
            f"SELECT count(*) FILTER (WHERE {label} = 'true'), count(*) FILTER (WHERE {label} = 'false')"
            " FROM samples WHERE import_id = ?",
            [kto_path(kto_tag), kto_path(kto_tag), import_id],
        )
        notes.append(
            f"KTO {kto_tag!r}: {good:,} desired (tag kto:desired), {bad:,} undesired (excluded, tag kto:undesired)"
        )
    return notes
