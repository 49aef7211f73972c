"""Repetition operator: the share of repeated word n-grams in the answer."""

from __future__ import annotations

from engine.quality.heuristics.registry import RESPONSE_MESSAGES, operator
from engine.quality.heuristics.sample import Sample, Value, empty_reason

_NGRAM_N = 3


@operator(
    "h_ngram_repetition",
    f"Share of repeated word {_NGRAM_N}-grams in the response: 1 - distinct / total over all "
    f"overlapping {_NGRAM_N}-grams of lower-cased word tokens (letter/digit runs; each CJK "
    "character a token). 0 = no 3-gram occurs twice; 0.9 = most of the text repeats.",
    params={"n": _NGRAM_N},
    needs=RESPONSE_MESSAGES,
    value_range="[0, 1)",
    null_cases=f"empty answer; tool call; fewer than {_NGRAM_N} words",
)
def _ngram_repetition(s: Sample) -> Value:
    if s.is_empty():
        return None, empty_reason(s)
    w = s.resp_words()
    n = _NGRAM_N
    total = len(w) - n + 1
    if total < 1:
        return None, f"fewer than {n} words"
    if n == 3:
        distinct = len(set(zip(w, w[1:], w[2:])))
    else:
        distinct = len({tuple(w[i : i + n]) for i in range(total)})
    return 1.0 - distinct / total, None
