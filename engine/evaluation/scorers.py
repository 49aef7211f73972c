"""Answer checkers (scorers) for evaluation items: pure functions over a model output and a reference.

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
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from engine.core.errors import InputError

SCORERS = ("gsm8k", "math", "code", "tool", "choice", "nll")


class AnswerCheckError(InputError):
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
# A number as written: optional sign, thousands groups (1,234,567) or plain digits, optional decimals, or a
# bare decimal (.5); an optional "/ integer" makes it a fraction (3/4). Signs, $ and units are handled by
# `_numbers`, which also refuses digits glued to a word (x2, v1).
_NUM = re.compile(r"(?:\d{1,3}(?:,\d{3})+(?![\d])|\d+)(?:\.\d+)?(?:\s*/\s*\d+(?![\d.,]\d))?|\.\d+")
_MINUS = "-\u2212\u2013"  # hyphen, minus sign, en dash
_ANSWER_PHRASE = re.compile(
    r"\b(?:final\s+answer|answer)\b(?:\s*\([^)\n]{0,20}\))?\s*(?:\*\*|__)?\s*"
    r"(?:is\s*:?|was\s*:?|would\s+be\s*:?|will\s+be\s*:?|should\s+be\s*:?|:|=)\s*(?:\*\*|__)?",
    re.I,
)


def _latex_plain(s: str) -> str:
    """Light LaTeX clean-up for finding numbers: \\frac{a}{b} -> a/b, \\text{x} -> x, \\$ -> $, \\% -> %,
    thin spaces and {,} in 1{,}000 dropped, degree marks dropped, the minus sign as '-'."""
    s = s.replace("\\left", "").replace("\\right", "").replace("{,}", ",")
    for t in ("\\!", "\\,", "\\;", "\\:", "\\ "):
        s = s.replace(t, "" if t != "\\ " else " ")
    s = s.replace("\\$", "$").replace("\\%", "%").replace("\u2212", "-")
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?|\u00b0", "", s)
    for _ in range(3):  # nested \text{\textbf{..}}
        s = re.sub(r"\\(?:text|textbf|mathrm|mathbf|mbox|textnormal)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}", r"\1/\2", s)
    s = re.sub(r"\\[dt]?frac\s*(\d)\s*(\d)", r"\1/\2", s)
    return s


def _numbers(text: str) -> list[str]:
    """Every number written in `text`, in order, as canonical strings: commas, $, % and spaces dropped,
    a leading minus kept (only when the '-' is not glued to a preceding word/number: 5-3 is not -3),
    fractions as 'a/b'. Digits glued to a letter before them (x2, v1.5) are not numbers."""
    out = []
    for m in _NUM.finditer(text):
        i = m.start()
        if i > 0 and (text[i - 1].isalpha() or text[i - 1] == "_"):
            continue
        if i > 0 and text[i - 1] == "." and m.group().startswith("."):
            continue
        j = i - 1
        while j >= 0 and text[j] == "$":
            j -= 1
        neg = False
        if j >= 0 and text[j] in _MINUS:
            k = j - 1
            while k >= 0 and text[k] == "$":
                k -= 1
            neg = k < 0 or not (text[k].isalnum() or text[k] in ")]}_.")
        num = re.sub(r"[,\s]", "", m.group())
        if "/" in num:
            a, b = num.split("/")
            if float(b) == 0:
                num = a
        out.append(("-" if neg else "") + num)
    return out


def _to_float(s: str) -> float | None:
    s = s.replace(",", "").replace("$", "").replace(" ", "").replace("%", "").rstrip(".")
    for c in _MINUS[1:]:
        s = s.replace(c, "-")
    try:
        if "/" in s:
            a, b = s.split("/")
            return float(a) / float(b)
        return float(s)
    except (ValueError, ZeroDivisionError):
        return None


def last_number(text: str) -> str | None:
    """The last number written in `text` (commas, $, % dropped; a fraction as 'a/b'); None if none."""
    if not text:
        return None
    found = _numbers(_latex_plain(text))
    return found[-1] if found else None


def _first_number(text: str) -> str | None:
    found = _numbers(_latex_plain(text))
    return found[0] if found else None


def _after_equals(seg: str) -> str:
    """The part after the last '=' of an answer segment ('x = 18', '5 + 3 = 8'), else the segment."""
    return seg.rsplit("=", 1)[1] if "=" in seg else seg


def gsm8k_reference(answer: str) -> str:
    """The final answer of a GSM8K reference: the first number after the last ``####`` (or the number of a
    bare answer such as ``18``, ``-3``, ``3/4``, ``8 (apples)``)."""
    if not isinstance(answer, str) or not answer.strip():
        raise AnswerCheckError("gsm8k: the reference answer is empty")
    ref = answer.rsplit("####", 1)[1].strip() if "####" in answer else answer.strip()
    n = _first_number(ref)
    if n is None:
        raise AnswerCheckError(f"gsm8k: no number in the reference answer {ref[:60]!r}")
    return n


def _answer_segments(output: str) -> list[str]:
    """The text after each answer phrase ("the answer is", "final answer:", "answer:", "**Answer:**"), last
    phrase first, each cut at the end of its sentence or line."""
    segs = []
    for m in reversed(list(_ANSWER_PHRASE.finditer(output))):
        rest = output[m.end() : m.end() + 300]
        rest = rest.split("\n", 1)[0]
        end = re.search(r"\.(?:\s|$)|(?<!\\);|\bI hope\b", rest)
        segs.append(rest[: end.start()] if end else rest)
    return segs


def gsm8k_prediction(output: str) -> str | None:
    """The model's final number, by the first rule that finds one:

    1. the first number after its last ``####``;
    2. the number in its last ``\\boxed{}`` (after the box's last '=', if any);
    3. the first number after the last answer phrase ("the answer is X", "final answer: X", "answer: X",
       after a '=' in that sentence if any);
    4. its last number.
    """
    if not output:
        return None
    if "####" in output:
        n = _first_number(output.rsplit("####", 1)[1])
        if n is not None:
            return n
    b = boxed(output)
    if b is not None:
        n = _first_number(_after_equals(_latex_plain(b)))
        if n is not None:
            return n
    for seg in _answer_segments(output):
        n = _first_number(_after_equals(_latex_plain(seg)))
        if n is not None:
            return n
    return last_number(output)


def _decimals(s: str) -> int:
    return len(s.split(".", 1)[1]) if "." in s and "/" not in s else 0


def _inexact(s: str, v: float) -> bool:
    """A value whose decimals do not end soon: a fraction like 2/3, or a decimal written with 4+ places."""
    if "/" in s:
        from fractions import Fraction

        a, b = s.lstrip("-").split("/")
        d = Fraction(int(float(a)), int(float(b))).denominator if float(a).is_integer() else 3
        while d % 2 == 0:
            d //= 2
        while d % 5 == 0:
            d //= 5
        return d != 1
    return _decimals(s) >= 4


def numbers_match(pred: str, ref: str) -> bool:
    """Numeric equality of two canonical numbers (see `_numbers`): equal within 1e-6 (relative for large
    values), or equal after rounding when one side is a rounded decimal (2+ places) of the other's
    non-terminating value (2/3 vs 0.67, 0.6666666 vs 0.67)."""
    a, b = _to_float(pred), _to_float(ref)
    if a is None or b is None:
        return False
    if abs(a - b) <= 1e-6 * max(1.0, abs(b)):
        return True
    from decimal import ROUND_HALF_UP, Decimal

    for x, xs, y, ys in ((a, pred, b, ref), (b, ref, a, pred)):
        d = _decimals(xs)
        if d >= 2 and _inexact(ys, y):
            q = Decimal(1).scaleb(-d)
            if Decimal(repr(y)).quantize(q, ROUND_HALF_UP) == Decimal(repr(x)).quantize(q, ROUND_HALF_UP):
                return True
    return False


def check_gsm8k(output: str, reference: str) -> Check:
    """Final-number match: `gsm8k_prediction` against `gsm8k_reference`, compared by `numbers_match`."""
    ref = gsm8k_reference(reference)
    pred = gsm8k_prediction(output or "")
    ok = pred is not None and numbers_match(pred, ref)
    return Check(ok, pred, 1.0 if ok else 0.0, {"reference": ref})


# -- MATH (boxed answers, math-verify) ----------------------------------------------------------------
MATH_PARSE_TIMEOUT_S = 5  # math-verify's own limit per parse / comparison (SIGALRM: main thread only)
MATH_HARD_TIMEOUT_S = 20.0  # wall-clock limit of one check in the worker process (then it is killed)


def boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` in `text`, braces balanced (``\\boxed 5``: the
    token after it); None when there is none."""
    text = text or ""
    i = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if i < 0:
        return None
    rest = text[i + (6 if text.startswith("\\boxed", i) else 5) :]
    if not rest.lstrip().startswith("{"):
        m = re.match(r"\s*([^\s$]+)", rest)
        return m.group(1) if m else None
    from engine.data.formats import boxed_answer

    return boxed_answer(text[i:])


def _mv_text(s: str) -> str:
    """An answer string made friendlier to math-verify: surrounding $...$ / \\(...\\) / \\[...\\] removed, the
    degree sign as ^\\circ, \\$ and \\! dropped, the minus sign as '-', a trailing period dropped."""
    s = s.strip()
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) > len(a) + len(b) and s.startswith(a) and s.endswith(b):
            s = s[len(a) : -len(b)].strip()
    s = s.replace("\u00b0", "^\\circ").replace("\\$", "").replace("\\!", "").replace("\u2212", "-")
    return s.rstrip(".").strip()


