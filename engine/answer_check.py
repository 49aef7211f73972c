"""Answer checkers (scorers) for evaluation items: pure functions over a model output and a reference.

Scorers (the `scorer` name stored per eval item):
- ``gsm8k``: final-number exact match. Reference: the number after ``####`` in the reference solution (or a
  plain number). Prediction: the number after ``####`` in the output when present, else the last number in
  the output. Commas, ``$`` and a trailing ``.`` are dropped; numbers compare numerically (|a-b| <= 1e-6).
- ``math``: MATH-style. The reference is the solution's last ``\\boxed{}`` (or a bare answer); the prediction is
  the output's last ``\\boxed{}`` (else the whole output). Both are parsed and compared with `math-verify`
  (LaTeX normalisation, symbolic and numeric equivalence).
- ``code``: the code block of the output (first fenced ```python block that defines a function, else the first
  fenced block, else the whole output) is run with the task's asserts in `engine.sandbox` (a child process
  with limits); correct = every assert passes; score = share of asserts passed.
- ``tool``: BFCL AST-checker rules (engine/tool_calls.py). The output's calls are parsed (JSON object/list,
  OpenAI ``tool_calls``, ``<tool_call>`` tags, or Python call syntax ``f(a=1)``); expected and produced calls
  are paired by a maximum bipartite matching (order-free, any number of calls) and each pair needs the same
  function name (case-sensitive), the required arguments, no unexpected argument, values of the schema's type
  (the item's declared tools) and each value among the acceptable ones (BFCL string normalisation, nested
  dict answers). Reference: BFCL ``ground_truth`` ``[{name: {arg: [acceptable, ...]}}]`` (``""`` in the list
  = optional argument) or ``expected_calls`` ``[{name, arguments}]`` (each value the one acceptable value;
  extra declared arguments allowed). No expected call = the output must make no call.
- ``choice``: multiple choice by option log-likelihood (computed by `engine.evaluation` with the model);
  `check_choice` picks the option with the highest (length-normalised by default) log-likelihood.
- ``nll``: general: held-out response NLL (mean per-token negative log-likelihood of the reference
  response); no right/wrong (correct is None); lower is better.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

SCORERS = ("gsm8k", "math", "code", "tool", "choice", "nll")


class AnswerCheckError(ValueError):
    """A reference that a scorer cannot use (names the scorer and what is wrong)."""


@dataclass
class Check:
    """A scorer's verdict: correct (None when the scorer has no right/wrong), what was extracted, a score
    in [0, 1] (or the NLL for ``nll``) and scorer-specific details."""

    correct: bool | None
    extracted: str | None
    score: float | None = None
    details: dict = field(default_factory=dict)


# -- numbers (GSM8K) -------------------------------------------------------------------------------
_NUM = re.compile(r"-?\$?\s?\d[\d,]*(?:\.\d+)?|-?\$?\s?\.\d+")


def _to_float(s: str) -> float | None:
    s = s.replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    try:
        return float(s)
    except ValueError:
        return None


def last_number(text: str) -> str | None:
    """The last number written in `text` (commas and $ allowed), as written minus those; None if none."""
    if not text:
        return None
    found = _NUM.findall(text)
    if not found:
        return None
    return found[-1].replace(",", "").replace("$", "").replace(" ", "").rstrip(".")


def gsm8k_reference(answer: str) -> str:
    """The final answer of a GSM8K reference: the text after the last ``####`` (or a bare number)."""
    if not isinstance(answer, str) or not answer.strip():
        raise AnswerCheckError("gsm8k: the reference answer is empty")
    if "####" in answer:
        ref = answer.rsplit("####", 1)[1].strip()
    else:
        ref = answer.strip()
    n = last_number(ref)
    if n is None:
        raise AnswerCheckError(f"gsm8k: no number in the reference answer {ref[:60]!r}")
    return n


def gsm8k_prediction(output: str) -> str | None:
    """The model's final number: after its last ``####`` when it wrote one, else its last number."""
    if not output:
        return None
    if "####" in output:
        found = _NUM.findall(output.rsplit("####", 1)[1])
        if found:
            return found[0].replace(",", "").replace("$", "").replace(" ", "").rstrip(".")
    return last_number(output)


def check_gsm8k(output: str, reference: str) -> Check:
    """Final-number exact match (numeric, tolerance 1e-6)."""
    ref = gsm8k_reference(reference)
    pred = gsm8k_prediction(output or "")
    a, b = _to_float(ref), (_to_float(pred) if pred is not None else None)
    ok = a is not None and b is not None and abs(a - b) <= 1e-6
    return Check(ok, pred, 1.0 if ok else 0.0, {"reference": ref})


