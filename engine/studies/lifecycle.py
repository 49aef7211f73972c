"""A study's life: made (new_study), planned (plan: runs and time per cell), launched (launch: a mixture version
and a queued run per cell, both reused when they exist), followed (status), extended (extend: more axis values,
more eval sets), evaluated (evaluate_study: every finished cell in one evaluation worker) and read back
(read_study: per-cell scores and the template's reading).

Everything a study knows is in the store (its row, a row per launched cell, the runs and evaluations those
point at); the run queue is the one of engine.training.runs (the app ticks it; `workbench study launch --wait`
ticks it in the foreground), so a study survives the app being killed: the next tick finds its runs as they are.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.errors import InputError
from engine.mixtures import MixtureError, resolve, save
from engine.studies import cells as C
from engine.studies import records as rec
from engine.studies.spec import (
    AXES,
    TEMPLATES,
    Cell,
    Study,
    StudyError,
    cells,
    check_axis,
    key_order,
    log_fractions,
)

if TYPE_CHECKING:
    from engine.core.store import Store

EVAL_KEYS = ("sets", "max_items", "max_new_tokens", "batch_size", "device", "threads")
RUN_KEYS = ("base_model", "lora", "train", "protocol", "order")
OPTION_KEYS = ("domains", "total", "general", "replay")
RATE_RUNS = 10  # finished runs whose speed makes the estimate (the newest)


# -- making a study ---------------------------------------------------------------------------------------------


def _check_run_settings(store: Store, settings: dict) -> None:
    from engine.core.models import ModelError
    from engine.core.models import resolve as resolve_model
    from engine.training import PROTOCOLS, LoraSettings, TrainingError, TrainSettings, settings_from_dict

    try:
        settings_from_dict(LoraSettings, settings.get("lora")).validate()
        settings_from_dict(TrainSettings, settings.get("train")).validate()
    except TrainingError as e:
        raise StudyError(str(e)) from None
    if settings.get("protocol", "multi_task") not in PROTOCOLS:
        raise StudyError(f"protocol must be one of {', '.join(PROTOCOLS)} (got {settings.get('protocol')!r})")
    if settings.get("base_model") is not None:
        try:
            resolve_model(settings["base_model"])
        except ModelError as e:
            raise StudyError(str(e)) from None


def _check_eval(store: Store, ev: dict) -> dict:
    from engine.evaluation.evaluate import eval_pools

    bad = sorted(set(ev) - set(EVAL_KEYS))
    if bad:
        raise StudyError(f"unknown eval setting(s) {', '.join(bad)}; known: {', '.join(EVAL_KEYS)}")
    sets = list(dict.fromkeys(ev.get("sets") or []))
    have = {p["name"] for p in eval_pools(store)}
    unknown = [s for s in sets if s not in have]
    if unknown:
        raise StudyError(
            f"not an eval set: {', '.join(unknown)}; eval sets: {', '.join(sorted(have)) or 'none marked yet'} "
            "(workbench evalset mark POOL)"
        )
    for k in ("max_items", "max_new_tokens", "batch_size", "threads"):
        v = ev.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise StudyError(f"{k}: expected a whole number >= 1, not {v!r}")
    return {**ev, "sets": sets}


def _options(store: Store, template: str, base: dict, options: dict, axes: dict) -> dict:
    out = {k: v for k, v in options.items() if v is not None}
    doms = list(base.get("per_domain") or {})
    if template == "ratio":
        pair = list(out.get("domains") or ([d for d in ("code", "math") if d in doms] if "code" in doms else []))
        if len(pair) != 2 and len(doms) >= 2 and not out.get("domains"):
            pair = doms[:2]
        if len(pair) != 2 or pair[0] == pair[1]:
            raise StudyError(f"the ratio template needs two different domains (--domains A,B); got {pair or 'none'}")
        missing = [d for d in pair if d not in doms]
        if missing:
            raise StudyError(
                f"domain(s) {', '.join(missing)} not in {base['mixture']} (its domains: {', '.join(doms) or 'none'})"
            )
        out["domains"] = pair
        total = out.get("total")
        if total is None:
            total = min(base["per_domain"][d] for d in pair)
        if isinstance(total, bool) or not isinstance(total, int) or total < 1:
            raise StudyError(f"total: expected a whole number >= 1, not {total!r}")
        out["total"] = int(total)
    if template == "protocols":
        general = list(out.get("general") or [d for d in doms if d == "general"])
        unknown = [d for d in general if d not in doms]
        if unknown:
            raise StudyError(f"--general names domain(s) not in {base['mixture']}: {', '.join(unknown)}")
        if "multi_stage" in axes.get("protocol", []) and not general:
            raise StudyError(
                f"the multi-stage protocol trains the general domain(s) last (DMT): name them with --general "
                f"(the domains of {base['mixture']}: {', '.join(doms)})"
            )
        if "multi_stage" in axes.get("protocol", []) and len(general) == len(doms):
            raise StudyError("--general names every domain: the multi-stage protocol needs specialised ones too")
        out["general"] = general
        if "replay" in out:
            r = out["replay"]
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= 1:
                raise StudyError(f"replay: expected a fraction in [0, 1], not {r!r}")
    return out


def new_study(
    store: Store,
    name: str,
    template: str,
    base: str,
    *,
    axes: dict | None = None,
    points: int | None = None,
    step: float | None = None,
    run: dict | None = None,
    options: dict | None = None,
    eval: dict | None = None,
    note: str | None = None,
) -> Study:
    """Make a study (nothing is queued: `launch` does that). base: a targeted selection (targeted), the name a
    distance-quantile experiment was saved under (quantiles: NAME-q0 ...), a mixture version (growth, ratio,
    protocols). axes: axis -> values (defaults per template; growth's fractions: `points` log-spaced volumes,
    each `step` times the one before, ending at the base's whole volume). run: base_model, lora, train, protocol,
    order. options: ratio's domains and total, protocols' general domains and replay share. eval: sets,
    max_items, max_new_tokens, batch_size, device, threads."""
    name = rec.check_study_name(name)
    if template not in TEMPLATES:
        raise StudyError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    base_row, default_axes = C.read_base(store, template, base)
    run = dict(run or {})
    bad = sorted(set(run) - set(RUN_KEYS))
    if bad:
        raise StudyError(f"unknown run setting(s) {', '.join(bad)}; known: {', '.join(RUN_KEYS)}")
    _check_run_settings(store, run)
    given = {a: v for a, v in dict(axes or {}).items() if v is not None}
    for a in given:
        if a not in key_order(template):
            raise StudyError(f"the {template} template has no axis {a!r}; its axes: {', '.join(key_order(template))}")
    if template == "growth" and "fraction" not in given:
        fr = log_fractions(points or 5, step or 4.0)
        n_dom = max(len(base_row.get("per_domain") or {}), 1)
        kept = [f for f in fr if f * base_row["budget"] >= n_dom] or [1.0]
        default_axes["fraction"] = kept
    if template == "ratio":
        default_axes.setdefault("ratio", [0.0, 0.25, 0.5, 0.75, 1.0])
    if template == "protocols":
        default_axes.setdefault("protocol", ["multi_task", "sequential", "multi_stage"])
    if template == "cross":
        default_axes.setdefault("domain", list(base_row.get("per_domain") or {}))
    default_axes.setdefault("seed", [0])
    merged = {a: check_axis(template, a, given.get(a, default_axes.get(a))) for a in AXES[template]}
    for a in key_order(template):
        if a in given and a not in merged:
            merged[a] = check_axis(template, a, given[a])
    if merged.get("model") and run.get("base_model") is not None:
        raise StudyError("give the base models as the model axis (--models A,B) or one base model, not both")
    _check_axis_range(template, base_row, merged)
    settings = run | _options(store, template, base_row, dict(options or {}), merged)
    _add_models(merged, settings)
    _add_provenances(store, merged, base_row)
    ev = _check_eval(store, dict(eval or {}))
    study = Study(0, name, template, base_row, merged, settings, ev, note=note)
    return rec.insert_study(store, study)


def _add_models(axes: dict, settings: dict) -> None:
    """Check each base model of the model axis (local folders made absolute) and record its size (parameters, or
    None when unknown: engine.studies.sizes) in settings["model_sizes"]."""
    from engine.core.models import ModelError
    from engine.core.models import resolve as resolve_model
    from engine.studies.sizes import model_parameters

    if not axes.get("model"):
        return
    sizes = dict(settings.get("model_sizes") or {})
    out = []
    for m in axes["model"]:
        try:
            src = resolve_model(m)
        except ModelError as e:
            raise StudyError(f"model {m!r}: {e}") from None
        spec = str(Path(m).expanduser().resolve()) if src.kind != "hub" and Path(m).expanduser().exists() else m
        out.append(spec)
        if spec not in sizes:
            sizes[spec] = model_parameters(spec)
    axes["model"] = check_axis("growth", "model", out)
    settings["model_sizes"] = sizes


def _add_provenances(store: Store, axes: dict, base: dict) -> None:
    """For each provenance of the axis: the base mixture's domains with items of it and its full budget
    (engine.studies.cells.provenance_base), kept in base["provenance"] so the grid does not move later."""
    if not axes.get("provenance"):
        return
    have = dict(base.get("provenance") or {})
    for pv in axes["provenance"]:
        if pv not in have:
            have[pv] = C.provenance_base(store, base, pv)
    base["provenance"] = have


def _check_axis_range(template: str, base: dict, axes: dict) -> None:
    if template == "cross":
        doms = list(base.get("per_domain") or {})
        missing = [d for d in axes["domain"] if d not in doms]
        if missing:
            raise StudyError(
                f"domain(s) {', '.join(missing)} not in {base['mixture']} (its domains: {', '.join(doms) or 'none'})"
            )
    if template == "targeted":
        big = [b for b in axes["budget"] if b > base["n"]]
        if big:
            raise StudyError(
                f"budget(s) {', '.join(map(str, big))} exceed the selection {base['selection']!r} "
                f"({base['n']:,} samples; budget k is its first k)"
            )
    if template == "quantiles":
        big = [q for q in axes["quantile"] if q >= base["n_quantiles"]]
        if big:
            raise StudyError(
                f"quantile(s) {', '.join(map(str, big))} do not exist: {base['selections']} has quantiles "
                f"0..{base['n_quantiles'] - 1}"
            )


def extend(store: Store, name: str, *, axes: dict | None = None, eval_sets: list[str] | None = None) -> list[Cell]:
    """Add axis values (a volume, a budget, a seed ...) and eval sets to a study. Returns the cells the grid
    gained; launching again queues only those (finished cells keep their runs)."""
    study = rec.get_study(store, name)
    before = {c.key for c in cells(study.template, study.axes)}
    new_axes = dict(study.axes)
    for a, vals in (axes or {}).items():
        if a not in key_order(study.template):
            raise StudyError(
                f"the {study.template} template has no axis {a!r}; its axes: {', '.join(key_order(study.template))}"
            )
        if a in ("model", "provenance") and not study.axes.get(a):
            raise StudyError(
                f"study {study.name!r} has no {a} axis: its cells would change keys; make a new study with --{a}s"
            )
        new_axes[a] = check_axis(study.template, a, [*study.axes.get(a, []), *vals])
    _check_axis_range(study.template, study.base, new_axes)
    _add_models(new_axes, study.settings)
    _add_provenances(store, new_axes, study.base)
    if eval_sets:
        study.eval = _check_eval(store, {**study.eval, "sets": [*study.eval.get("sets", []), *eval_sets]})
    study.axes = new_axes
    study = rec.update_study(store, study)
    return [c for c in cells(study.template, study.axes) if c.key not in before]


# -- plan -------------------------------------------------------------------------------------------------------


def _work(n_items: int, n_tokens: int, train: dict) -> float:
    """Estimated tokens a run processes (samples.n_tokens estimates): its items times epochs, capped by max_steps
    times the examples per step; the same formula for measured runs and planned cells, so its error cancels."""
    if not n_items:
        return 0.0
    items = n_items * float(train.get("epochs", 1.0) or 1.0)
    if train.get("max_steps"):
        per_step = int(train.get("batch_size", 8) or 8) * int(train.get("grad_accum", 1) or 1)
        items = min(items, int(train["max_steps"]) * per_step)
    return items * (n_tokens / n_items)


def measured_rate(store: Store, base_model: str | None) -> tuple[float | None, list[int]]:
    """Estimated tokens per second of wall time (model load included) of the newest finished mixture runs of
    this base model in this store (the median of up to RATE_RUNS), and those runs' ids; (None, []) when none."""
    from engine.training.runs import DEFAULT_BASE_MODEL, list_runs

    model = base_model or DEFAULT_BASE_MODEL
    runs = [
        r
        for r in list_runs(store)
        if r.status == "done"
        and r.kind != "base"
        and r.mixture_id is not None
        and (r.base_model or "") == model
        and r.started_at
        and r.finished_at
    ][-RATE_RUNS:]
    if not runs:
        return None, []
    sizes = {
        int(m): (int(n), int(t))
        for m, n, t in store.fetchall(
            "SELECT mixture_id, count(*), coalesce(sum(n_tokens), 0) FROM mixture_items "
            "WHERE mixture_id IN (SELECT unnest(?::INTEGER[])) GROUP BY mixture_id",
            [[r.mixture_id for r in runs]],
        )
    }
    rates, used = [], []
    for r in runs:
        n, t = sizes.get(int(r.mixture_id), (0, 0))
        secs = (r.finished_at - r.started_at).total_seconds()
        w = _work(n, t, r.config.get("train") or {})
        if secs > 0 and w > 0:
            rates.append(w / secs)
            used.append(r.id)
    return (statistics.median(rates) if rates else None), used


@dataclass
class PlannedCell:
    key: str
    arm: str
    params: dict
    state: str  # "new" (nothing made yet) or its run's status
    run_id: int | None
    n_items: int
    n_tokens: int
    per_domain: dict
    estimate_s: float | None


@dataclass
class Plan:
    study: str
    cells: list[PlannedCell]
    rate: float | None  # estimated tokens per second measured here
    rate_runs: list[int]
    notes: list[str] = field(default_factory=list)

    @property
    def new(self) -> list[PlannedCell]:
        return [c for c in self.cells if c.state in ("new", "failed", "cancelled") and c.arm != "base"]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_runs"] = len([c for c in self.cells if c.arm != "base"])
        d["n_new"] = len(self.new)
        known = [c.estimate_s for c in self.new if c.estimate_s is not None]
        d["estimate_s"] = sum(known) if known and len(known) == len(self.new) else None
        return d


def plan(store: Store, name: str) -> Plan:
    """What launching the study would do: per cell its volume, the run it has (state) and an estimated training
    time from this store's finished runs of the same base model (tokens per second of wall time)."""
    study = rec.get_study(store, name)
    have = rec.cell_rows(store, study.id)
    status = rec.run_statuses(store, [r.run_id for r in have.values() if r.run_id])
    models = list(study.axes.get("model") or []) or [study.settings.get("base_model")]
    rates = {m: measured_rate(store, m) for m in models}  # per base model of the study
    rate, used = rates[models[0]]
    train = study.settings.get("train") or {}
    out = []
    for cell in cells(study.template, study.axes):
        row = have.get(cell.key)
        state = status.get(row.run_id, ("new", None))[0] if row and row.run_id else "new"
        vol = C.cell_volume(store, study, cell)
        est = None
        cell_rate = rates.get(cell.params.get("model"), (rate, used))[0]
        if cell.arm != "base" and cell_rate:
            est = _work(vol.n_items, vol.n_tokens, train) / cell_rate
        out.append(
            PlannedCell(
                cell.key,
                cell.arm,
                cell.params,
                state,
                row.run_id if row else None,
                vol.n_items,
                vol.n_tokens,
                vol.per_domain,
                est,
            )
        )
    notes = []
    for m in models[1:]:
        r_m, used_m = rates[m]
        notes.append(
            f"{m}: time per cell from {len(used_m)} finished run(s) here" if r_m else f"{m}: no time estimate yet"
        )
    if rate is None:
        notes.append(
            f"no time estimate: no finished run of {models[0] or 'the default base model'} "
            "in this store yet (the study's first finished cell gives one)"
        )
    else:
        notes.append(
            f"time per cell from {len(used)} finished run(s) here ({', '.join(map(str, used))}): about "
            f"{rate:,.0f} estimated tokens/s of wall time, model loading included, evaluation not"
        )
    return Plan(study.name, out, rate, used, notes)


# -- launch -----------------------------------------------------------------------------------------------------


@dataclass
class Launched:
    key: str
    run_id: int
    mixture_id: int | None
    what: (
        str  # "new" | "reused" (an identical run existed) | "kept" (the cell's run is queued/running/done) | "resumed"
    )


def _mixture_for(store: Store, study: Study, cell: Cell) -> int:
    """The cell's mixture version: an existing version with the same content hash (any name), else saved as
    `<study>/<cell key>`."""
    recipe = C.cell_recipe(store, study, cell)
    try:
        res = resolve(store, recipe)
        mid = rec.mixture_with_hash(store, res.content_hash)
        if mid is None:
            mid = save(
                store, C.mixture_name(study, cell), recipe, note=f"study {study.name}: {cell.key}", resolution=res
            ).id
    except MixtureError as e:
        raise StudyError(f"cell {cell.key!r}: {e}") from None
    return int(mid)


def launch(store: Store, name: str) -> list[Launched]:
    """Queue every cell of the study that has no run yet (its mixture version and run reused when identical ones
    exist); a cell whose run failed or was cancelled is queued again (it resumes from its last checkpoint).
    Cells whose run is queued, running or done are kept as they are."""
    from engine.training import runs as R

    study = rec.get_study(store, name)
    have = rec.cell_rows(store, study.id)
    status = rec.run_statuses(store, [r.run_id for r in have.values() if r.run_id])
    grid = cells(study.template, study.axes)
    C.check_base_unchanged(store, study)
    if study.template in ("targeted", "quantiles"):
        need: dict[int, int] = {}
        for c in grid:
            if c.arm == "random":
                n = c.params["budget"] if study.template == "targeted" else study.base["n"]
                need[c.params["seed"]] = max(need.get(c.params["seed"], 0), n)
        for seed, n in sorted(need.items()):
            C.ensure_random_selection(store, study, seed, n)
    existing = {r.id for r in R.list_runs(store)}
    out = []
    for cell in grid:
        row = have.get(cell.key)
        if row and row.run_id is not None:
            st = status.get(row.run_id, ("missing", None))[0]
            if st in ("queued", "running", "done"):
                out.append(Launched(cell.key, row.run_id, row.mixture_id, "kept"))
                continue
            if st in ("failed", "cancelled"):
                try:
                    R.resume_run(store, row.run_id)
                    out.append(Launched(cell.key, row.run_id, row.mixture_id, "resumed"))
                    continue
                except InputError:
                    pass  # its folder is gone: a new run below
        kw = C.cell_run_settings(study, cell)
        try:
            if cell.arm == "base":
                mid = None
                run = R.create_run(store, base_model=kw["base_model"], kind="base", reuse=True)
            elif study.template == "cross":
                mid = C.cross_mixture(store, study, cell)
                run = R.create_run(store, mid, name=f"{study.name} {cell.key}", reuse=True, **kw)
            else:
                mid = _mixture_for(store, study, cell)
                run = R.create_run(store, mid, name=f"{study.name} {cell.key}", reuse=True, **kw)
        except R.RunError as e:
            raise StudyError(f"cell {cell.key!r}: {e}") from None
        rec.put_cell(store, study.id, cell.key, cell.arm, cell.params, mid, run.id)
        out.append(Launched(cell.key, run.id, mid, "reused" if run.id in existing else "new"))
        existing.add(run.id)
    return out
