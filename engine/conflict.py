"""Conflict Rate (OUR definition; the Gu et al. 2025 paper's exact formula is not public), specialists,
the domain interference matrix and run comparison.

Definition (ours, after ../shared/docs/methods.md section 1.4; knobs: variant, tau, reference):
    For a mixture run M and a reference run R (default: the single-domain specialist of each domain, trained
    with M's settings on M's items of that domain; or the base model), over the eval items i of domain d that
    both runs were evaluated on:
      variant "accuracy": conflict(i) = R right and M wrong          (items with a right/wrong verdict)
      variant "loss":     conflict(i) = nll_M(i) - nll_R(i) > tau    (held-out NLL of the reference answer;
                                                                      for models too small for accuracy)
      ConflictRate_d(M) = #conflicts in d / #items of d compared
      ConflictRate(M)   = sum over d of conflicts / sum over d of items   (pooled)
    Also reported per domain: score of M, R and the base model; delta vs specialist = score_M - score_spec,
    delta vs base = score_M - score_base (score = accuracy, or mean NLL for NLL-only domains: lower is better).

Interference matrix (ours): for domains a (row, evaluated) and b (column, trained alongside),
    outcome[a][b] = ConflictRate_a of a run trained on exactly the two domains {a, b} (same base model),
                    against a's specialist, when such a run has been trained and evaluated (ensure_pair_runs
                    makes them; recorded ones are preferred); the diagonal is ConflictRate_a of the selected run;
    gradient[a][b] = share of sampled training steps of the selected run where the LoRA gradients of a and b
                     had negative cosine (runs.grad_conflict; symmetric).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

VARIANTS = ("accuracy", "loss")
REFERENCES = ("specialist", "base")
DEFINITION = ("Conflict Rate (our definition, not the paper's, which is unpublished): share of a domain's eval "
              "items that the reference (specialist) gets right and the mixture model gets wrong; loss variant: "
              "item NLL worse than the reference's by more than tau. Pooled over domains.")


class ConflictError(ValueError):
    """A conflict-rate request that cannot be answered (unknown run, no specialists, nothing evaluated...)."""


@dataclass
class DomainConflict:
    """One domain's numbers for a run (None where there is nothing to compare)."""

    domain: str
    n: int                        # items compared (evaluated by the run and its reference)
    conflicts: int
    rate: float | None
    score: float | None           # the run's accuracy (or mean NLL for NLL-only domains)
    metric: str                   # 'accuracy' | 'nll'
    reference_score: float | None
    base_score: float | None
    delta_vs_specialist: float | None
    delta_vs_base: float | None
    reference_run: int | None = None


@dataclass
class ConflictResult:
    run_id: int
    variant: str
    tau: float
    reference: str
    domains: dict[str, DomainConflict] = field(default_factory=dict)
    n: int = 0
    conflicts: int = 0
    rate: float | None = None     # pooled over domains
    definition: str = DEFINITION
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["domains"] = {k: asdict(v) for k, v in self.domains.items()}
        return d


# -- the arithmetic on per-item results -------------------------------------------------------------------------
def is_conflict(mix: dict, ref: dict, *, variant: str = "accuracy", tau: float = 0.0) -> bool | None:
    """Whether one item is a conflict (None when the item cannot be compared under this variant)."""
    if variant == "accuracy":
        if mix.get("correct") is None or ref.get("correct") is None:
            return None
        return bool(ref["correct"]) and not bool(mix["correct"])
    if variant == "loss":
        if mix.get("nll") is None or ref.get("nll") is None:
            return None
        return float(mix["nll"]) - float(ref["nll"]) > tau
    raise ConflictError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")


def domain_score(items: dict[int, dict]) -> tuple[float | None, str]:
    """(score, metric) of a set of item results: accuracy over items with a verdict, else mean NLL."""
    judged = [r["correct"] for r in items.values() if r.get("correct") is not None]
    if judged:
        return sum(1 for c in judged if c) / len(judged), "accuracy"
    nll = [r["nll"] for r in items.values() if r.get("nll") is not None]
    return (sum(nll) / len(nll) if nll else None), "nll"


