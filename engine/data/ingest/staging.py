"""Staging: records validated and normalised in Python, appended to a TEMP table in pyarrow chunks.

Problems are collected as `RecordIssue`s (file, line, record, field); with skip_invalid the bad records go
to a JSONL quarantine report and the rest is imported."""

from __future__ import annotations

import json
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from engine.core.jobs import CancelToken, ProgressMeter
from engine.data.formats import (
    FLAT_FORMATS,
    FORMATS,
    FieldError,
    FlatCols,
    FormatContext,
    FormatSpec,
    Normalized,
    NotFlat,
    RecordIssue,
    content_hash,
    dumps,
    flat_row,
    json_text,
)
from engine.data.ingest.readers import _FileProblem, _Reader

if TYPE_CHECKING:
    from engine.core.store import Store

CHUNK_ROWS = 50_000  # rows per staged pyarrow chunk
MAX_ISSUES = 10_000  # issues kept in memory (all are counted)
TOKEN_PATTERN = r"\w+|[^\w\s]"  # n_tokens estimate: number of such pieces (Unicode \w, polars regex)


_STAGE_SCHEMA = pa.schema(
    [
        ("ord", pa.int64()),
        ("file_no", pa.int32()),
        ("record_index", pa.int64()),
        ("source_line", pa.int64()),
        ("system", pa.string()),
        ("tools", pa.string()),
        ("messages", pa.string()),
        ("u", pa.string()),
        ("a", pa.string()),
        ("instruction", pa.string()),
        ("response", pa.string()),
        ("n_turns", pa.int32()),
        ("n_chars", pa.int64()),
        ("meta", pa.string()),
        ("h", pa.string()),
        ("rejected", pa.string()),  # preference pairs: the rejected reply (JSON message); NULL otherwise
        ("n_tokens", pa.int64()),
    ]
)
_STAGE_DDL = ", ".join(
    f"{f.name} {t}"
    for f, t in zip(
        _STAGE_SCHEMA,
        [
            "BIGINT",
            "INTEGER",
            "BIGINT",
            "BIGINT",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "INTEGER",
            "BIGINT",
            "VARCHAR",
            "VARCHAR",
            "VARCHAR",
            "BIGINT",
        ],
    )
)
_STAGE_COLS = ", ".join(f.name for f in _STAGE_SCHEMA)


def _count_tokens(texts):
    """Token estimates (number of TOKEN_PATTERN pieces) of a pyarrow/polars string column, using polars."""
    import polars as pl

    s = texts if isinstance(texts, pl.Series) else pl.Series(texts)
    return s.fill_null("").str.count_matches(TOKEN_PATTERN).cast(pl.Int64)


_JSON_COLUMNS = {"tools", "messages", "meta", "rejected"}
_FIELD_NAMES = {"u": "user turn", "a": "reply", "system": "system"}


def _surrogate_field(text: str, name: str) -> str:
    """The path inside a staged JSON column of the first string holding a lone surrogate
    ("messages[1].content"); the column's name when it cannot be told."""
    try:
        obj = json.loads(text)
    except ValueError:
        return name

    def walk(o: Any, path: str) -> str | None:
        if isinstance(o, str):
            try:
                o.encode("utf-8")
            except UnicodeEncodeError:
                return path
            return None
        items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()
        for k, x in items:
            found = walk(x, f"{path}.{k}" if isinstance(o, dict) else f"{path}[{k}]")
            if found:
                return found
        return None

    return walk(obj, name) or name


