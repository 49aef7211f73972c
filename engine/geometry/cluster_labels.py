"""What each cluster is about: c-TF-IDF keywords (`ctfidf_keywords`) and the per-cluster summary
(`cluster_summary`: size, domains, mean scores, keywords, representative)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.core.store import Store
from engine.geometry.cluster_store import _row

N_KEYWORDS = 8


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

    Domain composition = samples per domain (samples of eval pools apart, as "DOMAIN (eval)"); scores = mean of each metric (default: every score metric in
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
            # samples of eval pools (in a clustering only when asked for) are counted apart: "math (eval)"
            "SELECT a.cluster, CASE WHEN coalesce(p.role, 'train') = 'eval' THEN s.domain || ' (eval)' "
            "ELSE s.domain END, count(*) FROM cluster_assignments a JOIN samples s ON s.id = a.sample_id "
            "LEFT JOIN pools p ON p.id = s.pool_id WHERE a.clustering_id = ? GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2",
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
