"""Answer extraction shared by the scorers (numbers, answer phrases, ``\\boxed{}``) and the GSM8K scorer
(final-number match)."""

from __future__ import annotations

import re

from engine.evaluation.scorer_types import AnswerCheckError, Check

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
