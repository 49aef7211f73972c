"""Content operators: an empty answer, and an answer that looks cut off (truncation is a text heuristic)."""

from __future__ import annotations

import re

from engine.quality.heuristics.registry import RESPONSE_MESSAGES, operator
from engine.quality.heuristics.sample import Sample, Value, empty_reason


@operator(
    "h_empty_answer",
    "1 when the response is missing or contains no letter or digit (any script) and the last "
    "assistant turn is not a tool call; else 0.",
    needs=RESPONSE_MESSAGES,
    value_range="{0, 1}",
    null_cases="never",
)
def _empty_answer(s: Sample) -> Value:
    if s.is_empty():
        if s.ends_with_tool_call():
            return 0.0, "answer is a tool call"
        return 1.0, "no response" if s.response is None else "no letter or digit"
    return 0.0, None


_FENCE_LINE_RE = re.compile(r"^[ \t]*```", re.M)
_TERMINAL = set(".!?…。！？．」』\"'”’)]}>`*_~|$%")
_CONTINUATION = set(",;:([{-–—=+/\\&<×÷−·±^")
_NON_FINAL_WORDS = frozenset(
    """
a an the and or but nor of to for with from by at into onto than that which whose because although
though if whether is are was were be been being has have had will would shall should can could may
might must such their its our your my his her this these those as when while whereas via like
""".split()
)
_LIST_ITEM_RE = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)]|[a-zA-Z][.)])\s")
_INNER_SENTENCE_END_RE = re.compile(r"[.!?。！？][\"')\]”’]*\s+\S")
_TRAILING_WORD_RE = re.compile(r"([^\W_]+)\W*$")


def _line_kind(line: str) -> str:
    st = line.lstrip()
    if st.startswith("#"):
        return "heading"
    if st.startswith("|"):
        return "table"
    if _LIST_ITEM_RE.match(line):
        return "list"
    return "prose"


def _code_bracket_depth(code: str) -> int:
    """Open-bracket depth at the end of `code`, ignoring quoted strings and #, // comments."""
    depth, i, n = 0, 0, len(code)
    pairs = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
    while i < n:
        ch = code[i]
        if ch in "\"'":
            j = i + 1
            while j < n and code[j] != ch and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            i = j + 1
            continue
        if ch == "#" or (ch == "/" and i + 1 < n and code[i + 1] == "/"):
            j = code.find("\n", i)
            i = n if j < 0 else j
            continue
        depth += pairs.get(ch, 0)
        i += 1
    return depth


@operator(
    "h_truncated_answer",
    "1 when the response looks cut off, checked in this order on the right-stripped text: (1) an "
    "odd number of ``` fence lines (unclosed block); (2) code-domain answer without fences: an "
    "unclosed bracket (quoted strings and #, // comments skipped) or a trailing , ( [ { \\ = +, else "
    "0; (3) a trailing continuation character , ; : ( [ { - – — = + / \\ & < × ÷ − · ± ^; "
    "(4) ending in a digit, a non-letter symbol or closing punctuation/bracket/quote/fence: 0; "
    "(5) ending in a letter: 1 when the last word is a function word that cannot end a sentence "
    "(the, and, of, to, is, ...), or the last line outside code blocks is a markdown heading, or it "
    "is a prose line of >= 12 words, or it is a prose line or list item of >= 4 words (or >= 20 "
    "chars) while most earlier prose lines (for a list item: all earlier list items) with >= 4 "
    "words end with punctuation (or, "
    "with no such lines, an earlier sentence on the same line does); a line after a short line "
    "ending with ',' (a letter's sign-off) and table rows are 0. Otherwise 0.",
    needs=frozenset({"response", "domain", "messages"}),
    value_range="{0, 1}",
    null_cases="empty answer; tool call (answer is a tool call)",
)
def _truncated_answer(s: Sample) -> Value:
    if s.is_empty():
        return None, empty_reason(s)
    t = s.response.rstrip()
    n_fences = len(_FENCE_LINE_RE.findall(t))
    if n_fences % 2:
        return 1.0, "unclosed code fence"
    last = t[-1]
    if s.domain == "code" and n_fences == 0:
        # The whole answer is code: judge brackets and a dangling operator, not punctuation.
        if _code_bracket_depth(t) > 0:
            return 1.0, "unclosed bracket in code"
        if last in ",([{\\=+":
            return 1.0, f"code ends with '{last}'"
        return 0.0, None
    if last in _CONTINUATION:
        return 1.0, f"ends with '{last}'"
    if last in _TERMINAL or last.isdigit() or not last.isalpha():
        return 0.0, None
    # Ends with a letter and no closing punctuation.
    m = _TRAILING_WORD_RE.search(t[-64:])
    word = m.group(1).lower() if m else ""
    if word in _NON_FINAL_WORDS:
        return 1.0, f"ends with '{word}'"
    lines = _prose_lines(t)
    if not lines:
        return 0.0, None
    last_line = lines[-1].strip()
    kind = _line_kind(last_line)
    if kind == "heading":
        return 1.0, "ends with a heading"
    if kind not in ("prose", "list"):
        return 0.0, None
    n_words = len(last_line.split())
    if n_words < 4 and len(last_line) < 20:
        return 0.0, None  # a label, a name, a short list item
    if len(lines) >= 2 and lines[-2].rstrip().endswith(",") and len(lines[-2].split()) <= 4:
        return 0.0, None  # a letter's sign-off: "Kind regards,\nThe team"
    if kind == "prose" and n_words >= 12:
        return 1.0, "long sentence without final punctuation"
    # Does the author end the other lines of this kind (prose lines, or list items) with punctuation?
    prev = [ln.strip() for ln in lines[:-1] if _line_kind(ln) == kind and len(ln.split()) >= 4]
    if prev:
        punct = sum(1 for ln in prev if ln[-1] in _TERMINAL or ln[-1] == ":")
        # prose: most other lines punctuated; list items are often fragments, so all of them
        if (punct * 2 >= len(prev)) if kind == "prose" else (punct == len(prev)):
            return 1.0, ("last list item" if kind == "list" else "last sentence") + " without final punctuation"
        return 0.0, None
    if _INNER_SENTENCE_END_RE.search(last_line):
        return 1.0, "last sentence without final punctuation"
    return 0.0, None


def _prose_lines(text: str) -> list[str]:
    """Non-empty lines outside fenced code blocks (fence lines themselves dropped)."""
    out, inside = [], False
    for ln in text.split("\n"):
        if ln.lstrip().startswith("```"):
            inside = not inside
            continue
        if not inside and ln.strip():
            out.append(ln)
    return out
