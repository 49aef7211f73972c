"""The `workbench` command: opens the app, and the headless twins of every screen action.

Exit codes: 0 success, 1 bad input (file, filter, unknown pool…), 2 usage error, 3 store or disk error (locked,
no permission, read-only file system, disk full: the message names the path and the cause), 130 cancelled (Ctrl-C), 141 the reader of stdout went away (`| head`; nothing printed, as other Unix tools).

While the app has the store open, a command that needs the store runs in the app (`remote`: the app serves
its store on a socket; workbench/share.py is the app's side) and prints what it would have printed here.

One module per area (data, quality, geometry, mix, train, eval, interp), each adding its subcommands with
`register(sub)`; `kit` holds what they share. Every module stays light: heavy imports live in the commands.
"""

from __future__ import annotations

import argparse
import os
import sys

from workbench import __version__
from workbench.cli import data, geometry, interp, mix, quality, raise_cmd, remote, serve, study, target, train
from workbench.cli import eval as evaluation
from workbench.cli.data import load_sample
from workbench.cli.kit import (
    EXIT_CANCELLED,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_STORE,
    EXIT_USAGE,
    CliError,
    WorkbenchError,
    _open_store,
    duckdb_io_error,
    os_error,
)

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_STORE",
    "EXIT_USAGE",
    "CLI_AREAS",
    "CliError",
    "_open_store",
    "build_parser",
    "load_sample",
    "main",
    "run_command",
]

# The areas, in the order their commands are listed.
CLI_AREAS = [data, quality, geometry, mix, train, evaluation, interp, target, raise_cmd, study, serve]


def build_parser() -> argparse.ArgumentParser:
    """The `workbench` argument parser, with every area's subcommands."""
    p = argparse.ArgumentParser(
        prog="workbench",
        description="Keyboard-first workbench for instruction data. Without a command it opens the app.",
    )
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    p.add_argument("--db", help="DuckDB store file (default: $WORKBENCH_DB or ~/.local/share/workbench/)")
    p.add_argument("--sample", action="store_true", help="load the bundled sample pools before opening")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    # --db and -q are accepted after the command too (`workbench import x.jsonl --db my.duckdb`).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    _orig_add = sub.add_parser

    def add_parser(name, **kw):
        return _orig_add(name, parents=[common], **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]
    for area in CLI_AREAS:
        area.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `workbench` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    return run_command(args, argv)


def run_command(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the parsed command `args` (of `argv`) under the CLI's error root: its exit code. Where the store is
    open in the app, the app runs it (workbench.cli.remote); the app runs the commands it is sent through here
    too."""
    func = getattr(args, "func", data.cmd_open)
    try:
        try:
            return func(args)
        except remote.StoreInApp as e:  # the app has the store open and answers: it runs the command
            return remote.run_in_app(e, args, argv)
    except WorkbenchError as e:  # every engine error, and the CLI's own: message, exit code, hint
        print(f"workbench: {e}", file=sys.stderr)
        if e.hint:
            print(f"workbench: hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("workbench: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except BrokenPipeError:  # `workbench query | head -1`: the reader has what it wanted
        _quiet_broken_pipe()
        return EXIT_PIPE
    except OSError as e:  # a wrong path (exit 1); no permission, read-only, disk full ... (exit 3)
        line, code = os_error(e)
        print(f"workbench: {line}", file=sys.stderr)
        return code
    except Exception as e:
        if _interrupted(e):
            print("workbench: cancelled", file=sys.stderr)
            return EXIT_CANCELLED
        io = duckdb_io_error(e)
        if io is None:
            raise
        print(f"workbench: {io}", file=sys.stderr)
        return EXIT_STORE


def _interrupted(e: BaseException) -> bool:
    """Whether `e` is DuckDB's answer to Ctrl-C during a statement (a RuntimeError, or its InterruptException)."""
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(e, duckdb.InterruptException):
        return True
    return type(e) is RuntimeError and str(e) == "Query interrupted"


def _quiet_broken_pipe() -> None:
    """Point stdout and stderr at /dev/null, so that flushing them at exit raises no second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):  # no real file descriptor (a test's capture)
            pass
    os.close(devnull)
