"""A study's outcomes: where its cells stand (status), their evaluation in one worker (evaluate_study), the
per-cell scores and the template's reading (collect, read_study), and an allocation proposed from the fits and
saved as a mixture (allocate_study, save_allocation). Split out of engine/studies/lifecycle.py, which makes,
plans, extends and launches a study; both are re-exported by engine.studies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.mixtures import MixtureError, save
from engine.studies import cells as C
from engine.studies import records as rec
from engine.studies.reading import read
from engine.studies.spec import (
    Study,
    StudyError,
    cells,
)

if TYPE_CHECKING:
    from engine.core.store import Store

# -- status, evaluation, reading --------------------------------------------------------------------------------


def _eval_state(store: Store, ids: list[int], sets: list[str]) -> str | None:
    """ "evaluated" when the cell's evaluation rows cover every eval set of the study and are done."""
    if not ids or not sets:
        return None
    from engine.evaluation.evaluate import get_summaries

    got = get_summaries(store, ids)
    done = {s.eval_set for s in got if (s.details or {}).get("state") == "done"}
    return "evaluated" if set(sets) <= done else None


def status(store: Store, name: str) -> list[dict]:
    """Every cell of the grid: its state (planned: nothing made yet; queued / running / done / failed /
    cancelled: its run's; evaluated: done and evaluated on every eval set of the study), run, mixture, error."""
    from engine.training.runs import get_run

    study = rec.get_study(store, name)
    have = rec.cell_rows(store, study.id)
    out = []
    for cell in cells(study.template, study.axes):
        row = have.get(cell.key)
        d = {"key": cell.key, "arm": cell.arm, "params": cell.params, "state": "planned", "run_id": None}
        if row and row.run_id is not None:
            run = get_run(store, row.run_id)
            d |= {
                "state": _eval_state(store, row.evaluation_ids, study.eval.get("sets") or []) or run.status,
                "run_id": run.id,
                "mixture_id": row.mixture_id,
                "progress": {k: run.progress.get(k) for k in ("step", "total", "loss", "eta_s") if k in run.progress},
                "error": run.error,
            }
        out.append(d)
    return out


def evaluate_study(store: Store, name: str, *, progress=None, cancel=None) -> dict:
    """Evaluate every finished cell (run done) on the study's eval sets, all in one evaluation worker (each base
    model loaded once; jobs already done are reused, so evaluating again only does what is missing). Records the
    evaluation rows per cell. Returns {"evaluated": [keys], "waiting": [keys not done yet]}."""
    from engine.evaluation.evaluate import EvalSettings, evaluate_many

    study = rec.get_study(store, name)
    sets = study.eval.get("sets") or []
    if not sets:
        raise StudyError(
            f"study {study.name!r} has no eval sets: add them (workbench study extend {study.name} --sets ...)"
        )
    have = rec.cell_rows(store, study.id)
    status_of = rec.run_statuses(store, [r.run_id for r in have.values() if r.run_id])
    keys = {c.key for c in cells(study.template, study.axes)}
    ready = [r for k, r in have.items() if k in keys and r.run_id and status_of.get(r.run_id, ("",))[0] == "done"]
    waiting = sorted(keys - {r.key for r in ready})
    if not ready:
        return {"evaluated": [], "waiting": waiting}
    ev = study.eval
    settings = EvalSettings(
        max_new_tokens=int(ev.get("max_new_tokens") or 256),
        batch_size=int(ev.get("batch_size") or 8),
        device=ev.get("device") or "auto",
        threads=ev.get("threads"),
    )
    run_ids = list(dict.fromkeys(r.run_id for r in ready))
    summaries = evaluate_many(
        store, run_ids, sets, max_items=ev.get("max_items"), settings=settings, progress=progress, cancel=cancel
    )
    by_run: dict[int, list[int]] = {}
    for s in summaries:
        by_run.setdefault(int(s.run_id), []).append(int(s.id))
    for r in ready:
        rec.set_cell_evaluations(store, study.id, r.key, by_run.get(int(r.run_id), []))
    return {"evaluated": sorted(r.key for r in ready), "waiting": waiting}


def _scores(summaries) -> dict:
    """Per domain: accuracy where the domain has any (n-weighted over eval sets), else the mean NLL."""
    per: dict[str, dict[str, list]] = {}
    for s in summaries:
        if s.value is None or not s.domain:
            continue
        per.setdefault(s.domain, {}).setdefault(s.metric, []).append((float(s.value), int(s.n or 0)))
    out = {}
    for dom, by in per.items():
        metric = "accuracy" if "accuracy" in by else sorted(by)[0]
        vals = by[metric]
        n = sum(k for _, k in vals)
        value = sum(v * k for v, k in vals) / n if n else sum(v for v, _ in vals) / len(vals)
        out[dom] = {"value": value, "metric": metric, "n": n}
    return out


