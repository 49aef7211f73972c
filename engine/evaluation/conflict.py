"""Conflict Rate (OUR definition; the Gu et al. 2025 paper's exact formula is not public), specialists,
the domain interference matrix and run comparison.

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

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.core.errors import InputError

VARIANTS = ("accuracy", "loss")
REFERENCES = ("specialist", "base")
DEFAULT_TAU = 0.05  # nats per token; why in the module docstring
DEFINITION = (
    "Conflict Rate (our definition, not the paper's, which is unpublished): joint conflict = share of a "
    "domain's eval items (those both runs were evaluated on) that the reference (specialist) gets right "
    "and the mixture model gets wrong; conditional conflict = P(mixture wrong | reference right); gain = "
    "share the reference gets wrong and the mixture right; loss variant: item NLL worse (better, for "
    "gain) than the reference's by more than tau. Pooled over the domains that have a reference; a "
    "domain without one makes the pooled rate partial."
)
# The names the UI and CLI show for the three rates (keys: the fields of DomainConflict / ConflictResult).
LABELS = {"rate": "joint conflict", "conditional_conflict_rate": "conditional conflict", "gain_rate": "gain"}
# Why a domain has no rate (DomainConflict.missing).
MISSING = ("no_reference", "not_evaluated", "no_shared", "not_comparable")


class ConflictError(InputError):
    """A conflict-rate request that cannot be answered (unknown run, no specialists, nothing evaluated...)."""


class SettingsMismatch(ConflictError):
    """strict=True and the two evaluations compared differ in a generation setting; `mismatches` lists them."""

    def __init__(self, message: str, mismatches: list[dict]):
        super().__init__(message)
        self.mismatches = mismatches


@dataclass
class DomainConflict:
    """One domain's numbers for a run (None where there is nothing to compare; `missing` and `note` say why)."""

    domain: str
    n: int  # items compared (evaluated by the run and its reference, comparable)
    conflicts: int
    rate: float | None  # joint conflict: conflicts / n = P(reference right, run wrong)
    score: float | None  # the run's accuracy (or mean NLL for NLL-only domains), all its items
    metric: str  # 'accuracy' | 'nll'
    reference_score: float | None  # the reference's score on the items both were evaluated on
    base_score: float | None  # the base model's score on the items it and the run were evaluated on
    delta_vs_specialist: float | None  # score_run - score_specialist over the items both have
    delta_vs_base: float | None  # score_run - score_base over the items both have
    reference_run: int | None = None
    reference_right: int = 0  # compared items the reference got right (accuracy variant)
    conditional_conflict_rate: float | None = None  # conflicts / reference_right = P(run wrong | reference right)
    gains: int = 0  # reference wrong and run right (loss: NLL better by more than tau)
    gain_rate: float | None = None  # gains / n
    n_run: int = 0  # the run's items of this domain
    n_reference: int = 0  # the reference's items of this domain
    n_shared: int = 0  # items both were evaluated on
    dropped_run: int = 0  # the run's items the reference was not evaluated on (left out)
    dropped_reference: int = 0  # the reference's items the run was not evaluated on (left out)
    n_base_shared: int = 0  # items the run and the base model were both evaluated on
    missing: str | None = None  # why there is no rate (one of MISSING); None: the domain is covered
    note: str | None = None  # the same in words ("code has no specialist")


@dataclass
class ConflictResult:
    run_id: int
    variant: str
    tau: float
    reference: str
    domains: dict[str, DomainConflict] = field(default_factory=dict)
    n: int = 0
    conflicts: int = 0
    rate: float | None = None  # joint conflict, pooled over the covered domains
    definition: str = DEFINITION
    warnings: list[str] = field(default_factory=list)
    reference_right: int = 0
    conditional_conflict_rate: float | None = None
    gains: int = 0
    gain_rate: float | None = None
    n_shared: int = 0  # over the covered domains
    dropped_run: int = 0
    dropped_reference: int = 0
    partial: bool = False  # some domain of the run has no rate: the pooled numbers leave it out
    covered_domains: list[str] = field(default_factory=list)
    missing_domains: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # domain -> why it has no rate, in words
    settings_mismatches: list[dict] = field(default_factory=list)
    strict: bool = False

    @property
    def partial_note(self) -> str:
        """Why the pooled rate is partial, in words ('' when it is not)."""
        return "; ".join(self.missing[d] for d in self.missing_domains)

    def label(self, nd: int = 3, value: float | None = None) -> str:
        """The pooled joint rate (or `value`, another pooled rate) for display: '0.120', '0.120 (partial: code
        has no specialist)', or '- (partial: ...)' when no domain is covered."""
        v = self.rate if value is None else value
        txt = "-" if v is None else f"{v:.{nd}f}"
        return f"{txt} (partial: {self.partial_note})" if self.partial else txt

    def to_dict(self) -> dict:
        d = asdict(self)
        d["domains"] = {k: asdict(v) | {"joint_conflict_rate": v.rate} for k, v in self.domains.items()}
        d["joint_conflict_rate"] = self.rate
        d["label"] = self.label()
        d["labels"] = dict(LABELS)
        return d


