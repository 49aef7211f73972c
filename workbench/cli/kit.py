"""The CLI's shared kit: its error, exit codes, the store, table/JSON output, progress and argument helpers.

Light by rule: the engine's heavy modules are imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from engine.core.errors import (  # noqa: F401  (the exit codes are re-exported to the area modules)
    EXIT_CANCELLED,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_STORE,
    EXIT_USAGE,
    WorkbenchError,
)
from workbench.paths import resolve_db_path


class CliError(WorkbenchError):
    """A usage or input error found by the CLI itself, printed as `workbench: <message>`."""

    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message, exit_code=code)

    @property
    def code(self) -> int:
        return self.exit_code


def _open_store(args, read_only: bool = False):
    from engine.core.store import Store

    return Store(resolve_db_path(args.db), read_only=read_only)


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


def _print_rows(rows: list[dict], fmt: str, columns: list[str] | None = None) -> None:
    if fmt == "json":
        _dump(rows)
    elif fmt == "jsonl":
        for r in rows:
            sys.stdout.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        cols = columns or (list(rows[0].keys()) if rows else [])
        t = Table(show_lines=False, pad_edge=False)
        for c in cols:
            t.add_column(c, overflow="ellipsis", no_wrap=True, max_width=60)
        for r in rows:
            t.add_row(*["" if r.get(c) is None else str(r.get(c)) for c in cols])
        Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200).print(t)


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


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("filter (all given parts must hold)")
    g.add_argument("--pool", action="append", help="pool name or id (repeatable)")
    g.add_argument("--domain", action="append", help="domain (repeatable)")
    g.add_argument("--tag", action="append", dest="tags", help="has tag (repeatable: any of them)")
    g.add_argument("--text", help="case-insensitive substring in instruction, response or system")
    g.add_argument("--where", help="filter expression, e.g. \"n_tokens > 200 and domain = 'math'\"")
    g.add_argument(
        "--score",
        action="append",
        default=[],
        metavar="METRIC:MIN:MAX",
        help="score range, e.g. ifd::1 (empty bound = open)",
    )
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
