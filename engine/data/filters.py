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
               | map.name.x | map.name.y | map."name".x | map."name".y
    value     := 'string' | "string" | number | true | false

Semantics: a comparison with a missing (NULL) value is false, and NOT turns true into false and false into
true (two-valued logic, unlike raw SQL). `tag = 'x'` means "has tag x", `tag != 'x'` "has not", `tags IN
(...)` "has any of". `text` means "instruction, response or system": positive tests match when any of
the three matches, negated ones when none does. Score metrics compare the latest value for the sample
(see `score_value_sql`). `cluster.NAME` is the sample's cluster id in the saved clustering NAME (-1 = noise;
missing when the sample is not in that clustering, so comparisons are false and IS NULL is true); the name
is checked against the clusterings passed in and becomes a parameter. `map.NAME.x` / `map.NAME.y` are the
sample's coordinates on that clustering's 2-D map (cluster_assignments.x / .y), with the same membership
semantics; the axis is one of two fixed column names, never user text. The user guide is docs/filters.md.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass

from engine.core.errors import InputError

MAX_LENGTH = 4000  # characters in one expression
MAX_DEPTH = 32  # nested parentheses / NOTs
MAX_PREDICATES = 200  # comparisons in one expression
MAX_IN_ITEMS = 1000  # values in one IN list


class FilterError(InputError):
    """A filter expression that cannot be compiled; `.position` is the 0-based character offset."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class FieldSpec:
    """One field of the filter language.

    type: "text" | "number" | "bool" (what literals it compares with).
    kind: "column" (sql is a column expression over alias `s`), "pool" (pool name via pools),
          "tag" (membership in sample_tags), "text" (any of `columns`), "score" (a metric's latest value),
          "cluster" (the cluster id in a named clustering, via cluster_assignments).
    """

    name: str
    type: str
    kind: str
    sql: str | None = None
    nullable: bool = True
    columns: tuple[str, ...] = ()
    help: str = ""


def _col(name: str, type_: str, sql: str, help_: str, nullable: bool = True) -> FieldSpec:
    return FieldSpec(name, type_, "column", sql, nullable, (), help_)


_TEXT_COLUMNS = ("s.instruction", "s.response", "s.system")

FIELDS: dict[str, FieldSpec] = {
    "id": _col("id", "number", "s.id", "sample id", nullable=False),
    "pool": FieldSpec("pool", "text", "pool", None, False, (), "pool name"),
    "pool_id": _col("pool_id", "number", "s.pool_id", "pool id", nullable=False),
    "domain": _col("domain", "text", "s.domain", "domain (general, math, code, tool_use, ...)", nullable=False),
    "domain_source": _col(
        "domain_source", "text", "s.domain_source", "where the domain came from: pool, rule or manual", nullable=False
    ),
    "instruction": _col("instruction", "text", "s.instruction", "first user turn"),
    "response": _col("response", "text", "s.response", "last assistant turn"),
    "system": _col("system", "text", "s.system", "system prompt"),
    "text": FieldSpec("text", "text", "text", None, True, _TEXT_COLUMNS, "instruction, response or system"),
    "n_chars": _col("n_chars", "number", "s.n_chars", "characters"),
    "n_tokens": _col("n_tokens", "number", "s.n_tokens", "tokens"),
    "n_turns": _col("n_turns", "number", "s.n_turns", "conversation turns"),
    "tag": FieldSpec("tag", "text", "tag", None, False, (), "has tag"),
    "tags": FieldSpec("tags", "text", "tag", None, False, (), "has tag (same as tag)"),
    "excluded": _col("excluded", "bool", "s.excluded", "excluded from exports", nullable=False),
    "source_file": _col("source_file", "text", "s.source_file", "imported file"),
    "record_index": _col("record_index", "number", "s.record_index", "record number in the imported file"),
    "has_tools": _col(
        "has_tools", "bool", "(coalesce(json_array_length(s.tools), 0) > 0)", "declares tools", nullable=False
    ),
}

_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null", "between", "true", "false", "contains"}
_CMP_OPS = {"=", "!=", "<>", "<", "<=", ">", ">="}
_NEGATED = {"!=": "=", "<>": "="}

# The latest value of one metric for the sample `s` (NULL when it has none). "Latest" is the most recently
# written score row across models, so `ifd` means the most recent model's ifd. Rows written in the same
# transaction share created_at; between such rows the pick is arbitrary (a (created_at, model) key made
# score filters and sorts 4x slower at 1M rows).
SCORE_VALUE_SQL = (
    "(SELECT arg_max_null(sc.value, sc.created_at) FROM scores sc WHERE sc.sample_id = s.id AND sc.metric = ?)"
)


# The samples of one named clustering whose cluster passes a test: {test} is a fixed template over ca.cluster,
# the clustering name is the first parameter.
CLUSTER_IN_SQL = (
    "s.id IN (SELECT ca.sample_id FROM cluster_assignments ca JOIN clusterings cg ON cg.id = ca.clustering_id"
    " WHERE cg.name = ? AND {test})"
)


def score_value_sql() -> str:
    """SQL (over alias `s`, one `?` for the metric name) giving a sample's latest value of a metric."""
    return SCORE_VALUE_SQL


# -- tokenizer ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, op, lparen, rparen, comma, dot, eof
    value: object
    pos: int
    text: str = ""


_NUMBER_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}
_SMART_QUOTES = "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2032\u2033\u00b4\u0060"


