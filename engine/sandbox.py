"""Run untrusted generated code against asserts in a separate, limited child process.

Never runs anything in the calling process. Each run gets:
- a fresh temporary directory (cwd; removed afterwards), the code and a small runner written into it;
- an isolated interpreter: ``python -I -S`` (no user site, no PYTHON* environment, no site-packages) with a
  stripped environment (PATH, LANG, HOME=the temp dir);
- resource limits set in the child before exec (``resource.setrlimit``): CPU seconds, address space, file
  size, open files, no core files, and the number of processes (RLIMIT_NPROC; the kernel does not enforce
  it for root, see below);
- a wall-clock timeout, after which the whole process group is killed (SIGKILL); the group is killed after
  a normal exit too, so nothing the code started outlives the run;
- no network where the OS allows it: a new network namespace (``unshare(CLONE_NEWNET)``, with a user
  namespace when not root). `network_isolation()` says which one this machine gives;
- a guard installed by the runner before the user code (``sys.addaudithook``, cannot be removed from
  Python): denies sockets, process creation (fork/exec/spawn/system/subprocess), ctypes and
  ``_posixsubprocess``, and writes/renames/deletes outside the temp dir.

The guard is best-effort (an audit hook is not a security boundary: native code can bypass it); the
rlimits, the timeout, the process-group kill and the network namespace are enforced by the kernel. Treat
the sandbox as protection against buggy and runaway generated code, not against a determined attacker.
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

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

_libc = None
_netns_flags: int | None | bool = False  # False: not probed yet; None: not available


class SandboxError(ValueError):
    """Bad sandbox input (e.g. tests that are not a list of strings)."""


@dataclass
class SandboxLimits:
    """Limits of one sandboxed run (all configurable)."""

    timeout_s: float = 10.0     # wall clock, then the process group is killed
    cpu_s: int = 5              # RLIMIT_CPU (SIGXCPU, then SIGKILL a second later)
    memory_mb: int = 512        # RLIMIT_AS (address space)
    file_size_mb: int = 8       # RLIMIT_FSIZE: largest file the code may write (stdout included)
    max_procs: int = 16         # RLIMIT_NPROC headroom over the user's current process count
    max_open_files: int = 64    # RLIMIT_NOFILE
    network: bool = False       # True: keep the host network (no namespace, sockets allowed by the guard)
    guard: bool = True          # install the audit-hook guard before the user code


@dataclass
class SandboxResult:
    """Outcome of one run. status: passed | failed (an assert failed) | error (exception, syntax error,
    no code) | timeout (wall clock) | killed (a signal, e.g. CPU or memory limit)."""

    status: str
    passed: bool
    n_tests: int
    n_passed: int
    tests: list[dict] = field(default_factory=list)   # per assert: {"ok": bool, "error": str | None}
    error: str | None = None
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    isolation: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# The runner executed by the child: reads solution.py and tests.json, installs the guard, runs the code
# and then each test in the same namespace, and prints one result line tagged with a per-run token.
_RUNNER = r'''
import json, os, sys
_token = os.environ.pop("WB_SANDBOX_TOKEN", "")
_guard = os.environ.pop("WB_SANDBOX_GUARD", "1") == "1"
_net_ok = os.environ.pop("WB_SANDBOX_NET", "0") == "1"
_root = os.path.realpath(os.getcwd())
_out = os.fdopen(os.dup(1), "w")
with open("solution.py", encoding="utf-8") as f:
    _src = f.read()
with open("tests.json", encoding="utf-8") as f:
    _tests = json.load(f)
with open("setup.py", encoding="utf-8") as f:
    _setup = f.read()

_DENY_EVENTS = ("os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
                "subprocess.Popen", "os.startfile", "pty.spawn", "ctypes.", "os.kill", "os.killpg",
                "signal.pthread_kill", "os.setuid", "os.chroot")
_DENY_IMPORTS = {"_ctypes", "ctypes", "_posixsubprocess", "multiprocessing"}
_PATH_EVENTS = {"os.remove": 1, "os.rmdir": 1, "os.mkdir": 1, "os.rename": 2, "os.symlink": 2, "os.link": 2,
                "os.chmod": 1, "os.chown": 1, "os.truncate": 1, "os.utime": 1, "shutil.rmtree": 1,
                "shutil.copyfile": 2, "shutil.move": 2, "os.chdir": 1}
_realpath, _fspath, _sep = os.path.realpath, os.fspath, os.sep

def _inside(p):
    try:
        if isinstance(p, int):
            return True
        rp = _realpath(_fspath(p))
    except Exception:
        return False
    return rp == _root or rp.startswith(_root + _sep) or rp == "/dev/null"

def _hook(event, args):
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        if writing and path is not None and not _inside(path):
            raise PermissionError(f"sandbox: writing outside the sandbox directory is not allowed: {path}")
        return
    if event == "import":
        if args and args[0] in _DENY_IMPORTS:
            raise ImportError(f"sandbox: module {args[0]!r} is not allowed")
        return
    if event.startswith("socket."):
        if not _net_ok:
            raise PermissionError(f"sandbox: network access is not allowed ({event})")
        return
    if event.startswith(_DENY_EVENTS):
        raise PermissionError(f"sandbox: {event} is not allowed")
    n = _PATH_EVENTS.get(event)
    if n:
        for p in args[:n]:
            if p is not None and not _inside(p):
                raise PermissionError(f"sandbox: {event} outside the sandbox directory is not allowed")

if _guard:
    sys.addaudithook(_hook)

def _err(e):
    return f"{type(e).__name__}: {e}"[:500]

_res = {"error": None, "tests": []}
_ns = {"__name__": "__main__", "__builtins__": __builtins__}
try:
    if _setup.strip():
        exec(compile(_setup, "setup.py", "exec"), _ns)
    exec(compile(_src, "solution.py", "exec"), _ns)
except BaseException as e:
    _res["error"] = _err(e)
if _res["error"] is None:
    for _t in _tests:
        try:
            exec(compile(_t, "<test>", "exec"), _ns)
            _res["tests"].append({"ok": True, "error": None})
        except AssertionError as e:
            _res["tests"].append({"ok": False, "error": "AssertionError" + (f": {e}" if str(e) else "")})
        except BaseException as e:
            _res["tests"].append({"ok": False, "error": _err(e)})
_out.write("\n" + _token + " " + json.dumps(_res) + "\n")
_out.flush()
'''


def _load_libc():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _user_procs() -> int:
    """Processes of this user now (RLIMIT_NPROC counts them all)."""
    uid = os.getuid()
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def _preexec(limits: SandboxLimits, netns: int | None, nproc: int):
    mb = 1024 * 1024

    def fn():  # runs in the child between fork and exec: no imports, no allocation-heavy work
        if netns and _libc is not None:
            _libc.unshare(netns)  # failure leaves the host network; the guard still denies sockets
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        except (ValueError, OSError):
            pass

    return fn


def network_isolation() -> str:
    """How this machine cuts the sandbox off the network: 'netns' (kernel network namespace, plus the
    guard) or 'guard' (audit-hook guard only: best-effort). Probed once per process."""
    return "netns" if _probe_netns() else "guard"


def _probe_netns() -> int | None:
    global _netns_flags
    if _netns_flags is not False:
        return _netns_flags  # type: ignore[return-value]
    _netns_flags = None
    if not sys.platform.startswith("linux"):
        return None
    try:
        _load_libc()
    except OSError:
        return None
    candidates = [CLONE_NEWNET] if os.geteuid() == 0 else []
    candidates.append(CLONE_NEWUSER | CLONE_NEWNET)
    code = ("import socket,sys\ns=socket.socket()\ns.settimeout(1)\n"
            "try:\n s.connect(('1.1.1.1',53)); sys.exit(3)\nexcept OSError as e:\n"
            " sys.exit(0 if e.errno in (101, 99) else 4)\n")
    for flags in candidates:

        def pre(flags=flags):
            if _libc.unshare(flags) != 0:
                os._exit(5)

        try:
            r = subprocess.run([sys.executable, "-I", "-S", "-c", code], preexec_fn=pre, timeout=10,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_child_env("/"))
        except (OSError, subprocess.SubprocessError):
            continue
        if r.returncode == 0:  # 'network unreachable' inside: the namespace has no interfaces up
            _netns_flags = flags
            break
    return _netns_flags  # type: ignore[return-value]


def _child_env(home: str) -> dict:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home,
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, n: int = 4000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def run_code(code: str, tests: list[str], *, setup: str = "", limits: SandboxLimits | None = None) -> SandboxResult:
    """Run `code` then each assert of `tests` in one sandboxed child; passed = every test ran without error.

    `setup` (MBPP's test_setup_code) runs before the code. Never executes anything in this process.
    """
    if not isinstance(code, str):
        raise SandboxError(f"code must be a string, got {type(code).__name__}")
    if not isinstance(tests, (list, tuple)) or not all(isinstance(t, str) for t in tests):
        raise SandboxError("tests must be a list of strings (assert statements)")
    limits = limits or SandboxLimits()
    netns = None if limits.network else _probe_netns()
    isolation = {"network": "host" if limits.network else ("netns" if netns else "guard"),
                 "guard": limits.guard, "uid": os.getuid(),
                 "nproc_enforced": os.getuid() != 0}
    if not code.strip():
        return SandboxResult("error", False, len(tests), 0, [], "no code", isolation=isolation)
    token = "WBRESULT-" + secrets.token_hex(12)
    tmp = Path(tempfile.mkdtemp(prefix="wb-sandbox-"))
    t0 = time.perf_counter()
    try:
        (tmp / "solution.py").write_text(code, encoding="utf-8")
        (tmp / "setup.py").write_text(setup or "", encoding="utf-8")
        (tmp / "tests.json").write_text(json.dumps(list(tests)), encoding="utf-8")
        (tmp / "_runner.py").write_text(_RUNNER, encoding="utf-8")
        env = _child_env(str(tmp)) | {"WB_SANDBOX_TOKEN": token, "WB_SANDBOX_GUARD": "1" if limits.guard else "0",
                                      "WB_SANDBOX_NET": "1" if limits.network else "0"}
        nproc = _user_procs() + limits.max_procs
        with open(tmp / ".stdout", "wb") as out, open(tmp / ".stderr", "wb") as err:
            proc = subprocess.Popen([sys.executable, "-I", "-S", "_runner.py"], cwd=tmp, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, close_fds=True,
                                    start_new_session=True, preexec_fn=_preexec(limits, netns, nproc))
            timed_out = False
            try:
                rc = proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc.pid)
                rc = proc.wait()
            _kill_group(proc.pid)  # anything the code left running
        stdout, stderr = _tail(tmp / ".stdout"), _tail(tmp / ".stderr")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    secs = time.perf_counter() - t0
    res = None
    for line in reversed(stdout.splitlines()):
        if line.startswith(token + " "):
            try:
                res = json.loads(line[len(token) + 1:])
            except json.JSONDecodeError:
                res = None
            break
    shown = "\n".join(ln for ln in stdout.splitlines() if not ln.startswith(token))[-2000:]
    base = dict(returncode=rc, stdout=shown, stderr=stderr[-2000:], seconds=secs, isolation=isolation)
    if timed_out:
        return SandboxResult("timeout", False, len(tests), 0, [], f"wall-clock timeout after {limits.timeout_s:g} s",
                             **base)
    if res is None:
        if rc is not None and rc < 0:
            sig = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
            why = {"SIGXCPU": "CPU time limit", "SIGKILL": "killed (CPU/memory limit)",
                   "SIGXFSZ": "file size limit", "SIGSEGV": "segmentation fault"}.get(sig, sig)
            return SandboxResult("killed", False, len(tests), 0, [], why, **base)
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {rc}"
        return SandboxResult("error", False, len(tests), 0, [], f"no result from the sandbox: {last}"[:500],
                             **base)
    if res.get("error"):
        return SandboxResult("error", False, len(tests), 0, [], res["error"], **base)
    per = res.get("tests", [])
    n_ok = sum(1 for t in per if t.get("ok"))
    ok = n_ok == len(tests)
    first = next((t["error"] for t in per if not t.get("ok")), None)
    return SandboxResult("passed" if ok else "failed", ok, len(tests), n_ok, per, first, **base)
