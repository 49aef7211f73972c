"""Heavy jobs on Ray (optional: `pip install -e .[ray]`): a job's chunks mapped by Ray Data over an actor pool.

The job layer's chunks stay what they are (engine.core.jobs): the driver (the process that runs the job, the
CLI's) plans the chunks exactly as the local loop does, sends each chunk as one row of a Ray dataset, and
`map_batches` with batch_size=1 hands each row to an actor of the pool, which built its processor (the model)
once. Results come back in chunk order (preserve_order) and the driver writes them: the same chunk files in
the same job folder (`run_chunks_on_ray`, the twin of `run_chunks`), so a job resumes from its finished chunks
locally or on Ray, and the store is still written by one process.

One actor per GPU where the cluster has GPUs, CPU actors otherwise (one per CPU, or `actors`). The cluster is
`address` (a flag), else $RAY_ADDRESS, else a local Ray started here (`ray.init()`), shut down at the end.
Cancelling (the CancelToken) stops waiting at once and disconnects: Ray ends the actors of a driver that leaves,
on a local Ray and on a cluster alike, so the chunk in flight is dropped as a local cancel drops it.

Nothing here imports ray at module import: only the functions that run a job do.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.core.errors import Cancelled, InputError
from engine.core.jobs import CancelToken, JobFolder, ProgressFn, ProgressMeter, pending_items

PLACES = ("local", "ray")
RAY_MISSING = "Ray is not installed: pip install -e '.[ray]' (or ./run install --ray)"
RAY_ENV = "WORKBENCH_RAY"  # a job's child process runs on Ray when set: JSON {"address", "actors"}


class RayError(InputError):
    """Ray is not installed, or the cluster cannot be reached (the message says which and how to fix it)."""


def import_ray():
    """The ray module, or RayError saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise RayError(
            "--on ray needs Ray (an optional extra): pip install -e '.[ray]' (or ./run install --ray)",
            hint="or run the job here: leave out --on ray",
        ) from e
    return ray


def ray_missing() -> str | None:
    """RAY_MISSING when Ray cannot be imported here, else None (looks for the package without importing it)."""
    import importlib.util

    try:
        found = importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # a blocked import (sys.modules["ray"] = None) or a broken install
        found = False
    return None if found else RAY_MISSING


@dataclass
class RaySetup:
    """Where the job runs: `address` (None: $RAY_ADDRESS, else a local Ray), `actors` (None: one per GPU, else
    one per CPU of the cluster), `local_cpus` (the CPUs a local Ray gets; None: all of this machine's)."""

    address: str | None = None
    actors: int | None = None
    local_cpus: int | None = None


def setup_env(setup: RaySetup | None) -> dict[str, str]:
    """The environment a job's child process needs to run on Ray with `setup` ({} for a local job)."""
    if setup is None:
        return {}
    return {RAY_ENV: json.dumps({"address": setup.address, "actors": setup.actors})}


def setup_from_env(env: dict | None = None) -> RaySetup | None:
    """The RaySetup that `setup_env` put in the environment (None: run locally)."""
    raw = (os.environ if env is None else env).get(RAY_ENV)
    if not raw:
        return None
    try:
        d = json.loads(raw)
        actors = d.get("actors")
        return RaySetup(address=d.get("address") or None, actors=int(actors) if actors else None)
    except (ValueError, TypeError, AttributeError) as e:
        raise RayError(f"${RAY_ENV} is not a Ray setup ({raw!r}): {e}") from e


def describe_pool(report: dict | None, unit: str = "items") -> str:
    """One line for a job's Ray pool (progress.json's "ray"): 'Ray: 2 workers on 1 node · 38.0 items/s · 10.0.0.1:
    4411 20.1/s 3 chunks 192 · ...' (each worker: its rate, chunks and items; the total is the sum of the rates)."""
    if not report:
        return ""
    workers = report.get("workers") or []
    n = max(int(report.get("actors") or 0), len(workers))
    nodes = report.get("nodes")
    head = f"Ray: {n} worker{'s' if n != 1 else ''}"
    if nodes:
        head += f" on {nodes} node{'s' if nodes != 1 else ''}"
    if report.get("address") and report["address"] != "local":
        head += f" at {report['address']}"
    if not workers:
        return head + " · starting"
    total = sum(float(w.get("rate") or 0) for w in workers)
    each = [
        f"{w.get('worker', '?')} {float(w.get('rate') or 0):.1f}/s {w.get('chunks', 0)} ch {w.get('items', 0):,}"
        for w in workers
    ]
    return " · ".join([head, f"{total:.1f} {unit}/s", *each])


