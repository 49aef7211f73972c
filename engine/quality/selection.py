"""Saved selections: SuperFiltering top-k by IFD, and diversity selections (facility location / SuperFiltering.D,
k-center greedy, cluster-balanced quotas; see docs/selection.md).

SuperFiltering (tianyi-lab/Superfiltering code_ifd/select_data.py): keep samples with IFD < threshold
(strict, default 1.0), sort by IFD descending, take the first int(N * rate) where N is the size of the
group *before* the IFD filter (the reference hard-codes N = 52002, Alpaca's size; we use the group's
size), or a fixed `n`. Groups: the whole filter, each pool, or each domain. Samples without an IFD value
(NULL: empty response, truncated) are never selected. Each item records why it was picked.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from engine.core.errors import InputError
from engine.core.names import check_name
from engine.core.store import Store


class SelectionError(InputError):
    """A selection request that cannot be honoured (the message says why)."""


@dataclass
class SelectionInfo:
    id: int
    name: str
    method: str
    params: dict
    n: int
    content_hash: str
    created_at: object


def _metric_sql(model: str | None) -> tuple[str, list]:
    if model is None:
        return (
            "SELECT sample_id, arg_max_null(value, created_at) AS v FROM scores WHERE metric = ? GROUP BY sample_id"
        ), []
    return (
        "SELECT sample_id, arg_max_null(value, created_at) AS v FROM scores WHERE metric = ? AND model = ? "
        "GROUP BY sample_id"
    ), [model]


def superfiltering_select(
    store: Store,
    name: str,
    *,
    rate: float | None = 0.1,
    n: int | None = None,
    per: str | None = "domain",
    threshold: float = 1.0,
    metric: str = "ifd",
    model: str | None = None,
    filter=None,
    replace: bool = False,
) -> SelectionInfo:
    """Save the SuperFiltering selection of the samples of `filter` as `name`. `filter` is a scope
    (engine.data.scope: the Browse filter, a Scope, or None for every training sample): excluded samples and eval
    pools are left out unless it asks for them."""
    if (rate is None) == (n is None):
        raise SelectionError("give exactly one of rate or n")
    if rate is not None and not (0 < rate <= 1):
        raise SelectionError(f"rate must be in (0, 1], got {rate}")
    if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
        raise SelectionError(f"n must be a whole number of samples per group, 1 or more; got {n}")
    _check_threshold(threshold)
    _check_model(store, metric, model)
    group = {None: "'all'", "all": "'all'", "pool": "CAST(s.pool_id AS VARCHAR)", "domain": "s.domain"}.get(per)
    if group is None:
        raise SelectionError(f"per must be one of all, pool, domain; got {per!r}")
    from engine.data.scope import scope_sql

    f = filter
    wsql, wparams = scope_sql(store, f)
    msql, mparams = _metric_sql(model)
    quota = f"floor(n_group * {float(rate)!r})" if rate is not None else str(int(n))
    sql = f"""
        WITH base AS (
            SELECT s.id, {group} AS grp, m.v
            FROM samples s LEFT JOIN ({msql}) m ON m.sample_id = s.id
            WHERE {wsql}
        ), sized AS (SELECT *, count(*) OVER (PARTITION BY grp) AS n_group FROM base),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY grp ORDER BY v DESC, id) AS rk
            FROM sized WHERE v IS NOT NULL AND v < ?
        )
        SELECT id, grp, v, rk, n_group FROM ranked WHERE rk <= {quota} ORDER BY grp, rk"""
    c = store.cursor()
    try:
        rows = c.execute(sql, [metric, *mparams, *wparams, threshold]).fetchall()
    finally:
        c.close()
    params = {
        "rate": rate,
        "n": n,
        "per": per or "all",
        "threshold": threshold,
        "metric": metric,
        "model": model,
        "filter": _filter_dict(f),
    }
    items = [
        (i, rk, str(g), v, f"{metric} {v:.4f} < {threshold}: rank {rk} of {ng} in {per or 'all'} {g}")
        for (i, g, v, rk, ng) in rows
    ]
    return _save_selection(store, name, "superfiltering", params, items, replace=replace)


def _check_threshold(threshold: float) -> None:
    """A threshold compares as `value < threshold`: NaN would keep everything (DuckDB) or nothing (Python)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or math.isnan(threshold):
        raise SelectionError(f"threshold must be a number (keep IFD < threshold), got {threshold!r}")


