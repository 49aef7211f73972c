"""Run untrusted generated code against a task's tests, isolated by the kernel.

Each run starts two sandboxes (bubblewrap), never anything in the calling process:

- the **candidate** sandbox loads the generated code, then the task's setup code, and answers requests;
- the **harness** sandbox runs the tests; the names the code defined are proxies that
  ask the candidate (`engine.evaluation.sandbox_rpc`). Return values come back as plain data, so ``assert f(x) == y``
  is decided in the harness. The harness writes the verdict to its own stdout; the candidate cannot reach
  it (another process in another PID, mount and user namespace), cannot read the tests and cannot
  rewrite them. Nothing of the verdict depends on a secret the candidate could read.

Each sandbox has: new user, PID, mount, network, IPC, UTS and cgroup namespaces (no interfaces but its own
loopback); an unprivileged uid (when we are root: a fresh uid of its own per sandbox and run, so its
process limit counts only its own processes; otherwise the calling user's uid, all capabilities dropped);
``/usr`` (and the /bin, /lib links) read-only and nothing else of the host: no /home, /root, /work,
/etc, host /tmp, /run or sockets; a private size-limited tmpfs at /tmp (the working directory);
rlimits on CPU seconds, address space, file size, open files and processes; no core files; a fresh
environment; ``--die-with-parent`` and a wall-clock timeout. When the sandbox's first process ends, the
kernel kills every process left in its PID namespace; when we are root, a final ``kill -1`` as the
sandbox's own uid sweeps whatever might remain.

Where this isolation is unavailable (no bubblewrap, user namespaces disabled, no interpreter visible
under /usr), `run_code` refuses with `SandboxUnavailable` naming the reason, unless the caller opts in
(`SandboxLimits(allow_unisolated=True)` or ``WORKBENCH_SANDBOX=unisolated``): then the same two processes
run as plain children with the rlimits and the timeout only, and the result says so.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.core.errors import InputError

_RPC_SOURCE = Path(__file__).with_name("sandbox_rpc.py")
_UID_BASE = 3_000_000  # root: each sandbox gets a fresh uid in [_UID_BASE, _UID_BASE + 1e6)
_PROBE: "Isolation | None" = None


class SandboxError(InputError):
    """Bad sandbox input (e.g. tests that are not a list of strings)."""


class SandboxUnavailable(SandboxError):
    """Kernel isolation is not available here and the caller did not opt in to run without it."""

    hint = (
        "install bubblewrap (Debian: apt-get install bubblewrap) and allow unprivileged user namespaces, "
        "or opt in to unisolated runs with WORKBENCH_SANDBOX=unisolated (only for code you trust)"
    )


@dataclass
class SandboxLimits:
    """Limits of one sandboxed run (all configurable)."""

    timeout_s: float = 10.0  # wall clock for the whole run, then every process is killed
    cpu_s: int = 5  # RLIMIT_CPU per process (SIGXCPU, then SIGKILL a second later)
    memory_mb: int = 512  # RLIMIT_AS (address space) per process
    file_size_mb: int = 8  # RLIMIT_FSIZE: largest file the code may write (its stdout included)
    tmp_mb: int = 64  # size of the private /tmp
    max_procs: int = 16  # RLIMIT_NPROC (per sandbox uid when root; headroom over the user's count else)
    max_open_files: int = 64  # RLIMIT_NOFILE
    allow_unisolated: bool = False  # run without kernel isolation where it is unavailable (trusted code only)
    trust_candidate_objects: bool = False  # accept truth values answered by the candidate's own objects


@dataclass
class SandboxResult:
    """Outcome of one run. status: passed | failed (a test failed) | error (exception, syntax error, no
    code, the candidate died) | timeout (wall clock) | killed (the candidate hit a CPU/memory/file limit)."""

    status: str
    passed: bool
    n_tests: int
    n_passed: int
    tests: list[dict] = field(default_factory=list)  # per test: {"ok": bool, "error": str | None}
    error: str | None = None
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    isolation: dict = field(default_factory=dict)
    remote_answers: int = 0  # truth values the candidate's own objects answered (see engine.evaluation.sandbox_rpc)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Isolation:
    """What this machine gives the sandbox. `kernel` False: only the unisolated fallback can run."""

    kernel: bool
    reason: str
    bwrap: str | None = None
    python: str | None = None
    uid_mode: str = "own"  # "dedicated" (root: a fresh uid per sandbox) or "own" (the caller's uid)

    def to_dict(self) -> dict:
        return asdict(self)


# -- isolation ----------------------------------------------------------------------------------------------
def _visible_python() -> str | None:
    """An interpreter whose files all lie under /usr (the only host tree the sandbox sees)."""
    for cand in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        real = os.path.realpath(cand) if cand else ""
        if real.startswith("/usr/") and os.access(real, os.X_OK):
            return real
    return None


def _top_level_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        p = "/" + d
        if os.path.islink(p):
            target = os.readlink(p)
            if os.path.realpath(p).startswith("/usr/"):
                args += ["--symlink", target, p]
        elif os.path.isdir(p) and not os.path.realpath(p).startswith("/usr/"):
            args += ["--ro-bind", p, p]
    return args


def _bwrap_argv(iso: Isolation, folder: str, limits: SandboxLimits, role: str, rfd: int, wfd: int) -> list[str]:
    return [
        iso.bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--hostname",
        "sandbox",
        *_top_level_mounts(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits.tmp_mb * 1024 * 1024),
        "--tmpfs",
        "/tmp",
        "--ro-bind",
        folder,
        "/sandbox",
        "--chdir",
        "/tmp",
        "--clearenv",
        *[x for k, v in _child_env("/tmp").items() for x in ("--setenv", k, v)],
        "--",
        iso.python,
        "-I",
        "-S",
        "-B",
        "/sandbox/sandbox_rpc.py",
        role,
        str(rfd),
        str(wfd),
    ]


def isolation(refresh: bool = False) -> Isolation:
    """Probe once per process whether kernel isolation works here (a real sandboxed run of `pass`)."""
    global _PROBE
    if _PROBE is not None and not refresh:
        return _PROBE
    uid_mode = "dedicated" if os.geteuid() == 0 else "own"
    bwrap = shutil.which("bwrap")
    py = _visible_python()
    if not sys.platform.startswith("linux"):
        _PROBE = Isolation(False, "kernel isolation needs Linux namespaces")
    elif not bwrap:
        _PROBE = Isolation(False, "bubblewrap (bwrap) is not installed", python=py, uid_mode=uid_mode)
    elif not py:
        _PROBE = Isolation(
            False, "no Python interpreter under /usr for the sandbox (install python3)", bwrap=bwrap, uid_mode=uid_mode
        )
    else:
        iso = Isolation(True, "bubblewrap", bwrap, py, uid_mode)
        tmp = tempfile.mkdtemp(prefix="wb-probe-")
        try:
            os.chmod(tmp, 0o755)
            shutil.copyfile(_RPC_SOURCE, Path(tmp) / "sandbox_rpc.py")
            os.chmod(Path(tmp) / "sandbox_rpc.py", 0o644)
            argv = _bwrap_argv(iso, tmp, SandboxLimits(), "probe", 0, 1)
            uid = _fresh_uid() if uid_mode == "dedicated" else None
            r = subprocess.run(
                argv[:-4] + ["-c", "import os; print(os.getuid())"],
                capture_output=True,
                text=True,
                timeout=30,
                preexec_fn=_preexec(SandboxLimits(), uid, 64),
            )
            if r.returncode == 0 and r.stdout.strip() == "65534":
                _PROBE = iso
            else:
                why = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
                _PROBE = Isolation(False, f"bubblewrap cannot start a sandbox here: {why}", bwrap, py, uid_mode)
            if uid is not None:
                _sweep(uid)
        except (OSError, subprocess.SubprocessError) as e:
            _PROBE = Isolation(False, f"bubblewrap cannot start a sandbox here: {e}", bwrap, py, uid_mode)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return _PROBE


def require_isolation(allow_unisolated: bool = False) -> Isolation:
    """This machine's isolation; SandboxUnavailable (with the reason) where kernel isolation is missing and
    neither `allow_unisolated` nor ``WORKBENCH_SANDBOX=unisolated`` opts in to run without it."""
    iso = isolation()
    if not iso.kernel and not allow_unisolated and os.environ.get("WORKBENCH_SANDBOX", "") != "unisolated":
        raise SandboxUnavailable(f"refusing to run generated code: {iso.reason}")
    return iso


def _child_env(home: str) -> dict:
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _fresh_uid() -> int:
    return _UID_BASE + secrets.randbelow(1_000_000)


def _user_procs() -> int:
    """Processes of this user now (RLIMIT_NPROC counts them all)."""
    uid, n = os.getuid(), 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                n += os.stat(f"/proc/{d}").st_uid == uid
            except OSError:
                pass
    return n


def _preexec(limits: SandboxLimits, uid: int | None, nproc: int):
    mb = 1024 * 1024

    def fn():  # runs in the child between fork and exec: no imports, nothing allocation-heavy
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None:  # root: become a uid of our own, with no groups
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        except (ValueError, OSError):
            pass

    return fn


def _sweep(uid: int) -> None:
    """Root only: SIGKILL every process of the sandbox's own uid (kill -1 as that uid spares the rest)."""
    kill = shutil.which("kill")
    if not kill:
        return
    try:
        subprocess.run(
            [kill, "-9", "-1"],
            user=uid,
            group=uid,
            extra_groups=[],
            timeout=10,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        pass


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, n: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _write_folder(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    shutil.copyfile(_RPC_SOURCE, folder / "sandbox_rpc.py")
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    for p in folder.iterdir():
        os.chmod(p, 0o644)


def _signal_reason(rc: int | None) -> str | None:
    if rc is None or rc >= 0:
        if rc is not None and rc > 128 and rc - 128 in signal.Signals._value2member_map_:
            rc = -(rc - 128)  # bwrap reports a signalled child as 128 + signal
        else:
            return None
    sig = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
    return {
        "SIGXCPU": "CPU time limit",
        "SIGKILL": "killed (CPU or memory limit)",
        "SIGXFSZ": "file size limit",
        "SIGSEGV": "segmentation fault",
    }.get(sig, sig)


# -- running ------------------------------------------------------------------------------------------------
def run_code(code: str, tests: list[str], *, setup: str = "", limits: SandboxLimits | None = None) -> SandboxResult:
    """Run `code`, then each test (Python statements, usually asserts) against it; passed = every test
    ran without an exception. `setup` (MBPP's test_setup_code) runs after the code, in the candidate. Raises
    `SandboxUnavailable` where kernel isolation is missing, unless the limits opt in to run without it."""
    if not isinstance(code, str):
        raise SandboxError(f"code must be a string, got {type(code).__name__}")
    if not isinstance(tests, (list, tuple)) or not all(isinstance(t, str) for t in tests):
        raise SandboxError("tests must be a list of strings (assert statements)")
    limits = limits or SandboxLimits()
    iso = require_isolation(limits.allow_unisolated)
    info = {
        "kernel": iso.kernel,
        "backend": "bubblewrap" if iso.kernel else "none (opted in)",
        "reason": iso.reason,
        "uid_mode": iso.uid_mode,
        "python": iso.python or sys.executable,
        "network": "none" if iso.kernel else "host",
    }
    if not code.strip():
        return SandboxResult("error", False, len(tests), 0, [], "no code", isolation=info)
    tmp = Path(tempfile.mkdtemp(prefix="wb-sandbox-"))
    os.chmod(tmp, 0o711)
    t0 = time.perf_counter()
    procs: list[subprocess.Popen] = []
    uids: list[int] = []
    fds: list[int] = []
    timed_out = False
    try:
        _write_folder(tmp / "candidate", {"solution.py": code, "setup.py": setup or ""})
        _write_folder(
            tmp / "harness",
            {
                "tests.json": json.dumps(
                    {"tests": list(tests), "trust_candidate_objects": limits.trust_candidate_objects}
                )
            },
        )
        h2c_r, h2c_w = os.pipe()
        c2h_r, c2h_w = os.pipe()
        fds = [h2c_r, h2c_w, c2h_r, c2h_w]
        nproc = limits.max_procs if iso.uid_mode == "dedicated" else _user_procs() + limits.max_procs
        for role, rfd, wfd in (("candidate", h2c_r, c2h_w), ("harness", c2h_r, h2c_w)):
            folder = tmp / role
            uid = _fresh_uid() if iso.kernel and iso.uid_mode == "dedicated" else None
            if uid is not None:
                uids.append(uid)
            if iso.kernel:
                argv = _bwrap_argv(iso, str(folder), limits, role, rfd, wfd)
                cwd = "/"
            else:
                argv = [sys.executable, "-I", "-S", "-B", str(folder / "sandbox_rpc.py"), role, str(rfd), str(wfd)]
                cwd = str(folder)
            with open(tmp / f"{role}.out", "wb") as out, open(tmp / f"{role}.err", "wb") as err:
                procs.append(
                    subprocess.Popen(
                        argv,
                        cwd=cwd,
                        env=_child_env(str(folder)),
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        pass_fds=(rfd, wfd),
                        start_new_session=True,
                        preexec_fn=_preexec(limits, uid, nproc),
                    )
                )
        for fd in fds:  # only the sandboxes hold the pipe ends now: a dead side means EOF for the other
            os.close(fd)
        fds = []
        cand, harn = procs
        deadline = time.monotonic() + limits.timeout_s
        try:
            harn.wait(timeout=max(0.0, deadline - time.monotonic()))
            cand.wait(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            timed_out = harn.poll() is None
        for p in procs:
            _kill_group(p.pid)
            p.wait()
        for uid in uids:
            _sweep(uid)
        info["uids"] = uids
        verdict_text = _tail(tmp / "harness.out", 1 << 20)
        stdout, stderr = _tail(tmp / "candidate.out"), _tail(tmp / "candidate.err")
        harness_err = _tail(tmp / "harness.err")
    finally:
        for fd in fds:
            os.close(fd)
        for p in procs:
            if p.poll() is None:
                _kill_group(p.pid)
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    secs = time.perf_counter() - t0
    cand_rc = cand.returncode
    base = dict(returncode=cand_rc, stdout=stdout[-2000:], stderr=stderr[-2000:], seconds=secs, isolation=info)
    if timed_out:
        return SandboxResult(
            "timeout", False, len(tests), 0, [], f"wall-clock timeout after {limits.timeout_s:g} s", **base
        )
    verdict = None
    for line in reversed(verdict_text.split("\n")):
        if line.startswith("{"):
            try:
                verdict = json.loads(line)
            except json.JSONDecodeError:
                pass
            break
    killed = _signal_reason(cand_rc)
    if verdict is None:
        last = (harness_err.strip().splitlines() or [f"exit status {harn.returncode}"])[-1]
        return SandboxResult(
            "error", False, len(tests), 0, [], f"no verdict from the test harness: {last}"[:500], **base
        )
    if verdict.get("error"):
        if killed:
            return SandboxResult("killed", False, len(tests), 0, [], killed, **base)
        err = verdict["error"]
        if "exited" in err and stderr.strip():
            err = f"{err}: {stderr.strip().splitlines()[-1]}"
        return SandboxResult(
            "error", False, len(tests), 0, [], err[:500], **base, remote_answers=verdict.get("remote_answers", 0)
        )
    per = verdict.get("tests", [])
    if len(per) != len(tests):
        return SandboxResult(
            "error", False, len(tests), 0, per, "the harness returned the wrong number of results", **base
        )
    n_ok = sum(1 for t in per if t.get("ok"))
    ok = n_ok == len(tests)
    first = next((t["error"] for t in per if not t.get("ok")), None)
    status = "passed" if ok else ("killed" if killed else "failed")
    if status == "killed":
        first = f"{killed} ({first})"
    return SandboxResult(
        status, ok, len(tests), n_ok, per, first, **base, remote_answers=verdict.get("remote_answers", 0)
    )
