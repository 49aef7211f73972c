"""The query x candidate similarity every targeting algorithm reads, in column blocks.

A similarity source has `shape` (n_query, n_candidates) and `blocks(chunk)`, which yields (start column,
float32 block of shape (n_query, b)) left to right. `DenseSimilarity` wraps an array, in memory or an
`np.memmap` on disk (a 500 x 200k matrix is 400 MB: the representations write it to disk once, chunk by chunk,
and the algorithms never hold more than a block of it, plus per-query lists of bounded length).

`top_k_rows` is the one top-k the algorithms share: per query row, the k best columns ordered by value
descending and, on equal values, by column ascending (what np.argmax's first-index rule gives one pick at a
time), merged block by block so only (n_query, k) is ever kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from engine.core.errors import InputError

# A block holds about this many similarities (64 MB of float32) unless a caller says otherwise.
BLOCK_CELLS = 16 * 1024 * 1024


class TargetingError(InputError):
    """A targeting request that cannot be honoured (the message says why)."""


def block_columns(n_query: int, chunk: int | None = None) -> int:
    """Columns per block: `chunk` when given, else about BLOCK_CELLS similarities per block."""
    if chunk is not None:
        if int(chunk) < 1:
            raise TargetingError(f"chunk must be at least 1 column, got {chunk}")
        return int(chunk)
    return max(256, BLOCK_CELLS // max(1, n_query))


class DenseSimilarity:
    """A similarity matrix held as an array (or a memmap): blocks are column slices, checked finite."""

    def __init__(self, S: np.ndarray):
        if getattr(S, "ndim", 0) != 2:
            raise TargetingError(f"a similarity matrix is 2-D (queries x candidates), got shape {np.shape(S)}")
        if S.shape[0] < 1 or S.shape[1] < 1:
            raise TargetingError(f"empty similarity matrix: {S.shape[0]} queries x {S.shape[1]} candidates")
        self.S = S
        self.shape = (int(S.shape[0]), int(S.shape[1]))

    def blocks(self, chunk: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        M, N = self.shape
        b = block_columns(M, chunk)
        for a in range(0, N, b):
            B = np.asarray(self.S[:, a : a + b])
            if B.dtype != np.float32 and B.dtype != np.float64:
                B = B.astype(np.float32)
            if not np.isfinite(B).all():
                r, c = np.argwhere(~np.isfinite(B))[0]
                raise TargetingError(
                    f"similarity of query {int(r)} and candidate {a + int(c)} is {B[r, c]!r}: "
                    f"every similarity must be a finite number"
                )
            yield a, B


def as_source(S) -> DenseSimilarity:
    """An array becomes a DenseSimilarity; a source is returned as is."""
    return S if hasattr(S, "blocks") else DenseSimilarity(np.asarray(S) if not isinstance(S, np.memmap) else S)


def best_of_rows(V: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k entries of V (n_rows, n) with the largest values, ties to the smaller id in ids
    (same shape), returned sorted that way: (values (n_rows, k), ids (n_rows, k))."""
    n_rows, n = V.shape
    k = min(int(k), n)
    if k < n:
        neg = -V
        part = np.argpartition(neg, k - 1, axis=1)
        thr = np.take_along_axis(neg, part[:, k - 1 : k], axis=1)  # the k-th smallest of -V per row
        strict = neg < thr
        tie = neg == thr
        need = k - strict.sum(axis=1)
        n_tie = tie.sum(axis=1)
        over = np.nonzero(n_tie > need)[0]
        if len(over):  # more ties at the boundary than places: keep the smallest ids among them
            for r in over:
                cols = np.nonzero(tie[r])[0]
                keep = cols[np.argsort(ids[r, cols], kind="stable")[: need[r]]]
                tie[r] = False
                tie[r, keep] = True
        keep = strict | tie
        rows, cols = np.nonzero(keep)
        V = V[rows, cols].reshape(n_rows, k)
        ids = ids[rows, cols].reshape(n_rows, k)
    order = np.lexsort((ids, -V))  # along each row: value descending, then id ascending
    return np.take_along_axis(V, order, axis=1), np.take_along_axis(ids, order, axis=1)


@dataclass
class TopK:
    """Per query row the k best candidates: values (n_query, k) and candidate columns (n_query, k)."""

    values: np.ndarray
    index: np.ndarray
    extra: dict = field(default_factory=dict)


def _merge_ragged(best_v, best_i, rows, vals, ids, k):
    """Merge per-row candidates (rows, vals, ids: flat) into the full (M, k) best lists, keeping the k best
    per row (value descending, id ascending)."""
    M = best_v.shape[0]
    allr = np.concatenate([np.repeat(np.arange(M), k), rows])
    allv = np.concatenate([best_v.reshape(-1), vals.astype(np.float64)])
    alli = np.concatenate([best_i.reshape(-1), ids])
    o = np.lexsort((alli, -allv, allr))
    allr, allv, alli = allr[o], allv[o], alli[o]
    starts = np.cumsum(np.bincount(allr, minlength=M)) - np.bincount(allr, minlength=M)
    keep = (np.arange(len(allr)) - starts[allr]) < k
    return allv[keep].reshape(M, k), alli[keep].reshape(M, k)


