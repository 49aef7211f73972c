"""Tool calls read from a model output (`parse_tool_calls`: JSON, OpenAI ``tool_calls``, ``<tool_call>`` tags,
Python call syntax) and from a reference (`expected_from_reference`, `tool_schemas`, `tool_language`)."""

from __future__ import annotations

import ast
import json
import operator
import re
from typing import Any

from engine.core.errors import InputError

LANGUAGES = ("python", "java", "javascript")


class ToolCallError(InputError):
    """A reference (expected calls) that cannot be used."""


# -- parsing a model output -------------------------------------------------------------------------------------
def _loads_args(a: Any) -> Any:
    if isinstance(a, str):
        try:
            return json.loads(a)
        except json.JSONDecodeError:
            return a
    return a


def _calls_from_json(obj: Any) -> list[dict] | None:
    """Calls from a parsed JSON value in any of the usual shapes; None when it is not a call."""
    if isinstance(obj, list):
        out = []
        for x in obj:
            c = _calls_from_json(x)
            if c is None:
                return None
            out += c
        return out
    if not isinstance(obj, dict):
        return None
    if "tool_calls" in obj and isinstance(obj["tool_calls"], list):
        return _calls_from_json(obj["tool_calls"])
    if "function" in obj and isinstance(obj["function"], dict):
        return _calls_from_json(obj["function"])
    name = obj.get("name")
    if isinstance(name, str):
        args = _loads_args(obj.get("arguments", obj.get("parameters", obj.get("args", {}))))
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return None
        return [{"name": name, "arguments": args}]
    if len(obj) == 1:  # BFCL answer style {"func": {"arg": value}}
        ((k, v),) = obj.items()
        if isinstance(v, dict):
            return [{"name": k, "arguments": v}]
    return None


