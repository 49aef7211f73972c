"""Heuristic operators, their resumable runner, and the keep/drop rule layer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from engine.core.jobs import Cancelled, CancelToken
from engine.core.store import Store
from engine.quality.heuristics import (
    OPERATORS,
    Rule,
    Sample,
    compute,
    explain_filters,
    format_explain,
    h_filter_defaults,
    keep_mask,
    run_heuristics,
    words,
)
from engine.quality.scores import list_metrics, metric_values

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"

# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------

WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["city"],
            },
        },
    }
]


def call(name, args):
    return {
        "id": "call_1",
        "type": "function",
        "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
    }


def tool_sample(calls, tools=WEATHER_TOOLS, final="It is 20 degrees in Paris."):
    msgs = [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": "", "tool_calls": calls}]
    if final is not None:
        msgs += [{"role": "tool", "content": '{"temp": 20}'}, {"role": "assistant", "content": final}]
    return Sample(instruction="Weather in Paris?", response=final, domain="tool_use", messages=msgs, tools=tools)


def v(name, **kw):
    """Value only of operator `name` on a Sample built from kw."""
    return compute(name, Sample(**kw))[0]


def add_samples(store: Store, records: list[dict], pool_id: int = 1, pool_name: str | None = None) -> list[int]:
    """Insert samples straight into the store; a record has instruction/response (or messages),
    optional domain, tools, tool_calls (on the final assistant turn). Returns the ids."""
    con = store.cursor()
    if not con.execute("SELECT count(*) FROM pools WHERE id = ?", [pool_id]).fetchone()[0]:
        con.execute(
            "INSERT INTO pools (id, name, domain) VALUES (?, ?, 'general')", [pool_id, pool_name or f"pool{pool_id}"]
        )
    start = store.next_id("samples", con)
    ids = []
    rows = []
    for k, r in enumerate(records):
        msgs = r.get("messages")
        if msgs is None:
            msgs = []
            if r.get("instruction") is not None:
                msgs.append({"role": "user", "content": r["instruction"]})
            if r.get("response") is not None or r.get("tool_calls"):
                a = {"role": "assistant", "content": r.get("response") or ""}
                if r.get("tool_calls"):
                    a["tool_calls"] = r["tool_calls"]
                msgs.append(a)
        sid = start + k
        ids.append(sid)
        tools = r.get("tools")
        rows.append(
            [
                sid,
                pool_id,
                json.dumps(msgs),
                r.get("domain", "general"),
                hashlib.sha1(f"{sid}{json.dumps(msgs)}".encode()).hexdigest(),
                r.get("instruction"),
                r.get("response"),
                None if tools is None else json.dumps(tools),
                len(msgs),
            ]
        )
    con.executemany(
        "INSERT INTO samples (id, pool_id, messages, domain, content_hash, instruction, response,"
        " tools, n_turns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.close()
    return ids


# ------------------------------------------------------------------------------------------------
# operators, one by one
# ------------------------------------------------------------------------------------------------


def test_registry_is_documented():
    for name, op in OPERATORS.items():
        assert name.startswith("h_")
        assert len(op.definition) > 30, name
        assert op.version and op.value_range and op.null_cases
        m = op.metric
        assert (m.metric, m.model, m.definition, m.version) == (name, "", op.definition, op.version)


def test_words_tokenisation():
    assert words("Hello, World! foo_bar x2") == ["hello", "world", "foo", "bar", "x2"]
    assert words("Café au lait") == ["café", "au", "lait"]
    assert words("我爱Python代码") == ["我", "爱", "python", "代", "码"]
    assert words("") == []


def test_lengths():
    assert v("h_resp_chars", response="héllo") == 5
    assert v("h_resp_chars", response=None) == 0
    assert v("h_instr_chars", instruction="abc") == 3
    assert v("h_resp_tokens_est", response="abcdefgh") == 2
    assert v("h_resp_tokens_est", response="abcdefghi") == 3
    assert v("h_resp_tokens_est", response="你好ab") == 3  # 2 CJK + ceil(2/4)


def test_empty_answer():
    assert v("h_empty_answer", response="") == 1
    assert v("h_empty_answer", response=None) == 1
    assert v("h_empty_answer", response="  \n ... ") == 1
    assert v("h_empty_answer", response="42") == 0
    assert v("h_empty_answer", response="好") == 0
    # a final tool call with no text is not an empty answer
    s = tool_sample([call("get_weather", {"city": "Paris"})], final=None)
    s.response = ""
    assert compute("h_empty_answer", s) == (0.0, "answer is a tool call")
    assert compute("h_truncated_answer", s) == (None, "tool call")


@pytest.mark.parametrize(
    "text",
    [
        "The capital of France is Paris.",
        "Positive",
        "Here is the code:\n```python\nprint(1)\n```",
        "The answer is 42",
        "Steps:\n- mix flour\n- add eggs\n- bake for 20 minutes",
        "$$x = \\frac{1}{2}$$",
        "Use `pip install x` (see docs)",
        "Best regards,\nJohn Smith",
        "Thanks for writing to us.\n\nWe are sorry for the trouble.\n\nKind regards,\nThe Hartley & Green team",
        "1. Which material insulates best?\n2. Testing vitamin C in juices with iodine\n3. Building a wind turbine and measuring its output",
        "| a | b |\n|---|---|\n| 1 | 2 |",
    ],
)
def test_truncated_negatives(text):
    assert v("h_truncated_answer", response=text) == 0, text


@pytest.mark.parametrize(
    "text,why",
    [
        ("Here is the code:\n```python\ndef f(x):\n    return", "unclosed code fence"),
        ("There are three reasons. First, the", "ends with 'the'"),
        ("The main ingredients are flour,", "ends with ','"),
        ("Photosynthesis converts light energy into chemical energy stored in glucose molecules which plants", None),
        ("Paris is the capital of France. It is famous for its museums and its cuisine and its archite", None),
        ("First sentence here is complete.\nSecond line is also complete.\nThird line has been cut off mid", None),
        ("Intro text that is fine.\n\n## Conclusion", "ends with a heading"),
        ("It sells 180 + 360 = 540 tickets, so it takes 540 ×", "ends with '×'"),
        (
            "1. Keep a regular schedule every day.\n2. Make your bedroom dark, quiet and cool, and keep",
            "last list item without final punctuation",
        ),
    ],
)
def test_truncated_positives(text, why):
    val, reason = compute("h_truncated_answer", Sample(response=text))
    assert val == 1, text
    if why:
        assert reason == why


def test_truncated_code_domain():
    assert v("h_truncated_answer", response="def f(x):\n    return (x +", domain="code") == 1
    assert v("h_truncated_answer", response="def f(x):\n    return x", domain="code") == 0
    assert v("h_truncated_answer", response="s = ')('  # (\nprint(s)", domain="code") == 0
    assert compute("h_truncated_answer", Sample(response="")) == (None, "empty answer")


def test_ngram_repetition():
    rep = "I like apples very much. " * 30
    assert v("h_ngram_repetition", response=rep) > 0.9
    assert v("h_ngram_repetition", response="one two three four five six") == 0
    assert v("h_ngram_repetition", response="a b c a b c") == pytest.approx(1 - 3 / 4)
    assert compute("h_ngram_repetition", Sample(response="two words")) == (None, "fewer than 3 words")
    assert compute("h_ngram_repetition", Sample(response="")) == (None, "empty answer")


@pytest.mark.parametrize(
    "text",
    [
        "As an AI language model, I don't have personal opinions.",
        "I'm sorry, but I can't help with that request.",
        "I’m sorry, but I cannot provide instructions for that.",
        "I cannot assist with creating malware.",
        "Hello! I'm unable to browse the internet.",
        "Sure. Note that as a large language model I may be wrong: 4",
        "作为一个人工智能语言模型，我无法回答这个问题。",
    ],
)
def test_refusal_positives(text):
    assert v("h_refusal", response=text) == 1, text


@pytest.mark.parametrize(
    "text",
    [
        "The capital of France is Paris.",
        "Here is the function. Note that it cannot handle negative numbers, which I can fix later.",
        "In this story, the robot said it cannot feel, but the girl disagreed.",
        "I'm sorry for the confusion earlier; here is the corrected code.",
        "You cannot divide by zero, so the expression is undefined.",
    ],
)
def test_refusal_negatives(text):
    assert v("h_refusal", response=text) == 0, text


def test_charset_shares():
    assert v("h_ascii_share", response="Hello world") == 1
    assert v("h_cjk_share", response="Hello world") == 0
    assert v("h_cjk_share", response="你好") == 1
    assert v("h_ascii_share", response="ab你好") == pytest.approx(0.5)
    assert v("h_ascii_share", response="Grüße") == pytest.approx(3 / 5)  # G r e of G r ü ß e
    assert compute("h_ascii_share", Sample(response="123 456")) == (None, "no letters")


def test_overlap():
    kw = dict(instruction="Name the capital of France", response="The capital of France is Paris.")
    # response content types: capital, france, paris; instruction: name, capital, france
    assert v("h_instr_resp_overlap", **kw) == pytest.approx(2 / 3)
    assert v("h_instr_resp_jaccard", **kw) == pytest.approx(2 / 4)
    assert (
        v("h_instr_resp_overlap", instruction="Name the capital of France", response="Bananas are yellow fruit.") == 0
    )
    assert compute("h_instr_resp_overlap", Sample(instruction=None, response="x y")) == (None, "no instruction")
    assert compute("h_instr_resp_overlap", Sample(instruction="q", response="it is")) == (
        None,
        "no content words in answer",
    )


def test_code_parses():
    assert v("h_code_parses", response="Try:\n```python\ndef f(x):\n    return x * 2\n```") == 1
    val, reason = compute("h_code_parses", Sample(response="```python\ndef f(x)\n    return x\n```"))
    assert val == 0 and reason.startswith("block 1: line 1")
    # second block broken
    assert v("h_code_parses", response="```py\nx = 1\n```\ntext\n```python\nif x:\n```") == 0
    # REPL prompts are stripped
    assert v("h_code_parses", response="```pycon\n>>> x = 1\n>>> x + 1\n2\n```") == 1
    # whole response in the code domain
    assert v("h_code_parses", response="def f(x):\n    return x", domain="code") == 1
    assert v("h_code_parses", response="def f(x:\n    return x", domain="code") == 0
    assert compute("h_code_parses", Sample(response="plain prose.")) == (None, "no code")
    assert compute("h_code_parses", Sample(response="```js\nlet x = 1;\n```", domain="code")) == (
        None,
        "no python code",
    )
    # unclosed fence: parsed as far as it goes
    assert v("h_code_parses", response="```python\ndef f(:", domain="code") == 0


def test_math_final_number():
    m = dict(domain="math", instruction="How many apples?")
    assert compute("h_math_final_number", Sample(response="She has 3+2=5 apples.\n#### 5", **m))[0] == 1
    assert v("h_math_final_number", response="So x is \\boxed{\\frac{1}{2}}.", **m) == 1
    assert v("h_math_final_number", response="Adding them up. The answer is 12.", **m) == 1
    assert v("h_math_final_number", response="We have 3 apples. So the answer is the same.", **m) == 0
    assert compute("h_math_final_number", Sample(response="The answer is 3.")) == (None, "not math")
    assert compute(
        "h_math_final_number",
        Sample(response="Since n is even...", domain="math", instruction="Prove that n^2 is even"),
    ) == (None, "proof question")
    assert compute("h_math_final_number", Sample(response="", **m)) == (None, "empty answer")


def test_tool_call_valid():
    ok = tool_sample([call("get_weather", {"city": "Paris", "unit": "c"})])
    assert compute("h_tool_call_valid", ok) == (1.0, None)
    # arguments given as an object instead of a JSON string; bare function dict declarations
    bare = [WEATHER_TOOLS[0]["function"]]
    s = tool_sample([{"function": {"name": "get_weather", "arguments": {"city": "Rome"}}}], tools=bare)
    assert compute("h_tool_call_valid", s) == (1.0, None)
    # tools given as JSON text (as stored)
    s = tool_sample([call("get_weather", {"city": "Paris"})], tools=json.dumps(WEATHER_TOOLS))
    assert compute("h_tool_call_valid", s) == (1.0, None)

    cases = {
        "not valid JSON": [call("get_weather", '{"city": "Paris"')],
        "is not declared": [call("get_time", {"tz": "UTC"})],
        "'city' is a required property": [call("get_weather", {"unit": "c"})],
        "is not one of": [call("get_weather", {"city": "Paris", "unit": "kelvin"})],
        "not a JSON object": [call("get_weather", "[1, 2]")],
    }
    for why, calls in cases.items():
        val, reason = compute("h_tool_call_valid", tool_sample(calls))
        assert val == 0 and why in reason, (why, reason)
    # second of two calls is bad
    val, reason = compute(
        "h_tool_call_valid", tool_sample([call("get_weather", {"city": "A"}), call("get_weather", {"city": 3})])
    )
    assert val == 0 and reason.startswith("call 2")
    # no tools declared at all
    val, reason = compute("h_tool_call_valid", tool_sample([call("get_weather", {"city": "A"})], tools=None))
    assert val == 0 and "no tools declared" in reason
    # invalid declared schema
    broken = [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]
    val, reason = compute("h_tool_call_valid", tool_sample([call("f", {})], tools=broken))
    assert val == 0 and "invalid" in reason
    assert compute("h_tool_call_valid", Sample(response="hi", messages=[{"role": "user", "content": "x"}])) == (
        None,
        "no tool calls",
    )
    assert compute("h_tool_call_valid", Sample(response="hi")) == (None, "no tool calls")


def test_operator_errors_become_null_with_reason():
    s = Sample(response=12345)  # not a string: the operator raises inside
    val, reason = compute("h_refusal", s)
    assert val is None and reason.startswith("error: ")


# ------------------------------------------------------------------------------------------------
# the runner
# ------------------------------------------------------------------------------------------------

MIXED = [
    dict(instruction="Capital of France?", response="The capital of France is Paris."),
    dict(instruction="Say hi", response=""),
    dict(instruction="Tell me a secret", response="I'm sorry, but I can't share that."),
    dict(instruction="Repeat", response="buy now " * 50),
    dict(instruction="Write code", response="```python\ndef f(:\n```", domain="code"),
    dict(instruction="Write code", response="def f(x):\n    return x + 1", domain="code"),
    dict(instruction="How many?", response="2 + 3 = 5\n#### 5", domain="math"),
    dict(instruction="How many?", response="Add them together and you get the total.", domain="math"),
    dict(
        instruction="Weather in Paris?",
        response="",
        domain="tool_use",
        tools=WEATHER_TOOLS,
        tool_calls=[call("get_weather", {"city": "Paris"})],
    ),
    dict(
        instruction="Weather in Paris?",
        response="",
        domain="tool_use",
        tools=WEATHER_TOOLS,
        tool_calls=[call("get_weather", {"town": "Paris"})],
    ),
    # ends in "a": truncated by the prose rules, not by the code-domain rules (the runner must fetch domain)
    dict(
        instruction="gcd", response="def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a", domain="code"
    ),
]


def test_run_writes_every_operator_and_matches_compute(store):
    ids = add_samples(store, MIXED)
    seen = []
    out = run_heuristics(store, chunk=4, progress=seen.append)
    assert out == {name: len(MIXED) for name in OPERATORS}
    assert seen[-1].done == seen[-1].total == len(MIXED) and seen[-1].unit == "samples"
    # stored values equal the operator applied to the stored sample
    con = store.cursor()
    for sid, rec in zip(ids, MIXED):
        msgs = con.execute("SELECT messages::VARCHAR FROM samples WHERE id = ?", [sid]).fetchone()[0]
        s = Sample(
            sid,
            rec["instruction"],
            rec["response"],
            rec.get("domain", "general"),
            msgs,
            None if rec.get("tools") is None else json.dumps(rec["tools"]),
        )
        for name, op in OPERATORS.items():
            row = con.execute(
                "SELECT value, reason, version FROM scores WHERE sample_id = ? AND metric = ?", [sid, name]
            ).fetchall()
            assert len(row) == 1
            assert (row[0][0], row[0][1]) == op.compute(s), (name, rec)
            assert row[0][2] == op.version
            if row[0][0] is None:
                assert row[0][1]
    con.close()
    vals = metric_values(store, "h_tool_call_valid")
    assert [vals[i] for i in ids[8:10]] == [1.0, 0.0]
    assert metric_values(store, "h_truncated_answer")[ids[10]] == 0
    assert vals[ids[0]] is None
    infos = {m.metric: m for m in list_metrics(store)}
    assert infos["h_refusal"].definition == OPERATORS["h_refusal"].definition


def test_run_is_resumable(store):
    add_samples(store, MIXED * 3)
    n = len(MIXED) * 3
    first = run_heuristics(store, names=["h_resp_chars", "h_refusal"], chunk=7)
    assert first == {"h_resp_chars": n, "h_refusal": n}
    again = run_heuristics(store, names=["h_resp_chars", "h_refusal"], chunk=7)
    assert again == {"h_resp_chars": 0, "h_refusal": 0}
    # new samples only are computed; a newly asked operator computes everything
    add_samples(store, MIXED[:2])
    third = run_heuristics(store, names=["h_resp_chars", "h_empty_answer"], chunk=7)
    assert third == {"h_resp_chars": 2, "h_empty_answer": n + 2}


class CancelOnCheck(CancelToken):
    """Cancelled from the `n`-th check on (the runner checks once before each chunk)."""

    def __init__(self, n: int):
        super().__init__()
        self.n, self.calls = n, 0

    def check(self):
        self.calls += 1
        if self.calls >= self.n:
            self.cancel()
        super().check()


def test_cancel_keeps_finished_chunks_and_rerun_completes(store):
    recs = MIXED * 5  # 55 samples
    add_samples(store, recs)
    names = ["h_resp_chars", "h_ngram_repetition", "h_tool_call_valid"]
    with pytest.raises(Cancelled):
        run_heuristics(store, names=names, chunk=20, cancel=CancelOnCheck(2))
    con = store.cursor()
    counts = dict(con.execute("SELECT metric, count(*) FROM scores GROUP BY metric").fetchall())
    assert counts == {n: 20 for n in names}  # exactly the first chunk, committed
    rest = run_heuristics(store, names=names, chunk=20)
    assert rest == {n: len(recs) - 20 for n in names}
    rows = con.execute("SELECT metric, count(*), count(DISTINCT sample_id) FROM scores GROUP BY metric").fetchall()
    assert sorted(rows) == sorted((n, len(recs), len(recs)) for n in names)
    con.close()


def test_cancel_before_start(store):
    add_samples(store, MIXED)
    tok = CancelToken()
    tok.cancel()
    with pytest.raises(Cancelled):
        run_heuristics(store, names=["h_resp_chars"], cancel=tok)
    assert metric_values(store, "h_resp_chars") == {}


def test_pool_selection_and_unknown_name(store):
    a = add_samples(store, MIXED[:3], pool_id=1)
    b = add_samples(store, MIXED[3:6], pool_id=2)
    assert run_heuristics(store, names=["h_resp_chars"], pool_ids=[2]) == {"h_resp_chars": 3}
    assert set(metric_values(store, "h_resp_chars")) == set(b)
    assert run_heuristics(store, names=["h_resp_chars"], pool_ids=[]) == {"h_resp_chars": 0}
    assert run_heuristics(store, names=["h_resp_chars"]) == {"h_resp_chars": len(a)}
    with pytest.raises(KeyError, match="unknown heuristic"):
        run_heuristics(store, names=["h_nope"])


def test_sparse_ids_chunk_path(store):
    """Samples still to do are not contiguous in id space (a pool in between is done)."""
    a = add_samples(store, MIXED[:4], pool_id=1)
    add_samples(store, MIXED[4:8], pool_id=2)
    c = add_samples(store, MIXED[8:], pool_id=1)
    run_heuristics(store, names=["h_resp_chars"], pool_ids=[1], chunk=100)
    assert set(metric_values(store, "h_resp_chars")) == set(a + c)


# ------------------------------------------------------------------------------------------------
# rules
# ------------------------------------------------------------------------------------------------


def test_explain_filters_and_keep_mask(store):
    ids = add_samples(store, MIXED)
    run_heuristics(store)
    ex = explain_filters(store, h_filter_defaults)
    assert set(ex) == {"general", "code", "math", "tool_use"}
    g = ex["general"]
    assert (g.total, g.dropped, g.kept) == (4, 3, 1)
    assert g.rules["empty"].dropped == 1 and g.rules["refusal"].dropped == 1
    assert g.rules["repetitive"].dropped == 1 and g.rules["repetitive"].only == 1
    assert g.rules["code_unparsable"].dropped == 0 and g.rules["code_unparsable"].missing == 0
    assert ex["code"].rules["code_unparsable"].dropped == 1 and ex["code"].kept == 2
    assert ex["math"].rules["math_no_final_number"].dropped == 1 and ex["math"].kept == 1
    assert ex["tool_use"].rules["tool_call_invalid"].dropped == 1 and ex["tool_use"].kept == 1
    assert sum(d.total for d in ex.values()) == len(MIXED)
    assert "general" in format_explain(ex)

    mask = keep_mask(store, h_filter_defaults)
    assert mask.column("id").to_pylist() == ids
    keep = dict(zip(mask.column("id").to_pylist(), mask.column("keep").to_pylist()))
    assert [keep[i] for i in ids] == [True, False, False, False, False, True, True, False, True, False, True]
    assert mask.column("refusal").to_pylist()[2] is True

    # domain-limited rule, pool by name, and missing scores are kept and counted
    r = [Rule("long", "h_resp_chars", ">", 20, domains=("general",)), Rule("ifd", "ifd_ppl", ">", 1.0)]
    ex2 = explain_filters(store, r, pool="pool1")
    assert ex2["general"].rules["long"].dropped == 3  # Paris, refusal, repetition
    assert ex2["code"].rules["long"].dropped == 0
    assert ex2["general"].rules["ifd"].missing == 4 and ex2["general"].rules["ifd"].dropped == 0


def test_rule_python_semantics():
    r = Rule("x", "h_ngram_repetition", ">", 0.5, domains=("general",))
    assert r.drops(0.6, "general") and not r.drops(0.5, "general")
    assert not r.drops(None, "general") and not r.drops(0.9, "code")
    with pytest.raises(ValueError):
        Rule("bad", "m", "~", 1)


def test_explain_missing_scores_keep_everything(store):
    add_samples(store, MIXED[:3])
    ex = explain_filters(store)
    assert ex["general"].kept == 3
    assert ex["general"].rules["empty"].missing == 3
    # math rule applies only to math samples, so no 'missing' outside math
    assert ex["general"].rules["math_no_final_number"].missing == 0


# ------------------------------------------------------------------------------------------------
# bundled sample data: weak records are flagged far more often than clean ones
# ------------------------------------------------------------------------------------------------

FLAG = {  # weak kind -> (operator, predicate on the stored value)
    "empty_answer": ("h_empty_answer", lambda x: x == 1),
    "refusal": ("h_refusal", lambda x: x == 1),
    "repetitive": ("h_ngram_repetition", lambda x: x is not None and x > 0.5),
    "invalid_tool_call": ("h_tool_call_valid", lambda x: x == 0),
    "truncated_answer": ("h_truncated_answer", lambda x: x == 1),
}


def _load_records(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(ln) for ln in text.splitlines() if ln.strip()]
    data = json.loads(text)
    if isinstance(data, dict):  # {"data": [...]} or similar wrapper
        data = next((x for x in data.values() if isinstance(x, list)), [])
    return data


def _first(d: dict, *keys):
    for k in keys:
        if isinstance(d.get(k), str):
            return d[k]
    return None


def _to_sample(rec: dict) -> dict | None:
    """Our own reading of the common record shapes (alpaca, sharegpt, messages, qa/problem-solution)."""
    msgs = rec.get("messages") or rec.get("conversations")
    tools = rec.get("tools")
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except ValueError:
            pass
    if isinstance(msgs, list):
        role_map = {
            "human": "user",
            "user": "user",
            "gpt": "assistant",
            "assistant": "assistant",
            "system": "system",
            "tool": "tool",
            "function_call": "assistant",
            "observation": "tool",
            "function": "tool",
        }
        norm = []
        for m in msgs:
            role = role_map.get(m.get("role") or m.get("from"), m.get("role") or m.get("from"))
            content = m.get("content", m.get("value"))
            nm = {
                "role": role,
                "content": content if isinstance(content, str) else ("" if content is None else json.dumps(content)),
            }
            if m.get("tool_calls"):
                nm["tool_calls"] = m["tool_calls"]
            if (m.get("from") == "function_call") and isinstance(content, str):
                try:
                    c = json.loads(content)
                    nm["tool_calls"] = [
                        {"type": "function", "function": {"name": c.get("name"), "arguments": c.get("arguments")}}
                    ]
                    nm["content"] = ""
                except ValueError:
                    pass
            norm.append(nm)
        users = [m["content"] for m in norm if m["role"] == "user"]
        assts = [m for m in norm if m["role"] == "assistant"]
        return dict(
            messages=norm,
            instruction=users[0] if users else None,
            response=assts[-1]["content"] if assts else None,
            tools=tools,
        )
    instr = _first(rec, "instruction", "question", "problem", "prompt", "text", "query")
    if instr is not None and isinstance(rec.get("input"), str) and rec["input"].strip():
        instr = instr + "\n\n" + rec["input"]
    resp = _first(rec, "output", "response", "answer", "solution", "completion", "code", "reference")
    if instr is None and resp is None:
        return None
    return dict(instruction=instr, response=resp, tools=tools)


def _domain_of(name: str) -> str:
    n = name.lower()
    for key, dom in (
        ("tool", "tool_use"),
        ("func", "tool_use"),
        ("math", "math"),
        ("gsm", "math"),
        ("code", "code"),
        ("mbpp", "code"),
        ("python", "code"),
    ):
        if key in n:
            return dom
    return "general"


@pytest.mark.skipif(not (SAMPLE_DATA / "weak_manifest.json").exists(), reason="sample_data not there yet")
def test_sample_data_weak_records_are_flagged(store, capsys):
    manifest = json.loads((SAMPLE_DATA / "weak_manifest.json").read_text())
    files = manifest.get("files", manifest) if isinstance(manifest, dict) else manifest
    # weak: {file: {record_index: kind}}; accept {file: [{"index":..,"kind":..}]} or {file: {kind: [idx]}}
    weak: dict[str, dict[int, str]] = {}
    for fname, entries in files.items():
        d: dict[int, str] = {}
        if isinstance(entries, dict):
            for k, val in entries.items():
                if isinstance(val, list):
                    for i in val:
                        d[int(i)] = k
                else:
                    d[int(k)] = val
        else:
            for e in entries:
                d[int(e.get("index", e.get("record_index")))] = e["kind"]
        weak[fname] = d

    recs, meta = [], []  # meta: (kind or 'clean')
    for path in sorted((SAMPLE_DATA / "pools").glob("*")):
        if path.suffix not in (".jsonl", ".json"):
            continue
        key = next((k for k in weak if Path(k).name == path.name), None)
        kinds = weak.get(key, {}) if key else {}
        dom = _domain_of(path.stem)
        for i, rec in enumerate(_load_records(path)):
            s = _to_sample(rec) if isinstance(rec, dict) else None
            if s is None:
                continue
            s["domain"] = dom
            recs.append(s)
            meta.append(kinds.get(i, "clean"))
    # the eval sets are all clean and were not used to tune the operators: a held-out false-positive check
    for path in sorted((SAMPLE_DATA / "eval").glob("*.jsonl")):
        for rec in _load_records(path):
            smp = _to_sample(rec) if isinstance(rec, dict) else None
            if smp is not None and smp.get("response"):  # prompt-only eval records have no answer
                smp["domain"] = _domain_of(path.stem)
                recs.append(smp)
                meta.append("eval")
    assert recs, "no records read from sample_data/pools"
    ids = add_samples(store, recs)
    run_heuristics(store)
    vals = {op: metric_values(store, op) for op in OPERATORS}

    def rate(op, pred, kinds, only_applicable=False):
        xs = [vals[op].get(i) for i, k in zip(ids, meta) if k in kinds]
        if only_applicable:
            xs = [x for x in xs if x is not None]
        return sum(1 for x in xs if pred(x)), len(xs)

    report = []
    for kind, (op, pred) in FLAG.items():
        hit, n = rate(op, pred, {kind})
        if not n:
            continue
        # clean records the operator applies to (tool-call validity only on samples with tool calls)
        fp, nc = rate(op, pred, {"clean"}, only_applicable=(op == "h_tool_call_valid"))
        fpe, ne = rate(op, pred, {"eval"}, only_applicable=(op == "h_tool_call_valid"))
        report.append(
            f"{kind:<18} {op:<20} recall {hit / n:.2f} ({hit}/{n})  clean FP {fp / max(nc, 1):.3f} "
            f"({fp}/{nc})  eval FP {fpe}/{ne}"
        )
        assert hit / n >= 0.8, report[-1]
        assert fp / max(nc, 1) <= 0.1, report[-1]
        assert fpe / max(ne, 1) <= 0.1, report[-1]
    # informative only (no default rule): unrelated answers share little vocabulary with the question
    low = lambda x: x is not None and x < 0.02  # noqa: E731
    hit, n = rate("h_instr_resp_overlap", low, {"unrelated_answer"})
    fp, nc = rate("h_instr_resp_overlap", low, {"clean"}, only_applicable=True)
    if n:
        report.append(f"unrelated_answer   h_instr_resp_overlap<0.02 {hit}/{n}  clean {fp}/{nc} (not asserted)")
    with capsys.disabled():
        print("\nsample_data heuristics:\n  " + "\n  ".join(report))
    assert report


def test_empty_store(store):
    assert run_heuristics(store) == {name: 0 for name in OPERATORS}
    assert explain_filters(store) == {}


def test_docs_cover_every_operator_and_default_rule():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "heuristics.md").read_text()
    for name, op in OPERATORS.items():
        assert f"`{name}`" in doc, name
        assert op.definition in doc, name  # the stored definition text is the documented one
    for r in h_filter_defaults:
        assert f"`{r.name}`" in doc, r.name
