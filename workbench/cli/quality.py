"""Quality commands: score (IFD, perplexity, Cherry, heuristics), scores (summaries), select (selections)."""

from __future__ import annotations

from workbench.cli.kit import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    _add_embed_args,
    _add_filter_args,
    _cli_errors,
    _open_store,
    _print_rows,
    _progress,
)
from workbench.cli.ray_args import add_ray_args, ray_setup
from workbench.cli.scope_args import add_scope_args, add_scope_flags, say_scope, scope_from_args


def cmd_score(args) -> int:
    metrics = set(args.metric or ["ifd"])
    unknown = metrics - {"ifd", "ppl", "cherry", "heuristics", "all"}
    if unknown:
        raise CliError(
            f"unknown metric group(s): {', '.join(sorted(unknown))}; use ifd, ppl, cherry, heuristics or all",
            EXIT_USAGE,
        )
    if "all" in metrics:
        metrics = {"ifd", "cherry", "heuristics"}
    ray = ray_setup(args)
    with _open_store(args) as store:
        scope = scope_from_args(store, args)
        say_scope(store, scope, args.quiet)
        if "heuristics" in metrics:
            from engine.quality.heuristics import run_heuristics

            with _progress("heuristics", args.quiet) as prog:
                out = run_heuristics(store, scope=scope, progress=prog)
            print("heuristics: " + ", ".join(f"{k}={v:,}" for k, v in out.items()))
        variants = tuple(
            v for v, on in (("superfiltering", metrics & {"ifd", "ppl"}), ("cherry", "cherry" in metrics)) if on
        )
        if variants:
            from engine.core.hardware import set_omp_wait_policy
            from engine.core.models import ModelError
            from engine.quality.ifd import IFDParams
            from engine.quality.scoring import score_in_process

            set_omp_wait_policy()  # before torch loads: PASSIVE OpenMP waits on a busy CPU
            dtype = None if args.dtype == "auto" else args.dtype
            if args.threads is not None and args.threads < 1:
                raise CliError(f"--threads must be >= 1 (got {args.threads})", EXIT_USAGE)
            if dtype == "bf16" and not args.quiet:
                _say_bf16(args.device)

            params = IFDParams(
                max_length=args.max_length,
                cherry_max_length=args.cherry_max_length,
                cherry_template=args.cherry_template,
                token_budget=args.batch_tokens,
            )
            with _progress(f"score {'+'.join(variants)}", args.quiet, ModelError) as prog:
                out = score_in_process(
                    store,
                    model=args.model,
                    scope=scope,
                    variants=variants,
                    params=params,
                    chunk=args.chunk,
                    device=args.device,
                    dtype=dtype,
                    threads=args.threads,
                    progress=prog,
                    on=args.on,
                    ray=ray,
                )
            print(
                f"scored {out['scored']:,} samples ({out.get('skipped', 0):,} already scored) at "
                f"{out['rate']:.2f} samples/s; job folder {out['job_dir']}"
            )
    return EXIT_OK


def _say_bf16(device: str) -> None:
    """A bf16 scorer on a CPU without bf16 units is emulated: say so before a long job starts."""
    import sys

    from engine.core.hardware import bf16_note
    from engine.core.models import pick_device

    note = bf16_note(pick_device(device))
    if note:
        print(f"warning: {note}", file=sys.stderr)


def cmd_scores(args) -> int:
    import math

    from engine.data.query import score_metrics
    from engine.quality.scores import domain_summary, list_metrics, threshold_counts

    with _open_store(args) as store:
        if not args.metric_name:
            rows = [m.__dict__ for m in list_metrics(store)]
            _print_rows(rows, args.format)
            return EXIT_OK
        known = score_metrics(store)
        if args.metric_name not in known:
            have = f"metrics with scores: {', '.join(known)}" if known else "nothing is scored yet"
            raise CliError(f"no metric {args.metric_name!r}; {have}")
        f = scope_from_args(store, args)
        rows = domain_summary(store, args.metric_name, f)
        if args.keep:
            op, _, thr = args.keep.partition(" ")
            try:
                value = float(thr)
                if not math.isfinite(value):
                    raise ValueError(f"{thr.strip()!r} is not a finite number")
                tc = {r["domain"]: r for r in threshold_counts(store, args.metric_name, op, value, f)}
            except ValueError as e:
                raise CliError(f"--keep {args.keep!r}: {e}; expected e.g. '< 1.0'", EXIT_USAGE) from e
            for r in rows:
                r["keep"] = tc.get(r["domain"], {}).get("keep")
                r["lose"] = tc.get(r["domain"], {}).get("lose")
    for r in rows:
        for k, v in list(r.items()):
            if isinstance(v, float):
                r[k] = round(v, 4)
    _print_rows(rows, args.format)
    return EXIT_OK


