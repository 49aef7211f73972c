"""CLI subcommands for interpolation sets (MDIT): `workbench interpolate ...` (the twin of the Interpolation screen).

    workbench interpolate create NAME --a domain:math --b domain:code --alpha 0.5 --pairs 200 --pairing random --seed 0
    workbench interpolate list | show NAME | pairs NAME | delete NAME
    workbench interpolate select NAME --budget 50 [--k 8] [--features embedding_layer|sentence] [--model SPEC]
    workbench interpolate preview NAME PAIR [--k 5]
    workbench interpolate coverage NAME CLUSTERING
    workbench interpolate export-pairs NAME PATH(.csv|.parquet|.jsonl)

A source is KIND:REF with KIND domain, pool, cluster (REF = CLUSTERING:k or CLUSTERING:k1,k2) or selection, and an
optional `| where EXPR` filter, e.g. --a "pool:alpaca | where n_tokens < 512". The filter options of `query`
(--pool, --domain, --tag, --text, --where, --score) narrow both sources of `create` (the app uses the Browse filter). Text export of an interpolation set
is impossible (embedding mixtures have no text); export-pairs writes the pairs and their lam as a table.
"""

from __future__ import annotations

import argparse

from workbench.cli.kit import _dump, _open_store, _print_rows, _with_common_args
from workbench.cli.scope_args import add_scope_args, say_scope, scope_from_args


def _source(text: str) -> dict:
    from engine.synthesis.interpolation import InterpolationError, parse_source

    head, _, rest = text.partition("|")
    src = parse_source(head.strip())
    rest = rest.strip()
    if rest:
        key, _, expr = rest.partition(" ")
        if key not in ("where", "filter") or not expr.strip():
            raise InterpolationError(f"source {text!r}: after | expected `where EXPR`")
        src["filter"] = expr.strip()
    return src


def _store(args):
    return _open_store(args)


def _set_dict(s) -> dict:
    from engine.synthesis.interpolation import source_label

    return {
        "id": s.id,
        "name": s.name,
        "source_a": source_label(s.source_a),
        "source_b": source_label(s.source_b),
        "alpha": s.alpha,
        "n_pairs": s.n_pairs,
        "n_kept": s.n_kept,
        "pairing": s.pairing,
        "seed": s.seed,
        "content_hash": s.content_hash,
        "created_at": s.created_at,
        "params": s.params,
    }


def _table(rows: list[dict], cols: list[str]) -> None:
    _print_rows(rows, "table", cols)


def cmd_create(args) -> int:
    from engine.synthesis.interpolation import create_set

    with _store(args) as store:
        scope = scope_from_args(store, args)
        if scope.filter is not None:
            say_scope(store, scope, args.quiet)
        s = create_set(
            store,
            args.name,
            _source(args.a),
            _source(args.b),
            alpha=args.alpha,
            n_pairs=args.pairs,
            pairing=args.pairing,
            seed=args.seed,
            allow_same_task=args.allow_same_task,
            embedding_model=args.embedding_model,
            text_kind=args.text_kind,
            note=args.note,
            replace=args.replace,
            scope=scope,
        )
        if args.format == "json":
            _dump(_set_dict(s))
        else:
            print(
                f"saved interpolation set {s.name!r}: {s.n_pairs} pairs ({s.pairing}, alpha {s.alpha}, seed {s.seed})"
            )
    return 0


def cmd_list(args) -> int:
    from engine.synthesis.interpolation import list_sets

    with _store(args) as store:
        rows = [_set_dict(s) for s in list_sets(store)]
    if args.format == "json":
        _dump(rows)
    else:
        _table(rows, ["name", "source_a", "source_b", "alpha", "n_pairs", "n_kept", "pairing", "seed"])
    return 0


def cmd_show(args) -> int:
    from engine.synthesis.interpolation import get_set, pairs

    with _store(args) as store:
        s = get_set(store, args.name)
        d = _set_dict(s)
        d["pairs"] = [vars(p) for p in pairs(store, s.id, limit=args.pairs)]
    if args.format == "json":
        _dump(d)
        return 0
    for k in ("name", "source_a", "source_b", "alpha", "pairing", "seed", "n_pairs", "n_kept", "content_hash"):
        print(f"{k:>13}: {d[k]}")
    div = s.params.get("diversity")
    if div:
        print(f"{'diversity':>13}: budget {div['budget']}, k {div['k']}, features {div['features']}")
    for n in s.params.get("notes") or []:
        print(f"{'note':>13}: {n}")
    _pairs_table(d["pairs"])
    return 0


