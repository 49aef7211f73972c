"""The tool-call scorer (engine/evaluation/tool_calls.py) against BFCL's AST checker rules: hand-made cases for each
rule, every possible answer of the shared BFCL v4 non-live set scored against itself, and (when BFCL's own
checker can be imported) agreement with it on perturbed answers."""

from __future__ import annotations

import importlib
import importlib.util
import json
import keyword
import os
import random
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

from engine.evaluation.evaluate import detect_item
from engine.evaluation.scorers import AnswerCheckError, check, check_tool_calls
from engine.evaluation.tool_calls import (
    call_error,
    match_calls,
    parse_tool_calls,
    standardize_string,
    tool_language,
    tool_schemas,
    value_matches,
)

BFCL = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "bfcl_v4_nonlive"


def fn(name: str, props: dict, required: list | None = None) -> dict:
    """A BFCL function doc."""
    return {
        "name": name,
        "description": name,
        "parameters": {"type": "dict", "properties": props, "required": list(props) if required is None else required},
    }


def ok(output, gt, tools=None, language="python") -> bool:
    return check_tool_calls(output, gt, tools=tools, language=language).correct


# -- hand-made cases, one per rule ----------------------------------------------------------------------------
def test_many_parallel_calls_in_any_order():
    tools = [fn("get_price", {"ticker": {"type": "string"}, "day": {"type": "integer"}})]
    gt = [{"get_price": {"ticker": [t], "day": [d]}} for t, d in zip("ABCDEFGHIJ", range(1, 11))]
    calls = [{"name": "get_price", "arguments": {"ticker": t, "day": d}} for t, d in zip("ABCDEFGHIJ", range(1, 11))]
    random.Random(7).shuffle(calls)
    assert len(gt) == 10 and ok(calls, gt, tools)
    text = (
        "["
        + ", ".join(f"get_price(ticker={c['arguments']['ticker']!r}, day={c['arguments']['day']})" for c in calls)
        + "]"
    )
    assert ok(text, gt, tools)
    wrong = [dict(c, arguments=dict(c["arguments"])) for c in calls]
    wrong[3]["arguments"]["day"] += 100
    res = check_tool_calls(wrong, gt, tools=tools)
    assert not res.correct and res.details["n_matched"] == 9 and "day" in res.details["why"]
    assert not ok(calls[:-1], gt, tools) and not ok(calls + calls[:1], gt, tools)


def test_matching_is_not_greedy():
    # the first produced call fits both expected calls, the second only the first one: a greedy pass that
    # gives the first produced call to the first expected call fails; a matching does not
    gt = [{"f": {"a": [1, 2]}}, {"f": {"a": [1]}}]
    out = [{"name": "f", "arguments": {"a": 1}}, {"name": "f", "arguments": {"a": 2}}]
    assert ok(out, gt)
    m = match_calls(out, [{"name": "f", "args": {"a": [1, 2]}}, {"name": "f", "args": {"a": [1]}}])
    assert m.correct and m.pairs == {0: 1, 1: 0}


def test_nested_dict_answers():
    tools = [
        fn(
            "book",
            {"guest": {"type": "dict"}, "rooms": {"type": "array", "items": {"type": "dict"}}},
            required=["guest"],
        )
    ]
    gt = [
        {
            "book": {
                "guest": [{"name": ["Ann Lee", "Ann"], "age": [30], "vip": ["", False]}],
                "rooms": [[{"kind": ["double"], "nights": [2]}, {"kind": ["single"], "nights": [1, ""]}], ""],
            }
        }
    ]
    assert ok('book(guest={"name": "ann lee", "age": 30})', gt, tools)
    assert ok(
        'book(guest={"name": "Ann", "age": 30, "vip": False}, '
        'rooms=[{"kind": "Double", "nights": 2}, {"kind": "single"}])',
        gt,
        tools,
    )
    assert not ok('book(guest={"name": "Ann", "age": 31})', gt, tools)  # nested value
    assert not ok('book(guest={"name": "Ann"})', gt, tools)  # nested key missing
    assert not ok('book(guest={"name": "Ann", "age": 30, "pet": "cat"})', gt, tools)  # nested key unexpected
    assert not ok(
        'book(guest={"name": "Ann", "age": 30}, rooms=[{"kind": "single"}, {"kind": "double", "nights": 2}])', gt, tools
    )  # list order counts
    assert not ok('book(guest="Ann")', gt, tools)  # not a dict
    # deeper: a dict inside a dict
    gt2 = [{"f": {"cfg": [{"db": [{"host": ["localhost"], "port": [5432, ""]}]}]}}]
    assert ok('f(cfg={"db": {"host": "LocalHost"}})', gt2) and not ok('f(cfg={"db": {"host": "remote"}})', gt2)
    # expected_calls values are exact: a nested dict must match key for key
    exp = [{"name": "f", "arguments": {"cfg": {"tags": ["a", "b"], "n": 1}}}]
    assert ok('f(cfg={"tags": ["a", "b"], "n": 1})', exp) and not ok('f(cfg={"tags": ["a"], "n": 1})', exp)
    assert not ok('f(cfg={"tags": "a", "n": 1})', exp)


