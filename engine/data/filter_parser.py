"""The filter language's recursive-descent parser: it checks every field and value (with "did you mean" hints)
and emits SQL through `engine.data.filter_sql`."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass

from engine.data.filter_fields import (
    _MAP_AXES,
    FIELDS,
    MAX_DEPTH,
    MAX_IN_ITEMS,
    MAX_PREDICATES,
    FieldSpec,
    FilterError,
    _cluster_spec,
    _map_spec,
    _score_spec,
    _selection_spec,
)
from engine.data.filter_sql import _build
from engine.data.filter_tokens import Token, tokenize

_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null", "between", "true", "false", "contains"}
_CMP_OPS = {"=", "!=", "<>", "<", "<=", ">", ">="}


@dataclass(frozen=True)
class _Field:
    """A field as parsed: its spec, the metric or clustering it names, where it starts and how to call it."""

    spec: FieldSpec
    metric: str | None
    pos: int
    label: str


class _Parser:
    """One expression: tokens in, (SQL, params) out of `parse`."""

    def __init__(
        self, expr: str, metrics: Collection[str], clusterings: Collection[str] = (), selections: Collection[str] = ()
    ):
        self.expr = expr
        self.toks = tokenize(expr)
        self.i = 0
        self.metrics = list(dict.fromkeys(metrics))
        self.clusterings = list(dict.fromkeys(clusterings))
        self.selections = list(dict.fromkeys(selections))
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
        if low == "selection" and self.tok.kind == "dot":
            self.advance()
            st = self.tok
            if st.kind not in ("ident", "string"):
                raise self.fail("expected a selection name after 'selection.'")
            self.advance()
            sname = str(st.value) if str(st.value) in self.selections else None
            if sname is None:
                known = ", ".join(self.selections) if self.selections else "none yet"
                hint = difflib.get_close_matches(str(st.value), self.selections, n=1, cutoff=0.6)
                dym = f"; did you mean 'selection.{hint[0]}'?" if hint else f"; known selections: {known}"
                raise FilterError(f"unknown selection '{st.value}' at {st.pos}{dym}", st.pos)
            return _Field(_selection_spec(sname), sname, t.pos, f"selection.{sname}")
        if low == "score" and "score" not in self.metrics:
            known = ", ".join(f"score.{m}" for m in self.metrics) or "none yet: score the samples first"
            raise FilterError(f"'score' at {t.pos} needs a metric name: score.NAME (known: {known})", t.pos)
        if self.tok.kind == "dot":
            raise FilterError(
                f"unknown field '{name}.' at {t.pos}; only score.NAME, cluster.NAME, selection.NAME and "
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
