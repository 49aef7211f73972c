"""Interpolation sets in the store: create (pairs and lambdas), get, list, delete, read the pairs."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence

import numpy as np

from engine.core.names import check_name
from engine.core.store import Store
from engine.synthesis.interpolation.model import PAIRINGS, InterpolationError, InterpSet, Pair
from engine.synthesis.interpolation.pairing import (
    _capacity,
    _lambdas,
    _pair_index,
    _pair_nearest,
    _pair_random,
    parse_source,
    resolve_source,
    source_label,
)

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
    scope=None,
) -> InterpSet:
    """Create interpolation set `name`: `n_pairs` pairs (a from source_a, b from source_b) with lam ~
    Beta(alpha, alpha), paired by `pairing` ("random", "index", "nearest"; see the module docstring).
    Same inputs and seed give the same pairs. `embedding_model`/`text_kind` choose the sentence embeddings
    for nearest pairing (default: the stored set covering most samples). `scope` (engine.data.scope: the Browse
    filter) narrows both sources to its samples; it is kept in params["scope"], so the set's originals resolve
    the same way later. Excluded samples and eval pools never come in."""
    name = check_name(name, "interpolation set name", error=InterpolationError)
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
    from engine.data.scope import as_scope, filter_is_empty, scope_params

    sc = as_scope(scope)
    a_ids, a_dom = resolve_source(store, sa, scope=sc)
    b_ids, b_dom = resolve_source(store, sb, scope=sc)
    a_dom_arr, b_dom_arr = np.array(a_dom, dtype=object), np.array(b_dom, dtype=object)
    notes: list[str] = []
    params: dict = {
        "allow_same_task": bool(allow_same_task),
        "n_a": int(len(a_ids)),
        "n_b": int(len(b_ids)),
        "task": "domain",
    }
    if not filter_is_empty(sc.filter):  # kept only when it narrows: a set made without one hashes as before
        params["scope"] = scope_params(sc)
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
    rows = store.fetchall(
        "SELECT p.pair_index, p.sample_a, p.sample_b, p.lam, p.kept, p.cluster, p.why, a.domain, b.domain, "
        "a.instruction, b.instruction FROM interpolation_pairs p LEFT JOIN samples a ON a.id = p.sample_a "
        f"LEFT JOIN samples b ON b.id = p.sample_b WHERE p.set_id = ?{' AND p.kept' if kept_only else ''} "
        f"ORDER BY p.pair_index{lim} OFFSET {int(offset)}",
        [s.id],
    )
    return [Pair(*r) for r in rows]


def _pair_arrays(store: Store, set_id: int):
    rows = store.fetchall(
        "SELECT pair_index, sample_a, sample_b, lam, kept FROM interpolation_pairs WHERE set_id = ? "
        "ORDER BY pair_index",
        [set_id],
    )
    if not rows:
        raise InterpolationError("the set has no pairs")
    pi, a, b, lam, kept = (np.array(x) for x in zip(*rows))
    return pi.astype(np.int64), a.astype(np.int64), b.astype(np.int64), lam.astype(np.float64), kept.astype(bool)
