"""Tool-call operator: every call names a declared tool and its arguments validate against the tool's schema.

Arguments are validated with the `jsonschema` library (validator class chosen from the schema's `$schema`,
Draft 2020-12 by default; validators are cached per declared tools JSON).
"""

from __future__ import annotations

import json
from functools import lru_cache

from engine.quality.heuristics.registry import operator
from engine.quality.heuristics.sample import Sample, Value


def _loads_maybe_twice(x):
    if isinstance(x, str):
        x = json.loads(x)
        if isinstance(x, str):
            x = json.loads(x)
    return x


@lru_cache(maxsize=2048)
def _declared_tools(tools_json: str) -> dict[str, object] | str:
    """{name: validator or None (no schema)} for a tools JSON text; a str is an error message."""
    import jsonschema
    from jsonschema.validators import validator_for

    try:
        tools = _loads_maybe_twice(tools_json)
    except ValueError as e:
        return f"tools are not JSON: {e}"
    if tools is None:
        return {}
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list):
        return "tools are not a list"
    out: dict[str, object] = {}
    for t in tools:
        if not isinstance(t, dict):
            continue
        fn = t.get("function") if isinstance(t.get("function"), dict) else t
        name = fn.get("name")
        if not isinstance(name, str):
            continue
        schema = fn.get("parameters")
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except ValueError:
                out[name] = f"declared parameters of '{name}' are not JSON"
                continue
        if schema is None or schema == {}:
            out[name] = None
            continue
        if not isinstance(schema, dict):
            out[name] = f"declared parameters of '{name}' are not a JSON schema object"
            continue
        cls = validator_for(schema, default=jsonschema.Draft202012Validator)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as e:
            out[name] = f"declared schema of '{name}' is invalid: {e.message}"[:300]
            continue
        out[name] = cls(schema)
    return out


@operator(
    "h_tool_call_valid",
    "For samples whose assistant turns contain tool_calls (or a legacy function_call): 1 when every "
    "call names a function declared in the sample's tools and its arguments are a JSON object "
    "(a JSON string is parsed) that validates against the declared parameters schema with the "
    "jsonschema library (validator from $schema, default Draft 2020-12; a tool without parameters "
    "accepts any object); 0 otherwise, the reason naming the first failing call.",
    needs=frozenset({"messages", "tools"}),
    value_range="{0, 1}",
    null_cases="no tool calls",
)
def _tool_call_valid(s: Sample) -> Value:
    calls, _, err = s._parse_calls()
    if err:
        return 0.0, err
    if not calls:
        return None, "no tool calls"
    tools = s.tools
    if tools is not None and not isinstance(tools, str):
        tools = json.dumps(tools, sort_keys=True)
    declared = _declared_tools(tools) if tools else {}
    if isinstance(declared, str):
        return 0.0, declared
    from jsonschema.exceptions import best_match

    for k, call in enumerate(calls, 1):
        if not isinstance(call, dict):
            return 0.0, f"call {k} is not an object"
        fn = call.get("function") if isinstance(call.get("function"), dict) else call
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            return 0.0, f"call {k} has no function name"
        if name not in declared:
            where = "no tools declared" if not declared else "not among declared tools"
            return 0.0, f"call {k}: function '{name}' is not declared ({where})"
        args = fn.get("arguments", fn.get("parameters", {}))
        if args is None:
            args = {}
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError as e:
                return 0.0, f"call {k} '{name}': arguments are not valid JSON ({e.msg} at char {e.pos})"
        if not isinstance(args, dict):
            return 0.0, f"call {k} '{name}': arguments are not a JSON object"
        v = declared[name]
        if isinstance(v, str):
            return 0.0, f"call {k}: {v}"
        if v is not None:
            e = best_match(v.iter_errors(args))
            if e is not None:
                path = "/".join(str(p) for p in e.absolute_path)
                at = f" at '{path}'" if path else ""
                return 0.0, f"call {k} '{name}'{at}: {e.message}"[:300]
    return 1.0, None
