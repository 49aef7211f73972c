"""The format registry: `FormatSpec`, `FORMATS` (filled by the family modules), `make_context`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.data.formats.records import Normalized


@dataclass(frozen=True)
class FlatCols:
    """Keys of a flat record: user = user[0] + "\\n" + each non-empty optional user[1:], reply, system.

    `complex_keys` must be absent, null or empty for the flat path to apply (else `NotFlat`)."""

    user: tuple[str, ...]
    assistant: str | None
    system: str | None = None
    complex_keys: tuple[str, ...] = ()

    @property
    def used(self) -> frozenset:
        keys = set(self.user) | set(self.complex_keys)
        if self.assistant:
            keys.add(self.assistant)
        if self.system:
            keys.add(self.system)
        return frozenset(keys)


@dataclass
class FormatContext:
    """Per-file settings: the format, the user's column mapping / LLaMA-Factory tags, resolved keys."""

    format: str
    mapping: dict = field(default_factory=dict)
    keys: dict = field(default_factory=dict)  # role -> record key, resolved from a sample
    flat: FlatCols | None = None


@dataclass
class FormatSpec:
    """A supported input format."""

    name: str
    description: str
    detect: Callable[[Any], bool]
    normalize: Callable[[Any, FormatContext], Normalized]
    resolve: Callable[[list, dict, str], tuple[dict, FlatCols | None]] | None = None
    required: Callable[[FormatContext], list[str]] = lambda ctx: []
    domain_hint: Callable[[list], str | None] | None = None
    domain: str | None = None  # fixed suggestion


FORMATS: dict[str, FormatSpec] = {}

# Detection precedence: when records fit several formats equally well the earlier one wins, so the more
# specific formats come first. FORMATS keeps this order whatever order the family modules register in.
PRECEDENCE = (
    "mbpp",
    "humaneval",
    "svamp",
    "asdiv",
    "bfcl",
    "openfunctions",
    "apibench",
    "self_instruct",
    "sharegpt_ranking",
    "alpaca_ranking",
    "sharegpt",
    "messages",
    "dolly",
    "alpaca",
    "problem_solution",
    "qa",
    "prompt_completion",
    "mcq",
    "prompt_only",
    "mapping",
)

FLAT_FORMATS = frozenset({"alpaca", "mapping", "dolly", "prompt_completion", "prompt_only"})


def register(spec: FormatSpec) -> FormatSpec:
    """Add a format to `FORMATS` (kept in `PRECEDENCE` order; unlisted names go last)."""
    if spec.name in FORMATS:
        raise ValueError(f"format {spec.name!r} is already registered")
    FORMATS[spec.name] = spec
    rank = {n: i for i, n in enumerate(PRECEDENCE)}
    ordered = sorted(FORMATS.values(), key=lambda s: rank.get(s.name, len(rank)))
    FORMATS.clear()
    FORMATS.update((s.name, s) for s in ordered)
    return spec


def make_context(fmt: str, sample: list, mapping: dict | None) -> FormatContext:
    """Resolve a format's keys (e.g. alpaca's output vs response) from a sample of records."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    mapping = dict(mapping or {})
    keys, flat = ({}, None)
    if spec.resolve is not None:
        keys, flat = spec.resolve(sample, mapping, fmt)
    return FormatContext(fmt, mapping, keys, flat)