def test_integer_types_are_strict():
    tools = [fn("set_pin", {"pin": {"type": "integer"}})]
    gt = [{"set_pin": {"pin": [7890]}}]
    assert ok("set_pin(pin=7890)", gt, tools) and ok('{"name": "set_pin", "arguments": {"pin": 7890}}', gt, tools)
    assert not ok("set_pin(pin=7890.0)", gt, tools)
    assert not ok("set_pin(pin='7890')", gt, tools)
    assert not ok('{"name": "set_pin", "arguments": "{\\"pin\\": \\"7890\\"}"}', gt, tools)
    assert not ok("set_pin(pin=True)", [{"set_pin": {"pin": [1]}}], tools)  # a bool is not an integer
    assert ok("set_pin(pin=7890.0)", gt)  # without the schema there is no type to check: 7890.0 == 7890


def test_int_accepted_for_float_in_python():
    tools = [fn("area", {"r": {"type": "float"}, "scale": {"type": "array", "items": {"type": "float"}}}, ["r"])]
    gt = [{"area": {"r": [3.0], "scale": [[1.0, 2.5], ""]}}]
    assert ok("area(r=3)", gt, tools) and ok("area(r=3.0)", gt, tools)
    assert ok("area(r=3, scale=[1, 2.5])", gt, tools)  # BFCL rejects ints inside a float array; we do not
    assert not ok("area(r='3')", gt, tools) and not ok("area(r=True)", gt, tools)
    # JSON Schema "number" takes ints too
    assert ok(
        {"name": "area", "arguments": {"r": 3}},
        gt,
        [
            {
                "type": "function",
                "function": {
                    "name": "area",
                    "parameters": {"type": "object", "properties": {"r": {"type": "number"}}, "required": ["r"]},
                },
            }
        ],
    )


def test_variable_rule_and_array_items():
    # the answer key gives a variable name (a string) for a number parameter: that string is accepted
    tools = [fn("scale", {"factor": {"type": "integer"}, "xs": {"type": "array", "items": {"type": "integer"}}})]
    assert ok("scale(factor=k, xs=[1, 2])", [{"scale": {"factor": ["k"], "xs": [[1, 2]]}}], tools)
    assert not ok("scale(factor=k, xs=[1, 2])", [{"scale": {"factor": [3], "xs": [[1, 2]]}}], tools)
    assert not ok("scale(factor=3, xs=[1.0, 2.0])", [{"scale": {"factor": [3], "xs": [[1, 2]]}}], tools)
    assert not ok("scale(factor=3, xs=(1, 2))", [{"scale": {"factor": [3], "xs": [[1, 2]]}}], tools)  # tuple
    tup = [fn("move", {"to": {"type": "tuple", "items": {"type": "float"}}})]
    assert ok("move(to=(1.5, 2.0))", [{"move": {"to": [[1.5, 2.0]]}}], tup)
    assert ok('{"name": "move", "arguments": {"to": [1.5, 2.0]}}', [{"move": {"to": [[1.5, 2.0]]}}], tup)


def test_function_names_are_case_sensitive():
    gt = [{"math.factorial": {"number": [5]}}]
    assert ok("math.factorial(number=5)", gt)
    assert ok('{"name": "math_factorial", "arguments": {"number": 5}}', gt)  # dots renamed, as BFCL allows
    assert not ok("Math.factorial(number=5)", gt) and not ok("math.Factorial(number=5)", gt)
    assert ok("math_factorial(number=5)", [{"math_factorial": {"number": [5]}}])
    assert not ok("math.factorial(number=5)", [{"math_factorial": {"number": [5]}}])  # only "." -> "_"


