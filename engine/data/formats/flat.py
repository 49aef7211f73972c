"""Flat records: plain string fields that make the user turn, the reply and the system prompt.

Flat formats can also be imported by the DuckDB fast path, which builds the same rows as `flat_row`."""

from __future__ import annotations

from typing import Any

from engine.data.formats.fields import (
    _MISSING,
    FieldError,
    NotFlat,
    _expected_str,
    _missing,
    _user_assistant,
    type_name,
)
from engine.data.formats.records import INPUT_SPLIT, Normalized
from engine.data.formats.registry import FlatCols, FormatContext


def flat_row(rec: Any, cols: FlatCols) -> tuple[str | None, str, str | None, dict | None]:
    """(system, user, reply, meta) of a flat record; raises FieldError or NotFlat.

    When an optional user key (alpaca's input) is non-empty, meta["input_split"] is the length of the
    first part (the instruction)."""
    if type(rec) is not dict:
        raise FieldError(None, f"expected a JSON object, got {type_name(rec)}")
    k0 = cols.user[0]
    u = rec.get(k0, _MISSING)
    if type(u) is not str:
        if u is _MISSING:
            raise _missing(rec, k0)
        raise FieldError(k0, _expected_str(u))
    split = None
    for k in cols.user[1:]:
        v = rec.get(k)
        if v is None:
            continue
        if type(v) is not str:
            raise FieldError(k, _expected_str(v))
        if v:
            if split is None:
                split = len(u)
            u = u + "\n" + v
    a = None
    if cols.assistant:
        a = rec.get(cols.assistant, _MISSING)
        if a is _MISSING:
            raise _missing(rec, cols.assistant)
        if a is not None and type(a) is not str:
            raise FieldError(cols.assistant, _expected_str(a))
    s = None
    if cols.system:
        s = rec.get(cols.system)
        if s is not None and type(s) is not str:
            raise FieldError(cols.system, _expected_str(s))
        if not s:
            s = None
    for k in cols.complex_keys:
        v = rec.get(k)
        if v is not None and v != [] and v != "":
            raise NotFlat(k)
    meta = None
    used = cols.used
    for k in rec:
        if k not in used:
            meta = {k: v for k, v in rec.items() if k not in used}
            break
    if split is not None:  # instruction = u[:split], input = u[split + 1:]
        if meta is None:
            meta = {INPUT_SPLIT: split}
        else:  # last key, as DuckDB's json_merge_patch puts it (the fast path gives identical rows)
            meta.pop(INPUT_SPLIT, None)
            meta[INPUT_SPLIT] = split
    return s, u, a, meta


def _flat_normalized(rec: Any, cols: FlatCols) -> Normalized:
    s, u, a, meta = flat_row(rec, cols)
    return Normalized(_user_assistant(u, a, s), s, None, meta or {})


def _fixed_flat(user: tuple[str, ...], assistant: str | None, system: str | None = None):
    cols = FlatCols(user=user, assistant=assistant, system=system)

    def resolve(sample: list, mapping: dict, fmt: str) -> tuple[dict, FlatCols]:
        return {}, cols

    def normalize(rec: Any, ctx: FormatContext) -> Normalized:
        return _flat_normalized(rec, ctx.flat or cols)

    return resolve, normalize
