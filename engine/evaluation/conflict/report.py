"""The Results table rows (per run and domain) and the side-by-side comparison of runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.evaluation.conflict.measure import conflict_rate
from engine.evaluation.conflict.rates import DEFAULT_TAU, ConflictError, DomainConflict, domain_score, paired_scores
from engine.evaluation.conflict.references import _run
from engine.evaluation.conflict.settings import _refuse_if_strict, _settings_check

if TYPE_CHECKING:
    from engine.core.store import Store


def _recipe_label(store: Store, mixture_id) -> str | None:
    if mixture_id is None:
        return None
    con = store.cursor()
    try:
        rows = con.execute("SELECT name, version FROM mixtures WHERE id = ?", [mixture_id]).fetchall()
    finally:
        con.close()
    return f"{rows[0][0]} v{rows[0][1]}" if rows else f"mixture {mixture_id}"


def results_rows(
    store: Store,
    run_ids: list[int] | None = None,
    *,
    variant: str = "accuracy",
    tau: float = DEFAULT_TAU,
    reference: str = "specialist",
) -> list[dict]:
    """The Results table: one row per evaluated (run, domain) with score, deltas, the joint and conditional
    conflict and gain rates, items shared with the reference and left out, the recipe (mixture name and
    version) and protocol of the run, and the run's pooled numbers (`pooled_*`: partial flag and label,
    missing domains, settings warnings). Never strict: settings differences are in `warnings`."""
    from engine.evaluation.evaluate import item_results

    con = store.cursor()
    try:
        q = "SELECT DISTINCT run_id FROM evaluations WHERE run_id IS NOT NULL"
        ids = [r[0] for r in con.execute(q + " ORDER BY run_id").fetchall()]
    finally:
        con.close()
    if run_ids is not None:
        ids = [i for i in ids if i in set(run_ids)]
    rows = []
    for rid in ids:
        try:
            run = _run(store, rid)
        except ConflictError:
            continue
        try:
            cr = conflict_rate(store, rid, variant=variant, tau=tau, reference=reference)
        except ConflictError:
            cr = None
        per = dict(cr.domains) if cr is not None else {}
        if not per:
            items = item_results(store, rid)
            for d in sorted({v["domain"] for v in items.values()}):
                sc, metric = domain_score({k: v for k, v in items.items() if v["domain"] == d})
                per[d] = DomainConflict(d, 0, 0, None, sc, metric, None, None, None, None)
        pooled = {
            "pooled_conflict_rate": cr.rate if cr else None,
            "pooled_conditional_conflict_rate": cr.conditional_conflict_rate if cr else None,
            "pooled_gain_rate": cr.gain_rate if cr else None,
            "pooled_partial": cr.partial if cr else None,
            "pooled_label": cr.label() if cr else "-",
            "pooled_missing": dict(cr.missing) if cr else {},
            "pooled_n_shared": cr.n_shared if cr else 0,
            "pooled_dropped_run": cr.dropped_run if cr else 0,
            "pooled_dropped_reference": cr.dropped_reference if cr else 0,
            "warnings": list(cr.warnings) if cr else [],
            "settings_mismatches": list(cr.settings_mismatches) if cr else [],
        }
        for d, dc in per.items():
            rows.append(
                {
                    "run_id": rid,
                    "run": run.name,
                    "kind": run.kind,
                    "protocol": run.protocol,
                    "recipe": _recipe_label(store, run.mixture_id),
                    "domain": d,
                    "metric": dc.metric,
                    "score": dc.score,
                    "delta_vs_specialist": dc.delta_vs_specialist,
                    "delta_vs_base": dc.delta_vs_base,
                    "conflict_rate": dc.rate,
                    "joint_conflict_rate": dc.rate,
                    "conditional_conflict_rate": dc.conditional_conflict_rate,
                    "gain_rate": dc.gain_rate,
                    "n_compared": dc.n,
                    "conflicts": dc.conflicts,
                    "gains": dc.gains,
                    "reference_right": dc.reference_right,
                    "n_shared": dc.n_shared,
                    "dropped_run": dc.dropped_run,
                    "dropped_reference": dc.dropped_reference,
                    "reference_run": dc.reference_run,
                    "missing": dc.missing,
                    "missing_note": dc.note,
                    **pooled,
                }
            )
    return rows


def compare(
    store: Store, run_ids: list[int], *, variant: str = "accuracy", tau: float = DEFAULT_TAU, strict: bool = False
) -> dict:
    """Runs side by side: per run its per-domain rows (results_rows), and for two runs, per domain over the
    items BOTH were evaluated on: the per-item agreement (both right, only A right, only B right, both wrong)
    in `items`, and in `shared` the item counts (n_a, n_b, n_shared, dropped_a, dropped_b) and both scores and
    their delta (B - A) on those items. The two runs' evaluations must share their settings: `warnings` and
    `settings_mismatches` (strict: SettingsMismatch)."""
    if not run_ids:
        raise ConflictError("give at least one run to compare")
    from engine.evaluation.evaluate import item_results

    runs = [_run(store, r) for r in run_ids]
    rows = results_rows(store, [r.id for r in runs], variant=variant, tau=tau)
    out = {
        "runs": [
            {
                "id": r.id,
                "name": r.name,
                "kind": r.kind,
                "protocol": r.protocol,
                "recipe": _recipe_label(store, r.mixture_id),
                "base_model": r.base_model,
                "domains": {x["domain"]: x for x in rows if x["run_id"] == r.id},
            }
            for r in runs
        ],
        "warnings": [],
        "settings_mismatches": [],
    }
    if len(runs) == 2:
        a, b = item_results(store, runs[0].id), item_results(store, runs[1].id)
        mismatches: list[dict] = []
        _settings_check(store, mismatches, out["warnings"], a, b, run=runs[0].id, other_run=runs[1].id, role="run B")
        _refuse_if_strict(strict, mismatches)
        out["settings_mismatches"] = mismatches
        agree: dict[str, dict] = {}
        shared: dict[str, dict] = {}
        for d in sorted({v["domain"] for v in a.values()} | {v["domain"] for v in b.values()}):
            a_d = {k: v for k, v in a.items() if v["domain"] == d}
            b_d = {k: v for k, v in b.items() if v["domain"] == d}
            n_sh = sum(1 for k in a_d if k in b_d)
            metric = domain_score(a_d or b_d)[1]
            sa, sb, n_scored = paired_scores(a_d, b_d, metric)
            shared[d] = {
                "n_a": len(a_d),
                "n_b": len(b_d),
                "n_shared": n_sh,
                "dropped_a": len(a_d) - n_sh,
                "dropped_b": len(b_d) - n_sh,
                "metric": metric,
                "score_a": sa,
                "score_b": sb,
                "delta": (sb - sa) if sa is not None and sb is not None else None,
                "n_scored": n_scored,
            }
            if n_sh < max(len(a_d), len(b_d)):
                out["warnings"].append(
                    f"{d}: compared on the {n_sh} items both runs were evaluated on; left out "
                    f"{len(a_d) - n_sh} of A's {len(a_d)} and {len(b_d) - n_sh} of B's {len(b_d)}"
                )
        for sid, ra in a.items():
            rb = b.get(sid)
            if rb is None or ra.get("correct") is None or rb.get("correct") is None:
                continue
            k = {
                (True, True): "both_right",
                (True, False): "only_a",
                (False, True): "only_b",
                (False, False): "both_wrong",
            }[(bool(ra["correct"]), bool(rb["correct"]))]
            agree.setdefault(ra["domain"], {"both_right": 0, "only_a": 0, "only_b": 0, "both_wrong": 0})[k] += 1
        out["items"] = agree
        out["shared"] = shared
    return out
