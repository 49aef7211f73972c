"""Reading a study: pure functions over its cells' rows, so they can be checked without training anything.

A row is one cell as `engine.studies.outcomes.collect` gives it:
    {"key", "arm", "params": {axis: value}, "state", "run_id",
     "volume": {"n_items", "n_tokens", "per_domain": {domain: items}},
     "scores": {domain: {"value", "metric", "n"}},         # evaluated cells only
     "conflict": {"rate", "partial", ...} | None}          # protocols: Conflict Rate against the base model
A score is accuracy (higher is better) or, for a domain with only reference answers to compare against, the mean
NLL of the reference answer (lower is better); `metric` says which.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from engine.studies.fits import fit_loglinear, fit_power, growth_pace


def _stats(values: list[float]) -> dict:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None, "n": len(v)}


def domains(rows: list[dict]) -> list[str]:
    """Every domain some cell has a score for."""
    return sorted({d for r in rows for d in (r.get("scores") or {})})


def _score(row: dict, dom: str) -> float | None:
    s = (row.get("scores") or {}).get(dom)
    return None if s is None or s.get("value") is None else float(s["value"])


def _metric(rows: list[dict], dom: str) -> str:
    for r in rows:
        s = (r.get("scores") or {}).get(dom)
        if s and s.get("metric"):
            return s["metric"]
    return "accuracy"


def _higher_better(metric: str) -> bool:
    return metric != "nll"


def _base(rows: list[dict], dom: str) -> float | None:
    for r in rows:
        if r["arm"] == "base":
            return _score(r, dom)
    return None


def _by(rows: list[dict], arm: str, axis: str, dom: str) -> dict:
    """axis value -> stats of the domain's score over the arm's cells (seeds)."""
    groups: dict = defaultdict(list)
    for r in rows:
        if r["arm"] == arm and axis in r["params"]:
            groups[r["params"][axis]].append(_score(r, dom))
    return {k: _stats(v) for k, v in groups.items()}


def score_table(rows: list[dict]) -> list[dict]:
    """One flat row per cell: key, arm, state, run, items, then each domain's score."""
    doms = domains(rows)
    out = []
    for r in rows:
        row = {"cell": r["key"], "arm": r["arm"], "state": r.get("state"), "run": r.get("run_id")}
        row["items"] = (r.get("volume") or {}).get("n_items")
        for d in doms:
            row[d] = _score(r, d)
        out.append(row)
    return out


def read_growth(rows: list[dict]) -> dict:
    """Per domain: score against volume (the cell's items of that domain; all its items for a domain it does not
    train on), the spread across seeds per fraction, the log-linear and saturating power-law fits with their
    errors, the growth pace (log-linear slope) and the base model's score (volume 0, not in the fits)."""
    out = {}
    for dom in domains(rows):
        xs, ys = [], []
        per: dict = defaultdict(lambda: {"x": [], "y": []})
        in_domain = False
        for r in rows:
            if r["arm"] != "growth":
                continue
            y = _score(r, dom)
            vol = r.get("volume") or {}
            x = (vol.get("per_domain") or {}).get(dom)
            if x:
                in_domain = True
            else:
                x = vol.get("n_items")
            if y is None or not x:
                continue
            xs.append(float(x))
            ys.append(y)
            per[r["params"]["fraction"]]["x"].append(float(x))
            per[r["params"]["fraction"]]["y"].append(y)
        points = [{"fraction": f, "x": float(np.mean(v["x"])), **_stats(v["y"])} for f, v in sorted(per.items())]
        ll, pw = fit_loglinear(xs, ys), fit_power(xs, ys)
        out[dom] = {
            "metric": _metric(rows, dom),
            "x": "items of this domain" if in_domain else "items of the mixture (the domain is not trained on)",
            "points": points,
            "base": _base(rows, dom),
            "loglinear": ll.to_dict() if ll else None,
            "power": pw.to_dict() if pw else None,
            "pace": growth_pace(ll),
        }
    return out


