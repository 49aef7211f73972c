"""Training runs: permanent history, a queue (one running run per store), and the app-side half of the worker.

A run is a row of `runs` plus a folder `<store files>/runs/<id>-<slug>/` (the store's own folder, `<db file>.d/`,
engine.core.paths; its config.json names the store under "store"; runs.folder is absolute, so run folders that older
versions made in the shared `runs/` beside the store file stay usable) (see engine/training/__init__.py for what the
worker writes there). The app process (the one DuckDB writer) calls `tick(store)` about once a second: it
ingests new metric lines into `run_metrics`, notices runs that ended (status.json) or died (pid gone without a
final status: failed, with the log's tail as the error), and starts the next queued run when none is running.

The worker is `python -m engine.training.worker FOLDER`, started, followed and cancelled through
engine.core.jobs (no shell, its own session; a `cancel` file plus SIGTERM stop it); it never opens the store. No torch import here except in `load_trained`.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from engine.core.errors import InputError
from engine.core.jobs import JobFolder, alive, spawn
from engine.core.jobs import cancel as cancel_job
from engine.core.names import check_name
from engine.core.paths import store_files, store_id
from engine.training import PROTOCOLS, LoraSettings, TrainingError, TrainSettings, config_dict, settings_from_dict

if TYPE_CHECKING:
    from engine.core.store import Store

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
KINDS = ("mixture", "specialist", "base")
DEFAULT_BASE_MODEL = "smollm2"
WORKER = "engine.training.worker"

# Worker processes started by this process (their exit is seen with poll(); a dead child is a zombie until then).
_procs: dict[int, subprocess.Popen] = {}
# One turn of the queue at a time in this process: the app ticks it, and so may a CLI command the app serves
# (`workbench runs wait`) in another thread; two turns at once would ingest the same metric lines twice.
_TICK = threading.RLock()


class RunError(InputError):
    """A bad run request (unknown run, wrong state, bad settings); the message says what is wrong."""


@dataclass
class RunInfo:
    """One training run (a row of `runs`); config is the resolved config.json, progress the last seen
    {step, total, loss, eta_s, tokens_per_s, gpu_mem_gb, phase}."""

    id: int
    name: str
    status: str
    folder: str | None
    base_model: str | None
    protocol: str | None
    config: dict
    mixture_id: int | None
    kind: str
    parent_run_id: int | None
    domain: str | None
    progress: dict
    error: str | None
    content_hash: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    queue_pos: int | None = None
    pid: int | None = None

    @property
    def fraction(self) -> float | None:
        """Share of steps done (None before the worker reported its total)."""
        tot = self.progress.get("total")
        return (self.progress.get("step", 0) / tot) if tot else None

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("created_at", "started_at", "finished_at"):
            d[k] = None if d[k] is None else str(d[k])
        return d


_COLS = (
    "id, name, status, folder, base_model, protocol, config, mixture_id, kind, parent_run_id, domain, progress, "
    "error, content_hash, created_at, started_at, finished_at, queue_pos, pid"
)


def _row(r) -> RunInfo:
    vals = list(r)
    vals[6] = json.loads(vals[6]) if vals[6] else {}
    vals[11] = json.loads(vals[11]) if vals[11] else {}
    vals[8] = vals[8] or "mixture"
    return RunInfo(*vals)


def _query(store, where: str = "", params: list | None = None) -> list[RunInfo]:
    con = store.cursor()
    try:
        rows = con.execute(f"SELECT {_COLS} FROM runs {where} ORDER BY id", params or []).fetchall()
    finally:
        con.close()
    return [_row(r) for r in rows]


def get_run(store: Store, run_id: int) -> RunInfo:
    """The run with this id (RunError when there is none)."""
    got = _query(store, "WHERE id = ?", [int(run_id)])
    if not got:
        ids = [r.id for r in _query(store)]
        raise RunError(f"no run {run_id}" + (f"; runs: {', '.join(map(str, ids[-20:]))}" if ids else "; no runs yet"))
    return got[0]


def list_runs(store: Store) -> list[RunInfo]:
    """Every run (finished, failed and cancelled ones stay), oldest first."""
    return _query(store)


def runs_root(store: Store) -> Path:
    """Where run folders live: `runs/` in the store's own files folder (engine.core.paths.store_files)."""
    if store.path is None:
        raise RunError("training runs need a store file (an in-memory store has no folder for run files)")
    return store_files(store) / "runs"


