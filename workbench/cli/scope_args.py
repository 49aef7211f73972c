"""The scope options of the job commands (score, embed, cluster, dedup, select, interpolate create): the filter
options of `query` / `export`, and the two defaults every job shares (engine.data.scope) with the flags that lift
them: --include-excluded and --include-eval.

Light by rule, like the kit: the engine is imported inside the functions.
"""

from __future__ import annotations

import argparse
import sys

from workbench.cli.kit import _filter_from_args, add_filter_options


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
    add_filter_options(g, text_flag=text_flag, text_dest="filter_text")
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