def conflict_from_items(mixture: dict[int, dict], reference: dict[int, dict], *, variant: str = "accuracy",
                        tau: float = 0.0, base: dict[int, dict] | None = None) -> ConflictResult:
    """Conflict rates from per-item results (sample_id -> {domain, correct, nll}); items are paired by id and
    grouped by the mixture item's domain. Pure arithmetic: the formula in the module docstring."""
    if variant not in VARIANTS:
        raise ConflictError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    res = ConflictResult(run_id=-1, variant=variant, tau=tau, reference="specialist")
    for d in sorted({r["domain"] for r in mixture.values()}):
        mix_d = {k: v for k, v in mixture.items() if v["domain"] == d}
        ref_d = {k: v for k, v in reference.items() if v.get("domain", d) == d}
        n = c = 0
        for sid, m in mix_d.items():
            if sid not in ref_d:
                continue
            x = is_conflict(m, ref_d[sid], variant=variant, tau=tau)
            if x is None:
                continue
            n += 1
            c += int(x)
        score, metric = domain_score(mix_d)
        rscore, rmetric = domain_score(ref_d) if ref_d else (None, metric)
        bscore = None
        if base:
            base_d = {k: v for k, v in base.items() if v.get("domain", d) == d}
            bscore, bmetric = domain_score(base_d) if base_d else (None, metric)
            if bmetric != metric:
                bscore = None
        if rmetric != metric:
            rscore = None
        res.domains[d] = DomainConflict(
            d, n, c, (c / n) if n else None, score, metric, rscore, bscore,
            (score - rscore) if score is not None and rscore is not None else None,
            (score - bscore) if score is not None and bscore is not None else None)
        res.n += n
        res.conflicts += c
    res.rate = (res.conflicts / res.n) if res.n else None
    return res


# -- runs in the store ----------------------------------------------------------------------------------------
def _run(store, run_id):
    from engine.evaluation import EvaluationError, get_run_row

    try:
        return get_run_row(store, run_id)
    except EvaluationError as e:
        raise ConflictError(str(e)) from e


