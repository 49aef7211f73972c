"""The CLI's shared kit: its error, exit codes, the store, table/JSON output, progress, Ctrl-C and argument helpers.

Light by rule: the engine's heavy modules are imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from engine.core.errors import (  # noqa: F401  (the exit codes are re-exported to the area modules)
    EXIT_CANCELLED,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_STORE,
    EXIT_USAGE,
    StoreError,
    WorkbenchError,
)
from workbench.cli import remote
from workbench.paths import resolve_db_path

# The reader of stdout went away (`workbench query | head -1`): the status a Unix tool killed by SIGPIPE has.
EXIT_PIPE = 128 + 13


class CliError(WorkbenchError):
    """A usage or input error found by the CLI itself, printed as `workbench: <message>`."""

    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message, exit_code=code)

    @property
    def code(self) -> int:
        return self.exit_code


# OS errors about the path a person gave (exit 1); every other OSError (no permission, read-only file system, disk
# full, quota, I/O error ...) is about where things are written: exit 3, as a store error.
_PATH_ERRNOS = {errno.ENOENT, errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP}


def os_error(e: OSError) -> tuple[str, int]:
    """(one line naming the path and the cause, exit code) for an OSError that reached the CLI's error root."""
    cause = e.strerror or str(e) or type(e).__name__
    if e.filename is not None and e.filename2 is not None:
        line = f"{e.filename} -> {e.filename2}: {cause}"
    elif e.filename is not None:
        line = f"{e.filename}: {cause}"
    else:
        line = cause
    return " ".join(line.split()), (EXIT_INPUT if e.errno in _PATH_ERRNOS else EXIT_STORE)


def duckdb_io_error(e: BaseException) -> str | None:
    """The first line of a DuckDB I/O error (a file it cannot read or write: disk full, read-only, ...), else None."""
    duckdb = sys.modules.get("duckdb")
    if duckdb is None or not isinstance(e, duckdb.IOException):
        return None
    return (str(e).strip().splitlines() or ["DuckDB I/O error"])[0]


def _open_store(args, read_only: bool = False):
    """The store at --db / $WORKBENCH_DB; a path where no store can be made is a StoreError (exit 3).

    read_only: for commands that only read. They never create a store: where none exists yet, an empty one in
    memory stands in (a note on stderr says so). An existing store is opened read-only, unless it needs a
    migration first. Inside the app (a command it runs for the CLI, workbench.cli.remote): the app's store."""
    served = remote.served()
    if served is not None:
        return served.open_store(read_only)
    from engine.core.store import SCHEMA_VERSION, Store

    if getattr(args, "db", None) == "":
        raise CliError("--db: empty path", EXIT_USAGE)
    path = resolve_db_path(args.db)
    if not path.exists():
        _check_store_path(path)
    elif path.is_file():
        _check_store_file(path)
    if read_only and not path.exists():
        if not getattr(args, "quiet", False):
            print(f"workbench: no store at {path} yet (nothing imported); reading an empty one", file=sys.stderr)
        return Store(":memory:")
    try:
        store = Store(path, read_only=read_only)
    except StoreError as e:  # locked by the app: it runs the command (StoreInApp); by another process: which
        remote.raise_if_locked(path, e)
        raise
    except OSError as e:  # its folder cannot be made: a file in the way, no permission
        raise StoreError(f"cannot open store {path}: {e.strerror or e}") from e
    if read_only and store.version() < SCHEMA_VERSION:
        store.close()
        store = _open_store(args)
    return store


def _check_store_file(path) -> None:
    """StoreError unless the existing file `path` is a DuckDB database (engine.core.store.check_store_file),
    with the CLI's hint."""
    from engine.core.store import check_store_file

    try:
        check_store_file(path)
    except StoreError as e:
        raise StoreError(f"{e}; --db names the store file") from None


def _check_store_path(path) -> None:
    """StoreError unless a store could be created at `path` (its nearest existing folder is a writable folder)."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise StoreError(f"cannot open store {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot open store {path}: no permission to create it in {parent}")


@contextmanager
def _sigint_cancels() -> Iterator:
    """A CancelToken that Ctrl-C sets, for an engine job that takes `cancel=`: the job stops at its next
    checkpoint (engine Cancelled, exit 130) with the store untouched. Ctrl-C must not interrupt a DuckDB
    statement midway (an interrupted COMMIT can land yet report failure); a second Ctrl-C still does.
    Inside the app: the token that the client's Ctrl-C sets."""
    served = remote.served()
    if served is not None:
        with served.cancel_scope() as token:
            yield token
        return
    from engine.core.jobs import CancelToken

    token = CancelToken()

    def on_sigint(signum, frame) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        if sys.stderr.isatty():
            sys.stderr.write("\nworkbench: stopping at the next checkpoint (Ctrl-C again to stop at once)\n")

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, old)


