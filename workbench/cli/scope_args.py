"""The scope options of the job commands (score, embed, cluster, dedup, select, interpolate create): the filter
options of `query` / `export`, and the two defaults every job shares (engine.data.scope) with the flags that lift
them: --include-excluded and --include-eval.

Light by rule, like the kit: the engine is imported inside the functions.
"""

from __future__ import annotations

import argparse
import sys

from workbench.cli.kit import _filter_from_args


def add_scope_flags(p: argparse.ArgumentParser) -> None:
    """--include-excluded and --include-eval (for a command that already takes the filter options)."""
    p.add_argument(
        "--include-excluded", action="store_true", help="work on excluded samples too (default: they are left out)"
    )
    p.add_argument(
        "--include-eval",
        action="store_true",
        help="work on samples of eval pools too (default: left out, unless --pool names the eval pool)",
    )


def add_scope_args(p: argparse.ArgumentParser, *, text_flag: str = "--text", flags: bool = True) -> None:
    """The filter options of `query` (--pool, --domain, --tag, TEXT_FLAG, --where, --score) and, with `flags`, the
    scope flags. `text_flag`: the substring option's name, for a command whose --text means something else
    (embed, cluster)."""
    g = p.add_argument_group(
        "scope (the samples the job works on; all given parts must hold; default: every training sample)"
    )
    g.add_argument("--pool", action="append", help="pool name or id (repeatable)")
    g.add_argument("--domain", action="append", help="domain (repeatable)")
    g.add_argument("--tag", action="append", dest="tags", help="has tag (repeatable: any of them)")
    g.add_argument(text_flag, dest="filter_text", help="case-insensitive substring in instruction, response or system")
    g.add_argument("--where", help="filter expression, e.g. \"n_tokens > 200 and domain = 'math'\"")
    g.add_argument(
        "--score",
        action="append",
        default=[],
        metavar="METRIC:MIN:MAX",
        help="score range, e.g. ifd::1 (empty bound = open)",
    )
    if flags:
        add_scope_flags(g)


def scope_from_args(store, args):
    """The engine Scope of the scope options (the filter options read as `query` reads them)."""
    from engine.data.scope import Scope, filter_is_empty

    ns = argparse.Namespace(**vars(args))
    if hasattr(args, "filter_text"):
        ns.text = args.filter_text
    if not hasattr(ns, "no_excluded"):
        ns.no_excluded = False
    f = _filter_from_args(store, ns)
    return Scope(
        filter=None if filter_is_empty(f) else f,
        include_excluded=bool(getattr(args, "include_excluded", False)),
        include_eval=bool(getattr(args, "include_eval", False)),
    )


def say_scope(store, scope, quiet: bool = False) -> None:
    """The scope in words on stderr ("workbench: scope: 412 samples: pool gsm8k, not excluded; eval pools left out")."""
    if quiet:
        return
    from engine.data.scope import describe_scope

    print(f"workbench: scope: {describe_scope(store, scope)}", file=sys.stderr)