def tokenize(expr: str) -> list[Token]:
    """Split an expression into tokens; raises FilterError on anything outside the language."""
    out: list[Token] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
            continue
        if c in "'\"":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise FilterError(f"unterminated string starting at {i}; close it with {c}", i)
                d = expr[j]
                if d == "\\" and j + 1 < n:
                    e = expr[j + 1]
                    if e in _ESCAPES:
                        buf.append(_ESCAPES[e])
                    else:  # unknown escape: keep it as written (LIKE patterns, regex-looking text)
                        buf.append("\\" + e)
                    j += 2
                    continue
                if d == c:
                    if j + 1 < n and expr[j + 1] == c:  # doubled quote
                        buf.append(c)
                        j += 2
                        continue
                    break
                buf.append(d)
                j += 1
            out.append(Token("string", "".join(buf), i, expr[i : j + 1]))
            i = j + 1
            continue
        if c == "-" and expr.startswith("--", i):
            raise FilterError(f"comments ('--') are not allowed at {i}", i)
        if c == "/" and expr.startswith("/*", i):
            raise FilterError(f"comments ('/*') are not allowed at {i}", i)
        if c.isdigit() or (c in "-." and i + 1 < n and (expr[i + 1].isdigit() or expr[i + 1] == ".")):
            m = _NUMBER_RE.match(expr, i)
            if not m:
                raise FilterError(f"bad number at {i}", i)
            j = m.end()
            if j < n and (expr[j].isalnum() or expr[j] in "_."):
                raise FilterError(f"bad number '{expr[i : j + 1]}' at {i}", i)
            s = m.group(0)
            v: float | int = float(s) if any(ch in s for ch in ".eE") else int(s)
            if isinstance(v, int) and abs(v) > 2**63 - 1 or isinstance(v, float) and v in (float("inf"), -float("inf")):
                raise FilterError(f"number out of range at {i}", i)
            out.append(Token("number", v, i, s))
            i = j
            continue
        if c.isalpha() or c == "_":
            m = _IDENT_RE.match(expr, i)
            if not m:
                raise FilterError(f"unexpected character {c!r} at {i}", i)
            out.append(Token("ident", m.group(0), i, m.group(0)))
            i = m.end()
            continue
        two = expr[i : i + 2]
        if two in ("!=", "<>", "<=", ">=", "!~"):
            out.append(Token("op", two, i, two))
            i += 2
            continue
        if c in "=<>~":
            out.append(Token("op", c, i, c))
            i += 1
            continue
        simple = {"(": "lparen", ")": "rparen", ",": "comma", ".": "dot"}
        if c in simple:
            out.append(Token(simple[c], c, i, c))
            i += 1
            continue
        if c == ";":
            raise FilterError(f"unexpected ';' at {i}: a filter is a single expression", i)
        if c in _SMART_QUOTES:
            raise FilterError(f"typographic quote {c!r} at {i}; use straight quotes ' or \"", i)
        raise FilterError(f"unexpected character {c!r} at {i}", i)
    out.append(Token("eof", None, n, ""))
    return out


