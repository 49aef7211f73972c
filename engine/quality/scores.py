"""Score storage: long-format rows (sample, metric, model, params hash, value, reason).

A metric is identified by (metric, model, params_hash). Its definition text and version are stored in
`metrics`. A value of NULL always comes with a reason (too long, empty response...); never a fake value.
Writing scores for samples that already have a row for the same metric key replaces those rows, so a
recomputation never duplicates.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.core.store import Store


@dataclass(frozen=True)
class MetricDef:
    """What a score is: name, the model that computed it ('' for heuristics), parameters, definition."""

    metric: str
    model: str = ""
    params: dict = field(default_factory=dict)
    definition: str = ""
    version: str = "1"

    @property
    def params_hash(self) -> str:
        return params_hash(self.params)


@dataclass
class MetricInfo:
    metric: str
    model: str
    params_hash: str
    definition: str | None
    version: str | None
    n: int
    n_null: int


def params_hash(params: dict) -> str:
    """Short stable hash of a parameter dict (sorted JSON)."""
    blob = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def register_metric(store: Store, m: MetricDef, con=None) -> None:
    """Record (or refresh) a metric's definition and parameters."""
    c = con or store.cursor()
    c.execute(
        "DELETE FROM metrics WHERE metric = ? AND model = ? AND params_hash = ?", [m.metric, m.model, m.params_hash]
    )
    c.execute(
        "INSERT INTO metrics (metric, model, params_hash, params, definition, version) VALUES (?,?,?,?,?,?)",
        [m.metric, m.model, m.params_hash, json.dumps(m.params, sort_keys=True, default=str), m.definition, m.version],
    )
    if con is None:
        c.close()


