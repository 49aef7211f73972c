"""studies: a grid of training runs the workbench plans, queues, evaluates and reads back as curves (docs/studies.md).

A study has a name, a template, a base (a targeted selection, a distance-quantile experiment, or a mixture
version), axes (budgets, quantiles, volume fractions, ratios, protocols, seeds), run settings (base model, LoRA,
training, protocol) and eval settings (eval sets and generation settings). Each cell of its grid is a mixture
version plus run settings, trained as a run of the ordinary run queue; an identical mixture version or run is
reused rather than made again. Every study has a base-model cell (the untouched model, evaluated as a run); the
selection templates also have a seeded random selection of the same size per cell.

Templates:
- `targeted`: a targeted selection at budgets (each budget a prefix of its ordering) vs a seeded random selection
  of the same size from the same scope vs the base model (Nayak et al.; methods.md section 5).
- `quantiles`: one run per distance quantile NAME-q0 .. NAME-q{N-1} of `workbench target --quantiles`, next to
  random and the base model: the paper's performance-vs-distance curve.
- `growth`: DoIT's volume sweep: every domain of a mixture at log-spaced fractions of its volume; growth curves
  per domain with log-linear and saturating power-law fits (methods.md section 6).
- `ratio`: two domains' shares at a fixed total (the code-math competition, methods.md section 1).
- `protocols`: multi-task vs sequential vs multi-stage (DMT) on the same data, with Conflict Rate (section 1.3).
- `cross`: each domain of a mixture trained alone: the cross-ability matrix (training domain -> each eval
  domain's change from the base model), DoIT's transference.

Modules: `spec` (templates, axes, the grid: no store), `records` (the studies and study_cells tables),
`cells` (a cell's recipe, run settings, random baselines, volume), `lifecycle` (new, plan, launch, extend),
`outcomes` (status, evaluate, read, the proposed allocation), `report` and `figures`, `fits` and `reading` (pure: curve fits, allocation, the templates' readings).

Sits at the top of the engine: imports from every package below it (mixtures, training, evaluation, quality).
"""

from __future__ import annotations

from engine.studies.fits import Allocation, Fit, allocate, fit_loglinear, fit_power, growth_pace
from engine.studies.lifecycle import Launched, Plan, PlannedCell, extend, launch, measured_rate, new_study, plan
from engine.studies.outcomes import allocate_study, collect, evaluate_study, read_study, save_allocation, status
from engine.studies.records import get_study, list_studies
from engine.studies.spec import AXES, TEMPLATES, Cell, Study, StudyError, cells, log_fractions

__all__ = [
    "AXES",
    "Allocation",
    "Cell",
    "Fit",
    "Launched",
    "Plan",
    "PlannedCell",
    "Study",
    "StudyError",
    "TEMPLATES",
    "allocate",
    "allocate_study",
    "cells",
    "collect",
    "evaluate_study",
    "extend",
    "fit_loglinear",
    "fit_power",
    "get_study",
    "growth_pace",
    "launch",
    "list_studies",
    "log_fractions",
    "measured_rate",
    "new_study",
    "plan",
    "read_study",
    "save_allocation",
    "status",
]
