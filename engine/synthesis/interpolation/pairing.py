"""Sources (domain, pool, cluster, selection) and the pairing rules (random, index, nearest) with lam ~ Beta."""

from __future__ import annotations

import math

import numpy as np

from engine.core.store import Store
from engine.synthesis.interpolation.model import SOURCE_KINDS, InterpolationError

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


def resolve_source(store: Store, source: str | dict, *, con=None, scope=None) -> tuple[np.ndarray, list[str]]:
    """(ids int64 sorted, domains) of the usable samples of a source: non-excluded, not in an eval pool, and in
    `scope` when given (engine.data.scope: the Browse filter a set was made under). A set is training data, so
    neither excluded samples nor eval pools come in, whatever the scope asks."""
    from engine.data.scope import as_scope, scope_sql

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
        ssql, sparams = scope_sql(store, as_scope(scope, include_excluded=False, include_eval=False))
        cond, params = f"({cond}) AND {ssql}", [*params, *sparams]
        rows = c.execute(
            f"SELECT s.id, s.domain FROM samples s JOIN pools p ON p.id = s.pool_id "
            f"WHERE ({cond}) AND NOT s.excluded AND coalesce(p.role, 'train') <> 'eval' ORDER BY s.id",
            params,
        ).fetchall()
    finally:
        if con is None:
            c.close()
    if not rows:
        within = "" if scope is None or as_scope(scope).filter is None else " within the filter"
        raise InterpolationError(
            f"source {source_label(src)} has no usable samples{within} (non-excluded samples outside eval pools)"
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
