"""Format detection with reasons (`detect_format`) and domain suggestions (`suggest_domain`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.data.formats.fields import _mapped
from engine.data.formats.records import Normalized
from engine.data.formats.registry import FORMATS


def detect_format(sample: list, mapping: dict | None = None) -> tuple[str | None, str]:
    """(format, reason) for a sample of records; format None when nothing matches."""
    n = len(sample)
    if mapping:
        m = _mapped(mapping)
        if "messages" in m or "conversations" in m:
            return "sharegpt", "column mapping names a messages column"
        return "mapping", f"column mapping given ({', '.join(f'{k}={v}' for k, v in m.items())})"
    best, best_n = None, 0
    for name, spec in FORMATS.items():
        hits = sum(1 for r in sample if _safe(spec.detect, r))
        if hits > best_n:
            best, best_n = name, hits
    if best is None:
        keys = sorted({k for r in sample if isinstance(r, dict) for k in r})[:20]
        return None, f"no known format matches; keys seen: {', '.join(keys) or '(none)'}"
    keys = sorted({k for r in sample if isinstance(r, dict) and FORMATS[best].detect(r) for k in r})[:12]
    return best, f"{best}: keys {'/'.join(keys)} in {best_n}/{n} sampled records"


def _safe(fn: Callable, r: Any) -> bool:
    try:
        return bool(fn(r))
    except Exception:
        return False


_CODE_MARKERS = re.compile(
    r"```|\bdef \w+\(|\bfunction \w*\(|#include|\bpublic (static )?\w+|\bSELECT\b.*\bFROM\b"
    r"|\bconsole\.log\(|\bimport \w+|</?\w+>",
    re.S,
)


def suggest_domain(fmt: str, sample: list, normalized: list[Normalized]) -> str | None:
    """A domain suggestion from the format and the sampled records (the user's domain always wins)."""
    spec = FORMATS.get(fmt)
    if spec and spec.domain:
        return spec.domain
    if spec and spec.domain_hint:
        hint = spec.domain_hint(sample)
        if hint:
            return hint
    if not normalized:
        return None
    n = len(normalized)
    if (
        sum(1 for x in normalized if x.tools or any("tool_calls" in m or m["role"] == "tool" for m in x.messages)) * 4
        >= n
    ):
        return "tool_use"
    if sum(1 for x in normalized if x.instruction.startswith("toolformer:")) * 2 >= n:
        return "tool_use"
    if sum(1 for x in normalized if _CODE_MARKERS.search(x.response or "")) * 2 >= n:
        return "code"
    return None
