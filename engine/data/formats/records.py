"""Canonical samples: `Normalized` (OpenAI-style messages), `RecordIssue`, the content hash and `input_split`."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DOMAINS = ["general", "math", "code", "tool_use"]


@dataclass
class Normalized:
    """One sample in canonical form."""

    messages: list[dict]
    system: str | None = None
    tools: list | None = None
    meta: dict = field(default_factory=dict)
    # preference (ranking) samples: the rejected reply, an assistant message; messages end with the chosen one
    rejected: dict | None = None

    @property
    def instruction(self) -> str:
        """Content of the first user message ('' if none)."""
        for m in self.messages:
            if m["role"] == "user":
                return m["content"]
        return ""

    @property
    def response(self) -> str:
        """Content of the last assistant message ('' if none)."""
        for m in reversed(self.messages):
            if m["role"] == "assistant":
                return m["content"]
        return ""

    @property
    def n_turns(self) -> int:
        """Number of user + assistant messages."""
        return sum(1 for m in self.messages if m["role"] in ("user", "assistant"))


@dataclass
class RecordIssue:
    """A problem with one record (or, with record_index None, with the whole file)."""

    file: str
    line: int | None
    record_index: int | None
    field: str | None
    message: str
    name: str | None = None  # how messages name the file (a path inside an imported folder); default its name

    def __str__(self) -> str:
        loc = self.name or Path(self.file).name
        if self.line is not None:
            loc += f":{self.line}"
        if self.record_index is not None:
            loc += f" (record {self.record_index})"
        if self.field:
            loc += f" field {self.field!r}"
        return f"{loc}: {self.message}"

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "line": self.line,
            "record_index": self.record_index,
            "field": self.field,
            "message": self.message,
            "error": str(self),
        }


_HASH_EXTRAS = ("name", "tool_calls", "tool_call_id")


def _message_text(m: dict) -> str:
    extra = {k: m[k] for k in _HASH_EXTRAS if k in m}
    t = m["role"] + "\x1f" + m["content"]
    if extra:
        t += "\x1f" + json_text(extra, sort_keys=True)
    return t


def content_hash_text(
    messages: list[dict], system: str | None, tools: list | None, rejected: dict | None = None
) -> str:
    """The canonical serialisation behind `content_hash`.

    system, RS, tools (sorted-key compact JSON), RS, then each message as role US content
    [US sorted-key JSON of name/tool_calls/tool_call_id], messages separated by GS; a preference sample
    adds RS and its rejected message written the same way. Only strings and Python's json module are
    involved, so the hash does not depend on how a file or DuckDB writes JSON."""
    tools_text = json_text(tools, sort_keys=True) if tools else ""
    text = (system or "") + "\x1e" + tools_text + "\x1e" + "\x1d".join(_message_text(m) for m in messages)
    if rejected is not None:
        text += "\x1e" + _message_text(rejected)
    return text


def content_hash(messages: list[dict], system: str | None, tools: list | None, rejected: dict | None = None) -> str:
    """md5 hex of `content_hash_text` (what samples.content_hash holds)."""
    text = content_hash_text(messages, system, tools, rejected)
    return hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()


def preference_pair(messages: list[dict], rejected: dict | None) -> tuple[list[dict], dict, dict] | None:
    """(prompt messages, chosen, rejected) of a stored preference sample (samples.messages and
    samples.rejected, parsed); None for an ordinary sample. The chosen reply is the last message."""
    if rejected is None or not messages or messages[-1]["role"] != "assistant":
        return None
    return messages[:-1], messages[-1], rejected


class BigInt(float):
    """An integer literal longer than Python's int() reads (sys.get_int_max_str_digits(), 4,300 digits): kept as
    its digits, which `json_text` writes back unchanged (DuckDB keeps such a number as it is). To everything else
    it is a float, infinite: it is never a string, and plain `json.dumps(allow_nan=False)` refuses it."""

    digits: str

    def __new__(cls, digits: str) -> "BigInt":
        self = super().__new__(cls, "-inf" if digits.startswith("-") else "inf")
        self.digits = digits
        return self

    def __repr__(self) -> str:
        return self.digits


def json_text(v: Any, *, sort_keys: bool = False, separators: tuple[str, str] = (",", ":")) -> str:
    """Compact JSON text, always valid JSON: NaN and infinite numbers (JSON has none) are written as null, as
    JavaScript's JSON.stringify does, and a `BigInt` as its digits. Other values json cannot write become strings."""
    try:
        return json.dumps(
            v, ensure_ascii=False, separators=separators, default=str, allow_nan=False, sort_keys=sort_keys
        )
    except ValueError:  # NaN, Infinity or a BigInt somewhere in v (rare: the fast way above is the rule)
        pass
    token = uuid.uuid4().hex
    digits: dict[str, str] = {}

    def fix(x: Any) -> Any:
        if isinstance(x, float):
            if isinstance(x, BigInt):
                mark = f"\x00{token}{len(digits)}\x00"
                digits[json.dumps(mark)] = x.digits
                return mark
            return x if math.isfinite(x) else None
        if isinstance(x, dict):
            return {k: fix(w) for k, w in x.items()}
        if isinstance(x, (list, tuple)):
            return [fix(w) for w in x]
        return x

    text = json.dumps(
        fix(v), ensure_ascii=False, separators=separators, default=str, allow_nan=False, sort_keys=sort_keys
    )
    for mark, d in digits.items():
        text = text.replace(mark, d)
    return text


def dumps(v: Any) -> str:
    """Compact JSON text used for staging (DuckDB re-serialises it canonically); see `json_text`."""
    return json_text(v)


# meta key of a flat record whose user turn joins an instruction and a non-empty input (alpaca, dolly,
# column mappings, alpaca-style prompt-only sets): the instruction's length in characters (code points),
# so that instruction = user[:n] and input = user[n + 1:] without storing the texts twice
INPUT_SPLIT = "input_split"


def split_user(content: str, n: Any) -> tuple[str, str] | None:
    """(instruction, input) of a user turn from its `meta["input_split"]`; None if `n` does not fit it."""
    if type(n) is not int or not 0 <= n < len(content) or content[n] != "\n":
        return None
    return content[:n], content[n + 1 :]
