"""Geometry commands: embed, cluster, clusters (summaries and diversity), dedup (exact, MinHash, semantic)."""

from __future__ import annotations

import sys

from workbench.cli.kit import (
    EXIT_OK,
    _add_embed_args,
    _add_filter_args,
    _cli_errors,
    _open_store,
    _print_rows,
    _progress,
    _sigint_cancels,
)
from workbench.cli.ray_args import add_ray_args, ray_setup
from workbench.cli.scope_args import add_scope_args, add_scope_flags, say_scope, scope_from_args


def cmd_embed(args) -> int:
    from engine.geometry.embeddings import EmbeddingError, embed_samples

    ray = ray_setup(args)
    with _open_store(args) as store:
        scope = scope_from_args(store, args)
        say_scope(store, scope, args.quiet)
        # Ctrl-C stops at the next batch, dropping the chunk in flight (EmbeddingCancelled, exit 130, says what was kept)
        with _progress(f"embed {args.text}", args.quiet, EmbeddingError) as prog, _sigint_cancels() as cancel:
            r = embed_samples(
                store,
                model=args.model,
                text_kind=args.text,
                scope=scope,
                batch_size=args.batch_size,
                chunk_size=args.chunk,
                progress=prog,
                cancel=cancel,
                on=args.on,
                ray=ray,
            )
    print(
        f"embedded {r.n_new:,} samples ({r.n_encoded:,} distinct texts encoded at {r.rate:,.1f} texts/s, "
        f"{r.n_reused:,} reused identical texts, {r.n_cached:,} already embedded) with {r.model} "
        f"[{r.text_kind}], dim {r.dim}; {r.seconds:.1f}s; parts in {r.folder}"
    )
    return EXIT_OK


