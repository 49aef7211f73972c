"""Math operator: a math answer states a final number.

A text heuristic: math-verify's parser answers a different question (is this answer equal to that one)
and imports sympy. `h_math_answer_correct` is not provided: samples carry no reference answer in a fixed
place (it would live in importer-specific `meta`).
"""

from __future__ import annotations

import re

from engine.quality.heuristics.registry import operator
from engine.quality.heuristics.sample import Sample, Value, empty_reason

_GSM8K_RE = re.compile(r"^\s*####\s*[^\n]*\d", re.M)
_BOXED_RE = re.compile(r"\\boxed\s*\{\s*[^}\s]")
_PROOF_RE = re.compile(r"\b(?:prove|proof|show that|demonstrate that|justify why)\b", re.I)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?。！？])\s+")
MATH_DOMAINS = frozenset({"math"})


@operator(
    "h_math_final_number",
    "Math domain only: 1 when the response states a final answer: a GSM8K '#### <...digit...>' "
    "line, a non-empty \\boxed{...}, or a digit in the last sentence of the last non-empty line; "
    "else 0.",
    needs=frozenset({"instruction", "response", "domain", "messages"}),
    value_range="{0, 1}",
    null_cases="not math (domain is not 'math'); proof question (the "
    "instruction says prove/proof/show that/demonstrate that/justify why); empty answer; tool call",
)
def _math_final_number(s: Sample) -> Value:
    if s.domain not in MATH_DOMAINS:
        return None, "not math"
    if s.is_empty():
        return None, empty_reason(s)
    if s.instruction and _PROOF_RE.search(s.instruction):
        return None, "proof question"
    t = s.response
    if _GSM8K_RE.search(t):
        return 1.0, "#### answer line"
    if _BOXED_RE.search(t):
        return 1.0, "\\boxed{}"
    last_line = [ln for ln in t.strip().split("\n") if ln.strip()][-1]
    last_sentence = [p for p in _SENTENCE_SPLIT_RE.split(last_line.strip()) if p.strip()][-1]
    if any(ch.isdigit() for ch in last_sentence):
        return 1.0, "number in last sentence"
    return 0.0, "no number in the last sentence"