_SIMPLE_NUM = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def _simple_number(s: str) -> str | None:
    """`s` as a canonical number when it is nothing but one (18, -3, 0.75, 1,000, $18, \\frac{3}{4}, 3/4)."""
    t = _latex_plain(_mv_text(s)).replace("$", "").replace(" ", "").replace("{", "").replace("}", "")
    return t.replace(",", "") if _SIMPLE_NUM.fullmatch(t) else None


def _word_answer(s: str) -> str | None:
    """A text answer (\\text{Monday}, 'even') reduced to lower-case letters and digits; None when `s` is not
    mostly words (a formula)."""
    t = re.sub(r"\\(?:text|textbf|mathrm|mbox|textnormal)\s*\{([^{}]*)\}", r"\1", s)
    if "\\" in t or not re.fullmatch(r"[\sA-Za-z0-9(),.'\-]*[A-Za-z]{2,}[\sA-Za-z0-9(),.'\-]*", t.strip("$ .")):
        return None
    return re.sub(r"[^a-z0-9]", "", t.lower())


def _math_span(text: str) -> str | None:
    """The content of the math span `text` starts with ($...$, $$...$$, \\(...\\), \\[...\\]; an escaped \\$
    inside does not close it); None when it starts with none or the span is not closed."""
    for a, b in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(a):
            i = len(a)
            while True:
                j = text.find(b, i)
                if j < 0:
                    return None
                if b == "$" and text[j - 1] == "\\":
                    i = j + 1
                    continue
                return text[len(a) : j].strip()
    return None


