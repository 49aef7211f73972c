"""Answer checkers (scorers) for evaluation items: pure functions over a model output and a reference.

This module is their one entry point: `check` dispatches on the scorer name; the tool-call, choice and NLL
scorers live here, the others in `number_answers` (gsm8k), `math_answers` with `math_verify_pool` (math) and
`code_check` (code); `scorer_types` holds `Check` and `AnswerCheckError`.

Scorers (the `scorer` name stored per eval item):
- ``gsm8k``: final-number match. Reference: the first number after ``####`` in the reference solution (or a
  bare number). Prediction, first rule that finds a number: after the output's last ``####``; in its last
  ``\\boxed{}``; after its last answer phrase ("the answer is X", "final answer: X", "answer: X"); its last
  number. Commas, ``$``, ``%``, units and degree marks are dropped, signs kept, fractions (3/4, \\frac{3}{4})
  are values; numbers compare numerically (`numbers_match`).
- ``math``: MATH-style. The reference is the solution's last ``\\boxed{}`` (or a bare answer); the prediction is
  found by `math_prediction` (box, answer phrase, one-line answer, last ratio/tuple, last $...$, whole
  output). Plain numbers compare here; other answers with `math-verify` (LaTeX normalisation, symbolic and
  numeric equivalence), bounded in time on every thread (a worker process off the main thread).
- ``code``: the code block of the output (first fenced ```python block that defines a function, else the first
  fenced block, else the whole output) is run with the task's asserts in `engine.evaluation.sandbox` (a child process
  with limits); correct = every assert passes; score = share of asserts passed. HumanEval items also carry
  their ``prompt`` and ``entry_point`` (see `with_prompt`).
- ``tool``: BFCL AST-checker rules (engine/evaluation/tool_calls.py). The output's calls are parsed (JSON object/list,
  OpenAI ``tool_calls``, ``<tool_call>`` tags, or Python call syntax ``f(a=1)``); expected and produced calls
  are paired by a maximum bipartite matching (order-free, any number of calls) and each pair needs the same
  function name (case-sensitive), the required arguments, no unexpected argument, values of the schema's type
  (the item's declared tools) and each value among the acceptable ones (BFCL string normalisation, nested
  dict answers). Reference: BFCL ``ground_truth`` ``[{name: {arg: [acceptable, ...]}}]`` (``""`` in the list
  = optional argument) or ``expected_calls`` ``[{name, arguments}]`` (each value the one acceptable value;
  extra declared arguments allowed). No expected call = the output must make no call.
- ``choice``: multiple choice by option log-likelihood (computed by `engine.evaluation.evaluate` with the model);
  `check_choice` picks the option with the highest (length-normalised by default) log-likelihood.
- ``nll``: general: held-out response NLL (mean per-token negative log-likelihood of the reference
  response); no right/wrong (correct is None); lower is better.
"""

from __future__ import annotations

import json
import math
from typing import Any

from engine.evaluation.code_check import check_code, extract_code, with_prompt
from engine.evaluation.math_answers import check_math, math_prediction
from engine.evaluation.math_verify_pool import MATH_HARD_TIMEOUT_S, MATH_PARSE_TIMEOUT_S
from engine.evaluation.number_answers import (
    boxed,
    check_gsm8k,
    gsm8k_prediction,
    gsm8k_reference,
    last_number,
    numbers_match,
)
from engine.evaluation.scorer_types import SCORERS, AnswerCheckError, Check
from engine.evaluation.tool_calls import ToolCallError, match_calls, parse_tool_calls
from engine.evaluation.tool_calls import expected_from_reference as _expected_from_reference

__all__ = [
    "MATH_HARD_TIMEOUT_S",
    "MATH_PARSE_TIMEOUT_S",
    "SCORERS",
    "AnswerCheckError",
    "Check",
    "boxed",
    "check",
    "check_choice",
    "check_code",
    "check_gsm8k",
    "check_math",
    "check_nll",
    "check_tool_calls",
    "expected_from_reference",
    "extract_code",
    "gsm8k_prediction",
    "gsm8k_reference",
    "last_number",
    "math_prediction",
    "numbers_match",
    "parse_tool_calls",
    "with_prompt",
]


# -- tool calls (BFCL AST checker rules; the matcher lives in engine/evaluation/tool_calls.py) ------------------


def expected_from_reference(ref: Any) -> tuple[list[dict], bool]:
    """(possible answers [{"name", "args": {arg: [acceptable values]}}], allow_extra_args) from a BFCL
    ``ground_truth`` list or an ``expected_calls`` list (see engine.evaluation.tool_calls)."""
    try:
        return _expected_from_reference(ref)
    except ToolCallError as e:
        raise AnswerCheckError(str(e)) from None


def check_tool_calls(
    output: str | list | dict,
    reference: Any,
    *,
    allow_extra: bool | None = None,
    tools: Any = None,
    language: str = "python",
) -> Check:
    """BFCL AST-checker match of the produced calls against the expected ones (engine.evaluation.tool_calls): `tools`
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
def check_choice(
    logliks: list[float], answer: int, *, n_tokens: list[int] | None = None, normalize: bool = True
) -> Check:
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
    return Check(
        best == answer,
        letter,
        1.0 if best == answer else 0.0,
        {"logliks": logliks, "normalized": normalize and bool(n_tokens), "answer": answer},
    )


def check_nll(nll: float | None) -> Check:
    """General domain: the held-out response NLL is the score (lower is better); no right/wrong."""
    if nll is None or (isinstance(nll, float) and math.isnan(nll)):
        return Check(None, None, None, {"why": "no NLL"})
    return Check(None, None, float(nll), {})


def check(scorer: str, output: str | None, reference: dict, *, nll: float | None = None, sandbox_limits=None) -> Check:
    """Dispatch on the scorer name with an item's reference dict (see engine.evaluation.evaluate.detect_item)."""
    if scorer == "gsm8k":
        return check_gsm8k(output or "", reference.get("answer", ""))
    if scorer == "math":
        return check_math(output or "", reference.get("answer", ""))
    if scorer == "code":
        return check_code(
            output or "",
            reference.get("tests"),
            setup=reference.get("setup", ""),
            limits=sandbox_limits,
            prompt=reference.get("prompt") or "",
            entry_point=reference.get("entry_point"),
        )
    if scorer == "tool":
        return check_tool_calls(
            output or "",
            reference.get("calls"),
            tools=reference.get("tools"),
            language=reference.get("language") or "python",
        )
    if scorer == "choice":
        ll = reference.get("logliks")
        if ll is None:
            raise AnswerCheckError("choice: option log-likelihoods are computed with the model (evaluation)")
        return check_choice(ll, int(reference["answer_index"]), n_tokens=reference.get("n_tokens"))
    if scorer == "nll":
        return check_nll(nll)
    raise AnswerCheckError(f"unknown scorer {scorer!r}; known: {', '.join(SCORERS)}")