def _json_values(text: str) -> list[Any]:
    """Every top-level JSON object/array that decodes, scanning left to right."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while i < len(text):
        j = min([p for p in (text.find("{", i), text.find("[", i)) if p >= 0], default=-1)
        if j < 0:
            break
        try:
            val, end = dec.raw_decode(text, j)
            out.append(val)
            i = end
        except json.JSONDecodeError:
            i = j + 1
    return out


_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _py_value(node: ast.AST) -> Any:
    """An argument value from Python call syntax, read as BFCL reads it: literals as values, a bare or dotted
    name as its text (a variable), arithmetic on numbers computed, a nested call with keywords as a call
    ``{name: {args}}`` and anything else as its source text."""
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _py_value(node.operand)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v if isinstance(node.op, ast.USub) else v
        return ast.unparse(node)
    if isinstance(node, ast.List):
        return [_py_value(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_py_value(e) for e in node.elts)
    if isinstance(node, ast.Set):
        return [_py_value(e) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {(_py_value(k) if k is not None else None): _py_value(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _dotted(node) or ast.unparse(node)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a, b = _py_value(node.left), _py_value(node.right)
        nums = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
        if nums and not (isinstance(node.op, ast.Pow) and (abs(b) > 64 or abs(a) > 1e6)):
            try:
                return _BINOPS[type(node.op)](a, b)
            except (ArithmeticError, ValueError):
                pass
        return ast.unparse(node)
    if isinstance(node, ast.Call) and node.keywords:
        c = _call_from_ast(node)
        if c is not None:
            return {c["name"]: c["arguments"]}
    return ast.unparse(node)


def _call_from_ast(node: ast.AST) -> dict | None:
    if not isinstance(node, ast.Call):
        return None
    name = _dotted(node.func)
    if name is None:
        return None
    args = {kw.arg: _py_value(kw.value) for kw in node.keywords if kw.arg}
    if node.args:  # BFCL drops positional arguments; we keep them visible (and wrong) as _0, _1, ...
        args.update({f"_{i}": _py_value(a) for i, a in enumerate(node.args)})
    return {"name": name, "arguments": args}


_FENCE = re.compile(r"```[\w+-]*\s*\n(.*?)```", re.S)


def _python_calls(text: str) -> list[dict] | None:
    try:
        return _python_calls_unguarded(text)
    except (TypeError, ValueError, RecursionError, MemoryError):  # e.g. an unhashable dict key, deep nesting
        return None


def _python_calls_unguarded(text: str) -> list[dict] | None:
    src = text.strip()
    if src.startswith("```"):
        m = _FENCE.search(src)
        src = m.group(1) if m else src.strip("`")
    src = src.strip()
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError:
        # several calls on separate lines
        try:
            mod = ast.parse(src, mode="exec")
        except SyntaxError:
            return None
        calls = []
        for st in mod.body:
            if not isinstance(st, ast.Expr):
                return None
            c = _call_from_ast(st.value)
            if c is None:
                return None
            calls.append(c)
        return calls or None
    body = tree.body
    nodes = body.elts if isinstance(body, (ast.List, ast.Tuple)) else [body]
    calls = [_call_from_ast(n) for n in nodes]
    return calls if calls and all(c is not None for c in calls) else None  # type: ignore[return-value]


_TOOL_TAG = re.compile(
    r"<(?:tool_call|functioncall|function_call)>\s*(.*?)\s*</(?:tool_call|functioncall|function_call)>", re.S | re.I
)


def parse_tool_calls(output: str | list | dict) -> list[dict]:
    """The function calls in a model output: [{"name", "arguments": dict}] (empty when it makes none).

    Accepts OpenAI ``tool_calls`` (a list of dicts, or JSON text), ``<tool_call>{...}</tool_call>`` tags,
    JSON objects/lists of ``{name, arguments}``, BFCL's ``{func: {args}}``, and Python call syntax
    (``f(a=1)``, ``[f(a=1), g(b="x")]``, one call per line; names and dotted names as values are read as
    their text, as BFCL does)."""
    if isinstance(output, (list, dict)):
        return _calls_from_json(output) or []
    text = output or ""
    tagged = _TOOL_TAG.findall(text)
    if tagged:
        calls = []
        for t in tagged:
            vals = _json_values(t)[:1]
            if vals:
                calls += _calls_from_json(vals[0]) or []
            else:
                calls += _python_calls(t) or []
        return calls
    calls = _python_calls(text)  # first: a dict argument inside f(a={...}) is not a JSON call
    if calls:
        return calls
    calls = []
    for v in _json_values(text):
        c = _calls_from_json(v)
        if c:
            calls += c
    return calls


# -- the reference ----------------------------------------------------------------------------------------------
def _exact_to_possible(v: Any) -> Any:
    """An exact expected value in the possible-answer form: dicts become {key: [value]}, recursively."""
    if isinstance(v, dict):
        return {k: [_exact_to_possible(x)] for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_exact_to_possible(x) for x in v]
    return v


def expected_from_reference(ref: Any) -> tuple[list[dict], bool]:
    """(possible answers [{"name", "args": {param: [acceptable values]}}], allow_extra_args) from a BFCL
    ``ground_truth`` list (extra arguments are errors) or an ``expected_calls`` list [{name, arguments}]
    (each value the one acceptable value; extra arguments allowed)."""
    if ref is None:
        raise ToolCallError("tool: no expected calls (ground_truth or expected_calls)")
    if isinstance(ref, dict) and "ground_truth" in ref:
        ref = ref["ground_truth"]
    if isinstance(ref, dict) and "expected_calls" in ref:
        ref = ref["expected_calls"]
    if not isinstance(ref, list):
        raise ToolCallError(f"tool: expected a list of calls, got {type(ref).__name__}")
    out, extra = [], True
    for i, c in enumerate(ref):
        if not isinstance(c, dict):
            raise ToolCallError(f"tool: expected call {i} is not an object")
        if isinstance(c.get("name"), str):
            args = _loads_args(c.get("arguments") or {})
            if not isinstance(args, dict):
                raise ToolCallError(f"tool: arguments of expected call {i} are not an object")
            out.append({"name": c["name"], "args": {k: [_exact_to_possible(v)] for k, v in args.items()}})
        elif len(c) == 1:  # BFCL possible answer
            ((name, args),) = c.items()
            if not isinstance(args, dict) or not all(isinstance(v, list) for v in args.values()):
                raise ToolCallError(f"tool: ground truth call {i} must map each argument to a list of values")
            out.append({"name": name, "args": args})
            extra = False
        else:
            raise ToolCallError(f"tool: expected call {i} has neither 'name' nor the BFCL {{name: args}} form")
    return out, extra


def tool_schemas(tools: Any) -> dict[str, dict]:
    """name -> parameters schema ({"type", "properties", "required"}) of the declared tools: BFCL function
    docs [{name, parameters}], OpenAI [{"type": "function", "function": {...}}], a JSON string of either,
    or a dict name -> doc."""
    tools = _loads_args(tools)
    if isinstance(tools, dict):
        tools = (
            [dict(v, name=v.get("name", k)) if isinstance(v, dict) else v for k, v in tools.items()]
            if "name" not in tools and "function" not in tools
            else [tools]
        )
    out: dict[str, dict] = {}
    for t in tools if isinstance(tools, list) else []:
        if not isinstance(t, dict):
            continue
        f = t.get("function") if isinstance(t.get("function"), dict) else t
        name = f.get("name")
        params = _loads_args(f.get("parameters", f.get("input_schema", f.get("arguments"))))
        if isinstance(name, str):
            out[name] = params if isinstance(params, dict) else {}
    return out


def tool_language(meta: Any) -> str:
    """The language whose typing rules a BFCL item uses: ``meta.language`` when set, else from the item id the
    way BFCL picks it from the test category (``simple_java_*`` -> java, ``simple_javascript_*`` ->
    javascript); python otherwise."""
    if isinstance(meta, dict):
        lang = str(meta.get("language") or "").lower()
        if lang in ("js",):
            return "javascript"
        if lang in LANGUAGES:
            return lang
        meta = meta.get("id")
    if not isinstance(meta, str):
        return "python"
    words = re.split(r"[^a-z0-9]+", meta.lower())
    if "javascript" in words or "js" in words:
        return "javascript"
    if "java" in words:
        return "java"
    return "python"
