"""Explicit heuristic quality operators, stored as scores, and a separate keep/drop rule layer.

Two layers, kept apart on purpose:

* **Operators** (`OPERATORS`, names `h_*`) turn one sample into one number, or into NULL with a reason
  when the operator does not apply ("not math", "no tool calls", "empty answer"). Every operator has a
  `definition` and a `version`; both are stored with the metric through `engine.quality.scores.MetricDef`,
  so a stored value always says what it measures. A 1-valued flag may carry a reason too ("unclosed code
  fence", "contains 'as an ai language model'") so that the UI can say *why*. `run_heuristics` computes
  them resumably over the store.
* **Rules** (`Rule`, `h_filter_defaults`) read the stored values and decide keep/drop (`keep_mask`,
  `explain_filters`).

Modules: `registry` (Operator, OPERATORS, the `operator` decorator), `sample` and `text` (what operators
read), one module per operator family, registered where defined and imported here in listing order:
`length`, `content` (empty, truncated), `repetition`, `refusal`, `script` (ASCII/CJK shares), `overlap`,
`code`, `math`, `tool_calls`; then `job` (run_heuristics) and `rules` (the keep/drop layer).
"""

from __future__ import annotations

# Importing a family registers its operators: this order is the order of OPERATORS and of every listing.
# isort: off
from engine.quality.heuristics import length, content, repetition, refusal, script, overlap  # noqa: F401
from engine.quality.heuristics import code, math, tool_calls  # noqa: F401

# isort: on
from engine.quality.heuristics.code import PYTHON_LANGS, code_blocks
from engine.quality.heuristics.job import run_heuristics
from engine.quality.heuristics.math import MATH_DOMAINS
from engine.quality.heuristics.refusal import REFUSAL_ANYWHERE, REFUSAL_OPENING, REFUSAL_OPENING_CHARS
from engine.quality.heuristics.registry import OPERATORS, Operator, compute, operator, register_operator
from engine.quality.heuristics.rules import (
    DomainCounts,
    Rule,
    RuleCount,
    explain_filters,
    format_explain,
    h_filter_defaults,
    keep_mask,
)
from engine.quality.heuristics.sample import Sample, Value
from engine.quality.heuristics.text import STOPWORDS, words

__all__ = [
    "OPERATORS",
    "Operator",
    "Rule",
    "RuleCount",
    "DomainCounts",
    "Sample",
    "compute",
    "explain_filters",
    "format_explain",
    "h_filter_defaults",
    "keep_mask",
    "register_operator",
    "operator",
    "Value",
    "run_heuristics",
    "words",
    "code_blocks",
    "REFUSAL_ANYWHERE",
    "REFUSAL_OPENING",
    "STOPWORDS",
    "REFUSAL_OPENING_CHARS",
    "PYTHON_LANGS",
    "MATH_DOMAINS",
]
