"""A targeting ordering saved as a selection (engine/quality/selection.py's tables): the first `budget`
candidates, rank = position in the ordering (one group, so `selection_ids` gives them in order), score = the
algorithm's score, why = the query item that pulled the sample in and their similarity. Mixtures use it as a
component of kind "selection" like any other. The params record the request (query set, representation,
algorithm and its parameters) and, per query item, how many of the picks it pulled in."""

from __future__ import annotations

import numpy as np

from engine.core.store import Store
from engine.quality.selection import SelectionInfo, _save_selection
from engine.targeting.similarity import Ordering, TargetingError

ALGOS = {
    "rr": "round-robin",
    "dg": "doubly greedy",
    "uot": "unbalanced OT",
    "knn-uniform": "KNN-Uniform",
    "knn-kde": "KNN-KDE",
}


def why(ordering: Ordering, p: int, label: str) -> str:
    """One line: why position p was picked."""
    q, s, v = int(ordering.query[p]), float(ordering.sim[p]), float(ordering.score[p])
    if ordering.algo == "rr":
        return f"round-robin turn of query {q} ({label}): similarity {s:.4f}"
    if ordering.algo == "dg":
        return f"closest to query {q} ({label}): similarity {s:.4f}"
    what = "transported mass" if ordering.algo == "uot" else "probability"
    return f"{what} {v:.4g}; closest query {q} ({label}): similarity {s:.4f}"


def per_query_counts(ordering: Ordering, n_query: int) -> list[int]:
    """How many of the ordering's candidates each query item pulled in."""
    return np.bincount(ordering.query, minlength=n_query).astype(int).tolist()


def save_ordering(
    store: Store,
    name: str,
    ordering: Ordering,
    candidate_ids,
    *,
    budget: int,
    query_labels: list[str],
    params: dict | None = None,
    replace: bool = False,
) -> SelectionInfo:
    """Save the first `budget` of `ordering` (columns of `candidate_ids`) as selection `name`."""
    ids = np.asarray(candidate_ids, dtype=np.int64)
    if budget < 1 or budget > len(ordering):
        raise TargetingError(f"budget {budget} is outside 1..{len(ordering)} (the ordering's length)")
    head = ordering.head(budget)
    n_query = len(query_labels)
    items = [
        (int(ids[j]), r + 1, "all", float(head.score[r]), why(head, r, query_labels[int(head.query[r])]))
        for r, j in enumerate(head.order.tolist())
    ]
    p = {
        **(params or {}),
        "algo": ordering.algo,
        "budget": int(budget),
        "algo_params": ordering.params,
        "notes": ordering.notes,
        "per_query": per_query_counts(head, n_query),
    }
    return _save_selection(store, name, f"target-{ordering.algo}", p, items, replace=replace)


def quantile_heads(ordering: Ordering, n_quantiles: int, top: int) -> list[tuple[int, int, Ordering]]:
    """The distance-quantile experiment's subsets (the reference's quantile/convert_to_dist_quant.py): the
    ordering of the whole pool cut into `n_quantiles` equal parts (the last one takes the remainder), the first
    `top` of each. Returns (quantile, start position, its head) per quantile."""
    n = len(ordering)
    if isinstance(n_quantiles, bool) or int(n_quantiles) != n_quantiles or not 2 <= n_quantiles <= n:
        raise TargetingError(f"quantiles must be a whole number from 2 to the {n:,} candidates; got {n_quantiles!r}")
    size = n // n_quantiles
    out = []
    for q in range(n_quantiles):
        a = q * size
        b = n if q == n_quantiles - 1 else a + size
        e = min(b, a + int(top))
        sub = Ordering(
            ordering.algo,
            ordering.order[a:e],
            ordering.score[a:e],
            ordering.query[a:e],
            ordering.sim[a:e],
            dict(ordering.params),
            list(ordering.notes),
        )
        out.append((q, a, sub))
    return out
