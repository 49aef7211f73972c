"""Length operators: characters of response and instruction, and a tokenizer-free token estimate."""

from __future__ import annotations

from engine.quality.heuristics.registry import operator
from engine.quality.heuristics.sample import Sample, Value
from engine.quality.heuristics.text import CJK_RE


@operator(
    "h_resp_chars",
    "Characters (Unicode code points) in the response (last assistant turn's content); 0 when there is none.",
    value_range=">= 0",
    null_cases="never",
)
def _resp_chars(s: Sample) -> Value:
    return float(len(s.response or "")), None


@operator(
    "h_resp_tokens_est",
    "Estimated tokens of the response, without a tokenizer: CJK characters count 1 each, every "
    "other character 1/4 (rounded up), i.e. n_cjk + ceil((n_chars - n_cjk) / 4).",
    value_range=">= 0",
    null_cases="never",
)
def _resp_tokens_est(s: Sample) -> Value:
    t = s.response or ""
    if not t:
        return 0.0, None
    n_cjk = 0 if t.isascii() else len(CJK_RE.findall(t))
    return float(n_cjk + -(-(len(t) - n_cjk) // 4)), None


@operator(
    "h_instr_chars",
    "Characters (Unicode code points) in the instruction (first user turn's content); 0 when none.",
    needs=frozenset({"instruction"}),
    value_range=">= 0",
    null_cases="never",
)
def _instr_chars(s: Sample) -> Value:
    return float(len(s.instruction or "")), None
