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
- ``tool``: BFCL-style AST match. The output's calls are parsed (JSON object/list, OpenAI ``tool_calls``,
  ``<tool_call>`` tags, or Python call syntax ``f(a=1)``); each expected call must be matched by one produced
  call (order-free) with the same function name, every required argument present and its value among the
  acceptable values. Reference: BFCL ``ground_truth`` ``[{name: {arg: [acceptable, ...]}}]`` (``""`` in the list
  = optional argument; arguments not listed are errors) or ``expected_calls`` ``[{name, arguments}]`` (each value
  the one acceptable value; extra arguments ignored). Strings compare trimmed and case-insensitively,
  numbers numerically. No expected call = the output must make no call.
- ``choice``: multiple choice by option log-likelihood (computed by `engine.evaluation` with the model);
  `check_choice` picks the option with the highest (length-normalised by default) log-likelihood.
- ``nll``: general: held-out response NLL (mean per-token negative log-likelihood of the reference
  response); no right/wrong (correct is None); lower is better.
"""

from __future__ import annotations

import ast
import itertools
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


# -- tool calls (BFCL-style) ----------------------------------------------------------------------------
def _loads_args(a: Any) -> Any:
    if isinstance(a, str):
        try:
            return json.loads(a)
        except json.JSONDecodeError:
            return a
    return a


def _calls_from_json(obj: Any) -> list[dict] | None:
    """Calls from a parsed JSON value in any of the usual shapes; None when it is not a call."""
    if isinstance(obj, list):
        out = []
        for x in obj:
            c = _calls_from_json(x)
            if c is None:
                return None
            out += c
        return out
    if not isinstance(obj, dict):
        return None
    if "tool_calls" in obj and isinstance(obj["tool_calls"], list):
        return _calls_from_json(obj["tool_calls"])
    if "function" in obj and isinstance(obj["function"], dict):
        return _calls_from_json(obj["function"])
    name = obj.get("name")
    if isinstance(name, str):
        args = _loads_args(obj.get("arguments", obj.get("parameters", obj.get("args", {}))))
        if args is None:
            args = {}
        if not isinstance(args, dict):
            return None
        return [{"name": name, "arguments": args}]
    if len(obj) == 1:  # BFCL answer style {"func": {"arg": value}}
        (k, v), = obj.items()
        if isinstance(v, dict):
            return [{"name": k, "arguments": v}]
    return None


def _json_values(text: str) -> list[Any]:
    """Every top-level JSON object/array that decodes, scanning left to right."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while i < len(text):
        j = min([p for p in (text.find("{", i), text.find("[", i)) if p >= 0], default=-1)
        if j < 0:
            break
        try:
            val, end = dec.raw_decode(text, j)
            out.append(val)
            i = end
        except json.JSONDecodeError:
            i = j + 1
    return out


def _ast_value(node: ast.AST) -> Any:
    return ast.literal_eval(node)


def _call_from_ast(node: ast.AST) -> dict | None:
    if not isinstance(node, ast.Call):
        return None
    parts = []
    f = node.func
    while isinstance(f, ast.Attribute):
        parts.append(f.attr)
        f = f.value
    if not isinstance(f, ast.Name):
        return None
    parts.append(f.id)
    name = ".".join(reversed(parts))
    try:
        args = {kw.arg: _ast_value(kw.value) for kw in node.keywords if kw.arg}
        if node.args:
            args.update({f"_{i}": _ast_value(a) for i, a in enumerate(node.args)})
    except (ValueError, SyntaxError):
        return None
    return {"name": name, "arguments": args}


def _python_calls(text: str) -> list[dict] | None:
    src = text.strip()
    if src.startswith("```"):
        src = extract_code(src)
    try:
        tree = ast.parse(src.strip(), mode="eval")
    except SyntaxError:
        # several calls on separate lines
        try:
            mod = ast.parse(src.strip(), mode="exec")
        except SyntaxError:
            return None
        calls = []
        for st in mod.body:
            if not isinstance(st, ast.Expr):
                return None
            c = _call_from_ast(st.value)
            if c is None:
                return None
            calls.append(c)
        return calls or None
    body = tree.body
    nodes = body.elts if isinstance(body, (ast.List, ast.Tuple)) else [body]
    calls = [_call_from_ast(n) for n in nodes]
    return calls if calls and all(c is not None for c in calls) else None  # type: ignore[return-value]


_TOOL_TAG = re.compile(r"<(?:tool_call|functioncall|function_call)>\s*(.*?)\s*</(?:tool_call|functioncall|function_call)>", re.S)


def parse_tool_calls(output: str | list | dict) -> list[dict]:
    """The function calls in a model output: [{"name", "arguments": dict}] (empty when it makes none).

    Accepts OpenAI ``tool_calls`` (a list of dicts, or JSON text), ``<tool_call>{...}</tool_call>`` tags,
    JSON objects/lists of ``{name, arguments}``, BFCL's ``{func: {args}}``, and Python call syntax
    (``f(a=1)``, ``[f(a=1), g(b="x")]``)."""
    if isinstance(output, (list, dict)):
        return _calls_from_json(output) or []
    text = output or ""
    tagged = _TOOL_TAG.findall(text)
    if tagged:
        calls = []
        for t in tagged:
            for v in _json_values(t)[:1]:
                calls += _calls_from_json(v) or []
        return calls
    calls: list[dict] = []
    for v in _json_values(text):
        c = _calls_from_json(v)
        if c:
            calls += c
    if calls:
        return calls
    return _python_calls(text) or []


