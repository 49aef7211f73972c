"""Script operators: the shares of the answer's letters that are ASCII and CJK."""

from __future__ import annotations

from engine.quality.heuristics.registry import RESPONSE_MESSAGES, operator
from engine.quality.heuristics.sample import Sample, Value, empty_reason


def _letter_share(s: Sample, which: int) -> Value:
    """Count `which` of `Sample.letter_counts()` (1: ASCII, 2: CJK) over all letters of the answer."""
    if s.is_empty():
        return None, empty_reason(s)
    counts = s.letter_counts()
    if counts[0] == 0:
        return None, "no letters"
    return counts[which] / counts[0], None


@operator(
    "h_ascii_share",
    "Share of the response's letters (str.isalpha characters) that are ASCII A-Z/a-z.",
    needs=RESPONSE_MESSAGES,
    value_range="[0, 1]",
    null_cases="empty answer; tool call; no letters",
)
def _ascii_share(s: Sample) -> Value:
    return _letter_share(s, 1)


@operator(
    "h_cjk_share",
    "Share of the response's letters that are CJK (Han ideographs, kana, hangul).",
    needs=RESPONSE_MESSAGES,
    value_range="[0, 1]",
    null_cases="empty answer; tool call; no letters",
)
def _cjk_share(s: Sample) -> Value:
    return _letter_share(s, 2)