def _check_model(store: Store, metric: str, model: str | None) -> None:
    """A scorer model given by name must have values of `metric`; otherwise nothing could be selected."""
    if model is None:
        return
    c = store.cursor()
    try:
        rows = c.execute("SELECT DISTINCT model FROM scores WHERE metric = ? ORDER BY 1", [metric]).fetchall()
        models = [r[0] for r in rows]
    finally:
        c.close()
    if model not in models:
        have = (
            f"models with {metric} values: {', '.join(map(str, models))}" if models else f"nothing has {metric} values"
        )
        raise SelectionError(f"model {model!r}: no {metric} values of this scorer; {have}")


def _save_selection(
    store: Store,
    name: str,
    method: str,
    params: dict,
    items: list[tuple[int, int, str, float | None, str]],
    *,
    replace: bool = False,
) -> SelectionInfo:
    """Save `items` (sample_id, rank, grp, score, why), in order, as selection `name` in one transaction.

    The content hash covers the params and the ordered sample ids. A name clash is a SelectionError
    unless `replace` (then the old selection and its items are deleted in the same transaction)."""
    name = check_name(name, "selection name", error=SelectionError)
    h = hashlib.sha1(
        json.dumps({"params": params, "ids": [int(r[0]) for r in items]}, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]
    with store.transaction() as c:
        old = c.execute("SELECT id FROM selections WHERE name = ?", [name]).fetchall()
        if old and not replace:
            raise SelectionError(f"a selection named {name!r} exists; choose another name or replace it")
        for (oid,) in old:
            c.execute("DELETE FROM selection_items WHERE selection_id = ?", [oid])
            c.execute("DELETE FROM selections WHERE id = ?", [oid])
        sid = store.next_id("selections", c)
        c.execute(
            "INSERT INTO selections (id, name, method, params, content_hash, n) VALUES (?,?,?,?,?,?)",
            [sid, name, method, json.dumps(params, default=str), h, len(items)],
        )
        if items:
            import pyarrow as pa

            tbl = pa.table(
                {
                    "sample_id": pa.array([int(r[0]) for r in items], pa.int64()),
                    "rank": pa.array([int(r[1]) for r in items], pa.int32()),
                    "grp": pa.array([None if r[2] is None else str(r[2]) for r in items], pa.string()),
                    "score": pa.array([None if r[3] is None else float(r[3]) for r in items], pa.float64()),
                    "why": pa.array([r[4] for r in items], pa.string()),
                }
            )
            c.register("_sel", tbl)
            c.execute("INSERT INTO selection_items SELECT ?, sample_id, rank, grp, score, why FROM _sel", [sid])
            c.unregister("_sel")
    return get_selection(store, name)


def _filter_dict(f) -> dict | None:
    """The scope a selection was made in, as saved with it (None: every training sample)."""
    from engine.data.scope import scope_params

    return None if f is None else scope_params(f)


def get_selection(store: Store, name: str) -> SelectionInfo:
    """A saved selection by name (KeyError naming the existing ones when missing)."""
    c = store.cursor()
    r = c.execute(
        "SELECT id, name, method, params, n, content_hash, created_at FROM selections WHERE name = ?", [name]
    ).fetchall()
    r = r[0] if r else None
    names = [x[0] for x in c.execute("SELECT name FROM selections ORDER BY name").fetchall()] if r is None else []
    c.close()
    if r is None:
        raise KeyError(f"no selection named {name!r}; selections: {', '.join(names) or 'none'}")
    return SelectionInfo(r[0], r[1], r[2], json.loads(r[3]) if r[3] else {}, r[4], r[5], r[6])


def list_selections(store: Store) -> list[SelectionInfo]:
    """All saved selections, newest first."""
    c = store.cursor()
    rows = c.execute(
        "SELECT id, name, method, params, n, content_hash, created_at FROM selections ORDER BY created_at DESC"
    ).fetchall()
    c.close()
    return [SelectionInfo(r[0], r[1], r[2], json.loads(r[3]) if r[3] else {}, r[4], r[5], r[6]) for r in rows]


def selection_ids(store: Store, name: str) -> list[int]:
    """Sample ids of a saved selection, in rank order within groups."""
    sel = get_selection(store, name)
    c = store.cursor()
    rows = c.execute(
        "SELECT sample_id FROM selection_items WHERE selection_id = ? ORDER BY grp, rank", [sel.id]
    ).fetchall()
    c.close()
    return [r[0] for r in rows]


# -- diversity selections ---------------------------------------------------------------------------
#
# Facility location (SuperFiltering.D, tianyi-lab/Superfiltering code_diversity_fla/do_fla.py, which calls
# submodlib FacilityLocationFunction(mode="dense", metric="euclidean") and maximize(optimizer="LazyGreedy",
# stopIfZeroGain=False, stopIfNegativeGain=False)): f(S) = sum_i max_{j in S} sim(i, j) over the candidate
# set, maximised greedily with lazy evaluation (Minoux 1978). The dense similarity matrix is n x n float32:
# fine up to ~20k candidates (1.6 GB at 20k), refused above `max_n`.

FL_MAX_N = 20_000
FL_METRICS = ("euclidean_exp", "cosine")


def _check_name(store: Store, name: str, replace: bool) -> None:
    """Refuse early (before any heavy work) a name that breaks the name rule, or exists when not replacing."""
    name = check_name(name, "selection name", error=SelectionError)
    if replace:
        return
    c = store.cursor()
    try:
        hit = c.execute("SELECT 1 FROM selections WHERE name = ?", [name]).fetchall()
    finally:
        c.close()
    if hit:
        raise SelectionError(f"a selection named {name!r} exists; choose another name or replace it")


def _candidate_ids(store: Store, filter) -> list[int]:
    """Ids of the samples of scope `filter` (engine.data.scope; None: every training sample, so neither excluded
    samples nor eval pools unless asked), sorted."""
    from engine.data.scope import scope_ids

    return scope_ids(store, filter).tolist()


def _latest_scores(store: Store, metric: str, ids: list[int], model: str | None = None) -> dict[int, float | None]:
    """Latest value of `metric` (of scorer `model` when given) per sample id among `ids` (missing: absent)."""
    if not ids:
        return {}
    msql, mparams = _metric_sql(model)
    rows = store.fetchall(
        f"SELECT sample_id, v FROM ({msql}) WHERE sample_id BETWEEN ? AND ? AND sample_id = ANY(?)",
        [metric, *mparams, min(ids), max(ids), list(ids)],
    )
    return {int(a): b for a, b in rows}


def _ifd_top(
    store: Store, ids: list[int], top: float, *, threshold: float = 1.0, metric: str = "ifd", model: str | None = None
) -> tuple[list[int], dict]:
    """SuperFiltering.D's IFD pre-filter: keep IFD < threshold (NULLs dropped), then the top
    floor(len(ids) * top) by IFD descending (ties by id). N is the candidate count before the IFD filter,
    as in do_fla.py where ifd_num = 20% of the whole data set."""
    if not (0 < top <= 1):
        raise SelectionError(f"ifd_top must be in (0, 1], got {top}")
    _check_threshold(threshold)
    _check_model(store, metric, model)
    vals = _latest_scores(store, metric, ids, model)
    ok = sorted(((v, i) for i, v in vals.items() if v is not None and v < threshold), key=lambda t: (-t[0], t[1]))
    quota = int(len(ids) * top)
    kept = sorted(i for _v, i in ok[:quota])
    return kept, {"n_before": len(ids), "n_below_threshold": len(ok), "quota": quota, "n_kept": len(kept)}


def _load_vectors(
    store: Store, ids: list[int], model: str | None, text_kind: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """(ids with an embedding, X float32, how many candidates have none)."""
    from engine.geometry.embeddings import load_embeddings, model_name

    if not ids:
        raise SelectionError("no candidate samples (the filter matches no non-excluded training sample)")
    got, X = load_embeddings(store, model=model_name(model), text_kind=text_kind, sample_ids=ids)
    if len(got) == 0:
        raise SelectionError(
            f"none of the {len(ids):,} candidates has a {text_kind} embedding for model "
            f"{model_name(model)!r}; run `workbench embed --text {text_kind}` first"
        )
    return got, X.astype(np.float32, copy=False), len(ids) - len(got)


def similarity_matrix(X: np.ndarray, metric: str = "euclidean_exp") -> np.ndarray:
    """Dense n x n similarity. euclidean_exp: exp(-||xi - xj|| / d) with d = X.shape[1] (submodlib's dense
    euclidean kernel, what SuperFiltering.D uses); cosine: xi . xj / (|xi| |xj|)."""
    X = np.asarray(X, dtype=np.float32)
    if metric == "euclidean_exp":
        sq = np.einsum("ij,ij->i", X, X)
        D2 = sq[:, None] + sq[None, :] - 2.0 * (X @ X.T)
        np.maximum(D2, 0, out=D2)
        np.fill_diagonal(D2, 0)
        np.sqrt(D2, out=D2)
        D2 *= -1.0 / X.shape[1]
        return np.exp(D2, out=D2)
    if metric == "cosine":
        n = np.linalg.norm(X, axis=1, keepdims=True)
        Y = X / np.where(n > 0, n, 1.0)
        return Y @ Y.T
    raise SelectionError(f"metric must be one of {', '.join(FL_METRICS)}; got {metric!r}")


def _fl_gain(S: np.ndarray, cur: np.ndarray, j: int) -> float:
    """Marginal gain of adding j: sum_i max(0, sim(i, j) - cur_i) (cur_i = best similarity to the set so
    far, 0 for the empty set, so negative similarities never count). S is symmetric: row j = column j."""
    d = S[j] - cur
    return float(np.maximum(d, 0, out=d).sum(dtype=np.float64))


def facility_location_lazy(S: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Lazy greedy maximisation of f(S) = sum_i max_{j in S} sim(i, j) for a symmetric similarity
    matrix: a max-heap of upper bounds (stale gains; submodularity makes them upper bounds); the top is
    re-evaluated and taken when its fresh gain still beats the next bound. Ties go to the lower index, so
    the result equals plain greedy (argmax of every gain at every step). Returns (picked, gains)."""
    import heapq

    n = S.shape[0]
    k = min(int(k), n)
    cur = np.zeros(n, dtype=S.dtype)
    heap = [(-_fl_gain(S, cur, j), j) for j in range(n)]
    heapq.heapify(heap)
    picked: list[int] = []
    gains: list[float] = []
    while len(picked) < k and heap:
        _b, j = heapq.heappop(heap)
        g = _fl_gain(S, cur, j)
        if not heap or (-g, j) <= heap[0]:
            picked.append(j)
            gains.append(g)
            np.maximum(cur, S[j], out=cur)
        else:
            heapq.heappush(heap, (-g, j))
    return picked, gains


def facility_location_naive(S: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    """Plain greedy (every gain re-computed at every step); the reference for facility_location_lazy."""
    n = S.shape[0]
    cur = np.zeros(n, dtype=S.dtype)
    left = list(range(n))
    picked, gains = [], []
    for _ in range(min(int(k), n)):
        best = max(left, key=lambda j: (_fl_gain(S, cur, j), -j))
        g = _fl_gain(S, cur, best)
        picked.append(best)
        gains.append(g)
        left.remove(best)
        np.maximum(cur, S[best], out=cur)
    return picked, gains


def _k_candidates(store, name, k, replace, filter, ifd_top, ifd_threshold, ifd_model):
    """Shared start of the k-selections: check k and the name, then the candidates (with the optional
    SuperFiltering.D pre-filter); returns (ids, pre-filter counts or None)."""
    if k < 1:
        raise SelectionError(f"k must be at least 1, got {k}")
    _check_name(store, name, replace)
    ids = _candidate_ids(store, filter)
    pre = None
    if ifd_top is not None:
        ids, pre = _ifd_top(store, ids, ifd_top, threshold=ifd_threshold, model=ifd_model)
        if not ids:
            raise SelectionError(f"no candidate left after the IFD pre-filter ({pre})")
    return ids, pre


def facility_location_select(
    store: Store,
    name: str,
    *,
    k: int,
    model: str | None = None,
    text_kind: str = "instruction_response",
    filter=None,
    ifd_top: float | None = None,
    ifd_threshold: float = 1.0,
    ifd_model: str | None = None,
    metric: str = "euclidean_exp",
    max_n: int = FL_MAX_N,
    replace: bool = False,
) -> SelectionInfo:
    """Save the facility-location (lazy greedy) selection of k samples among the non-excluded samples of
    `filter` that have an embedding. With `ifd_top` (e.g. 0.2) this is SuperFiltering.D: candidates are
    first cut to IFD < ifd_threshold, then the top floor(N * ifd_top) by IFD. Dense similarity: refused
    when more than `max_n` candidates remain (narrow the filter or use ifd_top / kcenter_select)."""
    if metric not in FL_METRICS:
        raise SelectionError(f"metric must be one of {', '.join(FL_METRICS)}; got {metric!r}")
    ids, pre = _k_candidates(store, name, k, replace, filter, ifd_top, ifd_threshold, ifd_model)
    if len(ids) > max_n:
        raise SelectionError(
            f"{len(ids):,} candidates: facility location builds a dense {len(ids):,} x "
            f"{len(ids):,} similarity matrix, limited to max_n = {max_n:,} (~{max_n**2 * 4 / 1e9:.1f} "
            f"GB); narrow the filter, use ifd_top, or kcenter_select"
        )
    got, X, n_missing = _load_vectors(store, ids, model, text_kind)
    S = similarity_matrix(X, metric)
    picked, gains = facility_location_lazy(S, k)
    params = _vector_params(k, model, text_kind, filter, got, n_missing, pre, ifd_top, ifd_threshold, ifd_model)
    params = {**params, "metric": metric}
    items = [
        (int(got[j]), r + 1, "all", g, f"gain {g:.4g} at step {r + 1}") for r, (j, g) in enumerate(zip(picked, gains))
    ]
    return _save_selection(
        store, name, "superfiltering_d" if ifd_top is not None else "facility_location", params, items, replace=replace
    )


def _vector_params(k, model, text_kind, filter, got, n_missing, pre, ifd_top, ifd_threshold, ifd_model) -> dict:
    """The parameters recorded with a selection over embeddings (facility location, k-center)."""
    from engine.geometry.embeddings import model_name

    return {
        "k": k,
        "model": model_name(model),
        "text_kind": text_kind,
        "ifd_top": ifd_top,
        "ifd_threshold": ifd_threshold,
        "ifd_model": ifd_model,
        "ifd_prefilter": pre,
        "n_candidates": len(got),
        "n_without_embedding": n_missing,
        "filter": _filter_dict(filter),
    }


def kcenter_greedy(X: np.ndarray, k: int, *, seed: int = 0) -> tuple[list[int], list[float]]:
    """Farthest-first traversal (Gonzalez 1985): a seeded random first point, then repeatedly the point
    farthest (euclidean) from its nearest picked point. O(n d) memory. Returns (picked, distances), the
    first distance being inf."""
    X = np.asarray(X, dtype=np.float32)
    n = X.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return [], []
    sq = np.einsum("ij,ij->i", X, X)
    first = int(np.random.default_rng(seed).integers(n))
    picked, dists = [first], [float("inf")]
    mind = np.full(n, np.inf, dtype=np.float64)
    j = first
    while True:
        d2 = sq + sq[j] - 2.0 * (X @ X[j])
        np.minimum(mind, np.sqrt(np.maximum(d2, 0)), out=mind)
        mind[picked] = -1.0
        if len(picked) >= k:
            break
        j = int(np.argmax(mind))
        picked.append(j)
        dists.append(float(mind[j]))
    return picked, dists


def kcenter_select(
    store: Store,
    name: str,
    *,
    k: int,
    model: str | None = None,
    text_kind: str = "instruction_response",
    filter=None,
    seed: int = 0,
    ifd_top: float | None = None,
    ifd_threshold: float = 1.0,
    ifd_model: str | None = None,
    replace: bool = False,
) -> SelectionInfo:
    """Save the k-center greedy (farthest-first) selection of k samples among the non-excluded samples of
    `filter` that have an embedding (no n x n matrix: any n that fits as vectors)."""
    ids, pre = _k_candidates(store, name, k, replace, filter, ifd_top, ifd_threshold, ifd_model)
    got, X, n_missing = _load_vectors(store, ids, model, text_kind)
    picked, dists = kcenter_greedy(X, k, seed=seed)
    params = _vector_params(k, model, text_kind, filter, got, n_missing, pre, ifd_top, ifd_threshold, ifd_model)
    params = {**params, "seed": seed}
    items = [
        (
            int(got[j]),
            r + 1,
            "all",
            None if r == 0 else d,
            f"first pick (random, seed {seed})" if r == 0 else f"distance {d:.4g} to the nearest picked",
        )
        for r, (j, d) in enumerate(zip(picked, dists))
    ]
    return _save_selection(store, name, "kcenter", params, items, replace=replace)


def balanced_quotas(
    sizes: dict[int, int], *, n_per_cluster: int | None = None, total: int | None = None
) -> dict[int, int]:
    """Per-cluster quotas: min(n_per_cluster, size), or `total` shared as evenly as possible (max-min fair:
    clusters smaller than the even share give their remainder to the others; leftover units go to the
    largest clusters first, ties by cluster number)."""
    if (n_per_cluster is None) == (total is None):
        raise SelectionError("give exactly one of n_per_cluster or total")
    if n_per_cluster is not None:
        if n_per_cluster < 1:
            raise SelectionError(f"n_per_cluster must be at least 1, got {n_per_cluster}")
        return {c: min(n_per_cluster, s) for c, s in sizes.items()}
    if total < 1:
        raise SelectionError(f"total must be at least 1, got {total}")
    q = {c: 0 for c in sizes}
    left = min(total, sum(sizes.values()))
    open_ = sorted(sizes, key=lambda c: (-sizes[c], c))
    while left > 0 and open_:
        share = left // len(open_)
        if share == 0:
            for c in open_[:left]:
                q[c] += 1
            break
        nxt = []
        for c in open_:
            add = min(share, sizes[c] - q[c])
            q[c] += add
            left -= add
            if q[c] < sizes[c]:
                nxt.append(c)
        open_ = nxt
    return q


def cluster_balanced_select(
    store: Store,
    name: str,
    *,
    clustering: str,
    n_per_cluster: int | None = None,
    total: int | None = None,
    include_noise: bool = False,
    seed: int = 0,
    order_by: str = "random",
    filter=None,
    replace: bool = False,
) -> SelectionInfo:
    """Save a cluster-balanced sample of the non-excluded samples of `filter` assigned in `clustering`:
    per-cluster quotas (balanced_quotas), noise (-1) left out unless include_noise; within a cluster the
    samples are taken in a seeded random order, or by the latest value of METRIC descending for
    order_by="score:METRIC" (samples without a value last, in random order)."""
    from engine.geometry.clusters import ClusterError, get_clustering

    if order_by != "random" and not order_by.startswith("score:"):
        raise SelectionError(f"order_by must be 'random' or 'score:METRIC'; got {order_by!r}")
    _check_name(store, name, replace)
    try:
        cid = get_clustering(store, clustering).id
    except (ClusterError, KeyError) as e:
        raise SelectionError(str(e.args[0] if e.args else e)) from e
    cand = set(_candidate_ids(store, filter))
    rows = store.fetchall(
        "SELECT sample_id, cluster FROM cluster_assignments WHERE clustering_id = ? ORDER BY 1", [cid]
    )
    members: dict[int, list[int]] = {}
    for sid, cl in rows:
        if sid in cand and (include_noise or cl != -1):
            members.setdefault(int(cl), []).append(int(sid))
    if not members:
        raise SelectionError(f"no sample of the scope is assigned to a cluster of {clustering!r}")
    quotas = balanced_quotas({cl: len(m) for cl, m in members.items()}, n_per_cluster=n_per_cluster, total=total)
    rng = np.random.default_rng(seed)
    scores: dict[int, float | None] = {}
    metric = order_by[6:] if order_by.startswith("score:") else None
    if metric:
        scores = _latest_scores(store, metric, sorted(cand))
    items = []
    for cl in sorted(members):
        m = members[cl]
        perm = [m[i] for i in rng.permutation(len(m))]
        if metric:
            perm.sort(key=lambda s: (scores.get(s) is None, -(scores.get(s) or 0.0)))
        q = quotas[cl]
        for r, sid in enumerate(perm[:q]):
            sc = scores.get(sid) if metric else None
            how = f", {metric} {sc:.4g}" if metric and sc is not None else ""
            items.append((sid, r + 1, str(cl), sc, f"cluster {cl}: {r + 1} of {q} (size {len(m)}){how}"))
    params = {
        "clustering": clustering,
        "n_per_cluster": n_per_cluster,
        "total": total,
        "include_noise": include_noise,
        "seed": seed,
        "order_by": order_by,
        "quotas": {str(k): v for k, v in sorted(quotas.items())},
        "filter": _filter_dict(filter),
    }
    return _save_selection(store, name, "cluster_balanced", params, items, replace=replace)
