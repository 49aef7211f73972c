"""`import_file`: read, detect, validate and stage every file of an import, then write it in one transaction."""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from engine.core.errors import StoreError
from engine.core.jobs import CancelToken, ProgressFn, ProgressMeter
from engine.data.formats import RecordIssue
from engine.data.ingest.detection import _resolve
from engine.data.ingest.fastpath import _applies, _stage_fast, tokens_function
from engine.data.ingest.readers import (
    ImportFailed,
    _FileProblem,
    _read_failure,
    file_size,
    import_listing,
    link_problem,
)
from engine.data.ingest.staging import _STAGE_DDL, _Run, _stage_python, _update_total
from engine.data.ingest.write import ImportResult, _prepare, _Staged, _write_job, kto_path

if TYPE_CHECKING:
    from engine.core.store import Store


@dataclass
class _Job:
    """One import: a file or folder (or an explicit list of files) into one pool."""

    path: Path
    pool: str
    domain: str | None = None
    format: str | None = None
    mapping: dict | None = None
    description: str | None = None
    files: list[Path] | None = None  # default: list_import_files(path)
    kto_tag: str | None = None  # LLaMA-Factory KTO label key: must be a boolean in every record
    pool_meta: dict | None = None
    label: str | None = None  # names the import in its errors when several share a transaction ("entry 'x'")
    source_name: str | None = None  # recorded and named in messages instead of the path (e.g. "<stdin>")


def import_file(
    store: Store,
    path: str | Path,
    *,
    pool: str,
    domain: str | None = None,
    format: str | None = None,
    mapping: dict | None = None,
    skip_invalid: bool = False,
    description: str | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    source_name: str | None = None,
) -> ImportResult:
    """Import a file (or every supported file under a folder, sorted) into pool `pool`.

    All-or-nothing by default: any invalid record raises ImportFailed and the store is untouched.
    With skip_invalid=True invalid records go to a JSONL quarantine report and the rest is imported; an import
    with no valid record at all fails all the same (nothing is written, no empty pool is made).
    Records whose content hash is already in the pool (or earlier in the same import) are counted as
    duplicates and stored once. Creates the pool if missing (domain: `domain` or 'general').

    source_name: what the pool's source, the samples' source_file and every message call the file instead of
    its path (the CLI passes "<stdin>" for standard input spooled to a temporary file).
    A store that cannot be written (disk full, read-only, an I/O error) raises StoreError with the cause."""
    job = _Job(Path(path), pool, domain, format, mapping, description, source_name=source_name)
    return _import_many(store, [job], skip_invalid=skip_invalid, progress=progress, cancel=cancel)[0]


def _import_many(store: Store, jobs: list[_Job], *, skip_invalid: bool, progress, cancel) -> list[ImportResult]:
    """Run several imports; their writes share one transaction (all of them land, or none)."""
    # (what an import killed before its end left in the file went back when the store was opened read-write)
    con = store.cursor()  # own connection: its TEMP staging tables vanish with it
    staged: list[_Staged] = []
    failed = False
    try:
        con.execute("SET SESSION preserve_insertion_order = false")
        with _memory_bounded(store), tokens_function(con) as tokens_sql:
            for k, job in enumerate(jobs):
                try:
                    staged.append(
                        _stage_job(
                            con,
                            f"wb{k}_",
                            job,
                            skip_invalid=skip_invalid,
                            progress=progress,
                            cancel=cancel,
                            tokens_sql=tokens_sql,
                        )
                    )
                except ImportFailed as e:
                    if job.label is None:
                        raise
                    raise ImportFailed(e.issues, e.n_issues, f"{job.label}: {e.summary}") from None
                except duckdb.Error as e:  # staging spills to temporary files: a full disk shows here first
                    err = _store_error(e, store, jobs)
                    if err is None:
                        raise
                    raise err from e
            with store.write_lock:
                results: list[ImportResult] = []
                con.execute("BEGIN TRANSACTION")
                try:
                    for st in staged:
                        results.append(_write_job(con, store, st, cancel=cancel))
                    if cancel is not None:
                        cancel.check()
                    con.execute("COMMIT")
                except BaseException as e:
                    failed = True
                    try:
                        con.execute("ROLLBACK")
                    except duckdb.Error:  # a failed COMMIT ends the transaction itself: keep its error, not this one
                        pass
                    for r in results:
                        if r.quarantine_path:
                            Path(r.quarantine_path).unlink(missing_ok=True)
                    err = _store_error(e, store, jobs, writing=True) if isinstance(e, Exception) else None
                    if err is not None:
                        raise err from e
                    raise
        return results
    finally:
        con.close()
        if failed:
            store.reclaim_space()  # the blocks the rolled-back rows took


