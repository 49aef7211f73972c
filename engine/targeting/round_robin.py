"""Greedy round-robin (the reference's selection/round_robin.py): queries take turns 0, 1, ..., M-1, 0, 1, ...;
on its turn a query takes its most similar candidate not taken yet (on equal similarity the smaller column,
as np.argmax does). Stops at the budget; the picks in order are the ordering, so every prefix is the selection
for a smaller budget.

Instead of an argmax over a whole row per pick (O(budget x N)), each query keeps a list of its best
candidates (value descending, column ascending) and a pointer past the ones taken. A query's list need only
reach as far as the budget (every candidate above its pick is taken, and fewer than `budget` are), so the
lists start at about twice a query's share; when one runs out they are rebuilt over the candidates not yet
taken (one pass over the matrix), which continues exactly where the argmax would. So the whole pool can be
ordered (the distance-quantile experiment) without holding the n_query x N matrix or its argsort.
"""

from __future__ import annotations

import math

import numpy as np

from engine.core.jobs import ProgressMeter
from engine.targeting.similarity import Ordering, as_source, check_budget, top_k_rows

# Per-query lists never grow past this many cells in all (64M: 512 MB of values and columns at most).
MAX_LIST_CELLS = 64 * 1024 * 1024


def round_robin(
    S,
    budget: int | None,
    *,
    chunk: int | None = None,
    list_len: int | None = None,
    progress=None,
    cancel=None,
) -> Ordering:
    """The round-robin ordering of `budget` candidates (None: every candidate) of the similarity `S`
    (an array or a similarity source). `list_len` fixes the per-query list length (tests force refills)."""
    src = as_source(S)
    M, N = src.shape
    k = check_budget(budget, N)
    L = int(list_len) if list_len else min(N, max(16, 2 * math.ceil(k / M) + 16))
    cap = max(L, MAX_LIST_CELLS // M)
    used = np.zeros(N, dtype=bool)
    top = top_k_rows(src, L, chunk=chunk, cancel=cancel)
    ptr = np.zeros(M, dtype=np.int64)
    order = np.empty(k, dtype=np.int64)
    sim = np.empty(k, dtype=np.float64)
    query = np.empty(k, dtype=np.int64)
    n_refills = 0
    meter = ProgressMeter(progress, total=k, unit="picks")
    i = 0
    n = 0
    while n < k:
        idx = top.index[i]
        p = int(ptr[i])
        while p < len(idx) and used[idx[p]]:
            p += 1
        if p == len(idx):  # this query's list is used up: rebuild every list over what is left
            n_refills += 1
            if not list_len:
                L = min(cap, 2 * L)
            top = top_k_rows(src, L, exclude=used, chunk=chunk, cancel=cancel)
            ptr[:] = 0
            continue
        j = int(idx[p])
        used[j] = True
        order[n], sim[n], query[n] = j, top.values[i, p], i
        ptr[i] = p + 1
        n += 1
        i = (i + 1) % M
        if n % 4096 == 0:
            meter.advance(4096)
            if cancel is not None:
                cancel.check()
    return Ordering(
        "rr",
        order,
        sim.copy(),
        query,
        sim,
        {"budget": k, "n_query": M, "n_candidates": N},
        [f"{n_refills} list rebuilds"] if n_refills else [],
    )


def round_robin_naive(S: np.ndarray, budget: int) -> list[int]:
    """The plain O(budget x N) loop, an argmax over each row per pick: the baseline of bench/targeted.py."""
    S = np.asarray(S)
    used = np.zeros(S.shape[1], dtype=bool)
    picked: list[int] = []
    i = 0
    while len(picked) < budget:
        j = int(np.argmax(np.where(used, -np.inf, S[i])))
        used[j] = True
        picked.append(j)
        i = (i + 1) % S.shape[0]
    return picked