def test_string_normalisation_is_bfcls():
    assert standardize_string("New York, NY") == standardize_string("new york ny") == "newyorkny"
    assert standardize_string("2024-04-01") == standardize_string("2024/04/01") == "20240401"
    assert standardize_string("a_b*c^d.e") == "abcde" and standardize_string("It's") == 'it"s'
    gt = [{"weather": {"city": ["New York, NY"], "date": ["2024-04-01"]}}]
    assert ok("weather(city='new york ny', date='20240401')", gt)
    assert ok('weather(city="NEW-YORK,NY", date="2024 04 01")', gt)
    assert not ok("weather(city='New Yrok, NY', date='2024-04-01')", gt)
    assert not ok("weather(city='New York, NY!', date='2024-04-01')", gt)  # "!" is not in BFCL's set
    assert not ok("weather(city='New\tYork, NY', date='2024-04-01')", gt)  # nor is a tab
    assert value_matches(["A b", "c-d"], ["ab", "CD"]) and not value_matches(["ab", "cd"], ["cd", "ab"])


def test_required_extra_and_optional_arguments():
    tools = [
        fn(
            "calc_area",
            {"base": {"type": "integer"}, "height": {"type": "integer"}, "unit": {"type": "string"}},
            required=["base", "height"],
        )
    ]
    gt = [{"calc_area": {"base": [10], "height": [5], "unit": ["units", ""]}}]
    assert ok("calc_area(base=10, height=5)", gt, tools)  # optional omitted ("" listed)
    assert ok("calc_area(base=10, height=5, unit='units')", gt, tools)
    assert not ok("calc_area(base=10, height=5, unit='cm')", gt, tools)
    miss = check_tool_calls("calc_area(base=10)", gt, tools=tools)
    assert not miss.correct and "missing required argument 'height'" in miss.details["why"]
    extra = check_tool_calls("calc_area(base=10, height=5, colour='red')", gt, tools=tools)
    assert not extra.correct and "unexpected argument 'colour'" in extra.details["why"]
    # an optional argument whose acceptable values do not include "" must be given
    gt2 = [{"calc_area": {"base": [10], "height": [5], "unit": ["units"]}}]
    assert not ok("calc_area(base=10, height=5)", gt2, tools) and ok(
        "calc_area(base=10, height=5, unit='units')", gt2, tools
    )
    # a declared argument the answer key leaves out is unexpected too
    assert not ok("calc_area(base=10, height=5, unit='units')", [{"calc_area": {"base": [10], "height": [5]}}], tools)
    # positional arguments are not arguments (BFCL reads keywords only)
    assert not ok("calc_area(10, 5)", gt, tools)


def test_expected_calls_allow_declared_extras_only():
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
                    "required": ["location"],
                },
            },
        }
    ]
    exp = [{"name": "get_current_weather", "arguments": {"location": "Buenos Aires"}}]
    assert ok('get_current_weather(location="Buenos Aires", unit="celsius")', exp, tools)
    assert not ok('get_current_weather(location="Buenos Aires", days=3)', exp, tools)  # not declared
    assert not ok('get_current_weather(location="Buenos Aires", unit=3)', exp, tools)  # wrong type
    assert ok('get_current_weather(location="Buenos Aires", days=3)', exp)  # no schema: allowed


