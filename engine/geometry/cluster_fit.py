"""Fitting a clustering (`cluster`: PCA, HDBSCAN on a seeded subsample, the rest placed in parallel, the 2-D
map, the saved artefact) and placing samples embedded later (`assign_new`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

import numpy as np

from engine.core.jobs import ProgressMeter
from engine.core.names import check_name
from engine.core.paths import is_own, resolve_artifact, store_files
from engine.core.store import Store
from engine.data.scope import ScopeLike, as_scope, describe_scope, scope_params
from engine.geometry.cluster_store import ClusterError, ClusteringInfo, _info, _insert_assignments, _row, _safe
from engine.geometry.embeddings import embedded_ids, load_embeddings, model_name

# HDBSCAN is fitted on at most this many samples (seeded subsample); the rest are placed with
# hdbscan.approximate_predict. Measured in bench/clusters.py and docs/clusters.md.
DEFAULT_FIT_SAMPLE = 30_000
# HDBSCAN min_samples when not given (capped at the fit's min_cluster_size). hdbscan's own default
# (= min_cluster_size, 100-200 on large data) made core distances, prediction data and every
# approximate_predict (2 * min_samples neighbours per point) several times slower at no gain in ARI.
DEFAULT_MIN_SAMPLES = 10
PARALLEL_PREDICT_MIN = 20_000  # points from which the placement is split over worker processes


def default_min_cluster_size(n: int) -> int:
    """max(5, min(200, n // 100)): 1% of the data, at least 5, at most 200 samples."""
    return max(5, min(200, n // 100))


def _predict_chunk(hd, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import hdbscan

    labels, strengths = hdbscan.approximate_predict(hd, Z)
    scores = np.nan_to_num(hdbscan.approximate_predict_scores(hd, Z), nan=0.0)
    return np.asarray(labels), np.asarray(strengths, dtype=np.float64), np.asarray(scores, dtype=np.float64)


def _predict(hd, Z: np.ndarray, *, n_jobs: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, membership strengths, GLOSH outlier scores) of points not in the fit, from the fitted
    HDBSCAN's prediction data (hdbscan.approximate_predict and approximate_predict_scores). Each point is
    placed on its own, so from PARALLEL_PREDICT_MIN points the work is split in chunks over worker processes
    (one per core, at most 4; same results: measured 14.0 s -> 8.2 s for 35k points on 2 cores)."""
    jobs = n_jobs if n_jobs is not None else min(4, os.cpu_count() or 1)
    if jobs <= 1 or len(Z) < PARALLEL_PREDICT_MIN:
        return _predict_chunk(hd, Z)
    import joblib

    parts = joblib.Parallel(n_jobs=jobs)(joblib.delayed(_predict_chunk)(hd, c) for c in np.array_split(Z, jobs))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def cluster(
    store: Store,
    name: str,
    *,
    model: str | None = None,
    text_kind: str = "instruction_response",
    pool_ids: Sequence[int] | None = None,
    pca_dims: int = 32,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    fit_sample: int | None = DEFAULT_FIT_SAMPLE,
    seed: int = 0,
    replace: bool = False,
    progress=None,
    scope: ScopeLike = None,
) -> ClusteringInfo:
    """Cluster the stored embeddings of the samples of `scope` and save the result as `name` (refused if the
    name exists, unless `replace`: then the old clustering, its assignments and artefact are removed once the
    new one is saved). `scope` (engine.data.scope: the Browse filter; None: every training sample) leaves
    excluded samples and eval pools out unless asked; `pool_ids` narrows it to pools. The scope is saved in
    params["scope"] (and in words in params["scope_text"]): assign_new places later samples of the same scope.

    min_cluster_size defaults to default_min_cluster_size(n), in samples of the whole scope. With more than
    `fit_sample` samples (None or 0: no limit), HDBSCAN is fitted on a seeded uniform subsample of
    `fit_sample` samples with min_cluster_size scaled by the sampled fraction, and the other samples are
    placed with hdbscan.approximate_predict / approximate_predict_scores, as assign_new() places later ones.
    min_samples is the fit's own k of the core distance (not scaled); None = min(DEFAULT_MIN_SAMPLES, the
    fit's min_cluster_size). docs/clusters.md has the timings and ARI behind both defaults. The
    representative of a cluster is the member nearest its centroid (mean) in the reduced space; it is kept
    in params["result"]["representatives"]."""
    import hdbscan
    import joblib
    from sklearn.decomposition import PCA

    name = check_name(name, "clustering name", error=ClusterError)
    mname = model_name(model)
    c = store.cursor()
    try:
        old = c.execute("SELECT id, artefact_path FROM clusterings WHERE name = ?", [name]).fetchall()
    finally:
        c.close()
    if old and not replace:
        raise ClusterError(f"a clustering named {name!r} exists; choose another name or replace it")
    t0 = time.perf_counter()
    meter = ProgressMeter(progress, total=5, unit="steps", min_interval=0.0)
    sc = as_scope(scope, pool_ids=pool_ids)
    ids = embedded_ids(store, model=mname, text_kind=text_kind, scope=sc)
    if len(ids) < 2:
        raise ClusterError(
            f"{len(ids)} samples in scope ({describe_scope(store, sc)}) have {mname}/{text_kind} embeddings; "
            "run `workbench embed` first"
        )
    meter.report(f"loading {len(ids):,} embeddings", force=True)
    ids, X = load_embeddings(store, model=mname, text_kind=text_kind, sample_ids=ids)
    meter.advance(1, "PCA", force=True)
    dims = int(max(2, min(pca_dims, X.shape[0], X.shape[1])))
    pca = PCA(n_components=dims, random_state=seed)
    Z = pca.fit_transform(X).astype(np.float64)
    del X
    n = len(ids)
    for knob, v, low in (
        ("min_cluster_size", min_cluster_size, 2),
        ("min_samples", min_samples, 1),
        ("fit_sample", fit_sample, 0),
    ):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low):
            raise ClusterError(f"{knob} must be an integer >= {low} (or None for the default), got {v!r}")
    mcs = int(min_cluster_size or default_min_cluster_size(n))
    mcs = max(2, min(mcs, n))
    n_fit = n if not fit_sample or fit_sample >= n else max(2, int(fit_sample))
    if n_fit < n:
        fit_idx = np.sort(np.random.default_rng(seed).choice(n, n_fit, replace=False))
        fit_mcs = max(2, int(round(mcs * n_fit / n)))
    else:
        fit_idx, fit_mcs = np.arange(n), mcs
    fit_ms = int(min_samples) if min_samples is not None else min(DEFAULT_MIN_SAMPLES, fit_mcs)
    if fit_ms >= n_fit:
        raise ClusterError(f"min_samples {fit_ms} needs more than {fit_ms} samples to fit; {n_fit} in scope")
    meter.advance(1, f"HDBSCAN on {n_fit:,} x {dims}" + (f" (sample of {n:,})" if n_fit < n else ""), force=True)
    hd = hdbscan.HDBSCAN(
        min_cluster_size=fit_mcs, min_samples=fit_ms, prediction_data=True, core_dist_n_jobs=max(1, os.cpu_count() or 1)
    )
    labels = np.full(n, -1, dtype=np.int64)
    prob = np.zeros(n, dtype=np.float64)
    outlier = np.zeros(n, dtype=np.float64)
    labels[fit_idx] = hd.fit_predict(Z[fit_idx])
    prob[fit_idx] = hd.probabilities_
    outlier[fit_idx] = np.nan_to_num(hd.outlier_scores_, nan=0.0)
    if n_fit < n:
        rest = np.setdiff1d(np.arange(n), fit_idx, assume_unique=True)
        meter.advance(1, f"placing the other {len(rest):,} samples (approximate_predict)", force=True)
        labels[rest], prob[rest], outlier[rest] = _predict(hd, Z[rest])
    meter.advance(1, "map and saving", force=True)
    pca2 = PCA(n_components=2, random_state=seed)
    xy = pca2.fit_transform(Z)
    reps = {}
    for k in np.unique(labels):
        if k < 0:
            continue
        m = np.flatnonzero(labels == k)
        cen = Z[m].mean(axis=0)
        reps[int(k)] = int(ids[m[np.argmin(((Z[m] - cen) ** 2).sum(axis=1))]])
    params = {
        "pca_dims": dims,
        "min_cluster_size": mcs,
        "min_samples": min_samples,
        "seed": seed,
        "fit_sample": int(fit_sample) if fit_sample else None,
        "fit_min_cluster_size": fit_mcs,
        "fit_min_samples": fit_ms,
        "pool_ids": list(map(int, sc.filter.pool_ids)) if sc.filter is not None and sc.filter.pool_ids else None,
        "scope": scope_params(sc),
        "scope_text": describe_scope(store, sc, n),
        "metric": "euclidean",
        "map": "PCA(2) of the reduced data",
        "result": {
            "n_fit": int(n_fit),
            "n_predicted": int(n - n_fit),
            "n_total": int(n),
            "n_clusters": int(labels.max() + 1) if len(labels) else 0,
            "n_noise": int((labels < 0).sum()),
            "explained_variance": float(pca.explained_variance_ratio_.sum()),
            "representatives": {str(k): v for k, v in reps.items()},
        },
    }
    base = store_files(store)
    folder = base / "clusterings"
    folder.mkdir(parents=True, exist_ok=True)
    with store.write_lock:
        c = store.cursor()
        try:
            cid = store.next_id("clusterings", c)
            art = folder / f"{_safe(name)}-{cid}.joblib"
            tmp = art.with_suffix(".tmp")
            joblib.dump(
                {"pca": pca, "hdbscan": hd, "pca2": pca2, "model": mname, "text_kind": text_kind, "params": params}, tmp
            )
            os.replace(tmp, art)
            c.execute("BEGIN TRANSACTION")
            try:
                for oid, _oart in old:
                    c.execute("DELETE FROM cluster_assignments WHERE clustering_id = ?", [oid])
                    c.execute("DELETE FROM clusterings WHERE id = ?", [oid])
                c.execute(
                    "INSERT INTO clusterings (id, name, embedding_model, text_kind, params, artefact_path) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [cid, name, mname, text_kind, json.dumps(params), str(art.relative_to(base))],
                )
                _insert_assignments(c, cid, ids, labels, prob, outlier, xy)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                art.unlink(missing_ok=True)
                raise
        finally:
            c.close()
    for _oid, oart in old:  # only the store's own files: an old shared folder's may be another store's
        prev = resolve_artifact(store, oart) if oart else None
        if prev is not None and prev.exists() and prev != art and is_own(store, prev):
            prev.unlink()
    meter.advance(1, "done", force=True)
    info = _info(store, _row(store, name))
    info.seconds = time.perf_counter() - t0
    return info


def clustering_scope(params: dict | None):
    """The scope a clustering was made in (its params["scope"]; an older clustering's pools, with the defaults)."""
    p = params or {}
    return as_scope(p["scope"]) if p.get("scope") else as_scope(None, pool_ids=p.get("pool_ids"))


def assign_new(store: Store, name: str, *, progress=None) -> int:
    """Place the samples embedded (same model and text kind, same scope: params["scope"], else the pools of an
    older clustering) after the clustering into its clusters with hdbscan.approximate_predict (cluster, membership strength as probability) and
    approximate_predict_scores (outlier score); map coordinates from the saved 2-D PCA. Existing
    assignments and the clusters themselves are not changed. Returns how many samples were assigned."""
    import joblib

    cid, _n, mname, kind, params, _created, art = _row(store, name)
    p = json.loads(params) if isinstance(params, str) else (params or {})
    ids = embedded_ids(store, model=mname, text_kind=kind, scope=clustering_scope(p))
    c = store.cursor()
    try:
        have = {
            r[0]
            for r in c.execute("SELECT sample_id FROM cluster_assignments WHERE clustering_id = ?", [cid]).fetchall()
        }
    finally:
        c.close()
    new = np.array([i for i in ids.tolist() if i not in have], dtype=np.int64)
    if len(new) == 0:
        return 0
    path = resolve_artifact(store, art)
    if not path.exists():
        raise ClusterError(f"the artefact of clustering {name!r} is missing ({path}); cluster again")
    a = joblib.load(path)
    meter = ProgressMeter(progress, total=len(new), unit="samples")
    step = 50_000
    for k in range(0, len(new), step):
        sub, X = load_embeddings(store, model=mname, text_kind=kind, sample_ids=new[k : k + step])
        Z = a["pca"].transform(X).astype(np.float64)
        labels, strengths, scores = _predict(a["hdbscan"], Z)
        xy = a["pca2"].transform(Z)
        with store.transaction() as c:
            _insert_assignments(c, cid, sub, labels, strengths, scores, xy)
        meter.advance(len(sub), force=True)
    return int(len(new))
