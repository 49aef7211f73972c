"""The app serves its open store to CLI commands (the CLI's side: workbench/cli/remote.py).

DuckDB lets one process open a store file and the app keeps its store open, so a CLI command could not touch the
store while the app runs. `StoreServer` listens on `<store file>.d/app.sock` (mode 0600; a connection from
another user is refused by its credentials) and runs each command it is sent in a thread of the app, through
the CLI's own `run_command`, against the app's store:

- `_open_store` gives the command a `_BorrowedStore`: the app's database through connections of its own and
  the app's write lock; closing it closes those connections only.
- what that thread (and only it) writes to stdout and stderr goes back over the socket as it is written; the
  command sees the client's terminal (whether stdout and stderr are terminals, the width).
- Ctrl-C in the client: a job that takes a CancelToken (`_sigint_cancels`) stops at its next checkpoint; a
  second Ctrl-C, or the first where no token is in use, interrupts the command's DuckDB statements and raises
  KeyboardInterrupt in its thread: what Ctrl-C does to a CLI process of its own. A client that goes away counts
  as a Ctrl-C.
- relative paths are the client's: where its working folder is not the app's, the arguments that name files
  (PATH_ARGS, and MAYBE_PATH_ARGS where such a file exists) are made absolute against it.
- the app's environment is used; the command says on stderr which variables that steer the engine differ.
- one command at a time: the next one waits, and says so.

After each command `on_done(argv, exit code, whether it opened the store for writing)` is called in the
server's thread (the app refreshes its screens).
"""

from __future__ import annotations

import ctypes
import errno
import io
import json
import os
import socket
import stat
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.core.errors import EXIT_CANCELLED, EXIT_USAGE
from engine.core.jobs import CancelToken
from engine.core.store import Store
from workbench.cli import remote

# Arguments that name a file or folder, and those that name one where such a path exists (else a model name,
# a pool). Every other text argument of the CLI is in NOT_PATH_ARGS; tests/test_app_cli_share.py checks that
# each argument of every command is in exactly one of the three, so a new one cannot be forgotten.
PATH_ARGS = frozenset({"path", "dataset_info", "file", "recipe"})
MAYBE_PATH_ARGS = frozenset({"model", "base_model", "embed_model", "embedding_model", "query", "models"})
MAYBE_PATH_LISTS = frozenset({"models"})  # comma separated: each part rebased where that file exists
NOT_PATH_ARGS = frozenset(
    {
        "db",  # the store: the client finds the app by it before sending the command
        *("pool", "domain", "tags", "text", "filter_text", "where", "score", "sort", "format", "map", "name"),
        *("new_name", "tag_name", "domain_name", "dataset_name", "expression", "set_domain", "add_tag"),
        *("metric", "metric_name", "device", "keep", "order_by", "clustering", "from_", "component", "prop"),
        *("budget", "stage", "replay", "dmt", "note", "ref", "order", "lora_targets", "set", "key", "field"),
        *("sets", "run", "runs", "domains", "pairs", "a", "b", "mixture"),
        *("selection", "general", "provenances"),  # workbench study new
        *("target", "run_name", "arms"),  # workbench raise
        "host",  # workbench serve
        *("on", "ray_address"),  # --on ray (score, embed)
        "provenance",  # workbench import --provenance, pool set-provenance
    }
)

_BLOCK = 1 << 16  # stdout to a pipe or file is sent in blocks of this size (a terminal: line by line)


