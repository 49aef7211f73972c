"""Function-calling formats: the Berkeley function-calling leaderboard (BFCL), gorilla openfunctions and apibench."""

from __future__ import annotations

import re
from typing import Any

from engine.data.formats.chat import _OPENAI_ROLES
from engine.data.formats.fields import (
    _MISSING,
    FieldError,
    _get_str,
    _meta,
    _missing,
    _need_obj,
    _parse_tools,
    _user_assistant,
    type_name,
)
from engine.data.formats.records import Normalized
from engine.data.formats.registry import FormatContext, FormatSpec, register


def _norm_bfcl(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    q = rec.get("question", _MISSING)
    if q is _MISSING:
        raise _missing(rec, "question")
    if not isinstance(q, list) or not q:
        raise FieldError("question", f"expected a list of turns, got {type_name(q)}")
    turns = q if all(isinstance(t, list) for t in q) else [q]
    msgs: list[dict] = []
    system = None
    for ti, turn in enumerate(turns):
        for mi, m in enumerate(turn):
            where = f"question[{ti}][{mi}]"
            if not isinstance(m, dict) or not isinstance(m.get("content"), str):
                raise FieldError(where, "expected an object with string 'role' and 'content'")
            role = _OPENAI_ROLES.get(m.get("role"))
            if role is None:
                raise FieldError(f"{where}.role", f"unknown role {m.get('role')!r}")
            if role == "system" and not msgs:
                system = m["content"]
            msgs.append({"role": role, "content": m["content"]})
    fn = rec.get("function", _MISSING)
    if fn is _MISSING:
        raise _missing(rec, "function")
    tools = _parse_tools(fn, "function")
    return Normalized(msgs, system, tools, _meta(rec, ("question", "function")))


def _detect_bfcl(r: Any) -> bool:
    return isinstance(r, dict) and isinstance(r.get("question"), list) and "function" in r


def _norm_openfunctions(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    q = _get_str(rec, "question")
    fn = rec.get("function", _MISSING)
    if fn is _MISSING:
        raise _missing(rec, "function")
    tools = _parse_tools(fn, "function")
    ans = _get_str(rec, "model_answer", optional=True)
    return Normalized(_user_assistant(q, ans), None, tools, _meta(rec, ("question", "function", "model_answer")))


def _detect_openfunctions(r: Any) -> bool:
    return isinstance(r, dict) and isinstance(r.get("question"), str) and isinstance(r.get("function"), (dict, list))


_APIBENCH_DICT = re.compile(r"^\s*\{\s*'Instruction'\s*:\s*(.*?),\s*'Output'\s*:\s*(.*)$", re.S)
_APIBENCH_HASH = re.compile(r"###\s*Instruction\s*:\s*(.*?)\s*###\s*Output\s*:\s*(.*)$", re.S)


def parse_apibench_code(code: str) -> tuple[str, str] | None:
    """Split gorilla apibench's `code` string into (instruction, output); None if it has neither form."""
    m = _APIBENCH_DICT.match(code) or _APIBENCH_HASH.search(code)
    if not m:
        return None
    ins, out = m.group(1).strip(), m.group(2).strip()
    if m.re is _APIBENCH_DICT and out.endswith("}"):
        out = out[:-1].rstrip()  # the closing brace of the outer {'Instruction': ..., 'Output': ...}
    if len(ins) >= 2 and ins[0] == ins[-1] and ins[0] in "\"'":
        ins = ins[1:-1]
    return ins, out


def _norm_apibench(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    code = _get_str(rec, "code")
    parts = parse_apibench_code(code)
    if parts is None:
        raise FieldError(
            "code",
            "expected an 'Instruction'/'Output' pair ({'Instruction': ..., 'Output': ...}"
            " or ###Instruction: ... ###Output: ...)",
        )
    return Normalized(_user_assistant(parts[0], parts[1]), None, None, _meta(rec, ("code",)))


def _detect_apibench(r: Any) -> bool:
    return isinstance(r, dict) and isinstance(r.get("code"), str) and "api_call" in r and ("Instruction" in r["code"])


register(
    FormatSpec(
        "bfcl",
        "Berkeley function-calling leaderboard: question [[{role, content}]], function [...]",
        _detect_bfcl,
        _norm_bfcl,
        required=lambda c: ["question", "function"],
        domain="tool_use",
    )
)


register(
    FormatSpec(
        "openfunctions",
        "gorilla openfunctions: question, function, model_answer",
        _detect_openfunctions,
        _norm_openfunctions,
        required=lambda c: ["question", "function"],
        domain="tool_use",
    )
)


register(
    FormatSpec(
        "apibench",
        "gorilla apibench: code ('Instruction' + 'Output' text), api_call, ...",
        _detect_apibench,
        _norm_apibench,
        required=lambda c: ["code"],
        domain="tool_use",
    )
)
