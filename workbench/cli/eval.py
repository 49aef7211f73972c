"""CLI subcommands for evaluation: `workbench eval`, `evalset`, `rescore`, `conflict`, `compare`.

    workbench evalset mark POOL [--force] | unmark POOL | list | overlap MIXTURE --sets POOL,...
    workbench evalset answers POOL FILE [--key id --field ground_truth] [--no-call]   # BFCL possible answers
    workbench eval RUN --sets POOL,... [--max-items N --max-new-tokens N --batch-size N --device D --threads N]
    workbench eval --base-model MODEL --sets POOL,...      # the base model itself, as a run (zero-shot baseline)
    workbench rescore EVALUATION_ID
    workbench conflict RUN [--variant accuracy|loss --tau T --reference specialist|base] [--strict]
                           [--make-specialists] [--make-pairs [--pairs a+b,c+d]] [--items] [--matrix]
    workbench compare RUN RUN [...] [--strict]
Every command takes --format table|json (default table).
"""

from __future__ import annotations

import sys

from workbench.cli.kit import EXIT_USAGE, CliError, _dump, _fmt, _open_store, _print_rows, _progress, _sets


def _num(v, digits: int = 3):
    return None if v is None else round(float(v), digits)


def _out(obj, fmt: str, rows: list[dict] | None = None, columns: list[str] | None = None) -> None:
    if fmt == "json":
        _dump(obj)
    else:
        _print_rows(rows if rows is not None else (obj if isinstance(obj, list) else [obj]), "table", columns)


def cmd_evalset(args) -> int:
    from engine.evaluation import evaluate as ev

    with _open_store(args) as store:
        if args.action in ("mark", "unmark"):
            if not args.pool:
                raise CliError(f"evalset {args.action} needs a POOL", EXIT_USAGE)
            name = ev.set_role(store, args.pool, "eval" if args.action == "mark" else "train", force=args.force)
            items, skipped = ev.pool_items(store, name) if args.action == "mark" else ([], 0)
            res = {
                "pool": name,
                "role": "eval" if args.action == "mark" else "train",
                "checkable_items": len(items),
                "skipped": skipped,
                "scorers": sorted({it.scorer for it in items}),
            }
            _out(res, args.format)
        elif args.action == "list":
            rows = ev.eval_pools(store)
            for r in rows:
                items, skipped = ev.pool_items(store, r["id"])
                r["checkable"] = len(items)
                r["scorers"] = ",".join(sorted({it.scorer for it in items}))
                r["domains"] = ",".join(r["domains"])
            _out(rows, args.format, columns=["id", "name", "n_samples", "checkable", "scorers", "domains"])
        elif args.action == "answers":
            if not args.pool or not (args.file or args.no_call):
                raise CliError("evalset answers needs a POOL and FILE (or --no-call)", EXIT_USAGE)
            res = ev.attach_answers(store, args.pool, args.file, key=args.key, field=args.field, no_call=args.no_call)
            items, skipped = ev.pool_items(store, args.pool)
            res |= {"checkable_items": len(items), "skipped": skipped}
            _out(res, args.format)
        else:  # overlap
            from engine.mixtures import get_mixture

            if not args.pool or not args.sets:
                raise CliError("evalset overlap needs a MIXTURE and --sets POOL,...", EXIT_USAGE)
            mv = get_mixture(store, args.pool)
            rep = ev.overlap(store, mv.id, _sets(args.sets), threshold=args.threshold)
            res = {
                "mixture": mv.id,
                "n_train": rep.n_train,
                "n_eval": rep.n_eval,
                "exact": rep.exact,
                "near": rep.near,
                "warnings": rep.warnings,
            }
            _out(res, args.format, rows=rep.exact + rep.near)
            for w in rep.warnings:
                print(f"warning: {w}", file=sys.stderr)
    return 0


