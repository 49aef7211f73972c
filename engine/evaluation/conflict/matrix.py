"""The domain interference matrix: outcome cells from two-domain runs, gradient cells from cosines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.evaluation.conflict.measure import conflict_rate
from engine.evaluation.conflict.rates import DEFAULT_TAU, ConflictError
from engine.evaluation.conflict.references import _pair_key, _run, pair_runs, run_domains

if TYPE_CHECKING:
    from engine.core.store import Store


def _pair_cell(rid: int | None, status: str | None) -> str:
    """How to fill the empty cells of pair {a, b}, in words."""
    if rid is None:
        return "no pair run: make it (workbench conflict RUN --make-pairs; Results: a), train it, evaluate it"
    if status != "done":
        return f"pair run {rid} is {status}: let it train (Runs), then evaluate it (Results: e)"
    return (
        f"pair run {rid} needs evaluating with its specialists on the same eval sets (Results: e on this run; "
        f"or workbench conflict {rid} --make-specialists, then workbench eval)"
    )


def interference_matrix(store: Store, run_id, *, variant: str = "accuracy", tau: float = DEFAULT_TAU) -> dict:
    """Domain-pair interference (our definition, in the engine.evaluation.conflict docstring): outcome[a][b]
    from two-domain runs of the same base model (the ones recorded by ensure_pair_runs first, else any done
    mixture run of exactly {a, b}; diagonal: this run's own per-domain rate) and gradient[a][b] from this run's
    gradient cosines. Missing cells are None; `cells["a|b"]` (a < b) says per pair which run serves it and
    how to fill it."""
    from engine.evaluation.evaluate import get_run_row

    run = _run(store, run_id)
    domains = run_domains(store, run)
    own = conflict_rate(store, run.id, variant=variant, tau=tau)
    domains = sorted(set(domains) | set(own.domains))
    outcome = {a: {b: None for b in domains} for a in domains}
    for a in domains:
        if a in own.domains:
            outcome[a][a] = own.domains[a].rate
    pair_runs_: dict[tuple[str, str], int] = {}
    candidate: dict[tuple[str, str], tuple[int, str]] = {}  # sorted pair -> (run, status) when not filled

    def fill(rid: int, a: str, b: str) -> bool:
        try:
            cr = conflict_rate(store, rid, variant=variant, tau=tau)
        except ConflictError:
            return False
        got = False
        for x, y in ((a, b), (b, a)):
            if x in cr.domains and cr.domains[x].rate is not None and (x, y) not in pair_runs_:
                outcome[x][y] = cr.domains[x].rate
                pair_runs_[(x, y)] = rid
                got = True
        return got

    recorded = pair_runs(store, run.id)
    for (a, b), rid in recorded.items():
        if a not in outcome or b not in outcome:
            continue
        status = get_run_row(store, rid).status
        if not (status == "done" and fill(rid, a, b)):
            candidate[(a, b)] = (rid, status)
    con = store.cursor()
    try:
        others = [
            r[0]
            for r in con.execute(
                "SELECT id FROM runs WHERE kind = 'mixture' AND status = 'done' AND base_model = ? AND id <> ? "
                "ORDER BY id",
                [run.base_model, run.id],
            ).fetchall()
        ]
    finally:
        con.close()
    for rid in others:
        if rid in recorded.values():
            continue
        ds = run_domains(store, _run(store, rid))
        if len(ds) == 2 and set(ds) <= set(domains):
            a, b = ds
            if (a, b) in pair_runs_ and (b, a) in pair_runs_:
                continue
            if not fill(rid, a, b):
                candidate.setdefault(_pair_key(a, b), (rid, "done"))
    cells = {}
    for i, a in enumerate(domains):
        for b in domains[i + 1 :]:
            got = {f"{a}|{b}": (a, b) in pair_runs_, f"{b}|{a}": (b, a) in pair_runs_}
            if all(got.values()):
                rid, status, how = pair_runs_[(a, b)], "done", f"filled from run {pair_runs_[(a, b)]}"
            elif any(got.values()):
                rid = pair_runs_.get((a, b)) or pair_runs_.get((b, a))
                empty = a if not got[f"{a}|{b}"] else b
                status, how = (
                    "done",
                    (
                        f"run {rid} gives no {variant} Conflict Rate for {empty} (no item with a "
                        f"verdict, or its specialist not evaluated; NLL-only domains: loss variant)"
                    ),
                )
            else:
                rid, status = candidate.get((a, b), (None, None))
                how = _pair_cell(rid, status)
            cells[f"{a}|{b}"] = {"run_id": rid, "status": status, "filled": got, "how": how}
    gradient = {a: {b: None for b in domains} for a in domains}
    try:
        from engine.training.runs import grad_conflict

        for (a, b), v in grad_conflict(store, run.id).items():
            if a in gradient and b in gradient:
                gradient[a][b] = gradient[b][a] = v["share"]
    except ImportError:
        pass
    n_off = len(domains) * (len(domains) - 1)
    return {
        "run_id": run.id,
        "domains": domains,
        "outcome": outcome,
        "gradient": gradient,
        "pair_runs": {f"{a}|{b}": r for (a, b), r in pair_runs_.items()},
        "cells": cells,
        "filled": sum(1 for (a, b) in pair_runs_ if a != b),
        "n_cells": n_off,
        "variant": variant,
        "tau": tau,
        "definition": "outcome[a][b]: Conflict Rate of domain a in a run trained on {a, b} vs a's specialist "
        "(diagonal: this run); gradient[a][b]: share of sampled steps with negative gradient "
        "cosine between a and b in this run (ours)",
    }
