"""Script operators: the shares of the answer's letters that are ASCII and CJK."""

from __future__ import annotations

from engine.quality.heuristics.registry import RESPONSE_MESSAGES, operator
from engine.quality.heuristics.sample import Sample, Value, empty_reason


@operator(
    "h_ascii_share",
    "Share of the response's letters (str.isalpha characters) that are ASCII A-Z/a-z.",
    needs=RESPONSE_MESSAGES,
    value_range="[0, 1]",
    null_cases="empty answer; tool call; no letters",
)
def _ascii_share(s: Sample) -> Value:
    if s.is_empty():
        return None, empty_reason(s)
    n, n_ascii, _ = s.letter_counts()
    if n == 0:
        return None, "no letters"
    return n_ascii / n, None


@operator(
    "h_cjk_share",
    "Share of the response's letters that are CJK (Han ideographs, kana, hangul).",
    needs=RESPONSE_MESSAGES,
    value_range="[0, 1]",
    null_cases="empty answer; tool call; no letters",
)
def _cjk_share(s: Sample) -> Value:
    if s.is_empty():
        return None, empty_reason(s)
    n, _, n_cjk = s.letter_counts()
    if n == 0:
        return None, "no letters"
    return n_cjk / n, None
