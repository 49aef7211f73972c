"""The job layer shared by every long engine job: progress reporting and cancellation (in-process), and the
life cycle of a job run in a worker subprocess.

- `JobFolder`: a job's folder (reused by content hash; `claim` makes sure it belongs to the store at hand,
  whose id every manifest records under "store"), atomic JSON writes of spec/progress/status, chunk files
  written atomically and listed for resume and ingest, the log and stderr tails, the cancel flag.
- `spawn` (`python -m <module> FOLDER`, no shell, own process group), `cancel` (flag file + SIGTERM, SIGKILL
  after a grace period), `alive` (pid checks that see zombies and reused pids), `JobFolder.status`.
- Worker side: `worker_main` (signals and the flag file -> CancelToken, exit codes) and `run_chunks` (the
  resumable chunk loop with atomic progress reports).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.errors import (
    Cancelled,  # noqa: F401  (raised inside a job when its CancelToken was set)
    InputError,
)


@dataclass
class Progress:
    """A progress report: `done` of `total` units (total None when unknown)."""

    done: int
    total: int | None
    unit: str = "records"
    rate: float = 0.0  # units per second
    eta_s: float | None = None
    message: str = ""

    @property
    def fraction(self) -> float | None:
        return (self.done / self.total) if self.total else None

    def line(self) -> str:
        """One-line human text, as printed on stderr by the CLI."""
        tot = f"/{self.total:,}" if self.total is not None else ""
        eta = f", ETA {self.eta_s:0.0f}s" if self.eta_s is not None else ""
        msg = f" {self.message}" if self.message else ""
        return f"{self.done:,}{tot} {self.unit} ({self.rate:,.0f}/s{eta}){msg}"


ProgressFn = Callable[[Progress], None]


class CancelToken:
    """Set from any thread to ask a job to stop at its next checkpoint; with `flag`, a file that appears there
    cancels it too (a worker's `cancel` file)."""

    def __init__(self, flag: Path | str | None = None) -> None:
        self._event = threading.Event()
        self._flag = Path(flag) if flag is not None else None

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        if not self._event.is_set() and self._flag is not None and self._flag.exists():
            self._event.set()
        return self._event.is_set()

    def check(self) -> None:
        """Raise Cancelled if cancellation was asked for."""
        if self.cancelled:
            raise Cancelled()


@dataclass
class ProgressMeter:
    """Turns `advance(n)` calls into throttled Progress callbacks with rate and ETA."""

    callback: ProgressFn | None
    total: int | None = None
    unit: str = "records"
    min_interval: float = 0.1
    done: int = 0
    _start: float = field(default_factory=time.perf_counter)
    _last: float = 0.0

    def advance(self, n: int = 1, message: str = "", force: bool = False) -> None:
        self.done += n
        self.report(message, force)

    def report(self, message: str = "", force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        eta = None
        if self.total is not None and rate > 0:
            eta = max(self.total - self.done, 0) / rate
        self.callback(Progress(self.done, self.total, self.unit, rate, eta, message))


# -- job folders -----------------------------------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
FINISHED_STATES = ("done", "failed", "cancelled")


def content_hash(obj: Any, n: int = 16) -> str:
    """A short stable hash of JSON-able content (job folders are reused by it)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def write_json(path: Path, obj: Any, *, indent: int | None = None) -> None:
    """Write JSON atomically (temporary file + rename): a reader sees the old or the new file, never half."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=indent, default=str))
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    """A JSON file's object ({} when it is missing or not readable yet)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_jsonl(path: Path, records: Iterable[dict]) -> int:
    """Write JSON lines atomically; returns the number of records."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file. Split on "\n" only: `write_jsonl` keeps U+2028, U+0085 and the like
    raw inside strings, where str.splitlines() would cut a record in two."""
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").split("\n") if x.strip()]


class JobOwnerError(InputError):
    """A job folder whose manifest names another store (or none): its chunks are never resumed or ingested."""


class JobFolder:
    """The files of one job: spec.json, input.jsonl, chunks/, progress.json or status.json, log.txt, cancel
    (the flag file), hold (a test hook), pid and worker.stderr. Every JSON write is atomic."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"JobFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @classmethod
    def for_content(cls, root: Path, prefix: str, content: Any, *, n: int = 10) -> JobFolder:
        """The folder `root/prefix-<hash of content>` (created, or reused when it exists)."""
        return cls(Path(root) / f"{prefix}-{content_hash(content)[:n]}").create()

    def create(self, *, chunks: bool = True) -> JobFolder:
        self.path.mkdir(parents=True, exist_ok=True)
        if chunks:
            self.chunks_dir.mkdir(exist_ok=True)
        return self

    def file(self, name: str) -> Path:
        return self.path / name

    # which store the job belongs to
    def owner(self, manifest: str = "spec.json") -> str | None:
        """The store id the manifest records under "store" (None: no manifest, or one without it)."""
        return read_json(self.path / manifest).get("store")

    def belongs_to(self, store, manifest: str = "spec.json") -> bool:
        """Does the manifest name `store` (engine.core.paths.store_id)?"""
        from engine.core.paths import store_id

        return self.owner(manifest) == store_id(store)

    def claim(
        self, store, *, manifest: str = "spec.json", adopt_unstamped: bool = False, chunks: bool = True
    ) -> JobFolder:
        """Create the folder for `store`, or reuse it when its manifest names that store (the caller then writes
        the manifest with "store": engine.core.paths.store_id(store)). A folder of another store, or one with
        files but no store in its manifest (an older Workbench), is never resumed: inside the store's own files
        folder it is provably this store's (a store moved or renamed with its folder) and is emptied to start
        afresh; anywhere else JobOwnerError. `adopt_unstamped`: an unstamped folder the caller has proved to
        be this store's (e.g. inside one of its run folders) is reused."""
        import shutil

        from engine.core.paths import is_own, store_id

        me = store_id(store)
        if self.path.is_dir() and any(p.is_file() for p in self.path.rglob("*")):
            got = self.owner(manifest)
            if got != me and not (got is None and adopt_unstamped):
                if not is_own(store, self.path):
                    whose = f"store {got}" if got else "an unknown store (no store in its manifest)"
                    raise JobOwnerError(
                        f"job folder {self.path} belongs to {whose}, not to {me}; its chunks are not reused",
                        hint="delete that folder or give another job folder",
                    )
                shutil.rmtree(self.path)
        return self.create(chunks=chunks)

    # spec, input, progress, status
    def write_spec(self, spec: dict, *, name: str = "spec.json", indent: int | None = 2) -> None:
        write_json(self.path / name, spec, indent=indent)

    def read_spec(self, name: str = "spec.json") -> dict:
        return json.loads((self.path / name).read_text())

    def write_input(self, records: Iterable[dict], *, name: str = "input.jsonl") -> int:
        return write_jsonl(self.path / name, records)

    def read_input(self, name: str = "input.jsonl") -> list[dict]:
        return read_jsonl(self.path / name)

    def write_progress(self, **kw: Any) -> None:
        write_json(self.path / "progress.json", kw)

    def read_progress(self) -> dict:
        return read_json(self.path / "progress.json")

    def update_progress(self, **kw: Any) -> None:
        """Merge `kw` into progress.json (e.g. phase="converting the model (once)", or done within a chunk)."""
        self.write_progress(**(self.read_progress() | kw))

    def write_status(self, **kw: Any) -> None:
        write_json(self.path / "status.json", kw)

    def read_status(self) -> dict:
        return read_json(self.path / "status.json")

    # chunks
    @property
    def chunks_dir(self) -> Path:
        return self.path / "chunks"

    def chunk_files(self) -> list[Path]:
        """Finished chunk files, in order."""
        return sorted(self.chunks_dir.glob("*.jsonl"))

    def next_chunk_no(self) -> int:
        files = self.chunk_files()
        return int(files[-1].stem.split("-")[0]) + 1 if files else 1

    def write_chunk(self, records: Iterable[dict], *, no: int | None = None, unique: bool = False) -> Path:
        """Write one chunk atomically as chunks/NNNNNN.jsonl (NNNNNN-xxxxxx.jsonl with `unique`: a lost chunk
        redone gets a new name, so an ingest marker listing names never skips it)."""
        no = self.next_chunk_no() if no is None else no
        name = f"{no:06d}-{secrets.token_hex(3)}" if unique else f"{no:06d}"
        path = self.chunks_dir / f"{name}.jsonl"
        write_jsonl(path, records)
        return path

    def done_keys(self, key: str = "sample_id") -> set:
        """The `key` of every record in a finished chunk (what a resumed worker skips)."""
        return {r[key] for f in self.chunk_files() for r in read_jsonl(f)}

    def new_chunks(self, marker: str = "ingested.txt") -> Iterator[tuple[Path, list[dict]]]:
        """(file, records) of the chunks not listed in the ingest marker yet; `mark_ingested` after each."""
        m = self.path / marker
        seen = set(m.read_text().split()) if m.exists() else set()
        for f in self.chunk_files():
            if f.name not in seen:
                yield f, read_jsonl(f)

    def mark_ingested(self, chunk: Path, marker: str = "ingested.txt") -> None:
        with open(self.path / marker, "a") as m:
            m.write(Path(chunk).name + "\n")

    # log, stderr
    def log(self, line: str) -> None:
        """Append a time-stamped line to log.txt."""
        with open(self.path / "log.txt", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    def log_tail(self, n: int = 12, name: str = "log.txt") -> str:
        """The last `n` non-empty lines of the log (progress-bar lines left out)."""
        try:
            lines = (self.path / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return "(no log)"
        lines = [ln for ln in lines if ln.strip() and "it/s]" not in ln]
        return "\n".join(lines[-n:]) or "(empty log)"

    def stderr_tail(self, chars: int = 1500) -> str:
        try:
            return (self.path / "worker.stderr").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # cancel flag, test hold, pid
    @property
    def cancel_file(self) -> Path:
        return self.path / "cancel"

    def request_cancel(self) -> None:
        self.cancel_file.write_text(time.strftime("%Y-%m-%d %H:%M:%S"))

    def cancel_requested(self) -> bool:
        return self.cancel_file.exists()

    def clear(self, *names: str) -> None:
        """Remove files left by an earlier worker (e.g. "status.json", "cancel")."""
        for n in names:
            (self.path / n).unlink(missing_ok=True)

    def wait_if_held(self, chunks_written: int, cancel: CancelToken | None = None) -> None:
        """Test hook: with a file `hold` holding N, stop after the N-th chunk of this run (progress state "held")
        until the file goes away or the job is cancelled."""
        hold = self.path / "hold"
        try:
            at = int(hold.read_text().strip() or 0)
        except (OSError, ValueError):
            return
        if chunks_written != at:
            return
        self.write_progress(**(self.read_progress() | {"state": "held"}))
        while hold.exists() and not (cancel is not None and cancel.cancelled):
            time.sleep(0.02)

    def read_pid(self) -> int | None:
        try:
            return int((self.path / "pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def status(self, module: str | None = None) -> dict:
        """The last progress/status report plus `pid` and `alive`; a job whose worker died before a final
        state reads as state "died" (a stale pid)."""
        st = self.read_status() or self.read_progress()
        pid = self.read_pid()
        live = alive(pid, module, str(self.path)) if pid else False
        state = st.get("state") or st.get("status")
        if pid and not live and state not in FINISHED_STATES:
            st = st | {"state": "died"}
        return st | {"pid": pid, "alive": live}


# -- processes -------------------------------------------------------------------------------------------------


def spawn(
    module: str,
    folder: JobFolder | Path | str,
    *more: JobFolder | Path | str,
    output: str = "worker.stderr",
    stdout_too: bool = False,
    env: dict | None = None,
) -> subprocess.Popen:
    """Start `python -m <module> FOLDER [FOLDER ...]` (no shell, its own session and process group, stdin
    closed); stderr (and stdout with `stdout_too`) is appended to `output` in the first folder, whose `pid`
    file gets the child's pid."""
    folders = [Path(folder), *map(Path, more)]
    e = dict(os.environ) if env is None else dict(env)
    e.setdefault("TOKENIZERS_PARALLELISM", "false")
    with open(folders[0] / output, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, folders)],
            stdin=subprocess.DEVNULL,
            stdout=out if stdout_too else subprocess.DEVNULL,
            stderr=out,
            start_new_session=True,
            cwd=str(REPO_ROOT),
            env=e,
        )
    (folders[0] / "pid").write_text(str(proc.pid))
    return proc


def alive(pid: int | None, module: str | None = None, folder: str | None = None) -> bool:
    """Is `pid` still the worker (not dead, not a zombie, and, where /proc tells, running `module` on
    `folder`, so a reused pid does not count)?"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return False
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if (module and module not in cmd) or (folder and folder not in cmd):
                return False
        except (OSError, IndexError):
            pass
    return True


def cancel(
    target: subprocess.Popen | int | None,
    folder: JobFolder | Path | None = None,
    *,
    grace: float | None = 30.0,
    module: str | None = None,
) -> int | None:
    """Ask a worker to stop cleanly: the `cancel` flag file in `folder` and SIGTERM (it stops between chunks).
    With `grace`, wait that long and then SIGKILL its process group; returns the exit code when known."""
    if folder is not None:
        JobFolder(folder).request_cancel()
    proc = target if isinstance(target, subprocess.Popen) else None
    pid = proc.pid if proc is not None else target
    if proc is not None and proc.poll() is not None:
        return proc.returncode
    if proc is None and not alive(pid, module, str(Path(folder)) if folder is not None else None):
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    if grace is None:
        return None
    end = time.monotonic() + grace
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return proc.returncode
        if proc is None and not alive(pid):
            return None
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return proc.wait() if proc is not None else None


# -- the worker side -------------------------------------------------------------------------------------------


def worker_main(
    usage: str, argv: list[str] | None, work: Callable[[list[Path], CancelToken], Any], *, many=False
) -> int:
    """Entry point of a worker module: SIGTERM/SIGINT (and the folder's `cancel` file) cancel `work(folders,
    cancel)` at its next checkpoint. Exit codes: 0 done, 130 cancelled, 2 bad arguments."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or (len(argv) != 1 and not many):
        print(f"usage: {usage}", file=sys.stderr)
        return 2
    folders = [Path(a) for a in argv]
    token = CancelToken(flag=folders[0] / "cancel")
    signal.signal(signal.SIGTERM, lambda *_: token.cancel())
    signal.signal(signal.SIGINT, lambda *_: token.cancel())
    try:
        work(folders, token)
    except Cancelled:
        return 130
    return 0


def pending_items(job: JobFolder, items: list[dict], key: str = "sample_id") -> tuple[set, list[dict]]:
    """(the keys of `items` a finished chunk holds, the items still to do in order): what a resumed job skips, here
    or on Ray. Chunks of an earlier input do not count."""
    done = job.done_keys(key) & {it[key] for it in items}
    return done, [it for it in items if it[key] not in done]


def run_chunks(
    job: JobFolder,
    items: list[dict],
    process: Callable[[list[dict], int], list[dict]],
    *,
    chunk: int,
    cancel: CancelToken | None = None,
    load: Callable[[], Any] | None = None,
    progress: ProgressFn | None = None,
    unit: str = "items",
    key: str = "sample_id",
    unique: bool = False,
    start_line: str = "start: {total} items, {done} done, {todo} to do",
    done_line: str = "done: {new} items",
) -> dict:
    """The resumable chunk loop of a worker: skip the items a finished chunk holds, `load()` (after the
    "loading" report), then per `chunk` items: check `cancel`, `process(batch, done_before)` -> records,
    write them as one chunk file atomically, report progress.json. Logs start/end lines in log.txt; on
    cancel or error writes the final state and re-raises. Returns {"new", "skipped", "total", "rate"}."""
    total = len(items)
    done, todo = pending_items(job, items, key)
    job.log(start_line.format(total=total, done=len(done), todo=len(todo)))
    meter = ProgressMeter(progress, total=total, unit=unit, min_interval=0.5)
    meter.done = len(done)
    job.write_progress(state="loading", done=len(done), total=total, rate=0.0, eta_s=None)
    t0 = time.perf_counter()
    n_new = written = 0
    try:
        if load is not None:
            load()
        job.write_progress(state="running", done=len(done), total=total, rate=0.0, eta_s=None, phase=None)
        no = job.next_chunk_no()
        t0 = time.perf_counter()
        for k in range(0, len(todo), chunk):
            if cancel is not None:
                cancel.check()
            batch = todo[k : k + chunk]
            job.write_chunk(process(batch, len(done) + n_new), no=no, unique=unique)
            no += 1
            written += 1
            n_new += len(batch)
            meter.advance(len(batch), force=True)
            rate = n_new / max(time.perf_counter() - t0, 1e-9)
            eta = (len(todo) - n_new) / rate if rate > 0 else None
            job.write_progress(state="running", done=len(done) + n_new, total=total, rate=rate, eta_s=eta)
            job.wait_if_held(written, cancel)
    except BaseException as e:
        state = "cancelled" if isinstance(e, Cancelled) else "failed"
        job.log(f"{state}: {e!r}")
        job.write_progress(state=state, done=len(done) + n_new, total=total, error=repr(e))
        raise
    rate = n_new / max(time.perf_counter() - t0, 1e-9)
    job.write_progress(state="done", done=len(done) + n_new, total=total, rate=rate, eta_s=0)
    job.log(done_line.format(new=n_new, rate=rate))
    return {"new": n_new, "skipped": len(done), "total": total, "rate": rate}
