"""Interpolation sets (MDIT task interpolation, arXiv 2504.07288): stored pairs of samples of two different
tasks with a mixing weight lam ~ Beta(alpha, alpha), a diversity step that keeps dense, representative mixes,
a preview of what lies between two samples, where mixes fall on a cluster map, and a table export.

The mixing itself happens at training time on the model's own input embeddings (engine.synthesis.mixup); a set only
stores *which* samples are mixed and with which lam. See docs/interpolation.md for the method and for which
parts are ours (the paper is silent on them): the pairing rules, the length alignment (engine.synthesis.mixup), the
diversity features and the per-cluster pick rule.

Sources: {"kind": "domain"|"pool"|"cluster"|"selection", "ref": ..., "filter": optional filter expression}
  domain     ref = domain name
  pool       ref = pool name or id
  cluster    ref = "CLUSTERING:K" (one cluster), "CLUSTERING:K1,K2" (several) or "CLUSTERING" (every non-noise
             cluster) of a saved clustering
  selection  ref = saved selection name
Excluded samples and samples of eval pools (pools.role = 'eval') are never used. A "task" is a sample's
domain: unless allow_same_task, a pair never joins two samples of the same domain; a sample is never paired
with itself.

Pairing (ours where the paper is silent; the paper pairs the k-th sample of task i with the k-th of task j):
  index    A and B in id order; pair k takes a = A[i], i = k mod |A|, r = k div |A| (the round), and the first
           b = B[j], j = i + r, i + r + 1, ... (mod |B|) that is valid for a and not yet paired with it. With two
           sources of different tasks and |A| <= |B| the first |A| pairs are exactly (A[k], B[k]).
  random   A visited in a seeded random order (cycling); each a gets a uniformly random valid b; a pair
           (a, b) is never repeated.
  nearest  A visited in a seeded random order (cycling); in round r each a is paired with its r-th nearest
           valid b by cosine of stored sentence embeddings (samples without an embedding are left out).
lam for pair k is the k-th draw of Beta(alpha, alpha) from numpy's Generator seeded with (seed, 1), so the
same seed gives the same lambdas whatever the pairing; the pairing's own randomness uses (seed, 2).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import InputError
from engine.core.store import Store

SOURCE_KINDS = ("domain", "pool", "cluster", "selection")
PAIRINGS = ("random", "index", "nearest")
FEATURES = ("embedding_layer", "sentence")
TEXT_EXPORT_MESSAGE = (
    "an interpolation set cannot be exported as text: MDIT mixes the model's input embeddings of two samples "
    "(lam*E[a] + (1-lam)*E[b]) at training time, and such a mixture has no text form. Export the pairs with "
    "their lam as a table instead (`workbench interpolate export-pairs NAME PATH`)."
)


class InterpolationError(InputError):
    """An interpolation request that cannot be honoured (the message says why)."""


@dataclass
class InterpSet:
    id: int
    name: str
    source_a: dict
    source_b: dict
    alpha: float
    n_pairs: int
    pairing: str
    seed: int
    params: dict
    content_hash: str
    created_at: Any = None
    note: str | None = None
    n_kept: int = 0


@dataclass
class Pair:
    pair_index: int
    sample_a: int
    sample_b: int
    lam: float
    kept: bool
    cluster: int | None
    why: str | None
    domain_a: str | None = None
    domain_b: str | None = None
    instruction_a: str | None = None
    instruction_b: str | None = None


@dataclass
class DiversityResult:
    n_pairs: int
    n_kept: int
    k: int
    features: str
    n_originals: int
    clusters: list[dict]  # cluster, size, n_mixes, n_originals, quota, kept
    seconds: float


@dataclass
class Neighbour:
    sample_id: int
    domain: str
    cosine: float
    instruction: str


@dataclass
class PairPreview:
    pair_index: int
    lam: float
    kept: bool
    cluster: int | None
    why: str | None
    a: dict  # sample_id, domain, pool, instruction, response
    b: dict
    cos_a: float | None  # cosine of the interpolated point to sample a / sample b
    cos_b: float | None
    nearest: list[Neighbour]
    embedding: str  # "model/text_kind" used


@dataclass
class Coverage:
    clustering: str
    placement: str  # how mixes were put on the map (text for the UI)
    n_clusters: int
    n_mixes: int  # mixes placed
    n_unplaced: int  # pairs whose samples lack an embedding of the clustering's model
    n_mixes_noise: int
    covered_originals: int  # non-noise clusters holding at least one pair sample
    covered_with_mixes: int  # ... or a mix
    new_clusters: list[int]  # clusters reached only by mixes
    per_cluster: dict[int, dict]  # cluster -> {"originals": n, "mixes": n}
    pair_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


# -- sources ----------------------------------------------------------------------------------------


def parse_source(text: str | dict) -> dict:
    """'domain:math', 'pool:alpaca', 'cluster:topics:3', 'selection:top' -> {"kind", "ref"} (dicts are checked)."""
    if isinstance(text, dict):
        src = dict(text)
    else:
        if not isinstance(text, str) or ":" not in text:
            raise InterpolationError(f"a source is KIND:REF with KIND one of {', '.join(SOURCE_KINDS)}; got {text!r}")
        kind, ref = text.split(":", 1)
        src = {"kind": kind.strip(), "ref": ref.strip()}
    if src.get("kind") not in SOURCE_KINDS:
        raise InterpolationError(f"source kind must be one of {', '.join(SOURCE_KINDS)}; got {src.get('kind')!r}")
    if src.get("ref") is None or str(src.get("ref")).strip() == "":
        raise InterpolationError(f"source {src['kind']} needs a ref (a name)")
    bad = set(src) - {"kind", "ref", "filter"}
    if bad:
        raise InterpolationError(f"unknown source keys {sorted(bad)}; a source has kind, ref and optional filter")
    return src


def source_label(src: dict) -> str:
    """Short text for a source: 'domain:math', with ' [filter]' when filtered."""
    s = f"{src['kind']}:{src['ref']}"
    return s + (f" [{src['filter']}]" if src.get("filter") else "")


def resolve_source(store: Store, source: str | dict, *, con=None) -> tuple[np.ndarray, list[str]]:
    """(ids int64 sorted, domains) of the usable samples of a source: non-excluded, not in an eval pool."""
    src = parse_source(source)
    kind, ref = src["kind"], src["ref"]
    c = con or store.cursor()
    try:
        if kind == "domain":
            cond, params = "s.domain = ?", [str(ref)]
        elif kind == "pool":
            from engine.data.pools import PoolNotFound, get_pool

            try:
                info = get_pool(store, str(ref))
            except PoolNotFound as e:
                raise InterpolationError(str(e).strip("'\"")) from None
            pid, pname = info.id, info.name
            role = c.execute("SELECT coalesce(role, 'train') FROM pools WHERE id = ?", [pid]).fetchall()[0][0]
            if role == "eval":
                raise InterpolationError(f"pool {pname!r} is an eval pool; eval pools are never used for training data")
            cond, params = "s.pool_id = ?", [pid]
        elif kind == "cluster":
            cname, _, ks = str(ref).partition(":")
            row = c.execute("SELECT id FROM clusterings WHERE name = ?", [cname]).fetchall()
            if not row:
                raise InterpolationError(f"no clustering named {cname!r}; `workbench clusters` lists them")
            if ks.strip():
                try:
                    klist = [int(x) for x in ks.split(",") if x.strip()]
                except ValueError:
                    raise InterpolationError(
                        f"cluster source {ref!r}: clusters must be integers, e.g. topics:3,5"
                    ) from None
                cond = (
                    "s.id IN (SELECT sample_id FROM cluster_assignments WHERE clustering_id = ? AND "
                    "cluster IN (SELECT unnest(?::INTEGER[])))"
                )
                params = [row[0][0], klist]
            else:
                cond = "s.id IN (SELECT sample_id FROM cluster_assignments WHERE clustering_id = ? AND cluster >= 0)"
                params = [row[0][0]]
        else:  # selection
            row = c.execute("SELECT id FROM selections WHERE name = ?", [str(ref)]).fetchall()
            if not row:
                names = [r[0] for r in c.execute("SELECT name FROM selections ORDER BY name").fetchall()]
                raise InterpolationError(f"no selection named {ref!r}; selections: {', '.join(names) or 'none'}")
            cond, params = "s.id IN (SELECT sample_id FROM selection_items WHERE selection_id = ?)", [row[0][0]]
        if src.get("filter"):
            from engine.data.filters import FilterError
            from engine.data.query import Filter, where_sql

            try:
                fsql, fparams = where_sql(store, Filter(expression=src["filter"]))
            except FilterError as e:
                raise InterpolationError(f"source {source_label(src)}: bad filter: {e}") from None
            cond, params = f"({cond}) AND ({fsql})", [*params, *fparams]
        rows = c.execute(
            f"SELECT s.id, s.domain FROM samples s JOIN pools p ON p.id = s.pool_id "
            f"WHERE ({cond}) AND NOT s.excluded AND coalesce(p.role, 'train') <> 'eval' ORDER BY s.id",
            params,
        ).fetchall()
    finally:
        if con is None:
            c.close()
    if not rows:
        raise InterpolationError(
            f"source {source_label(src)} has no usable samples (non-excluded samples outside eval pools)"
        )
    return np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows]


# -- pairing ----------------------------------------------------------------------------------------


def _lambdas(alpha: float, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng([int(seed), 1]).beta(alpha, alpha, size=n)


def _capacity(a_ids, a_dom, b_ids, b_dom, allow_same_task) -> int:
    """How many distinct valid (a, b) pairs exist."""
    from collections import Counter

    bset = set(b_ids.tolist())
    bdc = Counter(b_dom.tolist())
    dom_of_b = dict(zip(b_ids.tolist(), b_dom.tolist()))
    total = 0
    for a, d in zip(a_ids.tolist(), a_dom.tolist()):
        n = len(b_ids) if allow_same_task else len(b_ids) - bdc.get(d, 0)
        if a in bset and (allow_same_task or dom_of_b[a] != d):
            n -= 1
        total += n
    return total


def _pair_index(a_ids, a_dom, b_ids, b_dom, n_pairs, allow_same_task) -> list[tuple[int, int]]:
    nA, nB = len(a_ids), len(b_ids)
    used: set[tuple[int, int]] = set()
    exhausted: set[int] = set()
    allowed: dict[str, np.ndarray] = {}  # positions in B of another domain (all when same-task pairs are allowed)
    out = []
    k = 0
    while len(out) < n_pairs and len(exhausted) < nA:
        i, r = k % nA, k // nA
        k += 1
        if i in exhausted:
            continue
        a, d = int(a_ids[i]), a_dom[i]
        key = "" if allow_same_task else d
        if key not in allowed:
            allowed[key] = np.arange(nB) if allow_same_task else np.flatnonzero(b_dom != d)
        pos = allowed[key]
        start = int(np.searchsorted(pos, (i + r) % nB))  # first allowed position at or after i + r, cyclic
        for t in range(len(pos)):
            b = int(b_ids[pos[(start + t) % len(pos)]])
            if b != a and (a, b) not in used:
                used.add((a, b))
                out.append((a, b))
                break
        else:
            exhausted.add(i)
    return out


def _pair_random(a_ids, a_dom, b_ids, b_dom, n_pairs, allow_same_task, rng) -> list[tuple[int, int]]:
    nA = len(a_ids)
    order = rng.permutation(nA)
    used: set[tuple[int, int]] = set()
    out = []
    by_dom: dict[str, np.ndarray] = {}  # candidates of another domain (all of B when same-task pairs are allowed)
    exhausted: set[int] = set()
    k = 0
    while len(out) < n_pairs and len(exhausted) < nA:
        i = int(order[k % nA])
        k += 1
        if i in exhausted:
            continue
        a, d = int(a_ids[i]), a_dom[i]
        key = "" if allow_same_task else d
        if key not in by_dom:
            by_dom[key] = b_ids if allow_same_task else b_ids[b_dom != d]
        cand = by_dom[key]
        b = None
        for _ in range(20 if len(cand) else 0):  # rejection: itself or an already used pair
            x = int(cand[rng.integers(len(cand))])
            if x != a and (a, x) not in used:
                b = x
                break
        if b is None and len(cand):  # nearly exhausted for this a: scan from a random start
            start = int(rng.integers(len(cand)))
            for t in range(len(cand)):
                x = int(cand[(start + t) % len(cand)])
                if x != a and (a, x) not in used:
                    b = x
                    break
        if b is None:
            exhausted.add(i)
            continue
        used.add((a, b))
        out.append((a, b))
    return out


def _pair_nearest(store, a_ids, a_dom, b_ids, b_dom, n_pairs, allow_same_task, rng, model, text_kind, notes):
    from engine.geometry.embeddings import load_embeddings

    ia, XA = load_embeddings(store, model=model, text_kind=text_kind, sample_ids=a_ids)
    ib, XB = load_embeddings(store, model=model, text_kind=text_kind, sample_ids=b_ids)
    if len(ia) == 0 or len(ib) == 0:
        raise InterpolationError(
            f"nearest pairing needs {model}/{text_kind} sentence embeddings of both sources; "
            "run `workbench embed` first"
        )
    if len(ia) < len(a_ids) or len(ib) < len(b_ids):
        notes.append(
            f"nearest: {len(a_ids) - len(ia)} A and {len(b_ids) - len(ib)} B samples have no "
            f"{model}/{text_kind} embedding and were left out"
        )
    dA = dict(zip(a_ids.tolist(), a_dom))
    dB = dict(zip(b_ids.tolist(), b_dom))
    ad = np.array([dA[i] for i in ia.tolist()], dtype=object)
    bd = np.array([dB[i] for i in ib.tolist()], dtype=object)
    cap = _capacity(ia, ad, ib, bd, allow_same_task)
    if cap < n_pairs:
        raise InterpolationError(
            f"only {cap} distinct valid pairs exist among the embedded samples; asked for {n_pairs}"
        )
    XA = XA / np.maximum(np.linalg.norm(XA, axis=1, keepdims=True), 1e-12)
    XB = XB / np.maximum(np.linalg.norm(XB, axis=1, keepdims=True), 1e-12)
    order = rng.permutation(len(ia))
    rounds = int(math.ceil(n_pairs / len(ia)))
    codes = {d: n for n, d in enumerate(sorted(set(ad.tolist()) | set(bd.tolist()), key=str))}
    ac = np.array([codes[d] for d in ad.tolist()], dtype=np.int64)
    bc = np.array([codes[d] for d in bd.tolist()], dtype=np.int64)
    ranked: dict[int, list[int]] = {}
    chunk = max(1, min(2048, 20_000_000 // max(1, len(ib))))  # chunk x |B| similarities at a time
    for s in range(0, len(ia), chunk):
        S = XA[s : s + chunk] @ XB.T
        m = ia[s : s + chunk, None] != ib[None, :]
        if not allow_same_task:
            m &= ac[s : s + chunk, None] != bc[None, :]
        S = np.where(m, S, -np.inf)
        take = min(rounds, len(ib))
        if take == 1:
            top = S.argmax(axis=1)[:, None]  # the first maximum: the smallest id on ties
        elif take < len(ib):
            top = np.argpartition(-S, take - 1, axis=1)[:, :take]
        else:
            top = np.tile(np.arange(len(ib)), (len(S), 1))
        for r in range(len(S)):
            t = top[r]
            t = t[np.isfinite(S[r, t])]
            t = t[np.lexsort((ib[t], -S[r, t]))][:rounds]  # cosine desc, id asc on ties
            ranked[s + r] = [int(ib[j]) for j in t]
    out = []
    r = 0
    while len(out) < n_pairs:
        progressed = False
        for i in order:
            if r < len(ranked[int(i)]):
                out.append((int(ia[i]), ranked[int(i)][r]))
                progressed = True
                if len(out) == n_pairs:
                    break
        if not progressed:
            break
        r += 1
    return out


# -- sets -------------------------------------------------------------------------------------------


def _row_to_set(r) -> InterpSet:
    def js(v):
        return json.loads(v) if isinstance(v, str) else (v or {})

    return InterpSet(
        id=r[0],
        name=r[1],
        source_a=js(r[2]),
        source_b=js(r[3]),
        alpha=r[4],
        n_pairs=r[5],
        pairing=r[6],
        seed=r[7],
        params=js(r[8]),
        content_hash=r[9],
        created_at=r[10],
        note=r[11],
        n_kept=int(r[12] or 0),
    )


_SET_SQL = (
    "SELECT s.id, s.name, s.source_a, s.source_b, s.alpha, s.n_pairs, s.pairing, s.seed, s.params, "
    "s.content_hash, s.created_at, s.note, (SELECT count(*) FROM interpolation_pairs p "
    "WHERE p.set_id = s.id AND p.kept) FROM interpolation_sets s"
)


def get_set(store: Store, ref: str | int) -> InterpSet:
    """An interpolation set by name (or id); InterpolationError naming the existing sets when missing."""
    c = store.cursor()
    try:
        rows = c.execute(f"{_SET_SQL} WHERE s.name = ?", [str(ref)]).fetchall()
        if not rows and (isinstance(ref, int) or str(ref).strip().isdigit()):
            rows = c.execute(f"{_SET_SQL} WHERE s.id = ?", [int(ref)]).fetchall()
        if not rows:
            names = [r[0] for r in c.execute("SELECT name FROM interpolation_sets ORDER BY name").fetchall()]
    finally:
        c.close()
    if not rows:
        raise InterpolationError(f"no interpolation set {ref!r}; sets: {', '.join(names) or 'none'}")
    return _row_to_set(rows[0])


def list_sets(store: Store) -> list[InterpSet]:
    """Every interpolation set, oldest first."""
    c = store.cursor()
    try:
        rows = c.execute(f"{_SET_SQL} ORDER BY s.id").fetchall()
    finally:
        c.close()
    return [_row_to_set(r) for r in rows]


def _pick_embedding(
    store: Store, model: str | None, text_kind: str | None, need: Sequence[int] = ()
) -> tuple[str, str]:
    """(model, text_kind) of stored sentence embeddings: the given ones, else the stored set covering most of
    `need` (then most samples)."""
    from engine.geometry.embeddings import embedding_sets, model_name

    if model is not None:
        return model_name(model), text_kind or "instruction_response"
    sets = [s for s in embedding_sets(store) if text_kind is None or s["text_kind"] == text_kind]
    if not sets:
        raise InterpolationError(
            "no sentence embeddings are stored"
            + (f" for text kind {text_kind}" if text_kind else "")
            + "; run `workbench embed` first"
        )
    if len(need):
        c = store.cursor()
        try:

            def hits(s):
                return c.execute(
                    "SELECT count(*) FROM embeddings WHERE model = ? AND text_kind = ? AND sample_id IN "
                    "(SELECT unnest(?::BIGINT[]))",
                    [s["model"], s["text_kind"], list(map(int, need))],
                ).fetchall()[0][0]

            best = max(sets, key=lambda s: (hits(s), s["n_samples"]))
        finally:
            c.close()
    else:
        best = max(sets, key=lambda s: s["n_samples"])
    return best["model"], best["text_kind"]


def create_set(
    store: Store,
    name: str,
    source_a: str | dict,
    source_b: str | dict,
    *,
    alpha: float = 0.5,
    n_pairs: int = 100,
    pairing: str = "random",
    seed: int = 0,
    allow_same_task: bool = False,
    embedding_model: str | None = None,
    text_kind: str | None = None,
    note: str | None = None,
    replace: bool = False,
) -> InterpSet:
    """Create interpolation set `name`: `n_pairs` pairs (a from source_a, b from source_b) with lam ~
    Beta(alpha, alpha), paired by `pairing` ("random", "index", "nearest"; see the module docstring).
    Same inputs and seed give the same pairs. `embedding_model`/`text_kind` choose the sentence embeddings
    for nearest pairing (default: the stored set covering most samples)."""
    if not isinstance(name, str) or not name.strip():
        raise InterpolationError("an interpolation set needs a name")
    name = name.strip()
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise InterpolationError(f"alpha must be a number > 0, got {alpha!r}") from None
    if not (alpha > 0 and math.isfinite(alpha)):
        raise InterpolationError(f"alpha must be > 0 (Beta(alpha, alpha)), got {alpha}")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise InterpolationError(f"n_pairs must be a positive integer, got {n_pairs!r}")
    if pairing not in PAIRINGS:
        raise InterpolationError(f"pairing must be one of {', '.join(PAIRINGS)}; got {pairing!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InterpolationError(f"seed must be a non-negative integer, got {seed!r}")
    n_pairs, seed = int(n_pairs), int(seed)
    sa, sb = parse_source(source_a), parse_source(source_b)
    if not replace:
        c = store.cursor()
        try:
            if c.execute("SELECT 1 FROM interpolation_sets WHERE name = ?", [name]).fetchall():
                raise InterpolationError(
                    f"an interpolation set named {name!r} exists; choose another name or replace it"
                )
        finally:
            c.close()
    a_ids, a_dom = resolve_source(store, sa)
    b_ids, b_dom = resolve_source(store, sb)
    a_dom_arr, b_dom_arr = np.array(a_dom, dtype=object), np.array(b_dom, dtype=object)
    notes: list[str] = []
    params: dict = {
        "allow_same_task": bool(allow_same_task),
        "n_a": int(len(a_ids)),
        "n_b": int(len(b_ids)),
        "task": "domain",
    }
    rng = np.random.default_rng([seed, 2])
    if pairing == "nearest":
        emb = _pick_embedding(store, embedding_model, text_kind, np.concatenate([a_ids, b_ids])[:5000])
        params["embedding"] = {"model": emb[0], "text_kind": emb[1]}
        pairs = _pair_nearest(
            store, a_ids, a_dom_arr, b_ids, b_dom_arr, n_pairs, allow_same_task, rng, emb[0], emb[1], notes
        )
    else:
        cap = _capacity(a_ids, a_dom_arr, b_ids, b_dom_arr, allow_same_task)
        if cap == 0:
            why = "" if allow_same_task else " (both sources hold only the same task/domain; pass allow_same_task)"
            raise InterpolationError(f"no valid pair exists between {source_label(sa)} and {source_label(sb)}{why}")
        if cap < n_pairs:
            raise InterpolationError(
                f"only {cap} distinct valid pairs exist between {source_label(sa)} and "
                f"{source_label(sb)}; asked for {n_pairs}"
            )
        if pairing == "index":
            pairs = _pair_index(a_ids, a_dom_arr, b_ids, b_dom_arr, n_pairs, allow_same_task)
        else:
            pairs = _pair_random(a_ids, a_dom_arr, b_ids, b_dom_arr, n_pairs, allow_same_task, rng)
    if len(pairs) < n_pairs:
        raise InterpolationError(f"only {len(pairs)} valid pairs could be made; asked for {n_pairs}")
    lams = _lambdas(alpha, n_pairs, seed)
    params["notes"] = notes
    h = hashlib.sha1(
        json.dumps(
            {
                "a": sa,
                "b": sb,
                "alpha": alpha,
                "n": n_pairs,
                "pairing": pairing,
                "seed": seed,
                "params": params,
                "pairs": pairs,
                "lam": [round(float(x), 12) for x in lams],
            },
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:16]
    import pyarrow as pa

    with store.transaction() as c:
        old = c.execute("SELECT id FROM interpolation_sets WHERE name = ?", [name]).fetchall()
        if old and not replace:
            raise InterpolationError(f"an interpolation set named {name!r} exists; choose another name or replace it")
        for (oid,) in old:
            _refuse_if_used(c, oid, name)
            c.execute("DELETE FROM interpolation_pairs WHERE set_id = ?", [oid])
            c.execute("DELETE FROM interpolation_sets WHERE id = ?", [oid])
        sid = store.next_id("interpolation_sets", c)
        c.execute(
            "INSERT INTO interpolation_sets (id, name, source_a, source_b, alpha, n_pairs, pairing, seed, params, "
            "content_hash, note) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [sid, name, json.dumps(sa), json.dumps(sb), alpha, n_pairs, pairing, seed, json.dumps(params), h, note],
        )
        tbl = pa.table(
            {
                "pair_index": pa.array(np.arange(n_pairs), pa.int32()),
                "sample_a": pa.array([p[0] for p in pairs], pa.int64()),
                "sample_b": pa.array([p[1] for p in pairs], pa.int64()),
                "lam": pa.array(lams.astype(np.float64), pa.float64()),
            }
        )
        c.register("_ip_new", tbl)
        try:
            c.execute(
                "INSERT INTO interpolation_pairs (set_id, pair_index, sample_a, sample_b, lam, kept, cluster, why) "
                "SELECT ?, pair_index, sample_a, sample_b, lam, true, NULL, NULL FROM _ip_new",
                [sid],
            )
        finally:
            c.unregister("_ip_new")
    return get_set(store, name)


def _refuse_if_used(c, set_id: int, name: str) -> None:
    used = c.execute(
        "SELECT DISTINCT m.name, m.version FROM mixture_items i JOIN mixtures m ON m.id = i.mixture_id "
        "WHERE i.interp_set_id = ? ORDER BY 1, 2",
        [set_id],
    ).fetchall()
    if used:
        names = ", ".join(f"{n} v{v}" for n, v in used[:5])
        raise InterpolationError(
            f"interpolation set {name!r} is used by mixture {names}; delete or re-save those mixtures first"
        )


def delete_set(store: Store, ref: str | int) -> None:
    """Delete a set and its pairs (refused while a saved mixture version uses it)."""
    s = get_set(store, ref)
    with store.transaction() as c:
        _refuse_if_used(c, s.id, s.name)
        c.execute("DELETE FROM interpolation_pairs WHERE set_id = ?", [s.id])
        c.execute("DELETE FROM interpolation_sets WHERE id = ?", [s.id])


def pairs(
    store: Store, ref: str | int, *, kept_only: bool = False, offset: int = 0, limit: int | None = None
) -> list[Pair]:
    """The pairs of a set in pair_index order, with both samples' domains and instructions."""
    s = get_set(store, ref)
    lim = "" if limit is None else f" LIMIT {int(limit)}"
    c = store.cursor()
    try:
        rows = c.execute(
            "SELECT p.pair_index, p.sample_a, p.sample_b, p.lam, p.kept, p.cluster, p.why, a.domain, b.domain, "
            "a.instruction, b.instruction FROM interpolation_pairs p LEFT JOIN samples a ON a.id = p.sample_a "
            f"LEFT JOIN samples b ON b.id = p.sample_b WHERE p.set_id = ?{' AND p.kept' if kept_only else ''} "
            f"ORDER BY p.pair_index{lim} OFFSET {int(offset)}",
            [s.id],
        ).fetchall()
    finally:
        c.close()
    return [Pair(*r) for r in rows]