# -- the arithmetic on per-item results -------------------------------------------------------------------------
def is_conflict(mix: dict, ref: dict, *, variant: str = "accuracy", tau: float = DEFAULT_TAU) -> bool | None:
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


def is_gain(mix: dict, ref: dict, *, variant: str = "accuracy", tau: float = DEFAULT_TAU) -> bool | None:
    """Whether the run does better than the reference on one item: reference wrong and run right (loss: the
    run's NLL lower by more than tau); None when the item cannot be compared under this variant."""
    if variant == "accuracy":
        if mix.get("correct") is None or ref.get("correct") is None:
            return None
        return bool(mix["correct"]) and not bool(ref["correct"])
    if variant == "loss":
        if mix.get("nll") is None or ref.get("nll") is None:
            return None
        return float(ref["nll"]) - float(mix["nll"]) > tau
    raise ConflictError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")


def domain_score(items: dict[int, dict]) -> tuple[float | None, str]:
    """(score, metric) of a set of item results: accuracy over items with a verdict, else mean NLL."""
    judged = [r["correct"] for r in items.values() if r.get("correct") is not None]
    if judged:
        return sum(1 for c in judged if c) / len(judged), "accuracy"
    nll = [r["nll"] for r in items.values() if r.get("nll") is not None]
    return (sum(nll) / len(nll) if nll else None), "nll"


def paired_scores(a: dict[int, dict], b: dict[int, dict], metric: str) -> tuple[float | None, float | None, int]:
    """(score of a, score of b, n) over the items both have a value for under `metric` (accuracy: a verdict;
    nll: an NLL): the scores a delta may subtract."""
    col = "correct" if metric == "accuracy" else "nll"
    keys = [k for k, r in a.items() if r.get(col) is not None and k in b and b[k].get(col) is not None]
    if not keys:
        return None, None, 0
    if metric == "accuracy":
        sa, sb = sum(1 for k in keys if a[k]["correct"]), sum(1 for k in keys if b[k]["correct"])
    else:
        sa, sb = sum(float(a[k]["nll"]) for k in keys), sum(float(b[k]["nll"]) for k in keys)
    return sa / len(keys), sb / len(keys), len(keys)


def _domain(
    d: str,
    mix_d: dict[int, dict],
    ref_d: dict[int, dict],
    *,
    variant: str,
    tau: float,
    base_d: dict[int, dict] | None = None,
) -> DomainConflict:
    """One domain's numbers from its per-item results (the run's, the reference's, the base model's)."""
    shared = [k for k in mix_d if k in ref_d]
    n = c = right = g = 0
    for k in shared:
        m, r = mix_d[k], ref_d[k]
        x = is_conflict(m, r, variant=variant, tau=tau)
        if x is None:
            continue
        n += 1
        c += int(x)
        g += int(bool(is_gain(m, r, variant=variant, tau=tau)))
        right += int(variant == "accuracy" and bool(r.get("correct")))
    score, metric = domain_score(mix_d)
    sm, rscore, _ = paired_scores(mix_d, ref_d, metric)
    bscore = delta_b = None
    nb = 0
    if base_d:
        nb = sum(1 for k in mix_d if k in base_d)
        smb, bscore, _ = paired_scores(mix_d, base_d, metric)
        delta_b = (smb - bscore) if bscore is not None else None
    dc = DomainConflict(
        d,
        n,
        c,
        (c / n) if n else None,
        score,
        metric,
        rscore,
        bscore,
        (sm - rscore) if rscore is not None else None,
        delta_b,
        reference_right=right,
        conditional_conflict_rate=(c / right) if variant == "accuracy" and right else None,
        gains=g,
        gain_rate=(g / n) if n else None,
        n_run=len(mix_d),
        n_reference=len(ref_d),
        n_shared=len(shared),
        dropped_run=len(mix_d) - len(shared),
        dropped_reference=len(ref_d) - len(shared),
        n_base_shared=nb,
    )
    if not ref_d:
        dc.missing, dc.note = "not_evaluated", f"{d}: no reference results"
    elif not shared:
        dc.missing, dc.note = "no_shared", f"{d}: no item evaluated by both the run and the reference"
    elif not n:
        dc.missing = "not_comparable"
        dc.note = (
            f"{d}: no right/wrong items (NLL only: the loss variant covers it)"
            if variant == "accuracy"
            else f"{d}: no NLL on the shared items"
        )
    return dc


