"""KNN-Uniform (TSDS; the reference's selection/tsds_subset.py `run_tsds_knn_uniform`, which its command line
never reaches: its branch tests "knn_uniform_cos" while the choices are knn_kde|knn_uniform, so
`--selection_method knn_uniform` runs KNN-KDE; here each name runs its own algorithm).

Distances d = 1 - S. Per query its L = 5000 nearest candidates (L = N when fewer), sorted ascending (equal
distances: smaller column first; the reference's argpartition + argsort leaves that order unspecified).
K grows from 1 while (alpha / C) * sum_i sum_{k<=K} (d_{i,K+1} - d_{i,k}) < (1 - alpha) * M (alpha = 0.01,
C = 5, at most L); then each query gives mass 1 / (K * M) to each of its first K neighbours. Candidates ranked
by total mass descending, equal mass to the smaller column. The reference warns when fewer than 10,000
candidates get mass; that warning is a note of the result here.

The double sum is the same for every K in one vectorised step: with D_K = sum_i d_{i,K} (1-indexed),
G(K) = K * D_{K+1} - (D_1 + ... + D_K), non-decreasing in K, so K is the first K where the test fails.
"""

from __future__ import annotations

import numpy as np

from engine.targeting.similarity import as_source, check_budget, stable_rank, top_k_rows, with_best_query

L_NEIGHBOURS = 5000
ALPHA = 0.01
C_CONST = 5.0
MIN_NONZERO = 10_000


def neg_distance(B: np.ndarray) -> np.ndarray:
    """-(1 - S), in the similarity's own float type (the largest is the nearest)."""
    return -(1.0 - B)


def choose_k(d: np.ndarray, M: int, *, alpha: float = ALPHA, c: float = C_CONST) -> int:
    """Algorithm 1's K for the sorted neighbour distances d (n_query, L)."""
    L = d.shape[1]
    if L < 2:
        return L
    col = d.sum(axis=0, dtype=np.float64)  # D_1 .. D_L
    cum = np.cumsum(col)
    Ks = np.arange(1, L)  # K = 1 .. L-1 (0-indexed d[:, K] is d_{K+1})
    gaps = Ks * col[Ks] - cum[Ks - 1]
    stop = np.nonzero((alpha / c) * gaps >= (1.0 - alpha) * M)[0]
    return int(Ks[stop[0]]) if len(stop) else L


def knn_uniform_mass(S, *, n_neighbours: int = L_NEIGHBOURS, chunk=None, cancel=None) -> tuple[np.ndarray, dict]:
    """Each candidate's probability mass, and (K, L, n with mass)."""
    src = as_source(S)
    M, N = src.shape
    L = min(n_neighbours, N)
    top = top_k_rows(src, L, key=neg_distance, chunk=chunk, cancel=cancel)
    d = -top.values  # ascending distances, exactly 1 - S in S's float type
    K = choose_k(d, M)
    counts = np.bincount(top.index[:, :K].reshape(-1), minlength=N)
    mass = counts * (1.0 / (K * M))
    return mass, {"K": K, "L": L, "n_with_mass": int((counts > 0).sum())}


def knn_uniform(S, budget: int | None = None, *, chunk: int | None = None, cancel=None):
    """The KNN-Uniform ordering of every candidate (cut to `budget` when given)."""
    src = as_source(S)
    M, N = src.shape
    k = check_budget(budget, N)
    mass, log = knn_uniform_mass(src, chunk=chunk, cancel=cancel)
    order = stable_rank(mass)[:k]
    notes = []
    if log["K"] == N:
        notes.append(
            f"the stopping rule never fired (K = all {N:,} candidates): every candidate gets the same mass and "
            f"the order is by column; KNN-Uniform needs a larger pool"
        )
    elif log["n_with_mass"] < MIN_NONZERO:
        notes.append(
            f"only {log['n_with_mass']:,} of {N:,} candidates get mass (the reference warns below {MIN_NONZERO:,}); "
            f"the rest are ordered by column"
        )
    params = {"alpha": ALPHA, "C": C_CONST, "n_query": M, "n_candidates": N, **log}
    return with_best_query("knn-uniform", order, mass, src, params, notes, chunk=chunk, cancel=cancel)