def _pairs_table(rows: list[dict]) -> None:
    out = [
        {
            "pair": p["pair_index"],
            "a": p["sample_a"],
            "b": p["sample_b"],
            "domains": f"{p['domain_a']}|{p['domain_b']}",
            "lam": f"{p['lam']:.3f}",
            "kept": "yes" if p["kept"] else "no",
            "cluster": "" if p["cluster"] is None else p["cluster"],
            "instruction a": (p["instruction_a"] or "")[:40],
            "instruction b": (p["instruction_b"] or "")[:40],
        }
        for p in rows
    ]
    _table(out, ["pair", "a", "b", "domains", "lam", "kept", "cluster", "instruction a", "instruction b"])


def cmd_pairs(args) -> int:
    from engine.synthesis.interpolation import pairs

    with _store(args) as store:
        rows = [vars(p) for p in pairs(store, args.name, kept_only=args.kept, limit=args.limit)]
    if args.format == "json":
        _dump(rows)
    else:
        _pairs_table(rows)
    return 0


def cmd_select(args) -> int:
    from engine.synthesis.interpolation import select_diverse

    with _store(args) as store:
        r = select_diverse(
            store,
            args.name,
            budget=args.budget,
            k=args.k,
            model=args.model,
            features=args.features,
            seed=args.seed,
            embedding_model=args.embedding_model,
            text_kind=args.text_kind,
            n_init=args.n_init,
            pca_dims=None if args.pca_dims == 0 else args.pca_dims,
        )
    if args.format == "json":
        _dump(vars(r))
        return 0
    print(
        f"kept {r.n_kept} of {r.n_pairs} mixes; K-Means k={r.k} over {r.n_originals} originals + {r.n_pairs} mixes "
        f"({r.features}), {r.seconds:.1f}s"
    )
    _table(
        [{k: c[k] for k in ("cluster", "size", "n_originals", "n_mixes", "quota", "kept")} for c in r.clusters],
        ["cluster", "size", "n_originals", "n_mixes", "quota", "kept"],
    )
    return 0


def cmd_preview(args) -> int:
    from engine.synthesis.interpolation import preview_pair

    with _store(args) as store:
        pv = preview_pair(
            store, args.name, args.pair, k=args.k, embedding_model=args.embedding_model, text_kind=args.text_kind
        )
    if args.format == "json":
        d = vars(pv).copy()
        d["nearest"] = [vars(n) for n in pv.nearest]
        _dump(d)
        return 0
    print(
        f"pair {pv.pair_index}: lam {pv.lam:.3f} (weight of A), kept {'yes' if pv.kept else 'no'}"
        + (f", cluster {pv.cluster}" if pv.cluster is not None else "")
    )
    for tag, s, cos in (("A", pv.a, pv.cos_a), ("B", pv.b, pv.cos_b)):
        c = f", cosine to the mix {cos:.3f}" if cos is not None else ""
        print(
            f"\n{tag}: sample {s['sample_id']} ({s['domain']}, pool {s['pool']}{c})\n  {s['instruction']}\n"
            f"  -> {(s['response'] or '')[:300]}"
        )
    print(f"\nnearest real samples to the mix ({pv.embedding}):")
    if not pv.nearest:
        print("  (none: a sample of the pair has no sentence embedding; run `workbench embed`)")
    for n in pv.nearest:
        print(f"  {n.cosine:.3f}  {n.sample_id:>7}  {n.domain:<10} {n.instruction[:80]}")
    return 0


def cmd_coverage(args) -> int:
    from engine.synthesis.interpolation import coverage

    with _store(args) as store:
        cv = coverage(store, args.name, args.clustering, kept_only=not args.all)
    d = {k: v for k, v in vars(cv).items() if k not in ("pair_index", "x", "y", "cluster", "kept")}
    if args.format == "json":
        d["points"] = [
            {"pair_index": int(i), "x": float(x), "y": float(y), "cluster": int(c)}
            for i, x, y, c in zip(cv.pair_index, cv.x, cv.y, cv.cluster)
        ]
        _dump(d)
        return 0
    print(
        f"clustering {cv.clustering}: {cv.n_clusters} clusters; {cv.n_mixes} mixes placed "
        f"({cv.n_mixes_noise} in noise, {cv.n_unplaced} without embeddings)"
    )
    print(
        f"coverage: {cv.covered_originals} clusters by the pairs' samples, {cv.covered_with_mixes} with the mixes"
        f" (+{len(cv.new_clusters)}: {', '.join(map(str, cv.new_clusters)) or 'none'})"
    )
    print(f"placement: {cv.placement}")
    return 0


def cmd_export_pairs(args) -> int:
    from engine.synthesis.interpolation import export_pairs

    with _store(args) as store:
        n = export_pairs(store, args.name, args.path, kept_only=args.kept)
    print(f"wrote {n} pairs to {args.path} (a table of pairs and lam: embedding mixtures have no text form)")
    return 0


def cmd_export(args) -> int:
    from engine.synthesis.interpolation import export_text

    export_text()  # always refuses with the explanation
    return 1