def _series(rows: list[dict]) -> list[tuple]:
    """The (model, provenance) pairs of a growth study's cells, in grid order (None where the axis is absent)."""
    return list(
        dict.fromkeys((r["params"].get("model"), r["params"].get("provenance")) for r in rows if r["arm"] == "growth")
    )


def _pace(g: dict) -> tuple[float | None, float | None]:
    p = g.get("pace") or {}
    return p.get("per_doubling"), (None if p.get("stderr") is None else p["stderr"] * math.log(2))


def size_sensitivity(by_model: list[dict]) -> dict:
    """How the growth pace changes with model size: the least-squares slope of the pace per doubling against
    log10(parameters) when every model's size is known and they differ (the change per 10x parameters), else
    against the models' order as given (0, 1, ...: the change per step up). by_model: [{"params", "pace"}] in
    the order given; models without a pace are left out of the slope."""
    sized = all(m.get("params") for m in by_model) and len({m["params"] for m in by_model}) == len(by_model)
    pts = [
        (math.log10(m["params"]) if sized else float(i), m["pace"])
        for i, m in enumerate(by_model)
        if m["pace"] is not None
    ]
    out = {"basis": "log10 parameters" if sized else "order given", "slope": None, "n": len(pts), "note": ""}
    if len({x for x, _ in pts}) >= 2:
        x, y = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
        out["slope"] = float(np.polyfit(x, y, 1)[0])
    else:
        out["note"] = "a slope needs the pace of two models or more"
    if not sized:
        why = "model sizes unknown" if not all(m.get("params") for m in by_model) else "models of the same size"
        out["note"] = (out["note"] + "; " if out["note"] else "") + f"{why}: read in the order given"
    return out


def read_growth_split(rows: list[dict], settings: dict | None = None) -> dict:
    """A growth study with a model or provenance axis: one growth reading (read_growth) per (model, provenance)
    series, each with its own base-model cell; "growth" is the first series' (the allocation reads it). Then
    per domain each series' pace; with several models, per provenance and domain the pace per model against the
    model's size (size_sensitivity); with several provenances, per model and domain each provenance's pace and
    its score at its largest volume (DoIT's human-curated vs synthetic data, per ability)."""
    from engine.studies.spec import model_label

    sizes = (settings or {}).get("model_sizes") or {}
    series = []
    for m, pv in _series(rows):
        srows = [
            r
            for r in rows
            if (r["arm"] == "growth" and r["params"].get("model") == m and r["params"].get("provenance") == pv)
            or (r["arm"] == "base" and r["params"].get("model") == m)
        ]
        series.append(
            {
                "model": m,
                "model_label": None if m is None else model_label(m),
                "params": sizes.get(m) if m is not None else None,
                "provenance": pv,
                "growth": read_growth(srows),
            }
        )
    out: dict = {"growth": series[0]["growth"] if series else {}, "series": series}
    doms = domains(rows)
    out["paces"] = {
        d: [
            {
                "model": s["model_label"],
                "provenance": s["provenance"],
                "pace": _pace(s["growth"].get(d) or {})[0],
                "stderr": _pace(s["growth"].get(d) or {})[1],
                "metric": (s["growth"].get(d) or {}).get("metric"),
            }
            for s in series
        ]
        for d in doms
    }
    models = list(dict.fromkeys(s["model"] for s in series))
    provs = list(dict.fromkeys(s["provenance"] for s in series))
    if len(models) > 1:
        size = []
        for pv in provs:
            for d in doms:
                by_model = [
                    {
                        "model": s["model_label"],
                        "params": s["params"],
                        "pace": _pace(s["growth"].get(d) or {})[0],
                        "stderr": _pace(s["growth"].get(d) or {})[1],
                    }
                    for s in series
                    if s["provenance"] == pv
                ]
                size.append({"provenance": pv, "domain": d, "by_model": by_model, **size_sensitivity(by_model)})
        out["model_size"] = size
    if len(provs) > 1:
        comp = []
        for m in models:
            for d in doms:
                paces, top = {}, {}
                for s in series:
                    if s["model"] != m:
                        continue
                    g = s["growth"].get(d) or {}
                    paces[s["provenance"]] = _pace(g)[0]
                    pts = [p for p in g.get("points") or [] if p.get("mean") is not None]
                    top[s["provenance"]] = {"x": pts[-1]["x"], "mean": pts[-1]["mean"]} if pts else None
                comp.append(
                    {
                        "model": None if m is None else model_label(m),
                        "domain": d,
                        "metric": _metric(rows, d),
                        "paces": paces,
                        "largest": top,
                    }
                )
        out["provenance"] = comp
    return out


