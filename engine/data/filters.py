"""The Browse filter language: a small, safe, SQL-like WHERE expression compiled for DuckDB.

    domain = 'math' AND n_tokens > 512 AND NOT tag = 'reviewed'
    (pool IN ('gsm8k', 'mbpp') OR text ~ 'python') AND score.ifd BETWEEN 0.2 AND 0.9

Why hand-written: the expression comes straight from the user's filter bar and ends up inside the WHERE
clause of queries over the store. No well-kept library gives a *whitelisted, parameterised* WHERE
compiler for DuckDB: SQL parsers (sqlglot, DuckDB's own `json_serialize_sql`) accept the whole SQL
language and would have to be pruned node by node, which is harder to audit than ~400 lines that only
ever emit SQL from fixed templates. Here a tokenizer and a recursive-descent parser accept a closed
grammar, every field name is looked up in `FIELDS` (or in the score metrics passed in), and every
literal becomes a `?` parameter, so no user text is ever pasted into SQL.

Grammar (keywords are case-insensitive)::

    expr      := and_expr (OR and_expr)*
    and_expr  := not_expr (AND not_expr)*
    not_expr  := NOT not_expr | '(' expr ')' | predicate
    predicate := field op value
               | field [NOT] IN '(' value (',' value)* ')'
               | field [NOT] LIKE|ILIKE string | field [NOT] CONTAINS string | field ~ string | field !~ string
               | field IS [NOT] NULL | field [NOT] BETWEEN value AND value
               | boolfield                                   (same as boolfield = true)
    op        := = | != | <> | < | <= | > | >=
    field     := name | score.name | score."name" | cluster.name | cluster."name"
               | map.name.x | map.name.y | map."name".x | map."name".y | selection.name | selection."name"
    value     := 'string' | "string" | number | true | false

Semantics: a comparison with a missing (NULL) value is false, and NOT turns true into false and false into
true (two-valued logic, unlike raw SQL). `tag = 'x'` means "has tag x", `tag != 'x'` "has not", `tags IN
(...)` "has any of". `text` means "instruction, response or system": positive tests match when any of
the three matches, negated ones when none does. Score metrics compare the latest value for the sample
(see `score_value_sql`). `cluster.NAME` is the sample's cluster id in the saved clustering NAME (-1 = noise;
missing when the sample is not in that clustering, so comparisons are false and IS NULL is true); the name
is checked against the clusterings passed in and becomes a parameter. `map.NAME.x` / `map.NAME.y` are the
sample's coordinates on that clustering's 2-D map (cluster_assignments.x / .y), with the same membership
semantics; the axis is one of two fixed column names, never user text. `selection.NAME` is the sample's rank
in the saved selection NAME (missing when it is not in it), with the same membership semantics. The user
guide is docs/filters.md.

The code: `filter_fields` (the whitelist, SQL templates, limits, FilterError), `filter_tokens` (tokenizer),
`filter_parser` (parser and checks), `filter_sql` (SQL per predicate); this module is the entry point.
"""

from __future__ import annotations

from collections.abc import Collection

from engine.data.filter_fields import (
    CLUSTER_IN_SQL,
    FIELDS,
    MAX_DEPTH,
    MAX_IN_ITEMS,
    MAX_LENGTH,
    MAX_PREDICATES,
    SCORE_VALUE_SQL,
    FieldSpec,
    FilterError,
    field_names,
    score_value_sql,
)
from engine.data.filter_parser import _Parser
from engine.data.filter_tokens import Token, tokenize

__all__ = [
    "CLUSTER_IN_SQL",
    "FIELDS",
    "MAX_DEPTH",
    "MAX_IN_ITEMS",
    "MAX_LENGTH",
    "MAX_PREDICATES",
    "SCORE_VALUE_SQL",
    "FieldSpec",
    "FilterError",
    "Token",
    "compile_expression",
    "field_names",
    "score_value_sql",
    "tokenize",
]


def compile_expression(
    expr: str,
    *,
    score_metrics: Collection[str] = (),
    clusterings: Collection[str] = (),
    selections: Collection[str] = (),
) -> tuple[str, list]:
    """Compile a filter expression into SQL over alias `s` (samples) with `?` placeholders and its params.

    Field names are checked against FIELDS, `score_metrics` and (for `cluster.NAME`) the names of the saved
    `clusterings` (for `selection.NAME`: the saved `selections`); every literal and every metric, clustering or
    selection name becomes a parameter.
    A blank expression compiles to ("TRUE", []). Raises FilterError (with .position) on any problem.
    """
    if expr is None or not expr.strip():
        return "TRUE", []
    if len(expr) > MAX_LENGTH:
        raise FilterError(f"expression is too long ({len(expr)} characters; the limit is {MAX_LENGTH})", MAX_LENGTH)
    return _Parser(expr, score_metrics, clusterings, selections).parse()