def math_prediction(output: str) -> tuple[str | None, str]:
    """(the answer text, how it was found) of a MATH-style output, by the first rule that applies:
    ``boxed`` (its last \\boxed{}), ``phrase`` (the text after its last answer phrase, "the answer is $X$",
    "Final Answer: The final answer is X. I hope it is correct."), ``bare`` (the whole output when it is one
    short line of at most 3 words or one $...$: "3:4", "(1, 2)", "Monday"), ``last_expr`` (the last ratio,
    tuple or interval written in plain text on the output's last line: "The ratio is 3:4."), else (None,
    ``text``): math-verify reads the whole output (its last LaTeX or plain expression)."""
    out = output or ""
    b = boxed(out)
    if b is not None:
        return b, "boxed"
    for m in reversed(list(_ANSWER_PHRASE.finditer(out))):
        seg = _math_span(out[m.end() :].lstrip(" *_"))
        if seg is None:
            seg = _answer_segments(out[m.start() :])[-1].strip()
        if seg.strip(" *"):
            return seg.strip(" *"), "phrase"
    s = out.strip()
    if s and "\n" not in s and len(s) <= 120 and (len(_WORD.findall(s)) <= 2 or re.fullmatch(r"\$[^$]+\$\.?", s)):
        return s, "bare"
    lines = [ln for ln in s.splitlines() if ln.strip()]
    if lines and "$" not in lines[-1] and "\\(" not in lines[-1] and "\\[" not in lines[-1]:
        found = _LAST_EXPR.findall(lines[-1])
        if found:
            return found[-1], "last_expr"
    spans = _MATH_SPANS.findall(s)
    if spans:
        last = next(x for x in spans[-1] if x)
        last = last.rsplit("=", 1)[1] if "=" in last else last
        if last.strip(" .,"):
            return last.strip(" .,"), "last_math"
    return None, "text"


