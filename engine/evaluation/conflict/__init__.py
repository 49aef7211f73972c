"""Conflict Rate (OUR definition; the Gu et al. 2025 paper's exact formula is not public), specialists,
the domain interference matrix and run comparison.

Modules: `rates` (definitions, result records, the arithmetic on per-item results), `settings` (comparable
evaluations), `references` (specialists, pair runs, the base-model run), `measure` (a stored run's rates and
conflicting items), `matrix` (the interference matrix), `report` (Results rows, compare). This package
re-exports their public names.

Definition (ours, after ../shared/docs/methods.md section 1.4; knobs: variant, tau, reference, strict):
    For a mixture run M and a reference run R (default: the single-domain specialist of each domain, trained
    with M's settings on M's items of that domain; or the base model), over the eval items i of domain d that
    BOTH runs were evaluated on (item identity: the eval sample's id, which fixes its eval set; items only one
    side has are left out and counted: dropped_run, dropped_reference):
      variant "accuracy": conflict(i) = R right and M wrong          (items with a right/wrong verdict)
                          gain(i)     = R wrong and M right
      variant "loss":     conflict(i) = nll_M(i) - nll_R(i) > tau    (held-out NLL of the reference answer, nats
                          gain(i)     = nll_R(i) - nll_M(i) > tau     per token; for models too small for accuracy)
      joint conflict          ConflictRate_d(M) = #conflicts in d / #items of d compared   = P(R right, M wrong)
      conditional conflict    #conflicts in d / #items of d R got right                    = P(M wrong | R right)
                              (accuracy variant only: the loss variant has no "right")
      gain                    #gains in d / #items of d compared                           = P(R wrong, M right)
      pooled: sum of conflicts (gains) / sum of items over the COVERED domains, those with a rate. A domain
      without one (no reference run, reference not evaluated on it, no shared item, nothing comparable under
      the variant) has rate None and makes the pooled result `partial`, with the domain listed in
      `missing_domains` and why in `missing`: the pooled rate never silently stands for the whole run.
    Also reported per domain: score of M (all its items), and on the items both were evaluated on, the score of
    R and of the base model; delta vs specialist = score_M - score_spec, delta vs base = score_M - score_base,
    each over the items both sides have (score = accuracy, or mean NLL for NLL-only domains: lower is better).
    The two evaluations compared must share their generation settings (evaluation.evaluation_settings:
    max_new_tokens, greedy, temperature, max_len, max_items, scorer version... and the rendered prompt, i.e.
    the chat template, per item): a difference is a warning, or with strict=True a SettingsMismatch error.

    tau defaults to DEFAULT_TAU = 0.05 nats/token (loss variant only). Two runs that do equally well on an item
    still differ in its per-token NLL by small amounts (other LoRA weights, bf16/fp16 kernels, batch padding),
    so with tau = 0 about half the items of two equivalent runs would count as conflicts: a coin flip, not
    interference. 0.05 nats/token means the mixture gives the reference answer at least ~5% lower per-token
    probability (exp(-0.05) = 0.95). It is a chosen margin, not a measured one: we expect that noise at about
    1e-3..1e-2 nats and domain-training gaps at tenths of a nat, but neither is measured here; tune it with
    --tau (0: the old behaviour).

Interference matrix (ours): for domains a (row, evaluated) and b (column, trained alongside),
    outcome[a][b] = ConflictRate_a of a run trained on exactly the two domains {a, b} (same base model),
                    against a's specialist, when such a run has been trained and evaluated (ensure_pair_runs
                    makes them; recorded ones are preferred); the diagonal is ConflictRate_a of the selected run;
    gradient[a][b] = share of sampled training steps of the selected run where the LoRA gradients of a and b
                     had negative cosine (runs.grad_conflict; symmetric).
"""

from __future__ import annotations

from engine.evaluation.conflict.matrix import interference_matrix
from engine.evaluation.conflict.measure import conflict_rate, conflicting_items, summary_for_runs
from engine.evaluation.conflict.plan import PlannedRun, ReferencePlan, reference_plan
from engine.evaluation.conflict.rates import (
    DEFAULT_TAU,
    DEFINITION,
    LABELS,
    MISSING,
    REFERENCES,
    VARIANTS,
    ConflictError,
    ConflictResult,
    DomainConflict,
    SettingsMismatch,
    conflict_from_items,
    domain_score,
    is_conflict,
    is_gain,
    paired_scores,
)
from engine.evaluation.conflict.references import (
    base_run_for,
    ensure_pair_runs,
    ensure_specialists,
    pair_runs,
    run_domains,
    specialists,
)
from engine.evaluation.conflict.report import compare, results_rows
from engine.evaluation.conflict.settings import mismatch_text, settings_differences

__all__ = [
    "ConflictError",
    "ConflictResult",
    "DEFAULT_TAU",
    "DEFINITION",
    "DomainConflict",
    "LABELS",
    "MISSING",
    "PlannedRun",
    "REFERENCES",
    "ReferencePlan",
    "SettingsMismatch",
    "VARIANTS",
    "base_run_for",
    "compare",
    "conflict_from_items",
    "conflict_rate",
    "conflicting_items",
    "domain_score",
    "ensure_pair_runs",
    "ensure_specialists",
    "interference_matrix",
    "is_conflict",
    "is_gain",
    "mismatch_text",
    "pair_runs",
    "paired_scores",
    "reference_plan",
    "results_rows",
    "run_domains",
    "settings_differences",
    "specialists",
    "summary_for_runs",
]
