"""Named clusterings of stored embeddings: PCA -> HDBSCAN, 2-D map, labels, assignment of new samples,
diversity metrics.

cluster(): the L2-normalised embeddings of the non-excluded samples of the chosen pools (all pools when
None) that have an embedding for (model, text_kind) are reduced with sklearn PCA to `pca_dims` (default
32: raw 384-d is slow and clusters badly, see shared/docs/stack.md §5), then clustered with the `hdbscan`
package's HDBSCAN (euclidean in the reduced space, prediction_data=True), fitted on at most `fit_sample`
samples (a seeded subsample; the others are placed with approximate_predict). Label -1 is noise: it is stored
and reported as its own row, never dropped. Map coordinates (x, y) are a second PCA, to 2 dimensions, of
the reduced (pca_dims) data: a linear projection, so distances on the map are faithful only along the two
main directions; no UMAP/t-SNE. The fitted PCA, HDBSCAN (with prediction data) and 2-D PCA are saved with
joblib in `<store dir>/clusterings/<name>-<id>.joblib` (clusterings.artefact_path, relative to the store
dir); assign_new() loads it to place samples embedded later with hdbscan.approximate_predict (cluster +
membership strength) and hdbscan.approximate_predict_scores (GLOSH outlier score) without re-clustering.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.core.errors import InputError
from engine.core.jobs import ProgressMeter
from engine.core.store import Store
from engine.geometry.embeddings import embedded_ids, load_embeddings, model_name, store_dir

N_KEYWORDS = 8
# HDBSCAN is fitted on at most this many samples (seeded subsample); the rest are placed with
# hdbscan.approximate_predict. Measured in bench/clusters.py and docs/clusters.md.
DEFAULT_FIT_SAMPLE = 30_000
# HDBSCAN min_samples when not given (capped at the fit's min_cluster_size). hdbscan's own default
# (= min_cluster_size, 100-200 on large data) made core distances, prediction data and every
# approximate_predict (2 * min_samples neighbours per point) several times slower at no gain in ARI.
DEFAULT_MIN_SAMPLES = 10


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


@dataclass
class ClusterInfo:
    cluster: int  # -1 = noise
    label: str  # "noise" or the top keywords joined
    size: int
    share: float  # of the clustering's samples
    domains: dict[str, int]
    scores: dict[str, float | None]  # mean of each score metric over members that have it
    keywords: list[str]
    representative_id: int | None
    representative_text: str | None
    mean_probability: float | None


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


# -- helpers ----------------------------------------------------------------------------------------


def _safe(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "clustering"


def _row(store: Store, name: str):
    c = store.cursor()
    try:
        rows = c.execute(
            "SELECT id, name, embedding_model, text_kind, params, created_at, artefact_path "
            "FROM clusterings WHERE name = ?",
            [name],
        ).fetchall()
    finally:
        c.close()
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


def default_min_cluster_size(n: int) -> int:
    """max(5, min(200, n // 100)): 1% of the data, at least 5, at most 200 samples."""
    return max(5, min(200, n // 100))


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


PARALLEL_PREDICT_MIN = 20_000  # points from which the placement is split over worker processes


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


# -- clustering -------------------------------------------------------------------------------------


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
) -> ClusteringInfo:
    """Cluster the stored embeddings and save the result as `name` (refused if the name exists, unless
    `replace`: then the old clustering, its assignments and artefact are removed once the new one is saved).

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

    if not name or not name.strip():
        raise ClusterError("a clustering needs a name")
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
    ids = embedded_ids(store, model=mname, text_kind=text_kind, pool_ids=pool_ids, include_excluded=False)
    if len(ids) < 2:
        raise ClusterError(
            f"{len(ids)} non-excluded samples have {mname}/{text_kind} embeddings in scope; run `workbench embed` first"
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
        "pool_ids": list(map(int, pool_ids)) if pool_ids is not None else None,
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
    base = store_dir(store)
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
    for _oid, oart in old:
        if oart and (base / oart).exists() and (base / oart) != art:
            (base / oart).unlink()
    meter.advance(1, "done", force=True)
    info = _info(store, _row(store, name))
    info.seconds = time.perf_counter() - t0
    return info


def list_clusterings(store: Store) -> list[ClusteringInfo]:
    """Every saved clustering, oldest first."""
    c = store.cursor()
    try:
        rows = c.execute(
            "SELECT id, name, embedding_model, text_kind, params, created_at, artefact_path "
            "FROM clusterings ORDER BY id"
        ).fetchall()
    finally:
        c.close()
    return [_info(store, r) for r in rows]


def get_clustering(store: Store, name: str) -> ClusteringInfo:
    return _info(store, _row(store, name))


def assign_new(store: Store, name: str, *, progress=None) -> int:
    """Place the samples embedded (same model and text kind, same pools, non-excluded) after the clustering
    into its clusters with hdbscan.approximate_predict (cluster, membership strength as probability) and
    approximate_predict_scores (outlier score); map coordinates from the saved 2-D PCA. Existing
    assignments and the clusters themselves are not changed. Returns how many samples were assigned."""
    import joblib

    cid, _n, mname, kind, params, _created, art = _row(store, name)
    p = json.loads(params) if isinstance(params, str) else (params or {})
    ids = embedded_ids(store, model=mname, text_kind=kind, pool_ids=p.get("pool_ids"), include_excluded=False)
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
    path = store_dir(store) / art
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


def delete_clustering(store: Store, name: str) -> None:
    """Remove a clustering, its assignments and its artefact file."""
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
    if art and (store_dir(store) / art).exists():
        (store_dir(store) / art).unlink()


# -- labels and summary -----------------------------------------------------------------------------


def ctfidf_keywords(docs_per_class: dict[int, list[str]], n: int = N_KEYWORDS) -> dict[int, list[str]]:
    """Top `n` words per class by class-based TF-IDF (c-TF-IDF, as BERTopic).

    Words: sklearn CountVectorizer(lowercase, English stop words removed, tokens of >= 2 characters that
    start with a letter, at most 50,000 most frequent words). Each class is one document, the
    concatenation of its members' texts. For word t and class c:
        tf(t, c)  = count of t in c / number of words in c
        idf(t)    = ln(1 + A / f(t)), A = mean number of words per class, f(t) = count of t in all classes
        w(t, c)   = tf(t, c) * idf(t)
    Keywords are the words with the highest w (ties by word), words with w = 0 never listed.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    keys = [k for k in docs_per_class if docs_per_class[k]]
    if not keys:
        return {}
    cv = CountVectorizer(
        lowercase=True, stop_words="english", token_pattern=r"(?u)\b[^\W\d_][\w]+\b", max_features=50_000
    )
    try:
        M = cv.fit_transform([" ".join(docs_per_class[k]) for k in keys]).astype(np.float64)
    except ValueError:  # empty vocabulary
        return {k: [] for k in keys}
    import scipy.sparse as sp

    M = sp.csr_matrix(M)
    words = cv.get_feature_names_out()
    per_class = np.asarray(M.sum(axis=1)).ravel()
    f = np.asarray(M.sum(axis=0)).ravel()
    A = per_class.mean()
    idf = np.log(1.0 + A / np.where(f > 0, f, 1.0))
    W = sp.csr_matrix(sp.diags(1.0 / np.where(per_class > 0, per_class, 1.0)) @ M @ sp.diags(idf))
    out = {}
    for i, k in enumerate(keys):
        row = W.getrow(i)
        cand = [(-float(v), str(words[j])) for j, v in zip(row.indices, row.data) if v > 0]
        out[k] = [w for _v, w in sorted(cand)[:n]]
    return out


def cluster_summary(
    store: Store, name: str, *, metrics: Sequence[str] | None = None, n_keywords: int = N_KEYWORDS
) -> list[ClusterInfo]:
    """One ClusterInfo per cluster, noise (-1) first when there is any, then by size descending.

    Domain composition = samples per domain; scores = mean of each metric (default: every score metric in
    the store; latest value per sample and metric, as Browse) over members with a value; keywords =
    ctfidf_keywords over the members' instructions (samples.instruction), computed over the non-noise
    clusters only (noise has no topic, its keywords are empty); representative = the member nearest the
    cluster centroid in the reduced space at fit time (samples assigned later do not move it)."""
    from engine.data.query import score_metrics

    cid, _n, _m, _k, params, _c, _a = _row(store, name)
    p = json.loads(params) if isinstance(params, str) else (params or {})
    reps = {int(k): int(v) for k, v in p.get("result", {}).get("representatives", {}).items()}
    mets = list(metrics) if metrics is not None else score_metrics(store)
    c = store.cursor()
    try:
        base = c.execute(
            "SELECT a.cluster, count(*), avg(a.probability) FROM cluster_assignments a "
            "WHERE a.clustering_id = ? GROUP BY 1",
            [cid],
        ).fetchall()
        total = sum(r[1] for r in base)
        dom = c.execute(
            "SELECT a.cluster, s.domain, count(*) FROM cluster_assignments a JOIN samples s "
            "ON s.id = a.sample_id WHERE a.clustering_id = ? GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
            [cid],
        ).fetchall()
        sc: dict[int, dict[str, float | None]] = {}
        if mets:
            rows = c.execute(
                """SELECT a.cluster, v.metric, avg(v.value) FROM cluster_assignments a JOIN (
                       SELECT sample_id, metric, arg_max_null(value, created_at) AS value FROM scores
                       WHERE metric IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1, 2) v ON v.sample_id = a.sample_id
                   WHERE a.clustering_id = ? GROUP BY 1, 2""",
                [mets, cid],
            ).fetchall()
            for k, m, v in rows:
                sc.setdefault(k, {})[m] = None if v is None else float(v)
        texts = c.execute(
            "SELECT a.cluster, coalesce(s.instruction, '') FROM cluster_assignments a JOIN samples s "
            "ON s.id = a.sample_id WHERE a.clustering_id = ? AND a.cluster >= 0 ORDER BY a.sample_id",
            [cid],
        ).fetchall()
        rep_text = (
            dict(
                c.execute(
                    "SELECT id, instruction FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))",
                    [list(reps.values())],
                ).fetchall()
            )
            if reps
            else {}
        )
    finally:
        c.close()
    docs: dict[int, list[str]] = {}
    for k, t in texts:
        docs.setdefault(int(k), []).append(t)
    kw = ctfidf_keywords(docs, n_keywords)
    domains: dict[int, dict[str, int]] = {}
    for k, d, n in dom:
        domains.setdefault(int(k), {})[d] = int(n)
    out = []
    for k, n, mp in base:
        k = int(k)
        words = kw.get(k, [])
        rid = reps.get(k)
        out.append(
            ClusterInfo(
                cluster=k,
                label="noise" if k < 0 else (" ".join(words[:4]) or f"cluster {k}"),
                size=int(n),
                share=n / total if total else 0.0,
                domains=domains.get(k, {}),
                scores={m: sc.get(k, {}).get(m) for m in mets},
                keywords=words,
                representative_id=rid,
                representative_text=rep_text.get(rid) if rid is not None else None,
                mean_probability=None if mp is None else float(mp),
            )
        )
    out.sort(key=lambda ci: (ci.cluster >= 0, -ci.size, ci.cluster))
    return out


# -- diversity --------------------------------------------------------------------------------------


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