class _Chunk:
    """Column lists for one staged chunk (flat rows: u/a set, messages NULL; full rows: the reverse)."""

    def __init__(self) -> None:
        self.clear()

    def __len__(self) -> int:
        return len(self.cols[0])

    def clear(self) -> None:
        self.cols: list[list] = [[] for _ in range(len(_STAGE_SCHEMA) - 1)]
        self.texts: list = []

    def _drop_unencodable(self, run: "_Run | None") -> None:
        bad: dict[int, str] = {}  # row -> the field holding the lone surrogate
        for col in (4, 5, 6, 7, 8, 9, 10, 13, 15):
            name = _STAGE_SCHEMA.field(col).name
            for i, v in enumerate(self.cols[col]):
                if v is not None and i not in bad:
                    try:
                        v.encode("utf-8")
                    except UnicodeEncodeError:
                        bad[i] = _surrogate_field(v, name) if name in _JSON_COLUMNS else _FIELD_NAMES.get(name, name)
        for i in sorted(bad):
            if run is not None:
                run.n_invalid += 1
                run.issue(
                    self.cols[1][i],
                    self.cols[3][i],
                    self.cols[2][i],
                    bad[i],
                    "text contains an unpaired surrogate (an invalid \\u escape such as \\ud800)",
                )
        keep = [i for i in range(len(self)) if i not in bad]
        self.cols = [[c[i] for i in keep] for c in self.cols]
        self.texts = [self.texts[i] for i in keep]

    def add_flat(self, ord_, file_no, ri, line, s, u, a, meta) -> None:
        meta_text = dumps(meta) if meta else None  # first: a value that cannot be written appends nothing
        c = self.cols
        c[0].append(ord_)
        c[1].append(file_no)
        c[2].append(ri)
        c[3].append(line)  # noqa: E702
        c[4].append(s)
        c[5].append(None)
        c[6].append(None)
        c[7].append(u)
        c[8].append(a)  # noqa: E702
        c[9].append(None)
        c[10].append(None)
        c[11].append(None)
        c[12].append(None)  # noqa: E702
        c[13].append(meta_text)
        c[14].append(None)
        c[15].append(None)
        self.texts.append("\n".join(x for x in (s, u, a) if x is not None))  # what the token estimate counts

    def add_full(self, ord_, file_no, ri, line, n: Normalized) -> None:
        # every value first: one that cannot be written (nested too deeply, say) raises before anything is appended
        row = (
            ord_,
            file_no,
            ri,
            line,
            n.system,
            dumps(n.tools) if n.tools else None,
            dumps(n.messages),
            None,
            None,
            n.instruction,
            n.response,
            n.n_turns,
            sum(len(m["content"]) for m in n.messages),
            dumps(n.meta) if n.meta else None,
            content_hash(n.messages, n.system, n.tools, n.rejected),
            dumps(n.rejected) if n.rejected is not None else None,
        )
        text = "\n".join(m["content"] for m in n.messages)
        for col, v in zip(self.cols, row):
            col.append(v)
        self.texts.append(text)

    def flush(self, con: duckdb.DuckDBPyConnection, table: str, run: "_Run | None" = None) -> None:
        if not len(self):
            return
        import polars as pl

        try:
            arrays = [pa.array(c, type=f.type) for c, f in zip(self.cols, _STAGE_SCHEMA)]
        except UnicodeEncodeError:  # a JSON "\ud800" escape: a lone surrogate is not valid text
            self._drop_unencodable(run)
            return self.flush(con, table, run)
        # token estimates now (system, user and reply of a flat row; every turn of the others, joined by newlines)
        arrays.append(_count_tokens(pl.Series(self.texts, dtype=pl.String)).to_arrow())
        tbl = pa.Table.from_arrays(arrays, schema=_STAGE_SCHEMA)
        con.register("wb_chunk_v", tbl)
        try:
            con.execute(f"INSERT INTO {table} SELECT * FROM wb_chunk_v")
        finally:
            con.unregister("wb_chunk_v")
        self.clear()


class _Run:
    """State of one import run over one or more files."""

    def __init__(
        self, con, *, skip_invalid: bool, meter: ProgressMeter, cancel: CancelToken | None, prefix: str = "wb_"
    ):
        self.con = con
        self.prefix = prefix
        self.stage = f"{prefix}stage"  # rows normalised in Python
        self.fast_tables: list[str] = []  # one table per file staged by the DuckDB fast path
        self.tokens_sql = ""  # the SQL function that counts tokens (fastpath.tokens_function)
        self.skip_invalid = skip_invalid
        self.meter = meter
        self.cancel = cancel
        self.issues: list[RecordIssue] = []
        self.n_issues = 0
        self.quarantine: list[dict] = []
        self.n_records = 0
        self.n_invalid = 0
        self.ord = 0
        self.formats: list[str] = []
        self.reasons: list[str] = []
        self.fast_files = 0
        self.files: list[str] = []  # each file as recorded (samples.source_file): its path, or the source's name
        self.names: list[str] = []  # each file as messages name it: its name, or its path inside the folder
        self.chunk = _Chunk()

    def issue(self, file_no: int, line, ri, fld, message, raw=None) -> None:
        self.n_issues += 1
        iss = RecordIssue(self.files[file_no], line, ri, fld, message, self.names[file_no])
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(iss)
        if self.skip_invalid and ri is not None:
            q = iss.to_dict()
            if raw is not None:
                if isinstance(raw, bytes):
                    raw = raw.decode("utf-8", "replace").rstrip("\r\n")
                q["raw"] = raw
            self.quarantine.append(q)

    def tick(self, n: int) -> None:
        self.meter.advance(n)
        if self.cancel is not None:
            self.cancel.check()