def test_java_and_javascript_values_are_read_as_source():
    java = [
        fn(
            "Cache.put",
            {
                "key": {"type": "String"},
                "ttl": {"type": "long"},
                "on": {"type": "boolean"},
                "tags": {"type": "ArrayList", "items": {"type": "String"}},
                "ids": {"type": "Array", "items": {"type": "integer"}},
                "meta": {"type": "HashMap"},
                "owner": {"type": "any"},
            },
            ["key"],
        )
    ]
    gt = [
        {
            "Cache.put": {
                "key": ["user1"],
                "ttl": [60, ""],
                "on": [True, ""],
                "tags": [["a", "b"], ""],
                "ids": [[1, 2], ""],
                "meta": [{"k": ["v"]}, ""],
                "owner": ["svc", ""],
            }
        }
    ]
    out = {
        "Cache.put": {
            "key": "user1",
            "ttl": "60L",
            "on": "true",
            "tags": 'new ArrayList<>(Arrays.asList("a", "b"))',
            "ids": "new int[]{1, 2}",
            "meta": 'new HashMap<String, String>() {{ put("k", "v"); }}',
            "owner": "svc",
        }
    }
    assert ok([out], gt, java, "java")
    assert ok([{"Cache.put": {"key": "user1", "ttl": 60, "on": True}}], gt, java, "java")  # native JSON values
    assert not ok([{"Cache.put": {"key": "user1", "on": "yes"}}], gt, java, "java")
    assert not ok([{"Cache.put": {"key": "user1", "ttl": "61L"}}], gt, java, "java")
    assert not ok([{"Cache.put": {"key": "user1", "ids": "new int[]{2, 1}"}}], gt, java, "java")
    js = [
        fn(
            "draw",
            {
                "label": {"type": "String"},
                "pts": {"type": "array", "items": {"type": "float"}},
                "opts": {"type": "dict"},
                "big": {"type": "Bigint"},
                "show": {"type": "Boolean"},
            },
            ["label"],
        )
    ]
    gtj = [
        {
            "draw": {
                "label": ["chart"],
                "pts": [[1.0, 2.5], ""],
                "opts": [{"color": ["red"], "w": [2]}, ""],
                "big": [10, ""],
                "show": [False, ""],
            }
        }
    ]
    assert ok(
        [
            {
                "draw": {
                    "label": "'chart'",
                    "pts": "[1.0, 2.5]",
                    "opts": "{color: 'red', w: 2}",
                    "big": "10n",
                    "show": "false",
                }
            }
        ],
        gtj,
        js,
        "javascript",
    )
    assert ok([{"draw": {"label": "chart", "pts": "new Array(1, 2.5)"}}], gtj, js, "javascript")
    assert not ok([{"draw": {"label": "chart", "opts": "{color: 'blue', w: 2}"}}], gtj, js, "javascript")
    assert not ok([{"draw": {"label": "chart", "show": "0"}}], gtj, js, "javascript")


def test_parsing_shapes():
    assert parse_tool_calls("math.factorial(number=5)") == [{"name": "math.factorial", "arguments": {"number": 5}}]
    assert parse_tool_calls("f(x=my_var, y=np.pi, z=-2, w=2**10, v=3*1.5)") == [
        {"name": "f", "arguments": {"x": "my_var", "y": "np.pi", "z": -2, "w": 1024, "v": 4.5}}
    ]
    assert parse_tool_calls("f(cb=g(a=1), s=len(xs))")[0]["arguments"] == {"cb": {"g": {"a": 1}}, "s": "len(xs)"}
    assert parse_tool_calls("f(a=1)\ng(b='x')") == [
        {"name": "f", "arguments": {"a": 1}},
        {"name": "g", "arguments": {"b": "x"}},
    ]
    assert parse_tool_calls("```python\n[f(a=1)]\n```") == [{"name": "f", "arguments": {"a": 1}}]
    assert parse_tool_calls(
        '<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>\n'
        '<tool_call>{"name": "g", "arguments": {}}</tool_call>'
    ) == [{"name": "f", "arguments": {"a": 1}}, {"name": "g", "arguments": {}}]
    assert parse_tool_calls('[{"f": {"a": 1}}, {"g": {"b": 2}}]') == [
        {"name": "f", "arguments": {"a": 1}},
        {"name": "g", "arguments": {"b": 2}},
    ]
    assert parse_tool_calls({"tool_calls": [{"function": {"name": "f", "arguments": '{"a": 1}'}}]}) == [
        {"name": "f", "arguments": {"a": 1}}
    ]
    assert parse_tool_calls("I cannot help with that.") == []


def test_no_call_expected_and_bad_references():
    assert ok("There is no tool for that.", []) and not ok("f(a=1)", [])
    with pytest.raises(AnswerCheckError):
        check_tool_calls("f()", [{"f": {"a": 1}}])
    with pytest.raises(AnswerCheckError):
        check_tool_calls("f()", None)


