"""Format detection and normalisation, record by record (no store needed)."""

import json

import pytest

from engine.data.formats import (
    FORMATS,
    FieldError,
    RecordIssue,
    boxed_answer,
    detect_format,
    make_context,
    mbpp_prompt,
    parse_apibench_code,
    split_user,
    suggest_domain,
)


def norm(fmt, rec, mapping=None, sample=None):
    ctx = make_context(fmt, sample or [rec], mapping)
    return FORMATS[fmt].normalize(rec, ctx)


def roles(n):
    return [m["role"] for m in n.messages]


def test_alpaca_joins_instruction_and_input_and_keeps_extra_fields_in_meta():
    n = norm("alpaca", {"instruction": "Sum", "input": "1 2", "output": "3", "category": "math"})
    assert n.messages == [{"role": "user", "content": "Sum\n1 2"}, {"role": "assistant", "content": "3"}]
    assert n.meta == {"category": "math", "input_split": 3}
    assert (n.instruction, n.response, n.n_turns) == ("Sum\n1 2", "3", 2)


@pytest.mark.parametrize(
    "fmt, rec, mapping, instruction, inp",
    [
        (
            "alpaca",
            {"instruction": "Line 1\nLine 2", "input": "in\nput", "output": "o"},
            None,
            "Line 1\nLine 2",
            "in\nput",
        ),
        (
            "alpaca",
            {"instruction": "e\u0301 👍🏽 日本\n", "input": "\n", "output": "o"},
            None,
            "e\u0301 👍🏽 日本\n",
            "\n",
        ),
        ("alpaca", {"instruction": "", "input": "only input", "output": "o"}, None, "", "only input"),
        (
            "dolly",
            {"instruction": "Sum up\nthis", "context": "long text", "response": "r"},
            None,
            "Sum up\nthis",
            "long text",
        ),
        (
            "mapping",
            {"q": "Why?\n", "ctx": "because", "a": "ok"},
            {"prompt": "q", "query": "ctx", "response": "a"},
            "Why?\n",
            "because",
        ),
        ("prompt_only", {"instruction": "Translate", "input": "chat"}, None, "Translate", "chat"),
    ],
)
def test_input_split_recovers_instruction_and_input_exactly(fmt, rec, mapping, instruction, inp):
    n = norm(fmt, rec, mapping=mapping)
    assert n.instruction == instruction + "\n" + inp
    assert n.meta["input_split"] == len(instruction) and type(n.meta["input_split"]) is int
    assert split_user(n.instruction, n.meta["input_split"]) == (instruction, inp)


@pytest.mark.parametrize(
    "rec",
    [
        {"instruction": "No input", "input": "", "output": "o"},
        {"instruction": "No input", "input": None, "output": "o"},
        {"instruction": "No input", "output": "o"},
    ],
)
def test_no_input_split_without_an_input(rec):
    assert "input_split" not in norm("alpaca", rec).meta


def test_input_split_with_history_and_an_original_field_of_that_name():
    rec = {"instruction": "a\nb", "input": "c", "output": "d", "history": [["h", "r"]], "input_split": "x", "id": 7}
    n = norm("alpaca", rec)
    assert n.messages[-2] == {"role": "user", "content": "a\nb\nc"}
    assert list(n.meta.items()) == [("id", 7), ("input_split", 3)]  # replaced, and last (as the SQL path)
    n = norm("alpaca", {"instruction": "i", "input": "", "output": "o", "input_split": "x"})
    assert n.meta == {"input_split": "x"}  # no input: the original field is kept as it is
    assert split_user("i", "x") is None and split_user("ab", 1) is None and split_user("a\nb", True) is None


def test_alpaca_response_key_system_and_history():
    rec = {"instruction": "and now?", "input": "", "response": "b", "system": "be brief", "history": [["first", "a"]]}
    n = norm("alpaca", rec)
    assert roles(n) == ["system", "user", "assistant", "user", "assistant"]
    assert n.system == "be brief"
    assert n.messages[1]["content"] == "first" and n.messages[-1]["content"] == "b"
    assert n.n_turns == 4 and n.instruction == "first" and n.response == "b"


def test_alpaca_null_output_means_prompt_only_but_missing_output_is_an_error():
    n = norm("alpaca", {"instruction": "q", "output": None})
    assert roles(n) == ["user"] and n.response == ""
    with pytest.raises(FieldError) as e:
        norm("alpaca", {"instruction": "q", "input": ""}, sample=[{"instruction": "x", "output": "y"}])
    assert e.value.field == "output" and "missing" in e.value.message