def cmd_eval(args) -> int:
    from engine.evaluation import evaluate as ev

    if not args.sets:
        raise CliError("give the eval sets: --sets POOL,...", EXIT_USAGE)
    if (args.run is None) == (args.base_model is None):
        raise CliError("give a RUN, or --base-model MODEL to evaluate the base model as a run", EXIT_USAGE)
    with _open_store(args) as store:
        run = args.run
        if args.base_model is not None:
            from engine.training.runs import create_run

            run = create_run(store, base_model=args.base_model, kind="base", reuse=True).id
        settings = ev.EvalSettings(
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            device=args.device,
            threads=args.threads,
            sandbox_unisolated=args.allow_unisolated_code,
        )
        with _progress("eval", getattr(args, "quiet", False)) as prog:
            res = ev.evaluate(store, run, _sets(args.sets), max_items=args.max_items, settings=settings, progress=prog)
        for w in dict.fromkeys(f"{r.eval_set}: {w}" for r in res for w in r.details.get("overlap_warnings") or []):
            print(f"warning: {w} (workbench evalset overlap MIXTURE --sets ... lists them)", file=sys.stderr)
        rows = [
            {
                "evaluation": r.id,
                "run": r.run_id,
                "eval_set": r.eval_set,
                "domain": r.domain,
                "metric": r.metric,
                "value": _num(r.value, 4),
                "n": r.n,
                "correct": r.details.get("n_correct") if r.metric == "accuracy" else None,
                "skipped": r.details.get("skipped"),
            }
            for r in res
        ]
        _out(rows, args.format)
    return 0


def cmd_rescore(args) -> int:
    from engine.evaluation import evaluate as ev

    with _open_store(args) as store:
        r = ev.rescore(store, args.evaluation)
        _out(
            {
                "evaluation": r.id,
                "run": r.run_id,
                "eval_set": r.eval_set,
                "domain": r.domain,
                "metric": r.metric,
                "value": _num(r.value, 4),
                "n": r.n,
                "correct": r.details.get("n_correct"),
            },
            args.format,
        )
    return 0


def _pairs_arg(text: str | None) -> list[tuple[str, str]] | None:
    if not text:
        return None
    out = []
    for part in _sets(text):
        ab = [x.strip() for x in part.split("+")]
        if len(ab) != 2 or not all(ab):
            raise CliError(f"--pairs: write pairs as a+b separated by commas (got {part!r})", EXIT_USAGE)
        out.append((ab[0], ab[1]))
    return out


def _matrix_rows(m: dict) -> list[dict]:
    """The interference matrix as table rows: cell = outcome / gradient share ('-' where empty)."""

    def f(v, nd):
        return "-" if v is None else f"{v:.{nd}f}"

    return [
        {"domain": a, **{b: f"{f(m['outcome'][a][b], 3)} / {f(m['gradient'][a][b], 2)}" for b in m["domains"]}}
        for a in m["domains"]
    ]


