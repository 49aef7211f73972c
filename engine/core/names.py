"""The one rule for every name a person gives: pools, tags, domains, rules, mixtures, selections, clusterings,
interpolation sets and runs.

A name is 1 to MAX_NAME characters on one line, surrounding spaces dropped, with no control characters (newline,
tab, NUL, ANSI escape ESC ...), no line or paragraph separators (U+2028, U+2029), no bidirectional overrides
(U+202A-U+202E, U+2066-U+2069, which make a name read differently than it is stored) and no leading '-' (it
reads as an option on the command line). Anything else is allowed: spaces inside, punctuation, any script.
"""

from __future__ import annotations

import unicodedata

from engine.core.errors import InputError

MAX_NAME = 200
RULE = f"1-{MAX_NAME} characters on one line, no control or direction-override characters, not starting with '-'"
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}


class BadName(InputError):
    """A name that breaks the rule (an InputError, exit 1)."""


def shown(value: str) -> str:
    """The value quoted with every unprintable character escaped, cut to 40 characters: how an error message
    quotes a name or reference a person gave (never 10,000 characters of it, never a raw escape sequence)."""
    text = value if len(value) <= 40 else value[:40] + "..."
    return ascii(text) if not text.isprintable() else repr(text)


def check_name(
    value, field: str = "name", *, forbid: dict[str, str] | None = None, error: type[InputError] = BadName
) -> str:
    """`value` stripped of surrounding spaces when it is a valid name, else a BadName (InputError) naming `field`
    and the rule. `forbid`: characters this kind of name may not contain besides, each with the reason
    (`{"@": "NAME@v names a version"}` for mixtures). `error`: the InputError class to raise (an area's own)."""

    def bad(why: str) -> InputError:
        return error(f"{field}: {why}; {field}s are {RULE}")

    if not isinstance(value, str):
        raise bad(f"expected text, got {type(value).__name__}")
    name = value.strip()
    if not name:
        raise bad("empty" if not value else "only spaces")
    if len(name) > MAX_NAME:
        raise bad(f"{len(name):,} characters long")
    for i, ch in enumerate(name):
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Zl", "Zp") or ord(ch) in _BIDI:
            what = unicodedata.name(ch, "control character")
            raise bad(f"{shown(name)} has U+{ord(ch):04X} ({what.lower()}) at character {i + 1}")
        if forbid and ch in forbid:
            raise bad(f"{shown(name)}: {field}s cannot contain {ch!r} ({forbid[ch]})")
    if name.startswith("-"):
        raise bad(f"{shown(name)} starts with '-'")
    return name