def read_budgets(rows: list[dict]) -> dict:
    """Targeted template, per domain and budget: the targeted selection's score and the random selection's of
    the same size (mean and spread over seeds), their difference, and the base model's score."""
    out = {}
    for dom in domains(rows):
        t, rnd = _by(rows, "targeted", "budget", dom), _by(rows, "random", "budget", dom)
        base = _base(rows, dom)
        table = []
        for b in sorted(set(t) | set(rnd)):
            tm, rm = t.get(b, {}).get("mean"), rnd.get(b, {}).get("mean")
            table.append(
                {
                    "budget": b,
                    "targeted": t.get(b),
                    "random": rnd.get(b),
                    "targeted_minus_random": None if tm is None or rm is None else tm - rm,
                    "targeted_minus_base": None if tm is None or base is None else tm - base,
                }
            )
        out[dom] = {"metric": _metric(rows, dom), "base": base, "budgets": table}
    return out


def _spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    from scipy.stats import spearmanr

    r = spearmanr(x, y).statistic
    return None if r is None or not math.isfinite(float(r)) else float(r)


def read_quantiles(rows: list[dict], distances: dict) -> dict:
    """Quantiles template, per domain: score per distance quantile (q0 nearest the query set) beside its
    Chamfer and OT distance to the queries, the random selection's and the base model's score, and the rank
    correlation of distance and score (the paper: only gradient representations make distance predict it)."""
    out = {}
    for dom in domains(rows):
        q = _by(rows, "quantile", "quantile", dom)
        rnd = [_score(r, dom) for r in rows if r["arm"] == "random"]
        table, dx, dy = [], [], []
        for k in sorted(q):
            dist = distances.get(str(k)) or {}
            table.append({"quantile": k, "chamfer": dist.get("chamfer"), "ot": dist.get("ot"), **q[k]})
            if dist.get("chamfer") is not None and q[k]["mean"] is not None:
                dx.append(float(dist["chamfer"]))
                dy.append(q[k]["mean"])
        out[dom] = {
            "metric": _metric(rows, dom),
            "quantiles": table,
            "random": _stats(rnd),
            "base": _base(rows, dom),
            "spearman_chamfer": _spearman(dx, dy),
        }
    return out


def read_ratio(rows: list[dict], pair: list[str]) -> dict:
    """Ratio template, per domain: score across the share of the first domain of the pair, where it peaks, and
    a straight-line fit (slope, R²): the code-math competition reads as opposite slopes with a high R²
    (methods.md section 1.4, our reading)."""
    out = {}
    for dom in domains(rows):
        by = _by(rows, "ratio", "ratio", dom)
        pts = [(float(k), v["mean"]) for k, v in sorted(by.items()) if v["mean"] is not None]
        metric = _metric(rows, dom)
        peak = None
        if pts:
            pick = max if _higher_better(metric) else min
            peak = pick(pts, key=lambda p: p[1])[0]
        line = None
        if len({p[0] for p in pts}) >= 2:
            x, y = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
            slope, icpt = np.polyfit(x, y, 1)
            ss = float(np.sum((y - y.mean()) ** 2))
            r2 = None if ss == 0 else 1 - float(np.sum((y - (slope * x + icpt)) ** 2)) / ss
            line = {"slope": float(slope), "intercept": float(icpt), "r2": r2}
        out[dom] = {
            "metric": metric,
            "share_of": pair[0] if pair else None,
            "ratios": [{"ratio": k, **v} for k, v in sorted(by.items())],
            "peak_ratio": peak,
            "line": line,
            "base": _base(rows, dom),
        }
    return out


