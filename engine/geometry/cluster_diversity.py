"""Diversity of a set of samples over a clustering: cluster entropy, coverage and exact mean cosine
distance."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.core.store import Store
from engine.geometry.cluster_store import ClusterError, _row
from engine.geometry.embeddings import load_embeddings


@dataclass
class DiversityInfo:
    n: int  # samples of the clustering matching the filter
    n_noise: int
    n_clusters: int  # non-noise clusters of the clustering
    n_covered: int  # non-noise clusters with >= 1 sample in the filter
    coverage: float  # n_covered / n_clusters
    entropy: float  # Shannon entropy (nats) of the cluster distribution of the non-noise samples
    entropy_norm: float | None  # entropy / ln(n_clusters)
    mean_cosine_distance: float | None  # exact mean over all pairs i != j (see diversity())
    notes: list[str] = field(default_factory=list)
    n_missing: int = 0  # given sample_ids that have no assignment in the clustering (left out)


def diversity(
    store: Store, name: str, filter=None, *, sample_ids: Sequence[int] | None = None, chunk: int = 100_000
) -> DiversityInfo:
    """Diversity of the clustering's samples that match `filter` (engine.data.query.Filter; None = all).

    sample_ids: when given, the scope is exactly those samples (e.g. the drawn items of a mixture
    version), intersected with `filter` when both are given. Repeated ids count once (the metrics are
    over a set of samples); ids that have no assignment in the clustering (other pools, excluded at fit
    time, not embedded, unknown) are left out and counted in n_missing. An empty list gives n = 0.

    - entropy: H = -sum_k p_k ln p_k over non-noise clusters, p_k = share of the filter's non-noise
      samples in cluster k; noise samples are excluded (reported as n_noise). entropy_norm = H / ln(K)
      with K the clustering's number of non-noise clusters (1.0 = spread evenly over every cluster).
    - coverage: share of the clustering's non-noise clusters with at least one sample in the filter.
    - mean_cosine_distance: mean of 1 - cos(x_i, x_j) over all ordered pairs i != j of the filter's
      samples (noise included), in the full embedding space. Exact, not sampled: the stored vectors are
      unit length, so sum_{i != j} x_i.x_j = |sum_i x_i|^2 - n and the mean is
      1 - (|sum x|^2 - n) / (n (n - 1)); vectors are streamed `chunk` samples at a time, O(n d) time and
      O(chunk d) memory. None when fewer than 2 samples.
    """
    from engine.data.query import Filter, where_sql

    cid, _n, mname, kind, _p, _c, _a = _row(store, name)
    wsql, wparams = where_sql(store, filter or Filter())
    scope_sql, scope_params, wanted = "", [], None
    if sample_ids is not None:
        wanted = _id_list(sample_ids)
        scope_sql, scope_params = " AND a.sample_id IN (SELECT unnest(?::BIGINT[]))", [wanted]
    c = store.cursor()
    try:
        rows = c.execute(
            f"SELECT a.sample_id, a.cluster FROM cluster_assignments a JOIN samples s ON s.id = a.sample_id "
            f"WHERE a.clustering_id = ?{scope_sql} AND ({wsql}) ORDER BY 1",
            [cid, *scope_params, *wparams],
        ).fetchall()
        n_missing = 0
        if wanted is not None and wanted:
            n_missing = (
                len(wanted)
                - c.execute(
                    "SELECT count(*) FROM cluster_assignments WHERE clustering_id = ? AND sample_id IN "
                    "(SELECT unnest(?::BIGINT[]))",
                    [cid, wanted],
                ).fetchall()[0][0]
            )
        K = c.execute(
            "SELECT count(DISTINCT cluster) FROM cluster_assignments WHERE clustering_id = ? AND cluster >= 0", [cid]
        ).fetchall()[0][0]
    finally:
        c.close()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    labels = np.array([r[1] for r in rows], dtype=np.int64)
    n_noise = int((labels < 0).sum())
    lab = labels[labels >= 0]
    if len(lab):
        counts = np.bincount(lab)
        counts = counts[counts > 0]
        pk = counts / counts.sum()
        H = float(-(pk * np.log(pk)).sum())
        covered = int(len(counts))
    else:
        H, covered = 0.0, 0
    mcd = None
    if len(ids) >= 2:
        s = None
        n = 0
        for k in range(0, len(ids), chunk):
            _sub, X = load_embeddings(store, model=mname, text_kind=kind, sample_ids=ids[k : k + chunk])
            X = X.astype(np.float64)
            X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
            s = X.sum(axis=0) if s is None else s + X.sum(axis=0)
            n += len(X)
        if n >= 2:
            mcd = float(1.0 - (float(s @ s) - n) / (n * (n - 1)))
    notes = ["entropy over non-noise samples (nats)", "mean cosine distance exact (unit vectors), noise included"]
    if n_missing:
        notes.append(f"{n_missing} of the given sample ids are not in this clustering and were left out")
    return DiversityInfo(
        n=int(len(ids)),
        n_noise=n_noise,
        n_clusters=int(K),
        n_covered=covered,
        coverage=covered / K if K else 0.0,
        entropy=H,
        entropy_norm=(H / math.log(K)) if K > 1 else None,
        mean_cosine_distance=mcd,
        notes=notes,
        n_missing=int(n_missing),
    )


def _id_list(sample_ids) -> list[int]:
    """Sorted unique ints from a sequence of sample ids; ClusterError naming the first bad entry."""
    if isinstance(sample_ids, (str, bytes)) or not hasattr(sample_ids, "__iter__"):
        raise ClusterError(f"sample_ids must be a list of integer sample ids, got {type(sample_ids).__name__}")
    out = set()
    for i, v in enumerate(sample_ids):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise ClusterError(f"sample_ids[{i}] = {v!r} is not an integer sample id")
        out.add(int(v))
    return sorted(out)