def top_k_rows(
    source,
    k: int,
    *,
    key: Callable[[np.ndarray], np.ndarray] | None = None,
    exclude: np.ndarray | None = None,
    chunk: int | None = None,
    cancel=None,
) -> TopK:
    """Per query row the k columns with the largest key(similarity) (key None: the similarity itself), ties
    to the smaller column, over the columns not marked in `exclude` (a bool array over candidates). k is
    cut to the number of columns left. Reads the source block by block, keeping only (n_query, k): once every
    row has k, a block only contributes the entries above each row's current k-th value (one comparison
    pass; blocks come left to right, so an entry equal to it loses the tie)."""
    M, N = source.shape
    n_open = N if exclude is None else int(N - exclude.sum())
    k = min(int(k), n_open)
    best_v = np.empty((M, 0), dtype=np.float64)
    best_i = np.empty((M, 0), dtype=np.int64)
    for a, B in source.blocks(chunk):
        if cancel is not None:
            cancel.check()
        b = B.shape[1]
        cols = np.arange(a, a + b, dtype=np.int64)
        if exclude is not None:
            open_ = ~exclude[a : a + b]
            if not open_.any():
                continue
            B, cols = B[:, open_], cols[open_]
        V = key(B) if key is not None else B
        start = 0
        if best_v.shape[1] < k:  # filling: the full top-k of a head piece of the block
            start = min(V.shape[1], max(k, 2048))
            head = V[:, :start]
            v, i = best_of_rows(head, np.broadcast_to(cols[:start], head.shape), k)
            if best_v.shape[1]:
                v, i = best_of_rows(np.concatenate([best_v, v], 1), np.concatenate([best_i, i], 1), k)
            best_v, best_i = v.astype(np.float64), np.ascontiguousarray(i)
        if start < V.shape[1] and best_v.shape[1] == k and k > 0:
            rest = V[:, start:]
            r, c = np.nonzero(rest > best_v[:, -1:])
            if len(r):
                best_v, best_i = _merge_ragged(best_v, best_i, r, rest[r, c], cols[start + c], k)
    return TopK(best_v, best_i)


def column_best(source, *, chunk: int | None = None, cancel=None) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate the most similar query (the first on ties) and that similarity: (query int64 (N,),
    similarity float64 (N,)). The query that 'pulls' a candidate in for every algorithm but round-robin."""
    M, N = source.shape
    q = np.empty(N, dtype=np.int64)
    s = np.empty(N, dtype=np.float64)
    for a, B in source.blocks(chunk):
        if cancel is not None:
            cancel.check()
        j = B.argmax(axis=0)
        q[a : a + B.shape[1]] = j
        s[a : a + B.shape[1]] = B[j, np.arange(B.shape[1])]
    return q, s


@dataclass
class Ordering:
    """What a targeting algorithm returns: candidate columns best first (budget k = the first k), and per
    position the algorithm's score, the query item that pulled the candidate in and their similarity."""

    algo: str
    order: np.ndarray  # int64 candidate columns
    score: np.ndarray  # float64: round-robin similarity, DG max similarity, UOT mass, KNN probability
    query: np.ndarray  # int64 query row that pulled each one in
    sim: np.ndarray  # float64 similarity of the candidate to that query
    params: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.order)

    def head(self, k: int) -> Ordering:
        """The selection for budget k: the first k of the ordering."""
        k = int(k)
        return Ordering(
            self.algo,
            self.order[:k],
            self.score[:k],
            self.query[:k],
            self.sim[:k],
            dict(self.params),
            list(self.notes),
        )


def check_budget(budget: int | None, n: int) -> int:
    """The budget as a count: None orders every candidate; otherwise 1..n (more than n is refused, as the
    reference does)."""
    if budget is None:
        return n
    if isinstance(budget, bool) or int(budget) != budget or budget < 1:
        raise TargetingError(f"budget must be a whole number of samples, 1 or more; got {budget!r}")
    if budget > n:
        raise TargetingError(f"budget {budget:,} is more than the {n:,} candidates")
    return int(budget)


def stable_rank(score: np.ndarray) -> np.ndarray:
    """Candidate columns by score descending, ties to the smaller column."""
    return np.argsort(-np.asarray(score), kind="stable").astype(np.int64)


def with_best_query(algo: str, order: np.ndarray, score: np.ndarray, source, params, notes, chunk=None, cancel=None):
    """An Ordering whose pulling query is each candidate's most similar query."""
    q, s = column_best(source, chunk=chunk, cancel=cancel)
    return Ordering(algo, order, np.asarray(score, dtype=np.float64)[order], q[order], s[order], params, notes)
