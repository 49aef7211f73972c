"""Evaluation jobs: prepare a job folder per run, run the worker child process, ingest its chunks.

A job folder is `<run folder>/eval/eval-<hash>/` (a run without a folder: `jobs/eval-run<id>/` in the store's own
files folder, engine.core.paths.store_files); its spec.json names the store, and a folder of another store is
never resumed or ingested. The job life cycle (folder, progress, chunks, spawn, cancel) is engine.core.jobs'."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.jobs import Cancelled, JobFolder, JobOwnerError, ProgressMeter, spawn
from engine.core.jobs import cancel as cancel_job
from engine.core.paths import store_files, store_id
from engine.evaluation.evaluate.overlap import overlap
from engine.evaluation.evaluate.results import _refresh_summary, get_summaries
from engine.evaluation.evaluate.sets import _pool_row, pool_items
from engine.evaluation.evaluate.settings import (
    SCORER_VERSION,
    EvalSettings,
    EvalSummary,
    EvaluationError,
    RunRow,
    _hash,
    _require_sandbox,
    get_run_row,
)

if TYPE_CHECKING:
    from engine.core.store import Store

WORKER = "engine.evaluation.worker"


def _jobs_base(store, run: RunRow) -> Path:
    if run.folder:
        return Path(run.folder) / "eval"
    return store_files(store) / "jobs" / f"eval-run{run.id}"


def _check_run_folder(store, run: RunRow) -> None:
    """Refuse a run whose folder's config.json names another store (a copied store's row pointing at the
    original's folder): its eval jobs are not this store's."""
    if not run.folder:
        return
    try:
        got = json.loads((Path(run.folder) / "config.json").read_text()).get("store")
    except (OSError, ValueError, AttributeError):
        return
    if got and got != store_id(store):
        raise EvaluationError(f"run {run.id}'s folder {run.folder} belongs to store {got}, not to {store_id(store)}")


def _pool_hash(con, pool_id: int) -> str:
    r = con.execute(
        "SELECT string_agg(content_hash || ':' || CAST(excluded AS VARCHAR), ',' ORDER BY id) "
        "FROM samples WHERE pool_id = ?",
        [pool_id],
    ).fetchall()
    return hashlib.sha256((r[0][0] or "").encode()).hexdigest()[:16]


def prepare(
    store, run_id, pools, *, max_items: int | None = None, settings: EvalSettings | None = None
) -> tuple[Path, list[EvalSummary], dict[str, int]]:
    """Create (or reuse) the job folder of one run on eval pools and their summary rows (one per pool and
    domain). `max_items` caps the items per pool.

    Returns (job folder, summaries, samples skipped as not checkable per pool). Raises EvaluationError for a
    pool that is not an eval set, a run without a base model or not done, or a pool with nothing checkable."""
    s = settings or EvalSettings()
    if isinstance(pools, (str, int)):
        pools = [pools]
    if not pools:
        raise EvaluationError("no eval sets given")
    run = get_run_row(store, run_id)
    if not run.base_model:
        raise EvaluationError(f"run {run.name!r} has no base model")
    if run.kind != "base" and run.status != "done":
        raise EvaluationError(f"run {run.name!r} is {run.status}; evaluate it when it is done")
    if run.kind != "base" and run.adapter is None:
        raise EvaluationError(
            f"run {run.name!r} has no final adapter ({Path(run.folder or '?') / 'adapter'}); "
            "only a base run is evaluated without one"
        )
    per_pool = []
    con = store.cursor()
    try:
        for pool in pools:
            pid, pname, role = _pool_row(con, pool)
            if role != "eval":
                raise EvaluationError(
                    f"pool {pname!r} is not an eval set; mark it first (workbench evalset mark {pname})"
                )
            per_pool.append((pid, pname, _pool_hash(con, pid)))
    finally:
        con.close()
    gen = {
        k: v
        for k, v in asdict(s).items()
        if k not in ("device", "dtype", "chunk", "batch_size", "threads", "sandbox_unisolated")
    }
    all_items: list[dict] = []
    skipped: dict[str, int] = {}
    hashes = {}
    plan = []
    for pid, pname, phash in per_pool:
        items, skipped[pname] = pool_items(store, pid, max_items=max_items)
        if not items:
            raise EvaluationError(f"pool {pname!r} has no checkable items (no tests, answers, calls or references)")
        if any(it.scorer == "code" for it in items):
            _require_sandbox(pname, s)
        key = {
            "run": run.id,
            "run_hash": run.content_hash,
            "adapter": run.adapter,
            "pool": phash,
            "max_items": max_items,
            "settings": gen,
            "version": SCORER_VERSION,
        }
        hashes[pname] = _hash(key)
        warn = overlap(store, run.mixture_id, [pid], near=False).warnings if run.mixture_id is not None else []
        plan.append((pid, pname, items, warn))
        all_items += [asdict(it) | {"eval_set": pname} for it in items]
    job_hash = _hash(sorted(hashes.items()))
    _check_run_folder(store, run)
    # an eval folder inside this store's run folder that older versions made (no store in spec.json) is its own
    folder = JobFolder(_jobs_base(store, run) / f"eval-{job_hash[:10]}").claim(store, adopt_unstamped=bool(run.folder))
    job = folder.path
    spec = {
        "store": store_id(store),
        "model": run.base_model,
        "adapter": run.adapter,
        "settings": asdict(s),
        "run_id": run.id,
        "pools": [p for _, p, _ in per_pool],
    }
    folder.write_spec(spec)
    if not folder.file("input.jsonl").exists():
        folder.write_input(all_items)
    summaries = []
    with store.transaction() as con:
        for pid, pname, items, warn in plan:
            chash = hashes[pname]
            for d in sorted({it.domain for it in items}):
                scorers = sorted({it.scorer for it in items if it.domain == d})
                metric = "nll" if scorers == ["nll"] else "accuracy"
                rows = con.execute(
                    "SELECT id FROM evaluations WHERE run_id = ? AND eval_set = ? AND domain = ? AND content_hash = ?",
                    [run.id, pname, d, chash],
                ).fetchall()
                n = sum(1 for it in items if it.domain == d)
                details = {
                    "job": str(job),
                    "scorers": scorers,
                    "skipped": skipped[pname],
                    "settings": gen,
                    "max_items": max_items,
                    "scorer_version": SCORER_VERSION,
                    "n_expected": n,
                    "state": "pending",
                    "pool_id": pid,
                    "overlap_warnings": warn,
                }
                if rows:
                    eid = rows[0][0]
                else:
                    eid = store.next_id("evaluations", con)
                    con.execute(
                        "INSERT INTO evaluations (id, run_id, eval_set, domain, metric, value, n, details, "
                        "content_hash) VALUES (?, ?, ?, ?, ?, NULL, 0, ?, ?)",
                        [eid, run.id, pname, d, metric, json.dumps(details), chash],
                    )
                summaries.append(EvalSummary(eid, run.id, pname, d, metric, None, 0, details))
    return job, summaries, skipped


def read_progress(job: Path) -> dict:
    """The worker's last progress report ({} before the first)."""
    return JobFolder(job).read_progress()


