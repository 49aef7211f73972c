"""Produced calls against expected ones: `call_error` for one call, `match_calls` pairs several by maximum
bipartite matching."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.evaluation.tool_parse import LANGUAGES, tool_schemas
from engine.evaluation.tool_values import _alternatives, _from_language, _group, _type_ok, value_matches


# -- one call -------------------------------------------------------------------------------------------------
def names_match(got: str, want: str) -> bool:
    """Case-sensitive; a produced name may also be the expected one with ``.`` replaced by ``_`` (BFCL renames
    dotted functions so for APIs that forbid dots in function names)."""
    return isinstance(got, str) and (got == want or ("." in want and got == want.replace(".", "_")))


def call_error(
    got: dict, want: dict, schema: dict | None = None, *, language: str = "python", allow_extra: bool = False
) -> str | None:
    """None when the produced call `got` ({"name", "arguments"}) satisfies the possible answer `want`
    ({"name", "args": {param: [acceptable]}}) under the tool's parameters `schema` (None: no type checks),
    else why not."""
    name = want["name"]
    if not names_match(got.get("name"), name):
        return f"function {got.get('name')!r} is not {name!r}"
    args = got.get("arguments") or {}
    if not isinstance(args, dict):
        return f"{name}: arguments are not an object"
    props = schema.get("properties") if isinstance(schema, dict) else None
    props = props if isinstance(props, dict) else None
    required = schema.get("required") if isinstance(schema, dict) else None
    for p in required if isinstance(required, list) else []:
        # the answer key has the last word: "" among its acceptable values lets even a schema-required
        # argument be omitted (BFCL rejects that; one shared BFCL item, simple_python_200, needs it)
        if p not in args and not (p in want["args"] and "" in _alternatives(want["args"][p])):
            return f"{name}: missing required argument {p!r}"
    for k, v in args.items():
        declared = props is not None and k in props
        if k not in want["args"]:
            if not allow_extra or (props is not None and not declared):
                return f"{name}: unexpected argument {k!r}"
            if declared:
                v = _from_language(v, props[k], language)
                if not _type_ok(v, props[k]):
                    return f"{name}: argument {k!r} = {v!r} is not of type {props[k].get('type')!r}"
            continue
        alts = _alternatives(want["args"][k])
        ps = props.get(k) if props is not None else None
        if ps is not None:
            v = _from_language(v, ps, language)
            if _group(ps) == "tuple" and isinstance(v, tuple):
                v = list(v)
            if language == "python" and _group(ps) == "float" and isinstance(v, int) and not isinstance(v, bool):
                v = float(v)
            if not _type_ok(v, ps):
                # BFCL's "variable" rule: the answer key lists a value of this very type (e.g. a variable name
                # for a number), which the value must equal exactly
                if not any(a != "" and value_matches(v, a, strict=True) for a in alts):
                    return f"{name}: argument {k!r} = {v!r} is not of type {ps.get('type')!r}"
        if not any(value_matches(v, a) for a in alts):
            return f"{name}: argument {k!r} = {v!r} is not one of {alts!r}"
    for k, alts in want["args"].items():
        if k not in args and "" not in _alternatives(alts):
            return f"{name}: missing argument {k!r}"
    return None


# -- several calls --------------------------------------------------------------------------------------------
@dataclass
class CallsMatch:
    """The verdict on a set of produced calls: correct when every expected call is paired with its own produced
    call; `pairs` maps expected index -> produced index (a maximum matching), `why` explains a failure."""

    correct: bool
    n_expected: int
    n_made: int
    pairs: dict[int, int] = field(default_factory=dict)
    why: str | None = None


def _max_matching(ok: list[list[bool]], n_right: int) -> dict[int, int]:
    """Maximum bipartite matching (augmenting paths): left index -> right index."""
    right_of: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in range(n_right):
            if ok[i][j] and j not in seen:
                seen.add(j)
                if j not in right_of or augment(right_of[j], seen):
                    right_of[j] = i
                    return True
        return False

    for i in range(len(ok)):
        augment(i, set())
    return {i: j for j, i in right_of.items()}


def match_calls(
    got: list[dict], want: list[dict], *, tools: Any = None, language: str = "python", allow_extra: bool = False
) -> CallsMatch:
    """Pair produced calls with expected calls (possible answers from `expected_from_reference`) by maximum
    bipartite matching under `call_error`; correct when the counts are equal and every call is paired."""
    schemas = tool_schemas(tools) if tools is not None else {}
    language = language if language in LANGUAGES else "python"
    errs = [
        [call_error(g, w, schemas.get(w["name"]), language=language, allow_extra=allow_extra) for g in got]
        for w in want
    ]
    pairs = _max_matching([[e is None for e in row] for row in errs], len(got))
    if len(got) != len(want):
        return CallsMatch(False, len(want), len(got), pairs, f"{len(got)} call(s) made, {len(want)} expected")
    if len(pairs) == len(want):
        return CallsMatch(True, len(want), len(got), pairs)
    used = set(pairs.values())
    i = next(i for i in range(len(want)) if i not in pairs)
    free = [j for j in range(len(got)) if j not in used]
    same = [j for j in free if names_match(got[j].get("name"), want[i]["name"])]
    j = (same or free or [0])[0]
    why = errs[i][j] if got else f"no call made for {want[i]['name']!r}"
    return CallsMatch(False, len(want), len(got), pairs, why)