def cmd_cluster(args) -> int:
    from engine.geometry.clusters import ClusterError, cluster
    from engine.geometry.embeddings import count_unembedded

    with _open_store(args) as store:
        scope = scope_from_args(store, args)
        say_scope(store, scope, args.quiet)
        with _progress(f"cluster {args.name}", args.quiet, ClusterError) as prog:
            info = cluster(
                store,
                args.name,
                model=args.model,
                text_kind=args.text,
                scope=scope,
                pca_dims=args.pca_dims,
                min_cluster_size=args.min_cluster_size,
                min_samples=args.min_samples,
                fit_sample=args.fit_sample,
                seed=args.seed,
                replace=args.replace,
                progress=prog,
            )
        missing = count_unembedded(store, model=args.model, text_kind=args.text, scope=scope)
    print(
        f"clustering {info.name!r}: {info.n_samples:,} samples, {info.n_clusters} clusters, "
        f"{info.n_noise:,} noise (PCA {info.params['pca_dims']}, min_cluster_size "
        f"{info.params['min_cluster_size']}); {info.seconds:.1f}s"
    )
    if missing:
        print(
            f"workbench: {missing:,} samples in scope have no {info.model} [{info.text_kind}] embedding and are not "
            f"in it (a cancelled embed?): `workbench embed` them, then `workbench clusters {info.name} --assign-new`",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_clusters(args) -> int:
    from engine.geometry.clusters import (
        ClusterError,
        assign_new,
        cluster_summary,
        diversity,
        get_clustering,
        list_clusterings,
    )

    with _open_store(args, read_only=not args.assign_new) as store:
        if not args.name:
            rows = [
                {
                    "name": c.name,
                    "model": c.model,
                    "text": c.text_kind,
                    "samples": c.n_samples,
                    "clusters": c.n_clusters,
                    "noise": c.n_noise,
                    "assigned_later": c.n_assigned_later,
                    "pca_dims": c.params.get("pca_dims"),
                    "min_cluster_size": c.params.get("min_cluster_size"),
                    "created_at": c.created_at,
                }
                for c in list_clusterings(store)
            ]
            _print_rows(rows, args.format)
            return EXIT_OK
        with _cli_errors(ClusterError):
            if args.assign_new:
                n = assign_new(store, args.name)
                print(f"assigned {n:,} new samples to clustering {args.name!r}", file=sys.stderr)
            summ = cluster_summary(store, args.name)
            div = diversity(store, args.name)
            scope_text = get_clustering(store, args.name).params.get("scope_text")
    if args.format == "table":
        rows = [
            {
                "cluster": "noise" if c.cluster < 0 else c.cluster,
                "size": c.size,
                "share": f"{c.share:.1%}",
                "keywords": ", ".join(c.keywords),
                "domains": ", ".join(f"{d} {n}" for d, n in c.domains.items()),
                **{m: (None if v is None else round(v, 4)) for m, v in c.scores.items()},
                "representative": f"#{c.representative_id} {(c.representative_text or '')[:60]}"
                if c.representative_id is not None
                else "",
            }
            for c in summ
        ]
        _print_rows(rows, "table")
        ent = f"{div.entropy:.3f} nats" + (f" ({div.entropy_norm:.2f} of max)" if div.entropy_norm is not None else "")
        mcd = "n/a" if div.mean_cosine_distance is None else f"{div.mean_cosine_distance:.4f}"
        print(
            f"diversity: {div.n:,} samples, {div.n_noise:,} noise; coverage {div.n_covered}/{div.n_clusters} "
            f"clusters; entropy {ent} (noise excluded); mean pairwise cosine distance {mcd} (exact)"
        )
        if scope_text:
            print(f"scope when clustered: {scope_text}")
    else:
        _print_rows([c.__dict__ for c in summ], args.format)
    return EXIT_OK


def cmd_dedup(args) -> int:
    from engine.geometry import dedup as dd

    with _open_store(args) as store:
        f = scope_from_args(store, args)
        say_scope(store, f, args.quiet or args.format != "table")
        with _cli_errors(dd.DedupError):
            if args.semantic:
                groups = dd.semantic_duplicate_groups(
                    store,
                    model=args.embed_model,
                    text_kind=args.embed_text,
                    threshold=args.threshold,
                    filter=f,
                    keep=args.keep,
                )
            elif args.minhash is not None:
                groups = dd.near_duplicate_groups_minhash(
                    store, threshold=args.minhash, num_perm=args.num_perm, filter=f, keep=args.keep
                )
            else:
                groups = dd.exact_duplicate_groups(store, f, by=args.by, keep=args.keep)
            n_ex = dd.keep_one_per_group(store, groups) if args.apply else 0
    rows = [
        {
            "group": n + 1,
            "kind": g.kind,
            "size": len(g.ids),
            "keeper": g.keeper,
            "others": ",".join(str(i) for i in g.ids if i != g.keeper),
            "similarity": None if g.similarity is None else round(g.similarity, 4),
            "why": g.why,
        }
        for n, g in enumerate(groups)
    ]
    if args.format != "table" or rows:
        _print_rows(rows, args.format)
    n_dup = sum(len(g.ids) - 1 for g in groups)
    msg = f"{len(groups):,} duplicate groups, {n_dup:,} samples besides the keepers"
    msg += (
        f"; excluded {n_ex:,} (tagged 'duplicate'; undo: workbench exclude --undo --tag duplicate)"
        if args.apply
        else "; nothing changed (--apply excludes all but the keeper of each group)"
    )
    print(msg, file=sys.stderr if args.format != "table" else sys.stdout)
    return EXIT_OK


def register(sub) -> None:
    """Add this area's subcommands to the `workbench` parser (`sub` = its subparsers)."""
    s = sub.add_parser("dedup", help="report duplicate groups (exact by default), --apply to exclude all but one")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--semantic", action="store_true", help="cosine of stored embeddings >= --threshold")
    g.add_argument(
        "--minhash",
        type=float,
        default=None,
        metavar="JACCARD",
        help="text near-duplicates: MinHash LSH at this Jaccard threshold, e.g. 0.8",
    )
    s.add_argument(
        "--by",
        choices=["hash", "text"],
        default="hash",
        help="exact: content hash, or normalised instruction+response text",
    )
    s.add_argument("--threshold", type=float, default=0.95, help="--semantic: cosine threshold")
    s.add_argument("--num-perm", type=int, default=128, help="--minhash: permutations")
    _add_embed_args(s, "--semantic: embedding model name", "--semantic: which embeddings")
    s.add_argument("--keep", default="longest", help="keeper per group: longest (response) or score:METRIC")
    s.add_argument("--apply", action="store_true", help="exclude all but the keeper of each group (reversible)")
    s.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    _add_filter_args(s)
    add_scope_flags(s)
    s.set_defaults(func=cmd_dedup)

    s = sub.add_parser("embed", help="embed samples with a sentence-transformers model (cached, incremental)")
    s.add_argument(
        "--model",
        default=None,
        help="a sentence-transformers folder or cached hub id (default: offline all-MiniLM-L6-v2)",
    )
    s.add_argument(
        "--text",
        choices=["instruction", "instruction_response", "conversation"],
        default="instruction_response",
        help="which text of each sample is embedded",
    )
    add_scope_args(s, text_flag="--contains")
    s.add_argument("--batch-size", type=int, default=64)
    add_ray_args(s)
    s.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="samples per committed Parquet part file (default: sized by throughput, one every ~3 s, so Ctrl-C "
        "loses at most that)",
    )
    s.set_defaults(func=cmd_embed)

    s = sub.add_parser("cluster", help="cluster stored embeddings (PCA -> HDBSCAN) and save the result as NAME")
    s.add_argument("name")
    s.add_argument("--model", default=None, help="embedding model name (default: all-MiniLM-L6-v2)")
    s.add_argument(
        "--text", choices=["instruction", "instruction_response", "conversation"], default="instruction_response"
    )
    add_scope_args(s, text_flag="--contains")
    s.add_argument("--pca-dims", type=int, default=32)
    s.add_argument("--min-cluster-size", type=int, default=None, help="default: 1%% of the samples, 5..200")
    s.add_argument(
        "--min-samples",
        type=int,
        default=None,
        help="HDBSCAN min_samples of the fit (default: 10, at most the fit's min-cluster-size)",
    )
    s.add_argument(
        "--fit-sample",
        type=int,
        default=30_000,
        help="fit HDBSCAN on at most this many samples (seeded), place the rest with "
        "approximate_predict; 0 = fit every sample (default: 30000)",
    )
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--replace", action="store_true", help="replace a clustering of the same name")
    s.set_defaults(func=cmd_cluster)

    s = sub.add_parser("clusters", help="list clusterings, or summarise one (keywords, sizes, diversity)")
    s.add_argument("name", nargs="?", metavar="NAME")
    s.add_argument(
        "--assign-new", action="store_true", help="first place samples embedded since the clustering into its clusters"
    )
    s.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    s.set_defaults(func=cmd_clusters)