class _StderrProgress:
    """Progress on stderr: a rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self, label: str, quiet: bool = False):
        self.label = label
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._printed = False

    def __call__(self, p) -> None:
        if self.quiet:
            return
        import time

        now = time.monotonic()
        if self.tty:
            sys.stderr.write(f"\r{self.label}: {p.line()}\x1b[K")
            sys.stderr.flush()
            self._printed = True
        elif now - self._last >= 2.0:
            self._last = now
            sys.stderr.write(f"{self.label}: {p.line()}\n")

    def close(self) -> None:
        if self._printed:
            sys.stderr.write("\n")
            sys.stderr.flush()


@contextmanager
def _cli_errors(*errors: type[BaseException]) -> Iterator[None]:
    """Re-raise any of `errors` as a CliError with the same message."""
    try:
        yield
    except errors as e:
        raise CliError(str(e)) from e


@contextmanager
def _progress(label: str, quiet: bool, *errors: type[BaseException]) -> Iterator[_StderrProgress]:
    """A `_StderrProgress` closed on the way out; any of `errors` raised inside becomes a CliError."""
    prog = _StderrProgress(label, quiet=quiet)
    try:
        with _cli_errors(*errors):
            yield prog
    finally:
        prog.close()


# ---------------------------------------------------------------------------------------------
# output


def _dump(obj) -> None:
    """`obj` as indented JSON on stdout."""
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def _dump_list(rows: Iterable[dict]) -> None:
    """Rows as one indented JSON array on stdout, written as they come (what `_dump(list(rows))` prints)."""
    n = 0
    for r in rows:
        # nested lines indented by hand: str.splitlines-based helpers would also split inside U+2028 in values
        item = json.dumps(r, ensure_ascii=False, indent=2, default=str).replace("\n", "\n  ")
        sys.stdout.write(("[\n  " if n == 0 else ",\n  ") + item)
        n += 1
    sys.stdout.write("\n]\n" if n else "[]\n")


def _print_rows(rows: Iterable[dict], fmt: str, columns: list[str] | None = None) -> None:
    """Rows as a table, a JSON array or JSON Lines on stdout (JSON and JSON Lines stream an iterator)."""
    if fmt == "json":
        _dump_list(rows)
    elif fmt == "jsonl":
        for r in rows:
            sys.stdout.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        rows = list(rows)
        cols = columns or (list(rows[0].keys()) if rows else [])
        t = Table(show_lines=False, pad_edge=False)
        for c in cols:
            t.add_column(c, overflow="ellipsis", no_wrap=True, max_width=60)
        for r in rows:
            t.add_row(*["" if r.get(c) is None else str(r.get(c)) for c in cols])
        Console(soft_wrap=False, width=remote.terminal_columns() if sys.stdout.isatty() else 200).print(t)


# ---------------------------------------------------------------------------------------------
# arguments


def _fmt(p) -> None:
    """--format table|json (default table)."""
    p.add_argument("--format", choices=["table", "json"], default="table")


def _add_embed_args(p: argparse.ArgumentParser, model_help: str, text_help: str) -> None:
    """--embed-model and --embed-text: which sentence embeddings a command reads."""
    p.add_argument("--embed-model", default=None, help=model_help)
    p.add_argument(
        "--embed-text",
        choices=["instruction", "instruction_response", "conversation"],
        default="instruction_response",
        help=text_help,
    )


def _sets(s: str) -> list[str]:
    """The non-empty items of a comma-separated list."""
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def _with_common_args(subparsers) -> None:
    """Every parser added to `subparsers` also takes --db and -q after its action (`workbench mix list --db x`)."""
    orig = subparsers.add_parser

    def add_parser(name, **kw):
        x = orig(name, **kw)
        x.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        x.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return x

    subparsers.add_parser = add_parser  # type: ignore[method-assign]


def add_filter_options(g, *, text_flag: str = "--text", text_dest: str = "text") -> None:
    """The filter options of `query` (--pool, --domain, --tag, the text search, --where, --score) on group `g`;
    `text_flag` / `text_dest` for a command whose --text means something else (embed, cluster)."""
    g.add_argument("--pool", action="append", help="pool name or id (repeatable)")
    g.add_argument("--domain", action="append", help="domain (repeatable)")
    g.add_argument("--tag", action="append", dest="tags", help="has tag (repeatable: any of them)")
    g.add_argument(text_flag, dest=text_dest, help="case-insensitive substring in instruction, response or system")
    g.add_argument("--where", help="filter expression, e.g. \"n_tokens > 200 and domain = 'math'\"")
    g.add_argument(
        "--score",
        action="append",
        default=[],
        metavar="METRIC:MIN:MAX",
        help="score range, e.g. ifd::1 (empty bound = open)",
    )


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filter (all given parts must hold)")
    add_filter_options(g)
    g.add_argument("--no-excluded", action="store_true", help="leave out excluded samples")


def _pool_ids_from_args(store, refs) -> list[int] | None:
    """Pool ids of --pool names/ids (None when none given); an unknown pool is a CliError."""
    from engine.data.pools import get_pool

    if not refs:
        return None
    out = []
    for ref in refs:
        try:
            out.append(get_pool(store, ref).id)
        except KeyError as e:
            raise CliError(str(e.args[0] if e.args else e)) from e
    return out


def _filter_from_args(store, args):
    """The engine Filter of the filter arguments (see _add_filter_args)."""
    from engine.data.query import Filter

    for opt, value in (("--where", args.where), ("--text", args.text)):
        if value is not None and not value.strip():  # an empty "$VAR": matching every sample is not what was meant
            raise CliError(f"{opt}: empty; leave {opt} out to match every sample", EXIT_USAGE)
    pool_ids = _pool_ids_from_args(store, getattr(args, "pool", None))
    ranges: dict[str, tuple[float | None, float | None]] = {}
    for spec in getattr(args, "score", []) or []:
        parts = spec.split(":")
        if len(parts) != 3:
            raise CliError(f"--score {spec!r}: expected METRIC:MIN:MAX", EXIT_USAGE)
        try:
            lo = float(parts[1]) if parts[1] else None
            hi = float(parts[2]) if parts[2] else None
        except ValueError as e:
            raise CliError(f"--score {spec!r}: bounds must be numbers", EXIT_USAGE) from e
        ranges[parts[0]] = (lo, hi)
    return Filter(
        pool_ids=pool_ids,
        domains=args.domain or None,
        tags=args.tags or None,
        text=args.text or None,
        score_ranges=ranges,
        expression=args.where or None,
        include_excluded=not args.no_excluded,
    )