def test_alpaca_wrong_type_names_the_field():
    with pytest.raises(FieldError) as e:
        norm("alpaca", {"instruction": "q", "output": ["a", "b"]})
    assert e.value.field == "output" and e.value.message == "expected a string, got list"
    with pytest.raises(FieldError) as e:
        norm("alpaca", {"instruction": "q", "output": "a", "history": [["only one"]]})
    assert e.value.field == "history[0]"


def test_sharegpt_tool_calls_observations_and_tools_string():
    rec = {
        "conversations": [
            {"from": "human", "value": "weather in Paris?"},
            {"from": "function_call", "value": json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})},
            {"from": "observation", "value": '{"temp": 20}'},
            {"from": "gpt", "value": "It is 20 degrees."},
        ],
        "tools": json.dumps([{"name": "get_weather", "parameters": {"type": "object"}}]),
    }
    n = norm("sharegpt", rec)
    assert roles(n) == ["user", "assistant", "tool", "assistant"]
    call = n.messages[1]["tool_calls"][0]
    assert call == {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert n.tools == [{"name": "get_weather", "parameters": {"type": "object"}}]
    assert n.n_turns == 3 and n.response == "It is 20 degrees."


def test_sharegpt_system_turn_user_assistant_aliases_and_tools_list():
    rec = {
        "conversations": [
            {"from": "system", "value": "sys"},
            {"from": "user", "value": "hi"},
            {"from": "assistant", "value": "yo"},
        ],
        "tools": [{"name": "f"}],
    }
    n = norm("sharegpt", rec)
    assert n.system == "sys" and roles(n) == ["system", "user", "assistant"] and n.tools == [{"name": "f"}]


def test_sharegpt_messages_variant_with_role_content():
    rec = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    n = norm(
        "sharegpt",
        rec,
        mapping={
            "messages": "messages",
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    )
    assert roles(n) == ["user", "assistant"]


def test_sharegpt_conversations_with_role_content_keys():
    rec = {"conversations": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    assert detect_format([rec])[0] == "sharegpt"
    n = norm("sharegpt", rec)
    assert n.messages == [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]


def test_sharegpt_errors_name_the_turn():
    with pytest.raises(FieldError) as e:
        norm("sharegpt", {"conversations": [{"from": "human", "value": "a"}, {"from": "robot", "value": "b"}]})
    assert e.value.field == "conversations[1].from" and "unknown role 'robot'" in e.value.message
    with pytest.raises(FieldError) as e:
        norm(
            "sharegpt",
            {"conversations": [{"from": "human", "value": "a"}, {"from": "function_call", "value": "{not json"}]},
        )
    assert e.value.field == "conversations[1].value"
    with pytest.raises(FieldError) as e:
        norm("sharegpt", {"conversations": [{"from": "human", "value": 3}]})
    assert e.value.field == "conversations[0].value" and "got integer" in e.value.message


def test_openai_messages_with_tool_calls_and_tool_role():
    rec = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "2+2?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": '{"e": "2+2"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "4"},
            {"role": "assistant", "content": "4", "weight": 1},
        ],
        "tools": [{"type": "function", "function": {"name": "calc"}}],
    }
    n = norm("messages", rec)
    assert roles(n) == ["system", "user", "assistant", "tool", "assistant"]
    assert n.system == "s"
    assert n.messages[2] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "calc", "arguments": '{"e": "2+2"}'}}],
    }
    assert n.messages[3]["tool_call_id"] == "c1"
    assert n.meta == {"message_extras": {"4": {"weight": 1}}}
    assert n.n_turns == 3


def test_dolly_prompt_completion_qa_problem_solution():
    n = norm("dolly", {"instruction": "Summarise", "context": "text", "response": "sum", "category": "summarization"})
    assert n.instruction == "Summarise\ntext" and n.meta == {"category": "summarization", "input_split": 9}
    n = norm("prompt_completion", {"prompt": "p", "completion": "c<|endoftext|>"})
    assert n.response == "c<|endoftext|>"  # kept verbatim
    n = norm("qa", {"question": "q", "answer": "because\n#### 72"})
    assert n.meta == {"final_answer": "72"}
    n = norm(
        "problem_solution",
        {"problem": "p", "solution": "so $\\boxed{\\frac{9}{7}}$.", "level": "Level 4", "type": "Algebra"},
    )
    assert n.meta == {"level": "Level 4", "type": "Algebra", "final_answer": "\\frac{9}{7}"}