def cmd_conflict(args) -> int:
    from engine.evaluation import conflict as cf

    with _open_store(args) as store:
        made = pairs = None
        if args.pairs and not args.make_pairs:
            raise CliError("--pairs goes with --make-pairs", EXIT_USAGE)
        if args.make_specialists:
            made = cf.ensure_specialists(store, args.run, domains=_sets(args.domains) or None)
            print(
                "specialists: "
                + ", ".join(f"{d} -> run {r}" for d, r in made.items())
                + " (train them, then evaluate them on the same sets)",
                file=sys.stderr,
            )
        if args.make_pairs:
            pairs = cf.ensure_pair_runs(store, args.run, pairs=_pairs_arg(args.pairs))
            from engine.evaluation.evaluate import get_run_row

            print(
                "pair runs: "
                + ", ".join(f"{a}+{b} -> run {r} ({get_run_row(store, r).status})" for (a, b), r in pairs.items())
                + " (train them, then evaluate them and their specialists on the same sets)",
                file=sys.stderr,
            )
        try:
            res = cf.conflict_rate(
                store, args.run, variant=args.variant, tau=args.tau, reference=args.reference, strict=args.strict
            )
        except cf.ConflictError as e:
            if (made is None and pairs is None) or isinstance(e, cf.SettingsMismatch):
                raise
            # the runs were queued; the run itself is not evaluated yet: report what was made
            out = {"run": args.run, "note": str(e)}
            if made is not None:
                out["specialists"] = made
            if pairs is not None:
                out["pair_runs"] = {f"{a}|{b}": r for (a, b), r in pairs.items()}
            _out(
                out,
                args.format,
                rows=[{"pair": f"{a}+{b}", "run": r} for (a, b), r in (pairs or {}).items()]
                or [{"domain": d, "run": r} for d, r in (made or {}).items()],
            )
            if args.format != "json":
                print(f"note: {e}", file=sys.stderr)
            return 0
        out = res.to_dict()
        if made is not None:
            out["specialists"] = made
        if pairs is not None:
            out["pair_runs"] = {f"{a}|{b}": r for (a, b), r in pairs.items()}
        if args.items:
            out["items"] = cf.conflicting_items(
                store, args.run, variant=args.variant, tau=args.tau, reference=args.reference, strict=args.strict
            )
        matrix = None
        if args.matrix:
            matrix = out["matrix"] = cf.interference_matrix(store, args.run, variant=args.variant, tau=args.tau)
        rows = [
            {
                "domain": d.domain,
                "shared": d.n_shared,
                "left out (run/ref)": f"{d.dropped_run}/{d.dropped_reference}",
                "compared": d.n,
                "conflicts": d.conflicts,
                cf.LABELS["rate"]: _num(d.rate) if d.rate is not None else (d.note or "-"),
                cf.LABELS["conditional_conflict_rate"]: _num(d.conditional_conflict_rate),
                cf.LABELS["gain_rate"]: _num(d.gain_rate),
                "metric": d.metric,
                "score": _num(d.score),
                "Δ spec": _num(d.delta_vs_specialist),
                "Δ base": _num(d.delta_vs_base),
                "ref run": d.reference_run,
            }
            for d in res.domains.values()
        ]
        rows.append(
            {
                "domain": "(pooled)",
                "shared": res.n_shared,
                "left out (run/ref)": f"{res.dropped_run}/{res.dropped_reference}",
                "compared": res.n,
                "conflicts": res.conflicts,
                cf.LABELS["rate"]: res.label(),
                cf.LABELS["conditional_conflict_rate"]: _num(res.conditional_conflict_rate),
                cf.LABELS["gain_rate"]: _num(res.gain_rate),
            }
        )
        _out(out, args.format, rows=rows)
        if args.format != "json":
            if matrix is not None:
                print(
                    "\ninterference matrix (ours): row = evaluated domain, column = trained alongside; "
                    "cell = conflict rate from the {row, column} run (diagonal: this run) / gradient share"
                )
                _out(None, "table", rows=_matrix_rows(matrix), columns=["domain", *matrix["domains"]])
                print(f"filled: {matrix['filled']} of {matrix['n_cells']} off-diagonal outcome cells", file=sys.stderr)
                for k, c in matrix["cells"].items():
                    print(f"  {k.replace('|', '+')}: {c['how']}", file=sys.stderr)
            print(f"{cf.DEFINITION} variant={res.variant}, tau={res.tau:g}, reference={res.reference}", file=sys.stderr)
            if res.partial:
                print(
                    f"partial: pooled over {', '.join(res.covered_domains) or 'no domain'} only; {res.partial_note}",
                    file=sys.stderr,
                )
            for w in res.warnings:
                print(f"warning: {w}", file=sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from engine.evaluation import conflict as cf

    with _open_store(args) as store:
        from engine.evaluation.evaluate import get_run_row

        ids = [get_run_row(store, r).id for r in args.runs]
        res = cf.compare(store, ids, variant=args.variant, tau=args.tau, strict=args.strict)
        rows = []
        for r in res["runs"]:
            for d, x in r["domains"].items():
                rows.append(
                    {
                        "run": r["id"],
                        "name": r["name"],
                        "recipe": r["recipe"],
                        "protocol": r["protocol"],
                        "domain": d,
                        "metric": x["metric"],
                        "score": _num(x["score"]),
                        "delta_vs_specialist": _num(x["delta_vs_specialist"]),
                        "delta_vs_base": _num(x["delta_vs_base"]),
                        cf.LABELS["rate"]: _num(x["conflict_rate"])
                        if x["conflict_rate"] is not None
                        else (x.get("missing_note") or "-")
                        if x["kind"] == "mixture"
                        else None,
                        cf.LABELS["conditional_conflict_rate"]: _num(x["conditional_conflict_rate"]),
                        cf.LABELS["gain_rate"]: _num(x["gain_rate"]),
                        "shared": x["n_shared"],
                        "pooled": x["pooled_label"],
                    }
                )
        _out(res, args.format, rows=rows)
        if args.format != "json":
            if "shared" in res:
                print("\non the items both runs were evaluated on (B - A):")
                _out(
                    None,
                    "table",
                    rows=[
                        {
                            "domain": d,
                            "shared": x["n_shared"],
                            "left out (A/B)": f"{x['dropped_a']}/{x['dropped_b']}",
                            "metric": x["metric"],
                            "A": _num(x["score_a"]),
                            "B": _num(x["score_b"]),
                            "B - A": _num(x["delta"]),
                            **res["items"].get(d, {}),
                        }
                        for d, x in res["shared"].items()
                    ],
                )
            for w in res["warnings"]:
                print(f"warning: {w}", file=sys.stderr)
    return 0


def register(sub) -> None:
    """Add this area's subcommands to the `workbench` parser (`sub` = its subparsers)."""
    s = sub.add_parser(
        "evalset",
        help="mark/unmark a pool as an eval set, list them, attach answers (BFCL), check overlap with a mixture",
    )
    s.add_argument("action", choices=["mark", "unmark", "list", "overlap", "answers"])
    s.add_argument("pool", nargs="?", help="pool name or id (overlap: the mixture name or id)")
    s.add_argument("file", nargs="?", help="answers: a JSON/JSONL file of {id, ground_truth} (BFCL possible_answer)")
    s.add_argument("--key", default="id", help="answers: the id field in both (default id)")
    s.add_argument("--field", default="ground_truth", help="answers: the answer field (default ground_truth)")
    s.add_argument(
        "--no-call", action="store_true", help="answers: samples without an answer expect no call (BFCL irrelevance)"
    )
    s.add_argument("--force", action="store_true", help="mark even if saved mixtures drew from the pool")
    s.add_argument("--sets", help="overlap: eval pools, comma separated")
    s.add_argument("--threshold", type=float, default=0.5, help="overlap: near-duplicate Jaccard threshold")
    _fmt(s)
    s.set_defaults(func=cmd_evalset)

    s = sub.add_parser("eval", help="evaluate a run (or the base model) on eval sets: generation in a child process")
    s.add_argument("run", nargs="?", help="run id or name")
    s.add_argument("--sets", help="eval pools, comma separated")
    s.add_argument("--base-model", help="evaluate this base model as a run (zero-shot baseline) instead of RUN")
    s.add_argument("--max-items", type=int, help="at most this many items per eval set")
    s.add_argument("--max-new-tokens", type=int, default=256)
    s.add_argument("--batch-size", type=int, default=8)
    s.add_argument("--device", default="auto")
    s.add_argument("--threads", type=int, help="torch CPU threads in the worker (default: half the cores)")
    s.add_argument(
        "--allow-unisolated-code",
        action="store_true",
        help="run generated code even where the kernel sandbox (bubblewrap) is unavailable: only for code you trust",
    )
    _fmt(s)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("rescore", help="re-check an evaluation's stored outputs (no generation)")
    s.add_argument("evaluation", type=int, help="evaluation id (see workbench eval output)")
    _fmt(s)
    s.set_defaults(func=cmd_rescore)

    from engine.evaluation.conflict import DEFAULT_TAU

    def knobs(p):
        p.add_argument("--variant", choices=["accuracy", "loss"], default="accuracy")
        p.add_argument(
            "--tau",
            type=float,
            default=DEFAULT_TAU,
            help=f"loss variant: NLL margin (nats/token) counted as a conflict or a gain "
            f"(default {DEFAULT_TAU:g}: above the numerical noise of two evaluations)",
        )
        p.add_argument(
            "--strict",
            action="store_true",
            help="refuse (exit 1) when the evaluations compared differ in a generation setting "
            "(max_new_tokens, greedy, temperature, max_items, prompt/chat template...); "
            "default: a warning",
        )

    s = sub.add_parser("conflict", help="Conflict Rate of a run vs its specialists (our definition; see docs)")
    s.add_argument("run", help="run id or name")
    knobs(s)
    s.add_argument("--reference", choices=["specialist", "base"], default="specialist")
    s.add_argument(
        "--make-specialists",
        action="store_true",
        help="create (or reuse) one single-domain run per domain with the same settings (queued)",
    )
    s.add_argument("--domains", help="with --make-specialists: only these domains")
    s.add_argument(
        "--make-pairs",
        action="store_true",
        help="create (or reuse) one two-domain run per pair of the run's domains with the same settings "
        "(queued): they fill the outcome half of the interference matrix",
    )
    s.add_argument("--pairs", help="with --make-pairs: only these pairs, e.g. math+code,math+general")
    s.add_argument("--items", action="store_true", help="include the conflicting items (JSON)")
    s.add_argument(
        "--matrix",
        action="store_true",
        help="include the domain-pair interference matrix: which cells are filled, how to fill the rest",
    )
    _fmt(s)
    s.set_defaults(func=cmd_conflict)

    s = sub.add_parser("compare", help="runs side by side: per-domain scores, deltas, conflict rates")
    s.add_argument("runs", nargs="+", help="run ids or names")
    knobs(s)
    _fmt(s)
    s.set_defaults(func=cmd_compare)
