"""Saved clusterings: their records (`ClusteringInfo`), lookup, listing, deletion, the assignment rows, the
members of a cluster and the points of the map."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np

from engine.core.errors import InputError
from engine.core.paths import is_own, resolve_artifact
from engine.core.store import Store


class ClusterError(InputError):
    """A clustering request that cannot be honoured (the message says why)."""


@dataclass
class ClusteringInfo:
    id: int
    name: str
    model: str
    text_kind: str
    params: dict
    n_samples: int
    n_clusters: int
    n_noise: int
    artefact_path: str
    created_at: object = None
    seconds: float = 0.0
    n_assigned_later: int = 0  # samples placed by assign_new after the fit (n_samples - params n_fit)


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "clustering"


def _row(store: Store, name: str):
    rows = store.fetchall(
        "SELECT id, name, embedding_model, text_kind, params, created_at, artefact_path "
        "FROM clusterings WHERE name = ?",
        [name],
    )
    if not rows:
        raise ClusterError(f"no clustering named {name!r}; `workbench clusters` lists them")
    return rows[0]


def _info(store: Store, row) -> ClusteringInfo:
    cid, name, model, kind, params, created, art = row
    p = json.loads(params) if isinstance(params, str) else (params or {})
    c = store.cursor()
    try:
        n, n_noise, n_cl = c.execute(
            "SELECT count(*), count(*) FILTER (WHERE cluster = -1), count(DISTINCT cluster) FILTER (WHERE cluster >= 0) "
            "FROM cluster_assignments WHERE clustering_id = ?",
            [cid],
        ).fetchall()[0]
    finally:
        c.close()
    res = p.get("result", {})
    later = max(0, int(n) - int(res.get("n_total", res.get("n_fit", n))))
    return ClusteringInfo(cid, name, model, kind, p, int(n), int(n_cl), int(n_noise), art, created, 0.0, later)


def _insert_assignments(con, cid: int, ids, labels, prob, outlier, xy) -> None:
    import pyarrow as pa

    t = pa.table(
        {
            "clustering_id": pa.array(np.full(len(ids), cid), pa.int32()),
            "sample_id": pa.array(np.asarray(ids, np.int64)),
            "cluster": pa.array(np.asarray(labels, np.int32)),
            "probability": pa.array(np.asarray(prob, np.float64)),
            "outlier_score": pa.array(np.asarray(outlier, np.float64)),
            "x": pa.array(np.asarray(xy[:, 0], np.float64)),
            "y": pa.array(np.asarray(xy[:, 1], np.float64)),
        }
    )
    con.register("_ca_new", t)
    try:
        con.execute(
            "INSERT INTO cluster_assignments SELECT clustering_id, sample_id, cluster, probability, "
            "outlier_score, x, y FROM _ca_new"
        )
    finally:
        con.unregister("_ca_new")


def list_clusterings(store: Store) -> list[ClusteringInfo]:
    """Every saved clustering, oldest first."""
    rows = store.fetchall(
        "SELECT id, name, embedding_model, text_kind, params, created_at, artefact_path FROM clusterings ORDER BY id"
    )
    return [_info(store, r) for r in rows]


def get_clustering(store: Store, name: str) -> ClusteringInfo:
    return _info(store, _row(store, name))


def delete_clustering(store: Store, name: str) -> None:
    """Remove a clustering, its assignments and its artefact file (when it is in the store's own folder; one
    in the folder older versions shared between stores is left alone)."""
    cid, *_rest, art = _row(store, name)
    with store.write_lock:
        c = store.cursor()
        try:
            c.execute("BEGIN TRANSACTION")
            c.execute("DELETE FROM cluster_assignments WHERE clustering_id = ?", [cid])
            c.execute("DELETE FROM clusterings WHERE id = ?", [cid])
            c.execute("COMMIT")
        finally:
            c.close()
    path = resolve_artifact(store, art) if art else None
    if path is not None and path.exists() and is_own(store, path):  # an old shared folder's file stays
        path.unlink()


def cluster_ids(store: Store, name: str, cluster: int) -> list[int]:
    """Sample ids assigned to one cluster of a clustering (-1 = noise)."""
    cid = _row(store, name)[0]
    c = store.cursor()
    try:
        return [
            r[0]
            for r in c.execute(
                "SELECT sample_id FROM cluster_assignments WHERE clustering_id = ? AND cluster = ? ORDER BY 1",
                [cid, int(cluster)],
            ).fetchall()
        ]
    finally:
        c.close()


def map_points(store: Store, name: str, *, with_domains: bool = False) -> tuple:
    """(sample_ids, clusters, x, y) of a clustering, for a map view; with_domains adds the samples' current
    domains as a fifth array (for colouring the map by domain)."""
    cid = _row(store, name)[0]
    c = store.cursor()
    try:
        t = c.sql(
            "SELECT a.sample_id, a.cluster, a.x, a.y, s.domain FROM cluster_assignments a "
            "JOIN samples s ON s.id = a.sample_id WHERE a.clustering_id = $1 ORDER BY 1",
            params=[cid],
        ).to_arrow_table()
    finally:
        c.close()
    keys = ("sample_id", "cluster", "x", "y") + (("domain",) if with_domains else ())
    return tuple(t.column(k).to_numpy(zero_copy_only=False) for k in keys)
