"""`import_file`: read, detect, validate and stage every file of an import, then write it in one transaction."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.jobs import CancelToken, ProgressFn, ProgressMeter
from engine.data.formats import RecordIssue
from engine.data.ingest.detection import _resolve
from engine.data.ingest.fastpath import _applies, _stage_fast
from engine.data.ingest.readers import ImportFailed, _FileProblem, list_import_files
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
) -> ImportResult:
    """Import a file (or every supported file under a folder, sorted) into pool `pool`.

    All-or-nothing by default: any invalid record raises ImportFailed and the store is untouched.
    With skip_invalid=True invalid records go to a JSONL quarantine report and the rest is imported.
    Records whose content hash is already in the pool (or earlier in the same import) are counted as
    duplicates and stored once. Creates the pool if missing (domain: `domain` or 'general')."""
    job = _Job(Path(path), pool, domain, format, mapping, description)
    return _import_many(store, [job], skip_invalid=skip_invalid, progress=progress, cancel=cancel)[0]


def _import_many(store: Store, jobs: list[_Job], *, skip_invalid: bool, progress, cancel) -> list[ImportResult]:
    """Run several imports; their writes share one transaction (all of them land, or none)."""
    con = store.cursor()  # own connection: its TEMP staging tables vanish with it
    staged: list[_Staged] = []
    try:
        con.execute("SET SESSION preserve_insertion_order = false")
        for k, job in enumerate(jobs):
            try:
                staged.append(
                    _stage_job(con, f"wb{k}_", job, skip_invalid=skip_invalid, progress=progress, cancel=cancel)
                )
            except ImportFailed as e:
                if job.label is None:
                    raise
                raise ImportFailed(e.issues, e.n_issues, f"{job.label}: {e.summary}") from None
        with store.write_lock:
            results: list[ImportResult] = []
            con.execute("BEGIN TRANSACTION")
            try:
                for st in staged:
                    results.append(_write_job(con, store, st, cancel=cancel))
                if cancel is not None:
                    cancel.check()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                for r in results:
                    if r.quarantine_path:
                        Path(r.quarantine_path).unlink(missing_ok=True)
                raise
        return results
    finally:
        con.close()


def _stage_job(con, prefix: str, job: _Job, *, skip_invalid: bool, progress, cancel) -> _Staged:
    """Read, validate and stage every file of one import into TEMP tables named with `prefix`."""
    t0 = time.perf_counter()
    if not job.pool or not isinstance(job.pool, str):
        raise ValueError("a pool name is required")
    files = job.files if job.files is not None else list_import_files(job.path)
    meter = ProgressMeter(progress, total=None)
    run = _Run(con, skip_invalid=skip_invalid, meter=meter, cancel=cancel, prefix=prefix)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {run.stage} ({_STAGE_DDL})")
    total_size = sum(f.stat().st_size for f in files)
    before = 0
    for file_no, fpath in enumerate(files):
        run.files.append(str(fpath))
        try:
            reader, ctx, reason, _ = _resolve(fpath, job.format, job.mapping)
            if ctx.format not in run.formats:
                run.formats.append(ctx.format)
                run.reasons.append(reason)
            if not (_applies(ctx, reader, fpath) and _stage_fast(run, fpath, file_no, ctx)):
                _stage_python(run, fpath, file_no, reader, ctx, total_size, before)
        except _FileProblem as e:
            run.issue(fpath, e.line, None, e.field, e.message)
            if not skip_invalid or len(files) == 1:
                raise ImportFailed(run.issues, run.n_issues) from None
        before += fpath.stat().st_size
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
        raise ImportFailed(run.issues or [RecordIssue(str(files[0]), None, None, None, "no records")])
    meter.total = meter.done
    meter.report("hashing", force=True)
    n_rows = _prepare(run)
    return _Staged(job.pool, job.domain, job.description, Path(job.path), run, n_rows, t0, job.kto_tag, job.pool_meta)


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
        run.issue(Path(run.files[file_no]), line, ri, key, f"KTO label: expected true or false, {got}")
    if rows and run.skip_invalid:
        for t in tables:
            con.execute(f"DELETE FROM {t} WHERE {bad}")


def _sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"
