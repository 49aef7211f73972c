"""Targeted selection: `workbench target` picks the samples that serve a query set and saves them as a selection
(engine/targeting; docs/targeting.md)."""

from __future__ import annotations

import sys

from workbench.cli.kit import EXIT_OK, _dump, _open_store, _print_rows, _progress, _sigint_cancels
from workbench.cli.scope_args import add_scope_args, say_scope, scope_from_args

ALGOS = ["rr", "dg", "uot", "knn-uniform", "knn-kde"]
REPS = ["embed", "rds", "less"]


def trainer_kit():
    """engine/training's trainer as the LESS warm-up takes it (engine/targeting sits below training)."""
    from types import SimpleNamespace

    from engine.training import checkpoint, data, loop, model, settings

    return SimpleNamespace(
        train=loop.train,
        checkpoints=checkpoint.checkpoints,
        tokenize_records=data.tokenize_records,
        tokenize_conversation=data.tokenize_conversation,
        load_base=model.load_base,
        LoraSettings=settings.LoraSettings,
        TrainSettings=settings.TrainSettings,
        config_dict=settings.config_dict,
    )


def _less_settings(args):
    """The LESS warm-up settings of the command line (None: the reference's, for the other representations)."""
    if args.rep != "less":
        return None
    from engine.targeting.less_warmup import WarmupSettings

    s = WarmupSettings(fraction=args.warmup_fraction, epochs=args.warmup_epochs, proj_dim=args.proj_dim)
    if args.lora_r is not None:
        s.r, s.alpha = args.lora_r, 4 * args.lora_r
    return s


def cmd_target(args) -> int:
    from engine.targeting.similarity import TargetingError
    from engine.targeting.target import target

    with _open_store(args) as store:
        scope = scope_from_args(store, args)
        say_scope(store, scope, args.quiet or args.format == "json")
        with _progress(f"target {args.name}", args.quiet, TargetingError) as prog, _sigint_cancels() as cancel:
            r = target(
                store,
                query=args.query,
                name=args.name,
                budget=args.budget,
                rep=args.rep,
                algo=args.algo,
                model=args.model,
                text_kind=args.text,
                scope=scope,
                replace=args.replace,
                quantiles=args.quantiles,
                less_settings=_less_settings(args),
                trainer=trainer_kit() if args.rep == "less" else None,
                progress=prog,
                cancel=cancel,
            )
    if args.format == "json":
        _dump(r.to_dict())
        return EXIT_OK
    if r.quantiles:
        print(
            f"{len(r.quantiles)} distance quantiles of {r.n_candidates:,} candidates for {r.n_query} query items "
            f"({r.query}), the first {r.budget:,} of each; {r.algo} over {r.rep} ({r.model}); {r.seconds:.1f}s"
        )
        rows = [
            {
                "selection": q["selection"],
                "from": q["start"],
                "n": q["n"],
                "chamfer": f"{q['chamfer']:.4f}",
                "ot": "" if q["ot"] is None else f"{q['ot']:.4f}",
                "domains": ", ".join(f"{d} {n}" for d, n in q["domains"].items()),
            }
            for q in r.quantiles
        ]
        _print_rows(rows, "table", ["selection", "from", "n", "chamfer", "ot", "domains"])
        return EXIT_OK
    doms = ", ".join(f"{d} {n}" for d, n in r.domains.items())
    print(
        f"selection {r.selection!r}: {r.budget:,} of {r.n_candidates:,} candidates for {r.n_query} query items "
        f"({r.query}); {r.algo} over {r.rep} ({r.model}, {r.text_kind}); {r.seconds:.1f}s"
    )
    print(f"domains: {doms}")
    for d in r.distances:
        ot = "" if d["ot"] is None else f", OT {d['ot']:.4f} (random {d['random_ot']:.4f})"
        print(f"budget {d['budget']:,}: Chamfer {d['chamfer']:.4f} (random {d['random_chamfer']:.4f}){ot}")
    for note in r.notes:
        print(f"note: {note}", file=sys.stderr)
    _print_rows(r.picks, "table", ["rank", "sample_id", "domain", "why"])
    return EXIT_OK


def register(sub) -> None:
    """Add `target` to the `workbench` parser (`sub` = its subparsers)."""
    s = sub.add_parser(
        "target",
        help="targeted selection: the samples that serve a query set (a pool or a file), saved as a selection",
    )
    s.add_argument(
        "--query", required=True, metavar="POOL|FILE", help="the query set: a pool (eval pools too) or a file"
    )
    s.add_argument("--name", required=True, help="name of the selection to save")
    s.add_argument("--budget", type=int, required=True, metavar="K", help="how many samples to select")
    s.add_argument(
        "--rep",
        choices=REPS,
        default="embed",
        help="representation: embed (sentence-transformers), rds (RDS+) or less (LoRA gradients after a warm-up)",
    )
    s.add_argument(
        "--algo",
        choices=ALGOS,
        default="rr",
        help="rr (round-robin), dg (doubly greedy), uot (unbalanced OT), knn-uniform, knn-kde",
    )
    s.add_argument(
        "--model",
        default=None,
        help="embed: a sentence-transformers folder or cached id (default offline all-MiniLM-L6-v2); "
        "rds, less: the proxy LM (default smollm2, a model folder, a .gguf)",
    )
    s.add_argument(
        "--text",
        choices=["instruction", "instruction_response", "conversation"],
        default="conversation",
        help="which text of each candidate is represented (default: every turn)",
    )
    add_scope_args(s, text_flag="--contains")
    s.add_argument(
        "--quantiles",
        type=int,
        default=None,
        metavar="N",
        help="the distance-quantile experiment: order the whole pool, cut it into N parts, save the first "
        "--budget of each as NAME-q0 (nearest) .. NAME-q{N-1}",
    )
    g = s.add_argument_group("LESS (--rep less; defaults: the reference's)")
    g.add_argument("--warmup-fraction", type=float, default=0.05, help="share of the candidates the warm-up trains on")
    g.add_argument("--warmup-epochs", type=int, default=4, help="warm-up epochs, one checkpoint each")
    g.add_argument("--lora-r", type=int, default=None, help="LoRA rank of the warm-up (default 128, alpha 4 x r)")
    g.add_argument("--proj-dim", type=int, default=8192, help="dimensions of the random projection")
    s.add_argument("--replace", action="store_true", help="replace a selection of the same name")
    s.add_argument("--format", choices=["table", "json"], default="table")
    s.set_defaults(func=cmd_target)
