"""The job panel: one status line and a progress bar for the long jobs a screen runs (scoring, embedding,
clustering, features, evaluation, training progress), with the job's typed state and its cancel token.

Thread jobs started with `JobPanel.run` report through typed messages posted to the panel (`Progress`,
`Finished`, `Failed`); the panel updates itself and calls the screen's callbacks on the UI thread. Jobs in a
child process are attached with `start(proc=...)` and polled with `poll` (the screen reads the worker's
progress file and calls `progress`). Every running job's token sits in `app.cancel_tokens`, so that the app's
exit cancels it (a child process is terminated).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import ProgressBar, Static
from textual.worker import get_current_worker

from screens.widgets import ProcessToken, engine_thread

JobState = Literal["idle", "running", "cancelling", "done", "failed", "cancelled"]
FINISHED_STATES = ("done", "failed", "cancelled")

_ids = itertools.count(1)


@dataclass
class Job:
    """A job as the panel shows it: kind, state, progress (done of total, rate, ETA) and its last status line.
    `token` (a CancelToken or ProcessToken) cancels it; `proc` is the child process of a process job; `data`
    holds what the screen keeps with the job."""

    kind: str
    state: JobState = "running"
    done: int = 0
    total: int | None = None
    rate: float | None = None
    eta_s: float | None = None
    message: str = ""
    token: Any = None
    proc: Any = None
    data: dict = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))
    label: str = ""  # the prefix of the progress lines ("embed: 1,000/4,000 records …")
    suffix: str = ""  # appended to the progress lines (" · c cancels")
    workers: str = ""  # a second line: the workers of a job on Ray (engine.core.ray_jobs.describe_pool)
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[BaseException], None] | None = None
    timer: Timer | None = None

    @property
    def active(self) -> bool:
        return self.state in ("running", "cancelling")


class JobPanel(Horizontal):
    """A status line (`#<status_id>`) and a progress bar (`#<progress_id>`) for one job at a time.

    `run` starts a thread job with a cancel token; `start` registers any other job (a child process, a
    prepare step); `progress` / `set_text` update it; `cancel` asks it to stop; `finish` ends it (the bar
    hides, the token leaves `app.cancel_tokens`, the line says how it ended). `job` is the running job, None
    when idle; `state` is the last job's state."""

    DEFAULT_CSS = """
    JobPanel { height: 1; padding: 0 1; }
    JobPanel.with-workers { height: 2; }
    JobPanel > .job-status { width: 1fr; }
    JobPanel > .job-bar { width: 40; }
    """

    @dataclass
    class Progress(Message):
        """A thread job's progress (posted from the worker thread)."""

        job_id: int
        done: int
        total: int | None
        rate: float | None = None
        eta_s: float | None = None
        line: str = ""

    @dataclass
    class Finished(Message):
        """A thread job returned `result`."""

        job_id: int
        kind: str
        result: Any

    @dataclass
    class Failed(Message):
        """A thread job raised `error` (engine.core.errors.Cancelled when it was cancelled)."""

        job_id: int
        kind: str
        error: BaseException

    def __init__(
        self,
        idle_text: str = "",
        *,
        status_id: str,
        progress_id: str,
        show_eta: bool = True,
        ellipsis: bool = False,
        hide_idle_bar: bool = True,
        id: str | None = None,  # noqa: A002 - Textual's name
    ) -> None:
        super().__init__(id=id)
        self.idle_text = idle_text
        self.status_id = status_id
        self.progress_id = progress_id
        self.show_eta = show_eta
        self.ellipsis = ellipsis
        self.hide_idle_bar = hide_idle_bar
        self.job: Job | None = None
        self.state: JobState = "idle"

    def compose(self) -> ComposeResult:
        yield Static(self.idle_text, id=self.status_id, classes="job-status")
        yield ProgressBar(id=self.progress_id, show_eta=self.show_eta, classes="job-bar")

    def on_mount(self) -> None:
        self.bar.display = not self.hide_idle_bar

    @property
    def bar(self) -> ProgressBar:
        return self.query_one(f"#{self.progress_id}", ProgressBar)

    @property
    def busy(self) -> bool:
        return self.job is not None

    # -- starting --------------------------------------------------------------------------------------------
    def start(
        self,
        kind: str,
        text: str,
        *,
        total: int | None = None,
        token: Any = None,
        proc: Any = None,
        show_bar: bool = True,
        label: str | None = None,
        suffix: str = "",
        **data: Any,
    ) -> Job:
        """Register a running job (its token, or a ProcessToken for `proc`, joins `app.cancel_tokens`)."""
        if self.job is not None:
            self._release(self.job)
        if proc is not None and token is None:
            token = ProcessToken(proc)
        job = Job(kind=kind, total=total, token=token, proc=proc, data=data, label=label or kind, suffix=suffix)
        self.job = job
        self.state = "running"
        if token is not None:
            self.app.cancel_tokens.add(token)  # type: ignore[attr-defined]
        if show_bar:
            self.bar.display = True
            self.bar.update(total=total, progress=0)
        self.set_text(text)
        return job

    def run(
        self,
        kind: str,
        fn: Callable[[Callable[[Any], None], Any], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
        *,
        text: str | None = None,
        label: str | None = None,
        suffix: str = "",
        group: str = "job",
        **data: Any,
    ) -> Job:
        """Run `fn(progress, token)` in a thread worker with a fresh CancelToken; `progress` takes an
        engine.core.jobs.Progress. The result goes to `on_done`, an error to `on_error` (default: `fail`), both
        on the UI thread."""
        from engine.core.jobs import CancelToken

        token = CancelToken()
        job = self.start(kind, text or f"{kind}: starting…", token=token, label=label, suffix=suffix, **data)
        job.on_done, job.on_error = on_done, on_error
        job_id = job.id

        def progress(p: Any) -> None:
            self.post_message(JobPanel.Progress(job_id, p.done, p.total, p.rate, p.eta_s, p.line()))

        def work() -> None:
            worker = get_current_worker()
            with engine_thread():
                try:
                    result = fn(progress, token)
                except Exception as e:  # noqa: BLE001 - everything goes to the UI
                    if not worker.is_cancelled:
                        self.post_message(JobPanel.Failed(job_id, kind, e))
                    return
                if not worker.is_cancelled:
                    self.post_message(JobPanel.Finished(job_id, kind, result))

        self.run_worker(work, thread=True, group=group, exit_on_error=False, description=kind)
        return job

    # -- updates ----------------------------------------------------------------------------------------------
    def _current(self, job_id: int) -> Job | None:
        job = self.job
        return job if job is not None and job.id == job_id else None

    def on_job_panel_progress(self, message: Progress) -> None:
        message.stop()
        job = self._current(message.job_id)
        if job is None or job.state != "running":
            return
        job.rate, job.eta_s = message.rate, message.eta_s
        self.progress(message.done, message.total, f"{job.label}: {message.line}{job.suffix}")

    def on_job_panel_finished(self, message: Finished) -> None:
        message.stop()
        job = self._current(message.job_id)
        if job is not None and job.on_done is not None:
            self._guarded(job.on_done, message.result)

    def on_job_panel_failed(self, message: Failed) -> None:
        message.stop()
        job = self._current(message.job_id)
        if job is None:
            return
        self._guarded(job.on_error or self.fail, message.error)

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        """fn(*args) on the UI thread; an exception it raises (an OSError reading a job file, say) fails the job
        with a notification instead of ending the app."""
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001 - everything goes to the UI
            self.fail(e)

    def progress(self, done: int, total: int | None, text: str | None = None) -> None:
        """Show `done` of `total` (the bar keeps its total when `total` is None) and optionally a new line."""
        job = self.job
        if job is not None:
            job.done, job.total = done, total or job.total
        if total:
            self.bar.update(total=total, progress=done)
        if text is not None:
            self.set_text(text)

    def set_text(self, text: str) -> None:
        """Replace the status line."""
        if self.job is not None:
            self.job.message = text
        self._render_status(text)

    def set_workers(self, line: str) -> None:
        """Show `line` (the workers of a job on Ray, with their throughput) under the status line; "" hides it."""
        if self.job is None:
            return
        self.job.workers = line
        self._render_status(self.job.message)

    def _render_status(self, text: str) -> None:
        workers = self.job.workers if self.job is not None else ""
        self.set_class(bool(workers), "with-workers")
        if workers:  # two lines, each cut at the panel's width
            t = Text(text, no_wrap=True, overflow="ellipsis")
            t.append("\n")
            t.append(Text(workers, style="dim", no_wrap=True, overflow="ellipsis"))
        else:
            t = Text(text, no_wrap=True, overflow="ellipsis") if self.ellipsis else Text(text)
        self.query_one(f"#{self.status_id}", Static).update(t)

    def poll(self, interval: float, fn: Callable[[], None]) -> None:
        """Call `fn` every `interval` seconds while the job runs (a child process's progress file, say)."""
        if self.job is not None:
            self.job.timer = self.set_interval(interval, lambda: self._guarded(fn))

    def show(self, state: JobState, done: int, total: int | None, text: str) -> None:
        """Display a job that runs elsewhere (a training run): its state, progress and status line."""
        self.state = state
        self.bar.update(total=total, progress=done)
        self.set_text(text)

    # -- ending -----------------------------------------------------------------------------------------------
    def cancel(self, text: str) -> bool:
        """Ask the running job to stop (its token, or the child process); False (and a note) when idle."""
        job = self.job
        if job is None or job.token is None:
            self.app.notify("no job is running")
            return False
        job.token.cancel()
        job.state = self.state = "cancelling"
        self.set_text(text)
        return True

    def finish(self, text: str, state: JobState = "done") -> None:
        """End the running job: its token leaves `app.cancel_tokens`, the bar hides, the line says `text`."""
        if self.job is not None:
            self._release(self.job)
            self.job.state = state
        self.job = None
        self.state = state
        if self.hide_idle_bar:
            self.bar.display = False
        self.set_text(text)

    def fail(self, error: BaseException) -> None:
        """Default error handling: a notification and `<kind> failed: <error>`."""
        kind = self.job.kind if self.job else "job"
        self.app.notify(f"{type(error).__name__}: {error}", title=kind, severity="error", timeout=15)
        self.finish(f"{kind} failed: {error}", "failed")

    def _release(self, job: Job) -> None:
        if job.timer is not None:
            job.timer.stop()
            job.timer = None
        if job.token is not None:
            self.app.cancel_tokens.discard(job.token)  # type: ignore[attr-defined]


class JobScreen:
    """Mixin of a screen with one JobPanel (`#<JOB_PANEL>`): `panel`, the running `job` and `_busy()`."""

    JOB_PANEL = ""

    @property
    def panel(self) -> JobPanel:
        return self.query_one(f"#{self.JOB_PANEL}", JobPanel)  # type: ignore[attr-defined]

    @property
    def job(self) -> Job | None:
        """The running job (None when idle)."""
        return self.panel.job

    def _busy(self) -> bool:
        """True (with a notice) while a job runs, or before the store is open."""
        if self.job is not None:
            self.app.notify(f"a {self.job.kind} job is running; c cancels it", severity="warning")  # type: ignore[attr-defined]
            return True
        return self.store is None  # type: ignore[attr-defined]
