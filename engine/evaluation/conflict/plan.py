"""What making specialists or pair runs would queue: how many new runs, how many items, an estimate of time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.evaluation.conflict.references import _run, pair_runs, run_domains, specialists

if TYPE_CHECKING:
    from engine.core.store import Store


@dataclass
class PlannedRun:
    """One run that `ensure_specialists` / `ensure_pair_runs` would create, or reuse when `existing` is set."""

    label: str  # the domain, or "a+b" for a pair
    n_items: int  # training items (the parent's items of those domains)
    existing: int | None  # the run id already serving it (reused, nothing queued)
    estimate_s: float | None  # the parent's measured training time scaled by items; None when unknown


@dataclass
class ReferencePlan:
    kind: str  # "specialists" | "pairs"
    runs: list[PlannedRun]

    @property
    def new(self) -> list[PlannedRun]:
        return [r for r in self.runs if r.existing is None]

    def words(self) -> str:
        """The plan in a few lines, for a confirmation."""
        new = self.new
        if not new:
            return f"every {self.kind[:-1]} run exists already: nothing is queued"
        known = [r.estimate_s for r in new if r.estimate_s is not None]
        total = (
            f"about {_dur(sum(known))} of training in all (the mixture run's own time, scaled by items)"
            if len(known) == len(new)
            else "no time estimate: the mixture run has not finished training"
        )
        lines = [
            f"{r.label}: {r.n_items:,} items" + (f", ~{_dur(r.estimate_s)}" if r.estimate_s is not None else "")
            for r in new
        ]
        reused = [f"{r.label} (run {r.existing})" for r in self.runs if r.existing is not None]
        return f"{len(new)} new run(s) will be queued, one after another: {'; '.join(lines)}. {total}." + (
            f" Reused: {', '.join(reused)}." if reused else ""
        )


def _dur(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _domain_items(store: Store, mixture_id: int) -> dict[str, int]:
    rows = store.fetchall(
        "SELECT domain, count(*) FROM mixture_items WHERE mixture_id = ? AND kind = 'sample' GROUP BY domain",
        [mixture_id],
    )
    return {d: int(n) for d, n in rows}


def _seconds_per_item(run, total_items: int) -> float | None:
    if run.status != "done" or not run.started_at or not run.finished_at or not total_items:
        return None
    return max((run.finished_at - run.started_at).total_seconds(), 0.0) / total_items


def reference_plan(store: Store, run_id, kind: str = "specialists") -> ReferencePlan:
    """What `ensure_specialists` (kind "specialists") or `ensure_pair_runs` ("pairs") would queue for a mixture
    run: one entry per domain (pair) with its items, the run that already serves it, and a time estimate."""
    from engine.evaluation.conflict.rates import ConflictError

    run = _run(store, run_id)
    if run.kind != "mixture" or run.mixture_id is None:
        raise ConflictError(f"run {run.name!r} is a {run.kind} run; {kind} serve mixture runs")
    from engine.training.runs import get_run

    items = _domain_items(store, run.mixture_id)
    per_item = _seconds_per_item(get_run(store, run.id), sum(items.values()))
    doms = run_domains(store, run)
    if kind == "specialists":
        have = specialists(store, run.id)
        groups = [(d, [d], have.get(d)) for d in doms]
    else:
        have_pairs = pair_runs(store, run.id)
        groups = [(f"{a}+{b}", [a, b], have_pairs.get((a, b))) for i, a in enumerate(doms) for b in doms[i + 1 :]]
    out = []
    for label, ds, existing in groups:
        n = sum(items.get(d, 0) for d in ds)
        out.append(PlannedRun(label, n, existing, per_item * n if per_item is not None else None))
    return ReferencePlan(kind, out)