def current_phase(jobs: list[Path]) -> str:
    """What the worker is doing now, in words: the named phase (loading the model, merging a run's adapter,
    converting a GGUF model) or the state of the first job that is not done; "" when none says."""
    for j in jobs:
        p = read_progress(j)
        if p.get("phase") or p.get("state") not in (None, "done"):
            return str(p.get("phase") or p.get("state") or "")
    return ""


def ingest(store: Store, job: Path, summaries: list[EvalSummary], *, state: str | None = None) -> int:
    """Write the job's finished chunks into eval_items (idempotent per chunk) and refresh the summaries. A job
    folder of another store is JobOwnerError (`prepare` stamps it for this one)."""
    folder = JobFolder(job)
    if not folder.belongs_to(store):
        raise JobOwnerError(f"evaluation job {job} does not belong to store {store_id(store)}; not ingested")
    by_key = {(s.eval_set, s.domain): s.id for s in summaries}
    n = 0
    for f, recs in folder.new_chunks():
        with store.transaction() as con:
            for r in recs:
                eid = by_key.get((r.get("eval_set"), r["domain"]))
                if eid is None:
                    continue
                con.execute("DELETE FROM eval_items WHERE evaluation_id = ? AND sample_id = ?", [eid, r["sample_id"]])
                con.execute(
                    "INSERT INTO eval_items (evaluation_id, run_id, sample_id, domain, scorer, prompt, output, "
                    "extracted, correct, score, nll, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        eid,
                        summaries[0].run_id,
                        r["sample_id"],
                        r["domain"],
                        r["scorer"],
                        r.get("prompt"),
                        r.get("output"),
                        r.get("extracted"),
                        r.get("correct"),
                        r.get("score"),
                        r.get("nll"),
                        json.dumps(r.get("details") or {}),
                    ],
                )
            for eid in {
                by_key[(r.get("eval_set"), r["domain"])] for r in recs if (r.get("eval_set"), r["domain"]) in by_key
            }:
                _refresh_summary(con, eid)
        folder.mark_ingested(f)
        n += len(recs)
    if state:
        with store.transaction() as con:
            for s in summaries:
                _refresh_summary(con, s.id, state)
    return n


