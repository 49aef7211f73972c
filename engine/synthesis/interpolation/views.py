"""Views of a set: a pair's preview (nearest neighbours of the mix), cluster coverage, table export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.core.store import Store
from engine.synthesis.interpolation.model import (
    TEXT_EXPORT_MESSAGE,
    Coverage,
    InterpolationError,
    Neighbour,
    PairPreview,
)
from engine.synthesis.interpolation.sets import _pair_arrays, _pick_embedding, get_set, pairs

# -- preview and coverage ---------------------------------------------------------------------------


def _sample_brief(c, sid: int) -> dict:
    r = c.execute(
        "SELECT s.id, s.domain, p.name, s.instruction, s.response FROM samples s JOIN pools p "
        "ON p.id = s.pool_id WHERE s.id = ?",
        [int(sid)],
    ).fetchall()
    if not r:
        return {"sample_id": int(sid), "domain": None, "pool": None, "instruction": "(sample deleted)", "response": ""}
    return dict(zip(("sample_id", "domain", "pool", "instruction", "response"), r[0]))


def preview_pair(
    store: Store,
    ref: str | int,
    pair_index: int,
    k: int = 5,
    *,
    embedding_model: str | None = None,
    text_kind: str | None = None,
    scope=None,
) -> PairPreview:
    """Both samples of a pair, its lam, and the `k` real samples (of `scope`, engine.data.scope: default every
    training sample, so neither excluded samples nor eval pools; the pair's own two left out) nearest by cosine
    to lam*e_a + (1-lam)*e_b over the stored sentence embeddings."""
    from engine.geometry.embeddings import load_embeddings

    s = get_set(store, ref)
    c = store.cursor()
    try:
        r = c.execute(
            "SELECT sample_a, sample_b, lam, kept, cluster, why FROM interpolation_pairs "
            "WHERE set_id = ? AND pair_index = ?",
            [s.id, int(pair_index)],
        ).fetchall()
        if not r:
            raise InterpolationError(f"set {s.name!r} has no pair {pair_index} (pairs 0..{s.n_pairs - 1})")
        sa, sb, lam, kept, cl, why = r[0]
        A, B = _sample_brief(c, sa), _sample_brief(c, sb)
    finally:
        c.close()
    mname, kind = _pick_embedding(store, embedding_model, text_kind, [sa, sb])
    got, E = load_embeddings(store, model=mname, text_kind=kind, sample_ids=[sa, sb])
    nearest: list[Neighbour] = []
    cos_a = cos_b = None
    if len(got) == 2 or (sa == sb and len(got) == 1):
        ea, eb = E[list(got).index(sa)], E[list(got).index(sb)]
        p = lam * ea + (1 - lam) * eb
        p = p / max(float(np.linalg.norm(p)), 1e-12)
        cos_a = float(p @ ea / max(float(np.linalg.norm(ea)), 1e-12))
        cos_b = float(p @ eb / max(float(np.linalg.norm(eb)), 1e-12))
        from engine.geometry.embeddings import embedded_ids

        ids = embedded_ids(store, model=mname, text_kind=kind, scope=scope)
        ids = ids[(ids != sa) & (ids != sb)]
        best: list[tuple[float, int]] = []
        step = 50_000
        for st in range(0, len(ids), step):
            sub, X = load_embeddings(store, model=mname, text_kind=kind, sample_ids=ids[st : st + step])
            X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
            sims = X @ p
            top = np.argsort(-sims, kind="stable")[:k]
            best += [(float(sims[j]), int(sub[j])) for j in top]
        best = sorted(best, key=lambda t: (-t[0], t[1]))[:k]
        c = store.cursor()
        try:
            for cos, sid in best:
                d = _sample_brief(c, sid)
                nearest.append(Neighbour(sid, d["domain"], cos, d["instruction"] or ""))
        finally:
            c.close()
    return PairPreview(
        pair_index=int(pair_index),
        lam=float(lam),
        kept=bool(kept),
        cluster=cl,
        why=why,
        a=A,
        b=B,
        cos_a=cos_a,
        cos_b=cos_b,
        nearest=nearest,
        embedding=f"{mname}/{kind}",
    )


def coverage(store: Store, ref: str | int, clustering: str, *, kept_only: bool = True) -> Coverage:
    """Where the mixes of a set fall on a saved clustering's map and how much they add to its cluster coverage.

    Placement (projected, not interpolated): each mix's sentence vector lam*e_a + (1-lam)*e_b (embeddings of
    the clustering's model and text kind), L2-normalised, goes through the clustering's saved PCA, HDBSCAN
    approximate_predict (its cluster, -1 = noise) and 2-D PCA (its map point). Coverage counts non-noise
    clusters holding at least one of the pairs' own samples, then those or at least one mix."""
    import hdbscan
    import joblib

    from engine.core.paths import resolve_artifact
    from engine.geometry.cluster_store import ClusterError, _row
    from engine.geometry.embeddings import load_embeddings

    s = get_set(store, ref)
    try:
        cid, cname, mname, kind, _params, _created, art = _row(store, clustering)
    except ClusterError as e:
        raise InterpolationError(str(e)) from None
    pi, a, b, lam, kept = _pair_arrays(store, s.id)
    if kept_only:
        pi, a, b, lam, kept = pi[kept], a[kept], b[kept], lam[kept], kept[kept]
    path = resolve_artifact(store, art) if art else None
    if path is None or not path.exists():
        raise InterpolationError(f"the artefact of clustering {cname!r} is missing; cluster again")
    got, E = load_embeddings(store, model=mname, text_kind=kind, sample_ids=np.unique(np.concatenate([a, b])))
    pos = {int(i): n for n, i in enumerate(got.tolist())}
    ok = np.array([int(x) in pos and int(y) in pos for x, y in zip(a, b)], dtype=bool)
    c = store.cursor()
    try:
        K = c.execute(
            "SELECT count(DISTINCT cluster) FROM cluster_assignments WHERE clustering_id = ? AND cluster >= 0", [cid]
        ).fetchall()[0][0]
        orow = c.execute(
            "SELECT cluster, count(*) FROM cluster_assignments WHERE clustering_id = ? AND sample_id IN "
            "(SELECT unnest(?::BIGINT[])) GROUP BY 1",
            [cid, np.unique(np.concatenate([a, b])).tolist()],
        ).fetchall()
    finally:
        c.close()
    per: dict[int, dict] = {}
    for cl, n in orow:
        per.setdefault(int(cl), {"originals": 0, "mixes": 0})["originals"] = int(n)
    labels = np.zeros(0, np.int64)
    xy = np.zeros((0, 2))
    if ok.any():
        ea = E[[pos[int(x)] for x in a[ok]]].astype(np.float64)
        eb = E[[pos[int(x)] for x in b[ok]]].astype(np.float64)
        Mx = lam[ok][:, None] * ea + (1 - lam[ok][:, None]) * eb
        Mx /= np.maximum(np.linalg.norm(Mx, axis=1, keepdims=True), 1e-12)
        arte = joblib.load(path)
        Z = arte["pca"].transform(Mx.astype(np.float32)).astype(np.float64)
        labels, _strength = hdbscan.approximate_predict(arte["hdbscan"], Z)
        labels = np.asarray(labels, dtype=np.int64)
        xy = arte["pca2"].transform(Z)
        for cl in labels.tolist():
            per.setdefault(int(cl), {"originals": 0, "mixes": 0})["mixes"] += 1
    orig_cov = {c for c, v in per.items() if c >= 0 and v["originals"] > 0}
    all_cov = {c for c, v in per.items() if c >= 0 and (v["originals"] > 0 or v["mixes"] > 0)}
    return Coverage(
        clustering=cname,
        placement=(
            "projected: normalised lam-mix of the two sentence embeddings through the "
            "clustering's PCA, HDBSCAN approximate_predict and 2-D PCA"
        ),
        n_clusters=int(K),
        n_mixes=int(ok.sum()),
        n_unplaced=int((~ok).sum()),
        n_mixes_noise=int((labels < 0).sum()),
        covered_originals=len(orig_cov),
        covered_with_mixes=len(all_cov),
        new_clusters=sorted(all_cov - orig_cov),
        per_cluster=dict(sorted(per.items())),
        pair_index=pi[ok],
        x=xy[:, 0],
        y=xy[:, 1],
        cluster=labels,
        kept=kept[ok],
    )


# -- export -----------------------------------------------------------------------------------------


def export_text(*_args, **_kwargs):
    """Always refuses: embedding mixtures have no text form (TEXT_EXPORT_MESSAGE)."""
    raise InterpolationError(TEXT_EXPORT_MESSAGE)


def export_pairs(store: Store, ref: str | int, path: str | Path, *, kept_only: bool = False) -> int:
    """Write the pairs as a table (.csv, .parquet or .jsonl by suffix): pair_index, sample_a, sample_b, lam,
    kept, cluster, why, domain_a, domain_b, instruction_a, instruction_b. Returns the number of rows."""
    import pyarrow as pa

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".jsonl"):
        raise InterpolationError(
            f"export-pairs writes .csv, .parquet or .jsonl; got {path.name!r}"
            + (" (text export is impossible for embedding mixtures)" if suffix == ".json" else "")
        )
    rows = pairs(store, ref, kept_only=kept_only)
    cols = (
        "pair_index",
        "sample_a",
        "sample_b",
        "lam",
        "kept",
        "cluster",
        "why",
        "domain_a",
        "domain_b",
        "instruction_a",
        "instruction_b",
    )
    tbl = pa.table(
        {k: [getattr(r, k) for r in rows] for k in cols},
        schema=pa.schema(
            [
                ("pair_index", pa.int32()),
                ("sample_a", pa.int64()),
                ("sample_b", pa.int64()),
                ("lam", pa.float64()),
                ("kept", pa.bool_()),
                ("cluster", pa.int32()),
                ("why", pa.string()),
                ("domain_a", pa.string()),
                ("domain_b", pa.string()),
                ("instruction_a", pa.string()),
                ("instruction_b", pa.string()),
            ]
        ),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        pq.write_table(tbl, tmp)
    elif suffix == ".csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(tbl, tmp)
    else:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in tbl.to_pylist():
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return len(rows)
