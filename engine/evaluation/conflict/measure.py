"""The Conflict Rate of a stored run against its references, its conflicting items, and per-run summaries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.evaluation.conflict.rates import (
    DEFAULT_TAU,
    REFERENCES,
    VARIANTS,
    ConflictError,
    ConflictResult,
    _domain,
    _pool,
    is_conflict,
    paired_scores,
)
from engine.evaluation.conflict.references import _run, base_run_for, specialists
from engine.evaluation.conflict.settings import _refuse_if_strict, _settings_check

if TYPE_CHECKING:
    from engine.core.store import Store


def _ref_word(reference: str) -> str:
    return "specialist" if reference == "specialist" else "base-model run"


def conflict_rate(
    store: Store,
    run_id,
    *,
    variant: str = "accuracy",
    tau: float = DEFAULT_TAU,
    reference: str = "specialist",
    strict: bool = False,
) -> ConflictResult:
    """Per-domain and pooled Conflict Rate (joint, conditional, gain) of a run against its specialists (or the
    base model), with score deltas vs specialist and vs base, all over the items both sides were evaluated on
    (the definition: the engine.evaluation.conflict docstring). A domain without a reference (or without
    shared items) has no rate and makes the result `partial`. Differing evaluation settings are warnings, or
    with `strict` a SettingsMismatch (a ConflictError) naming them."""
    from engine.evaluation.evaluate import item_results

    if reference not in REFERENCES:
        raise ConflictError(f"reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
    if variant not in VARIANTS:
        raise ConflictError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    run = _run(store, run_id)
    mix = item_results(store, run.id)
    if not mix:
        raise ConflictError(f"run {run.name!r} has no evaluation results yet (workbench eval {run.id} --sets ...)")
    base_id = base_run_for(store, run)
    if base_id == run.id:
        base_id = None
    base = item_results(store, base_id) if base_id is not None else {}
    spec = specialists(store, run.id)
    word = _ref_word(reference)
    warnings: list[str] = []
    mismatches: list[dict] = []
    result = ConflictResult(run.id, variant, tau, reference, strict=strict)
    for d in sorted({r["domain"] for r in mix.values()}):
        mix_d = {k: v for k, v in mix.items() if v["domain"] == d}
        base_d = {k: v for k, v in base.items() if v["domain"] == d}
        ref_id = base_id if reference == "base" else spec.get(d)
        if ref_id == run.id:  # a run is not its own reference
            ref_id = None
        ref_d = item_results(store, ref_id, domain=d) if ref_id is not None else {}
        dc = _domain(d, mix_d, ref_d, variant=variant, tau=tau, base_d=base_d)
        dc.reference_run = ref_id
        if ref_id is None:
            dc.missing = "no_reference"
            dc.note = f"{d} has no {word}"
            warnings.append(
                f"{d}: no {word}"
                + (
                    " (workbench conflict --make-specialists)"
                    if reference == "specialist"
                    else " (workbench eval --base-model)"
                )
            )
        elif dc.missing == "not_evaluated":
            dc.note = f"{d}'s {word} (run {ref_id}) is not evaluated on it"
            warnings.append(f"{d}: {word} run {ref_id} has no evaluation results on this domain yet")
        elif dc.missing == "no_shared":
            dc.note = f"{d}: no item evaluated by both the run and its {word} (run {ref_id})"
            warnings.append(
                f"{d}: run {run.id} and {word} run {ref_id} share no evaluated item "
                f"({dc.n_run} vs {dc.n_reference} items: evaluate both on the same eval sets)"
            )
        elif dc.dropped_run or dc.dropped_reference:
            warnings.append(
                f"{d}: compared on the {dc.n_shared} items both were evaluated on; left out "
                f"{dc.dropped_run} of the run's {dc.n_run} and {dc.dropped_reference} of {word} run "
                f"{ref_id}'s {dc.n_reference}"
            )
        if ref_d:
            _settings_check(
                store, mismatches, warnings, mix_d, ref_d, domain=d, run=run.id, other_run=ref_id, role=f"its {word}"
            )
        if base_d and reference != "base":
            _settings_check(
                store,
                mismatches,
                warnings,
                mix_d,
                base_d,
                domain=d,
                run=run.id,
                other_run=base_id,
                role="the base-model run",
            )
        if reference == "base":
            dc.delta_vs_specialist = None
            sref = spec.get(d)
            if sref is not None and sref != run.id:
                s_items = item_results(store, sref, domain=d)
                sm, sscore, _ = paired_scores(mix_d, s_items, dc.metric)
                if sscore is not None:
                    dc.delta_vs_specialist = sm - sscore
                    _settings_check(
                        store,
                        mismatches,
                        warnings,
                        mix_d,
                        s_items,
                        domain=d,
                        run=run.id,
                        other_run=sref,
                        role="its specialist",
                    )
        result.domains[d] = dc
    _refuse_if_strict(strict, mismatches)
    result.warnings = warnings
    result.settings_mismatches = mismatches
    return _pool(result)


def conflicting_items(
    store: Store,
    run_id,
    domain: str | None = None,
    *,
    variant: str = "accuracy",
    tau: float = DEFAULT_TAU,
    reference: str = "specialist",
    strict: bool = False,
) -> list[dict]:
    """The conflicting items of a run: question, the reference's answer, the run's answer (for drill-down);
    only items both were evaluated on can conflict. `strict`: SettingsMismatch when the evaluations differ."""
    from engine.evaluation.evaluate import item_results

    run = _run(store, run_id)
    mix = item_results(store, run.id, domain=domain)
    spec = specialists(store, run.id)
    base_id = base_run_for(store, run)
    out = []
    cache: dict[tuple, dict] = {}
    mismatches: list[dict] = []
    for sid, m in mix.items():
        ref_id = base_id if reference == "base" else spec.get(m["domain"])
        if ref_id is None or ref_id == run.id:
            continue
        key = (ref_id, m["domain"])
        if key not in cache:
            cache[key] = item_results(store, ref_id, domain=m["domain"])
            if strict:
                _settings_check(
                    store,
                    mismatches,
                    [],
                    {k: v for k, v in mix.items() if v["domain"] == m["domain"]},
                    cache[key],
                    domain=m["domain"],
                    run=run.id,
                    other_run=ref_id,
                    role=f"its {_ref_word(reference)}",
                )
        r = cache[key].get(sid)
        if r is None or not is_conflict(m, r, variant=variant, tau=tau):
            continue
        out.append(
            {
                "sample_id": sid,
                "domain": m["domain"],
                "scorer": m["scorer"],
                "question": m["question"],
                "reference_run": ref_id,
                "reference_output": r["output"],
                "reference_extracted": r["extracted"],
                "reference_nll": r["nll"],
                "output": m["output"],
                "extracted": m["extracted"],
                "nll": m["nll"],
            }
        )
    _refuse_if_strict(strict, mismatches)
    return out


def summary_for_runs(
    store: Store, run_ids, *, variant: str = "accuracy", tau: float = DEFAULT_TAU, full: bool = False
) -> dict:
    """Pooled Conflict Rate per run (None when it cannot be computed yet: not evaluated, no specialists or
    specialists not evaluated). Never raises for a run; for the Runs screen. `full`: the ConflictResult (its
    `partial`, `label()`, conditional and gain rates) instead of the pooled joint rate."""
    out: dict = {}
    for rid in run_ids:
        try:
            res = conflict_rate(store, rid, variant=variant, tau=tau)
            out[rid] = res if full else res.rate
        except (ConflictError, ValueError):
            out[rid] = None
    return out