def _pool(res: ConflictResult) -> ConflictResult:
    """Fill the pooled numbers of a result from its domains: sums over the covered domains (rate not None),
    partial when any domain has none."""
    res.n = res.conflicts = res.reference_right = res.gains = res.n_shared = 0
    res.dropped_run = res.dropped_reference = 0
    res.covered_domains, res.missing_domains, res.missing = [], [], {}
    for d, dc in res.domains.items():
        if dc.rate is None:
            res.missing_domains.append(d)
            res.missing[d] = dc.note or f"{d}: no rate"
            continue
        res.covered_domains.append(d)
        res.n += dc.n
        res.conflicts += dc.conflicts
        res.reference_right += dc.reference_right
        res.gains += dc.gains
        res.n_shared += dc.n_shared
        res.dropped_run += dc.dropped_run
        res.dropped_reference += dc.dropped_reference
    res.rate = (res.conflicts / res.n) if res.n else None
    res.gain_rate = (res.gains / res.n) if res.n else None
    res.conditional_conflict_rate = (
        res.conflicts / res.reference_right if res.variant == "accuracy" and res.reference_right else None
    )
    res.partial = bool(res.missing_domains)
    return res


def conflict_from_items(
    mixture: dict[int, dict],
    reference: dict[int, dict],
    *,
    variant: str = "accuracy",
    tau: float = DEFAULT_TAU,
    base: dict[int, dict] | None = None,
) -> ConflictResult:
    """Conflict rates from per-item results (sample_id -> {domain, correct, nll}); items are paired by id and
    grouped by the mixture item's domain. Pure arithmetic: the formula in the module docstring."""
    if variant not in VARIANTS:
        raise ConflictError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    res = ConflictResult(run_id=-1, variant=variant, tau=tau, reference="specialist")
    for d in sorted({r["domain"] for r in mixture.values()}):
        mix_d = {k: v for k, v in mixture.items() if v["domain"] == d}
        ref_d = {k: v for k, v in reference.items() if v.get("domain", d) == d}
        base_d = {k: v for k, v in base.items() if v.get("domain", d) == d} if base else None
        res.domains[d] = _domain(d, mix_d, ref_d, variant=variant, tau=tau, base_d=base_d)
    return _pool(res)


def settings_differences(store, a: dict[int, dict], b: dict[int, dict]) -> list[dict]:
    """The settings that differ between the evaluations behind the items two runs share (a, b: item_results
    rows): [{setting, eval_set, run_value, other_value, evaluations}] from the recorded settings (only those
    both evaluations recorded are compared), and {setting: 'prompt (chat template)', items, of} when the
    rendered prompts of shared items differ."""
    from engine.evaluation.evaluate import evaluation_settings

    shared = [k for k in a if k in b]
    pairs = sorted(
        {(a[k].get("evaluation_id"), b[k].get("evaluation_id")) for k in shared} - {(None, None)},
        key=lambda p: (p[0] or -1, p[1] or -1),
    )
    recorded = evaluation_settings(store, [x for p in pairs for x in p]) if store is not None else {}
    out: list[dict] = []
    seen = set()
    for ea, eb in pairs:
        if ea not in recorded or eb not in recorded or ea == eb:
            continue
        sa, sb = recorded[ea]["settings"], recorded[eb]["settings"]
        for key in sorted(set(sa) & set(sb)):
            if sa[key] != sb[key] and (recorded[ea]["eval_set"], key) not in seen:
                seen.add((recorded[ea]["eval_set"], key))
                out.append(
                    {
                        "setting": key,
                        "eval_set": recorded[ea]["eval_set"],
                        "run_value": sa[key],
                        "other_value": sb[key],
                        "evaluations": [ea, eb],
                    }
                )
    differ = [
        k
        for k in shared
        if a[k].get("prompt") is not None and b[k].get("prompt") is not None and a[k]["prompt"] != b[k]["prompt"]
    ]
    if differ:
        out.append(
            {
                "setting": "prompt (chat template)",
                "eval_set": a[differ[0]].get("eval_set"),
                "run_value": a[differ[0]]["prompt"][-80:],
                "other_value": b[differ[0]]["prompt"][-80:],
                "items": len(differ),
                "of": len(shared),
            }
        )
    return out


