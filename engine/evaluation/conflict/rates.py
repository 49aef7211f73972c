"""Conflict Rate on per-item results: the definitions, result records and the pure arithmetic (joint,
conditional and gain rates per domain, pooled over the covered domains, partial when one has none)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from engine.core.errors import InputError

VARIANTS = ("accuracy", "loss")
REFERENCES = ("specialist", "base")
DEFAULT_TAU = 0.05  # nats per token; why in the engine.evaluation.conflict docstring
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
    grouped by the mixture item's domain. Pure arithmetic: the formula in the engine.evaluation.conflict docstring."""
    if variant not in VARIANTS:
        raise ConflictError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    res = ConflictResult(run_id=-1, variant=variant, tau=tau, reference="specialist")
    for d in sorted({r["domain"] for r in mixture.values()}):
        mix_d = {k: v for k, v in mixture.items() if v["domain"] == d}
        ref_d = {k: v for k, v in reference.items() if v.get("domain", d) == d}
        base_d = {k: v for k, v in base.items() if v.get("domain", d) == d} if base else None
        res.domains[d] = _domain(d, mix_d, ref_d, variant=variant, tau=tau, base_d=base_d)
    return _pool(res)