def cmd_select(args) -> int:
    from engine.quality import selection as sl

    m = args.method
    with _open_store(args) as store:
        f = scope_from_args(store, args)
        say_scope(store, f, args.quiet)
        common = dict(filter=f, replace=args.replace)
        emb = dict(model=args.embed_model, text_kind=args.embed_text)
        with _cli_errors(sl.SelectionError):
            if m == "superfiltering":
                sel = sl.superfiltering_select(
                    store,
                    args.name,
                    rate=None if args.n is not None else args.rate,
                    n=args.n,
                    per=args.per,
                    threshold=args.threshold,
                    model=args.model,
                    **common,
                )
            elif m in ("facility_location", "superfiltering_d", "kcenter"):
                if not args.k:
                    raise CliError(f"--method {m} needs --k", EXIT_USAGE)
                ifd_top = args.ifd_top if args.ifd_top is not None else (0.2 if m == "superfiltering_d" else None)
                ifd = dict(ifd_top=ifd_top, ifd_threshold=args.threshold, ifd_model=args.model)
                if m == "kcenter":
                    sel = sl.kcenter_select(store, args.name, k=args.k, seed=args.seed, **emb, **ifd, **common)
                else:
                    sel = sl.facility_location_select(
                        store, args.name, k=args.k, metric=args.metric, max_n=args.max_n, **emb, **ifd, **common
                    )
            else:
                if not args.clustering:
                    raise CliError("--method cluster_balanced needs --clustering NAME", EXIT_USAGE)
                if (args.per_cluster is None) == (args.total is None):
                    raise CliError("--method cluster_balanced needs one of --per-cluster or --total", EXIT_USAGE)
                sel = sl.cluster_balanced_select(
                    store,
                    args.name,
                    clustering=args.clustering,
                    n_per_cluster=args.per_cluster,
                    total=args.total,
                    include_noise=args.include_noise,
                    seed=args.seed,
                    order_by=args.order_by,
                    **common,
                )
    how = f"superfiltering, {args.per}" if m == "superfiltering" else sel.method
    print(f"selection {sel.name!r}: {sel.n:,} samples ({how}); hash {sel.content_hash}")
    return EXIT_OK


def register(sub) -> None:
    """Add this area's subcommands to the `workbench` parser (`sub` = its subparsers)."""
    s = sub.add_parser("score", help="compute quality scores (IFD/perplexity with a proxy LM, Cherry IFD, heuristics)")
    s.add_argument("--metric", action="append", help="ifd (with ppl and token counts), cherry, heuristics, all")
    s.add_argument(
        "--model", default=None, help="smollm2 (default, offline), a model folder, a .gguf or a cached hub id"
    )
    s.add_argument("--device", default="auto", help="auto, cpu, cuda")
    s.add_argument(
        "--dtype",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="auto: fp32 on CPU, bf16 on CUDA; bf16 on a CPU with bf16 units (AMX / AVX-512 BF16) is ~2-3x faster, "
        "IFD within ~0.02 of fp32 (docs/metrics.md)",
    )
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: every core)")
    s.add_argument("--max-length", type=int, default=1024)
    s.add_argument("--cherry-max-length", type=int, default=512)
    s.add_argument("--cherry-template", choices=["alpaca", "wiz"], default="alpaca")
    s.add_argument("--batch-tokens", type=int, default=None, help="padded tokens per batch (default: auto)")
    s.add_argument("--chunk", type=int, default=64, help="samples per committed chunk")
    add_ray_args(s)
    add_scope_args(s)
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("scores", help="list metrics, or summarise one metric per domain")
    s.add_argument("metric_name", nargs="?", metavar="METRIC")
    s.add_argument("--keep", metavar="'OP VALUE'", help="also count what a rule keeps per domain, e.g. '< 1'")
    s.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    _add_filter_args(s)
    add_scope_flags(s)
    s.set_defaults(func=cmd_scores)

    s = sub.add_parser(
        "select",
        help="save a selection: SuperFiltering (default), SuperFiltering.D / facility "
        "location, k-center or cluster-balanced (see docs/selection.md)",
    )
    s.add_argument("name")
    s.add_argument(
        "--method",
        choices=["superfiltering", "superfiltering_d", "facility_location", "kcenter", "cluster_balanced"],
        default="superfiltering",
    )
    s.add_argument("--rate", type=float, default=0.1, help="superfiltering: share kept per group")
    s.add_argument("--n", type=int, default=None, help="superfiltering: a fixed number per group instead of a rate")
    s.add_argument("--per", choices=["all", "pool", "domain"], default="domain", help="superfiltering: groups")
    s.add_argument("--threshold", type=float, default=1.0, help="keep IFD < threshold (superfiltering[_d], --ifd-top)")
    s.add_argument("--model", default=None, help="only IFD values of this scorer model")
    s.add_argument("--k", type=int, default=None, help="facility_location / superfiltering_d / kcenter: how many")
    s.add_argument(
        "--ifd-top", type=float, default=None, help="first keep the top share by IFD (superfiltering_d default 0.2)"
    )
    s.add_argument(
        "--metric",
        choices=["euclidean_exp", "cosine"],
        default="euclidean_exp",
        help="facility location similarity (euclidean_exp: exp(-||xi-xj||/dim), as submodlib)",
    )
    s.add_argument("--max-n", type=int, default=20_000, help="facility location: most candidates (dense n x n)")
    _add_embed_args(s, "embedding model name (default: all-MiniLM-L6-v2)", "which embeddings")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--clustering", help="cluster_balanced: a saved clustering")
    s.add_argument("--per-cluster", type=int, default=None, help="cluster_balanced: quota per cluster")
    s.add_argument("--total", type=int, default=None, help="cluster_balanced: total shared evenly over clusters")
    s.add_argument("--include-noise", action="store_true", help="cluster_balanced: noise (-1) as a cluster")
    s.add_argument("--order-by", default="random", help="cluster_balanced: random or score:METRIC (descending)")
    s.add_argument("--replace", action="store_true", help="replace a selection of the same name")
    _add_filter_args(s)
    add_scope_flags(s)
    s.set_defaults(func=cmd_select)