def mismatch_text(x: dict) -> str:
    """One settings difference in words."""
    who = f"run {x.get('run', '?')} and {x.get('role', 'the other run')} (run {x.get('other_run', '?')})"
    where = (f"{x['domain']}: " if x.get("domain") else "") + who
    if "items" in x:
        return (
            f"{where} were evaluated with different prompts (chat template) on {x['items']} of {x['of']} "
            f"shared items of {x.get('eval_set')}"
        )
    return (
        f"{where} were evaluated with a different {x['setting']} on {x.get('eval_set')}: "
        f"{x['run_value']!r} vs {x['other_value']!r}"
    )


def _settings_check(store, mismatches: list[dict], warnings: list[str], a: dict, b: dict, **who) -> None:
    """Record (and word as warnings) the settings differences between two runs' evaluations of shared items."""
    for x in settings_differences(store, a, b):
        x = who | x
        mismatches.append(x)
        warnings.append(mismatch_text(x))


def _refuse_if_strict(strict: bool, mismatches: list[dict]) -> None:
    if strict and mismatches:
        names = ", ".join(dict.fromkeys(x["setting"] for x in mismatches))
        raise SettingsMismatch(
            f"refused (strict): the evaluations compared differ in {names}: "
            + "; ".join(mismatch_text(x) for x in mismatches)
            + ". Evaluate both runs with the same settings, or leave strict off to get the "
            "numbers with a warning",
            mismatches,
        )


# -- runs in the store ----------------------------------------------------------------------------------------
def _run(store, run_id):
    from engine.evaluation.evaluate import EvaluationError, get_run_row

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
        rows = con.execute(
            "SELECT DISTINCT domain FROM mixture_items WHERE mixture_id = ? AND kind = 'sample' ORDER BY domain",
            [run.mixture_id],
        ).fetchall()
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
    return {
        r[0]
        for r in con.execute(
            "SELECT id FROM runs WHERE id IN (SELECT unnest(?::INTEGER[])) AND status NOT IN ('failed', 'cancelled')",
            [list(ids) or [-1]],
        ).fetchall()
    }


def _settings(run):
    """The run's LoRA and training settings (for runs that must train the same way)."""
    from engine.training import LoraSettings, TrainSettings, settings_from_dict

    cfg = run.config or {}
    return (
        settings_from_dict(LoraSettings, cfg.get("lora") or {}),
        settings_from_dict(TrainSettings, cfg.get("train") or {}),
    )