def test_schemas_languages_and_dispatch():
    assert set(
        tool_schemas(
            [
                {"type": "function", "function": {"name": "a", "parameters": {}}},
                {"name": "b", "parameters": {"type": "dict"}},
            ]
        )
    ) == {"a", "b"}
    assert set(tool_schemas(json.dumps([{"name": "c", "parameters": {}}]))) == {"c"}
    assert tool_language({"id": "simple_java_3"}) == "java"
    assert tool_language({"id": "simple_javascript_3"}) == "javascript"
    assert tool_language({"id": "parallel_multiple_3"}) == tool_language(None) == "python"
    assert tool_language({"id": "x", "language": "JavaScript"}) == "javascript"
    # detect_item carries the declared tools and the language into the reference, and check() uses them
    tools = [fn("set_pin", {"pin": {"type": "integer"}})]
    it = detect_item(
        1,
        "tool_use",
        [{"role": "user", "content": "pin 7890"}],
        {"id": "simple_python_9", "ground_truth": [{"set_pin": {"pin": [7890]}}]},
        json.dumps(tools),
    )
    assert it.reference["tools"] == tools and it.reference["language"] == "python"
    assert check("tool", "set_pin(pin=7890)", it.reference).correct
    assert not check("tool", "set_pin(pin=7890.0)", it.reference).correct
    assert (
        call_error(
            {"name": "set_pin", "arguments": {"pin": "7890"}},
            {"name": "set_pin", "args": {"pin": [7890]}},
            tools[0]["parameters"],
        )
        is not None
    )


# -- the shared BFCL set ---------------------------------------------------------------------------------------
def _bfcl_items() -> list[tuple[str, dict, list]]:
    """(category, question record, ground truth) for every BFCL item that has a possible answer."""
    out = []
    for pa in sorted((BFCL / "possible_answer").glob("BFCL_v4_*.json")):
        questions = {}
        for line in (BFCL / pa.name).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                questions[r["id"]] = r
        for line in pa.read_text().splitlines():
            if line.strip():
                a = json.loads(line)
                out.append((pa.stem.removeprefix("BFCL_v4_"), questions[a["id"]], a["ground_truth"]))
    return out


def _alts(v):
    return v if isinstance(v, list) else [v]


def _first(v):
    """The first acceptable value, nested possible answers rebuilt the same way (keys whose first acceptable
    value is "" left out)."""
    if isinstance(v, dict):
        return {k: _first(_alts(a)[0]) for k, a in v.items() if _alts(a)[0] != ""}
    if isinstance(v, list):
        return [_first(x) for x in v]
    return v


def _gold_calls(gt: list) -> list[dict]:
    calls = []
    for c in gt:
        ((name, args),) = c.items()
        calls.append({"name": name, "arguments": {k: _first(v[0]) for k, v in args.items() if v[0] != ""}})
    return calls


def _py_text(calls: list[dict]) -> str | None:
    if any(not k.isidentifier() or keyword.iskeyword(k) for c in calls for k in c["arguments"]):
        return None  # e.g. from=..., not Python syntax
    return (
        "["
        + ", ".join(c["name"] + "(" + ", ".join(f"{k}={v!r}" for k, v in c["arguments"].items()) + ")" for c in calls)
        + "]"
    )


def _java_src(v, schema: dict) -> str:
    t, it = schema.get("type"), (schema.get("items") or {}).get("type")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}L" if t == "long" else str(v)
    if isinstance(v, float):
        return f"{v}f" if t == "float" else repr(v)
    if isinstance(v, str):
        return v  # a string or, for another type, a variable name: written bare
    if isinstance(v, list):
        el = ", ".join(json.dumps(x) if isinstance(x, str) else _java_src(x, {"type": it}) for x in v)
        return f"new ArrayList<>(Arrays.asList({el}))" if t == "ArrayList" else f"new Object[]{{{el}}}"
    if isinstance(v, dict):
        puts = " ".join(
            f"put({json.dumps(k)}, {json.dumps(x) if isinstance(x, str) else _java_src(x, {})});" for k, x in v.items()
        )
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    return str(v)


def _js_src(v, schema: dict) -> str:
    t = schema.get("type")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}n" if t == "Bigint" else str(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return repr(v)