def test_boxed_answer_balances_braces():
    assert boxed_answer("x \\boxed{a{b}c} y") == "a{b}c"
    assert boxed_answer("none") is None


def test_mbpp_prompt_has_task_and_tests_and_keeps_tests_in_meta():
    rec = {"text": "Write f.", "code": "def f(): pass", "task_id": 3, "test_list": ["assert f() is None"]}
    n = norm("mbpp", rec)
    assert n.instruction == mbpp_prompt("Write f.", ["assert f() is None"])
    assert n.instruction.startswith("You are an expert Python programmer, and here is your task: Write f.")
    assert n.instruction.endswith("Your code should pass these tests:\n\nassert f() is None")
    assert n.response == "def f(): pass"
    assert n.meta == {"task_id": 3, "test_list": ["assert f() is None"]}


def test_bfcl_openfunctions_apibench():
    n = norm(
        "bfcl",
        {
            "id": "simple_1",
            "question": [[{"role": "user", "content": "area?"}]],
            "function": [{"name": "area", "parameters": {"type": "dict"}}],
        },
    )
    assert roles(n) == ["user"] and n.tools[0]["name"] == "area" and n.meta == {"id": "simple_1"}
    n = norm(
        "openfunctions",
        {"question": "book", "function": {"name": "Book", "api_call": "b.book"}, "model_answer": "b.book(x=1)"},
    )
    assert n.tools == [{"name": "Book", "api_call": "b.book"}] and n.response == "b.book(x=1)"
    code = "{'Instruction': Find a model., 'Output': {'api_call': 'load()', 'code': 'x'}}"
    assert parse_apibench_code(code) == ("Find a model.", "{'api_call': 'load()', 'code': 'x'}")
    assert parse_apibench_code("###Instruction: Do it. ###Output: <<<api_call>>>: f()") == (
        "Do it.",
        "<<<api_call>>>: f()",
    )
    n = norm("apibench", {"code": code, "api_call": "load()", "provider": "PyTorch"})
    assert n.instruction == "Find a model." and n.meta == {"api_call": "load()", "provider": "PyTorch"}


def test_self_instruct_uses_first_instance_and_keeps_the_rest():
    rec = {
        "id": "s1",
        "instruction": "Antonym",
        "instances": [{"input": "hot", "output": "cold"}, {"input": "up", "output": "down"}],
    }
    n = norm("self_instruct", rec)
    assert n.messages == [{"role": "user", "content": "Antonym\nhot"}, {"role": "assistant", "content": "cold"}]
    assert n.meta == {"id": "s1", "more_instances": [{"input": "up", "output": "down"}]}


def test_mcq_headerless_and_headered():
    n = norm("mcq", {"0": "2+2?", "1": "3", "2": "4", "3": "5", "4": "6", "5": "B"})
    assert n.instruction == "2+2?\nA. 3\nB. 4\nC. 5\nD. 6" and n.response == "B"
    assert n.meta == {"choices": ["3", "4", "5", "6"], "answer": "B"}
    n = norm("mcq", {"question": "q", "A": "a", "B": "b", "C": "c", "D": "d", "answer": "D"})
    assert n.response == "D"
    with pytest.raises(FieldError):
        norm("mcq", {"0": "q", "1": "a", "2": "b", "3": "c", "4": "d", "5": "Z"})


def test_prompt_only_wizardlm_and_lima():
    n = norm("prompt_only", {"idx": 1, "Skill": "Math", "Instruction": "2+2?"})
    assert roles(n) == ["user"] and n.n_turns == 1 and n.meta == {"idx": 1, "Skill": "Math"}
    n = norm("prompt_only", {"instruction": "Translate", "input": "chat"})
    assert n.messages == [{"role": "user", "content": "Translate\nchat"}] and n.meta == {"input_split": 9}
    n = norm("prompt_only", {"conversations": "Tell me a joke"})
    assert n.messages == [{"role": "user", "content": "Tell me a joke"}] and n.response == ""


def test_mapping_format_uses_only_mapped_columns():
    rec = {"q": "question", "ctx": "extra", "a": "answer", "other": 1}
    n = norm("mapping", rec, mapping={"instruction": "q", "input": "ctx", "output": "a"})
    assert n.messages == [{"role": "user", "content": "question\nextra"}, {"role": "assistant", "content": "answer"}]
    assert n.meta == {"other": 1, "input_split": 8}
    n = norm("mapping", {"p": "x", "r": "y"}, mapping={"prompt": "p", "response": "r"})
    assert n.response == "y"


