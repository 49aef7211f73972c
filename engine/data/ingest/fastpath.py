"""The DuckDB fast path: a flat JSON Lines file staged by `read_ndjson_objects` and type checks in SQL.

Any row that needs Python (a wrong type, history or tools, a malformed line) sends the whole file back to
the Python path, which reports every problem precisely; both paths stage identical rows. Token estimates are
counted while staging, by polars through a vectorised SQL function (`tokens_function`)."""

from __future__ import annotations

import itertools
import json
import os
from contextlib import contextmanager
from pathlib import Path

import duckdb

from engine.data.formats import FLAT_FORMATS, INPUT_SPLIT, FormatContext
from engine.data.ingest.readers import _open, _Reader
from engine.data.ingest.staging import TOKEN_PATTERN, _one, _Run

FAST_PATH = True  # DuckDB fast path for flat JSON Lines files (tests switch it off to compare)
FAST_PATH_MIN_BYTES = 8 << 20  # smaller files: the Python path is as fast (no per-file SQL overhead)
_NONFINITE_RE = r"NaN|Infinity|[0-9][eE][+-]?[0-9]{3}"


def _applies(ctx: FormatContext, reader: _Reader, path: Path) -> bool:
    """Whether a file may try the fast path: a flat format in a JSON Lines file large enough to pay off."""
    return (
        FAST_PATH
        and ctx.format in FLAT_FORMATS
        and ctx.flat is not None
        and reader.kind == "jsonl"
        and path.stat().st_size >= FAST_PATH_MIN_BYTES
    )


