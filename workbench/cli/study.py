"""Studies: `workbench study ...` plans, queues, evaluates and reads back a grid of runs (engine/studies;
docs/studies.md).

    workbench study new NAME --template targeted --selection math500 --sets eval_math [--budgets 50,100] [--seeds 0,1]
    workbench study new NAME --template quantiles --selection mq --sets eval_math        # mq-q0 .. mq-q9
    workbench study new NAME --template growth --mixture m1 [--fractions 1/64,1/16,1/4,1 | --points 5 --step 4]
        [--models A,B] [--provenances human,synthetic]   # growth per base model / per data provenance
    workbench study new NAME --template ratio --mixture m1 --domains code,math [--ratios 0,0.5,1] [--total 400]
    workbench study new NAME --template protocols --mixture m1 --general general [--protocols ...] [--replay 1/256]
    workbench study new NAME --template cross --mixture m1 [--domains math,code]       # each domain alone
    workbench study list | plan NAME | launch NAME [--wait] | status NAME | eval NAME | show NAME
    workbench study extend NAME [--seeds 1,2] [--fractions 1/2] [--budgets ...] [--sets POOL,...] [--launch]
    workbench study allocate NAME --budget 2000 [--weight math=2] [--save MIXTURE]   # growth studies
    workbench study report NAME --out DIR        # PNG and SVG figures, report.md and report.html with the tables

`new --launch` queues the cells at once; `--wait` stays in the foreground, ticking the run queue until every
cell has finished, then evaluates them on the study's eval sets and prints the reading (Ctrl-C stops waiting;
the queued runs stay queued for the app, or for `launch --wait` again).
"""

from __future__ import annotations

import argparse
import sys
import time

from workbench.cli.kit import (
    EXIT_USAGE,
    CliError,
    _dump,
    _open_store,
    _print_rows,
    _progress,
    _sigint_cancels,
    _with_common_args,
)


def _list_of(kind, what: str):
    def parse(text: str):
        out = []
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.append(kind(part))
            except ValueError:
                raise argparse.ArgumentTypeError(f"{what}: {part!r} is not {kind.__doc__}") from None
        if not out:
            raise argparse.ArgumentTypeError(f"{what}: give at least one value")
        return out

    return parse


def _whole(text: str) -> int:
    """a whole number"""
    return int(text)


def _fraction(text: str) -> float:
    """a number (0.25, 1/4 or 25%)"""
    from engine.mixtures import MixtureError, parse_fraction

    try:
        return parse_fraction(text)
    except MixtureError:
        raise ValueError(text) from None


def _protocol(text: str) -> str:
    """one of multi_task, sequential, multi_stage"""
    if text not in ("multi_task", "sequential", "multi_stage"):
        raise ValueError(text)
    return text