def cmd_delete(args) -> int:
    from engine.synthesis.interpolation import delete_set

    with _store(args) as store:
        delete_set(store, args.name)
    print(f"deleted interpolation set {args.name!r}")
    return 0


def register(sub) -> None:
    """Add this area's subcommands to the `workbench` parser (`sub` = its subparsers)."""
    s = sub.add_parser(
        "interpolate",
        help="MDIT task interpolation sets: create, select, preview, coverage, export pairs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    xs = s.add_subparsers(dest="interp_cmd", metavar="ACTION", required=True)
    _with_common_args(xs)

    def fmt(x, choices=("table", "json")):
        x.add_argument("--format", choices=list(choices), default=choices[0])
        x.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")

    def emb(x):
        x.add_argument(
            "--embedding-model", help="sentence-embedding model name (default: the stored set covering most)"
        )
        x.add_argument("--text-kind", choices=["instruction", "instruction_response", "conversation"])

    x = xs.add_parser("create", help="pair samples of two sources; lam ~ Beta(alpha, alpha) per pair")
    x.add_argument("name")
    x.add_argument("--a", required=True, metavar="KIND:REF", help="source A (domain:, pool:, cluster:, selection:)")
    x.add_argument("--b", required=True, metavar="KIND:REF", help="source B")
    x.add_argument("--alpha", type=float, default=0.5)
    x.add_argument("--pairs", type=int, default=100, help="number of pairs")
    x.add_argument("--pairing", choices=["random", "index", "nearest"], default="random")
    x.add_argument("--seed", type=int, default=0)
    x.add_argument("--allow-same-task", action="store_true", help="allow pairs of two samples of the same domain")
    x.add_argument("--note")
    x.add_argument("--replace", action="store_true", help="replace an existing set of that name")
    emb(x)
    fmt(x)
    # narrows both sources (excluded samples and eval pools never come into a set)
    add_scope_args(x, flags=False)
    x.set_defaults(func=cmd_create)
    x = xs.add_parser("list", help="interpolation sets")
    fmt(x)
    x.set_defaults(func=cmd_list)
    x = xs.add_parser("show", help="a set: sources, knobs, diversity step, first pairs")
    x.add_argument("name")
    x.add_argument("--pairs", type=int, default=10, help="show the first N pairs")
    fmt(x)
    x.set_defaults(func=cmd_show)
    x = xs.add_parser("pairs", help="the pairs of a set")
    x.add_argument("name")
    x.add_argument("--kept", action="store_true", help="only kept pairs")
    x.add_argument("--limit", type=int)
    fmt(x)
    x.set_defaults(func=cmd_pairs)
    x = xs.add_parser("select", help="diversity step: K-Means over originals + mixes, keep up to BUDGET mixes")
    x.add_argument("name")
    x.add_argument("--budget", type=int, required=True)
    x.add_argument("--k", type=int, help="K-Means clusters (default round(sqrt(N/2)))")
    x.add_argument("--features", choices=["embedding_layer", "sentence"], default="embedding_layer")
    x.add_argument("--model", help="model spec for embedding_layer features (default: the scorer default)")
    x.add_argument("--seed", type=int, default=0)
    x.add_argument("--n-init", type=int, default=1, help="K-Means restarts (k-means++ init each)")
    x.add_argument("--pca-dims", type=int, default=64, help="reduce the features by PCA before K-Means (0: no)")
    emb(x)
    fmt(x)
    x.set_defaults(func=cmd_select)
    x = xs.add_parser("preview", help="a pair: both samples, lam, nearest real samples to the mix")
    x.add_argument("name")
    x.add_argument("pair", type=int)
    x.add_argument("--k", type=int, default=5)
    emb(x)
    fmt(x)
    x.set_defaults(func=cmd_preview)
    x = xs.add_parser("coverage", help="where the kept mixes fall on a clustering's map, clusters they add")
    x.add_argument("name")
    x.add_argument("clustering")
    x.add_argument("--all", action="store_true", help="all pairs, not only kept ones")
    fmt(x)
    x.set_defaults(func=cmd_coverage)
    x = xs.add_parser("export-pairs", help="write the pairs + lam as a table (.csv, .parquet, .jsonl)")
    x.add_argument("name")
    x.add_argument("path")
    x.add_argument("--kept", action="store_true", help="only kept pairs")
    x.set_defaults(func=cmd_export_pairs)
    x = xs.add_parser("export", help="(refused) text export is impossible for embedding mixtures")
    x.add_argument("name")
    x.add_argument("path", nargs="?")
    x.set_defaults(func=cmd_export)
    x = xs.add_parser("delete", help="delete a set (refused while a mixture uses it)")
    x.add_argument("name")
    x.set_defaults(func=cmd_delete)
