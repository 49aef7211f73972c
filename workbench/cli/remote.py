"""The CLI while the app is open: a command that finds the store locked by the app runs in the app.

DuckDB lets one process at a time open a store file (every other one gets "Conflicting lock"), and the app keeps
its store open. So the app serves it (workbench/share.py): it listens on a unix socket in the store's own folder,
`<store file>.d/app.sock` (mode 0600; connections from other users are refused). A command whose `_open_store`
meets the lock connects there, sends its argv, working folder, terminal and the environment variables that steer
the engine, and the app runs the same command in-process against its open store, streaming stdout and stderr
back as they come; the command's exit code is the CLI's. Ctrl-C sends a cancel (a second one stops at once, a
third stops waiting). With no app answering, the lock error names the process that holds the store.

This module is the CLI's side (the wire format, finding the app, forwarding and following a command) and
`served()`: the client a command runs for inside the app, which kit's `_open_store` and `_sigint_cancels` ask.
Light by rule: the standard library and engine.core only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import struct
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from engine.core.errors import EXIT_STORE, EXIT_USAGE, StoreError, WorkbenchError
from engine.core.paths import files_dir_for

SOCKET_NAME = "app.sock"
PROTOCOL = 1

# Frames: one byte of kind, four of length, the payload.
HELLO = b"H"  # app -> CLI on connect: {"app": "workbench", "protocol", "pid", "store"}
REQUEST = b"R"  # CLI -> app: {"argv", "cwd", "env", "tty": {"stdout", "stderr"}, "columns"}
OUT = b"O"  # app -> CLI: bytes of the command's stdout
ERR = b"E"  # app -> CLI: bytes of its stderr
EXIT = b"X"  # app -> CLI: {"code"}, the last frame
CANCEL = b"C"  # CLI -> app: Ctrl-C
_HEAD = struct.Struct("!cI")
MAX_FRAME = 1 << 20

# Environment variables that steer what a command does (model cache, data folder, devices). The app runs the
# command with its own environment; the command says on stderr which of these differ from the caller's.
_ENV_PREFIXES = ("WORKBENCH_", "HF_", "TRANSFORMERS_", "TORCH_", "CUDA_", "XDG_DATA_HOME", "XDG_CACHE_HOME")
_ENV_IGNORED = {"WORKBENCH_DB"}  # the store is the app's, whatever named it


def socket_path(db_path: str | os.PathLike) -> Path:
    """Where the app that has the store `db_path` open listens: `<file>.d/app.sock`."""
    return files_dir_for(db_path) / SOCKET_NAME


def steering_env(environ: dict[str, str] | os._Environ) -> dict[str, str]:
    """The environment variables of `environ` that change what a command does (see _ENV_PREFIXES)."""
    return {k: v for k, v in environ.items() if k.startswith(_ENV_PREFIXES) and k not in _ENV_IGNORED}


# ---------------------------------------------------------------------------------------------
# the wire


def send_frame(sock: socket.socket, kind: bytes, payload: bytes = b"") -> None:
    """One frame (a long payload in several of at most MAX_FRAME bytes)."""
    view = memoryview(payload)
    for i in range(0, max(len(view), 1), MAX_FRAME):
        part = view[i : i + MAX_FRAME]
        sock.sendall(_HEAD.pack(kind, len(part)) + bytes(part))


def send_json(sock: socket.socket, kind: bytes, obj: Any) -> None:
    send_frame(sock, kind, json.dumps(obj).encode("utf-8"))


def recv_frame(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """(kind, payload) of the next frame; (None, b"") when the other side closed the connection."""
    head = _recv_exact(sock, _HEAD.size)
    if head is None:
        return None, b""
    kind, n = _HEAD.unpack(head)
    payload = _recv_exact(sock, n) if n else b""
    if payload is None:
        return None, b""
    return kind, payload


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 16))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


@contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for the socket file `path`: the path itself, or where it is too long for a unix socket
    (about 108 bytes), the same file reached through an open descriptor of its folder (/proc/self/fd/N/name)."""
    if len(os.fsencode(path)) < 100 or not os.path.isdir("/proc/self/fd"):
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# the CLI's side


class StoreInApp(StoreError):
    """The store is open in a Workbench app that answers on its socket: the command runs there (main catches
    this and calls `run_in_app`)."""

    def __init__(self, path: Path, sock: socket.socket, hello: dict):
        self.pid = int(hello.get("pid") or 0)
        super().__init__(f"cannot open store {path}: it is open in the Workbench app (pid {self.pid})")
        self.sock = sock


def connect_app(db_path: str | os.PathLike, timeout: float = 5.0) -> tuple[socket.socket, dict] | None:
    """(connection, hello) of the app serving the store `db_path`; None when no socket is there or nothing
    answers on it (an app that crashed left it behind)."""
    path = socket_path(db_path)
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return None
    except OSError:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with socket_address(path) as address:
            sock.connect(address)
        if not same_user(sock):  # a socket another user put there: not our app
            sock.close()
            return None
        kind, payload = recv_frame(sock)
        hello = json.loads(payload) if kind == HELLO else {}
        if hello.get("app") != "workbench" or hello.get("protocol") != PROTOCOL:
            sock.close()
            return None
        sock.settimeout(None)
        return sock, hello
    except (OSError, ValueError):
        sock.close()
        return None


