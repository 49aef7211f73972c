"""KNN-KDE (TSDS with kernel density; the reference's selection/tsds_subset.py `run_tsds_kde`, adapted there
from ZifanL/TSDS with cosine distance instead of L2).

Fixed as in the reference: alpha = 0.01, C = 5, sigma = 0.75, MAX_K = min(5000, max(1, N // 10)) neighbours
per query, KDE over KDE_K = min(1000, max(1, N // 10)) neighbours.
1. Prefetch: per query its max(MAX_K, 2) nearest candidates (at most N) by d = max(1 - S, 0), ascending
   (equal distances: smaller column first, the reference's stable mergesort).
2. Density: for each candidate that some query prefetched, its KDE_K most similar prefetched candidates
   (itself included) by the weighted cosine similarity sum_t w_t <x_t, y_t> over the representation's
   feature sets (LESS: one per checkpoint, weighted by each epoch's mean learning rate; one set with weight
   1 otherwise); kernel max(0, 1 - 2 * (1 - sim) / sigma^2) (the 2 keeps the equivalence with squared L2),
   density = the sum over those neighbours (float32).
3. Probability assignment: a heap over queries keyed by their running sum of inverse densities grows one
   query's neighbourhood at a time until (alpha / C) * total cost >= (1 - alpha) * M; then each query gives
   its first K_i + 1 neighbours mass in proportion to inverse density, the last one topping the query up to
   1 / M. Candidates ranked by mass descending, equal mass to the smaller column.
The reference raises when fewer than 10,000 candidates get mass; here that is a note of the result (a pool
under ~100k candidates could otherwise never use KNN-KDE). The arithmetic keeps the reference's float32
values (densities, the heap keys) so the order matches it.
"""

from __future__ import annotations

import heapq

import numpy as np

from engine.targeting.similarity import (
    TargetingError,
    as_source,
    best_of_rows,
    check_budget,
    stable_rank,
    top_k_rows,
    with_best_query,
)

ALPHA = 0.01
C_CONST = 5.0
SIGMA = 0.75
MAX_K = 5000
KDE_K = 1000
MIN_NONZERO = 10_000


def _clipped_neg_distance(B: np.ndarray) -> np.ndarray:
    return -np.maximum((1.0 - B).astype(np.float32), np.float32(0.0))


def density(
    features: list[np.ndarray],
    weights: list[float],
    rows: np.ndarray,
    k: int,
    *,
    sigma: float = SIGMA,
    chunk: int = 1024,
    cancel=None,
) -> np.ndarray:
    """Kernel density (float32) of each candidate in `rows` among the candidates in `rows`: the sum of the
    kernel over its k most similar (weighted cosine over the feature sets). Row by column blocks, so only
    (chunk, len(rows)) similarities are held at once; features may be memmaps."""
    P = len(rows)
    k = int(min(max(k, 1), P))
    w = np.asarray(weights, dtype=np.float32)
    if len(features) != len(w):
        raise TargetingError(f"{len(features)} feature sets but {len(w)} weights")
    cols = (
        [np.asarray(f[rows], dtype=np.float32) for f in features]
        if P * sum(f.shape[1] for f in features) <= (1 << 28)
        else None
    )
    out = np.empty(P, dtype=np.float32)
    for r0 in range(0, P, chunk):
        if cancel is not None:
            cancel.check()
        r1 = min(P, r0 + chunk)
        q = [np.asarray(f[rows[r0:r1]], dtype=np.float32) for f in features]
        best = np.empty((r1 - r0, 0), dtype=np.float32)
        for c0 in range(0, P, max(chunk, 4096)):
            c1 = min(P, c0 + max(chunk, 4096))
            sim = np.zeros((r1 - r0, c1 - c0), dtype=np.float32)
            for t in range(len(features)):
                y = cols[t][c0:c1] if cols is not None else np.asarray(features[t][rows[c0:c1]], dtype=np.float32)
                sim += w[t] * (q[t] @ y.T)
            both = np.concatenate([best, sim], axis=1)
            ids = np.zeros(both.shape, dtype=np.int64)  # which neighbour does not matter, only the values
            best, _ = best_of_rows(both, ids, k)
            best = best.astype(np.float32)
        dist = np.maximum(np.float32(1.0) - best, np.float32(0.0))
        kern = np.float32(1.0) - np.float32(2.0) * dist / np.float32(sigma**2)
        kern = kern * (kern > 0)
        out[r0:r1] = kern.sum(axis=-1).astype(np.float32)
    return out