def write_scores(store: Store, m: MetricDef, rows: Sequence[tuple[int, float | None, str | None]], con=None) -> int:
    """Store (sample_id, value, reason) rows for metric `m` in one transaction; replaces older rows."""
    if not rows:
        return 0
    import pyarrow as pa

    for sid, v, reason in rows:
        if v is None and not reason:
            raise ValueError(f"sample {sid}: a NULL {m.metric} score needs a reason")
    tbl = pa.table(
        {
            "sample_id": pa.array([int(r[0]) for r in rows], pa.int64()),
            "value": pa.array([None if r[1] is None else float(r[1]) for r in rows], pa.float64()),
            "reason": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    own = con is None
    c = con or store.cursor()
    try:
        if own:
            c.execute("BEGIN TRANSACTION")
        register_metric(store, m, con=c)
        c.register("_new_scores", tbl)
        c.execute(
            "DELETE FROM scores WHERE metric = ? AND model = ? AND params_hash = ? AND sample_id IN "
            "(SELECT sample_id FROM _new_scores)",
            [m.metric, m.model, m.params_hash],
        )
        c.execute(
            "INSERT INTO scores (sample_id, metric, model, params_hash, value, reason, version) "
            "SELECT sample_id, ?, ?, ?, CASE WHEN isnan(value) THEN NULL ELSE value END, reason, ? "
            "FROM _new_scores",
            [m.metric, m.model, m.params_hash, m.version],
        )
        c.unregister("_new_scores")
        if own:
            c.execute("COMMIT")
    except Exception:
        if own:
            c.execute("ROLLBACK")
        raise
    finally:
        if own:
            c.close()
    return len(rows)


def scored_ids(store: Store, m: MetricDef, con=None) -> set[int]:
    """Ids of samples that already have a stored row (value or NULL+reason) for metric `m`."""
    c = con or store.cursor()
    rows = c.execute(
        "SELECT sample_id FROM scores WHERE metric = ? AND model = ? AND params_hash = ? AND version = ?",
        [m.metric, m.model, m.params_hash, m.version],
    ).fetchall()
    if con is None:
        c.close()
    return {r[0] for r in rows}


def list_metrics(store: Store) -> list[MetricInfo]:
    """Every stored metric key with its definition and counts."""
    c = store.cursor()
    rows = c.execute("""
        SELECT s.metric, s.model, s.params_hash, any_value(m.definition), any_value(s.version),
               count(*), count(*) FILTER (WHERE s.value IS NULL)
        FROM scores s LEFT JOIN metrics m USING (metric, model, params_hash)
        GROUP BY ALL ORDER BY 1, 2""").fetchall()
    c.close()
    return [MetricInfo(*r) for r in rows]


def metric_values(
    store: Store, metric: str, *, model: str | None = None, sample_ids: Iterable[int] | None = None
) -> dict[int, float | None]:
    """{sample_id: value} of one metric (the latest row per sample when several models scored it)."""
    c = store.cursor()
    sql = "SELECT sample_id, arg_max_null(value, created_at) FROM scores WHERE metric = ?" + (
        " AND model = ?" if model is not None else ""
    )
    params: list = [metric] + ([model] if model is not None else [])
    if sample_ids is not None:
        ids = list(sample_ids)
        if not ids:
            c.close()
            return {}
        sql += " AND sample_id IN (SELECT unnest(?::BIGINT[]))"
        params.append(ids)
    rows = c.execute(sql + " GROUP BY sample_id", params).fetchall()
    c.close()
    return dict(rows)


# -------------------------------------------------------------------------------------------------
# per-domain views (Scores screen, `workbench scores`)

_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _scoped(store: Store, metric: str, f) -> tuple[str, list]:
    """SQL of (id, domain, v) for the samples of scope `f`, v = latest value of `metric`. `f` is a scope
    (engine.data.scope: a Filter, a Scope or None): what the scoring jobs work on, so excluded samples and eval
    pools are counted only when asked for (an eval pool named in the filter is)."""
    from engine.data.scope import scope_sql

    wsql, wparams = scope_sql(store, f)
    sql = (
        f"SELECT s.id, s.domain, m.v FROM samples s LEFT JOIN (SELECT sample_id, arg_max_null(value, created_at) AS v,"
        f" count(*) AS k FROM scores WHERE metric = ? GROUP BY sample_id) m ON m.sample_id = s.id "
        f"WHERE ({wsql})"
    )
    return sql, [metric, *wparams]


def domain_summary(store: Store, metric: str, f=None) -> list[dict]:
    """Per domain: samples, scored, NULL (with reason), mean and quantiles of `metric`."""
    sql, params = _scoped(store, metric, f)
    c = store.cursor()
    rows = c.execute(
        f"""
        SELECT domain, count(*), count(v), count(*) - count(v) - count(*) FILTER (WHERE NOT has_row),
               avg(v), quantile_cont(v, 0.1), median(v), quantile_cont(v, 0.9), min(v), max(v)
        FROM (SELECT *, v IS NOT NULL OR id IN (SELECT sample_id FROM scores WHERE metric = ?) AS has_row
              FROM ({sql})) GROUP BY domain ORDER BY domain""",
        [metric, *params],
    ).fetchall()
    c.close()
    keys = ["domain", "n", "n_scored", "n_null", "mean", "p10", "p50", "p90", "min", "max"]
    return [dict(zip(keys, r)) for r in rows]


def histogram(
    store: Store,
    metric: str,
    *,
    domain: str | None = None,
    f=None,
    bins: int = 30,
    lo: float | None = None,
    hi: float | None = None,
) -> tuple[list[float], list[int]]:
    """Histogram of `metric` (edges, counts) over the filter (and one domain when given), in SQL."""
    sql, params = _scoped(store, metric, f)
    dsql = " AND domain = ?" if domain else ""
    dparams = [domain] if domain else []
    c = store.cursor()
    mn, mx = c.execute(
        f"SELECT min(v), max(v) FROM ({sql}) WHERE v IS NOT NULL AND isfinite(v){dsql}", params + dparams
    ).fetchall()[0]
    if mn is None:
        c.close()
        return [], []
    lo = mn if lo is None else lo
    hi = mx if hi is None else hi
    if hi <= lo:
        hi = lo + 1e-9
    width = (hi - lo) / bins
    rows = c.execute(
        f"""
        SELECT least(greatest(floor((v - ?) / ?)::BIGINT, 0), ? - 1) AS b, count(*)
        FROM ({sql}) WHERE v IS NOT NULL AND isfinite(v) AND v >= ? AND v <= ?{dsql} GROUP BY b""",
        [lo, width, bins, *params, lo, hi, *dparams],
    ).fetchall()
    c.close()
    counts = [0] * bins
    for b, n in rows:
        counts[int(b)] += n
    return [lo + k * width for k in range(bins + 1)], counts


def threshold_counts(store: Store, metric: str, op: str, threshold: float, f=None) -> list[dict]:
    """Per domain: how many samples a keep-rule `metric op threshold` keeps, drops, and cannot judge (NULL)."""
    if op not in _OPS:
        raise ValueError(f"op must be one of {', '.join(_OPS)}")
    sql, params = _scoped(store, metric, f)
    c = store.cursor()
    rows = c.execute(
        f"""
        SELECT domain, count(*) FILTER (WHERE v {_OPS[op]} ?), count(*) FILTER (WHERE NOT (v {_OPS[op]} ?)),
               count(*) FILTER (WHERE v IS NULL), count(*)
        FROM ({sql}) GROUP BY domain ORDER BY domain""",
        [threshold, threshold, *params],
    ).fetchall()
    c.close()
    return [dict(domain=r[0], keep=r[1], lose=r[2], null=r[3], n=r[4]) for r in rows]


def extremes(store: Store, metric: str, *, k: int = 5, domain: str | None = None, f=None) -> dict[str, list[dict]]:
    """The k highest and k lowest scored samples (id, value, domain, instruction and response previews)."""
    sql, params = _scoped(store, metric, f)
    dsql = " AND t.domain = ?" if domain else ""
    dparams = [domain] if domain else []
    c = store.cursor()
    out = {}
    for key, order in (("top", "DESC"), ("bottom", "ASC")):
        rows = c.execute(
            f"""
            SELECT t.id, t.v, t.domain, left(s.instruction, 120), left(s.response, 120)
            FROM ({sql}) t JOIN samples s ON s.id = t.id
            WHERE t.v IS NOT NULL{dsql} ORDER BY t.v {order}, t.id LIMIT ?""",
            [*params, *dparams, k],
        ).fetchall()
        out[key] = [dict(id=r[0], value=r[1], domain=r[2], instruction=r[3], response=r[4]) for r in rows]
    c.close()
    return out