@pytest.mark.parametrize(
    "rec,fmt",
    [
        ({"instruction": "a", "input": "", "output": "b"}, "alpaca"),
        ({"instruction": "a", "input": "", "response": "b"}, "alpaca"),
        ({"instruction": "a", "context": "", "response": "b", "category": "qa"}, "dolly"),
        ({"conversations": [{"from": "human", "value": "a"}]}, "sharegpt"),
        ({"messages": [{"role": "user", "content": "a"}]}, "messages"),
        ({"prompt": "a", "completion": "b"}, "prompt_completion"),
        ({"question": "a", "answer": "b #### 1"}, "qa"),
        ({"problem": "a", "solution": "b", "level": "Level 1"}, "problem_solution"),
        ({"text": "a", "code": "b", "test_list": []}, "mbpp"),
        ({"question": [[{"role": "user", "content": "a"}]], "function": []}, "bfcl"),
        ({"question": "a", "function": {"name": "f"}, "model_answer": "f()"}, "openfunctions"),
        ({"code": "{'Instruction': a, 'Output': b}", "api_call": "x"}, "apibench"),
        ({"instruction": "a", "instances": [{"input": "", "output": "b"}]}, "self_instruct"),
        ({"0": "q", "1": "a", "2": "b", "3": "c", "4": "d", "5": "A"}, "mcq"),
        ({"Instruction": "a", "Skill": "x"}, "prompt_only"),
        ({"conversations": "a"}, "prompt_only"),
    ],
)
def test_detection(rec, fmt):
    got, reason = detect_format([rec] * 3)
    assert got == fmt, reason
    assert "3/3" in reason


def test_detection_reason_and_unknown_keys():
    fmt, reason = detect_format([{"foo": 1}, {"bar": 2}])
    assert fmt is None and "foo" in reason and "bar" in reason
    fmt, reason = detect_format([{"instruction": "a", "input": "", "output": "b"}] * 20)
    assert fmt == "alpaca" and reason == "alpaca: keys input/instruction/output in 20/20 sampled records"


def test_mapping_forces_mapping_detection():
    assert detect_format([{"a": 1}], {"instruction": "a", "output": "b"})[0] == "mapping"
    assert detect_format([{"a": 1}], {"messages": "a"})[0] == "sharegpt"


def test_suggested_domains():
    def sd(fmt, recs):
        ctx = make_context(fmt, recs, None)
        return suggest_domain(fmt, recs, [FORMATS[fmt].normalize(r, ctx) for r in recs])

    assert sd("qa", [{"question": "q", "answer": "x\n#### 3"}]) == "math"
    assert sd("qa", [{"question": "q", "answer": "Paris"}]) is None
    assert sd("mbpp", [{"text": "a", "code": "b", "test_list": []}]) == "code"
    assert sd("alpaca", [{"instruction": "a", "output": "```python\nprint(1)\n```"}]) == "code"
    assert (
        sd("sharegpt", [{"conversations": [{"from": "human", "value": "a"}], "tools": '[{"name": "f"}]'}]) == "tool_use"
    )
    assert sd("alpaca", [{"instruction": "tell a story", "output": "Once upon a time"}]) is None


def test_record_issue_text():
    i = RecordIssue("/data/train.jsonl", 17, 16, "output", "expected a string, got list")
    assert str(i) == "train.jsonl:17 (record 16) field 'output': expected a string, got list"
    assert str(RecordIssue("/d/x.parquet", None, None, None, "file is empty")) == "x.parquet: file is empty"


def test_content_hash_is_pinned_and_ignores_json_key_order():
    import hashlib

    from engine.data.formats import content_hash

    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert content_hash(msgs, None, None) == hashlib.md5(b"\x1e\x1euser\x1fhi\x1dassistant\x1fyo").hexdigest()
    a = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}],
        }
    ]
    b = [
        {
            "content": "",
            "tool_calls": [{"function": {"arguments": "{}", "name": "f"}, "type": "function"}],
            "role": "assistant",
        }
    ]
    assert content_hash(a, "s", [{"name": "f", "parameters": {}}]) == content_hash(
        b, "s", [{"parameters": {}, "name": "f"}]
    )
    assert content_hash(a, "s", None) != content_hash(a, None, None)
