"""math-verify judgements, bounded in time: in this process (main thread: math-verify's own SIGALRM limits) or
in a pool of warm child processes (any other thread: killed after a wall-clock limit). The child runs
`_mv_serve` of this module, so the module imports nothing heavy at import time."""

from __future__ import annotations

import json
import threading

from engine.evaluation.scorer_types import AnswerCheckError

MATH_PARSE_TIMEOUT_S = 5  # math-verify's own limit per parse / comparison (SIGALRM: main thread only)
MATH_HARD_TIMEOUT_S = 20.0  # wall-clock limit of one check in the worker process (then it is killed)


_mv_timeouts = {"n": 0}


def _mv_log_timeouts() -> None:
    """Count math-verify's 'Timeout during ...' warnings (its only sign that a parse/compare timed out)."""
    import logging

    class _H(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Timeout"):
                _mv_timeouts["n"] += 1

    for name in ("math_verify.grader", "math_verify.parser"):
        lg = logging.getLogger(name)
        if not any(type(h).__name__ == "_H" and getattr(h, "_wb", False) for h in lg.handlers):
            h = _H()
            h._wb = True  # type: ignore[attr-defined]
            lg.addHandler(h)


def _mv_judge(ref: str, pred: str | None, output: str, t: int | None) -> dict:
    """math-verify's verdict (in this process): {"gold": parsed?, "ok", "extracted", "timeout"}."""
    from math_verify import parse, verify

    _mv_log_timeouts()
    n0 = _mv_timeouts["n"]
    gold = parse(f"${ref}$", parsing_timeout=t) or parse(ref, parsing_timeout=t)
    if not gold:
        return {"gold": False, "ok": False, "extracted": None, "timeout": _mv_timeouts["n"] > n0}
    if pred is not None:
        p = parse(f"\\boxed{{{pred}}}", parsing_timeout=t) or parse(pred, parsing_timeout=t)
    else:
        p = parse(output, parsing_timeout=t)
    extracted = pred if pred is not None else (str(p[-1]) if p else None)
    ok = bool(p) and bool(verify(gold, p, timeout_seconds=t))
    return {"gold": True, "ok": ok, "extracted": extracted, "timeout": _mv_timeouts["n"] > n0}


def _mv_serve() -> None:
    """The worker process's loop: one JSON request per stdin line, one JSON verdict per stdout line. It runs
    in its own main thread, so math-verify's SIGALRM limits hold here too."""
    import sys as _sys

    out = _sys.stdout
    _sys.stdout = _sys.stderr  # stray prints must not corrupt the protocol
    for line in _sys.stdin:
        try:
            r = json.loads(line)
            res = _mv_judge(r["ref"], r["pred"], r["output"], MATH_PARSE_TIMEOUT_S)
        except BaseException as e:  # noqa: BLE001 - report, keep serving
            res = {"error": f"{type(e).__name__}: {e}"[:300]}
        out.write(json.dumps(res) + "\n")
        out.flush()


class _MVWorker:
    """A child Python process serving `_mv_judge` (kept warm between checks; killed on a hard timeout)."""

    def __init__(self) -> None:
        import os
        import subprocess
        import sys
        from pathlib import Path

        root = str(Path(__file__).resolve().parents[2])  # the folder holding the engine package
        code = (
            f"import sys; sys.path.insert(0, {root!r}); "
            "from engine.evaluation.math_verify_pool import _mv_serve; _mv_serve()"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.buf = b""

    def ask(self, req: dict, timeout: float) -> dict | None:
        """The worker's answer, or None when it did not answer within `timeout` s (it is then killed)."""
        import os
        import select
        import time

        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            raise
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return None
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.kill()
                    raise OSError("the math-verify worker exited")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass


_MV_POOL: list[_MVWorker] = []
_MV_LOCK = threading.Lock()
_MV_SLOTS = threading.BoundedSemaphore(4)  # at most 4 worker processes checking at once


def _mv_close_all() -> None:
    with _MV_LOCK:
        while _MV_POOL:
            _MV_POOL.pop().kill()


def _mv_in_worker(req: dict, timeout: float) -> dict | None:
    """Run one judgement in a pooled worker process; None on a hard timeout (that worker is killed)."""
    import atexit

    with _MV_SLOTS:
        with _MV_LOCK:
            w = None
            while _MV_POOL and w is None:
                w = _MV_POOL.pop()
                if not w.alive():
                    w = None
            if w is None and not getattr(_mv_close_all, "_registered", False):
                atexit.register(_mv_close_all)
                _mv_close_all._registered = True  # type: ignore[attr-defined]
        if w is None:
            try:
                w = _MVWorker()
            except OSError as e:
                raise AnswerCheckError(f"math: cannot start the math-verify worker process: {e}") from e
        try:
            res = w.ask(req, timeout)
        except OSError as e:
            raise AnswerCheckError(f"math: the math-verify worker failed: {e}") from e
        if res is not None and w.alive():
            with _MV_LOCK:
                _MV_POOL.append(w)
        return res


def _mv_timeout() -> int | None:
    # math-verify's timeouts use signal.alarm, which only works in the main thread; elsewhere the check runs
    # in a worker process (see check_math)
    return MATH_PARSE_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
