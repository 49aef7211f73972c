"""Argument values under BFCL's rules: string normalisation and `value_matches`, schema types (`TYPE_GROUPS`,
`_type_ok`) and Java / JavaScript source read as values (`_from_language`)."""

from __future__ import annotations

import re
from typing import Any

# -- values -------------------------------------------------------------------------------------------------
_STRIP = re.compile(r"[ ,./\-_*^]")


def standardize_string(s: str) -> str:
    """BFCL's string normalisation: drop spaces and the characters ``, . / - _ * ^``, lowercase, and read
    single quotes as double quotes (so ``"April 1, 2024"`` equals ``"april 1 2024"``)."""
    return _STRIP.sub("", s).lower().replace("'", '"')


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _alternatives(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def value_matches(got: Any, acceptable: Any, *, strict: bool = False) -> bool:
    """Does `got` equal one acceptable value? Strings compare after `standardize_string`; numbers by ``==``
    (``strict``: the value must also have the acceptable value's type, int vs float and list vs tuple
    included, and strings must be equal as written); bools only equal bools; lists (and tuples) in order,
    element by element; a dict is a possible answer: each of its keys maps to a list of acceptable values
    (``""`` among them: the key may be absent), and the produced dict may hold no other key."""
    if strict and not isinstance(acceptable, dict) and _kind(got) != _kind(acceptable):
        return False
    if isinstance(acceptable, dict):
        if not isinstance(got, dict):
            return False
        for k, v in got.items():
            if k not in acceptable or not any(value_matches(v, a, strict=strict) for a in _alternatives(acceptable[k])):
                return False
        return all(k in got or "" in _alternatives(alts) for k, alts in acceptable.items())
    if isinstance(acceptable, (list, tuple)):
        return (
            isinstance(got, (list, tuple))
            and len(got) == len(acceptable)
            and all(value_matches(g, a, strict=strict) for g, a in zip(got, acceptable))
        )
    if isinstance(acceptable, str):
        if strict:
            return got == acceptable
        return isinstance(got, str) and standardize_string(got) == standardize_string(acceptable)
    if isinstance(acceptable, bool) or isinstance(got, bool):
        return isinstance(got, bool) and isinstance(acceptable, bool) and got == acceptable
    if _is_num(acceptable):
        return _is_num(got) and got == acceptable
    return got == acceptable


# -- types ----------------------------------------------------------------------------------------------------
# Schema type names (BFCL Python / Java / JavaScript docs and JSON Schema) -> the Python type a value must have.
TYPE_GROUPS: dict[str, str] = {
    **{t: "str" for t in ("string", "String", "str", "char")},
    **{t: "int" for t in ("integer", "int", "byte", "short", "long", "Bigint", "bigint")},
    **{t: "float" for t in ("float", "double", "number")},
    **{t: "bool" for t in ("boolean", "Boolean", "bool")},
    **{t: "list" for t in ("array", "Array", "ArrayList", "list", "Queue", "Stack", "Set")},
    "tuple": "tuple",
    **{t: "dict" for t in ("dict", "object", "HashMap", "Hashtable", "map", "Map")},
    **{t: "any" for t in ("any", "Any")},
    "null": "none",
}


_KINDS = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "str"),
    (tuple, "tuple"),
    (list, "list"),
    (dict, "dict"),
)


def _kind(v: Any) -> str:
    if v is None:
        return "none"
    return next((name for t, name in _KINDS if isinstance(v, t)), type(v).__name__)


def _group(schema: Any) -> str | list[str] | None:
    t = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(t, list):
        return [TYPE_GROUPS.get(x, "any") for x in t if isinstance(x, str)] or None
    return TYPE_GROUPS.get(t) if isinstance(t, str) else None


