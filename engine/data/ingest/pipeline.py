"""`import_file`: read, detect, validate and stage every file of an import, then write it in one transaction."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.jobs import CancelToken, ProgressFn, ProgressMeter
from engine.data.formats import RecordIssue
from engine.data.ingest.detection import _resolve
from engine.data.ingest.fastpath import _applies, _stage_fast
from engine.data.ingest.readers import ImportFailed, _FileProblem, list_import_files
from engine.data.ingest.staging import _STAGE_DDL, _Run, _stage_python, _update_total
from engine.data.ingest.write import ImportResult, _prepare, _Staged, _write_job

if TYPE_CHECKING:
    from engine.core.store import Store


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
    return _import_many(
        store,
        [(path, pool, domain, format, mapping, description)],
        skip_invalid=skip_invalid,
        progress=progress,
        cancel=cancel,
    )[0]


def _import_many(store: Store, jobs: list[tuple], *, skip_invalid: bool, progress, cancel) -> list[ImportResult]:
    """Run several imports; their writes share one transaction (all of them land, or none)."""
    con = store.cursor()  # own connection: its TEMP staging tables vanish with it
    staged: list[_Staged] = []
    try:
        con.execute("SET SESSION preserve_insertion_order = false")
        for k, (path, pool, domain, format, mapping, description) in enumerate(jobs):
            staged.append(
                _stage_job(
                    con,
                    f"wb{k}_",
                    path,
                    pool,
                    domain,
                    format,
                    mapping,
                    description,
                    skip_invalid=skip_invalid,
                    progress=progress,
                    cancel=cancel,
                )
            )
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


def _stage_job(
    con, prefix, path, pool, domain, format, mapping, description, *, skip_invalid, progress, cancel
) -> _Staged:
    """Read, validate and stage every file of one import into TEMP tables named with `prefix`."""
    t0 = time.perf_counter()
    if not pool or not isinstance(pool, str):
        raise ValueError("a pool name is required")
    files = list_import_files(path)
    meter = ProgressMeter(progress, total=None)
    run = _Run(con, skip_invalid=skip_invalid, meter=meter, cancel=cancel, prefix=prefix)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {run.stage} ({_STAGE_DDL})")
    total_size = sum(f.stat().st_size for f in files)
    before = 0
    for file_no, fpath in enumerate(files):
        run.files.append(str(fpath))
        try:
            reader, ctx, reason, _ = _resolve(fpath, format, mapping)
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
    return _Staged(pool, domain, description, Path(path), run, n_rows, t0)