def specialists(store, run_id) -> dict[str, int]:
    """domain -> specialist run id serving this mixture run (recorded by ensure_specialists, else runs of kind
    'specialist' whose parent is this run)."""
    run = _run(store, run_id)
    out: dict[str, int] = {}
    con = store.cursor()
    try:
        for rid, dom in con.execute(
            "SELECT id, domain FROM runs WHERE kind = 'specialist' AND parent_run_id = ? "
            "AND status NOT IN ('failed', 'cancelled') ORDER BY id",
            [run.id],
        ).fetchall():
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
    from engine import mixtures
    from engine.training import runs

    run = _run(store, run_id)
    if run.kind != "mixture" or run.mixture_id is None:
        raise ConflictError(f"run {run.name!r} is a {run.kind} run; specialists serve mixture runs")
    have = run_domains(store, run)
    want = list(domains) if domains else have
    unknown = [d for d in want if d not in have]
    if unknown:
        raise ConflictError(
            f"run {run.name!r} has no training items of domain(s) {', '.join(unknown)}; its domains: {', '.join(have)}"
        )
    lora, train = _settings(run)
    out = {}
    for d in want:
        sub = mixtures.domain_subset(store, run.mixture_id, d)
        spec = runs.create_run(
            store,
            sub.id,
            base_model=run.base_model,
            protocol="multi_task",
            lora=lora,
            train=train,
            kind="specialist",
            parent_run_id=run.id,
            domain=d,
            reuse=True,
        )
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
        recorded = {
            _pair_key(*str(k).split("|", 1)): int(v)
            for k, v in _read_record(run, "pairs.json").items()
            if "|" in str(k)
        }
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
    from engine import mixtures
    from engine.training import runs

    run = _run(store, run_id)
    if run.kind != "mixture" or run.mixture_id is None:
        raise ConflictError(f"run {run.name!r} is a {run.kind} run; pair runs serve mixture runs")
    have = run_domains(store, run)
    if pairs is None:
        if len(have) < 2:
            raise ConflictError(
                f"run {run.name!r} has {len(have)} training domain(s) ({', '.join(have) or 'none'});"
                " a domain pair needs two"
            )
        want = [(a, b) for i, a in enumerate(have) for b in have[i + 1 :]]
    else:
        want = []
        for p in pairs:
            if isinstance(p, str):
                p = tuple(x.strip() for x in p.replace("+", "|").replace(",", "|").split("|"))
            if len(p) != 2 or p[0] == p[1]:
                raise ConflictError(f"a pair is two different domains, got {p!r}")
            unknown = [d for d in p if d not in have]
            if unknown:
                raise ConflictError(
                    f"run {run.name!r} has no training items of domain(s) {', '.join(unknown)}; "
                    f"its domains: {', '.join(have)}"
                )
            k = _pair_key(str(p[0]), str(p[1]))
            if k not in want:
                want.append(k)
        if not want:
            raise ConflictError("give at least one pair of domains")
    lora, train = _settings(run)
    out: dict[tuple[str, str], int] = {}
    for a, b in want:
        sub = mixtures.domains_subset(store, run.mixture_id, [a, b])
        pr = runs.create_run(
            store,
            sub.id,
            base_model=run.base_model,
            protocol="multi_task",
            lora=lora,
            train=train,
            kind="mixture",
            parent_run_id=run.id,
            reuse=True,
        )
        out[(a, b)] = pr.id
        ensure_specialists(store, pr.id)  # the parent's specialists (reused), or queued now when it has none
    _merge_record(run, "pairs.json", {f"{a}|{b}": r for (a, b), r in out.items()})
    return out


def base_run_for(store, run) -> int | None:
    """The latest base-model run (kind 'base') of the same base model, if one exists."""
    con = store.cursor()
    try:
        rows = con.execute(
            "SELECT id FROM runs WHERE kind = 'base' AND base_model = ? AND status = 'done' ORDER BY id DESC LIMIT 1",
            [run.base_model],
        ).fetchall()
    finally:
        con.close()
    return rows[0][0] if rows else None


def _ref_word(reference: str) -> str:
    return "specialist" if reference == "specialist" else "base-model run"


def conflict_rate(
    store,
    run_id,
    *,
    variant: str = "accuracy",
    tau: float = DEFAULT_TAU,
    reference: str = "specialist",
    strict: bool = False,
) -> ConflictResult:
    """Per-domain and pooled Conflict Rate (joint, conditional, gain) of a run against its specialists (or the
    base model), with score deltas vs specialist and vs base, all over the items both sides were evaluated on
    (see the module docstring for the definition). A domain without a reference (or without shared items) has
    no rate and makes the result `partial`. Differing evaluation settings are warnings, or with `strict` a
    SettingsMismatch (a ConflictError) naming them."""
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
    store,
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
    store, run_ids, *, variant: str = "accuracy", tau: float = DEFAULT_TAU, full: bool = False
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


def interference_matrix(store, run_id, *, variant: str = "accuracy", tau: float = DEFAULT_TAU) -> dict:
    """Domain-pair interference (our definition, module docstring): outcome[a][b] from two-domain runs of the
    same base model (the ones recorded by ensure_pair_runs first, else any done mixture run of exactly {a, b};
    diagonal: this run's own per-domain rate) and gradient[a][b] from this run's gradient cosines. Missing
    cells are None; `cells["a|b"]` (a < b) says per pair which run serves it and how to fill it."""
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


def _recipe_label(store, mixture_id) -> str | None:
    if mixture_id is None:
        return None
    con = store.cursor()
    try:
        rows = con.execute("SELECT name, version FROM mixtures WHERE id = ?", [mixture_id]).fetchall()
    finally:
        con.close()
    return f"{rows[0][0]} v{rows[0][1]}" if rows else f"mixture {mixture_id}"


def results_rows(
    store,
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
    store, run_ids: list[int], *, variant: str = "accuracy", tau: float = DEFAULT_TAU, strict: bool = False
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