def run_domains(store, run) -> list[str]:
    """The training domains of a run's mixture (mixup items not counted)."""
    if run.mixture_id is None:
        return []
    con = store.cursor()
    try:
        rows = con.execute("SELECT DISTINCT domain FROM mixture_items WHERE mixture_id = ? AND kind = 'sample' "
                           "ORDER BY domain", [run.mixture_id]).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def _read_record(run, name: str) -> dict:
    """A JSON object recorded in the run folder (specialists.json, pairs.json); {} when missing or unreadable."""
    f = Path(run.folder) / name if run.folder else None
    if f is None or not f.is_file():
        return {}
    try:
        raw = json.loads(f.read_text())
    except (ValueError, json.JSONDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def _merge_record(run, name: str, new: dict) -> None:
    """Merge `new` into the JSON object recorded in the run folder (when the folder exists)."""
    f = Path(run.folder) / name if run.folder else None
    if f is not None and f.parent.is_dir():
        f.write_text(json.dumps(_read_record(run, name) | new, indent=1))


def _alive(con, ids) -> set[int]:
    """The ids among `ids` of runs that exist and are not failed or cancelled."""
    return {r[0] for r in con.execute(
        "SELECT id FROM runs WHERE id IN (SELECT unnest(?::INTEGER[])) AND status NOT IN ('failed', 'cancelled')",
        [list(ids) or [-1]]).fetchall()}


def _settings(run):
    """The run's LoRA and training settings (for runs that must train the same way)."""
    from engine.training import LoraSettings, TrainSettings, settings_from_dict

    cfg = run.config or {}
    return (settings_from_dict(LoraSettings, cfg.get("lora") or {}),
            settings_from_dict(TrainSettings, cfg.get("train") or {}))


def specialists(store, run_id) -> dict[str, int]:
    """domain -> specialist run id serving this mixture run (recorded by ensure_specialists, else runs of kind
    'specialist' whose parent is this run)."""
    run = _run(store, run_id)
    out: dict[str, int] = {}
    con = store.cursor()
    try:
        for rid, dom in con.execute("SELECT id, domain FROM runs WHERE kind = 'specialist' AND parent_run_id = ? "
                                    "AND status NOT IN ('failed', 'cancelled') ORDER BY id", [run.id]).fetchall():
            if dom:
                out[dom] = rid
        try:
            recorded = {str(k): int(v) for k, v in _read_record(run, "specialists.json").items()}
        except (ValueError, TypeError):
            recorded = {}
        if recorded:
            alive = _alive(con, recorded.values())
            out.update({d: r for d, r in recorded.items() if r in alive})
    finally:
        con.close()
    return out


def ensure_specialists(store, run_id, *, domains: list[str] | None = None) -> dict[str, int]:
    """For each domain of a mixture run, create (or reuse, when an identical one exists: same base model, domain
    data and settings hash) a single-domain specialist run with the same protocol settings, LoRA and training
    settings. Returns domain -> specialist run id; the runs are queued for training (runs.tick starts them)."""
    from engine import mixtures, runs

    run = _run(store, run_id)
    if run.kind != "mixture" or run.mixture_id is None:
        raise ConflictError(f"run {run.name!r} is a {run.kind} run; specialists serve mixture runs")
    have = run_domains(store, run)
    want = list(domains) if domains else have
    unknown = [d for d in want if d not in have]
    if unknown:
        raise ConflictError(f"run {run.name!r} has no training items of domain(s) {', '.join(unknown)}; "
                            f"its domains: {', '.join(have)}")
    lora, train = _settings(run)
    out = {}
    for d in want:
        sub = mixtures.domain_subset(store, run.mixture_id, d)
        spec = runs.create_run(store, sub.id, base_model=run.base_model, protocol="multi_task", lora=lora,
                               train=train, kind="specialist", parent_run_id=run.id, domain=d, reuse=True)
        out[d] = spec.id
    _merge_record(run, "specialists.json", out)
    return out


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def pair_runs(store, run_id) -> dict[tuple[str, str], int]:
    """(a, b) (sorted) -> two-domain run id recorded for this run by ensure_pair_runs (`<run folder>/pairs.json`);
    runs since failed, cancelled or deleted are left out."""
    run = _run(store, run_id)
    try:
        recorded = {_pair_key(*str(k).split("|", 1)): int(v) for k, v in _read_record(run, "pairs.json").items()
                    if "|" in str(k)}
    except (ValueError, TypeError):
        return {}
    if not recorded:
        return {}
    con = store.cursor()
    try:
        alive = _alive(con, recorded.values())
    finally:
        con.close()
    return {k: v for k, v in recorded.items() if v in alive}


def ensure_pair_runs(store, run_id, *, pairs: list[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
    """For each unordered pair of a mixture run's domains (or the given pairs), create or reuse (same base model,
    pair data and settings hash) a run trained on exactly those two domains: `mixtures.domains_subset` of the
    run's mixture, the run's base model, LoRA and training settings, protocol multi_task, kind 'mixture',
    parent_run_id = this run (a reused run keeps the parent that created it). They fill the outcome half of the
    interference matrix once trained and evaluated with their specialists, which are the parent's (same domain
    data and settings => same content hash): ensure_specialists is called on each pair run and reuses them (or
    queues them when the parent has none yet), so specialists(pair run) is set. Records the mapping in
    `<run folder>/pairs.json`. Returns (a, b) (sorted) -> run id; new runs are queued (runs.tick starts them)."""
    from engine import mixtures, runs

    run = _run(store, run_id)
    if run.kind != "mixture" or run.mixture_id is None:
        raise ConflictError(f"run {run.name!r} is a {run.kind} run; pair runs serve mixture runs")
    have = run_domains(store, run)
    if pairs is None:
        if len(have) < 2:
            raise ConflictError(f"run {run.name!r} has {len(have)} training domain(s) ({', '.join(have) or 'none'});"
                                " a domain pair needs two")
        want = [(a, b) for i, a in enumerate(have) for b in have[i + 1:]]
    else:
        want = []
        for p in pairs:
            if isinstance(p, str):
                p = tuple(x.strip() for x in p.replace("+", "|").replace(",", "|").split("|"))
            if len(p) != 2 or p[0] == p[1]:
                raise ConflictError(f"a pair is two different domains, got {p!r}")
            unknown = [d for d in p if d not in have]
            if unknown:
                raise ConflictError(f"run {run.name!r} has no training items of domain(s) {', '.join(unknown)}; "
                                    f"its domains: {', '.join(have)}")
            k = _pair_key(str(p[0]), str(p[1]))
            if k not in want:
                want.append(k)
        if not want:
            raise ConflictError("give at least one pair of domains")
    lora, train = _settings(run)
    out: dict[tuple[str, str], int] = {}
    for a, b in want:
        sub = mixtures.domains_subset(store, run.mixture_id, [a, b])
        pr = runs.create_run(store, sub.id, base_model=run.base_model, protocol="multi_task", lora=lora,
                             train=train, kind="mixture", parent_run_id=run.id, reuse=True)
        out[(a, b)] = pr.id
        ensure_specialists(store, pr.id)  # the parent's specialists (reused), or queued now when it has none
    _merge_record(run, "pairs.json", {f"{a}|{b}": r for (a, b), r in out.items()})
    return out


def base_run_for(store, run) -> int | None:
    """The latest base-model run (kind 'base') of the same base model, if one exists."""
    con = store.cursor()
    try:
        rows = con.execute("SELECT id FROM runs WHERE kind = 'base' AND base_model = ? AND status = 'done' "
                           "ORDER BY id DESC LIMIT 1", [run.base_model]).fetchall()
    finally:
        con.close()
    return rows[0][0] if rows else None


def conflict_rate(store, run_id, *, variant: str = "accuracy", tau: float = 0.0,
                  reference: str = "specialist") -> ConflictResult:
    """Per-domain and pooled Conflict Rate of a run against its specialists (or the base model), with score
    deltas vs specialist and vs base (see the module docstring for the definition)."""
    from engine.evaluation import item_results

    if reference not in REFERENCES:
        raise ConflictError(f"reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
    if variant not in VARIANTS:
        raise ConflictError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    run = _run(store, run_id)
    mix = item_results(store, run.id)
    if not mix:
        raise ConflictError(f"run {run.name!r} has no evaluation results yet (workbench eval {run.id} --sets ...)")
    base_id = base_run_for(store, run)
    base = item_results(store, base_id) if base_id is not None else {}
    spec = specialists(store, run.id)
    warnings = []
    result = ConflictResult(run.id, variant, tau, reference)
    for d in sorted({r["domain"] for r in mix.values()}):
        mix_d = {k: v for k, v in mix.items() if v["domain"] == d}
        ref_id = base_id if reference == "base" else spec.get(d)
        if ref_id == run.id:  # a run is not its own reference
            ref_id = None
        ref_d = item_results(store, ref_id, domain=d) if ref_id is not None else {}
        if ref_id is None:
            warnings.append(f"{d}: no {reference} run" + (" (workbench conflict --make-specialists)"
                                                          if reference == "specialist" else ""))
        elif not ref_d:
            warnings.append(f"{d}: {reference} run {ref_id} has no evaluation results on these items yet")
        one = conflict_from_items(mix_d, ref_d, variant=variant, tau=tau,
                                  base={k: v for k, v in base.items() if v["domain"] == d})
        dc = one.domains[d]
        dc.reference_run = ref_id
        if reference == "base":
            dc.delta_vs_specialist = None
            sref = spec.get(d)
            if sref is not None:
                s_items = item_results(store, sref, domain=d)
                sscore, smetric = domain_score(s_items) if s_items else (None, dc.metric)
                if sscore is not None and smetric == dc.metric and dc.score is not None:
                    dc.delta_vs_specialist = dc.score - sscore
        result.domains[d] = dc
        result.n += dc.n
        result.conflicts += dc.conflicts
    result.rate = (result.conflicts / result.n) if result.n else None
    result.warnings = warnings
    return result


def conflicting_items(store, run_id, domain: str | None = None, *, variant: str = "accuracy", tau: float = 0.0,
                      reference: str = "specialist") -> list[dict]:
    """The conflicting items of a run: question, the reference's answer, the run's answer (for drill-down)."""
    from engine.evaluation import item_results

    run = _run(store, run_id)
    mix = item_results(store, run.id, domain=domain)
    spec = specialists(store, run.id)
    base_id = base_run_for(store, run)
    out = []
    cache: dict[tuple, dict] = {}
    for sid, m in mix.items():
        ref_id = base_id if reference == "base" else spec.get(m["domain"])
        if ref_id is None:
            continue
        key = (ref_id, m["domain"])
        if key not in cache:
            cache[key] = item_results(store, ref_id, domain=m["domain"])
        r = cache[key].get(sid)
        if r is None or not is_conflict(m, r, variant=variant, tau=tau):
            continue
        out.append({"sample_id": sid, "domain": m["domain"], "scorer": m["scorer"], "question": m["question"],
                    "reference_run": ref_id, "reference_output": r["output"], "reference_extracted": r["extracted"],
                    "reference_nll": r["nll"], "output": m["output"], "extracted": m["extracted"], "nll": m["nll"]})
    return out


def summary_for_runs(store, run_ids, *, variant: str = "accuracy", tau: float = 0.0) -> dict[int, float | None]:
    """Pooled Conflict Rate per run (None when it cannot be computed yet: not evaluated, no specialists or
    specialists not evaluated). Never raises for a run; for the Runs screen."""
    out: dict[int, float | None] = {}
    for rid in run_ids:
        try:
            out[rid] = conflict_rate(store, rid, variant=variant, tau=tau).rate
        except (ConflictError, ValueError):
            out[rid] = None
    return out


def _pair_cell(rid: int | None, status: str | None) -> str:
    """How to fill the empty cells of pair {a, b}, in words."""
    if rid is None:
        return "no pair run: make it (workbench conflict RUN --make-pairs; Results: a), train it, evaluate it"
    if status != "done":
        return f"pair run {rid} is {status}: let it train (Runs), then evaluate it (Results: e)"
    return (f"pair run {rid} needs evaluating with its specialists on the same eval sets (Results: e on this run; "
            f"or workbench conflict {rid} --make-specialists, then workbench eval)")


def interference_matrix(store, run_id, *, variant: str = "accuracy", tau: float = 0.0) -> dict:
    """Domain-pair interference (our definition, module docstring): outcome[a][b] from two-domain runs of the
    same base model (the ones recorded by ensure_pair_runs first, else any done mixture run of exactly {a, b};
    diagonal: this run's own per-domain rate) and gradient[a][b] from this run's gradient cosines. Missing
    cells are None; `cells["a|b"]` (a < b) says per pair which run serves it and how to fill it."""
    from engine.evaluation import get_run_row

    run = _run(store, run_id)
    domains = run_domains(store, run)
    own = conflict_rate(store, run.id, variant=variant, tau=tau)
    domains = sorted(set(domains) | set(own.domains))
    outcome = {a: {b: None for b in domains} for a in domains}
    for a in domains:
        if a in own.domains:
            outcome[a][a] = own.domains[a].rate
    pair_runs_: dict[tuple[str, str], int] = {}
    candidate: dict[tuple[str, str], tuple[int, str]] = {}   # sorted pair -> (run, status) when not filled

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
        others = [r[0] for r in con.execute(
            "SELECT id FROM runs WHERE kind = 'mixture' AND status = 'done' AND base_model = ? AND id <> ? "
            "ORDER BY id", [run.base_model, run.id]).fetchall()]
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
        for b in domains[i + 1:]:
            got = {f"{a}|{b}": (a, b) in pair_runs_, f"{b}|{a}": (b, a) in pair_runs_}
            if all(got.values()):
                rid, status, how = pair_runs_[(a, b)], "done", f"filled from run {pair_runs_[(a, b)]}"
            elif any(got.values()):
                rid = pair_runs_.get((a, b)) or pair_runs_.get((b, a))
                empty = a if not got[f"{a}|{b}"] else b
                status, how = "done", (f"run {rid} gives no {variant} Conflict Rate for {empty} (no item with a "
                                       f"verdict, or its specialist not evaluated; NLL-only domains: loss variant)")
            else:
                rid, status = candidate.get((a, b), (None, None))
                how = _pair_cell(rid, status)
            cells[f"{a}|{b}"] = {"run_id": rid, "status": status, "filled": got, "how": how}
    gradient = {a: {b: None for b in domains} for a in domains}
    try:
        from engine.runs import grad_conflict

        for (a, b), v in grad_conflict(store, run.id).items():
            if a in gradient and b in gradient:
                gradient[a][b] = gradient[b][a] = v["share"]
    except ImportError:
        pass
    n_off = len(domains) * (len(domains) - 1)
    return {"run_id": run.id, "domains": domains, "outcome": outcome, "gradient": gradient,
            "pair_runs": {f"{a}|{b}": r for (a, b), r in pair_runs_.items()}, "cells": cells,
            "filled": sum(1 for (a, b) in pair_runs_ if a != b), "n_cells": n_off, "variant": variant, "tau": tau,
            "definition": "outcome[a][b]: Conflict Rate of domain a in a run trained on {a, b} vs a's specialist "
                          "(diagonal: this run); gradient[a][b]: share of sampled steps with negative gradient "
                          "cosine between a and b in this run (ours)"}


def _recipe_label(store, mixture_id) -> str | None:
    if mixture_id is None:
        return None
    con = store.cursor()
    try:
        rows = con.execute("SELECT name, version FROM mixtures WHERE id = ?", [mixture_id]).fetchall()
    finally:
        con.close()
    return f"{rows[0][0]} v{rows[0][1]}" if rows else f"mixture {mixture_id}"


def results_rows(store, run_ids: list[int] | None = None, *, variant: str = "accuracy", tau: float = 0.0) -> list[dict]:
    """The Results table: one row per evaluated (run, domain) with score, deltas, conflict rate, the recipe
    (mixture name and version) and protocol of the run."""
    from engine.evaluation import item_results

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
            cr = conflict_rate(store, rid, variant=variant, tau=tau)
            per = cr.domains
            pooled = cr.rate
        except ConflictError:
            per, pooled = {}, None
        if not per:
            items = item_results(store, rid)
            for d in sorted({v["domain"] for v in items.values()}):
                sc, metric = domain_score({k: v for k, v in items.items() if v["domain"] == d})
                per[d] = DomainConflict(d, 0, 0, None, sc, metric, None, None, None, None)
        for d, dc in per.items():
            rows.append({"run_id": rid, "run": run.name, "kind": run.kind, "protocol": run.protocol,
                         "recipe": _recipe_label(store, run.mixture_id), "domain": d, "metric": dc.metric,
                         "score": dc.score, "delta_vs_specialist": dc.delta_vs_specialist,
                         "delta_vs_base": dc.delta_vs_base, "conflict_rate": dc.rate, "n_compared": dc.n,
                         "conflicts": dc.conflicts, "pooled_conflict_rate": pooled})
    return rows


def compare(store, run_ids: list[int], *, variant: str = "accuracy", tau: float = 0.0) -> dict:
    """Runs side by side: per run its per-domain rows (results_rows), and for two runs the per-item agreement
    per domain (both right, only A right, only B right, both wrong)."""
    if not run_ids:
        raise ConflictError("give at least one run to compare")
    from engine.evaluation import item_results

    runs = [_run(store, r) for r in run_ids]
    rows = results_rows(store, [r.id for r in runs], variant=variant, tau=tau)
    out = {"runs": [{"id": r.id, "name": r.name, "kind": r.kind, "protocol": r.protocol,
                     "recipe": _recipe_label(store, r.mixture_id), "base_model": r.base_model,
                     "domains": {x["domain"]: x for x in rows if x["run_id"] == r.id}} for r in runs]}
    if len(runs) == 2:
        a, b = item_results(store, runs[0].id), item_results(store, runs[1].id)
        agree: dict[str, dict] = {}
        for sid, ra in a.items():
            rb = b.get(sid)
            if rb is None or ra.get("correct") is None or rb.get("correct") is None:
                continue
            k = {(True, True): "both_right", (True, False): "only_a", (False, True): "only_b",
                 (False, False): "both_wrong"}[(bool(ra["correct"]), bool(rb["correct"]))]
            agree.setdefault(ra["domain"], {"both_right": 0, "only_a": 0, "only_b": 0, "both_wrong": 0})[k] += 1
        out["items"] = agree
    return out