@dataclass
class WorkerStats:
    """One actor's share of a job: chunks, items and busy seconds."""

    chunks: int = 0
    items: int = 0
    seconds: float = 0.0

    def as_dict(self, name: str) -> dict:
        return {
            "worker": name,
            "chunks": self.chunks,
            "items": self.items,
            "rate": self.items / self.seconds if self.seconds > 0 else 0.0,
        }


@dataclass
class ChunkResult:
    index: int  # the chunk's position in the payload list
    result: Any  # what the processor returned for it
    worker: str  # node ip:pid of the actor that ran it
    seconds: float


class _ChunkActor:
    """The map_batches UDF: builds its processor once (factory()), then runs one chunk per call."""

    def __init__(self, factory: Callable[[], Callable[[Any], Any]]):
        import ray

        self.process = factory()
        self.name = f"{ray.util.get_node_ip_address()}:{os.getpid()}"

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        out, names, secs = [], [], []
        for payload in batch["payload"]:
            t0 = time.perf_counter()
            out.append(pickle.dumps(self.process(pickle.loads(payload))))
            names.append(self.name)
            secs.append(time.perf_counter() - t0)
        return {
            "index": batch["index"],
            "result": np.array(out, dtype=object),
            "worker": np.array(names, dtype=object),
            "seconds": np.array(secs),
        }


def _connect(ray, setup: RaySetup) -> bool:
    """Connect to the cluster (or start a local Ray); True when this call started or joined it (so ends it)."""
    if ray.is_initialized():
        return False
    address = setup.address or os.environ.get("RAY_ADDRESS") or None
    kw: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    if address is None:
        kw["num_cpus"] = setup.local_cpus or os.cpu_count() or 1
    else:
        kw["address"] = address
    try:
        ray.init(**kw)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RayError(f"cannot connect to the Ray cluster at {address}: {e}") from e
    return True


def _pool(ray, setup: RaySetup) -> tuple[int, float]:
    """(actors, GPUs per actor) for the cluster."""
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    if gpus:
        return (setup.actors or gpus), 1.0
    return (setup.actors or max(1, int(res.get("CPU", 1)))), 0.0


def map_chunks(
    payloads: list,
    factory: Callable[[], Callable[[Any], Any]],
    *,
    setup: RaySetup | None = None,
    cancel: CancelToken | None = None,
    on_pool: Callable[[dict], None] | None = None,
) -> Iterator[ChunkResult]:
    """Each payload (one chunk) through `factory()`'s processor on an actor pool: ChunkResults in payload order.
    `factory` and the payloads must pickle (a class and its arguments do: functools.partial). `on_pool` gets
    {"address", "actors", "gpus_per_actor", "nodes"} once the pool is planned. Cancelling `cancel` raises
    Cancelled within ~0.2 s and disconnects from Ray (which ends this job's actors)."""
    setup = setup or RaySetup()
    ray = import_ray()
    owned = _connect(ray, setup)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        n_actors, gpus = _pool(ray, setup)
        n_actors = max(1, min(n_actors, len(payloads)))
        if on_pool is not None:
            on_pool(
                {
                    "address": setup.address or os.environ.get("RAY_ADDRESS") or "local",
                    "actors": n_actors,
                    "gpus_per_actor": gpus,
                    "nodes": len([n for n in ray.nodes() if n.get("Alive")]),
                }
            )
        if not payloads:
            return
        ds = ray.data.from_items(
            [{"index": i, "payload": pickle.dumps(p)} for i, p in enumerate(payloads)],
            override_num_blocks=len(payloads),  # one chunk per block: the pool's actors share the chunks
        )
        ds = ds.map_batches(
            _ChunkActor,
            fn_constructor_args=(factory,),
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=n_actors),
            num_cpus=0 if gpus else 1,
            num_gpus=gpus or None,
        )
        # The rows arrive from a thread, so that a cancel is seen while a chunk is still running.
        rows: queue.Queue = queue.Queue(maxsize=4)
        end = object()
        stop = threading.Event()

        def put(x) -> bool:
            while not stop.is_set():
                try:
                    rows.put(x, timeout=0.1)
                    return True
                except queue.Full:
                    pass
            return False

        def pump() -> None:
            it = iter(ds.iter_rows())
            try:
                for row in it:
                    if not put(row):
                        break
                else:
                    put(end)
            except BaseException as e:  # handed to the driver's thread
                put(e)
            finally:  # a driver that stopped early (cancel, error) stops the dataset: its actors end
                close = getattr(it, "close", None)
                if close is not None:
                    close()

        pumper = threading.Thread(target=pump, daemon=True, name="ray-rows")
        pumper.start()
        try:
            yield from _drain(rows, end, cancel)
        finally:
            stop.set()  # the pump stops the dataset at its next row (a chunk in flight is not waited for)
            pumper.join(timeout=1)
    finally:
        if owned:
            ray.shutdown()