def _norm_str(s: str) -> str:
    return " ".join(s.strip().lower().split())


def values_match(got: Any, want: Any) -> bool:
    """BFCL-like value equality: strings trimmed and case-insensitive, ints/floats numerically, lists in
    order, dicts key by key."""
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want if isinstance(got, bool) and isinstance(want, bool) else False
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(want, (int, float)) and isinstance(got, str):
        try:
            return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-9)
        except ValueError:
            return False
    if isinstance(want, str) and isinstance(got, str):
        return _norm_str(got) == _norm_str(want)
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(values_match(g, w) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return set(got) == set(want) and all(values_match(got[k], want[k]) for k in want)
    return got == want


def expected_from_reference(ref: Any) -> tuple[list[dict], bool]:
    """(possible answers [{"name", "args": {arg: [acceptable values]}}], allow_extra_args) from a BFCL
    ``ground_truth`` list or an ``expected_calls`` list."""
    if ref is None:
        raise AnswerCheckError("tool: no expected calls (ground_truth or expected_calls)")
    if isinstance(ref, dict) and "ground_truth" in ref:
        ref = ref["ground_truth"]
    if isinstance(ref, dict) and "expected_calls" in ref:
        ref = ref["expected_calls"]
    if not isinstance(ref, list):
        raise AnswerCheckError(f"tool: expected a list of calls, got {type(ref).__name__}")
    out, extra = [], True
    for i, c in enumerate(ref):
        if not isinstance(c, dict):
            raise AnswerCheckError(f"tool: expected call {i} is not an object")
        if "name" in c:
            args = c.get("arguments") or {}
            if isinstance(args, str):
                args = _loads_args(args)
            if not isinstance(args, dict):
                raise AnswerCheckError(f"tool: arguments of expected call {i} are not an object")
            out.append({"name": c["name"], "args": {k: [v] for k, v in args.items()}})
        elif len(c) == 1:  # BFCL possible answer
            (name, args), = c.items()
            if not isinstance(args, dict) or not all(isinstance(v, list) for v in args.values()):
                raise AnswerCheckError(f"tool: ground truth call {i} must map each argument to a list of values")
            out.append({"name": name, "args": args})
            extra = False
        else:
            raise AnswerCheckError(f"tool: expected call {i} has neither 'name' nor the BFCL {{name: args}} form")
    return out, extra


def _call_matches(got: dict, want: dict, allow_extra: bool) -> str | None:
    """None when `got` satisfies the possible answer `want`, else why not."""
    if _norm_str(got["name"]) != _norm_str(want["name"]):
        return f"function {got['name']!r} is not {want['name']!r}"
    args = got.get("arguments") or {}
    for k, acceptable in want["args"].items():
        optional = any(isinstance(v, str) and v == "" for v in acceptable)
        if k not in args:
            if optional:
                continue
            return f"{want['name']}: missing argument {k!r}"
        if not any(values_match(args[k], v) for v in acceptable if not (v == "" and optional)):
            return f"{want['name']}: argument {k!r} = {args[k]!r} is not one of {acceptable!r}"
    if not allow_extra:
        extra = [k for k in args if k not in want["args"]]
        if extra:
            return f"{want['name']}: unexpected argument(s) {', '.join(map(repr, extra))}"
    return None


def check_tool_calls(output: str | list | dict, reference: Any, *, allow_extra: bool | None = None) -> Check:
    """Order-free match of the produced calls against the expected ones (see the module docstring)."""
    want, extra_default = expected_from_reference(reference)
    allow = extra_default if allow_extra is None else allow_extra
    got = parse_tool_calls(output)
    extracted = json.dumps(got, ensure_ascii=False, default=str)
    if len(got) != len(want):
        why = (f"{len(got)} call(s) made, {len(want)} expected")
        return Check(False, extracted, 0.0, {"why": why})
    if len(want) > 7:
        raise AnswerCheckError("tool: more than 7 parallel calls are not supported")
    best: tuple[int, str | None] = (-1, None)
    for perm in itertools.permutations(range(len(got))):
        reasons = [_call_matches(got[p], w, allow) for p, w in zip(perm, want)]
        if all(r is None for r in reasons):
            return Check(True, extracted, 1.0, {})
        n_ok = sum(r is None for r in reasons)
        if n_ok > best[0]:  # explain the closest assignment
            best = (n_ok, next(r for r in reasons if r))
    return Check(False, extracted, 0.0, {"why": best[1]})


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
        return check_tool_calls(output or "", reference.get("calls"))
    if scorer == "choice":
        ll = reference.get("logliks")
        if ll is None:
            raise AnswerCheckError("choice: option log-likelihoods are computed with the model (evaluation)")
        return check_choice(ll, int(reference["answer_index"]), n_tokens=reference.get("n_tokens"))
    if scorer == "nll":
        return check_nll(nll)
    raise AnswerCheckError(f"unknown scorer {scorer!r}; known: {', '.join(SCORERS)}")
