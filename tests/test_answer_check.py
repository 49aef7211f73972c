"""Scorers on hand-made right and wrong answers."""

from __future__ import annotations

import json

import pytest

from engine.evaluation.scorers import (
    AnswerCheckError,
    check,
    check_choice,
    check_code,
    check_gsm8k,
    check_math,
    check_nll,
    check_tool_calls,
    extract_code,
    gsm8k_prediction,
    last_number,
    parse_tool_calls,
)

GSM_REF = "He buys 6 x 35 = 210.\n210 - 148 = 62\n#### 62"


@pytest.mark.parametrize(
    "output, ok",
    [
        ("210 - 148 = 62. The answer is 62.", True),
        ("So there are 62 paperbacks left", True),
        ("Step: 6*35=210\n#### 62", True),
        ("#### 62.0", True),
        ("The answer is $1,062.", False),
        ("62 ... no wait, it is 63", False),
        ("I don't know", False),
        ("", False),
    ],
)
def test_gsm8k(output, ok):
    assert check_gsm8k(output, GSM_REF).correct is ok


def test_gsm8k_numbers():
    assert last_number("costs $1,234.50 in total.") == "1234.50"
    assert check_gsm8k("total 1,234.5", "#### 1234.50").correct
    assert gsm8k_prediction("#### 7 and then 9") == "7"
    with pytest.raises(AnswerCheckError, match="no number"):
        check_gsm8k("1", "#### none")


@pytest.mark.parametrize(
    "output, ok",
    [
        ("so the answer is \\boxed{\\frac{1}{2}}", True),
        ("The value is \\boxed{0.5}.", True),
        ("\\boxed{\\dfrac12}", True),
        ("\\boxed{\\frac{1}{3}}", False),
        ("I think it is 2", False),
    ],
)
def test_math(output, ok):
    ref = "We compute ... hence the probability is $\\boxed{\\frac{1}{2}}$."
    assert check_math(output, ref).correct is ok


def test_math_symbolic():
    assert check_math("\\boxed{\\sqrt{3}/2}", "\\boxed{\\frac{\\sqrt{3}}{2}}").correct
    assert check_math("\\boxed{x^2+2x+1}", "\\boxed{(x+1)^2}").correct
    assert not check_math("\\boxed{x^2+1}", "\\boxed{(x+1)^2}").correct
    with pytest.raises(AnswerCheckError):
        check_math("1", "")


def test_extract_code():
    out = "Here you go:\n```python\ndef f(x):\n    return x\n```\nand a test\n```\nprint(f(1))\n```"
    assert extract_code(out) == "def f(x):\n    return x\n"
    assert extract_code("def f(x): return x") == "def f(x): return x"


@pytest.mark.slow
def test_code_right_wrong_and_partial():
    tests = ["assert sq(2) == 4", "assert sq(0) == 0", "assert sq(-3) == 9"]
    right = check_code("```python\ndef sq(x):\n    return x * x\n```", tests)
    assert right.correct and right.score == 1.0
    wrong = check_code("def sq(x):\n    return 2 * x\n", tests)
    assert wrong.correct is False and wrong.score == pytest.approx(2 / 3)
    assert wrong.details["status"] == "failed"
    loop = check_code("def sq(x):\n    while True: pass\n", tests)
    assert loop.correct is False
    with pytest.raises(AnswerCheckError, match="assert"):
        check_code("def sq(x): return x", [])


TOOLS_EXPECTED = [{"name": "get_current_weather", "arguments": {"location": "Buenos Aires"}}]


@pytest.mark.parametrize(
    "output, ok",
    [
        ('{"name": "get_current_weather", "arguments": {"location": "Buenos Aires"}}', True),
        (
            '<tool_call>\n{"name": "get_current_weather", "arguments": {"location": " buenos aires", "unit": "celsius"}}'
            "\n</tool_call>",
            True,
        ),
        ('get_current_weather(location="Buenos Aires")', True),
        (
            '[{"type": "function", "function": {"name": "get_current_weather", "arguments": "{\\"location\\": '
            '\\"Buenos Aires\\"}"}}]',
            True,
        ),
        ('{"name": "get_current_weather", "arguments": {"location": "Lima"}}', False),
        ('{"name": "get_weather_forecast", "arguments": {"location": "Buenos Aires"}}', False),
        ('{"name": "get_current_weather", "arguments": {}}', False),
        ("It is sunny in Buenos Aires.", False),
    ],
)
def test_tool_expected_calls(output, ok):
    assert check_tool_calls(output, TOOLS_EXPECTED).correct is ok


def test_tool_bfcl_ground_truth_parallel_and_optional():
    gt = [
        {"calc_area": {"base": [10], "height": [5], "unit": ["units", ""]}},
        {"calc_area": {"base": [3], "height": [4], "unit": ["", "units"]}},
    ]
    assert check_tool_calls("[calc_area(base=3, height=4), calc_area(base=10, height=5.0, unit='units')]", gt).correct
    # one call only, a wrong value, and an argument the function does not take
    assert not check_tool_calls("[calc_area(base=3, height=4)]", gt).correct
    assert not check_tool_calls("[calc_area(base=3, height=4), calc_area(base=10, height=6)]", gt).correct
    bad = check_tool_calls("[calc_area(base=3, height=4, colour='red'), calc_area(base=10, height=5)]", gt)
    assert not bad.correct and "unexpected" in bad.details["why"]


def test_tool_no_call_expected():
    assert check_tool_calls("I need the city first. Which city?", []).correct
    assert not check_tool_calls('{"name": "search_web", "arguments": {"query": "x"}}', []).correct


def test_parse_tool_calls_shapes():
    assert parse_tool_calls("math.factorial(number=5)") == [{"name": "math.factorial", "arguments": {"number": 5}}]
    assert parse_tool_calls({"name": "f", "arguments": '{"a": 1}'}) == [{"name": "f", "arguments": {"a": 1}}]
    assert parse_tool_calls("no call here") == []
    with pytest.raises(AnswerCheckError):
        check_tool_calls("f()", [{"f": {"a": 1}}])  # acceptable values must be lists


def test_choice_and_nll():
    c = check_choice([-5.0, -1.0, -3.0, -9.0], 1)
    assert c.correct and c.extracted == "B"
    assert not check_choice([-5.0, -1.0, -3.0, -9.0], 0).correct
    # length normalisation: option A is long but likelier per token
    assert check_choice([-6.0, -4.0], 0, n_tokens=[6, 2]).correct
    assert not check_choice([-6.0, -4.0], 0, n_tokens=[6, 2], normalize=False).correct
    with pytest.raises(AnswerCheckError):
        check_choice([-1.0], 3)
    assert check_nll(1.25).score == 1.25 and check_nll(1.25).correct is None


def test_dispatch_and_unknown_scorer():
    assert check("gsm8k", "62", {"answer": GSM_REF}).correct
    assert check("tool", json.dumps(TOOLS_EXPECTED[0]), {"calls": TOOLS_EXPECTED}).correct
    with pytest.raises(AnswerCheckError, match="unknown scorer"):
        check("bleu", "x", {})