def _weight(text: str) -> tuple[str, float]:
    dom, sep, w = str(text).partition("=")
    try:
        if not sep or not dom.strip():
            raise ValueError
        return dom.strip(), float(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--weight {text!r}: expected DOMAIN=NUMBER, e.g. math=2") from None


def _names(text: str) -> list[str]:
    return [x.strip() for x in str(text or "").split(",") if x.strip()]


def _fmt_s(s) -> str:
    if s is None:
        return "-"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _num(v, digits: int = 4):
    return None if v is None else round(float(v), digits)


# -- arguments ----------------------------------------------------------------------------------------------------


def _axis_args(p) -> None:
    g = p.add_argument_group("axes (comma separated; defaults per template)")
    g.add_argument("--budgets", type=_list_of(_whole, "--budgets"), help="targeted: budgets (default k/8,k/4,k/2,k)")
    g.add_argument("--quantiles", type=_list_of(_whole, "--quantiles"), help="quantiles: which (default all)")
    g.add_argument(
        "--fractions", type=_list_of(_fraction, "--fractions"), help="growth: fractions of the base volume (1/16, 0.5)"
    )
    g.add_argument("--ratios", type=_list_of(_fraction, "--ratios"), help="ratio: shares of the first domain")
    g.add_argument("--protocols", type=_list_of(_protocol, "--protocols"), help="protocols: which (default all three)")
    g.add_argument("--seeds", type=_list_of(_whole, "--seeds"), help="seeds (default 0): mixture draw and training")
    g.add_argument(
        "--models",
        help="growth: several base models (folders, .gguf files or hub ids, comma separated), each with its own "
        "curves and base-model cell; the growth pace is read against model size",
    )
    g.add_argument(
        "--provenances",
        help="growth: one curve per provenance of the training data (human, synthetic, mixed, unknown), drawn from "
        "the base mixture's pools of that provenance only",
    )


def _axes(args) -> dict:
    pairs = (
        ("budget", args.budgets),
        ("quantile", args.quantiles),
        ("fraction", args.fractions),
        ("ratio", args.ratios),
        ("protocol", args.protocols),
        ("seed", args.seeds),
    )
    out = {a: v for a, v in pairs if v is not None}
    if getattr(args, "models", None):
        out["model"] = _names(args.models)
    if getattr(args, "provenances", None):
        out["provenance"] = _names(args.provenances)
    if getattr(args, "template", None) == "cross" and getattr(args, "domains", None):
        out["domain"] = _names(args.domains)
    return out


def _eval_args(g, *, extend: bool = False) -> None:
    g.add_argument(
        "--sets", help="eval sets (eval pools), comma separated" + (": added to the study's" if extend else "")
    )


def _run_args(p) -> None:
    g = p.add_argument_group("runs (each cell's training; defaults: workbench train's)")
    g.add_argument("--base-model", default=None, help="model folder, .gguf file or cached hub id (default smollm2)")
    g.add_argument("--lora-r", type=int)
    g.add_argument("--lora-alpha", type=int)
    g.add_argument("--lora-targets", help="comma separated module names, or all-linear")
    g.add_argument("--epochs", type=float)
    g.add_argument("--max-steps", type=int)
    g.add_argument("--lr", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--grad-accum", type=int)
    g.add_argument("--max-len", type=int)
    g.add_argument("--protocol", type=_protocol, help="every cell's protocol (not the protocols template's axis)")
    g.add_argument("--order", help="sequential: domains in training order, comma separated")
    g.add_argument("--device", help="auto (default), cpu, cuda: training and evaluation")
    g.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other TrainSettings field (repeatable)")
    g = p.add_argument_group("evaluation of finished cells")
    _eval_args(g)
    g.add_argument("--max-items", type=int, help="items per eval set (default all)")
    g.add_argument("--max-new-tokens", type=int)
    g.add_argument("--eval-batch-size", type=int)
    g.add_argument("--threads", type=int, help="torch CPU threads of the evaluation worker")


def _run_settings(args) -> dict:
    from workbench.cli.train import lora_train_settings

    lora, train = lora_train_settings(args)
    run: dict = {"lora": lora, "train": train}
    if args.base_model:
        run["base_model"] = args.base_model
    if args.protocol:
        run["protocol"] = args.protocol
    if args.order:
        run["order"] = _names(args.order)
    return run


def _eval_settings(args) -> dict:
    ev = {"sets": _names(args.sets)}
    for k, v in (
        ("max_items", args.max_items),
        ("max_new_tokens", args.max_new_tokens),
        ("batch_size", args.eval_batch_size),
        ("device", args.device),
        ("threads", args.threads),
    ):
        if v is not None:
            ev[k] = v
    return ev


# -- output -------------------------------------------------------------------------------------------------------


def _print_plan(p, fmt: str) -> None:
    d = p.to_dict()
    if fmt == "json":
        _dump(d)
        return
    rows = [
        {
            "cell": c.key,
            "state": c.state,
            "run": c.run_id,
            "items": c.n_items,
            "tokens": c.n_tokens,
            "domains": ", ".join(f"{k} {v}" for k, v in c.per_domain.items()),
            "time": _fmt_s(c.estimate_s) if c.arm != "base" else "-",
        }
        for c in p.cells
    ]
    _print_rows(rows, "table", ["cell", "state", "run", "items", "tokens", "domains", "time"])
    total = f", about {_fmt_s(d['estimate_s'])} of training in all" if d["estimate_s"] is not None else ""
    print(f"{d['n_runs']} training run(s) in the grid (and the base model), {d['n_new']} to queue{total}")
    for n in p.notes:
        print(f"note: {n}")


def _print_status(rows: list[dict], fmt: str) -> None:
    if fmt == "json":
        _dump(rows)
        return
    out = []
    for r in rows:
        p = r.get("progress") or {}
        step = f"{p.get('step', 0)}/{p['total']}" if p.get("total") else ""
        out.append(
            {"cell": r["key"], "state": r["state"], "run": r.get("run_id"), "step": step, "error": r.get("error")}
        )
    _print_rows(out, "table", ["cell", "state", "run", "step", "error"])
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))