def folder_owner_error(store: Store, run: RunInfo) -> str | None:
    """Why the run's folder is not this store's (its config.json names another store: a copied store whose
    rows point at the original's folders), or None. A folder without a store in its config.json (an older
    Workbench: made by this store's own run row, in the old shared runs/) counts as this store's."""
    if not run.folder:
        return None
    cfg = Path(run.folder) / "config.json"
    try:
        got = json.loads(cfg.read_text()).get("store")
    except (OSError, ValueError, AttributeError):
        return None
    me = store_id(store)
    if got and got != me:
        return f"run {run.id}'s folder {run.folder} belongs to store {got}, not to {me}; create a new run"
    return None


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
    return s[:60] or "run"


def _as(cls, v):
    if v is None:
        return cls()
    if isinstance(v, cls):
        return v
    if isinstance(v, dict):
        return settings_from_dict(cls, v)
    raise RunError(f"expected {cls.__name__} or a dict, got {type(v).__name__}")


def _model_identity(spec: str) -> str:
    """A stable identity of a base model spec for the content hash (absolute folder path, or the name)."""
    from engine.core.models import ModelError, resolve

    try:
        src = resolve(spec)
    except ModelError as e:
        raise RunError(str(e)) from e
    if src.kind == "folder":
        return str(Path(src.path).resolve())
    if src.kind == "gguf":
        return f"gguf:{src.name}"
    return src.path


def _local_model(spec: str) -> str:
    """A base model given as a local folder or .gguf file, as an absolute path (workers run in another folder,
    where a path relative to the person's would name nothing); other specs (hub ids, smollm2) as given."""
    import os

    from engine.core.models import ModelError, resolve

    try:
        src = resolve(spec)
    except ModelError as e:
        raise RunError(str(e)) from e
    if src.kind == "folder" or Path(spec).suffix == ".gguf":
        return os.path.abspath(os.path.expanduser(spec))
    return spec


