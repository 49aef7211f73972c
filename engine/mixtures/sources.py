"""Candidate items of a recipe: what each component offers per domain, deduplicated, as numpy columns."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.mixtures.recipe import Component, MixtureError, Recipe, _parse_cluster_ref

if TYPE_CHECKING:
    from engine.core.store import Store


@dataclass
class Candidates:
    """One domain's candidate items as columns, in key order (sample ids first, then pairs).

    kind: "sample" / "mixup" per item; sample_id (-1 for pairs), set_id and pair_index (-1 for samples),
    n_tokens, component (index into the recipe's components), digest (content hash of the sample(s))."""

    kind: np.ndarray
    sample_id: np.ndarray
    set_id: np.ndarray
    pair_index: np.ndarray
    n_tokens: np.ndarray
    component: np.ndarray
    digest: np.ndarray

    def __len__(self) -> int:
        return len(self.sample_id)

    @classmethod
    def concat(cls, parts: list["Candidates"]) -> "Candidates":
        c = cls(*[np.concatenate([getattr(x, f) for x in parts]) for f in _CAND_FIELDS])
        order = np.lexsort((c.pair_index, c.set_id, c.sample_id, c.kind == "mixup"))
        return c.take(order)

    def take(self, idx) -> "Candidates":
        return Candidates(*[getattr(self, f)[idx] for f in _CAND_FIELDS])


_CAND_FIELDS = ("kind", "sample_id", "set_id", "pair_index", "n_tokens", "component", "digest")
_TRAIN = "NOT s.excluded AND coalesce(p.role, 'train') <> 'eval'"


def _filter_sql(store: Store, c: Component) -> tuple[str, list]:
    if not c.filter or not c.filter.strip():
        return "TRUE", []
    from engine.data.query import Filter, where_sql

    try:
        return where_sql(store, Filter(expression=c.filter))
    except ValueError as e:
        raise MixtureError(f"component {c.name!r}: filter {c.filter!r}: {e}") from None


def _columns(con, sql: str, params: list) -> dict[str, np.ndarray]:
    t = con.sql(sql, params=params).to_arrow_table()
    return {n: t.column(n).to_numpy(zero_copy_only=False) for n in t.column_names}


def _component_candidates(store: Store, con, c: Component, ci: int) -> dict[str, Candidates]:
    """The items one component offers per domain (eval pools and excluded samples left out)."""
    fsql, fparams = _filter_sql(store, c)
    if c.kind == "interpolation":
        return _pair_candidates(con, c, ci, fsql, fparams)
    if c.kind == "pool":
        rows = con.execute("SELECT id, name, coalesce(role, 'train') FROM pools WHERE name = ?", [c.ref]).fetchall()
        if not rows and str(c.ref).strip().isdigit():
            rows = con.execute(
                "SELECT id, name, coalesce(role, 'train') FROM pools WHERE id = ?", [int(c.ref)]
            ).fetchall()
        if not rows:
            names = [r[0] for r in con.execute("SELECT name FROM pools ORDER BY id").fetchall()]
            raise MixtureError(f"component {c.name!r}: no pool {c.ref!r}; pools: {', '.join(names) or 'none'}")
        pid, pname, role = rows[0]
        if role == "eval":
            raise MixtureError(
                f"component {c.name!r}: pool {pname!r} is an eval pool (role 'eval'); eval pools are "
                "never drawn into mixtures (`workbench eval` uses them)"
            )
        cond, params = "s.pool_id = ?", [pid]
    elif c.kind == "domain":
        cond, params = "s.domain = ?", [c.ref]
    elif c.kind == "cluster":
        cname, k = _parse_cluster_ref(c)
        rows = con.execute("SELECT id FROM clusterings WHERE name = ?", [cname]).fetchall()
        if not rows:
            names = [r[0] for r in con.execute("SELECT name FROM clusterings ORDER BY id").fetchall()]
            raise MixtureError(
                f"component {c.name!r}: no clustering {cname!r}; clusterings: {', '.join(names) or 'none'}"
            )
        cond = "s.id IN (SELECT sample_id FROM cluster_assignments WHERE clustering_id = ? AND cluster = ?)"
        params = [rows[0][0], k]
    elif c.kind == "selection":
        rows = con.execute("SELECT id FROM selections WHERE name = ?", [c.ref]).fetchall()
        if not rows:
            names = [r[0] for r in con.execute("SELECT name FROM selections ORDER BY name").fetchall()]
            raise MixtureError(
                f"component {c.name!r}: no selection {c.ref!r}; selections: {', '.join(names) or 'none'}"
            )
        cond, params = "s.id IN (SELECT sample_id FROM selection_items WHERE selection_id = ?)", [rows[0][0]]
    else:  # validate() refuses other kinds
        raise MixtureError(f"component {c.name!r}: unknown kind {c.kind!r}")
    cols = _columns(
        con,
        f"SELECT s.id AS sid, s.domain AS dom, coalesce(s.n_tokens, 0) AS tok, s.content_hash AS h "
        f"FROM samples s JOIN pools p ON p.id = s.pool_id WHERE {_TRAIN} AND ({cond}) AND ({fsql}) "
        f"ORDER BY s.id",
        [*params, *fparams],
    )
    n = len(cols["sid"])
    doms = np.full(n, c.domain, dtype=object) if c.domain else cols["dom"]
    out: dict[str, Candidates] = {}
    for d in sorted(set(doms.tolist())):
        m = doms == d
        k = int(m.sum())
        out[str(d)] = Candidates(
            np.full(k, "sample", dtype=object),
            cols["sid"][m].astype(np.int64),
            np.full(k, -1, np.int64),
            np.full(k, -1, np.int64),
            cols["tok"][m].astype(np.int64),
            np.full(k, ci, np.int32),
            cols["h"][m].astype(object),
        )
    return out


def _pair_candidates(con, c: Component, ci: int, fsql: str, fparams: list) -> dict[str, Candidates]:
    rows = con.execute("SELECT id FROM interpolation_sets WHERE name = ?", [c.ref]).fetchall()
    if not rows:
        names = [r[0] for r in con.execute("SELECT name FROM interpolation_sets ORDER BY id").fetchall()]
        raise MixtureError(f"component {c.name!r}: no interpolation set {c.ref!r}; sets: {', '.join(names) or 'none'}")
    set_id = int(rows[0][0])
    # The filter's SQL is over alias s: it is applied to each side through its own sub-select.
    ok = f"SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id WHERE {_TRAIN} AND ({fsql})"
    cols = _columns(
        con,
        f"""SELECT ip.pair_index AS pi,
                   greatest(coalesce(a.n_tokens, 0), coalesce(b.n_tokens, 0)) AS tok,
                   a.content_hash || '|' || b.content_hash || '|' || ip.lam::VARCHAR AS h
            FROM interpolation_pairs ip JOIN samples a ON a.id = ip.sample_a JOIN samples b ON b.id = ip.sample_b
            WHERE ip.set_id = ? AND ip.kept AND ip.sample_a IN ({ok}) AND ip.sample_b IN ({ok})
            ORDER BY ip.pair_index""",
        [set_id, *fparams, *fparams],
    )
    k = len(cols["pi"])
    return {
        c.domain or "mixup": Candidates(
            np.full(k, "mixup", dtype=object),
            np.full(k, -1, np.int64),
            np.full(k, set_id, np.int64),
            cols["pi"].astype(np.int64),
            cols["tok"].astype(np.int64),
            np.full(k, ci, np.int32),
            cols["h"].astype(object),
        )
    }


def candidates(store: Store, recipe: Recipe) -> dict[str, Candidates]:
    """Per-domain candidate items of a recipe: deduplicated (an item reached by several components counts
    once, for the first component in recipe order), each domain's items in key order. Depends only on the
    components and the store, so an editor can cache it while shares, budget or seed change."""
    recipe.validate()
    con = store.cursor()
    try:
        seen_samples = np.empty(0, np.int64)
        seen_pairs: set[tuple[int, int]] = set()
        parts: dict[str, list[Candidates]] = defaultdict(list)
        for ci, c in enumerate(recipe.components):
            for d, cand in _component_candidates(store, con, c, ci).items():
                if c.kind == "interpolation":
                    keys = list(zip(cand.set_id.tolist(), cand.pair_index.tolist()))
                    keep = np.array([k not in seen_pairs for k in keys], dtype=bool)
                    seen_pairs.update(keys)
                else:
                    keep = ~np.isin(cand.sample_id, seen_samples)
                    seen_samples = np.concatenate([seen_samples, cand.sample_id[keep]])
                if keep.any():
                    parts[d].append(cand.take(np.flatnonzero(keep)))
    finally:
        con.close()
    return {d: Candidates.concat(p) for d, p in parts.items()}