def _stage_python(
    run: _Run, path: Path, file_no: int, reader: _Reader, ctx: FormatContext, file_size_total: int, size_before: int
) -> None:
    """Normalise every record of one file in Python and append them to wb_stage."""
    spec: FormatSpec = FORMATS[ctx.format]
    normalize = spec.normalize
    cols: FlatCols | None = ctx.flat if ctx.format in FLAT_FORMATS else None
    chunk = run.chunk
    staging = True
    file_records = 0
    last = 0
    required_checked = False
    for ri, line, obj, raw, problem in reader:
        if not required_checked:
            required_checked = True
            _check_columns(reader, ctx)
        if file_records - last >= CHUNK_ROWS:  # progress and cancel checks every chunk of records
            _update_total(run.meter, size_before + reader.pos, file_size_total)
            run.tick(file_records - last)
            last = file_records
        file_records += 1
        ord_ = run.ord
        run.ord += 1
        if problem is not None:
            run.n_invalid += 1
            run.issue(file_no, line, ri, problem[0], problem[1], raw)
            staging = staging and run.skip_invalid
            continue
        try:
            flat = None
            if cols is not None:
                try:
                    flat = flat_row(obj, cols)
                except NotFlat:
                    pass
            if flat is not None:
                if staging:
                    chunk.add_flat(ord_, file_no, ri, line, *flat)
            else:
                n = normalize(obj, ctx)
                if staging:
                    chunk.add_full(ord_, file_no, ri, line, n)
        except FieldError as e:
            run.n_invalid += 1
            run.issue(file_no, line, ri, e.field, e.message, obj)
            staging = staging and run.skip_invalid
            continue
        except RecursionError:  # read, but nested too deeply to convert or write (a few hundred levels)
            run.n_invalid += 1
            run.issue(
                file_no, line, ri, None, "nested too deeply to store (hundreds of levels of arrays and objects)", raw
            )
            staging = staging and run.skip_invalid
            continue
        if len(chunk) >= CHUNK_ROWS:
            chunk.flush(run.con, run.stage, run)
    if not required_checked:
        _check_columns(reader, ctx)
    if not staging:
        chunk.clear()
    run.n_records += file_records
    run.tick(file_records - last)


def _check_columns(reader: _Reader, ctx: FormatContext) -> None:
    """Parquet/CSV: required columns must exist (one clear file-level error instead of one per row)."""
    if reader.columns is None or reader.kind not in ("parquet", "csv"):
        return
    need = [k for k in FORMATS[ctx.format].required(ctx) if k]
    missing = [k for k in need if k not in reader.columns]
    if missing:
        raise _FileProblem(
            f"column{'s' if len(missing) > 1 else ''} missing (file has: {', '.join(reader.columns[:20])})",
            field=", ".join(missing),
        )


def _update_total(meter: ProgressMeter, pos: int, size_total: int) -> None:
    if pos > 0 and meter.done > 0:
        meter.total = max(int(meter.done * size_total / pos), meter.done)


def token_estimate(text: str) -> int:
    """The n_tokens estimate of one text (same regex as the import, Python semantics)."""
    return len(re.findall(TOKEN_PATTERN, text))


def _quarantine_path(store: Store, pool: str, import_id: int) -> Path:
    # the store's own folder (<store>.d/quarantine): two stores beside each other never share a report
    base = (
        store.files_dir / "quarantine"
        if store.path is not None
        else Path(tempfile.gettempdir()) / "workbench-quarantine"
    )
    base.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]+", "_", pool)[:60] or "pool"
    return base / f"{safe}-import{import_id}-{datetime.now():%Y%m%d-%H%M%S}.jsonl"


def _write_quarantine(store: Store, run: _Run, pool: str, import_id: int) -> str | None:
    """Write the run's quarantined records as a JSONL report; its path, or None if nothing was quarantined."""
    if not run.quarantine:
        return None
    qp = _quarantine_path(store, pool, import_id)
    with open(qp, "w", encoding="utf-8", errors="backslashreplace") as f:
        for q in run.quarantine:
            try:
                line = json_text(q)
            except RecursionError:  # the record as read is nested too deeply to write out again
                line = json_text({**q, "raw": "(nested too deeply to write here: see the file at this line)"})
            f.write(line + "\n")
    return str(qp)


def _one(con, sql: str, params: list | None = None) -> tuple:
    """First row of a query, fetched completely (DuckDB 2 wants every result drained)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else ()
