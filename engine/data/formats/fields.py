"""Field helpers shared by the converters: `FieldError`, typed field access, tool calls and content parts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from engine.core.errors import InputError
from engine.data.formats.records import BigInt, json_text

_MISSING = object()


class FieldError(InputError):
    """Raised by a normaliser: `field` (a key or a path like "conversations[2].value") is wrong."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class NotFlat(Exception):
    """A record of a flat format uses a feature (history, tools) that needs the full normaliser."""


_TYPE_NAMES = {
    dict: "object",
    list: "list",
    str: "string",
    int: "integer",
    BigInt: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def type_name(v: Any) -> str:
    """JSON-ish name of a Python value's type."""
    return _TYPE_NAMES.get(type(v), type(v).__name__)


def _expected_str(v: Any) -> str:
    if v is _MISSING:
        return "missing"
    return f"expected a string, got {type_name(v)}"


def _missing(rec: dict, key: str) -> FieldError:
    keys = ", ".join(list(rec)[:12])
    return FieldError(key, f"missing (record has keys: {keys})")


def _need_obj(rec: Any) -> dict:
    if type(rec) is not dict:
        raise FieldError(None, f"expected a JSON object, got {type_name(rec)}")
    return rec


def _get_str(rec: dict, key: str, *, optional: bool = False, nullable: bool = False) -> str | None:
    v = rec.get(key, _MISSING)
    if v is _MISSING:
        if optional:
            return None
        raise _missing(rec, key)
    if v is None and (optional or nullable):
        return None
    if type(v) is not str:
        raise FieldError(key, _expected_str(v))
    return v


def _join(*parts: str | None) -> str:
    return "\n".join(p for p in parts if p)


def _meta(rec: dict, used: Sequence[str] | frozenset) -> dict:
    return {k: v for k, v in rec.items() if k not in used}


def _user_assistant(user: str, reply: str | None, system: str | None = None) -> list[dict]:
    msgs = []
    if system:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": user})
    if reply is not None:
        msgs.append({"role": "assistant", "content": reply})
    return msgs


def _parse_tools(v: Any, key: str) -> list | None:
    if v is None or v == "" or v == []:
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError as e:
            raise FieldError(key, f"tools is not valid JSON: {e}") from None
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        raise FieldError(key, f"expected a list of tool schemas (or its JSON text), got {type_name(v)}")
    return v or None


def _arguments_text(args: Any) -> str:
    """OpenAI keeps tool-call arguments as a JSON string, written here one fixed way (a string that is
    not JSON is kept as it is)."""
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return args
    return json_text(args, separators=(", ", ": "))


def _tool_call(obj: Any, where: str) -> dict:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise FieldError(where, "a function call must be an object with a string 'name'")
    return {
        "type": "function",
        "function": {"name": obj["name"], "arguments": _arguments_text(obj.get("arguments", {}))},
    }


def _function_call_message(value: Any, where: str) -> dict:
    """ShareGPT `function_call` turn (JSON text of {name, arguments} or a list of them) -> assistant."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FieldError(where, "function_call value is not valid JSON") from None
    calls = value if isinstance(value, list) else [value]
    return {"role": "assistant", "content": "", "tool_calls": [_tool_call(c, where) for c in calls]}


def _canonical_tool_calls(tcs: Any, where: str) -> list:
    if not isinstance(tcs, list):
        raise FieldError(where, f"expected a list, got {type_name(tcs)}")
    out = []
    for i, tc in enumerate(tcs):
        w = f"{where}[{i}]"
        if not isinstance(tc, dict):
            raise FieldError(w, f"expected an object, got {type_name(tc)}")
        fn = tc.get("function", tc)
        call = _tool_call(fn, w)
        if tc.get("id") is not None:
            call = {"id": tc["id"], **call}
        out.append(call)
    return out


def _content_text(c: Any, where: str) -> str:
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, list):  # OpenAI content parts
        texts = []
        for i, part in enumerate(c):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
            else:
                raise FieldError(f"{where}[{i}]", "only text content parts are supported")
        return "\n".join(texts)
    raise FieldError(where, f"expected a string, got {type_name(c)}")


_ROLE_ALIASES = {"prompt": "instruction", "query": "input", "response": "output"}


def _mapped(mapping: Mapping) -> dict:
    """User mapping keys in canonical role names (instruction/input/output/system/history/tools/...)."""
    out = {}
    for k, v in (mapping or {}).items():
        if k in ("header",) or k.endswith("_tag"):
            continue
        out[_ROLE_ALIASES.get(k, k)] = v
    return out
