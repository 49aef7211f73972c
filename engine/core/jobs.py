"""Progress reporting and cancellation shared by every long engine job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.core.errors import Cancelled  # noqa: F401  (raised inside a job when its CancelToken was set)


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
    """Set from any thread to ask a job to stop at its next checkpoint."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise Cancelled if cancellation was asked for."""
        if self._event.is_set():
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
