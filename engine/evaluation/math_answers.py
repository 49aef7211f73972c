"""The MATH scorer: the answer of a MATH-style output (`math_prediction`) and `check_math` (plain numbers and
word answers compared here, everything else by math-verify, bounded in time: engine.evaluation.math_verify_pool)."""

from __future__ import annotations

import re

from engine.evaluation.math_verify_pool import (
    MATH_HARD_TIMEOUT_S,
    MATH_PARSE_TIMEOUT_S,
    _mv_in_worker,
    _mv_judge,
    _mv_timeout,
)
from engine.evaluation.number_answers import _ANSWER_PHRASE, _answer_segments, _latex_plain, _to_float, boxed
from engine.evaluation.scorer_types import AnswerCheckError, Check


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