def start_worker(*jobs: Path) -> subprocess.Popen:
    """Run generation jobs in one child process (torch stays out of the app process)."""
    return spawn(WORKER, *jobs)


def evaluate(store: Store, run_id, eval_pools, **options) -> list[EvalSummary]:
    """Evaluate a run on eval pools (names or ids) in a child worker; ingest per-item rows as chunks finish.

    Takes `evaluate_many`'s keyword options. Resumes an interrupted job (same run, pools, settings); cancel
    stops the worker (finished chunks are kept and ingested) and raises Cancelled. Returns the summary rows
    (one per pool and domain)."""
    return evaluate_many(store, [run_id], eval_pools, **options)


def evaluate_many(
    store,
    run_ids,
    eval_pools,
    *,
    max_items: int | None = None,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    device: str = "auto",
    settings: EvalSettings | None = None,
    progress=None,
    cancel=None,
    poll_s: float = 0.5,
) -> list[EvalSummary]:
    """`evaluate` for several runs (e.g. a mixture run, its specialists and the base model) in ONE child
    worker: each base model is loaded once and each run's LoRA adapter merged in and out in turn."""
    s = settings or EvalSettings(max_new_tokens=max_new_tokens, batch_size=batch_size, device=device)
    prepared = [prepare(store, rid, eval_pools, max_items=max_items, settings=s) for rid in run_ids]
    counts = [len(JobFolder(job).read_input()) for job, _, _ in prepared]
    meter = ProgressMeter(progress, total=sum(counts), unit="items", min_interval=0.2)
    todo = [job for (job, _, _), n in zip(prepared, counts) if len(JobFolder(job).done_keys()) < n]

    def ingest_all(state=None):
        for job, summaries, _ in prepared:
            ingest(store, job, summaries, state=state)

    def done_items() -> int:
        return sum(
            int(read_progress(job).get("done", 0)) if job in todo else n for (job, _, _), n in zip(prepared, counts)
        )

    if todo:
        proc = start_worker(*todo)
        try:
            while proc.poll() is None:
                if cancel is not None and cancel.cancelled:
                    cancel_job(proc, grace=30)
                    ingest_all(state="cancelled")
                    raise Cancelled()
                ingest_all()
                meter.done = done_items()
                meter.report(current_phase(todo))
                time.sleep(poll_s)
        finally:
            if proc.poll() is None:
                proc.kill()
        if proc.returncode != 0:
            ingest_all(state="failed")
            tail = JobFolder(todo[0]).stderr_tail(1500)
            raise EvaluationError(f"evaluation worker failed (exit {proc.returncode}): {tail.strip()}")
    ingest_all(state="done")
    meter.done = sum(counts)
    meter.report("done", force=True)
    return get_summaries(store, [x.id for _, summaries, _ in prepared for x in summaries])
