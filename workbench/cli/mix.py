"""CLI subcommands for mixtures: `workbench mix ...` (the headless twin of the Mixtures screen).

    workbench mix resolve --component domain:math --component domain:code --prop math=60% --prop code=40% --budget 100
    workbench mix save NAME (same recipe options, or --recipe recipe.json, or --from NAME[@v] plus changes)
    workbench mix list | show NAME[@v] | recipe NAME[@v] | diff NAME V1 V2 | subset NAME[@v] DOMAIN
    workbench mix export NAME[@v] PATH --style alpaca --dataset-info DIR

A component is `KIND:REF` with optional `| where EXPR`, `| domain D`, `| name N` parts, e.g.
`--component "cluster:topics:3 | where score.ifd < 0.9 | domain math"`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.cli.kit import _open_store, _print_rows, _with_common_args

COMPONENT_HELP = (
    "KIND:REF [| where EXPR] [| domain D] [| name N]; KIND: pool, domain, cluster (REF = CLUSTERING:k), "
    "selection, interpolation (repeatable)"
)


def parse_component(spec: str):
    """A Component from `KIND:REF | where EXPR | domain D | name N` (MixtureError when malformed)."""
    from engine.mixtures import KINDS, Component, MixtureError

    head, *parts = [p.strip() for p in spec.split("|")]
    kind, sep, ref = head.partition(":")
    kind, ref = kind.strip(), ref.strip()
    if not sep or kind not in KINDS or not ref:
        raise MixtureError(f"--component {spec!r}: expected KIND:REF with KIND one of {', '.join(KINDS)}")
    c = Component(name=f"{kind}:{ref}", kind=kind, ref=ref)
    for p in parts:
        key, _, val = p.partition(" ")
        val = val.strip()
        if key in ("where", "filter") and val:
            c.filter = val
        elif key == "domain" and val:
            c.domain = val
        elif key == "name" and val:
            c.name = val
        else:
            raise MixtureError(f"--component {spec!r}: unknown part {p!r} (where EXPR, domain D, name N)")
    return c


def parse_share(text: str) -> float:
    """A share or weight: 0.25, 1/4 or 25% (= 0.25); plain numbers are weights (shares are normalised to
    sum 1, so 60/30/10 and 0.6/0.3/0.1 are the same mix). MixtureError when not a number."""
    from engine.mixtures import parse_fraction

    return parse_fraction(text, what="a share", hint="write 0.25, 1/4, 25% or 25")


def _kv(items, what: str, conv=str) -> dict:
    from engine.mixtures import MixtureError

    out = {}
    for it in items or []:
        k, sep, v = it.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise MixtureError(f"{what} {it!r}: expected KEY=VALUE")
        try:
            out[k.strip()] = conv(v.strip())
        except ValueError:
            raise MixtureError(f"{what} {it!r}: bad value {v.strip()!r}") from None
    return out


def recipe_from_args(store, args):
    """Build a Recipe from --recipe/--from plus the option overrides."""
    from engine.mixtures import MixtureError, Recipe, Stage, dmt_stages, get_mixture

    base: dict = {}
    if getattr(args, "recipe", None):
        try:
            base = json.loads(Path(args.recipe).read_text(encoding="utf-8"))
        except ValueError as e:
            raise MixtureError(f"{args.recipe}: not valid JSON: {e}") from None
        if not isinstance(base, dict):
            raise MixtureError(f"{args.recipe}: a recipe is a JSON object, not {type(base).__name__}")
    elif getattr(args, "from_", None):
        base = get_mixture(store, args.from_).recipe.to_dict()
    d = dict(base)
    if args.component:
        d["components"] = [vars(parse_component(s)) for s in args.component]
    if args.prop:
        d["proportions"] = _kv(args.prop, "--prop", parse_share)
    if args.budget is not None:
        d["budget"] = None if args.budget == "max" else _int(args.budget, "--budget")
    for key in ("unit", "short"):
        if getattr(args, key) is not None:
            d[key] = getattr(args, key)
    if args.seed is not None:
        d["seed"] = args.seed
    if args.replacement is not None:
        d["replacement"] = args.replacement
    if args.stage:
        stages = []
        for s in args.stage:
            name, sep, doms = s.partition("=")
            if not sep or not name.strip():
                raise MixtureError(f"--stage {s!r}: expected NAME=DOMAIN[,DOMAIN...]")
            stages.append(Stage(name.strip(), [x.strip() for x in doms.split(",") if x.strip()]))
        d["stages"] = [vars(s) for s in stages]
    if args.dmt:
        spec, _, k = args.dmt.partition("@")
        special, sep, general = spec.partition("/")
        if not sep:
            raise MixtureError(f"--dmt {args.dmt!r}: expected SPECIALISED,.../GENERAL,...[@k]")
        st = dmt_stages(
            [x for x in special.split(",") if x], [x for x in general.split(",") if x], parse_share(k) if k else 1 / 256
        )
        d["stages"] = [vars(s) for s in st]
    for r in args.replay or []:
        stage, sep, rest = r.partition(":")
        kv = _kv([rest], "--replay", parse_share) if sep else None
        names = [s["name"] for s in d.get("stages") or []]
        if not kv or stage not in names:
            raise MixtureError(
                f"--replay {r!r}: expected STAGE:DOMAIN=FRACTION with STAGE one of "
                f"{', '.join(names) or '(no stages: give --stage first)'}"
            )
        d["stages"][names.index(stage)]["replay"].update(kv)
    if not d.get("components"):
        raise MixtureError("give at least one --component (or --recipe FILE, or --from NAME)")
    return Recipe.from_dict(d)


def _int(text: str, what: str) -> int:
    from engine.mixtures import MixtureError

    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise MixtureError(f"{what}: expected a whole number or 'max', not {text!r}") from None


def _domain_rows(res) -> list[dict]:
    tok = res.unit == "tokens"
    rows = []
    for d, c in res.per_domain.items():
        rows.append(
            {
                "domain": d,
                "share": f"{c.share:.1%}",
                "stage": c.stage or "",
                "available": c.available,
                "avail_tokens": c.available_tokens,
                "requested": f"{c.requested:,} {'tok' if tok else 'smp'}",
                "drawn": c.drawn,
                "drawn_tokens": c.drawn_tokens,
                "replayed": c.replayed or "",
                "note": c.note,
            }
        )
    return rows


def _print_resolution(res, fmt: str, header: str) -> None:
    if fmt == "json":
        json.dump({"header": header, **res.to_dict()}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    print(header)
    _print_rows(_domain_rows(res), "table")
    for w in res.warnings:
        print(f"warning: {w}")
    print(
        f"{res.n_items:,} items, {res.n_tokens:,} tokens (budget {res.budget:,} {res.unit}); "
        f"hash {res.content_hash[:12]}"
    )


def cmd_resolve(args) -> int:
    from engine.mixtures import resolve

    with _open_store(args) as store:
        res = resolve(store, recipe_from_args(store, args))
        _print_resolution(res, args.format, "dry run (nothing saved)")
    return 0


def cmd_save(args) -> int:
    from engine.mixtures import MixtureError, get_mixture, resolve, save

    with _open_store(args) as store:
        recipe = recipe_from_args(store, args)
        res = resolve(store, recipe)
        try:
            prev = get_mixture(store, args.name).id
        except MixtureError:
            prev = None
        mv = save(store, args.name, recipe, note=args.note, resolution=res)
        what = "unchanged: same recipe and items as the latest version" if mv.id == prev else "saved"
        _print_resolution(res, args.format, f"{mv.label} (id {mv.id}) {what}")
        from engine.evaluation.evaluate import mixture_overlap_warnings

        for w in mixture_overlap_warnings(store, mv.id):
            print(f"warning: {w} (workbench evalset overlap {mv.label} --sets ... lists them)", file=sys.stderr)
    return 0


def cmd_list(args) -> int:
    from engine.mixtures import list_mixtures

    with _open_store(args, read_only=False) as store:
        rows = [
            {
                "name": m.name,
                "version": m.version,
                "id": m.id,
                "items": m.n_items,
                "tokens": m.n_tokens,
                "domains": ", ".join(f"{d} {v['items']}" for d, v in m.per_domain.items()),
                "hash": m.content_hash[:12],
                "created": str(m.created_at)[:19],
                "note": m.note or "",
            }
            for m in list_mixtures(store)
        ]
    if not rows and args.format == "table":
        print("no mixtures saved yet (workbench mix save NAME ...)")
        return 0
    _print_rows(rows, args.format)
    return 0


def cmd_show(args) -> int:
    """A saved version: per-domain counts, and whether the store still resolves its recipe the same way."""
    from engine.mixtures import get_mixture, items, preview, resolve

    with _open_store(args) as store:
        mv = get_mixture(store, args.ref)
        try:
            res = resolve(store, mv.recipe)
            now = {
                "content_hash": res.content_hash,
                "warnings": res.warnings,
                "stale": res.content_hash != mv.content_hash,
            }
        except ValueError as e:
            now = {"error": str(e), "stale": True}
        head = preview(store, items(store, mv.id), args.items) if args.items else []
    if args.format == "json":
        json.dump({**mv.to_dict(), "now": now, "preview": head}, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    print(
        f"{mv.label} (id {mv.id}) · {mv.n_items:,} items · {mv.n_tokens:,} tokens · hash {mv.content_hash[:12]}"
        + (f" · {mv.note}" if mv.note else "")
    )
    _print_rows([{"domain": d, **v} for d, v in mv.per_domain.items()], "table")
    if now.get("error"):
        print(f"the recipe no longer resolves: {now['error']}")
    elif now["stale"]:
        print("stale: the store's data changed since this version was saved; `mix save` would make a new version")
    for w in now.get("warnings", []):
        print(f"warning: {w}")
    if head:
        _print_rows(head, "table", ["stage", "position", "domain", "id", "n_tokens", "text"])
    return 0


def cmd_recipe(args) -> int:
    from engine.mixtures import get_mixture

    with _open_store(args) as store:
        mv = get_mixture(store, args.ref)
    json.dump(mv.recipe.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def cmd_diff(args) -> int:
    from engine.mixtures import diff

    with _open_store(args) as store:
        d = diff(store, args.name, args.v1, args.v2)
    if args.format == "json":
        json.dump(d, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    print(
        f"{d['name']} v{d['v1']} -> v{d['v2']}: "
        + (
            "identical"
            if d["same"]
            else f"{d['n_items'][0]:,} -> {d['n_items'][1]:,} items, {d['n_tokens'][0]:,} -> {d['n_tokens'][1]:,} tokens"
        )
    )
    for k, v in d["recipe"].items():
        print(f"  {k}: {json.dumps(v['old'])} -> {json.dumps(v['new'])}")
    _print_rows([{"domain": k, **v} for k, v in d["domains"].items()], "table")
    return 0


def cmd_subset(args) -> int:
    from engine.mixtures import domain_subset, get_mixture

    with _open_store(args) as store:
        mv = domain_subset(store, get_mixture(store, args.ref).id, args.domain)
    print(f"{mv.label} (id {mv.id}): {mv.n_items:,} items, {mv.n_tokens:,} tokens")
    return 0


def cmd_export(args) -> int:
    from engine.core.names import check_name
    from engine.mixtures import export_mixture

    with _open_store(args) as store:
        r = export_mixture(
            store,
            args.ref,
            Path(args.path),
            style=args.style,
            file_format=args.file_format,
            dataset_info=Path(args.dataset_info) if args.dataset_info else None,
            dataset_name=check_name(args.dataset_name, "dataset name") if args.dataset_name is not None else None,
            skip_mixup=args.skip_mixup,
            overwrite=args.overwrite,
        )
    for p, n in zip(r.paths, r.n_per_file):
        print(f"wrote {n:,} records to {p}")
    if r.n_skipped_mixup:
        print(f"left out {r.n_skipped_mixup:,} interpolation items (workbench interpolate export-pairs exports them)")
    if r.dataset_info_path:
        print(f"dataset_info: {r.dataset_info_path} (entries {', '.join(r.dataset_names)})")
    return 0


def _add_recipe_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("recipe (options override --recipe / --from)")
    g.add_argument("--recipe", metavar="FILE", help="recipe JSON (as printed by `mix recipe`)")
    g.add_argument("--from", dest="from_", metavar="NAME[@v]", help="start from a saved version's recipe")
    g.add_argument("-c", "--component", action="append", metavar="SPEC", help=COMPONENT_HELP)
    g.add_argument(
        "--prop",
        action="append",
        metavar="DOMAIN=SHARE",
        help="share or weight of a domain: 0.25, 1/4, 25%%, or 3 (normalised to sum 1; repeatable; none = natural mix)",
    )
    g.add_argument("--budget", metavar="N|max", help="total samples or tokens (max = largest with no short domain)")
    g.add_argument("--unit", choices=["samples", "tokens"])
    g.add_argument("--seed", type=int)
    g.add_argument(
        "--replacement",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="sample with replacement (default: without)",
    )
    g.add_argument(
        "--short",
        choices=["error", "take_all", "upsample"],
        help="when a domain has fewer than requested (default take_all)",
    )
    g.add_argument("--stage", action="append", metavar="NAME=DOM[,DOM]", help="a training stage (repeatable, in order)")
    g.add_argument(
        "--replay",
        action="append",
        metavar="STAGE:DOMAIN=FRACTION",
        help="replay a fraction of an earlier stage's items of DOMAIN (* = all) in STAGE",
    )
    g.add_argument(
        "--dmt",
        metavar="SPEC,.../GEN,...[@k]",
        help="DMT's two stages: specialised domains, then general + k of them (default k 1/256)",
    )
    p.add_argument("--format", choices=["table", "json"], default="table")


def register(sub) -> None:
    """Add this area's subcommands to the `workbench` parser (`sub` = its subparsers)."""
    s = sub.add_parser(
        "mix",
        help="domain mixtures: resolve, save (versioned), show, diff, export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ms = s.add_subparsers(dest="mix_cmd", metavar="ACTION", required=True)
    _with_common_args(ms)
    x = ms.add_parser("resolve", help="dry run: per-domain available / requested / drawn, warnings")
    _add_recipe_args(x)
    x.set_defaults(func=cmd_resolve)
    x = ms.add_parser("save", aliases=["new"], help="resolve and save NAME (a new version only when something changed)")
    x.add_argument("name")
    x.add_argument("--note")
    _add_recipe_args(x)
    x.set_defaults(func=cmd_save)
    x = ms.add_parser("list", help="saved mixtures (latest version of each)")
    x.add_argument("--format", choices=["table", "json", "jsonl"], default="table")
    x.set_defaults(func=cmd_list)
    x = ms.add_parser("show", help="a saved version: per-domain counts, staleness, warnings, preview")
    x.add_argument("ref", metavar="NAME[@v]")
    x.add_argument("--items", type=int, default=10, help="preview the first N items (0: none)")
    x.add_argument("--format", choices=["table", "json"], default="table")
    x.set_defaults(func=cmd_show)
    x = ms.add_parser("recipe", help="print a saved version's recipe as JSON")
    x.add_argument("ref", metavar="NAME[@v]")
    x.set_defaults(func=cmd_recipe)
    x = ms.add_parser("diff", help="recipe changes and items added/removed per domain between two versions")
    x.add_argument("name")
    x.add_argument("v1", type=int)
    x.add_argument("v2", type=int)
    x.add_argument("--format", choices=["table", "json"], default="table")
    x.set_defaults(func=cmd_diff)
    x = ms.add_parser("subset", help="save NAME/only:DOMAIN, the DOMAIN items of a version (specialist runs)")
    x.add_argument("ref", metavar="NAME[@v]")
    x.add_argument("domain")
    x.set_defaults(func=cmd_subset)
    x = ms.add_parser("export", help="write a version as JSONL/Parquet (messages, alpaca, sharegpt) in training order")
    x.add_argument("ref", metavar="NAME[@v]")
    x.add_argument("path")
    x.add_argument("--style", choices=["messages", "alpaca", "sharegpt"], default="messages")
    x.add_argument("--file-format", choices=["jsonl", "parquet"], help="default: from the suffix")
    x.add_argument("--dataset-info", metavar="PATH", help="write/merge LLaMA-Factory dataset_info.json entries")
    x.add_argument("--dataset-name", help="entry name (default NAME_vN; _stageK added per stage)")
    x.add_argument("--overwrite", action="store_true", help="replace existing dataset_info entries of that name")
    x.add_argument("--skip-mixup", action="store_true", help="leave out interpolation items (no text form)")
    x.set_defaults(func=cmd_export)