def _fit_line(f: dict | None) -> str:
    if not f:
        return "-"
    p, e = f["params"], f["stderr"]

    def pm(k):
        return f"{p[k]:.4g}" + (f"±{e[k]:.2g}" if e.get(k) is not None else "")

    if f["kind"] == "loglinear":
        body = f"{pm('a')} + {pm('b')}·ln x"
    else:
        body = f"{pm('c')} + {pm('a')}·x^-{pm('alpha')}"
    r2 = f", R² {f['r2']:.3f}" if f.get("r2") is not None else ""
    return f"{body} (RMSE {f['rmse']:.3g}{r2}{'; ' + f['note'] if f.get('note') else ''})"


def _stat(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "-"
    return f"{s['mean']:.4f}" + (f" ±{s['sd']:.3f}" if s.get("sd") is not None else "")


def _print_reading(res: dict) -> None:
    from engine.studies.reading import score_table

    cells = res["cells"]
    table = score_table(cells)
    doms = [k for k in (table[0] if table else {}) if k not in ("cell", "arm", "state", "run", "items")]
    _print_rows(
        [{**r, **{d: "" if r[d] is None else f"{r[d]:.4f}" for d in doms}} for r in table],
        "table",
        ["cell", "state", "run", "items", *doms],
    )
    reading = res["reading"]
    for dom, g in (reading.get("growth") or {}).items():
        print(f"\n{dom} ({g['metric']}; x = {g['x']}); base model {_num(g['base'])}")
        _print_rows(
            [{"fraction": p["fraction"], "x": round(p["x"]), "score": _stat(p), "seeds": p["n"]} for p in g["points"]],
            "table",
        )
        pace = g.get("pace")
        print(f"  log-linear: {_fit_line(g['loglinear'])}")
        print(f"  power law:  {_fit_line(g['power'])}")
        if pace:
            print(f"  growth pace: {pace['per_doubling']:+.4f} per doubling of its data")
    _print_series(reading)
    for dom, t in (reading.get("budgets") or {}).items():
        print(f"\n{dom} ({t['metric']}); base model {_num(t['base'])}")
        _print_rows(
            [
                {
                    "budget": b["budget"],
                    "targeted": _stat(b["targeted"]),
                    "random": _stat(b["random"]),
                    "targeted-random": _num(b["targeted_minus_random"]),
                    "targeted-base": _num(b["targeted_minus_base"]),
                }
                for b in t["budgets"]
            ],
            "table",
        )
    for dom, q in (reading.get("quantiles") or {}).items():
        rho = q["spearman_chamfer"]
        print(
            f"\n{dom} ({q['metric']}); random {_stat(q['random'])}; base model {_num(q['base'])}"
            + (f"; Spearman(Chamfer distance, score) {rho:+.3f}" if rho is not None else "")
        )
        _print_rows(
            [
                {"quantile": r["quantile"], "chamfer": _num(r["chamfer"]), "ot": _num(r["ot"]), "score": _stat(r)}
                for r in q["quantiles"]
            ],
            "table",
        )
    for dom, r in (reading.get("ratio") or {}).items():
        line = r["line"]
        fit = (
            f"; line slope {line['slope']:+.4f}" + (f", R² {line['r2']:.3f}" if line["r2"] is not None else "")
            if line
            else ""
        )
        print(
            f"\n{dom} ({r['metric']}) by share of {r['share_of']}: peaks at {r['peak_ratio']}{fit}; base {_num(r['base'])}"
        )
        _print_rows([{"ratio": x["ratio"], "score": _stat(x)} for x in r["ratios"]], "table")
    cross = reading.get("cross")
    if cross:
        print("\ncross-ability matrix: a domain trained alone (row) -> each eval domain's change from the base model")
        _print_rows(
            [
                {"trained on": t, **{d: _num(v["minus_base"]) for d, v in row.items()}}
                for t, row in cross["matrix"].items()
            ],
            "table",
        )
        if cross["mean_transfer"] is not None:
            print(f"mean change of the other domains (better = positive): {cross['mean_transfer']:+.4f}")
    pr = reading.get("protocols")
    if pr:
        for dom, d in pr["domains"].items():
            print(f"\n{dom} ({d['metric']}); base model {_num(d['base'])}")
            _print_rows(
                [
                    {"protocol": p, "score": _stat(v), "minus base": _num(v["minus_base"])}
                    for p, v in d["protocols"].items()
                ],
                "table",
            )
        if pr["conflict"]:
            print(
                "\nConflict Rate against the base model (ours): "
                + ", ".join(f"{p} {_stat(v)}" for p, v in pr["conflict"].items())
            )


def _size(n) -> str:
    if not n:
        return "?"
    for unit, k in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= k:
            return f"{n / k:.3g}{unit}"
    return str(n)


def _print_series(reading: dict) -> None:
    """A growth study split by model or provenance: every series' pace, the pace against model size, and each
    provenance's pace and score at its largest volume."""
    series = reading.get("series") or []

    def label(s: dict) -> str:
        return " ".join(x for x in (s["model_label"] and f"model {s['model_label']}", s["provenance"]) if x)

    if len(series) > 1 and reading.get("growth"):
        print(f"\n(the curves above: {label(series[0])}; the other series below, every curve in --format json)")
    for s in series[1:]:
        for dom, g in s["growth"].items():
            pace = g.get("pace")
            pts = ", ".join(f"{round(p['x'])}: {_stat(p)}" for p in g["points"])
            print(
                f"{label(s)} · {dom}: {pts}"
                + (f"; pace {pace['per_doubling']:+.4f} per doubling" if pace else "")
                + f"; base {_num(g['base'])}"
            )
    if reading.get("paces"):
        print("\ngrowth pace per doubling of the domain's data, per series")
        _print_rows(
            [
                {
                    "domain": d,
                    "model": p["model"] or "",
                    "provenance": p["provenance"] or "",
                    "pace": _num(p["pace"]),
                    "±": _num(p["stderr"]),
                }
                for d, ps in reading["paces"].items()
                for p in ps
            ],
            "table",
        )
    for m in reading.get("model_size") or []:
        pv = f" ({m['provenance']} data)" if m["provenance"] else ""
        by = ", ".join(f"{x['model']} [{_size(x['params'])}] {_num(x['pace'])}" for x in m["by_model"])
        slope = (
            "no slope"
            if m["slope"] is None
            else f"{m['slope']:+.4f} per {'10x parameters' if m['basis'] == 'log10 parameters' else 'step up the order given'}"
        )
        print(
            f"\n{m['domain']}{pv}: pace by model size: {by}; change of pace {slope}"
            + (f" ({m['note']})" if m["note"] else "")
        )
    for c in reading.get("provenance") or []:
        who = f" · model {c['model']}" if c["model"] else ""
        parts = []
        for pv, pace in c["paces"].items():
            top = c["largest"].get(pv)
            at = f", {top['mean']:.4f} at {round(top['x'])} items" if top else ""
            parts.append(f"{pv} pace {_num(pace)}{at}")
        print(f"\n{c['domain']} ({c['metric']}){who} by provenance: " + "; ".join(parts))


# -- commands -----------------------------------------------------------------------------------------------------


def _wait(store, name: str, quiet: bool) -> bool:
    """Tick the run queue until every launched cell of the study has finished; False when Ctrl-C stopped waiting."""
    from engine.studies import status
    from engine.training import runs as R

    last = ""
    try:
        while True:
            for e in R.tick(store):
                if not quiet:
                    print(f"workbench: {e}", file=sys.stderr)
            rows = status(store, name)
            active = [r for r in rows if r["state"] in ("queued", "running")]
            line = f"{len(rows) - len(active)}/{len(rows)} cells finished"
            if line != last and not quiet:
                print(f"workbench: {line}", file=sys.stderr)
                last = line
            if not active:
                return True
            time.sleep(1.0)
    except KeyboardInterrupt:
        print(
            f"\nworkbench: stopped waiting; the queued runs stay queued (workbench study launch {name} --wait)",
            file=sys.stderr,
        )
        return False


def _launch(store, args, name: str) -> int:
    from engine.studies import evaluate_study, launch, read_study

    got = launch(store, name)
    if args.format == "json" and not args.wait:
        _dump([vars(x) for x in got])
    elif not args.quiet:
        counts: dict[str, int] = {}
        for x in got:
            counts[x.what] = counts.get(x.what, 0) + 1
        print(
            f"study {name}: {len(got)} cell(s): " + ", ".join(f"{n} {w}" for w, n in sorted(counts.items())),
            file=sys.stderr,
        )
    if not args.wait:
        if args.format != "json":
            print(f"the app runs the queue; or: workbench study launch {name} --wait")
        return 0
    if not _wait(store, name, args.quiet):
        return 130
    if not getattr(args, "no_eval", False):
        from engine.studies import get_study

        if get_study(store, name).eval.get("sets"):
            with _progress(f"evaluate {name}", args.quiet) as prog, _sigint_cancels() as cancel:
                evaluate_study(store, name, progress=prog, cancel=cancel)
        elif not args.quiet:
            print(
                f"workbench: no eval sets to evaluate on (workbench study extend {name} --sets POOL,...)",
                file=sys.stderr,
            )
    res = read_study(store, name)
    if args.format == "json":
        _dump(res)
    else:
        _print_reading(res)
    return 0


def cmd_study(args) -> int:
    from engine import studies as S

    action = args.study_cmd
    with _open_store(args) as store:
        if action == "new":
            ref = args.selection if args.template in ("targeted", "quantiles") else args.mixture
            if not ref:
                need = "--selection NAME" if args.template in ("targeted", "quantiles") else "--mixture MIXTURE[@v]"
                raise CliError(f"the {args.template} template needs {need}", EXIT_USAGE)
            options = {
                "domains": _names(args.domains) if args.domains and args.template == "ratio" else None,
                "total": args.total,
                "general": _names(args.general) if args.general else None,
                "replay": args.replay,
            }
            st = S.new_study(
                store,
                args.name,
                args.template,
                ref,
                axes=_axes(args),
                points=args.points,
                step=args.step,
                run=_run_settings(args),
                options=options,
                eval=_eval_settings(args),
                note=args.note,
            )
            if args.launch:
                return _launch(store, args, st.name)
            if args.format == "json":
                _dump(st.to_dict())
            else:
                n = len([c for c in S.cells(st.template, st.axes) if c.arm != "base"])
                axes = "; ".join(f"{a}: {', '.join(map(str, v))}" for a, v in st.axes.items())
                nb = len(st.axes.get("model") or []) or 1
                bases = "the base model" if nb == 1 else f"{nb} base models"
                print(f"study {st.name} ({st.template}): {n} training run(s) and {bases}; {axes}")
                print(f"next: workbench study plan {st.name}, then workbench study launch {st.name}")
            return 0
        if action == "list":
            rows = []
            for st in S.list_studies(store):
                states: dict[str, int] = {}
                for r in S.status(store, st.name):
                    states[r["state"]] = states.get(r["state"], 0) + 1
                base = st.base.get("mixture") or st.base.get("selection") or st.base.get("selections")
                rows.append(
                    {
                        "name": st.name,
                        "template": st.template,
                        "base": base,
                        "cells": sum(states.values()),
                        "states": ", ".join(f"{n} {s}" for s, n in sorted(states.items())),
                    }
                )
            if args.format == "json":
                _dump(rows)
            elif rows:
                _print_rows(rows, "table")
            else:
                print("no studies yet (workbench study new NAME --template ...)")
            return 0
        if action == "plan":
            _print_plan(S.plan(store, args.name), args.format)
            return 0
        if action == "launch":
            return _launch(store, args, args.name)
        if action == "status":
            _print_status(S.status(store, args.name), args.format)
            return 0
        if action == "eval":
            with _progress(f"evaluate {args.name}", args.quiet) as prog, _sigint_cancels() as cancel:
                res = S.evaluate_study(store, args.name, progress=prog, cancel=cancel)
            if args.format == "json":
                _dump(res)
            else:
                print(f"{len(res['evaluated'])} cell(s) evaluated; {len(res['waiting'])} not finished yet")
            return 0
        if action == "show":
            res = S.read_study(store, args.name)
            if args.format == "json":
                _dump(res)
            else:
                _print_reading(res)
            return 0
        if action == "report":
            from engine.studies.report import write_report

            res = write_report(store, args.name, args.path, html_page=not args.no_html)
            if args.format == "json":
                _dump(res)
            else:
                print(f"study {res['study']}: {len(res['files'])} file(s) in {res['folder']}")
                for f in res["files"]:
                    print(f"  {f}")
            return 0
        if action == "allocate":
            res = S.allocate_study(
                store, args.name, args.budget, weights=dict(args.weight or []), step=args.step, save_as=args.new_name
            )
            if args.format == "json":
                _dump(res)
                return 0
            a = res["allocation"]
            print(f"proposed split of {a['budget']:,} items (ours: marginal gains over the fitted growth curves)")
            _print_rows(
                [
                    {
                        "domain": d,
                        "items": n,
                        "share": f"{n / a['budget']:.1%}",
                        "curve": res["curves"].get(d, "none: base share"),
                        "predicted": _num(a["predicted"].get(d)),
                    }
                    for d, n in a["amounts"].items()
                ],
                "table",
            )
            for line in a["reasoning"]:
                print(f"  {line}")
            if res["mixture"]:
                print(f"saved as mixture {res['mixture']}")
            return 0
        if action == "extend":
            new = S.extend(store, args.name, axes=_axes(args), eval_sets=_names(args.sets) or None)
            if args.format == "json" and not args.launch:
                _dump([{"key": c.key, "arm": c.arm, "params": c.params} for c in new])
            elif not args.quiet:
                print(
                    f"study {args.name}: {len(new)} new cell(s)"
                    + (": " + "; ".join(c.key for c in new) if new else ""),
                    file=sys.stderr,
                )
            if args.launch:
                return _launch(store, args, args.name)
            return 0
    return 2


def register(sub) -> None:
    """Add `study` to the `workbench` parser (`sub` = its subparsers)."""
    s = sub.add_parser(
        "study",
        help="studies: a grid of runs planned, queued, evaluated and read back as curves",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ss = s.add_subparsers(dest="study_cmd", metavar="ACTION", required=True)
    _with_common_args(ss)
    x = ss.add_parser("new", help="make a study (add --launch to queue it at once)")
    x.add_argument("name")
    x.add_argument(
        "--template",
        required=True,
        choices=["targeted", "quantiles", "growth", "ratio", "protocols", "cross"],
        help="the grid",
    )
    x.add_argument("--selection", help="targeted: a targeted selection; quantiles: the NAME of NAME-q0 .. NAME-q9")
    x.add_argument("--mixture", help="growth, ratio, protocols, cross: the base mixture version (NAME or NAME@v)")
    _axis_args(x)
    g = x.add_argument_group("template options")
    g.add_argument("--points", type=int, help="growth: how many log-spaced volumes (default 5)")
    g.add_argument("--step", type=float, help="growth: each volume STEP times the one before (default 4)")
    g.add_argument(
        "--domains", help="ratio: the two domains (default code,math); cross: the domains trained alone (default all)"
    )
    g.add_argument("--total", type=int, help="ratio: items per cell (default the smaller domain's)")
    g.add_argument("--general", help="protocols: the general domain(s) trained last (default: general)")
    g.add_argument("--replay", type=_fraction, help="protocols: multi-stage replay share (default 1/256, DMT)")
    _run_args(x)
    x.add_argument("--note")
    x.add_argument("--launch", action="store_true", help="queue the cells now")
    x.add_argument("--wait", action="store_true", help="with --launch: run the queue, evaluate, show")
    x.add_argument("--no-eval", action="store_true", help="with --wait: do not evaluate")
    x.add_argument("--format", choices=["table", "json"], default="table")
    x.set_defaults(func=cmd_study)
    x = ss.add_parser("list", help="every study with its cells' states")
    x.add_argument("--format", choices=["table", "json"], default="table")
    x.set_defaults(func=cmd_study)
    for action, help_ in (
        ("plan", "what launching would queue: runs, volume and estimated time per cell"),
        ("status", "each cell's state: planned, queued, running, done, failed, evaluated"),
        ("eval", "evaluate every finished cell on the study's eval sets (one worker)"),
        ("show", "per-cell scores and the template's reading (curves, fits, baselines)"),
    ):
        x = ss.add_parser(action, help=help_)
        x.add_argument("name")
        x.add_argument("--format", choices=["table", "json"], default="table")
        x.set_defaults(func=cmd_study)
    x = ss.add_parser("report", help="write the study as a report: PNG and SVG figures, a Markdown and an HTML page")
    x.add_argument("name")
    x.add_argument(
        "--out", dest="path", required=True, metavar="DIR", help="the folder to write into (made if missing)"
    )
    x.add_argument("--no-html", action="store_true", help="only the Markdown page and the figures")
    x.add_argument("--format", choices=["table", "json"], default="table")
    x.set_defaults(func=cmd_study)
    x = ss.add_parser("allocate", help="growth: split a budget across domains by the fitted curves (ours)")
    x.add_argument("name")
    x.add_argument("--budget", type=int, help="items to split (default: the base mixture's budget)")
    x.add_argument("--weight", action="append", type=_weight, metavar="DOMAIN=W", help="a domain's weight (default 1)")
    x.add_argument("--step", type=int, help="items per greedy step (default budget/1000)")
    x.add_argument("--save", dest="new_name", metavar="MIXTURE", help="save the split as a new version of MIXTURE")
    x.add_argument("--format", choices=["table", "json"], default="table")
    x.set_defaults(func=cmd_study)
    x = ss.add_parser("launch", help="queue every cell that has no run (identical runs are reused)")
    x.add_argument("name")
    x.add_argument("--wait", action="store_true", help="run the queue here until the cells finish, evaluate, show")
    x.add_argument("--no-eval", action="store_true", help="with --wait: do not evaluate")
    x.add_argument("--format", choices=["table", "json"], default="table")
    x.set_defaults(func=cmd_study)
    x = ss.add_parser("extend", help="add axis values (a volume, a seed ...) or eval sets; finished cells stay")
    x.add_argument("name")
    _axis_args(x)
    _eval_args(x, extend=True)
    x.add_argument("--launch", action="store_true", help="queue the new cells now")
    x.add_argument("--wait", action="store_true", help="with --launch: run the queue, evaluate, show")
    x.add_argument("--no-eval", action="store_true", help="with --wait: do not evaluate")
    x.add_argument("--format", choices=["table", "json"], default="table")
    x.set_defaults(func=cmd_study)
