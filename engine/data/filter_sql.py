"""SQL for one parsed predicate: fixed templates over alias `s`, every value a `?` parameter, with two-valued
semantics for missing values (see engine.data.filters)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.data.filter_fields import FilterError

if TYPE_CHECKING:
    from engine.data.filter_parser import _Field


_PRED_SQL = {
    "cmp": "{col} {op} ?",
    "in": "{col} IN ({marks})",
    "like": "{col} LIKE ?",
    "ilike": "{col} ILIKE ?",
    "contains": "contains(lower({col}), lower(?))",
    "between": "{col} BETWEEN ? AND ?",
}


def _pred(col: str, test: str, values: list, op: str = "=") -> tuple[str, list]:
    """The positive test on a column expression (no user text in the SQL, values become params)."""
    if test == "isnull":
        return f"{col} IS NULL", []
    if test not in _PRED_SQL:
        raise AssertionError(test)
    return _PRED_SQL[test].format(col=col, op=op, marks=", ".join("?" * len(values))), list(values)


def _build(f: _Field, test: str, values: list, *, negate: bool, op: str = "=", pos: int = 0) -> tuple[str, list]:
    spec = f.spec
    if spec.kind == "column" or spec.kind == "score":
        col = spec.sql
        col_params = [f.metric] if spec.kind == "score" else []
        if test == "cmp" and negate:  # col != v: false for a missing value
            sql, params = _pred(col, "cmp", values, "!=")
            return f"({sql})", col_params + params
        sql, params = _pred(col, test, values, op)
        if negate:
            if test == "isnull":
                sql = f"{col} IS NOT NULL"
            else:  # NOT IN / NOT LIKE / NOT BETWEEN / NOT contains: false for a missing value
                sql = f"coalesce(NOT ({sql}), false)" if spec.nullable else f"(NOT ({sql}))"
        return f"({sql})", col_params + params
    if spec.kind == "cluster":
        # Every test is a membership test on the clustering's assignments (or the selection's items): a sample
        # outside it fails comparisons (negative ones too), like a missing score; IS NULL = not in it.
        # map.NAME.x / .y test the map column named in spec.columns (from _MAP_AXES) instead of the cluster,
        # selection.NAME the rank (si.rank); spec.sql is the membership template.
        name_params = [f.metric]
        col = spec.columns[0] if spec.columns else "ca.cluster"
        if test == "isnull":
            inner = spec.sql.format(test="TRUE")
            return (f"({inner})" if negate else f"(NOT {inner})"), name_params
        if test == "cmp" and negate:
            sql, params = _pred(col, "cmp", values, "!=")
        else:
            sql, params = _pred(col, test, values, op)
            if negate:
                sql = f"NOT ({sql})"
        return f"({spec.sql.format(test=sql)})", name_params + params
    if spec.kind == "pool":
        if test == "isnull":
            sql = "s.pool_id NOT IN (SELECT p.id FROM pools p)"
            return f"({'NOT ' if negate else ''}{sql})", []
        sql, params = _pred("p.name", test, values, op)
        inner = f"s.pool_id IN (SELECT p.id FROM pools p WHERE {sql})"
        return (f"(NOT {inner})" if negate else f"({inner})"), params
    if spec.kind == "tag":
        if test == "isnull":  # no tags at all
            sql = "EXISTS (SELECT 1 FROM sample_tags st WHERE st.sample_id = s.id)"
            return (f"({sql})" if negate else f"(NOT {sql})"), []
        if test == "cmp" and op != "=" or test == "between":
            raise FilterError(f"{f.label} supports =, !=, IN, LIKE, ILIKE, contains and IS NULL (at {pos})", pos)
        sql, params = _pred("st.tag", test, values, op)
        inner = f"EXISTS (SELECT 1 FROM sample_tags st WHERE st.sample_id = s.id AND {sql})"
        return (f"(NOT {inner})" if negate else f"({inner})"), params
    if spec.kind == "text":
        if test == "isnull":
            sql = "(" + " AND ".join(f"{c} IS NULL" for c in spec.columns) + ")"
            return (f"(NOT {sql})" if negate else sql), []
        if test == "cmp" and op != "=" or test == "between":
            raise FilterError(f"{f.label} supports =, !=, IN, LIKE, ILIKE, contains and IS NULL (at {pos})", pos)
        parts, params = [], []
        for c in spec.columns:
            s1, p1 = _pred(c, test, values, op)
            parts.append(s1)
            params += p1
        sql = "(" + " OR ".join(parts) + ")"
        return (f"(NOT coalesce({sql}, false))" if negate else sql), params
    raise AssertionError(spec.kind)
