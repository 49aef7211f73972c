"""Overlap operators: how much of the answer's vocabulary the instruction shares (content words, no stopwords)."""

from __future__ import annotations

from engine.quality.heuristics.registry import operator
from engine.quality.heuristics.sample import Sample, Value, empty_reason


def _overlap_sets(s: Sample) -> tuple[set, set] | Value:
    if s.is_empty():
        return None, empty_reason(s)
    if not s.instruction or not s.instruction.strip():
        return None, "no instruction"
    r, i = s.content_words()
    if not r:
        return None, "no content words in answer"
    if not i:
        return None, "no content words in instruction"
    return r, i


def _shared_share(s: Sample, base) -> Value:
    """|R & I| over the size of `base(R, I)`, or the reason there are no sets to compare."""
    sets = _overlap_sets(s)
    if sets[0] is None:
        return sets
    r, i = sets
    return len(r & i) / len(base(r, i)), None


@operator(
    "h_instr_resp_overlap",
    "Share of the response's content-word types (lower-cased word tokens minus an English "
    "stopword list) that also occur in the instruction: |R & I| / |R|. Low = answer shares no "
    "vocabulary with the question; near 1 = answer mostly restates it.",
    needs=frozenset({"instruction", "response", "messages"}),
    value_range="[0, 1]",
    null_cases="empty answer; tool call; no instruction; no content words in answer/instruction",
)
def _overlap(s: Sample) -> Value:
    return _shared_share(s, lambda r, i: r)


@operator(
    "h_instr_resp_jaccard",
    "Jaccard similarity of the content-word type sets of instruction and response: "
    "|R & I| / |R | I| (same tokens as h_instr_resp_overlap).",
    needs=frozenset({"instruction", "response", "messages"}),
    value_range="[0, 1]",
    null_cases="empty answer; tool call; no instruction; no content words in answer/instruction",
)
def _jaccard(s: Sample) -> Value:
    return _shared_share(s, lambda r, i: r | i)