def _content_hash(data_hash: str, base: str, protocol: str, order, lora: LoraSettings, train: TrainSettings) -> str:
    payload = {
        "data": data_hash,
        "base_model": base,
        "protocol": protocol,
        "order": order,
        "lora": asdict(lora),
        "train": asdict(train),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def create_run(
    store,
    mixture_id: int | None = None,
    *,
    base_model: str | None = None,
    protocol: str = "multi_task",
    order: list[str] | str | None = None,
    lora: LoraSettings | dict | None = None,
    train: TrainSettings | dict | None = None,
    name: str | None = None,
    kind: str = "mixture",
    parent_run_id: int | None = None,
    domain: str | None = None,
    reuse: bool = False,
    records: Iterable[dict] | None = None,
) -> RunInfo:
    """Create a run: its folder (config.json, data.jsonl from `mixtures.training_records`) and a queued row.

    kind="base": no mixture and no training; the run is 'done' at once (the base model evaluated as a run).
    records: training records to use instead of a mixture (tests, imports); same format as training_records.
    reuse=True returns an existing run with the same content hash that is not failed or cancelled.
    """
    if kind not in KINDS:
        raise RunError(f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
    name = check_name(name, "run name", error=RunError) if name is not None else None
    if protocol not in PROTOCOLS:
        raise RunError(f"protocol must be one of {', '.join(PROTOCOLS)} (got {protocol!r})")
    if isinstance(order, str):
        order = [d.strip() for d in order.split(",") if d.strip()]
    order = list(order) if order else None
    if order and protocol != "sequential":
        raise RunError(f"--order is for the sequential protocol (this run is {protocol})")
    try:
        lora_s, train_s = _as(LoraSettings, lora), _as(TrainSettings, train)
        lora_s.validate()
        train_s.validate()
    except TrainingError as e:
        raise RunError(str(e)) from e
    base = _local_model(base_model or DEFAULT_BASE_MODEL)
    base_id = _model_identity(base)
    root = runs_root(store)

    mv = None
    if kind == "base":
        if mixture_id is not None or records is not None:
            raise RunError("a base run trains nothing: give no mixture and no records")
        data_hash, recs = "base", []
    elif records is not None:
        if mixture_id is not None:
            raise RunError("give a mixture or records, not both")
        recs = list(records)
        data_hash = hashlib.sha256("\n".join(json.dumps(r, sort_keys=True) for r in recs).encode()).hexdigest()
    else:
        if mixture_id is None:
            raise RunError("a run needs a mixture (name, name@version or id)")
        from engine.mixtures import get_mixture, training_records

        mv = get_mixture(store, mixture_id)
        recs = list(training_records(store, mv.id))
        data_hash = mv.content_hash
    if kind != "base":
        if not recs:
            raise RunError("the mixture has no items to train on")
        bad = [i for i, r in enumerate(recs) if r.get("kind", "sample") not in ("sample", "mixup")]
        if bad:
            raise RunError(f"record {bad[0]}: kind must be sample or mixup")
        domains = list(dict.fromkeys(str(r.get("domain") or "general") for r in recs))
        if order:
            unknown = [d for d in order if d not in domains]
            if unknown:
                raise RunError(
                    f"--order names domain(s) not in the data: {', '.join(unknown)} "
                    f"(the data has: {', '.join(domains)})"
                )
    h = _content_hash(data_hash, base_id, protocol if kind != "base" else "none", order, lora_s, train_s)
    if reuse:
        for r in _query(store, "WHERE content_hash = ? AND status NOT IN ('failed', 'cancelled')", [h]):
            return r

    with store.transaction() as con:
        rid = store.next_id("runs", con)
        if name is None:
            what = mv.label if mv is not None else ("base" if kind == "base" else "records")
            name = f"{what}-{protocol}" if kind != "base" else f"base-{Path(base).name}"
            if kind == "specialist" and domain:
                name = f"{name}-{domain}"
        folder = root / f"{rid}-{_slug(name)}"
        folder.mkdir(parents=True, exist_ok=False)
        cfg = config_dict(base_model=base, protocol=protocol, order=order, lora=lora_s, train=train_s)
        by_dom: dict[str, int] = {}
        for r in recs:
            d = str(r.get("domain") or "general")
            by_dom[d] = by_dom.get(d, 0) + 1
        cfg.update(
            name=name,
            kind=kind,
            mixture=mv.label if mv is not None else None,
            mixture_id=mv.id if mv is not None else None,
            data={"records": len(recs), "per_domain": by_dom},
            content_hash=h,
            store=store_id(store),
        )
        (folder / "config.json").write_text(json.dumps(cfg, indent=1))
        if kind != "base":
            with open(folder / "data.jsonl", "w", encoding="utf-8") as f:
                for r in recs:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        if kind == "base":
            status, qpos = "done", None
        else:
            status = "queued"
            qpos = int(con.execute("SELECT coalesce(max(queue_pos), 0) + 1 FROM runs").fetchall()[0][0])
        con.execute(
            "INSERT INTO runs (id, name, mixture_id, protocol, status, folder, config, content_hash, base_model, kind,"
            " parent_run_id, domain, queue_pos, progress, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, CASE WHEN ? THEN current_timestamp END, CASE WHEN ? THEN current_timestamp END)",
            [
                rid,
                name,
                mv.id if mv is not None else None,
                protocol if kind != "base" else None,
                status,
                str(folder),
                json.dumps(cfg),
                h,
                base,
                kind,
                parent_run_id,
                domain,
                qpos,
                json.dumps({}),
                kind == "base",
                kind == "base",
            ],
        )
    return get_run(store, rid)


# -- the queue -----------------------------------------------------------------------------------------------


_SKIP_KEYS = ("step", "ts", "event", "phase")


def _ingest(store, run: RunInfo) -> dict:
    """Insert the metric lines written since the last tick; returns the updated progress dict."""
    folder = Path(run.folder)
    prog = dict(run.progress)
    off = int(prog.get("metrics_offset", 0))
    path = folder / "metrics.jsonl"
    try:
        with open(path, "rb") as f:
            f.seek(off)
            data = f.read()
    except FileNotFoundError:
        return prog
    end = data.rfind(b"\n")
    if end < 0:
        return prog
    rows, resumes = [], []
    for line in data[:end].decode("utf-8", errors="replace").split("\n"):  # not splitlines: U+2028 in a value
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if obj.get("event") == "resume":
            resumes.append((len(rows), int(obj.get("step", 0))))
            continue
        step = int(obj.get("step", 0))
        ts = datetime.fromtimestamp(obj["ts"]) if isinstance(obj.get("ts"), (int, float)) else None
        for k, v in obj.items():
            if k in _SKIP_KEYS or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            rows.append((run.id, step, k, float(v), ts))
        if "loss" in obj:
            prog.update(step=step, loss=obj["loss"])
            for k in ("eta_s", "tokens_per_s", "gpu_mem_gb", "lr", "phase"):
                if k in obj:
                    prog[k] = obj[k]
    prog["metrics_offset"] = off + end + 1
    with store.transaction() as con:
        start = 0
        for at, step in resumes + [(len(rows), None)]:
            if at > start:
                con.executemany(
                    "INSERT INTO run_metrics (run_id, step, name, value, ts) VALUES (?, ?, ?, ?, ?)", rows[start:at]
                )
            start = at
            if step is not None:  # a resumed worker repeats the steps after its checkpoint
                con.execute("DELETE FROM run_metrics WHERE run_id = ? AND step > ?", [run.id, step])
        con.execute("UPDATE runs SET progress = ? WHERE id = ?", [json.dumps(prog), run.id])
    return prog


def _finish(store, run_id: int, status: str, error: str | None, prog: dict) -> None:
    with store.transaction() as con:
        con.execute(
            "UPDATE runs SET status = ?, error = ?, finished_at = current_timestamp, pid = NULL, "
            "queue_pos = NULL, progress = ? WHERE id = ?",
            [status, error, json.dumps(prog), run_id],
        )
    p = _procs.pop(run_id, None)
    if p is not None:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _start(store, run: RunInfo) -> bool:
    """Claim a queued run (it may have been cancelled since the queue was read) and start its worker."""
    with store.transaction() as con:
        claimed = con.execute(
            "UPDATE runs SET status = 'running', pid = NULL, started_at = coalesce(started_at, current_timestamp), "
            "error = NULL WHERE id = ? AND status = 'queued' RETURNING id",
            [run.id],
        ).fetchall()
    if not claimed:
        return False
    err = folder_owner_error(store, run)
    if err:
        _finish(store, run.id, "failed", err, run.progress)
        return False
    job = JobFolder(run.folder)
    try:
        job.clear("status.json", "cancel")
        proc = spawn(WORKER, job, output="log.txt", stdout_too=True)
    except OSError as e:
        _finish(store, run.id, "failed", f"cannot start the training process: {e}", run.progress)
        return False
    _procs[run.id] = proc
    with store.transaction() as con:
        con.execute("UPDATE runs SET pid = ? WHERE id = ?", [proc.pid, run.id])
    return True


def tick(store: Store) -> list[str]:
    """One turn of the queue: ingest new metrics of running runs, mark ended or dead ones, start the next queued
    run when none is running. Returns what happened, one line per event. Turns in threads of one process run
    one after the other."""
    with _TICK:
        return _tick(store)


def _tick(store: Store) -> list[str]:
    events: list[str] = []
    running = _query(store, "WHERE status = 'running'")
    for run in running:
        folder = Path(run.folder)
        st = JobFolder(folder).read_status()  # before ingesting: every line written before a final status gets in
        proc = _procs.get(run.id)
        exited = proc.poll() is not None if proc is not None else not alive(run.pid, WORKER, run.folder)
        prog = _ingest(store, run)
        if st.get("total"):
            prog["total"] = st["total"]
        prog["activity"] = st.get("activity")  # loading, tokenising, held-out loss, saving: named, not silent
        if st.get("eval_sources"):
            prog["eval_sources"] = st["eval_sources"]
        if st.get("status") in FINISHED:
            if st["status"] == "done":
                prog["step"] = st.get("step", prog.get("step"))
                prog["eta_s"] = 0
            _finish(store, run.id, st["status"], st.get("error"), prog)
            events.append(f"run {run.id} {st['status']}")
        elif exited:
            st = JobFolder(folder).read_status()
            if st.get("status") in FINISHED:  # it finished between the two reads
                prog = _ingest(store, get_run(store, run.id))
                _finish(store, run.id, st["status"], st.get("error"), prog)
                events.append(f"run {run.id} {st['status']}")
            else:
                err = "the training process died without a final status; log tail:\n" + JobFolder(folder).log_tail()
                _finish(store, run.id, "failed", err, prog)
                events.append(f"run {run.id} failed (process died)")
        else:
            with store.transaction() as con:
                con.execute("UPDATE runs SET progress = ? WHERE id = ?", [json.dumps(prog), run.id])
    if not _query(store, "WHERE status = 'running'"):
        queued = _query(store, "WHERE status = 'queued'")
        queued.sort(key=lambda r: (r.queue_pos if r.queue_pos is not None else 1 << 30, r.id))
        for run in queued:  # the first one that can still be claimed
            if _start(store, run):
                events.append(f"run {run.id} started")
                break
            if get_run(store, run.id).status == "failed":
                events.append(f"run {run.id} failed (could not start)")
    return events


def cancel_run(store: Store, run_id: int) -> RunInfo:
    """Cancel a queued run (at once) or a running one (the worker saves a checkpoint and stops between steps;
    the next tick records it as cancelled)."""
    run = get_run(store, run_id)
    if run.status in FINISHED:
        raise RunError(f"run {run.id} is already {run.status}")
    if run.status == "queued":
        with store.transaction() as con:
            con.execute(
                "UPDATE runs SET status = 'cancelled', queue_pos = NULL, finished_at = current_timestamp WHERE id = ?",
                [run.id],
            )
        return get_run(store, run.id)
    cancel_job(run.pid, Path(run.folder), grace=None, module=WORKER)
    return run


def resume_run(store: Store, run_id: int) -> RunInfo:
    """Queue a failed or cancelled run again; its worker continues from the last checkpoint (from the start
    when there is none)."""
    run = get_run(store, run_id)
    if run.kind == "base":
        raise RunError(f"run {run.id} is a base-model run: nothing to train")
    if run.status not in ("failed", "cancelled"):
        raise RunError(f"run {run.id} is {run.status}; only failed or cancelled runs can be resumed")
    if not run.folder or not (Path(run.folder) / "data.jsonl").is_file():
        raise RunError(f"run {run.id} has lost its folder ({run.folder}); create a new run")
    err = folder_owner_error(store, run)
    if err:
        raise RunError(err)
    with store.transaction() as con:
        qpos = int(con.execute("SELECT coalesce(max(queue_pos), 0) + 1 FROM runs").fetchall()[0][0])
        con.execute(
            "UPDATE runs SET status = 'queued', queue_pos = ?, error = NULL, finished_at = NULL, pid = NULL "
            "WHERE id = ?",
            [qpos, run.id],
        )
    return get_run(store, run.id)


def wait_run(store: Store, run_id: int, *, poll: float = 1.0, timeout: float | None = None, on_tick=None) -> RunInfo:
    """Tick the queue until run `run_id` has finished (CLI foreground, tests); on_tick(run, events) each turn."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        events = tick(store)
        run = get_run(store, run_id)
        if on_tick is not None:
            on_tick(run, events)
        if run.status in FINISHED:
            return run
        if end is not None and time.monotonic() > end:
            raise TimeoutError(f"run {run_id} still {run.status} after {timeout}s")
        time.sleep(poll)


def queue(store: Store) -> list[RunInfo]:
    """The running run (if any) then the queued ones in the order they will start."""
    runs = _query(store, "WHERE status IN ('running', 'queued')")
    return sorted(runs, key=lambda r: (r.status != "running", r.queue_pos or 0, r.id))


# -- metrics ---------------------------------------------------------------------------------------------------


def run_metrics(store: Store, run_id: int, names: list[str] | str | None = None) -> list[tuple[int, str, float]]:
    """(step, name, value) of a run, by step; names: exact names, or a prefix ending in "/" ("eval_loss/")."""
    where, params = "WHERE run_id = ?", [int(run_id)]
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        exact = [n for n in names if not n.endswith("/")]
        prefixes = [n for n in names if n.endswith("/")]
        parts = []
        if exact:
            parts.append("name IN (SELECT unnest(?::VARCHAR[]))")
            params.append(exact)
        for p in prefixes:
            parts.append("starts_with(name, ?)")
            params.append(p)
        where += " AND (" + " OR ".join(parts or ["false"]) + ")"
    con = store.cursor()
    try:
        rows = con.execute(f"SELECT step, name, value FROM run_metrics {where} ORDER BY step, name", params).fetchall()
    finally:
        con.close()
    return [(int(s), n, float(v)) for s, n, v in rows]


def grad_conflict(store: Store, run_id: int) -> dict[tuple[str, str], dict]:
    """Per domain pair: share of sampled steps where the two domains' LoRA gradients had negative cosine
    ({"share", "n", "mean"}). Empty when the run logged no gradcos/* metric (grad_conflict_every = 0)."""
    rows = store.fetchall(
        "SELECT name, count(*), avg(value), avg(CASE WHEN value < 0 THEN 1.0 ELSE 0.0 END) FROM run_metrics "
        "WHERE run_id = ? AND starts_with(name, 'gradcos/') GROUP BY name ORDER BY name",
        [int(run_id)],
    )
    out = {}
    for name, n, mean, share in rows:
        a, _, b = name[len("gradcos/") :].partition("|")
        out[(a, b)] = {"share": float(share), "n": int(n), "mean": float(mean)}
    return out


def load_trained(run: RunInfo, device: str = "auto"):
    """(model, tokenizer) of a run: its base model plus its final adapter merged in (no adapter for kind="base"),
    in eval mode."""
    from engine.core.models import pick_device
    from engine.training import load_base, resolve_precision

    dev = pick_device(device)
    model, tok, _ = load_base(run.base_model or DEFAULT_BASE_MODEL, dev, resolve_precision(dev, "auto"))
    if run.kind != "base":
        adapter = Path(run.folder or "") / "adapter"
        if not (adapter / "adapter_config.json").is_file():
            raise RunError(f"run {run.id} ({run.status}) has no final adapter in {adapter}")
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    model.eval()
    return model, tok


def summary(run: RunInfo) -> dict[str, Any]:
    """A short dict for tables and JSON output."""
    p = run.progress
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "kind": run.kind,
        "protocol": run.protocol,
        "base_model": run.base_model,
        "mixture": run.config.get("mixture"),
        "step": p.get("step"),
        "total": p.get("total"),
        "loss": p.get("loss"),
        "eta_s": p.get("eta_s"),
        "error": run.error,
        "created_at": None if run.created_at is None else str(run.created_at),
    }