class StoreServer:
    """Serves `store` (open in this process) to CLI commands on its socket until `stop()`."""

    def __init__(self, store: Store, on_done: Callable[[list[str], int, bool], None] | None = None):
        self.store = store
        self.path: Path = store.files_dir / remote.SOCKET_NAME
        self._on_done = on_done
        self._listener: socket.socket | None = None
        self._ident: tuple[int, int] | None = None
        self._stopping = threading.Event()
        self._slot = threading.Lock()  # one command at a time
        self._state = threading.Lock()  # _current and _stopping change together
        self._current: _Session | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen on the store's socket (replacing one that an app which ended without removing it left). OSError
        when it cannot (no unix sockets, a read-only folder, something else at that path)."""
        if not hasattr(socket, "AF_UNIX"):
            raise OSError(errno.EAFNOSUPPORT, "no unix sockets on this system")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            pass
        else:
            if not stat.S_ISSOCK(st.st_mode):
                raise OSError(errno.EEXIST, "exists and is not a socket", str(self.path))
            # Left by an app that ended without removing it: this process holds the store's lock, so no other
            # app can be serving this store.
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with remote.socket_address(self.path) as address:
                sock.bind(address)
            os.chmod(self.path, 0o600)
            sock.listen(8)
            st = os.lstat(self.path)
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.25)
        self._ident = (st.st_dev, st.st_ino)
        self._listener = sock
        threading.Thread(target=self._accept_loop, name="workbench-share", daemon=True).start()

    def stop(self) -> None:
        """Take no more commands, remove the socket and cancel the running command (as a first Ctrl-C would);
        `running` says when it has ended. Does not wait."""
        with self._state:
            self._stopping.set()
            session = self._current
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
            try:
                st = os.lstat(self.path)
                if (st.st_dev, st.st_ino) == self._ident:  # ours, not a newer app's
                    os.unlink(self.path)
            except OSError:
                pass
        if session is not None:
            self.reroute()
            session.cancel()

    def reroute(self) -> None:
        """Route stdout and stderr again if something replaced the routers while a command runs: Textual puts back
        the streams it found when its message loop ends, which can be before the app stops serving."""
        _reroute()

    def interrupt(self) -> None:
        """Stop the running command at once (as a second Ctrl-C would)."""
        session = self._current
        if session is not None:
            session.cancel()
            session.cancel()

    @property
    def running(self) -> bool:
        """Whether a command is running."""
        return self._slot.locked()

    # -- connections -----------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._serve, args=(conn,), name="workbench-share-command", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if not remote.same_user(conn):
                raise PermissionError("another user")
            conn.settimeout(30)
            remote.send_json(
                conn,
                remote.HELLO,
                {"app": "workbench", "protocol": remote.PROTOCOL, "pid": os.getpid(), "store": str(self.store.path)},
            )
            kind, payload = remote.recv_frame(conn)
            if kind != remote.REQUEST:
                raise ValueError("no request")
            request = json.loads(payload)
            argv = [str(a) for a in request.get("argv") or []]
            conn.settimeout(None)
        except (OSError, ValueError, TypeError, AttributeError):  # refused, gone, or not a Workbench CLI
            _close(conn)
            return
        session = _Session(self.store, conn, request)
        threading.Thread(target=session.read_cancels, name="workbench-share-cancel", daemon=True).start()
        try:
            if not self._take_slot(session):
                code = EXIT_CANCELLED
                session.note("the app is closing" if self._stopping.is_set() else "cancelled")
            else:
                try:
                    code = session.run(argv)
                finally:
                    with self._state:
                        self._current = None
                    self._slot.release()
            try:
                remote.send_json(conn, remote.EXIT, {"code": code})
            except OSError:
                pass
        finally:
            _close(conn)  # also wakes the cancel reader
        if self._on_done is not None and session.started:
            self._on_done(argv, code, session.wrote)

    def _take_slot(self, session: _Session) -> bool:
        """Wait for the command before this one and make `session` the current one; False when the client gave
        up or the app is closing."""
        if not self._slot.acquire(blocking=False):
            session.note("the app is running another command; waiting for it to end (Ctrl-C gives up)")
            while not self._slot.acquire(timeout=0.1):
                if self._stopping.is_set() or session.token.cancelled:
                    return False
        with self._state:
            if not self._stopping.is_set():
                self._current = session
                return True
        self._slot.release()
        return False


def _close(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


# ---------------------------------------------------------------------------------------------
# one command


class _Session:
    """One command run for a client: what kit's `_open_store` and `_sigint_cancels` ask of `remote.served()`,
    its output streams, and Ctrl-C."""

    def __init__(self, store: Store, sock: socket.socket, request: dict):
        self.owner = store
        self.sock = sock
        self.cwd = request.get("cwd") if isinstance(request.get("cwd"), str) else None
        env = request.get("env")
        self.env = {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {}
        tty = request.get("tty") if isinstance(request.get("tty"), dict) else {}
        out_tty, err_tty = bool(tty.get("stdout")), bool(tty.get("stderr"))
        columns = request.get("columns")
        self.columns = columns if out_tty and isinstance(columns, int) and columns > 0 else None
        self.stdout = _Stream(self, remote.OUT, out_tty, line_buffered=out_tty)
        self.stderr = _Stream(self, remote.ERR, err_tty, line_buffered=True)
        self.token = CancelToken()
        self.wrote = False  # opened the store for writing
        self.started = False
        self.gone = False  # the client closed the connection
        self._send_lock = threading.Lock()
        self._state = threading.Lock()
        self._running = False
        self._thread_id: int | None = None
        self._presses = 0
        self._token_scopes = 0
        self._connections: list[Any] = []
        self._stores: list[_BorrowedStore] = []

    # -- what the CLI's kit asks ------------------------------------------------------------------------------
    def open_store(self, read_only: bool) -> _BorrowedStore:
        """The app's store for the command (`_open_store`)."""
        store = _BorrowedStore(self.owner, self)
        self.wrote = self.wrote or not read_only
        self._stores.append(store)
        return store

    @contextmanager
    def cancel_scope(self) -> Iterator[CancelToken]:
        """The CancelToken that the client's first Ctrl-C sets while the command is inside (`_sigint_cancels`)."""
        with self._state:
            self._token_scopes += 1
        try:
            yield self.token
        finally:
            with self._state:
                self._token_scopes -= 1

    def track(self, con) -> None:
        with self._state:
            self._connections.append(con)

    # -- running ----------------------------------------------------------------------------------------------
    def run(self, argv: list[str]) -> int:
        """Run the command in this thread; its exit code."""
        self.started = True
        code = EXIT_CANCELLED
        try:
            with remote.serving(self), _routed_streams():
                with self._state:
                    self._running = True
                    self._thread_id = threading.get_ident()
                try:
                    code = self._command(argv)
                except KeyboardInterrupt:  # a Ctrl-C that came as the command ended
                    code = EXIT_CANCELLED
                finally:
                    with self._state:
                        self._running = False
                        _async_raise(self._thread_id, None)  # drop a KeyboardInterrupt not yet raised
                    self._flush()
        except KeyboardInterrupt:
            code = EXIT_CANCELLED
        for store in self._stores:  # connections a command left open
            try:
                store.close()
            except Exception:  # noqa: BLE001 - already closed, or closed under it
                pass
        return code

    def _command(self, argv: list[str]) -> int:
        from workbench import cli

        try:
            args = cli.build_parser().parse_args(argv)
        except SystemExit as e:  # argparse printed why
            return _exit_code(e)
        if getattr(args, "cmd", None) is None:
            print("workbench: the app runs CLI commands, not a second app", file=sys.stderr)
            return EXIT_USAGE
        if self.cwd is not None:
            rebase_paths(args, self.cwd)
        mine = remote.steering_env(os.environ)
        differ = sorted(k for k in set(mine) | set(self.env) if mine.get(k) != self.env.get(k))
        if differ:
            print(
                f"workbench: note: the command runs with the app's environment, where {', '.join(differ)} "
                "differ from yours",
                file=sys.stderr,
            )
        try:
            return cli.run_command(args, argv)
        except SystemExit as e:
            return _exit_code(e)
        except Exception:  # what an uncaught error prints in a CLI process of its own
            traceback.print_exc(file=sys.stderr)
            return 1

    def _flush(self) -> None:
        for stream in (self.stdout, self.stderr):
            try:
                stream.flush()
            except OSError:
                pass

    # -- talking to the client --------------------------------------------------------------------------------
    def send(self, kind: bytes, data: bytes) -> None:
        """A frame to the client; BrokenPipeError once it has gone (as a closed pipe gives a CLI process)."""
        with self._send_lock:
            if self.gone:
                raise BrokenPipeError(errno.EPIPE, "the CLI that ran this command went away")
            try:
                remote.send_frame(self.sock, kind, data)
            except OSError as e:
                self.gone = True
                raise BrokenPipeError(errno.EPIPE, "the CLI that ran this command went away") from e

    def note(self, text: str) -> None:
        """`workbench: text` on the client's stderr, from outside the command."""
        try:
            self.send(remote.ERR, f"workbench: {text}\n".encode())
        except OSError:
            pass

    def read_cancels(self) -> None:
        """Until the connection closes: each cancel frame is a Ctrl-C; a client that goes away is one too."""
        while True:
            try:
                kind, _ = remote.recv_frame(self.sock)
            except OSError:
                kind = None
            if kind is None:
                self.gone = True
                self.cancel()
                return
            if kind == remote.CANCEL:
                self.cancel()

    def cancel(self) -> None:
        """A Ctrl-C: the first sets the CancelToken if the command is in a job that takes it; otherwise, and for
        the second, interrupt the command at once."""
        with self._state:
            self._presses += 1
            if not self._running:
                self.token.cancel()  # still waiting for its turn, or done
                return
            gentle = self._token_scopes > 0 and not self.token.cancelled
            if gentle:
                self.token.cancel()
            else:
                self._interrupt()
        if gentle and self.stderr.isatty():
            self.note("stopping at the next checkpoint (Ctrl-C again to stop at once)")

    def _interrupt(self) -> None:
        """Interrupt the command's DuckDB statements and raise KeyboardInterrupt in its thread (under _state)."""
        self.token.cancel()
        for con in self._connections:
            try:
                con.interrupt()
            except Exception:  # noqa: BLE001 - closed already
                pass
        _async_raise(self._thread_id, KeyboardInterrupt)