def collect(store: Store, name: str) -> tuple[Study, list[dict]]:
    """The study and one row per cell of its grid (the rows engine.studies.reading reads)."""
    from engine.evaluation.evaluate import get_summaries

    study = rec.get_study(store, name)
    have = rec.cell_rows(store, study.id)
    vols: dict[int, dict] = {}
    mids = [r.mixture_id for r in have.values() if r.mixture_id is not None]
    if mids:
        for mid, dom, n, t in store.fetchall(
            "SELECT mixture_id, domain, count(*), coalesce(sum(n_tokens), 0) FROM mixture_items "
            "WHERE mixture_id IN (SELECT unnest(?::INTEGER[])) GROUP BY ALL ORDER BY 1, 2",
            [mids],
        ):
            v = vols.setdefault(int(mid), {"n_items": 0, "n_tokens": 0, "per_domain": {}})
            v["n_items"] += int(n)
            v["n_tokens"] += int(t)
            v["per_domain"][dom] = int(n)
    states = {s["key"]: s for s in status(store, name)}
    rows = []
    for cell in cells(study.template, study.axes):
        row = have.get(cell.key)
        r = {
            "key": cell.key,
            "arm": cell.arm,
            "params": cell.params,
            "state": states[cell.key]["state"],
            "run_id": row.run_id if row else None,
            "volume": vols.get(row.mixture_id, {"n_items": 0, "n_tokens": 0, "per_domain": {}})
            if row and row.mixture_id is not None
            else {"n_items": 0, "n_tokens": 0, "per_domain": {}},
            "scores": _scores(get_summaries(store, row.evaluation_ids)) if row and row.evaluation_ids else {},
            "conflict": None,
        }
        if study.template == "protocols" and cell.arm == "protocol" and r["scores"]:
            r["conflict"] = _conflict(store, row.run_id)
        rows.append(r)
    return study, rows


def _conflict(store: Store, run_id: int) -> dict | None:
    from engine.evaluation.conflict import conflict_rate
    from engine.evaluation.conflict.rates import ConflictError

    try:
        res = conflict_rate(store, run_id, reference="base")
    except ConflictError as e:
        return {"rate": None, "why": str(e)}
    return {"rate": res.rate, "partial": res.partial, "n": res.n}


def read_study(store: Store, name: str) -> dict:
    """The study, its cells (state, volume, per-domain scores) and the template's reading (engine.studies.reading)."""
    study, rows = collect(store, name)
    return {"study": study.to_dict(), "cells": rows, "reading": read(study.template, rows, study.base, study.settings)}


# -- a proposed allocation ----------------------------------------------------------------------------------------


def allocate_study(
    store: Store,
    name: str,
    budget: int | None = None,
    *,
    weights: dict[str, float] | None = None,
    step: int | None = None,
    save_as: str | None = None,
) -> dict:
    """A growth study's proposed split of `budget` items (default: the base mixture's budget) across the domains
    with a fitted curve, by marginal gains (engine.studies.fits.allocate; ours). Domains of the base mixture
    without a curve keep their share of the base version. With `save_as`, saved as a new mixture version: the
    base recipe with those proportions and budget (in samples), its note saying it is our proposal and why.
    Returns {"allocation", "curves", "fixed", "mixture"}."""
    from engine.studies.fits import allocate
    from engine.studies.reading import allocation_curves

    study, rows = collect(store, name)
    if study.template != "growth":
        raise StudyError(f"study {study.name!r} is a {study.template} study; an allocation needs growth curves")
    growth = read(study.template, rows, study.base, study.settings)["growth"]
    curves, higher, chosen = allocation_curves(growth)
    per = dict(study.base.get("per_domain") or {})
    curves = {d: f for d, f in curves.items() if d in per}
    if not curves:
        raise StudyError(
            f"study {study.name!r} has no fitted curve of a domain it trains (evaluate it first: "
            f"workbench study eval {study.name}; a curve needs 2 volumes)"
        )
    total = int(budget if budget is not None else study.base.get("budget") or sum(per.values()))
    base_n = sum(per.values()) or 1
    fixed = {d: round(total * n / base_n) for d, n in per.items() if d not in curves}
    alloc = allocate(curves, total - sum(fixed.values()), weights=weights, step=step, higher_is_better=higher)
    amounts = {**alloc.amounts, **fixed}
    reasoning = list(alloc.reasoning) + [
        f"{d}: {n:,} held at the base mixture's share (no fitted curve)" for d, n in fixed.items()
    ]
    out = {
        "allocation": alloc.to_dict() | {"amounts": amounts, "reasoning": reasoning, "budget": total},
        "curves": chosen,
        "fixed": fixed,
        "mixture": None,
    }
    if save_as is not None:
        out["mixture"] = save_allocation(store, study, amounts, reasoning, save_as).label
    return out


def save_allocation(store: Store, study: Study, amounts: dict[str, int], reasoning: list[str], name: str):
    """Save `amounts` (domain -> items) as a new version of mixture `name`: the base recipe's components and stages
    with proportions amounts/total and budget total (samples), noted as our proposal with its reasoning."""
    r = C._base_recipe(store, study)
    total = sum(amounts.values())
    if total < 1:
        raise StudyError("the allocation is empty")
    r.proportions = {d: n / total for d, n in amounts.items() if n > 0}
    r.budget, r.unit = int(total), "samples"
    if r.stages:
        drawn = {d for s in r.stages for d in s.domains}
        if not set(r.proportions) <= drawn:
            r.stages = None
    note = (
        f"proposed allocation (ours, not a paper's): marginal gains over the fitted growth curves of study "
        f"{study.name}: " + "; ".join(reasoning)
    )
    try:
        return save(store, name, r, note=note)
    except MixtureError as e:
        raise StudyError(f"the allocation as mixture {name!r}: {e}") from None