def _pair_arrays(store: Store, set_id: int):
    c = store.cursor()
    try:
        rows = c.execute(
            "SELECT pair_index, sample_a, sample_b, lam, kept FROM interpolation_pairs WHERE set_id = ? "
            "ORDER BY pair_index",
            [set_id],
        ).fetchall()
    finally:
        c.close()
    if not rows:
        raise InterpolationError("the set has no pairs")
    pi, a, b, lam, kept = (np.array(x) for x in zip(*rows))
    return pi.astype(np.int64), a.astype(np.int64), b.astype(np.int64), lam.astype(np.float64), kept.astype(bool)


# -- diversity step ---------------------------------------------------------------------------------


def _texts(store: Store, ids: Sequence[int]) -> dict[int, str]:
    from engine.geometry.embeddings import sample_text

    c = store.cursor()
    try:
        rows = c.execute(
            "SELECT id, messages, system FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))", [list(map(int, ids))]
        ).fetchall()
    finally:
        c.close()
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
    """The original samples of the diversity step: both sources as they resolve now (a source that no longer
    resolves is skipped) plus every sample of the set's pairs, sorted unique ids."""
    s = get_set(store, ref)
    _pi, a, b, _lam, _kept = _pair_arrays(store, s.id)
    parts = [a, b]
    for src in (s.source_a, s.source_b):
        try:
            parts.append(resolve_source(store, src)[0])
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
) -> PairPreview:
    """Both samples of a pair, its lam, and the `k` real samples (non-excluded, the pair's own two left out)
    nearest by cosine to lam*e_a + (1-lam)*e_b over the stored sentence embeddings."""
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

        ids = embedded_ids(store, model=mname, text_kind=kind, include_excluded=False)
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

    from engine.geometry.clusters import ClusterError, _row
    from engine.geometry.embeddings import load_embeddings, store_dir

    s = get_set(store, ref)
    try:
        cid, cname, mname, kind, _params, _created, art = _row(store, clustering)
    except ClusterError as e:
        raise InterpolationError(str(e)) from None
    pi, a, b, lam, kept = _pair_arrays(store, s.id)
    if kept_only:
        pi, a, b, lam, kept = pi[kept], a[kept], b[kept], lam[kept], kept[kept]
    path = store_dir(store) / art if art else None
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