def _async_raise(thread_id: int | None, exc: type[BaseException] | None) -> None:
    """Raise `exc` in the thread `thread_id` at its next Python instruction (None: drop a pending one)."""
    if thread_id is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


def rebase_paths(args, cwd: str) -> None:
    """Make the file arguments of `args` absolute against the client's working folder `cwd`, where it is not
    the app's (PATH_ARGS always, MAYBE_PATH_ARGS where that file exists; `-` and ~ paths stay as they are)."""
    try:
        if os.path.samefile(cwd, os.getcwd()):
            return
    except OSError:
        pass
    for name in PATH_ARGS | MAYBE_PATH_ARGS:
        value = getattr(args, name, None)
        if name in MAYBE_PATH_LISTS and isinstance(value, str):
            setattr(args, name, ",".join(_rebased_part(p.strip(), cwd) for p in value.split(",")))
            continue
        if not isinstance(value, str) or not value or value == "-" or value.startswith("~") or os.path.isabs(value):
            continue
        full = os.path.join(cwd, value)
        if name in PATH_ARGS or os.path.exists(full):
            setattr(args, name, full)


def _rebased_part(value: str, cwd: str) -> str:
    if not value or value.startswith("~") or os.path.isabs(value):
        return value
    full = os.path.join(cwd, value)
    return full if os.path.exists(full) else value


