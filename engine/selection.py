"""Saved selections: SuperFiltering top-k by IFD (and, later, diversity selections).

SuperFiltering (tianyi-lab/Superfiltering code_ifd/select_data.py): keep samples with IFD < threshold
(strict, default 1.0), sort by IFD descending, take the first int(N * rate) where N is the size of the
group *before* the IFD filter (the reference hard-codes N = 52002, Alpaca's size; we use the group's
size), or a fixed `n`. Groups: the whole filter, each pool, or each domain. Samples without an IFD value
(NULL: empty response, truncated) are never selected. Each item records why it was picked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from engine.store import Store


class SelectionError(ValueError):
    """A selection request that cannot be honoured (the message says why)."""


@dataclass
class SelectionInfo:
    id: int
    name: str
    method: str
    params: dict
    n: int
    content_hash: str
    created_at: object


def _metric_sql(model: str | None) -> tuple[str, list]:
    if model is None:
        return ("SELECT sample_id, arg_max_null(value, created_at) AS v FROM scores WHERE metric = ? "
                "GROUP BY sample_id"), []
    return ("SELECT sample_id, arg_max_null(value, created_at) AS v FROM scores WHERE metric = ? AND model = ? "
            "GROUP BY sample_id"), [model]


def superfiltering_select(store: Store, name: str, *, rate: float | None = 0.1, n: int | None = None,
                          per: str | None = "domain", threshold: float = 1.0, metric: str = "ifd",
                          model: str | None = None, filter=None, replace: bool = False) -> SelectionInfo:
    """Save the SuperFiltering selection of the samples matching `filter` (non-excluded) as `name`."""
    if (rate is None) == (n is None):
        raise SelectionError("give exactly one of rate or n")
    if rate is not None and not (0 < rate <= 1):
        raise SelectionError(f"rate must be in (0, 1], got {rate}")
    group = {None: "'all'", "all": "'all'", "pool": "CAST(s.pool_id AS VARCHAR)", "domain": "s.domain"}.get(per)
    if group is None:
        raise SelectionError(f"per must be one of all, pool, domain; got {per!r}")
    from engine.query import Filter, where_sql

    f = filter or Filter()
    wsql, wparams = where_sql(store, f)
    msql, mparams = _metric_sql(model)
    quota = f"floor(n_group * {float(rate)!r})" if rate is not None else str(int(n))
    sql = f"""
        WITH base AS (
            SELECT s.id, {group} AS grp, m.v
            FROM samples s LEFT JOIN ({msql}) m ON m.sample_id = s.id
            WHERE ({wsql}) AND NOT s.excluded
        ), sized AS (SELECT *, count(*) OVER (PARTITION BY grp) AS n_group FROM base),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY grp ORDER BY v DESC, id) AS rk
            FROM sized WHERE v IS NOT NULL AND v < ?
        )
        SELECT id, grp, v, rk, n_group FROM ranked WHERE rk <= {quota} ORDER BY grp, rk"""
    c = store.cursor()
    try:
        rows = c.execute(sql, [metric, *mparams, *wparams, threshold]).fetchall()
        params = {"rate": rate, "n": n, "per": per or "all", "threshold": threshold, "metric": metric,
                  "model": model, "filter": _filter_dict(f)}
        h = hashlib.sha1(json.dumps({"params": params, "ids": [r[0] for r in rows]}, sort_keys=True,
                                    default=str).encode()).hexdigest()[:16]
        c.execute("BEGIN TRANSACTION")
        old = c.execute("SELECT id FROM selections WHERE name = ?", [name]).fetchall()
        if old and not replace:
            c.execute("ROLLBACK")
            raise SelectionError(f"a selection named {name!r} exists; choose another name or replace it")
        for (oid,) in old:
            c.execute("DELETE FROM selection_items WHERE selection_id = ?", [oid])
            c.execute("DELETE FROM selections WHERE id = ?", [oid])
        sid = store.next_id("selections", c)
        c.execute("INSERT INTO selections (id, name, method, params, content_hash, n) VALUES (?,?,?,?,?,?)",
                  [sid, name, "superfiltering", json.dumps(params, default=str), h, len(rows)])
        if rows:
            import pyarrow as pa

            why = [f"{metric} {v:.4f} < {threshold}: rank {rk} of {ng} in {per or 'all'} {g}"
                   for (_i, g, v, rk, ng) in rows]
            tbl = pa.table({"sample_id": [r[0] for r in rows], "rank": [r[3] for r in rows],
                            "grp": [str(r[1]) for r in rows], "score": [r[2] for r in rows], "why": why})
            c.register("_sel", tbl)
            c.execute("INSERT INTO selection_items SELECT ?, sample_id, rank, grp, score, why FROM _sel", [sid])
            c.unregister("_sel")
        c.execute("COMMIT")
    finally:
        c.close()
    return get_selection(store, name)


def _filter_dict(f) -> dict:
    from dataclasses import asdict

    return asdict(f)


def get_selection(store: Store, name: str) -> SelectionInfo:
    """A saved selection by name (KeyError naming the existing ones when missing)."""
    c = store.cursor()
    r = c.execute("SELECT id, name, method, params, n, content_hash, created_at FROM selections WHERE name = ?",
                  [name]).fetchall()
    r = r[0] if r else None
    names = [x[0] for x in c.execute("SELECT name FROM selections ORDER BY name").fetchall()] if r is None else []
    c.close()
    if r is None:
        raise KeyError(f"no selection named {name!r}; selections: {', '.join(names) or 'none'}")
    return SelectionInfo(r[0], r[1], r[2], json.loads(r[3]) if r[3] else {}, r[4], r[5], r[6])


def list_selections(store: Store) -> list[SelectionInfo]:
    """All saved selections, newest first."""
    c = store.cursor()
    rows = c.execute("SELECT id, name, method, params, n, content_hash, created_at FROM selections "
                     "ORDER BY created_at DESC").fetchall()
    c.close()
    return [SelectionInfo(r[0], r[1], r[2], json.loads(r[3]) if r[3] else {}, r[4], r[5], r[6]) for r in rows]


def selection_ids(store: Store, name: str) -> list[int]:
    """Sample ids of a saved selection, in rank order within groups."""
    sel = get_selection(store, name)
    c = store.cursor()
    rows = c.execute("SELECT sample_id FROM selection_items WHERE selection_id = ? ORDER BY grp, rank",
                     [sel.id]).fetchall()
    c.close()
    return [r[0] for r in rows]