_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")  # an English word, not a LaTeX command
_MATH_SPANS = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$((?:[^$\\]|\\.)+?)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)


# a ratio (3:4), tuple/interval ((1, 2), [0, 1)) or fraction (3/4) written in plain text
_LAST_EXPR = re.compile(
    r"[(\[]\s*-?\d+(?:\.\d+)?(?:\s*,\s*-?\d+(?:\.\d+)?)+\s*[)\]]"
    r"|(?<![\w.])-?\d+(?:\.\d+)?\s*:\s*\d+(?:\.\d+)?(?:\s*:\s*\d+(?:\.\d+)?)*(?![\w.]\d)"
)


_mv_timeouts = {"n": 0}


def _mv_log_timeouts() -> None:
    """Count math-verify's 'Timeout during ...' warnings (its only sign that a parse/compare timed out)."""
    import logging

    class _H(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Timeout"):
                _mv_timeouts["n"] += 1

    for name in ("math_verify.grader", "math_verify.parser"):
        lg = logging.getLogger(name)
        if not any(type(h).__name__ == "_H" and getattr(h, "_wb", False) for h in lg.handlers):
            h = _H()
            h._wb = True  # type: ignore[attr-defined]
            lg.addHandler(h)


def _mv_judge(ref: str, pred: str | None, output: str, t: int | None) -> dict:
    """math-verify's verdict (in this process): {"gold": parsed?, "ok", "extracted", "timeout"}."""
    from math_verify import parse, verify

    _mv_log_timeouts()
    n0 = _mv_timeouts["n"]
    gold = parse(f"${ref}$", parsing_timeout=t) or parse(ref, parsing_timeout=t)
    if not gold:
        return {"gold": False, "ok": False, "extracted": None, "timeout": _mv_timeouts["n"] > n0}
    if pred is not None:
        p = parse(f"\\boxed{{{pred}}}", parsing_timeout=t) or parse(pred, parsing_timeout=t)
    else:
        p = parse(output, parsing_timeout=t)
    extracted = pred if pred is not None else (str(p[-1]) if p else None)
    ok = bool(p) and bool(verify(gold, p, timeout_seconds=t))
    return {"gold": True, "ok": ok, "extracted": extracted, "timeout": _mv_timeouts["n"] > n0}


def _mv_serve() -> None:
    """The worker process's loop: one JSON request per stdin line, one JSON verdict per stdout line. It runs
    in its own main thread, so math-verify's SIGALRM limits hold here too."""
    import sys as _sys

    out = _sys.stdout
    _sys.stdout = _sys.stderr  # stray prints must not corrupt the protocol
    for line in _sys.stdin:
        try:
            r = json.loads(line)
            res = _mv_judge(r["ref"], r["pred"], r["output"], MATH_PARSE_TIMEOUT_S)
        except BaseException as e:  # noqa: BLE001 - report, keep serving
            res = {"error": f"{type(e).__name__}: {e}"[:300]}
        out.write(json.dumps(res) + "\n")
        out.flush()


class _MVWorker:
    """A child Python process serving `_mv_judge` (kept warm between checks; killed on a hard timeout)."""

    def __init__(self) -> None:
        import os
        import subprocess
        import sys
        from pathlib import Path

        root = str(Path(__file__).resolve().parent.parent)
        code = f"import sys; sys.path.insert(0, {root!r}); from engine.evaluation.scorers import _mv_serve; _mv_serve()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.buf = b""

    def ask(self, req: dict, timeout: float) -> dict | None:
        """The worker's answer, or None when it did not answer within `timeout` s (it is then killed)."""
        import os
        import select
        import time

        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            raise
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return None
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.kill()
                    raise OSError("the math-verify worker exited")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass


_MV_POOL: list[_MVWorker] = []
_MV_LOCK = threading.Lock()
_MV_SLOTS = threading.BoundedSemaphore(4)  # at most 4 worker processes checking at once


def _mv_close_all() -> None:
    with _MV_LOCK:
        while _MV_POOL:
            _MV_POOL.pop().kill()


def _mv_in_worker(req: dict, timeout: float) -> dict | None:
    """Run one judgement in a pooled worker process; None on a hard timeout (that worker is killed)."""
    import atexit

    with _MV_SLOTS:
        with _MV_LOCK:
            w = None
            while _MV_POOL and w is None:
                w = _MV_POOL.pop()
                if not w.alive():
                    w = None
            if w is None and not getattr(_mv_close_all, "_registered", False):
                atexit.register(_mv_close_all)
                _mv_close_all._registered = True  # type: ignore[attr-defined]
        if w is None:
            try:
                w = _MVWorker()
            except OSError as e:
                raise AnswerCheckError(f"math: cannot start the math-verify worker process: {e}") from e
        try:
            res = w.ask(req, timeout)
        except OSError as e:
            raise AnswerCheckError(f"math: the math-verify worker failed: {e}") from e
        if res is not None and w.alive():
            with _MV_LOCK:
                _MV_POOL.append(w)
        return res


def _mv_timeout() -> int | None:
    # math-verify's timeouts use signal.alarm, which only works in the main thread; elsewhere the check runs
    # in a worker process (see check_math)
    return MATH_PARSE_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


def check_math(output: str, reference: str, *, hard_timeout: float | None = None) -> Check:
    """MATH-style check; the steps, in order:

    1. reference: its last \\boxed{} (else the reference as given);
    2. prediction: `math_prediction` (last \\boxed{}, else the answer phrase, else a one-line answer, else
       the last ratio/tuple of the last line, else the last $...$ span, else the whole output);
    3. both plain numbers (18, -3, 0.75, 3/4, \\frac{3}{4}, $1,000): numeric comparison here (|a-b| <= 1e-6,
       relative for large values), nothing else is started;
    4. a word answer (\\text{Monday}) equal to the prediction's words: correct;
    5. otherwise math-verify (LaTeX normalisation, symbolic and numeric equivalence; ratios 3:4, tuples,
       degrees 90° = 90^\\circ = 90). On the main thread it runs here with math-verify's own SIGALRM limits
       (5 s per parse / comparison); on any other thread it runs in a pooled worker process, killed after
       `hard_timeout` s (default MATH_HARD_TIMEOUT_S). A timeout is not correct, with details["timeout"].
    """
    import time

    if not isinstance(reference, str) or not reference.strip():
        raise AnswerCheckError("math: the reference answer is empty")
    ref = boxed(reference)
    ref = _mv_text(ref if ref is not None else reference.strip())
    if not ref:
        raise AnswerCheckError("math: the reference answer is empty")
    out = output or ""
    pred, how = math_prediction(out)
    pred = _mv_text(pred) if pred is not None else None
    details: dict = {"reference": ref, "found_by": how}
    if pred is not None:
        b = _simple_number(ref)
        a = _simple_number(pred)
        if a is None and b is not None:  # "18 apples", "$18 dollars."
            a = _simple_number(re.sub(r"\s*[A-Za-z][A-Za-z ]*\.?$", "", pred))
        if a is not None and b is not None:
            fa, fb = _to_float(a), _to_float(b)
            ok = fa is not None and fb is not None and abs(fa - fb) <= 1e-6 * max(1.0, abs(fb))
            return Check(ok, pred, 1.0 if ok else 0.0, details | {"path": "number"})
        wr, wp = _word_answer(ref), _word_answer(pred)
        if wr is not None and wr == wp:
            return Check(True, pred, 1.0, details | {"path": "text"})
    t0 = time.perf_counter()
    t = _mv_timeout()
    if t is not None:
        res = _mv_judge(ref, pred, out, t)
        details["path"] = "math-verify"
    else:
        limit = MATH_HARD_TIMEOUT_S if hard_timeout is None else hard_timeout
        res = _mv_in_worker({"ref": ref, "pred": pred, "output": out}, limit)
        details["path"] = "math-verify worker"
        if res is None:
            details.update(
                timeout=True,
                why=f"math-verify did not finish within {limit:g} s (worker killed)",
                seconds=round(time.perf_counter() - t0, 3),
            )
            return Check(False, pred, 0.0, details)
        if "error" in res:
            raise AnswerCheckError(f"math: math-verify failed: {res['error']}")
    details["seconds"] = round(time.perf_counter() - t0, 3)
    if not res["gold"]:
        if res.get("timeout"):
            details.update(timeout=True, why="math-verify timed out parsing the reference")
            return Check(False, pred, 0.0, details)
        raise AnswerCheckError(f"math: cannot parse the reference answer {ref[:60]!r}")
    if res.get("timeout"):
        details.update(timeout=True, why=f"math-verify timed out (limit {MATH_PARSE_TIMEOUT_S} s per step)")
    ok = bool(res["ok"])
    return Check(ok, res["extracted"], 1.0 if ok else 0.0, details)


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


def with_prompt(code: str, prompt: str, entry_point: str | None) -> str:
    """HumanEval-style items (a `prompt` holding imports, helpers and the entry point's signature and
    docstring): extracted code that does not define `entry_point` is a completion of the prompt's function
    body, so the program is prompt + code; code that defines it (the whole function) runs after the prompt
    (prompt + newline + code: the prompt's imports and helpers stay available and the model's definition
    replaces the prompt's docstring-only stub). No prompt: the code as it is."""
    if not prompt:
        return code
    if entry_point and re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(entry_point)}[ \t]*\(", code, re.M):
        return prompt.rstrip("\n") + "\n\n\n" + code
    return prompt + code


def check_code(
    output: str, tests: list[str], *, setup: str = "", limits=None, prompt: str = "", entry_point: str | None = None
) -> Check:
    """Run the output's code (after `prompt`, see `with_prompt`) and the asserts in the sandbox; correct =
    all pass, score = share passed."""
    from engine.evaluation.sandbox import SandboxUnavailable, run_code

    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise AnswerCheckError("code: the reference needs a non-empty list of assert statements (test_list)")
    code = with_prompt(extract_code(output or ""), prompt or "", entry_point)
    try:
        r = run_code(code, tests, setup=setup or "", limits=limits)
    except SandboxUnavailable as e:
        raise AnswerCheckError(f"code: {e}") from e
    details = {
        "status": r.status,
        "n_passed": r.n_passed,
        "n_tests": r.n_tests,
        "error": r.error,
        "seconds": round(r.seconds, 3),
        "isolation": r.isolation,
        "remote_answers": r.remote_answers,
    }
    return Check(r.passed, code, r.n_passed / max(r.n_tests, 1), details)


# -- tool calls (BFCL AST checker rules; the matcher lives in engine/evaluation/tool_calls.py) ----------------------------
from engine.evaluation.tool_calls import (  # noqa: E402  (kept beside the tool-call scorer)
    ToolCallError,
    match_calls,
    parse_tool_calls,
)
from engine.evaluation.tool_calls import expected_from_reference as _expected_from_reference  # noqa: E402


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