def _source_calls(calls: list[dict], question: dict, lang: str, *, all_strings: bool = False) -> list[dict]:
    """Every argument written as Java / JavaScript source in a string, the way BFCL's Java / JS categories
    expect it (`any` values that are not strings stay as they are unless `all_strings`)."""
    docs = {f["name"]: f["parameters"]["properties"] for f in question["function"]}
    out = []
    for c in calls:
        props = docs.get(c["name"], {})
        args = {}
        for k, v in c["arguments"].items():
            s = props.get(k, {})
            if s.get("type") == "any" and not isinstance(v, str) and not all_strings:
                args[k] = v
            else:
                args[k] = (_java_src if lang == "java" else _js_src)(v, s)
        out.append({c["name"]: args})
    return out


@pytest.mark.slow
@pytest.mark.shared
def test_every_bfcl_possible_answer_scores_correct_against_itself():
    if not BFCL.is_dir():
        pytest.skip("../shared/datasets/bfcl_v4_nonlive not present")
    items = _bfcl_items()
    forms = Counter()
    bad = []
    for _cat, q, gt in items:
        lang = tool_language({"id": q["id"]})
        calls = _gold_calls(gt)
        outputs = {"native": calls, "json_tags": "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)}
        py = _py_text(calls)
        if py is not None:
            outputs["python_syntax"] = py
        if lang != "python":
            outputs["source_strings"] = _source_calls(calls, q, lang)
        for form, out in outputs.items():
            res = check_tool_calls(out, gt, tools=q["function"], language=lang)
            forms[form] += 1
            if not res.correct:
                bad.append((q["id"], form, res.details.get("why")))
    print(
        f"\nBFCL v4 non-live: {len(items)} items with possible answers; scored correct against themselves: "
        f"{len(items) - len({b[0] for b in bad})}/{len(items)}; outputs per form: {dict(forms)}"
    )
    assert len(items) == 1150
    assert not bad, bad[:10]


# -- agreement with BFCL's own checker on perturbed answers ----------------------------------------------------
def _bfcl_checker():
    """BFCL's ast_checker, from an installed ``bfcl-eval`` or a folder named by BFCL_EVAL_SRC that holds its
    ``bfcl_eval`` package (e.g. an unpacked wheel: pip download bfcl-eval --no-deps). Its model table imports
    every model SDK, so a stub stands in for it (only consulted to rename dotted functions: never here)."""
    src = os.environ.get("BFCL_EVAL_SRC")
    if src and src not in sys.path:
        sys.path.insert(0, src)
    if importlib.util.find_spec("bfcl_eval") is None:
        return None
    if "bfcl_eval.constants.model_config" not in sys.modules:
        stub = types.ModuleType("bfcl_eval.constants.model_config")
        stub.MODEL_CONFIG_MAPPING = {"stub/model": types.SimpleNamespace(underscore_to_dot=False)}
        sys.modules["bfcl_eval.constants.model_config"] = stub
    try:
        mod = importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker")
        enums = importlib.import_module("bfcl_eval.constants.enums")
    except Exception:
        return None
    langs = {"python": enums.Language.PYTHON, "java": enums.Language.JAVA, "javascript": enums.Language.JAVASCRIPT}

    def run(question, output, gt, lang, category):
        try:
            return bool(mod.ast_checker(question["function"], output, gt, langs[lang], category, "stub_model")["valid"])
        except Exception:  # BFCL's checker raises on some shapes (e.g. an unknown type): not comparable
            return None

    return run


def _perturbations(calls: list[dict], gt: list, q: dict, rng: random.Random) -> list[tuple[str, list[dict]]]:
    """(kind, output) variants of the gold calls in BFCL's output shape [{name: args}]."""
    base = [{c["name"]: dict(c["arguments"])} for c in calls]

    def copy():
        return [{n: json.loads(json.dumps(a)) for n, a in c.items()} for c in base]

    out = [("gold", copy())]
    if len(base) > 1:
        out.append(("shuffled", list(reversed(copy()))))
        out.append(("call_dropped", copy()[:-1]))
    out.append(("call_duplicated", copy() + copy()[:1]))
    first_name = next(iter(base[0]))
    swapped = first_name[0].swapcase() + first_name[1:]
    if swapped != first_name:
        v = copy()
        v[0] = {swapped: v[0][first_name]}
        out.append(("name_case", v))
    v = copy()
    v[0][first_name]["zz_unexpected"] = "x"
    out.append(("extra_param", v))
    docs = {f["name"]: f["parameters"].get("properties", {}) for f in q["function"]}
    for ci, c in enumerate(base):
        ((name, args),) = c.items()
        answer = next(iter(gt[ci].values()))
        for k in sorted(args):
            val = args[k]

            def put(kind, new, ci=ci, name=name, k=k):
                v = copy()
                if new is _DROP:
                    del v[ci][name][k]
                else:
                    v[ci][name][k] = new
                out.append((kind, v))

            put("param_dropped", _DROP)
            if isinstance(val, bool):
                put("bool_flipped", not val)
                put("bool_as_int", int(val))
            elif isinstance(val, int):
                put("int_changed", val + 1)
                put("int_as_float", float(val))
                put("int_as_str", str(val))
            elif isinstance(val, float):
                put("float_changed", val + 0.5)
                put("float_as_str", str(val))
                if val == int(val):
                    put("float_as_int", int(val))
            elif isinstance(val, str):
                put("str_case_punct", val.upper().replace(" ", "-") if val else "X")
                put("str_changed", val + "zq")
            elif isinstance(val, list):
                if len(val) > 1:
                    put("list_reversed", list(reversed(val)))
                    put("list_shortened", val[:-1])
                put("list_as_tuple", tuple(val))
            elif isinstance(val, dict) and val:
                dk = sorted(val)[0]
                put("dict_key_dropped", {x: y for x, y in val.items() if x != dk})
                put("dict_key_added", dict(val, zz_key=1))
            alts = [a for a in _alts(answer.get(k, [])) if a != ""]
            if len(alts) > 1:
                put("other_acceptable", _first(alts[1]))
        for k, alts in answer.items():  # optional arguments the gold answer left out
            if k not in args and k in docs.get(name, {}):
                nonempty = [a for a in alts if a != ""]
                v = copy()
                v[ci][name][k] = _first(nonempty[0]) if nonempty else "zq"
                out.append(("optional_given", v))
    rng.shuffle(out)
    return out


_DROP = object()


def _to_source(output: list[dict], q: dict, lang: str) -> list[dict]:
    return _source_calls([{"name": n, "arguments": a} for c in output for n, a in c.items()], q, lang, all_strings=True)


@pytest.mark.slow
@pytest.mark.shared
def test_agreement_with_bfcl_checker_on_perturbed_answers():
    if not BFCL.is_dir():
        pytest.skip("../shared/datasets/bfcl_v4_nonlive not present")
    bfcl = _bfcl_checker()
    if bfcl is None:
        pytest.skip("BFCL's checker is not importable (install bfcl-eval, or set BFCL_EVAL_SRC to an unpacked wheel)")
    rng = random.Random(12)
    agree, total, errors = Counter(), Counter(), 0
    by_lang, agree_lang = Counter(), Counter()
    disagreements = Counter()
    examples = {}
    for cat, q, gt in _bfcl_items():
        lang = tool_language({"id": q["id"]})
        for kind, output in _perturbations(_gold_calls(gt), gt, q, rng):
            if lang != "python":
                if kind == "list_as_tuple":
                    continue
                output = _to_source(output, q, lang)  # BFCL's Java / JS categories take source strings
            theirs = bfcl(q, output, gt, lang, cat)
            if theirs is None:
                errors += 1
                continue
            ours = check_tool_calls(output, gt, tools=q["function"], language=lang).correct
            total[kind] += 1
            by_lang[lang] += 1
            if ours == theirs:
                agree[kind] += 1
                agree_lang[lang] += 1
            else:
                key = (kind, lang, "ours" if ours else "BFCL")
                disagreements[key] += 1
                examples.setdefault(key, (q["id"], output))
    n, a = sum(total.values()), sum(agree.values())
    print(
        f"\nagreement with BFCL's ast_checker: {a}/{n} = {100 * a / n:.2f}% of perturbed answers "
        f"({errors} where BFCL's checker raised, left out); by language: "
        + ", ".join(f"{k} {agree_lang[k]}/{by_lang[k]} = {100 * agree_lang[k] / by_lang[k]:.2f}%" for k in by_lang)
    )
    for k in sorted(total):
        print(f"  {k:18s} {agree[k]}/{total[k]}")
    for (kind, lang, who), c in disagreements.most_common():
        print(f"  differs: {kind} ({lang}), only {who} accepts: {c}, e.g. {examples[(kind, lang, who)]}"[:300])
    assert a / n >= 0.99 and agree_lang["python"] / by_lang["python"] >= 0.995
