"""One targeted selection end to end: query set -> representation -> similarity (on disk, in blocks) ->
algorithm -> ordering -> selection.

Candidates are the samples of the scope (engine.data.scope: the Browse filter; by default every training
sample, with excluded samples and eval pools left out unless asked), less the query items themselves when the
query set is a pool of the store. Their vectors come from the representation's cache (computed for the
candidates that have none); the query x candidate cosine is written block by block into a float32 memmap in
a scratch folder of the store's own folder (removed afterwards), so only a block of candidates' vectors is in
memory at once.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from engine.core.jobs import ProgressMeter
from engine.core.paths import store_files
from engine.core.store import Store
from engine.targeting.distances import budget_distances, chamfer, ot_distance
from engine.targeting.doubly_greedy import doubly_greedy
from engine.targeting.knn_kde import knn_kde
from engine.targeting.knn_uniform import knn_uniform
from engine.targeting.queries import load_queries
from engine.targeting.representations import REPS, representation
from engine.targeting.round_robin import round_robin
from engine.targeting.saving import ALGOS, quantile_heads, save_ordering
from engine.targeting.similarity import DenseSimilarity, TargetingError, check_budget
from engine.targeting.uot import uot

LOAD_CHUNK = 16_384  # candidates whose vectors are read at once


@dataclass
class TargetResult:
    selection: str
    query: str
    rep: str
    model: str
    algo: str
    text_kind: str
    budget: int
    n_query: int
    n_candidates: int
    n_embedded_now: int
    seconds: float
    domains: dict = field(default_factory=dict)  # domain -> picks
    per_query: list = field(default_factory=list)  # [label, picks pulled in] per query item
    picks: list = field(default_factory=list)  # the first picks: {rank, sample_id, domain, why}
    distances: list = field(default_factory=list)  # per budget: Chamfer and OT to the queries, and of random
    quantiles: list = field(default_factory=list)  # distance quantiles: {selection, quantile, n, chamfer, ot, ...}
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def candidate_ids(store: Store, scope=None, *, exclude: list[int] = ()) -> np.ndarray:
    """The samples of `scope` (engine.data.scope: the Browse filter; excluded samples and eval pools left out
    unless asked), less `exclude` (the query items), sorted."""
    from engine.data.scope import scope_ids

    ids = scope_ids(store, scope)
    if len(exclude):
        ids = ids[~np.isin(ids, np.asarray(list(exclude), dtype=np.int64))]
    return ids


def _domains(store: Store, ids: np.ndarray) -> dict:
    """domain -> how many of `ids`, most first."""
    return dict(
        store.fetchall(
            "SELECT domain, count(*) FROM samples WHERE id IN (SELECT unnest(?::BIGINT[])) GROUP BY 1 ORDER BY 2 DESC, 1",
            [np.asarray(ids).tolist()],
        )
    )


def write_similarity(store, rep_name, text_kind, ids, Q, folder, *, features: bool, cancel=None):
    """Cosine of the query vectors Q with the stored vectors of `ids`, into folder/sim.npy (float32 memmap),
    and the vectors into folder/features.npy when `features`. Returns (ids present, S memmap, X memmap|None)."""
    from engine.geometry.embeddings import load_embeddings

    M, N = Q.shape[0], len(ids)
    S = np.lib.format.open_memmap(folder / "sim.npy", mode="w+", dtype=np.float32, shape=(M, N))
    X_all = None
    present: list[np.ndarray] = []
    n = 0
    for a in range(0, N, LOAD_CHUNK):
        if cancel is not None:
            cancel.check()
        got, X = load_embeddings(store, model=rep_name, text_kind=text_kind, sample_ids=ids[a : a + LOAD_CHUNK])
        if len(got) == 0:
            continue
        if X.shape[1] != Q.shape[1]:
            raise TargetingError(f"stored vectors have {X.shape[1]} dimensions, the query vectors {Q.shape[1]}")
        if features and X_all is None:
            X_all = np.lib.format.open_memmap(
                folder / "features.npy", mode="w+", dtype=np.float32, shape=(N, X.shape[1])
            )
        S[:, n : n + len(got)] = Q @ X.T
        if X_all is not None:
            X_all[n : n + len(got)] = X
        present.append(got)
        n += len(got)
    ids_present = np.concatenate(present) if present else np.zeros(0, np.int64)
    return ids_present, S[:, :n], (X_all[:n] if X_all is not None else None)


def run_algorithm(algo: str, S, budget: int, *, features=None, weights=None, progress=None, cancel=None):
    """The ordering of `algo` over the similarity S (array or source)."""
    if algo == "rr":
        return round_robin(S, budget, progress=progress, cancel=cancel)
    if algo == "dg":
        return doubly_greedy(S, budget, cancel=cancel)
    if algo == "uot":
        return uot(S, budget, cancel=cancel)
    if algo == "knn-uniform":
        return knn_uniform(S, budget, cancel=cancel)
    if algo == "knn-kde":
        feats = features if isinstance(features, list) else [features]
        return knn_kde(S, feats, weights or [1.0] * len(feats), budget, cancel=cancel)
    raise TargetingError(f"unknown algorithm {algo!r}; use one of {', '.join(ALGOS)}")


def target(
    store: Store,
    *,
    query: str,
    name: str,
    budget: int,
    rep: str = "embed",
    algo: str = "rr",
    model: str | None = None,
    text_kind: str = "conversation",
    scope=None,
    replace: bool = False,
    encoder=None,
    loaded=None,
    quantiles: int | None = None,
    less_settings=None,
    trainer=None,
    progress=None,
    cancel=None,
) -> TargetResult:
    """Select `budget` samples for the query set `query` (a pool name or a file) among the samples of `scope`
    (a Scope or a Filter; None: every training sample) and save them as selection `name`. `encoder` (EMBED) / `loaded` (RDS+: model, tokenizer, name) stand in for loading a model (tests)."""
    from engine.geometry.embeddings import TEXT_KINDS, embed_samples
    from engine.quality.selection import _check_name

    t0 = time.perf_counter()
    if rep not in REPS:
        raise TargetingError(f"unknown representation {rep!r}; use one of {', '.join(REPS)}")
    if algo not in ALGOS:
        raise TargetingError(f"unknown algorithm {algo!r}; use one of {', '.join(ALGOS)}")
    if text_kind not in TEXT_KINDS:
        raise TargetingError(f"unknown text kind {text_kind!r}; use one of {', '.join(TEXT_KINDS)}")
    names = [f"{name}-q{q}" for q in range(int(quantiles))] if quantiles else [name]
    for n in names:
        _check_name(store, n, replace)
    meter = ProgressMeter(progress, total=5, unit="steps")  # the phases; embedding reports its own
    qs = load_queries(store, query)
    from engine.data.scope import as_scope, describe_scope, scope_params

    sc = as_scope(scope)
    ids = candidate_ids(store, sc, exclude=qs.sample_ids)
    if len(ids) == 0:
        raise TargetingError(
            f"no candidates: the scope holds no sample besides the query items ({describe_scope(store, sc)})"
        )
    k = check_budget(budget, len(ids))
    scratch = store_files(store) / "targeting"
    scratch.mkdir(parents=True, exist_ok=True)
    weights = None
    with tempfile.TemporaryDirectory(prefix="sim-", dir=scratch) as tmp:
        from pathlib import Path

        if rep == "less":
            from engine.targeting.less_warmup import WarmupSettings, less_similarity

            meter.advance(2, "LESS: warm-up, then gradients per checkpoint", force=True)
            base = model or "smollm2"
            if trainer is None:
                raise TargetingError(
                    "LESS needs the trainer for its warm-up: pass trainer= (workbench.cli.target.trainer_kit())"
                )
            S, X, weights, less_log = less_similarity(
                store,
                qs.records,
                ids,
                Path(tmp),
                base_model=base,
                settings=less_settings or WarmupSettings(),
                trainer=trainer,
                want_features=algo == "knn-kde",
                progress=progress,
                cancel=cancel,
            )
            got, rep_name, n_new = ids, f"less+{base}", 0
            meter.advance(1, "similarity", force=True)
        else:
            meter.advance(1, "loading the representation's model", force=True)
            r = representation(rep, model, encoder=encoder, loaded=loaded)
            res = embed_samples(
                store,
                model=r.name,
                text_kind=text_kind,
                scope=sc,
                encoder=r.encoder,
                progress=progress,
                cancel=cancel,
            )
            meter.advance(1, f"representing {len(qs)} query items", force=True)
            Q = r.queries(qs)
            meter.advance(1, "similarity", force=True)
            got, S, X = write_similarity(
                store, r.name, text_kind, ids, Q, Path(tmp), features=algo == "knn-kde", cancel=cancel
            )
            rep_name, n_new, less_log = r.name, res.n_new, None
        if len(got) < k:
            raise TargetingError(f"only {len(got):,} candidates have vectors, fewer than the budget {k:,}")
        meter.advance(1, f"{ALGOS[algo]} over {len(qs)} x {len(got):,}", force=True)
        whole = None if quantiles else k
        o = run_algorithm(
            algo, DenseSimilarity(S), whole, features=X, weights=weights, progress=progress, cancel=cancel
        )
        o.order = np.array(o.order)  # off the memmap before the folder goes
        meter.advance(1, "subset-to-query distances", force=True)
        if quantiles:
            parts = quantile_heads(o, quantiles, k)
            qdist = []
            for q, start, sub in parts:
                A = np.asarray(S[:, np.sort(sub.order)])
                qdist.append(
                    {"quantile": q, "start": start, "n": len(sub), "chamfer": chamfer(A), "ot": ot_distance(A)}
                )
            dist = []
        else:
            dist = budget_distances(S, o.order, k)
        del S, X
    params = {
        "query": qs.source,
        "rep": rep,
        "model": rep_name,
        "text_kind": text_kind,
        "n_query": len(qs),
        "n_candidates": int(len(got)),
        "scope": scope_params(sc),
        "distances": dist,
    }
    if less_log:
        params["less"] = less_log
    if len(got) < len(ids):
        o.notes.append(f"{len(ids) - len(got):,} candidates without vectors left out")

    def result(selection: str, domains: dict, **kw) -> TargetResult:
        return TargetResult(
            selection,
            qs.source,
            rep,
            rep_name,
            algo,
            text_kind,
            k,
            len(qs),
            int(len(got)),
            n_new,
            time.perf_counter() - t0,
            domains,
            notes=list(o.notes),
            **kw,
        )

    if quantiles:
        out = []
        for (q, start, sub), d in zip(parts, qdist):
            pq = {**params, "quantile": q, "n_quantiles": int(quantiles), "quantile_start": start, "distance": d}
            save_ordering(
                store, names[q], sub, got, budget=len(sub), query_labels=qs.labels, params=pq, replace=replace
            )
            out.append({"selection": names[q], **d, "domains": _domains(store, got[sub.order])})
        return result(names[0], out[0]["domains"], quantiles=out)
    info = save_ordering(store, name, o, got, budget=k, query_labels=qs.labels, params=params, replace=replace)
    head = o.head(k)
    picked = got[head.order]
    dom = _domains(store, picked)
    counts = np.bincount(head.query, minlength=len(qs))
    from engine.targeting.saving import why

    domain_of = dict(
        store.fetchall(
            "SELECT id, domain FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))", [picked[:20].tolist()]
        )
    )
    picks = [
        {
            "rank": p + 1,
            "sample_id": int(picked[p]),
            "domain": domain_of.get(int(picked[p])),
            "why": why(head, p, qs.labels[int(head.query[p])]),
        }
        for p in range(min(20, k))
    ]
    return result(
        info.name,
        dom,
        per_query=[[qs.labels[i], int(c)] for i, c in enumerate(counts)],
        picks=picks,
        distances=dist,
    )