def assign_mass(top_dists: np.ndarray, top_indices: np.ndarray, top_kdes: np.ndarray, N: int, max_k: int):
    """Step 3: the heap-based probability assignment. Returns (mass float64 (N,), last K per query)."""
    M = top_indices.shape[0]
    last_k = [0] * M
    heap = [(1.0 / top_kdes[j][0], 0, j) for j in range(M)]
    heapq.heapify(heap)
    weighted = [top_dists[j][0] / top_kdes[j][0] for j in range(M)]
    s = 0.0
    cost = np.zeros(M, dtype=np.float64)
    total = 0.0
    limit = (1 - ALPHA) * M
    while heap:
        count, k, j = heapq.heappop(heap)
        s = count
        total -= cost[j]
        cost[j] = top_dists[j][k + 1] * count - weighted[j]
        total += cost[j]
        if (ALPHA / C_CONST) * total >= limit:
            break
        last_k[j] = k
        if k < max_k - 2:
            heapq.heappush(heap, (count + 1.0 / top_kdes[j][k + 1], k + 1, j))
            weighted[j] += top_dists[j][k + 1] / top_kdes[j][k + 1]
    mass = np.zeros(N, dtype=np.float64)
    for j in range(M):
        given = 0.0
        for k in range(last_k[j] + 1):
            p = 1.0 / M / s / top_kdes[j][k]
            mass[top_indices[j][k]] += p
            given += p
        mass[top_indices[j][last_k[j] + 1]] += max(1.0 / M - given, 0.0)
    return mass, last_k


def knn_kde_mass(S, features: list[np.ndarray], weights: list[float], *, chunk=None, cancel=None):
    """Each candidate's probability mass, and a log (MAX_K, KDE_K, mean K, n with mass)."""
    src = as_source(S)
    M, N = src.shape
    for f in features:
        if f.shape[0] != N:
            raise TargetingError(f"a feature set has {f.shape[0]:,} rows for {N:,} candidates")
    max_k = min(MAX_K, max(1, N // 10))
    kde_k = min(KDE_K, max(1, N // 10))
    pre = int(min(max(max_k, 2), N))
    if pre < 2:
        raise TargetingError(f"KNN-KDE needs at least 2 candidates, got {N}")
    top = top_k_rows(src, pre, key=_clipped_neg_distance, chunk=chunk, cancel=cancel)
    top_dists = (-top.values).astype(np.float32)
    rows = np.unique(top.index.reshape(-1))
    kde = density(features, weights, rows, kde_k, cancel=cancel) if SIGMA != 0 else np.ones(len(rows), np.float32)
    top_kdes = kde[np.searchsorted(rows, top.index)]
    mass, last_k = assign_mass(top_dists, top.index, top_kdes, N, max_k)
    log = {
        "MAX_K": max_k,
        "KDE_K": kde_k,
        "mean_K": float(np.mean(np.array(last_k) + 1)),
        "n_with_mass": int((mass > 0).sum()),
    }
    return mass, log


def knn_kde(
    S,
    features: list[np.ndarray],
    weights: list[float] | None = None,
    budget: int | None = None,
    *,
    chunk: int | None = None,
    cancel=None,
):
    """The KNN-KDE ordering of every candidate (cut to `budget` when given). `features`: the candidates'
    L2-normalised feature sets (rows = columns of S), `weights` one per set (None: equal, summing to 1)."""
    src = as_source(S)
    M, N = src.shape
    k = check_budget(budget, N)
    if not features:
        raise TargetingError("KNN-KDE needs the candidates' features (for the density)")
    w = [1.0 / len(features)] * len(features) if weights is None else list(weights)
    mass, log = knn_kde_mass(src, features, w, chunk=chunk, cancel=cancel)
    order = stable_rank(mass)[:k]
    notes = []
    if log["n_with_mass"] < MIN_NONZERO:
        notes.append(
            f"only {log['n_with_mass']:,} of {N:,} candidates get mass (the reference refuses below "
            f"{MIN_NONZERO:,}); the rest are ordered by column"
        )
    params = {"alpha": ALPHA, "C": C_CONST, "sigma": SIGMA, "weights": w, "n_query": M, "n_candidates": N, **log}
    return with_best_query("knn-kde", order, mass, src, params, notes, chunk=chunk, cancel=cancel)
