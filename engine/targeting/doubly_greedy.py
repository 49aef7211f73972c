"""Doubly greedy (the reference's selection/doubly_greedy.py): each candidate's score is its largest
similarity to any query; candidates ranked by that score descending. The reference sorts with np.argsort's
default (not stable), so its order among equal scores is unspecified; here equal scores go to the smaller
column. One pass over the matrix, one float per candidate."""

from __future__ import annotations

import numpy as np

from engine.targeting.similarity import Ordering, as_source, check_budget, column_best, stable_rank


def doubly_greedy(S, budget: int | None = None, *, chunk: int | None = None, cancel=None) -> Ordering:
    """The doubly-greedy ordering of every candidate (cut to `budget` when given)."""
    src = as_source(S)
    M, N = src.shape
    k = check_budget(budget, N)
    q, s = column_best(src, chunk=chunk, cancel=cancel)
    order = stable_rank(s)[:k]
    return Ordering("dg", order, s[order], q[order], s[order], {"n_query": M, "n_candidates": N})


def doubly_greedy_scores(S: np.ndarray) -> np.ndarray:
    """Max similarity per candidate of an in-memory matrix."""
    return np.asarray(S).max(axis=0)