# -- parser + compiler ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    spec: FieldSpec
    metric: str | None
    pos: int
    label: str


class _Parser:
    def __init__(self, expr: str, metrics: Collection[str], clusterings: Collection[str] = ()):
        self.expr = expr
        self.toks = tokenize(expr)
        self.i = 0
        self.metrics = list(dict.fromkeys(metrics))
        self.clusterings = list(dict.fromkeys(clusterings))
        self.n_predicates = 0

    # token helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def advance(self) -> Token:
        t = self.toks[self.i]
        self.i += 1
        return t

    def is_kw(self, word: str, offset: int = 0) -> bool:
        t = self.toks[min(self.i + offset, len(self.toks) - 1)]
        return t.kind == "ident" and t.value.lower() == word

    def describe(self, t: Token) -> str:
        return "the end of the expression" if t.kind == "eof" else repr(t.text)

    def fail(self, what: str, t: Token | None = None) -> FilterError:
        t = t or self.tok
        return FilterError(f"{what} at {t.pos}, found {self.describe(t)}", t.pos)

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.fail(f"expected {word.upper()}")
        return self.advance()

    # grammar
    def parse(self) -> tuple[str, list]:
        sql, params = self.or_expr(0)
        if self.tok.kind != "eof":
            t = self.tok
            if t.kind == "rparen":
                raise FilterError(f"unbalanced ')' at {t.pos}", t.pos)
            raise self.fail("expected AND, OR or the end of the expression")
        return sql, params

    def or_expr(self, depth: int) -> tuple[str, list]:
        sql, params = self.and_expr(depth)
        parts, ps = [sql], list(params)
        while self.is_kw("or"):
            self.advance()
            s2, p2 = self.and_expr(depth)
            parts.append(s2)
            ps += p2
        return (parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"), ps

    def and_expr(self, depth: int) -> tuple[str, list]:
        sql, params = self.not_expr(depth)
        parts, ps = [sql], list(params)
        while self.is_kw("and"):
            self.advance()
            s2, p2 = self.not_expr(depth)
            parts.append(s2)
            ps += p2
        return (parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"), ps

    def not_expr(self, depth: int) -> tuple[str, list]:
        if depth > MAX_DEPTH:
            raise FilterError(f"expression nested too deeply at {self.tok.pos} (limit {MAX_DEPTH})", self.tok.pos)
        if self.is_kw("not"):
            self.advance()
            sql, params = self.not_expr(depth + 1)
            return f"(NOT coalesce({sql}, false))", params
        if self.tok.kind == "lparen":
            open_tok = self.advance()
            sql, params = self.or_expr(depth + 1)
            if self.tok.kind != "rparen":
                if self.tok.kind == "eof":
                    raise FilterError(f"unclosed '(' at {open_tok.pos}", open_tok.pos)
                raise self.fail("expected ')'")
            self.advance()
            return sql, params
        return self.predicate()

    def field(self) -> _Field:
        t = self.tok
        if t.kind != "ident":
            if t.kind in ("string", "number"):
                raise self.fail("expected a field name (filters read like: field = value)")
            raise self.fail("expected a field name")
        name = t.value
        low = name.lower()
        if low in _KEYWORDS:
            raise self.fail("expected a field name")
        self.advance()
        if low == "score" and self.tok.kind == "dot":
            self.advance()
            mt = self.tok
            if mt.kind not in ("ident", "string"):
                raise self.fail("expected a metric name after 'score.'")
            self.advance()
            metric = self.resolve_metric(str(mt.value))
            if metric is None:
                known = ", ".join(self.metrics) if self.metrics else "none yet: score the samples first"
                hint = difflib.get_close_matches(str(mt.value), self.metrics, n=1, cutoff=0.6)
                dym = f"; did you mean 'score.{hint[0]}'?" if hint else f"; known metrics: {known}"
                raise FilterError(f"unknown score metric '{mt.value}' at {mt.pos}{dym}", mt.pos)
            return _Field(_score_spec(metric), metric, t.pos, f"score.{metric}")
        if low == "cluster" and self.tok.kind == "dot":
            self.advance()
            ct = self.tok
            if ct.kind not in ("ident", "string"):
                raise self.fail("expected a clustering name after 'cluster.'")
            self.advance()
            cname = self.resolve_clustering(str(ct.value))
            if cname is None:
                known = ", ".join(self.clusterings) if self.clusterings else "none yet: `workbench cluster NAME`"
                hint = difflib.get_close_matches(str(ct.value), self.clusterings, n=1, cutoff=0.6)
                dym = f"; did you mean 'cluster.{hint[0]}'?" if hint else f"; known clusterings: {known}"
                raise FilterError(f"unknown clustering '{ct.value}' at {ct.pos}{dym}", ct.pos)
            return _Field(_cluster_spec(cname), cname, t.pos, f"cluster.{cname}")
        if low == "map" and self.tok.kind == "dot":
            self.advance()
            ct = self.tok
            if ct.kind not in ("ident", "string"):
                raise self.fail("expected a clustering name after 'map.' (map.NAME.x or map.NAME.y)")
            self.advance()
            cname = self.resolve_clustering(str(ct.value))
            if cname is None:
                known = ", ".join(self.clusterings) if self.clusterings else "none yet: `workbench cluster NAME`"
                hint = difflib.get_close_matches(str(ct.value), self.clusterings, n=1, cutoff=0.6)
                dym = f"; did you mean 'map.{hint[0]}.x'?" if hint else f"; known clusterings: {known}"
                raise FilterError(f"unknown clustering '{ct.value}' at {ct.pos}{dym}", ct.pos)
            if self.tok.kind != "dot":
                raise self.fail(f"expected '.x' or '.y' after 'map.{cname}'")
            self.advance()
            at = self.tok
            if at.kind != "ident" or at.value.lower() not in _MAP_AXES:
                raise self.fail(f"expected x or y after 'map.{cname}.'")
            self.advance()
            axis = at.value.lower()
            return _Field(_map_spec(cname, axis), cname, t.pos, f"map.{cname}.{axis}")
        if low == "score" and "score" not in self.metrics:
            known = ", ".join(f"score.{m}" for m in self.metrics) or "none yet: score the samples first"
            raise FilterError(f"'score' at {t.pos} needs a metric name: score.NAME (known: {known})", t.pos)
        if self.tok.kind == "dot":
            raise FilterError(
                f"unknown field '{name}.' at {t.pos}; only score.NAME, cluster.NAME and "
                "map.NAME.x / map.NAME.y have a dot",
                t.pos,
            )
        if low in FIELDS:
            return _Field(FIELDS[low], None, t.pos, low)
        metric = self.resolve_metric(name)
        if metric is not None:
            return _Field(_score_spec(metric), metric, t.pos, metric)
        candidates = list(FIELDS) + self.metrics
        hint = difflib.get_close_matches(low, candidates, n=1, cutoff=0.6)
        if self.tok.kind == "lparen":
            msg = f"unknown field '{name}' at {t.pos}; function calls are not allowed"
        elif hint:
            msg = f"unknown field '{name}' at {t.pos}; did you mean '{hint[0]}'?"
        else:
            msg = f"unknown field '{name}' at {t.pos}; fields are: {', '.join(candidates)}"
        raise FilterError(msg, t.pos)

    def resolve_metric(self, name: str) -> str | None:
        if name in self.metrics:
            return name
        folded = [m for m in self.metrics if m.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

    def resolve_clustering(self, name: str) -> str | None:
        if name in self.clusterings:
            return name
        folded = [c for c in self.clusterings if c.lower() == name.lower()]
        return folded[0] if len(folded) == 1 else None

    def value(self, f: _Field) -> tuple[object, Token]:
        t = self.tok
        if t.kind == "string":
            v: object = t.value
        elif t.kind == "number":
            v = t.value
        elif t.kind == "ident" and t.value.lower() in ("true", "false"):
            v = t.value.lower() == "true"
        elif t.kind == "ident" and t.value.lower() == "null":
            raise FilterError(f"compare with NULL using '{f.label} IS NULL' (at {t.pos})", t.pos)
        elif t.kind == "ident":
            raise FilterError(f"expected a value at {t.pos}, found '{t.value}'; quote text values: '{t.value}'", t.pos)
        else:
            raise self.fail("expected a value")
        self.advance()
        self.check_type(f, v, t)
        return v, t

    def check_type(self, f: _Field, v: object, t: Token) -> None:
        typ = f.spec.type
        if typ == "text" and not isinstance(v, str):
            raise FilterError(f"{f.label} is text; put the value in quotes at {t.pos}: {f.label} = '{t.text}'", t.pos)
        if typ == "number" and (isinstance(v, (str, bool))):
            raise FilterError(f"{f.label} is a number; {t.text} at {t.pos} is not", t.pos)
        if typ == "bool" and not isinstance(v, bool):
            raise FilterError(f"{f.label} is true or false; {t.text} at {t.pos} is not", t.pos)

    def predicate(self) -> tuple[str, list]:
        self.n_predicates += 1
        if self.n_predicates > MAX_PREDICATES:
            raise FilterError(f"too many conditions at {self.tok.pos} (limit {MAX_PREDICATES})", self.tok.pos)
        f = self.field()
        t = self.tok
        negate = False
        if self.is_kw("not") and (
            self.is_kw("in", 1)
            or self.is_kw("like", 1)
            or self.is_kw("ilike", 1)
            or self.is_kw("between", 1)
            or self.is_kw("contains", 1)
        ):
            self.advance()
            negate = True
            t = self.tok
        if t.kind == "op" and t.value in _CMP_OPS:
            if negate:
                raise self.fail("unexpected operator after NOT")
            self.advance()
            v, _ = self.value(f)
            op = "!=" if t.value == "<>" else t.value
            if f.spec.type == "bool" and op not in ("=", "!="):
                raise FilterError(f"{f.label} is true or false; use = or != (at {t.pos})", t.pos)
            if op in ("=", "!="):
                return _build(f, "cmp", [v], negate=op == "!=", op="=", pos=t.pos)
            return _build(f, "cmp", [v], negate=False, op=op, pos=t.pos)
        if t.kind == "op" and t.value in ("~", "!~"):
            if negate:
                raise self.fail("unexpected operator after NOT")
            self.advance()
            v, _ = self.value(_text_only(f, t))
            return _build(f, "contains", [v], negate=t.value == "!~", pos=t.pos)
        if self.is_kw("contains"):
            self.advance()
            v, _ = self.value(_text_only(f, t))
            return _build(f, "contains", [v], negate=negate, pos=t.pos)
        if self.is_kw("like") or self.is_kw("ilike"):
            kw = self.advance().value.lower()
            v, _ = self.value(_text_only(f, t))
            return _build(f, kw, [v], negate=negate, pos=t.pos)
        if self.is_kw("in"):
            self.advance()
            if self.tok.kind != "lparen":
                raise self.fail("expected '(' after IN")
            self.advance()
            values = []
            while True:
                if len(values) >= MAX_IN_ITEMS:
                    raise FilterError(f"IN list too long at {self.tok.pos} (limit {MAX_IN_ITEMS})", self.tok.pos)
                v, _ = self.value(f)
                values.append(v)
                if self.tok.kind == "comma":
                    self.advance()
                    continue
                if self.tok.kind == "rparen":
                    self.advance()
                    break
                raise self.fail("expected ',' or ')' in IN list")
            return _build(f, "in", values, negate=negate, pos=t.pos)
        if self.is_kw("between"):
            self.advance()
            lo, _ = self.value(f)
            self.expect_kw("and")
            hi, _ = self.value(f)
            return _build(f, "between", [lo, hi], negate=negate, pos=t.pos)
        if self.is_kw("is"):
            self.advance()
            neg = False
            if self.is_kw("not"):
                self.advance()
                neg = True
            self.expect_kw("null")
            return _build(f, "isnull", [], negate=neg, pos=t.pos)
        if f.spec.type == "bool":
            return _build(f, "cmp", [True], negate=False, op="=", pos=f.pos)
        if t.kind == "eof":
            raise FilterError(f"'{f.label}' at {f.pos} needs a comparison, e.g. {_example(f)}", f.pos)
        raise self.fail(f"expected an operator after '{f.label}' (=, !=, <, >, IN, LIKE, contains, IS NULL ...)")


def _example(f: _Field) -> str:
    return {"number": f"{f.label} > 10", "bool": f"{f.label} = true"}.get(f.spec.type, f"{f.label} = 'x'")


def _text_only(f: _Field, t: Token) -> _Field:
    if f.spec.type != "text":
        raise FilterError(f"{f.label} is not text: LIKE, ILIKE and contains work on text fields (at {t.pos})", t.pos)
    return f


def _score_spec(metric: str) -> FieldSpec:
    return FieldSpec(f"score.{metric}", "number", "score", SCORE_VALUE_SQL, True, (), f"score metric {metric}")


def _cluster_spec(name: str) -> FieldSpec:
    return FieldSpec(
        f"cluster.{name}",
        "number",
        "cluster",
        CLUSTER_IN_SQL,
        True,
        (),
        f"cluster id in clustering {name} (-1 = noise)",
    )


# map.NAME.<axis>: the only column names a map field can test (fixed here, never taken from the input).
_MAP_AXES = {"x": "ca.x", "y": "ca.y"}


def _map_spec(name: str, axis: str) -> FieldSpec:
    return FieldSpec(
        f"map.{name}.{axis}",
        "number",
        "cluster",
        CLUSTER_IN_SQL,
        True,
        (_MAP_AXES[axis],),
        f"{axis} coordinate on the 2-D map of clustering {name}",
    )


def _pred(col: str, test: str, values: list, op: str = "=") -> tuple[str, list]:
    """The positive test on a column expression (no user text in the SQL, values become params)."""
    if test == "cmp":
        return f"{col} {op} ?", list(values)
    if test == "in":
        return f"{col} IN ({', '.join('?' * len(values))})", list(values)
    if test == "like":
        return f"{col} LIKE ?", list(values)
    if test == "ilike":
        return f"{col} ILIKE ?", list(values)
    if test == "contains":
        return f"contains(lower({col}), lower(?))", list(values)
    if test == "between":
        return f"{col} BETWEEN ? AND ?", list(values)
    if test == "isnull":
        return f"{col} IS NULL", []
    raise AssertionError(test)


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
        # Every test is a membership test on the clustering's assignments: a sample outside the clustering
        # fails comparisons (negative ones too), like a missing score; IS NULL = not in the clustering.
        # map.NAME.x / .y test the map column named in spec.columns (from _MAP_AXES) instead of the cluster.
        name_params = [f.metric]
        col = spec.columns[0] if spec.columns else "ca.cluster"
        if test == "isnull":
            inner = CLUSTER_IN_SQL.format(test="TRUE")
            return (f"({inner})" if negate else f"(NOT {inner})"), name_params
        if test == "cmp" and negate:
            sql, params = _pred(col, "cmp", values, "!=")
        else:
            sql, params = _pred(col, test, values, op)
            if negate:
                sql = f"NOT ({sql})"
        return f"({CLUSTER_IN_SQL.format(test=sql)})", name_params + params
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


def compile_expression(
    expr: str, *, score_metrics: Collection[str] = (), clusterings: Collection[str] = ()
) -> tuple[str, list]:
    """Compile a filter expression into SQL over alias `s` (samples) with `?` placeholders and its params.

    Field names are checked against FIELDS, `score_metrics` and (for `cluster.NAME`) the names of the saved
    `clusterings`; every literal and every metric or clustering name becomes a parameter.
    A blank expression compiles to ("TRUE", []). Raises FilterError (with .position) on any problem.
    """
    if expr is None or not expr.strip():
        return "TRUE", []
    if len(expr) > MAX_LENGTH:
        raise FilterError(f"expression is too long ({len(expr)} characters; the limit is {MAX_LENGTH})", MAX_LENGTH)
    return _Parser(expr, score_metrics, clusterings).parse()


def field_names(score_metrics: Collection[str] = (), clusterings: Collection[str] = ()) -> list[str]:
    """Every name the language accepts (for completion and help): fields, `score.NAME` per metric, then
    `cluster.NAME` per clustering, then `map.NAME.x` and `map.NAME.y` per clustering."""
    return (
        list(FIELDS)
        + [f"score.{m}" for m in score_metrics]
        + [f"cluster.{c}" for c in clusterings]
        + [f"map.{c}.{a}" for c in clusterings for a in _MAP_AXES]
    )