def read_protocols(rows: list[dict]) -> dict:
    """Protocols template: per domain and protocol the score (mean over seeds) and its change from the base
    model; per protocol the Conflict Rate against the base model (ours, engine.evaluation.conflict)."""
    out: dict = {"domains": {}, "conflict": {}}
    for dom in domains(rows):
        by = _by(rows, "protocol", "protocol", dom)
        base = _base(rows, dom)
        out["domains"][dom] = {
            "metric": _metric(rows, dom),
            "base": base,
            "protocols": {
                p: {**v, "minus_base": None if v["mean"] is None or base is None else v["mean"] - base}
                for p, v in by.items()
            },
        }
    rates: dict = defaultdict(list)
    for r in rows:
        if r["arm"] == "protocol" and r.get("conflict") and r["conflict"].get("rate") is not None:
            rates[r["params"]["protocol"]].append(r["conflict"]["rate"])
    out["conflict"] = {p: _stats(v) for p, v in rates.items()}
    return out


def read_cross(rows: list[dict]) -> dict:
    """Cross template: the cross-ability matrix. For each domain trained alone (row) and each eval domain
    (column): the score (mean over seeds) and its change from the base model; the diagonal is a domain's gain from
    its own data, the rest how much one ability's data helps (or hurts) another (DoIT's transference)."""
    evals = domains(rows)
    trained = list(dict.fromkeys(r["params"]["domain"] for r in rows if r["arm"] == "single"))
    base = {d: _base(rows, d) for d in evals}
    matrix: dict = {}
    for t in trained:
        matrix[t] = {}
        for d in evals:
            st = _stats([_score(r, d) for r in rows if r["arm"] == "single" and r["params"]["domain"] == t])
            change = None if st["mean"] is None or base[d] is None else st["mean"] - base[d]
            matrix[t][d] = {**st, "minus_base": change}
    off = [
        v["minus_base"] * (1 if _higher_better(_metric(rows, d)) else -1)
        for t, row in matrix.items()
        for d, v in row.items()
        if d != t and v["minus_base"] is not None
    ]
    return {
        "trained": trained,
        "evaluated": evals,
        "metric": {d: _metric(rows, d) for d in evals},
        "base": base,
        "matrix": matrix,
        "mean_transfer": float(np.mean(off)) if off else None,
    }


def read(template: str, rows: list[dict], base: dict | None = None, settings: dict | None = None) -> dict:
    """The template's reading of its rows (see the read_* functions)."""
    if template == "growth":
        if any(k in r["params"] for r in rows for k in ("model", "provenance")):
            return read_growth_split(rows, settings)
        return {"growth": read_growth(rows)}
    if template == "targeted":
        return {"budgets": read_budgets(rows)}
    if template == "quantiles":
        return {"quantiles": read_quantiles(rows, (base or {}).get("distances") or {})}
    if template == "ratio":
        return {"ratio": read_ratio(rows, list((settings or {}).get("domains") or []))}
    if template == "cross":
        return {"cross": read_cross(rows)}
    return {"protocols": read_protocols(rows)}


def allocation_curves(growth: dict) -> tuple[dict, dict, dict]:
    """From a growth reading: per domain trained on (x = its own items), the fit to allocate by — the one of the
    two with the lower RMSE (log-linear on a tie) — whether a higher score is better, and which fit was taken.
    Domains with no fit, or only evaluated (not trained on), are left out."""
    from engine.studies.fits import Fit

    curves, higher, chosen = {}, {}, {}
    for dom, g in growth.items():
        if g.get("x") != "items of this domain":
            continue
        fits = [Fit(**f) for f in (g.get("loglinear"), g.get("power")) if f]
        if not fits:
            continue
        best = min(fits, key=lambda f: (f.rmse, f.kind != "loglinear"))
        curves[dom], higher[dom], chosen[dom] = best, _higher_better(g.get("metric", "accuracy")), best.kind
    return curves, higher, chosen
