"""Subset-to-query distances, the paper's lens on every algorithm ("approximate distance minimisation between
the selected subset and the query set"), with distance d = 1 - cosine similarity:

- one-sided Chamfer (subset -> query): the mean over the subset of each sample's distance to its nearest query
  item (what doubly greedy minimises);
- OT: the exact optimal-transport cost (POT's `ot.emd2`, network simplex) between the query set and the subset,
  both uniform (what the OT-style algorithms approximate).

`budget_distances` gives both for prefixes of an ordering (budget k = its first k) and for a seeded random
subset of the same size drawn from the same candidates: the baseline the paper insists on.
"""

from __future__ import annotations

import numpy as np

# The exact OT is a network simplex over n_query x k costs: above this many it is left out (None).
OT_MAX_CELLS = 4_000_000


def chamfer(S_sub: np.ndarray) -> float:
    """Mean over the subset (columns) of 1 - the largest similarity to any query item (rows)."""
    return float(np.mean(1.0 - np.asarray(S_sub, dtype=np.float64).max(axis=0)))


def ot_distance(S_sub: np.ndarray) -> float | None:
    """Exact OT cost between uniform queries (rows) and the uniform subset (columns), cost 1 - similarity."""
    import ot

    M, k = S_sub.shape
    if M * k > OT_MAX_CELLS:
        return None
    C = 1.0 - np.asarray(S_sub, dtype=np.float64)
    return float(ot.emd2(np.full(M, 1.0 / M), np.full(k, 1.0 / k), C, numItermax=10_000_000))


def budget_points(k: int) -> list[int]:
    """The budgets reported for an ordering cut at k: k/8, k/4, k/2 and k (distinct, at least 1)."""
    return sorted({max(1, k // 8), max(1, k // 4), max(1, k // 2), k})


def budget_distances(S, order: np.ndarray, k: int, *, seed: int = 0) -> list[dict]:
    """Chamfer and OT distance of each prefix budget of `order` (columns of S, an array or memmap) and of a
    seeded random subset of each size among all columns."""
    N = S.shape[1]
    rng = np.random.default_rng(seed)
    perm = rng.permutation(N)
    out = []
    for b in budget_points(k):
        sub = np.sort(np.asarray(order[:b]))
        rnd = np.sort(perm[:b])
        A, R = np.asarray(S[:, sub]), np.asarray(S[:, rnd])
        out.append(
            {
                "budget": int(b),
                "chamfer": chamfer(A),
                "ot": ot_distance(A),
                "random_chamfer": chamfer(R),
                "random_ot": ot_distance(R),
            }
        )
    return out