def _jpath(key: str) -> str:
    return "$." + json.dumps(key)


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _stage_fast(run: _Run, path: Path, file_no: int, ctx: FormatContext) -> bool:
    """Stage a flat JSON Lines file with DuckDB alone. False (nothing staged) if any row needs Python."""
    cols = ctx.flat
    con = run.con
    keys = list(cols.user) + ([cols.assistant] if cols.assistant else []) + ([cols.system] if cols.system else [])
    keys += list(cols.complex_keys)
    paths = "[" + ", ".join(_sql_str(_jpath(k)) for k in keys) + "]"
    patch = _sql_str(json.dumps({k: None for k in cols.used}))
    nu = len(cols.user)
    bad = ["json_type(v[1]) IS DISTINCT FROM 'VARCHAR'"]  # also catches lines that are not objects
    for i in range(2, nu + 1):
        bad.append(f"(v[{i}] IS NOT NULL AND json_type(v[{i}]) NOT IN ('VARCHAR', 'NULL'))")
    j = nu + 1
    a_expr = "NULL"
    if cols.assistant:
        bad.append(f"v[{j}] IS NULL OR json_type(v[{j}]) NOT IN ('VARCHAR', 'NULL')")
        a_expr = f"v[{j}]->>'$'"
        j += 1
    s_expr = "NULL"
    if cols.system:
        bad.append(f"(v[{j}] IS NOT NULL AND json_type(v[{j}]) NOT IN ('VARCHAR', 'NULL'))")
        s_expr = f"nullif(v[{j}]->>'$', '')"
        j += 1
    for _ in cols.complex_keys:
        bad.append(f"(v[{j}] IS NOT NULL AND CAST(v[{j}] AS VARCHAR) NOT IN ('null', '[]', '\"\"'))")
        j += 1
    u_expr = "v[1]->>'$'"
    for i in range(2, nu + 1):
        u_expr = (
            f"CASE WHEN coalesce(v[{i}]->>'$', '') <> '' THEN {u_expr} || chr(10) || (v[{i}]->>'$') ELSE {u_expr} END"
        )
    # input_split (see formats.flat_row): the instruction's length when an optional user key is non-empty
    sp_expr = "NULL::BIGINT"
    if nu > 1:
        any_opt = " OR ".join(f"coalesce(v[{i}]->>'$', '') <> ''" for i in range(2, nu + 1))
        sp_expr = f"CASE WHEN {any_opt} THEN length(v[1]->>'$') END"
    # meta: the unused keys, only for rows that have more keys than the used ones present; input_split last
    n_present = " + ".join(f"(v[{i}] IS NOT NULL)::INTEGER" for i in range(1, len(keys) + 1))
    sp_obj = f"json_object({_sql_str(INPUT_SPLIT)}, sp)"
    meta_expr = f"""CASE WHEN len(json_keys(j)) > {n_present} THEN
                             CASE WHEN sp IS NULL THEN json_merge_patch(j, {patch})
                                  ELSE json_merge_patch(j, {patch}, {sp_obj}) END
                         WHEN sp IS NOT NULL THEN {sp_obj} END"""
    # the Python path writes NaN and Infinity (not JSON) and numbers beyond a double (1e400) as null: rows that may
    # hold them go there too (a string that merely contains such text costs the speed of the fast path, no more)
    bad.append(f"(meta IS NOT NULL AND regexp_matches(CAST(meta AS VARCHAR), {_sql_str(_NONFINITE_RE)}))")
    table = f"{run.prefix}fast{file_no}"
    run.meter.report(f"reading {path.name} with DuckDB", force=True)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT {run.ord} + o - 1 AS ord, {file_no} AS file_no, o - 1 AS record_index, o AS source_line,
                   {s_expr} AS system, NULL::VARCHAR AS tools, NULL::VARCHAR AS messages, {u_expr} AS u, {a_expr} AS a,
                   NULL::VARCHAR AS instruction, NULL::VARCHAR AS response, NULL::INTEGER AS n_turns,
                   NULL::BIGINT AS n_chars, CAST(meta AS VARCHAR) AS meta, NULL::VARCHAR AS h,
                   {run.tokens_sql}({s_expr}) + {run.tokens_sql}({u_expr}) + {run.tokens_sql}({a_expr}) AS n_tokens,
                   ({" OR ".join(bad)}) AS bad
            FROM (SELECT o, v, {meta_expr} AS meta
                  FROM (SELECT o, j, v, {sp_expr} AS sp
                        FROM (SELECT o, j, json_extract(j, {paths}) AS v
                              FROM read_ndjson_objects(?) WITH ORDINALITY AS t(j, o))))""",
            [str(path)],
        )
    except duckdb.Error:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        return False  # malformed JSON, bad UTF-8, ...: the Python path reports it precisely
    n, n_bad = _one(con, f"SELECT count(*), count(*) FILTER (WHERE bad) FROM {table}")
    if n_bad or n == 0 or n != _count_lines(path):
        con.execute(f"DROP TABLE IF EXISTS {table}")
        return False
    run.fast_tables.append(table)
    run.ord += n
    run.n_records += n
    run.fast_files += 1
    run.tick(n)
    return True


def _count_lines(path: Path) -> int:
    """Physical lines (a last line without newline counts); used to check that no line was blank."""
    n = 0
    last = b"\n"
    with _open(path) as f:
        while True:
            buf = f.read(1 << 24)
            if not buf:
                break
            n += buf.count(b"\n")
            last = buf[-1:]
    return n + (last != b"\n")


_TOKEN_FUNCTIONS = itertools.count()


@contextmanager
def tokens_function(con: duckdb.DuckDBPyConnection):
    """A SQL function NAME(text) -> the token estimate of a text (0 for NULL), counted by polars a vector at a time;
    yields its name and removes it after. The estimate of a flat row is the sum over its system prompt, user turn
    and reply: no match of TOKEN_PATTERN spans the newline that joins them (see staging._Chunk.add_flat)."""
    import polars as pl

    def count(texts):  # a pyarrow string array (no annotations: DuckDB reads them)
        return pl.from_arrow(texts).str.count_matches(TOKEN_PATTERN).fill_null(0).cast(pl.Int64).to_arrow()

    name = f"wb_tokens_{os.getpid()}_{next(_TOKEN_FUNCTIONS)}"  # functions are seen by every connection
    con.create_function(name, count, ["VARCHAR"], "BIGINT", type="arrow", null_handling="special", side_effects=False)
    try:
        yield name
    finally:
        con.remove_function(name)