# -- MATH (boxed answers, math-verify) ----------------------------------------------------------------
def boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` in `text`, braces balanced."""
    from engine.formats import boxed_answer

    return boxed_answer(text or "")


def _mv_timeout() -> int | None:
    # math-verify's timeouts use signal.alarm, which only works in the main thread
    return 5 if threading.current_thread() is threading.main_thread() else None


def check_math(output: str, reference: str) -> Check:
    """MATH-style: the output's last \\boxed{} (else the whole output) against the reference's last \\boxed{}
    (else the reference as given), equivalence by math-verify."""
    from math_verify import parse, verify

    if not isinstance(reference, str) or not reference.strip():
        raise AnswerCheckError("math: the reference answer is empty")
    ref = boxed(reference)
    ref = ref if ref is not None else reference.strip()
    t = _mv_timeout()
    gold = parse(f"${ref}$", parsing_timeout=t)
    if not gold:
        gold = parse(ref, parsing_timeout=t)
    if not gold:
        raise AnswerCheckError(f"math: cannot parse the reference answer {ref[:60]!r}")
    out = output or ""
    pred_text = boxed(out)
    pred = parse(f"\\boxed{{{pred_text}}}" if pred_text is not None else out, parsing_timeout=t)
    extracted = pred_text if pred_text is not None else (str(pred[-1]) if pred else None)
    ok = bool(pred) and bool(verify(gold, pred, timeout_seconds=t))
    return Check(ok, extracted, 1.0 if ok else 0.0, {"reference": ref})


# -- code ---------------------------------------------------------------------------------------------
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


def extract_code(output: str) -> str:
    """The code in a model output: the first fenced python block defining a function, else the first fenced
    block, else the whole output."""
    if not output:
        return ""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(output)]
    if not blocks:
        return output.strip("\n")
    for lang, body in blocks:
        if lang in ("", "python", "py", "python3") and re.search(r"^\s*def \w+\(", body, re.M):
            return body
    return blocks[0][1]


def check_code(output: str, tests: list[str], *, setup: str = "", limits=None) -> Check:
    """Run the output's code and the asserts in the sandbox; correct = all pass, score = share passed."""
    from engine.sandbox import run_code

    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise AnswerCheckError("code: the reference needs a non-empty list of assert statements (test_list)")
    code = extract_code(output or "")
    r = run_code(code, tests, setup=setup or "", limits=limits)
    details = {"status": r.status, "n_passed": r.n_passed, "n_tests": r.n_tests, "error": r.error,
               "seconds": round(r.seconds, 3), "isolation": r.isolation}
    return Check(r.passed, code, r.n_passed / max(r.n_tests, 1), details)


# -- tool calls (BFCL AST checker rules; the matcher lives in engine/tool_calls.py) ----------------------------
from engine.tool_calls import (  # noqa: E402  (kept beside the tool-call scorer)
    ToolCallError, match_calls, parse_tool_calls,
)
from engine.tool_calls import expected_from_reference as _expected_from_reference  # noqa: E402


def expected_from_reference(ref: Any) -> tuple[list[dict], bool]:
    """(possible answers [{"name", "args": {arg: [acceptable values]}}], allow_extra_args) from a BFCL
    ``ground_truth`` list or an ``expected_calls`` list (see engine.tool_calls)."""
    try:
        return _expected_from_reference(ref)
    except ToolCallError as e:
        raise AnswerCheckError(str(e)) from None


def check_tool_calls(output: str | list | dict, reference: Any, *, allow_extra: bool | None = None,
                     tools: Any = None, language: str = "python") -> Check:
    """BFCL AST-checker match of the produced calls against the expected ones (engine.tool_calls): `tools`
    are the declared tools (their parameter schemas give the types; None: no type checks), `language` the
    item's typing rules (python / java / javascript). details: why (on failure), n_matched, n_expected."""
    want, extra_default = expected_from_reference(reference)
    allow = extra_default if allow_extra is None else allow_extra
    got = parse_tool_calls(output)
    extracted = json.dumps(got, ensure_ascii=False, default=str)
    m = match_calls(got, want, tools=tools, language=language, allow_extra=allow)
    details = {"n_matched": len(m.pairs), "n_expected": m.n_expected}
    if m.why:
        details["why"] = m.why
    return Check(m.correct, extracted, 1.0 if m.correct else 0.0, details)


# -- multiple choice and general ---------------------------------------------------------------------
def check_choice(logliks: list[float], answer: int, *, n_tokens: list[int] | None = None,
                 normalize: bool = True) -> Check:
    """Pick the option with the highest log-likelihood (per token when `normalize` and token counts are
    given); correct when it is the answer's index."""
    if not logliks:
        raise AnswerCheckError("choice: no option log-likelihoods")
    if not 0 <= answer < len(logliks):
        raise AnswerCheckError(f"choice: answer index {answer} outside the {len(logliks)} options")
    vals = list(logliks)
    if normalize and n_tokens:
        vals = [v / max(n, 1) for v, n in zip(logliks, n_tokens)]
    best = max(range(len(vals)), key=lambda i: vals[i])
    letter = "ABCDEFGHIJ"[best] if best < 10 else str(best)
    return Check(best == answer, letter, 1.0 if best == answer else 0.0,
                 {"logliks": logliks, "normalized": normalize and bool(n_tokens), "answer": answer})


def check_nll(nll: float | None) -> Check:
    """General domain: the held-out response NLL is the score (lower is better); no right/wrong."""
    if nll is None or (isinstance(nll, float) and math.isnan(nll)):
        return Check(None, None, None, {"why": "no NLL"})
    return Check(None, None, float(nll), {})


def check(scorer: str, output: str | None, reference: dict, *, nll: float | None = None, sandbox_limits=None) -> Check:
    """Dispatch on the scorer name with an item's reference dict (see engine.evaluation.detect_item)."""
    if scorer == "gsm8k":
        return check_gsm8k(output or "", reference.get("answer", ""))
    if scorer == "math":
        return check_math(output or "", reference.get("answer", ""))
    if scorer == "code":
        return check_code(output or "", reference.get("tests"), setup=reference.get("setup", ""),
                          limits=sandbox_limits)
    if scorer == "tool":
        return check_tool_calls(output or "", reference.get("calls"), tools=reference.get("tools"),
                                language=reference.get("language") or "python")
    if scorer == "choice":
        ll = reference.get("logliks")
        if ll is None:
            raise AnswerCheckError("choice: option log-likelihoods are computed with the model (evaluation)")
        return check_choice(ll, int(reference["answer_index"]), n_tokens=reference.get("n_tokens"))
    if scorer == "nll":
        return check_nll(nll)
    raise AnswerCheckError(f"unknown scorer {scorer!r}; known: {', '.join(SCORERS)}")
