"""The view of one stored sample that heuristic operators read, with cached derived values."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from engine.quality.heuristics.text import ALNUM_RE, STOPWORDS, letter_counts, words

Value = tuple[float | None, str | None]


@dataclass(slots=True)
class Sample:
    """What an operator sees of one stored sample. `messages`/`tools` may be JSON text or parsed.

    `run_heuristics` only loads `messages` for samples whose messages mention "tool_calls" (the other
    operators use `instruction`/`response`); build a Sample by hand to call an operator directly.
    """

    id: int = 0
    instruction: str | None = None
    response: str | None = None
    domain: str = "general"
    messages: list | str | None = None
    tools: list | str | None = None
    _words: list | None = field(default=None, repr=False)
    _iwords: list | None = field(default=None, repr=False)
    _calls: tuple | None = field(default=None, repr=False)
    _empty: bool | None = field(default=None, repr=False)
    _letters: tuple | None = field(default=None, repr=False)
    _content: tuple | None = field(default=None, repr=False)

    # -- derived, cached ---------------------------------------------------------------------------
    def resp_words(self) -> list[str]:
        if self._words is None:
            self._words = words(self.response or "")
        return self._words

    def instr_words(self) -> list[str]:
        if self._iwords is None:
            self._iwords = words(self.instruction or "")
        return self._iwords

    def is_empty(self) -> bool:
        """No response, or a response without any letter or digit (any script)."""
        if self._empty is None:
            r = self.response
            self._empty = not r or (not r[:1].isalnum() and ALNUM_RE.search(r) is None)
        return self._empty

    def letter_counts(self) -> tuple[int, int, int]:
        if self._letters is None:
            self._letters = letter_counts(self.response or "")
        return self._letters

    def content_words(self) -> tuple[set, set]:
        """(response, instruction) word-type sets without STOPWORDS."""
        if self._content is None:
            self._content = (set(self.resp_words()) - STOPWORDS, set(self.instr_words()) - STOPWORDS)
        return self._content

    def _parse_calls(self) -> tuple[list, bool, str | None]:
        """(every tool call of every assistant turn, last assistant turn is a tool call, parse error)."""
        if self._calls is None:
            msgs = self.messages
            calls: list = []
            last_is_call = False
            err = None
            if isinstance(msgs, str):
                try:
                    msgs = json.loads(msgs)
                except ValueError as e:
                    msgs, err = None, f"messages are not JSON: {e}"
            if isinstance(msgs, list):
                for m in msgs:
                    if not isinstance(m, dict) or m.get("role") != "assistant":
                        continue
                    tc = m.get("tool_calls") or []
                    if isinstance(tc, dict):
                        tc = [tc]
                    if m.get("function_call"):  # legacy OpenAI single call
                        tc = list(tc) + [m["function_call"]]
                    calls.extend(tc)
                    last_is_call = bool(tc)
            self._calls = (calls, last_is_call, err)
        return self._calls

    def tool_calls(self) -> list:
        return self._parse_calls()[0]

    def ends_with_tool_call(self) -> bool:
        return self._parse_calls()[1]


def empty_reason(s: Sample) -> str:
    """The NULL reason of an operator that needs an answer: 'tool call' or 'empty answer'."""
    return "tool call" if s.ends_with_tool_call() else "empty answer"