def same_user(sock: socket.socket) -> bool:
    """Whether the process at the other end of the unix socket `sock` runs as this process's user (Linux: its
    credentials; elsewhere the socket file's mode 0600 alone keeps other users out)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    creds = struct.Struct("3i")
    _pid, uid, _gid = creds.unpack(sock.getsockopt(socket.SOL_SOCKET, option, creds.size))
    return uid == os.getuid()


_LOCK = re.compile(r"Conflicting lock")
_LOCK_PID = re.compile(r"\(PID (\d+)\)")
_LOCK_PROGRAM = re.compile(r"held in (.+?) \(PID")


def raise_if_locked(db_path: Path, error: StoreError) -> None:
    """When `error` (opening the store `db_path`) is DuckDB's lock: StoreInApp if the app answers on the store's
    socket, else a StoreError naming the process that holds the store. Anything else: nothing (the caller
    re-raises `error`)."""
    text = str(error)
    if not _LOCK.search(text):
        return
    found = connect_app(db_path)
    if found is not None:
        raise StoreInApp(db_path, *found) from error
    pid = _LOCK_PID.search(text)
    who = _process(int(pid.group(1))) if pid else None
    if who is None:
        program = _LOCK_PROGRAM.search(text)
        who = program.group(1) if program else None
    raise StoreError(
        f"cannot open store {db_path}: it is open in another process" + (f" ({who})" if who else ""),
        hint="wait for that process to end, or stop it, and run the command again",
    ) from error


def _process(pid: int) -> str:
    """'pid N: its command line' (shortened), or 'pid N' where the command line cannot be read."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            parts = [p.decode("utf-8", "replace") for p in f.read().split(b"\0") if p]
    except OSError:
        parts = []
    if not parts:
        return f"pid {pid}"
    line = " ".join([os.path.basename(parts[0]), *parts[1:]])
    return f"pid {pid}: {line if len(line) <= 100 else line[:99] + '…'}"


def _reads_stdin(args) -> bool:
    """Whether the command reads standard input (`import -`): the CLI has already read it, the app cannot."""
    return getattr(args, "cmd", None) == "import" and getattr(args, "path", None) == "-"


def run_in_app(e: StoreInApp, args, argv: list[str]) -> int:
    """Run the command `argv` (parsed: `args`) in the app that `e` found: its output is printed as it comes,
    its exit code returned."""
    sock = e.sock
    try:
        if _reads_stdin(args):
            raise WorkbenchError(
                f"the store is open in the app (pid {e.pid}), which cannot read this command's standard input: "
                "save it to a file and import that, or close the app",
                exit_code=EXIT_USAGE,
            )
        if not getattr(args, "quiet", False):
            print(f"workbench: the store is open in the app (pid {e.pid}); running this command there", file=sys.stderr)
            sys.stderr.flush()
        try:
            cwd: str | None = os.getcwd()
        except OSError:  # a removed folder
            cwd = None
        request = {
            "argv": list(argv),
            "cwd": cwd,
            "env": steering_env(os.environ),
            "tty": {"stdout": _isatty(sys.stdout), "stderr": _isatty(sys.stderr)},
            "columns": _columns(),
        }
        send_json(sock, REQUEST, request)
        return _follow(sock)
    finally:
        sock.close()


def _follow(sock: socket.socket) -> int:
    """Print the command's output as it comes and return its exit code. Ctrl-C asks the app to cancel (the
    first stops a job at its next checkpoint, the second at once); a third stops waiting."""
    presses = 0

    def on_sigint(signum, frame) -> None:
        nonlocal presses
        presses += 1
        if presses > 2:
            print("\nworkbench: stopped waiting; the command may still be running in the app", file=sys.stderr)
            raise KeyboardInterrupt
        try:
            send_frame(sock, CANCEL)
        except OSError:
            pass

    main_thread = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
    try:
        while True:
            kind, payload = recv_frame(sock)
            if kind is None:
                raise WorkbenchError(
                    "the app closed before the command finished (it was cancelled or the app quit); "
                    "run it again to see what it did",
                    exit_code=EXIT_STORE,
                )
            if kind == OUT:
                _write(sys.stdout, payload)
            elif kind == ERR:
                _write(sys.stderr, payload)
            elif kind == EXIT:
                return int(json.loads(payload)["code"])
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, old)


def _write(stream, payload: bytes) -> None:
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream (a test's capture)
        stream.write(payload.decode("utf-8", "replace"))
    else:
        stream.flush()
        buffer.write(payload)
        buffer.flush()
    stream.flush()


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _columns() -> int | None:
    for stream in (sys.stdout, sys.stderr):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            continue
    return None


# ---------------------------------------------------------------------------------------------
# inside the app


_SERVED: ContextVar[Any] = ContextVar("workbench_served", default=None)


def served() -> Any:
    """The client this command runs for inside the app (workbench.share), or None in a CLI process of its own:
    its `open_store(read_only)` gives the app's store, `cancel_scope()` the CancelToken that its Ctrl-C sets."""
    return _SERVED.get()


@contextmanager
def serving(session: Any) -> Iterator[None]:
    """Run the code inside for `session` (see `served`)."""
    token = _SERVED.set(session)
    try:
        yield
    finally:
        _SERVED.reset(token)


def terminal_columns() -> int | None:
    """The width of the client's terminal when a command runs in the app for it; None otherwise (a command in
    its own process finds its terminal itself)."""
    session = served()
    return getattr(session, "columns", None) if session is not None else None
