"""The heuristics job: compute operators over the store in id-ordered, resumable, committed chunks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from engine.core.jobs import CancelToken, ProgressFn, ProgressMeter
from engine.data.scope import ScopeLike, as_scope, scope_sql
from engine.quality.heuristics.registry import select_operators
from engine.quality.heuristics.sample import Sample
from engine.quality.scores import register_metric, write_scores

if TYPE_CHECKING:
    from engine.core.store import Store


def _select_sql(needs: set[str]) -> str:
    cols = ["id"]
    for c in ("instruction", "response", "domain"):
        if c in needs:
            cols.append(c)
    if "messages" in needs:
        # Only tool-call samples need their messages parsed; the rest get NULL (cheap to fetch).
        cols.append(
            "CASE WHEN messages::VARCHAR LIKE '%\"tool_calls\"%' OR messages::VARCHAR LIKE "
            "'%\"function_call\"%' THEN messages::VARCHAR END AS messages"
        )
    if "tools" in needs:
        cols.append("tools::VARCHAR AS tools")
    return ", ".join(cols)


def run_heuristics(
    store: Store,
    *,
    names: Iterable[str] | None = None,
    pool_ids: Sequence[int] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    chunk: int = 5000,
    scope: ScopeLike = None,
) -> dict[str, int]:
    """Compute heuristic operators for the samples of `scope` (engine.data.scope: the Browse filter; None: every
    training sample; excluded samples and eval pools left out unless asked), narrowed to `pool_ids` when given.

    Samples are read in id order, `chunk` at a time, fetching only the columns the chosen operators
    need. A sample that already has a stored row (value or NULL+reason) for an operator's exact metric
    key and version is skipped for that operator, so a second run recomputes nothing and a run after a
    cancel or crash finishes only what is left. Each chunk's scores for all operators are written in one
    transaction through `engine.quality.scores.write_scores`. Progress is reported in 'samples'; `cancel` is
    checked between chunks (raises `engine.core.jobs.Cancelled`, leaving whole chunks behind).
    Returns {operator name: rows written in this run}.
    """
    import numpy as np

    ops = select_operators(names)
    chunk = max(int(chunk), 1)
    con = store.cursor()
    try:
        with store.write_lock:
            for op in ops:
                register_metric(store, op.metric, con=con)
        sc = as_scope(scope, pool_ids=pool_ids)
        if sc.filter is not None and sc.filter.pool_ids == []:
            return {op.name: 0 for op in ops}
        where, params = scope_sql(store, sc)
        ids = np.asarray(
            con.execute(f"SELECT s.id FROM samples s WHERE {where} ORDER BY s.id", params).fetchnumpy()["id"],
            dtype=np.int64,
        )
        # Which samples does each operator still need? (same test as engine.quality.scores.scored_ids)
        need: dict[str, np.ndarray] = {}
        for op in ops:
            m = op.metric
            done = (
                con.sql(
                    "SELECT sample_id FROM scores WHERE metric = $m AND model = $mo AND "
                    "params_hash = $h AND version = $v",
                    params={"m": m.metric, "mo": m.model, "h": m.params_hash, "v": m.version},
                )
                .to_arrow_table()
                .column("sample_id")
                .to_numpy()
            )
            need[op.name] = ~np.isin(ids, done) if len(done) else np.ones(len(ids), bool)
        any_need = np.zeros(len(ids), bool)
        for v in need.values():
            any_need |= v
        todo = ids[any_need]
        need = {k: v[any_need] for k, v in need.items()}
        written = {op.name: 0 for op in ops}
        meter = ProgressMeter(progress, total=int(len(todo)), unit="samples")
        meter.report(force=True)
        for start in range(0, len(todo), chunk):
            if cancel is not None:
                cancel.check()
            cids = todo[start : start + chunk]
            live = [op for op in ops if need[op.name][start : start + chunk].any()]
            needs = set().union(*(op.needs for op in live))
            lo, hi = int(cids[0]), int(cids[-1])
            sel = _select_sql(needs)
            if hi - lo + 1 == len(cids):
                tbl = con.sql(
                    f"SELECT {sel} FROM samples WHERE id BETWEEN $lo AND $hi ORDER BY id", params={"lo": lo, "hi": hi}
                ).to_arrow_table()
            else:
                tbl = con.sql(
                    f"SELECT {sel} FROM samples WHERE id BETWEEN $lo AND $hi AND id IN "
                    "(SELECT unnest($ids::BIGINT[])) ORDER BY id",
                    params={"lo": lo, "hi": hi, "ids": cids.tolist()},
                ).to_arrow_table()
            cols = {c: tbl.column(c).to_pylist() for c in tbl.column_names}
            n = tbl.num_rows
            got = np.asarray(cols["id"], dtype=np.int64)
            pos = np.searchsorted(cids, got)  # rows deleted meanwhile simply do not come back
            empty = [None] * n
            samples = [
                Sample(i, a, b, d or "general", m, t)
                for i, a, b, d, m, t in zip(
                    cols["id"],
                    cols.get("instruction", empty),
                    cols.get("response", empty),
                    cols.get("domain", empty),
                    cols.get("messages", empty),
                    cols.get("tools", empty),
                )
            ]
            results = []
            for op in live:
                mask = need[op.name][start : start + chunk][pos]
                f = op.compute
                rows = [(s.id, *f(s)) for s, want in zip(samples, mask.tolist()) if want]
                results.append((op, rows))
            with store.write_lock:
                con.execute("BEGIN TRANSACTION")
                try:
                    for op, rows in results:
                        written[op.name] += write_scores(store, op.metric, rows, con=con)
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
            meter.advance(len(cids))
        meter.report(force=True)
        return written
    finally:
        con.close()
