"""Eval-set formats: GSM8K (qa), MATH (problem/solution), MBPP, HumanEval, SVAMP, ASDiv, MMLU (mcq)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from engine.data.formats.fields import (
    _MISSING,
    FieldError,
    _get_str,
    _meta,
    _missing,
    _need_obj,
    _user_assistant,
    type_name,
)
from engine.data.formats.records import Normalized
from engine.data.formats.registry import FormatContext, FormatSpec, register


# -- GSM8K (question/answer), MATH (problem/solution) ----------------------------------------------
def _norm_qa(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    q = _get_str(rec, "question")
    a = _get_str(rec, "answer", nullable=True)
    meta = _meta(rec, ("question", "answer"))
    if a and "####" in a:
        meta["final_answer"] = a.rsplit("####", 1)[1].strip()
    return Normalized(_user_assistant(q, a), None, None, meta)


def _gsm8k_hint(sample: list) -> str | None:
    recs = [r for r in sample if isinstance(r, dict) and isinstance(r.get("answer"), str)]
    if recs and sum("####" in r["answer"] for r in recs) * 2 >= len(recs):
        return "math"
    return None


def boxed_answer(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) in a solution, braces balanced."""
    i = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if i < 0:
        return None
    j = text.find("{", i)
    if j < 0:
        return None
    depth = 0
    for k in range(j, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return text[j + 1 : k]
    return None


def _norm_problem(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    p = _get_str(rec, "problem")
    s = _get_str(rec, "solution", nullable=True)
    meta = _meta(rec, ("problem", "solution"))
    if s:
        ans = boxed_answer(s)
        if ans is not None:
            meta["final_answer"] = ans
    return Normalized(_user_assistant(p, s), None, None, meta)


# -- multiple choice (MMLU) ------------------------------------------------------------------------
_MCQ_LETTERS = ("A", "B", "C", "D", "E")


def _mcq_keys(rec: dict) -> tuple[str, list[str], str] | None:
    if "question" in rec and "answer" in rec and "A" in rec:
        return "question", [c for c in _MCQ_LETTERS if c in rec], "answer"
    pos = [k for k in rec if k.isdigit()]
    if len(pos) >= 4:
        pos.sort(key=int)
        return pos[0], pos[1:-1], pos[-1]
    return None


def _norm_mcq(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    keys = _mcq_keys(rec)
    if keys is None:
        raise FieldError(None, "expected question, A, B, C, D, answer columns")
    qk, ck, ak = keys
    q = _get_str(rec, qk)
    choices = [_get_str(rec, c) for c in ck]
    ans = _get_str(rec, ak).strip()
    letters = _MCQ_LETTERS[: len(choices)]
    if ans not in letters:
        raise FieldError(ak, f"expected an answer letter {'/'.join(letters)}, got {ans!r}")
    user = q + "".join(f"\n{letter}. {c}" for letter, c in zip(letters, choices))
    meta = _meta(rec, (qk, *ck, ak))
    meta.update(choices=choices, answer=ans)
    return Normalized(_user_assistant(user, ans), None, None, meta)


def _detect_mcq(r: Any) -> bool:
    if not isinstance(r, dict):
        return False
    keys = _mcq_keys(r)
    if keys is None:
        return False
    a = r.get(keys[2])
    return isinstance(a, str) and a.strip() in _MCQ_LETTERS


register(
    FormatSpec(
        "problem_solution",
        "MATH style: problem, solution (level/type kept in meta)",
        lambda r: isinstance(r, dict) and "problem" in r and "solution" in r,
        _norm_problem,
        required=lambda c: ["problem", "solution"],
        domain="math",
    )
)


register(
    FormatSpec(
        "qa",
        "question, answer (GSM8K: rationale ending in '#### <answer>')",
        lambda r: isinstance(r, dict) and isinstance(r.get("question"), str) and "answer" in r and not _detect_mcq(r),
        _norm_qa,
        required=lambda c: ["question", "answer"],
        domain_hint=_gsm8k_hint,
    )
)


register(FormatSpec("mcq", "multiple choice (MMLU CSV): question, A, B, C, D, answer letter", _detect_mcq, _norm_mcq))


# -- MBPP, HumanEval (code) ------------------------------------------------------------------------
def mbpp_prompt(text: str, tests: Sequence[str]) -> str:
    """The MBPP paper's prompt: task text plus the asserts the code must pass."""
    return (
        f"You are an expert Python programmer, and here is your task: {text} "
        f"Your code should pass these tests:\n\n" + "\n".join(tests)
    )


def _norm_mbpp(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    text = _get_str(rec, "text")
    code = _get_str(rec, "code", nullable=True)
    tests = rec.get("test_list", _MISSING)
    if tests is _MISSING:
        raise _missing(rec, "test_list")
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise FieldError("test_list", f"expected a list of strings, got {type_name(tests)}")
    meta = _meta(rec, ("text", "code"))
    return Normalized(_user_assistant(mbpp_prompt(text, tests), code), None, None, meta)


def humaneval_prompt(prompt: str) -> str:
    """The user turn of a HumanEval task: the function to complete, in a Python code block."""
    return "Complete the following Python function:\n\n```python\n" + prompt.strip("\n") + "\n```"


def humaneval_test(test: str, entry_point: str) -> str:
    """The one test statement block of a HumanEval task: its test code (which defines check(candidate))
    followed by the call check(entry_point)."""
    return test.rstrip("\n") + f"\n\ncheck({entry_point})\n"


def _norm_humaneval(rec: Any, ctx: FormatContext) -> Normalized:
    rec = _need_obj(rec)
    prompt = _get_str(rec, "prompt")
    test = _get_str(rec, "test")
    entry = _get_str(rec, "entry_point").strip()
    if not entry.isidentifier():
        raise FieldError("entry_point", f"expected a function name, got {entry!r}")
    sol = _get_str(rec, "canonical_solution", optional=True, nullable=True)
    reply = prompt + sol if sol is not None else None
    meta = _meta(rec, ("test", "canonical_solution", "entry_point"))
    meta.update(entry_point=entry, test_list=[humaneval_test(test, entry)])
    return Normalized(_user_assistant(humaneval_prompt(prompt), reply), None, None, meta)


def _detect_humaneval(r: Any) -> bool:
    return (
        isinstance(r, dict)
        and isinstance(r.get("prompt"), str)
        and isinstance(r.get("test"), str)
        and isinstance(r.get("entry_point"), str)
    )


register(
    FormatSpec(
        "mbpp",
        "MBPP code tasks: text, code, test_list (prompt = task + tests)",
        lambda r: isinstance(r, dict) and "text" in r and "code" in r and "test_list" in r,
        _norm_mbpp,
        required=lambda c: ["text", "code", "test_list"],
        domain="code",
    )
)


register(
    FormatSpec(
        "humaneval",
        "HumanEval code tasks: task_id, prompt, canonical_solution, test, "
        "entry_point (reply = prompt + canonical_solution; test + check(entry_point) run)",
        _detect_humaneval,
        _norm_humaneval,
        required=lambda c: ["prompt", "test", "entry_point"],
        domain="code",
    )
)


# -- SVAMP, ASDiv (math word problems) -------------------------------------------------------------
def _norm_key(k: str) -> str:
    return re.sub(r"[^a-z0-9]", "", k.lower())


def _key_of(rec: dict, name: str) -> str | None:
    """The record's key for `name`, ignoring case and separators ('Solution-Type' = 'solution_type')."""
    want = _norm_key(name)
    return next((k for k in rec if isinstance(k, str) and _norm_key(k) == want), None)


def _has_keys(r: Any, *names: str) -> bool:
    return isinstance(r, dict) and all(_key_of(r, n) is not None for n in names)


def _resolve_keys(*names: str):
    def resolve(sample: list, mapping: dict, fmt: str) -> tuple[dict, None]:
        recs = [r for r in sample if isinstance(r, dict)]
        return {n: next((k for r in recs if (k := _key_of(r, n))), n) for n in names}, None

    return resolve


def number_text(v: float) -> str:
    """A number as the reference text of the gsm8k scorer: 1.0 -> '1', 0.5 -> '0.5'."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


_ANSWER_NUMBER = re.compile(r"\$?\s*(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+)(?:\s*/\s*(\d+))?")


def word_problem_answer(answer: Any) -> tuple[str | None, str]:
    """(numeric reference or None, the answer without units) of a word problem's answer: 1.0 -> '1';
    '8 (apples)' -> '8'; '1,200 (people)' -> '1200'; '1/2 (cup)' -> '0.5'; '4:3' -> (None, '4:3');
    'Nancy' -> (None, 'Nancy'); '3 (dollars); 2 (dollars)' -> (None, '3; 2')."""
    if isinstance(answer, bool):
        return None, str(answer)
    if isinstance(answer, (int, float)):
        return number_text(answer), number_text(answer)
    text = re.sub(r"\s*\([^()]*\)", "", str(answer)).strip().rstrip(".")
    m = _ANSWER_NUMBER.fullmatch(text)
    if m:
        num = float(m.group(1).replace(",", ""))
        if m.group(2) and int(m.group(2)) != 0:
            num /= int(m.group(2))
        return number_text(num), text
    return None, text


def _norm_word_problem(rec: Any, ctx: FormatContext) -> Normalized:
    """SVAMP / ASDiv: prompt = Body + " " + Question; reply = the answer (SVAMP's number as text, ASDiv's
    string as given); meta["final_answer"] = the numeric reference (`word_problem_answer`), else the answer
    text without units; every other field (ID, Equation, Type, Formula, Solution-Type, ...) kept in meta."""
    rec = _need_obj(rec)
    keys = {}
    for n in ("Body", "Question", "Answer"):
        k = _key_of(rec, n)
        if k is None:
            raise _missing(rec, n)
        keys[n] = k
    body, question = _get_str(rec, keys["Body"]), _get_str(rec, keys["Question"])
    raw = rec[keys["Answer"]]
    if raw is None:
        reply, final = None, None
    else:
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise FieldError(keys["Answer"], f"expected a number or a string, got {type_name(raw)}")
        final, text = word_problem_answer(raw)
        if final is None and not text:
            raise FieldError(keys["Answer"], "empty answer")
        reply = raw.strip() if isinstance(raw, str) else final
        final = final if final is not None else text.replace(";", ",")
    user = " ".join(p.strip() for p in (body, question) if p and p.strip())
    meta = _meta(rec, tuple(keys.values()))
    if final is not None:
        meta["final_answer"] = final
    return Normalized(_user_assistant(user, reply), None, None, meta)


def _detect_svamp(r: Any) -> bool:
    return _has_keys(r, "Body", "Question", "Answer", "Equation")


def _detect_asdiv(r: Any) -> bool:
    return _has_keys(r, "Body", "Question", "Answer") and (
        _key_of(r, "Formula") is not None or _key_of(r, "Solution-Type") is not None
    )


def _word_problem_spec(name: str, description: str, detect) -> FormatSpec:
    """A math word-problem format: Body, Question and Answer columns, normalised by _norm_word_problem."""
    return FormatSpec(
        name,
        description,
        detect,
        _norm_word_problem,
        resolve=_resolve_keys("Body", "Question", "Answer"),
        required=lambda c: [c.keys["Body"], c.keys["Question"], c.keys["Answer"]],
        domain="math",
    )


register(
    _word_problem_spec(
        "svamp",
        "SVAMP word problems: Body, Question, Equation, Answer (number), Type (prompt = Body + ' ' + Question)",
        _detect_svamp,
    )
)
register(
    _word_problem_spec(
        "asdiv",
        "ASDiv word problems: Body, Question, Answer ('8 (apples)'), Formula, "
        "Solution-Type (prompt = Body + ' ' + Question)",
        _detect_asdiv,
    )
)
