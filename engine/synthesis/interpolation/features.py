"""The diversity step: embedding-layer or sentence features, K-Means, and the per-cluster pick of mixes."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.core.store import Store
from engine.synthesis.interpolation.model import FEATURES, DiversityResult, InterpolationError
from engine.synthesis.interpolation.pairing import resolve_source
from engine.synthesis.interpolation.sets import _pair_arrays, _pick_embedding, get_set

# -- diversity step ---------------------------------------------------------------------------------


def _texts(store: Store, ids: Sequence[int]) -> dict[int, str]:
    from engine.geometry.embeddings import sample_text

    rows = store.fetchall(
        "SELECT id, messages, system FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))", [list(map(int, ids))]
    )
    return {int(r[0]): sample_text("conversation", r[1], r[2]) for r in rows}


def mean_pooled(W: np.ndarray, tok, texts: Sequence[str], max_tokens: int = 512) -> np.ndarray:
    """Per text, the mean of the embedding-matrix rows `W` of its first `max_tokens` tokens (no special
    tokens; an empty text gives the pad token's row), float32 (len(texts), hidden)."""
    out = np.zeros((len(texts), W.shape[1]), dtype=np.float32)
    if not len(texts):
        return out
    enc = tok(list(texts), add_special_tokens=False, truncation=True, max_length=max_tokens)["input_ids"]
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    for n, tid in enumerate(enc):
        out[n] = W[np.asarray(tid or [pad])].mean(axis=0)
    return out


def embedding_layer_features(
    store: Store, ids: Sequence[int], model: Any = None, *, max_tokens: int = 512, cancel=None, chunk: int = 1024
) -> np.ndarray:
    """Mean-pooled input-embedding vectors (the model's own embedding layer, no forward pass) of each sample's
    conversation text ("role: content" lines, first `max_tokens` tokens), float32 (n, hidden).
    `model`: a model spec for engine.core.models.load_causal_lm, or a loaded (model, tokenizer) pair."""
    if isinstance(model, tuple):
        lm, tok = model[0], model[1]
    else:
        from engine.core.models import load_causal_lm

        lm, tok, _src = load_causal_lm(model, device="cpu")
    W = lm.get_input_embeddings().weight.detach().float().cpu().numpy()
    texts = _texts(store, ids)
    ids = list(ids)
    parts = []
    for k in range(0, len(ids), chunk):
        if cancel is not None:
            cancel.check()
        parts.append(mean_pooled(W, tok, [texts.get(int(i), "") for i in ids[k : k + chunk]], max_tokens))
    return np.vstack(parts) if parts else np.zeros((0, W.shape[1]), np.float32)


def originals(store: Store, ref: str | int) -> np.ndarray:
    """The original samples of the diversity step: both sources as they resolve now, within the scope the set
    was made under (a source that no longer resolves is skipped), plus every sample of the set's pairs, sorted
    unique ids."""
    s = get_set(store, ref)
    _pi, a, b, _lam, _kept = _pair_arrays(store, s.id)
    parts = [a, b]
    for src in (s.source_a, s.source_b):
        try:
            parts.append(resolve_source(store, src, scope=s.params.get("scope"))[0])
        except InterpolationError:
            pass
    return np.unique(np.concatenate(parts))


def _sentence_features(store: Store, ids: np.ndarray, model, text_kind) -> tuple[np.ndarray, str]:
    from engine.geometry.embeddings import load_embeddings

    mname, kind = _pick_embedding(store, model, text_kind, ids[:5000])
    got, X = load_embeddings(store, model=mname, text_kind=kind, sample_ids=ids)
    if len(got) < len(ids):
        missing = sorted(set(ids.tolist()) - set(got.tolist()))
        raise InterpolationError(
            f"{len(missing)} samples have no {mname}/{kind} sentence embedding (e.g. id "
            f"{missing[0]}); run `workbench embed` or use features='embedding_layer'"
        )
    pos = {int(i): n for n, i in enumerate(got.tolist())}
    return X[[pos[int(i)] for i in ids]], f"{mname}/{kind}"


def proportional_quotas(sizes: dict[int, int], caps: dict[int, int], total: int) -> dict[int, int]:
    """Split `total` over clusters proportionally to `sizes` (largest remainder), never above `caps`; what a
    capped cluster cannot take goes to the others by the same rule."""
    q = {c: 0 for c in sizes}
    left = min(total, sum(caps.values()))
    open_ = [c for c in sizes if caps.get(c, 0) > 0]
    while left > 0 and open_:
        w = sum(sizes[c] for c in open_)
        raw = {c: left * sizes[c] / w for c in open_}
        add = {c: min(int(math.floor(raw[c])), caps[c] - q[c]) for c in open_}
        rem = left - sum(add.values())
        for c in sorted(open_, key=lambda c: (-(raw[c] - math.floor(raw[c])), -sizes[c], c)):
            if rem <= 0:
                break
            if q[c] + add[c] < caps[c]:
                add[c] += 1
                rem -= 1
        for c in open_:
            q[c] += add[c]
            left -= add[c]
        nxt = [c for c in open_ if q[c] < caps[c]]
        if nxt == open_ and sum(add.values()) == 0:
            break
        open_ = nxt
    return q


def select_diverse(
    store: Store,
    ref: str | int,
    *,
    budget: int,
    k: int | None = None,
    model: Any = None,
    features: str = "embedding_layer",
    seed: int = 0,
    embedding_model: str | None = None,
    text_kind: str | None = None,
    vectors: tuple[np.ndarray, np.ndarray] | None = None,
    n_init: int = 1,
    pca_dims: int | None = 64,
    cancel=None,
) -> DiversityResult:
    """The MDIT diversity step (ours where the paper is silent): features of the originals (the samples of
    both sources) and of every mix (lam*f_a + (1-lam)*f_b), L2-normalised; K-Means (k clusters, default
    round(sqrt(N/2)) clamped to [2, N]; k-means++ init, `n_init` restarts; on the features reduced by PCA to
    `pca_dims` when they have more dimensions, None = no reduction) over originals + mixes; per cluster keep the mixes closest to the
    centroid, quotas proportional to cluster size (originals + mixes) up to `budget` in total. Marks `kept`,
    `cluster` and `why` of every pair. features: "embedding_layer" (mean-pooled input embeddings of `model`)
    or "sentence" (stored sentence embeddings). `vectors` = (ids, X): precomputed features of the originals
    (`originals()`), e.g. from the engine.synthesis.worker child process; `features` then only names them."""
    from sklearn.cluster import KMeans

    t0 = time.perf_counter()
    s = get_set(store, ref)
    if features not in FEATURES:
        raise InterpolationError(f"features must be one of {', '.join(FEATURES)}; got {features!r}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise InterpolationError(f"budget must be a positive integer, got {budget!r}")
    pi, a, b, lam, _kept = _pair_arrays(store, s.id)
    orig = originals(store, s.id)
    if vectors is not None:
        vid, VX = np.asarray(vectors[0], dtype=np.int64), np.asarray(vectors[1])
        vpos = {int(i): n for n, i in enumerate(vid.tolist())}
        missing = [int(i) for i in orig.tolist() if int(i) not in vpos]
        if missing:
            raise InterpolationError(
                f"the given feature vectors miss {len(missing)} of the {len(orig)} originals "
                f"(e.g. sample {missing[0]}); compute them again"
            )
        F = VX[[vpos[int(i)] for i in orig.tolist()]]
        feat_name = features
    elif features == "embedding_layer":
        F = embedding_layer_features(store, orig.tolist(), model, cancel=cancel)
        feat_name = "embedding_layer"
    else:
        F, used = _sentence_features(store, orig, embedding_model, text_kind)
        feat_name = f"sentence ({used})"
    F = F.astype(np.float64)
    pos = {int(i): n for n, i in enumerate(orig.tolist())}
    fa = F[[pos[int(x)] for x in a]]
    fb = F[[pos[int(x)] for x in b]]
    M = lam[:, None] * fa + (1 - lam[:, None]) * fb

    def unit(X):
        return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)

    X = np.vstack([unit(F), unit(M)]).astype(np.float32)
    N = len(X)
    if isinstance(pca_dims, bool) or (
        pca_dims is not None and (not isinstance(pca_dims, (int, np.integer)) or pca_dims < 2)
    ):
        raise InterpolationError(f"pca_dims must be an integer >= 2 or None, got {pca_dims!r}")
    reduced = None
    if pca_dims is not None and X.shape[1] > pca_dims and N > pca_dims:
        from sklearn.decomposition import PCA

        X = PCA(n_components=int(pca_dims), random_state=int(seed)).fit_transform(X).astype(np.float32)
        reduced = int(pca_dims)
    if k is None:
        k = int(round(math.sqrt(N / 2)))
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InterpolationError(f"k must be a positive integer, got {k!r}")
    if isinstance(n_init, bool) or not isinstance(n_init, (int, np.integer)) or n_init < 1:
        raise InterpolationError(f"n_init must be a positive integer, got {n_init!r}")
    k = int(max(1, min(max(2, k), N)))
    km = KMeans(n_clusters=k, random_state=int(seed), n_init=int(n_init)).fit(X)
    labels = km.labels_
    lo, lm = labels[: len(F)], labels[len(F) :]
    dist = np.linalg.norm(X[len(F) :] - km.cluster_centers_[lm], axis=1)
    sizes = {int(c): int((labels == c).sum()) for c in range(k)}
    mixes = {int(c): int((lm == c).sum()) for c in range(k)}
    quotas = proportional_quotas(sizes, mixes, int(budget))
    kept = np.zeros(len(pi), dtype=bool)
    why = [""] * len(pi)
    clusters = []
    for c in range(k):
        members = np.flatnonzero(lm == c)
        order = members[np.lexsort((pi[members], dist[members]))]
        for r, j in enumerate(order):
            head = (
                f"cluster {c} of {k} (size {sizes[c]}: {mixes[c]} mixes, {sizes[c] - mixes[c]} originals), "
                f"quota {quotas[c]}; rank {r + 1} by distance to centroid {dist[j]:.4f}"
            )
            kept[j] = r < quotas[c]
            why[j] = ("kept: " if kept[j] else "not kept: ") + head
        clusters.append(
            {
                "cluster": c,
                "size": sizes[c],
                "n_mixes": mixes[c],
                "n_originals": int((lo == c).sum()),
                "quota": quotas[c],
                "kept": int(kept[members].sum()),
            }
        )
    params = dict(s.params)
    params["diversity"] = {
        "budget": int(budget),
        "k": k,
        "features": feat_name,
        "seed": int(seed),
        "n_init": int(n_init),
        "pca_dims": reduced,
        "n_originals": int(len(F)),
        "rule": "per cluster, mixes nearest the centroid; quotas proportional to cluster size (originals + mixes)",
    }
    import pyarrow as pa

    tbl = pa.table(
        {
            "pair_index": pa.array(pi.astype(np.int32)),
            "kept": pa.array(kept),
            "cluster": pa.array(lm.astype(np.int32)),
            "why": pa.array(why, pa.string()),
        }
    )
    with store.transaction() as c:
        c.register("_ip_div", tbl)
        try:
            c.execute(
                "UPDATE interpolation_pairs SET kept = d.kept, cluster = d.cluster, why = d.why FROM _ip_div d "
                "WHERE interpolation_pairs.set_id = ? AND interpolation_pairs.pair_index = d.pair_index",
                [s.id],
            )
        finally:
            c.unregister("_ip_div")
        c.execute("UPDATE interpolation_sets SET params = ? WHERE id = ?", [json.dumps(params), s.id])
    return DiversityResult(
        n_pairs=len(pi),
        n_kept=int(kept.sum()),
        k=k,
        features=feat_name,
        n_originals=len(F),
        clusters=clusters,
        seconds=time.perf_counter() - t0,
    )