class _BorrowedStore(Store):
    """The app's store as a command sees it: the same database through a connection of its own (and cursors of
    that), the app's write lock and files folder. Closing it closes its connections, never the app's."""

    def __init__(self, owner: Store, session: _Session):  # Store.__init__ would open the file a second time
        self.path = owner.path
        self.con = owner.cursor()
        self._lock = owner.write_lock
        self._files_dir = owner.files_dir
        self._session = session
        session.track(self.con)

    def cursor(self):
        con = self.con.cursor()
        self._session.track(con)
        return con

    def close(self) -> None:
        self.con.close()  # its cursors with it


# ---------------------------------------------------------------------------------------------
# stdout and stderr


class _Stream(io.TextIOBase):
    """A command's stdout or stderr: UTF-8 text (and `.buffer` for bytes) sent to the client."""

    def __init__(self, session: _Session, kind: bytes, tty: bool, *, line_buffered: bool):
        super().__init__()
        self._session = session
        self._kind = kind
        self._tty = tty
        self._line = line_buffered
        self._buf = bytearray()
        self.buffer = _BinaryStream(self)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._tty

    def fileno(self) -> int:
        raise io.UnsupportedOperation("the client's stream has no file descriptor here")

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        self._buf += s.encode("utf-8", "backslashreplace")
        if len(self._buf) >= _BLOCK or (self._line and "\n" in s):
            self.flush()
        return len(s)

    def write_bytes(self, b: bytes) -> int:
        self.flush()
        if b:
            self._session.send(self._kind, bytes(b))
        return len(b)

    def flush(self) -> None:
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self._session.send(self._kind, data)

    def close(self) -> None:  # the client's stream stays open for the rest of the command
        try:
            self.flush()
        except OSError:
            pass


class _BinaryStream:
    """`.buffer` of a `_Stream`: bytes, e.g. `export -` copying a file to stdout."""

    def __init__(self, text: _Stream):
        self._text = text

    def write(self, b) -> int:
        return self._text.write_bytes(bytes(b))

    def flush(self) -> None:
        self._text.flush()

    def isatty(self) -> bool:
        return self._text.isatty()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._text.fileno()


class _Router:
    """sys.stdout or sys.stderr while commands run: a served command's thread writes to its client, every other
    thread to the stream that was there."""

    def __init__(self, name: str, original):
        self._name = name
        self.original = original

    def _target(self):
        session = remote.served()
        return getattr(session, self._name) if session is not None else self.original

    def write(self, s):
        return self._target().write(s)

    def flush(self):
        return self._target().flush()

    def isatty(self):
        return self._target().isatty()

    def fileno(self):
        return self._target().fileno()

    @property
    def buffer(self):
        return self._target().buffer

    def __getattr__(self, name: str):
        return getattr(self._target(), name)


_routing = threading.Lock()
_routing_users = 0


@contextmanager
def _routed_streams() -> Iterator[None]:
    """sys.stdout and sys.stderr are `_Router`s while any served command runs."""
    global _routing_users
    with _routing:
        _routing_users += 1
        _route()
    try:
        yield
    finally:
        with _routing:
            _routing_users -= 1
            if _routing_users == 0:
                for name in ("stdout", "stderr"):
                    current = getattr(sys, name)
                    if isinstance(current, _Router):  # unless someone replaced it since
                        setattr(sys, name, current.original)


def _route() -> None:
    """sys.stdout and sys.stderr become `_Router`s over what they are now (unless they are already; under _routing)."""
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if not isinstance(current, _Router):
            setattr(sys, name, _Router(name, current))


def _reroute() -> None:
    """Route sys.stdout and sys.stderr again while commands run, where something replaced the routers."""
    with _routing:
        if _routing_users > 0:
            _route()
