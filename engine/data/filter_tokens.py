"""The filter language's tokenizer: strings, numbers, names and operators, with a FilterError (and its position)
for anything outside the language."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.data.filter_fields import FilterError


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