def _drain(rows: queue.Queue, end: object, cancel: CancelToken | None) -> Iterator[ChunkResult]:
    """The ChunkResults the pump thread puts in `rows`, until `end`; Cancelled within ~0.2 s of a cancel."""
    while True:
        try:
            row = rows.get(timeout=0.2)
        except queue.Empty:
            if cancel is not None:
                cancel.check()
            continue
        if row is end:
            return
        if isinstance(row, BaseException):
            raise row
        yield ChunkResult(int(row["index"]), pickle.loads(row["result"]), str(row["worker"]), float(row["seconds"]))
        if cancel is not None:
            cancel.check()


@dataclass
class _Pool:
    info: dict = field(default_factory=dict)
    workers: dict[str, WorkerStats] = field(default_factory=dict)

    def report(self) -> dict:
        return self.info | {"workers": [w.as_dict(name) for name, w in sorted(self.workers.items())]}


def run_chunks_on_ray(
    job: JobFolder,
    items: list[dict],
    factory: Callable[[], Callable[[list[dict]], list[dict]]],
    *,
    chunk: int,
    setup: RaySetup | None = None,
    cancel: CancelToken | None = None,
    progress: ProgressFn | None = None,
    unit: str = "items",
    key: str = "sample_id",
    unique: bool = False,
    start_line: str = "start: {total} items, {done} done, {todo} to do",
    done_line: str = "done: {new} items",
) -> dict:
    """`engine.core.jobs.run_chunks` on Ray: the same skip of finished items, the same chunk boundaries (`chunk`
    items of what is left, in order), the same chunk files, progress.json and log lines; each chunk is
    `factory()(batch) -> records` on an actor. progress.json carries "ray": the pool and each worker's chunks,
    items and rate. Returns {"new", "skipped", "total", "rate"}."""
    total = len(items)
    done, todo = pending_items(job, items, key)
    job.log(start_line.format(total=total, done=len(done), todo=len(todo)) + " (on Ray)")
    meter = ProgressMeter(progress, total=total, unit=unit, min_interval=0.5)
    meter.done = len(done)
    pool = _Pool()
    job.write_progress(state="loading", done=len(done), total=total, rate=0.0, eta_s=None, phase="starting Ray")
    batches = [todo[k : k + chunk] for k in range(0, len(todo), chunk)]
    no = job.next_chunk_no()
    t0 = time.perf_counter()
    n_new = written = 0

    def planned(info: dict) -> None:
        pool.info = info
        job.log(f"ray: {info['actors']} actor(s) on {info['nodes']} node(s) at {info['address']}")
        job.write_progress(
            state="running", done=len(done), total=total, rate=0.0, eta_s=None, phase=None, ray=pool.report()
        )

    try:
        for res in map_chunks(batches, factory, setup=setup, cancel=cancel, on_pool=planned):
            if n_new == 0:
                t0 = time.perf_counter() - res.seconds  # the first chunk's time counts, not Ray's start-up
            batch = batches[res.index]
            job.write_chunk(res.result, no=no, unique=unique)
            no += 1
            written += 1
            n_new += len(batch)
            w = pool.workers.setdefault(res.worker, WorkerStats())
            w.chunks, w.items, w.seconds = w.chunks + 1, w.items + len(batch), w.seconds + res.seconds
            meter.advance(len(batch), force=True)
            rate = n_new / max(time.perf_counter() - t0, 1e-9)
            eta = (len(todo) - n_new) / rate if rate > 0 else None
            job.write_progress(
                state="running", done=len(done) + n_new, total=total, rate=rate, eta_s=eta, ray=pool.report()
            )
            job.wait_if_held(written, cancel)
    except BaseException as e:
        state = "cancelled" if isinstance(e, Cancelled | KeyboardInterrupt) else "failed"
        job.log(f"{state}: {e!r}")
        job.write_progress(state=state, done=len(done) + n_new, total=total, error=repr(e), ray=pool.report())
        raise
    rate = n_new / max(time.perf_counter() - t0, 1e-9)
    job.write_progress(state="done", done=len(done) + n_new, total=total, rate=rate, eta_s=0, ray=pool.report())
    job.log(done_line.format(new=n_new, rate=rate) + " (on Ray)")
    return {"new": n_new, "skipped": len(done), "total": total, "rate": rate}