IMPORT_MEMORY_LIMIT = 512 << 20  # bytes DuckDB may hold during an import of a store on disk (it spills the rest)
_memory_lock = threading.Lock()
_memory_users: dict[str, list] = {}  # store file -> [imports running, the limit to put back or None]
_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4, "kib": 1 << 10}
_UNITS.update({"mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40})


def _bytes(setting: str) -> float | None:
    """A DuckDB size setting ("18.6 GiB", "512.0 MiB") in bytes; None if it cannot be read."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([a-zA-Z]*)\s*", setting or "")
    unit = _UNITS.get(m.group(2).lower()) if m else None
    return float(m.group(1)) * unit if m and unit else None


def _set_memory_limit(store: Store, value: str) -> None:
    con = store.cursor()
    try:
        con.execute(f"SET memory_limit = '{value}'").fetchall()
    finally:
        con.close()


@contextmanager
def _memory_bounded(store: Store):
    """While imports run, DuckDB's memory limit is at most IMPORT_MEMORY_LIMIT (a store on disk only: an in-memory
    one has nowhere to spill). DuckDB keeps the rows an INSERT adds in memory until COMMIT when its limit allows
    (by default 80% of the machine's memory: an import of 1M rows held over 2 GB); under a limit it writes them to
    the store file and temporary files as it goes, at about the same speed. The limit is the store's (every
    connection to it): the first import to start lowers it, the last to end puts it back."""
    if store.path is None:
        yield
        return
    key = str(store.path.resolve())
    with _memory_lock:
        entry = _memory_users.setdefault(key, [0, None])
        if entry[0] == 0:
            before = store.fetchall("SELECT current_setting('memory_limit')")[0][0]
            limit = _bytes(before)
            if limit is not None and limit > IMPORT_MEMORY_LIMIT:
                _set_memory_limit(store, f"{IMPORT_MEMORY_LIMIT}B")
                entry[1] = before
        entry[0] += 1
    try:
        yield
    finally:
        with _memory_lock:
            entry[0] -= 1
            if entry[0] == 0:
                del _memory_users[key]
                if entry[1] is not None:
                    try:
                        _set_memory_limit(store, entry[1])
                    except duckdb.Error:  # a store closed meanwhile: nothing to put back
                        pass


def _store_error(e: BaseException, store: Store, jobs: list[_Job], *, writing: bool = False) -> StoreError | None:
    """A StoreError (exit 3) naming the cause for an error of the store or its disk (full, read-only, an I/O error),
    else None. OSErrors count only while writing: while reading they are about the input."""
    if isinstance(e, (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.FatalException)):
        cause = str(e)
    elif isinstance(e, duckdb.TransactionException) and "commit" in str(e).lower():
        cause = str(e)
    elif writing and isinstance(e, OSError):
        cause = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else (e.strerror or str(e))
    else:
        return None
    cause = (cause.strip().splitlines() or [type(e).__name__])[0]
    pools = ", ".join(sorted({j.pool for j in jobs}))
    where = f"store {store.path}" if store.path is not None else "the in-memory store"
    full = any(
        t in cause for t in ("No space left", "File too large", "Disk quota", "out of disk", "could not allocate")
    )
    hint = (
        "free some disk space (or set --db / $WORKBENCH_DB to a store on another disk), then import again"
        if full
        else "check that the store's file and folder can be written, then import again"
    )
    return StoreError(f"import into {pools} failed, nothing imported ({where}): {cause}", hint=hint)


def _stage_job(con, prefix: str, job: _Job, *, skip_invalid: bool, progress, cancel, tokens_sql: str) -> _Staged:
    """Read, validate and stage every file of one import into TEMP tables named with `prefix`."""
    t0 = time.perf_counter()
    if not job.pool or not isinstance(job.pool, str):
        raise ValueError("a pool name is required")
    listing = [(f, f.name) for f in job.files] if job.files is not None else import_listing(job.path)
    files = [f for f, _ in listing]
    meter = ProgressMeter(progress, total=None)
    run = _Run(con, skip_invalid=skip_invalid, meter=meter, cancel=cancel, prefix=prefix)
    run.tokens_sql = tokens_sql
    con.execute(f"CREATE OR REPLACE TEMP TABLE {run.stage} ({_STAGE_DDL})")
    total_size = sum(file_size(f) for f in files)
    before = 0
    single = len(files) == 1 and job.files is None and not job.path.is_dir()
    for file_no, (fpath, name) in enumerate(listing):
        if job.source_name is None:
            run.files.append(str(fpath))
            run.names.append(name)
        else:  # the name the caller gives the source: alone, or with the file's path inside the folder
            run.files.append(job.source_name if single else f"{job.source_name}/{name}")
            run.names.append(run.files[-1])
        try:
            problem = link_problem(fpath)
            if problem is not None:
                raise _FileProblem(problem)
            reader, ctx, reason, _ = _resolve(fpath, job.format, job.mapping)
            if ctx.format not in run.formats:
                run.formats.append(ctx.format)
                run.reasons.append(reason)
            if not (_applies(ctx, reader, fpath) and _stage_fast(run, fpath, file_no, ctx)):
                _stage_python(run, fpath, file_no, reader, ctx, total_size, before)
        except (_FileProblem, OSError) as e:  # OSError: the file cannot be opened or read (no permission, ...)
            fp = e if isinstance(e, _FileProblem) else _FileProblem(_read_failure(fpath, e))
            run.issue(file_no, fp.line, None, fp.field, fp.message)
            if not skip_invalid or len(files) == 1:
                raise ImportFailed(run.issues, run.n_issues) from None
        before += file_size(fpath)
        _update_total(meter, before, total_size)
    run.chunk.flush(con, run.stage, run)
    if job.kto_tag:
        _check_kto_labels(run, job.kto_tag)
    if run.n_issues and not skip_invalid:
        raise ImportFailed(
            run.issues,
            run.n_issues,
            f"{run.n_invalid} invalid record{'s' if run.n_invalid != 1 else ''} of {run.n_records}, nothing imported",
        )
    if run.n_records == 0:
        raise ImportFailed(run.issues or [RecordIssue(run.files[0], None, None, None, "no records", run.names[0])])
    if run.n_invalid >= run.n_records:  # skip_invalid, and not one record to keep: an empty pool helps no one
        raise ImportFailed(
            run.issues,
            run.n_issues,
            f"no valid record: all {run.n_records:,} invalid (quarantined records are not imported either), "
            "nothing imported",
        )
    meter.total = meter.done
    meter.report("hashing", force=True)
    n_rows = _prepare(run)
    source = job.source_name or str(Path(job.path).resolve())
    return _Staged(job.pool, job.domain, job.description, source, run, n_rows, t0, job.kto_tag, job.pool_meta)


def _check_kto_labels(run: _Run, key: str) -> None:
    """Every staged record of a KTO import needs a boolean label under `key` (kept in meta): the others
    are invalid records (with skip_invalid they are dropped from the staged rows)."""
    con = run.con
    bad = f"json_type(coalesce(meta, '{{}}'), {_sql_text(kto_path(key))}) IS DISTINCT FROM 'BOOLEAN'"
    tables = [run.stage, *run.fast_tables]
    rows = []
    for t in tables:
        rows += con.execute(
            f"SELECT file_no, source_line, record_index, json_extract(coalesce(meta, '{{}}'), ?) FROM {t} WHERE {bad}"
            " ORDER BY ord",
            [kto_path(key)],
        ).fetchall()
    for file_no, line, ri, value in rows:
        got = "missing" if value is None else f"got {value}"
        run.n_invalid += 1
        run.issue(file_no, line, ri, key, f"KTO label: expected true or false, {got}")
    if rows and run.skip_invalid:
        for t in tables:
            con.execute(f"DELETE FROM {t} WHERE {bad}")


def _sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