def _type_ok(v: Any, schema: Any) -> bool:
    """Does `v` have the schema's type (items of an array / tuple too, recursively)? An unknown or missing
    type accepts anything; int is accepted for float / number."""
    g = _group(schema)
    if g is None or g == "any":
        return True
    if isinstance(g, list):
        return any(_type_ok(v, dict(schema, type=t)) for t in schema["type"])
    k = _kind(v)
    if g == "float":
        return k in ("float", "int")
    if g == "tuple":
        ok = k in ("tuple", "list")
    else:
        ok = k == g
    if not ok:
        return False
    if g in ("list", "tuple") and isinstance(schema.get("items"), dict):
        return all(_type_ok(x, schema["items"]) for x in v)
    return True


# -- Java / JavaScript values ---------------------------------------------------------------------------------
def _split_top(s: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside quotes and brackets."""
    out, depth, quote, cur, i = [], 0, None, [], 0
    while i < len(s):
        ch = s[i]
        if quote:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
            cur.append(ch)
        elif ch in "([{":
            depth += 1
            cur.append(ch)
        elif ch in ")]}":
            depth -= 1
            cur.append(ch)
        elif ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return [x.strip() for x in out]


def _unquote(s: str) -> str | None:
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
        return s[1:-1]
    return None


_J_INT = re.compile(r"-?\d+[lL]?")
_J_FLOAT = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?")
_JS_BIGINT = re.compile(r"-?\d+n")


def _source_value(s: str, lang: str) -> Any:
    """A Java / JavaScript literal or collection expression as a Python value; anything else (a variable, an
    expression) as its text."""
    s = s.strip()
    q = _unquote(s)
    if q is not None:
        return q
    if s in ("true", "false"):
        return s == "true"
    if s == "null" or (lang == "javascript" and s == "undefined"):
        return None
    if _J_INT.fullmatch(s) and (lang == "java" or s[-1] not in "lL"):
        return int(s.rstrip("lL"))
    if lang == "javascript" and _JS_BIGINT.fullmatch(s):
        return int(s[:-1])
    if _J_FLOAT.fullmatch(s) and (lang == "java" or s[-1] not in "fFdD"):
        return float(s.rstrip("fFdD"))
    coll = _collection(s, lang)
    return s if coll is None else coll


_OPEN = {"(": ")", "[": "]", "{": "}"}


def _close_of(s: str, i: int) -> int:
    """Index of the bracket that closes the one at s[i] (quotes respected); -1 when unbalanced."""
    depth, quote, j = 0, None, i
    while j < len(s):
        ch = s[j]
        if quote:
            if ch == "\\":
                j += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return j if _OPEN.get(s[i]) == ch else -1
        j += 1
    return -1


def _wrapped(s: str, i: int) -> str | None:
    """The text inside the bracket at s[i] when its closing bracket ends `s`, else None."""
    return s[i + 1 : -1] if i < len(s) and s[i] in _OPEN and _close_of(s, i) == len(s) - 1 else None


_J_NEW = re.compile(r"new\s+([\w.]+)\s*(?:<[^(){}]*>)?\s*")
_J_LIST_OF = re.compile(r"(?:Arrays\.asList|List\.of|Set\.of|Stream\.of|Collections\.singletonList)\s*(?=\()")
_J_MAP_OF = re.compile(r"Map\.of\s*(?=\()")
_J_STMT = re.compile(r"(?:this\.)?(add|put)\s*\((.*)\)", re.S)
_JS_NEW_ARRAY = re.compile(r"new\s+Array\s*(?=\()")


def _items(body: str, lang: str) -> list:
    return [_source_value(x, lang) for x in _split_top(body) if x != ""]


def _js_object(body: str) -> dict | None:
    out = {}
    for part in _split_top(body):
        if not part:
            continue
        kv = _split_top(part, ":")
        if len(kv) < 2:
            return None
        key = _unquote(kv[0])
        out[key if key is not None else kv[0]] = _source_value(":".join(kv[1:]), "javascript")
    return out


def _java_new(s: str, m: re.Match) -> Any:
    """``new T[]{...}``, ``new T<>(Arrays.asList(...))``, ``new T<>() {{ add(x); put(k, v); }}``, ``new T<>()``."""
    is_map = m.group(1).endswith(("Map", "Hashtable", "Properties"))
    rest = s[m.end() :]
    if rest.startswith("["):  # array: new int[]{1, 2} / new int[] {1, 2}
        k = 0
        while k < len(rest) and rest[k] == "[":
            e = _close_of(rest, k)
            if e < 0:
                return None
            k = e + 1
            while k < len(rest) and rest[k].isspace():
                k += 1
        body = _wrapped(rest[k:], 0)
        return _items(body, "java") if body is not None else None
    if not rest.startswith("("):
        return None
    e = _close_of(rest, 0)
    if e < 0:
        return None
    inner, after = rest[1:e].strip(), rest[e + 1 :].strip()
    if not after:
        if not inner or re.fullmatch(r"\d+", inner):  # new ArrayList<>() / new ArrayList<>(10)
            return {} if is_map else []
        v = _collection(inner, "java")
        return v if isinstance(v, (list, dict)) else None
    body = _wrapped(after, 0)  # double-brace initialisation
    if body is None:
        return None
    body = body.strip()
    if body.startswith("{"):
        inner_body = _wrapped(body, 0)
        if inner_body is None:
            return None
        body = inner_body
    out_list, out_map = [], {}
    for stmt in _split_top(body, ";"):
        if not stmt:
            continue
        sm = _J_STMT.fullmatch(stmt)
        if sm is None:
            return None
        args = _split_top(sm.group(2))
        if sm.group(1) == "add" and len(args) == 1:
            out_list.append(_source_value(args[0], "java"))
        elif sm.group(1) == "put" and len(args) == 2:
            out_map[str(_source_value(args[0], "java"))] = _source_value(args[1], "java")
        else:
            return None
    return out_map if (is_map or out_map) else out_list


def _collection(s: str, lang: str) -> Any:
    """A collection expression (Java arrays / lists / maps, JavaScript arrays / objects); None if not one."""
    if lang == "javascript":
        if s.startswith("["):
            body = _wrapped(s, 0)
            return _items(body, lang) if body is not None else None
        m = _JS_NEW_ARRAY.match(s)
        if m:
            body = _wrapped(s, m.end())
            return _items(body, lang) if body is not None else None
        if s.startswith("{"):
            body = _wrapped(s, 0)
            return _js_object(body) if body is not None else None
        return None
    m = _J_NEW.match(s)
    if m:
        return _java_new(s, m)
    m = _J_LIST_OF.match(s)
    if m:
        body = _wrapped(s, m.end())
        return _items(body, lang) if body is not None else None
    m = _J_MAP_OF.match(s)
    if m:
        body = _wrapped(s, m.end())
        parts = _items(body, lang) if body is not None else None
        if parts is None or len(parts) % 2:
            return None
        return {str(parts[i]): parts[i + 1] for i in range(0, len(parts), 2)}
    if s.startswith("{"):  # array initialiser
        body = _wrapped(s, 0)
        return _items(body, lang) if body is not None else None
    return None


def _from_language(v: Any, schema: Any, lang: str) -> Any:
    """A Java / JavaScript string value read as source for the schema's type (BFCL's type converters); the
    value unchanged when it is not a string, the type is a string type or the text does not parse as it."""
    if lang == "python" or not isinstance(v, str):
        return v
    g = _group(schema)
    if g == "str":
        if lang == "javascript":
            q = _unquote(v.strip())
            return v if q is None else q
        return v
    if g in (None, "any") or isinstance(g, list):
        return v
    parsed = _source_value(v, lang)
    if g == "float" and _is_num(parsed):
        return float(parsed)
    if _kind(parsed) == g or (g == "tuple" and isinstance(parsed, list)):
        return parsed
    return v
