"""Tool (function) calls: parse them out of a model output and score them the way BFCL's AST checker does.

The scorer follows the Berkeley Function-Calling Leaderboard's ``ast_checker`` (gorilla,
berkeley-function-call-leaderboard/bfcl_eval/eval_checker/ast_eval/ast_checker.py); this is our own code,
written from reading it. docs/evaluation.md ("tool") lists every rule and where we differ on purpose.

Reference (possible answers): BFCL ``ground_truth`` ``[{func_name: {param: [acceptable values]}}]``, where
``""`` among a parameter's acceptable values means it may be omitted, an acceptable value that is a dict is a
nested possible answer (``{key: [acceptable values]}``, recursively) and a list may hold such dicts; or
``expected_calls`` ``[{name, arguments}]`` whose values are the one acceptable value each (extra arguments
are then allowed when the tool schema declares them).

Rules, per expected call, against one produced call (`call_error`):
- function name: case-sensitive; a produced name equal to the expected one with ``.`` replaced by ``_`` also
  matches (BFCL renames dotted functions that way for APIs that forbid dots in names).
- every parameter the schema marks required (unless the answer key lists ``""`` for it) and every answer-key
  parameter without ``""`` is present; a produced parameter the answer key does not list is wrong
  (``expected_calls``: allowed when the schema declares it, or when there is no schema).
- the value's type is checked against the schema type (`TYPE_GROUPS`); a value of another type passes only
  when the answer key itself lists a value of exactly that type that it equals as written (BFCL's
  "variable" rule: a variable name given as a string for a number parameter). An int is accepted for
  ``float``; ``any`` and unknown types accept anything; without a schema nothing is type-checked.
- a parameter the answer key lists but the schema does not declare is checked by value only.
- the value equals one acceptable value (`value_matches`): strings after `standardize_string` (BFCL's
  normalisation), numbers by ``==`` (bool never equals a number), lists in order, dicts as possible answers.

Parallel calls: the number of produced calls must equal the number expected, and expected and produced calls
are paired by a maximum bipartite matching (`match_calls`), so order never matters and there is no limit on
the number of calls.

Java and JavaScript items (BFCL ``simple_java`` / ``simple_javascript``): a string value for a non-string
parameter is read as Java / JavaScript source (``"true"``, ``"5L"``, ``"new int[]{1, 2}"``, ``"[1, 2]"``,
``"{a: 1}"``) before the type check, as BFCL's type converters do; a native JSON value is taken as it is.

The code: `tool_parse` (outputs and references), `tool_values` (values, types, Java / JavaScript source),
`tool_match` (one call, several calls); this module is their public entry point.
"""

from __future__ import annotations

from engine.evaluation.tool_match import CallsMatch, call_error, match_calls, names_match
from engine.evaluation.tool_parse import (
    LANGUAGES,
    ToolCallError,
    expected_from_reference,
    parse_tool_calls,
    tool_language,
    tool_schemas,
)
from engine.evaluation.tool_values import TYPE_GROUPS, standardize_string, value_matches

__all__ = [
    "LANGUAGES",
    "TYPE_GROUPS",
    "CallsMatch",
    "ToolCallError",
    "call_error",
    "expected_from_reference",
    "match_calls",
    "names_match",
    "parse_tool_calls",
    "standardize_string",
    "tool_language",
    "tool_schemas",
    "value_matches",
]
