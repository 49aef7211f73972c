"""Instruction formats: Alpaca and column mappings, Dolly, prompt/completion, prompt-only eval sets, self-instruct."""

from __future__ import annotations

from typing import Any

from engine.data.formats.fields import (
    _MISSING,
    FieldError,
    NotFlat,
    _expected_str,
    _get_str,
    _join,
    _mapped,
    _meta,
    _missing,
    _need_obj,
    _parse_tools,
    _user_assistant,
    type_name,
)
from engine.data.formats.flat import _fixed_flat, _flat_normalized, flat_row
from engine.data.formats.records import Normalized
from engine.data.formats.registry import FlatCols, FormatContext, FormatSpec, register

# -- alpaca / column mapping -----------------------------------------------------------------------
_ALPACA_DEFAULTS = {
    "instruction": "instruction",
    "input": "input",
    "output": None,
    "system": "system",
    "history": "history",
    "tools": "tools",
}


def _resolve_alpaca(sample: list, mapping: dict, fmt: str) -> tuple[dict, FlatCols | None]:
    m = _mapped(mapping)
    if fmt == "mapping":
        keys = {r: m.get(r) for r in _ALPACA_DEFAULTS}
        if not keys["instruction"]:
            raise FieldError(None, "a column mapping needs at least 'instruction' (or 'prompt')")
    else:
        keys = {r: m.get(r, d) for r, d in _ALPACA_DEFAULTS.items()}
        if "output" not in m:  # mapped to None: prompt-only (LLaMA-Factory columns without a response)
            recs = [r for r in sample if isinstance(r, dict)]
            has_out = any("output" in r for r in recs)
            keys["output"] = "output" if has_out or not any("response" in r for r in recs) else "response"
    user = tuple(k for k in (keys["instruction"], keys["input"]) if k)
    cx = tuple(k for k in (keys["history"], keys["tools"]) if k)
    return keys, FlatCols(user=user, assistant=keys["output"], system=keys["system"], complex_keys=cx)


def _norm_alpaca(rec: Any, ctx: FormatContext) -> Normalized:
    cols = ctx.flat
    try:
        return _flat_normalized(rec, cols)
    except NotFlat:
        pass
    k = ctx.keys
    system = _get_str(rec, k["system"], optional=True) if k["system"] else None
    system = system or None
    msgs: list[dict] = [{"role": "system", "content": system}] if system else []
    hk = k["history"]
    hist = rec.get(hk) if hk else None
    if hist:
        if not isinstance(hist, list):
            raise FieldError(hk, f"expected a list of [prompt, response] pairs, got {type_name(hist)}")
        for i, pair in enumerate(hist):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(x, str) for x in pair):
                raise FieldError(f"{hk}[{i}]", "expected a [prompt, response] pair of strings")
            msgs += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    s, u, a, meta = flat_row({kk: vv for kk, vv in rec.items() if kk not in cols.complex_keys}, cols)
    msgs.append({"role": "user", "content": u})
    if a is not None:
        msgs.append({"role": "assistant", "content": a})
    tools = _parse_tools(rec.get(k["tools"]), k["tools"]) if k["tools"] else None
    return Normalized(msgs, system, tools, meta or {})


def _detect_alpaca(r: Any) -> bool:
    return isinstance(r, dict) and "instruction" in r and ("output" in r or "response" in r)


register(
    FormatSpec(
        "alpaca",
        "Alpaca: instruction, input, output (or response), optional system, history",
        _detect_alpaca,
        _norm_alpaca,
        resolve=_resolve_alpaca,
        required=lambda c: [c.keys["instruction"], c.keys["output"]],
    )
)


register(
    FormatSpec(
        "mapping",
        "user column mapping {instruction|prompt, input|query, output|response, system, history}",
        lambda r: False,
        _norm_alpaca,
        resolve=_resolve_alpaca,
        required=lambda c: [k for k in (c.keys["instruction"], c.keys["output"]) if k],
    )
)


# -- alpaca preference data (LLaMA-Factory `ranking: true`) ----------------------------------------
def _resolve_alpaca_ranking(sample: list, mapping: dict, fmt: str) -> tuple[dict, FlatCols]:
    m = _mapped(mapping)
    keys, flat = _resolve_alpaca(sample, {**mapping, "output": None}, "alpaca")
    return {**keys, "chosen": m.get("chosen") or "chosen", "rejected": m.get("rejected") or "rejected"}, flat


def _norm_alpaca_ranking(rec: Any, ctx: FormatContext) -> Normalized:
    """The prompt (instruction + input, history, system) plus the chosen reply as the last message; the
    rejected reply in `rejected`."""
    _need_obj(rec)
    k = ctx.keys
    chosen = _get_str(rec, k["chosen"])
    rejected = _get_str(rec, k["rejected"])
    n = _norm_alpaca(rec, ctx)
    meta = {kk: v for kk, v in n.meta.items() if kk not in (k["chosen"], k["rejected"])}
    msgs = [*n.messages, {"role": "assistant", "content": chosen}]
    return Normalized(msgs, n.system, n.tools, meta, {"role": "assistant", "content": rejected})


def _detect_alpaca_ranking(r: Any) -> bool:
    return (
        isinstance(r, dict)
        and "instruction" in r
        and isinstance(r.get("chosen"), str)
        and isinstance(r.get("rejected"), str)
    )


register(
    FormatSpec(
        "alpaca_ranking",
        "Alpaca preference pairs: instruction, input, chosen, rejected (strings)",
        _detect_alpaca_ranking,
        _norm_alpaca_ranking,
        resolve=_resolve_alpaca_ranking,
        required=lambda c: [c.keys["instruction"], c.keys["chosen"], c.keys["rejected"]],
    )
)


# -- dolly, prompt/completion ----------------------------------------------------------------------
_dolly_resolve, _dolly_norm = _fixed_flat(("instruction", "context"), "response")
_pc_resolve, _pc_norm = _fixed_flat(("prompt",), "completion")


register(
    FormatSpec(
        "dolly",
        "Dolly: instruction, context, response",
        lambda r: isinstance(r, dict) and "instruction" in r and "context" in r and "response" in r,
        _dolly_norm,
        resolve=_dolly_resolve,
        required=lambda c: ["instruction", "response"],
    )
)


register(
    FormatSpec(
        "prompt_completion",
        "prompt, completion (kept verbatim)",
        lambda r: isinstance(r, dict) and "prompt" in r and "completion" in r,
        _pc_norm,
        resolve=_pc_resolve,
        required=lambda c: ["prompt", "completion"],
    )
)


# -- prompt-only eval sets -------------------------------------------------------------------------
_PROMPT_ONLY_KEYS = ("Instruction", "instruction", "prompt", "question", "conversations", "text")


def _resolve_prompt_only(sample: list, mapping: dict, fmt: str) -> tuple[dict, FlatCols]:
    m = _mapped(mapping)
    key = m.get("instruction")
    if not key:
        recs = [r for r in sample if isinstance(r, dict)]
        key = next((k for k in _PROMPT_ONLY_KEYS if any(k in r for r in recs)), "instruction")
    user = (key,)
    inp = m.get("input") or ("input" if key == "instruction" else None)
    if inp:
        user = (key, inp)  # an alpaca-style eval set: instruction + input, no output
    return {"instruction": key}, FlatCols(user=user, assistant=None, system=m.get("system"))


def _detect_prompt_only(r: Any) -> bool:
    if not isinstance(r, dict):
        return False
    if isinstance(r.get("conversations"), str):
        return True
    if any(k in r for k in ("output", "response", "completion", "answer", "solution", "code")):
        return False
    return (
        isinstance(r.get("Instruction"), str)
        or isinstance(r.get("instruction"), str)
        or (isinstance(r.get("prompt"), str))
    )


def _norm_prompt_only(rec: Any, ctx: FormatContext) -> Normalized:
    return _flat_normalized(rec, ctx.flat)


register(
    FormatSpec(
        "prompt_only",
        "eval prompts without replies (WizardLM Instruction, LIMA conversations string)",
        _detect_prompt_only,
        _norm_prompt_only,
        resolve=_resolve_prompt_only,
        required=lambda c: [c.keys["instruction"]],
    )
)


# -- self-instruct seed tasks ----------------------------------------------------------------------
def _norm_self_instruct(rec: Any, ctx: FormatContext) -> Normalized:
    """One sample per seed task from its first instance; further instances stay in meta."""
    _need_obj(rec)
    ins = _get_str(rec, "instruction")
    inst = rec.get("instances", _MISSING)
    if inst is _MISSING:
        raise _missing(rec, "instances")
    if not isinstance(inst, list) or not inst:
        raise FieldError("instances", "expected a non-empty list of {input, output}")
    first = inst[0]
    if not isinstance(first, dict):
        raise FieldError("instances[0]", f"expected an object, got {type_name(first)}")
    inp = first.get("input") or ""
    out = first.get("output", _MISSING)
    if not isinstance(inp, str):
        raise FieldError("instances[0].input", _expected_str(inp))
    if out is _MISSING:
        raise FieldError("instances[0].output", "missing")
    if out is not None and not isinstance(out, str):
        raise FieldError("instances[0].output", _expected_str(out))
    meta = _meta(rec, ("instruction", "instances"))
    if len(inst) > 1:
        meta["more_instances"] = inst[1:]
    return Normalized(_user_assistant(_join(ins, inp), out), None, None, meta)


def _detect_self_instruct(r: Any) -> bool:
    return isinstance(r, dict) and "instruction" in r and isinstance(r.get("instances"), list)


register(
    FormatSpec(
        "self_instruct",
        "self-instruct seed tasks: instruction, instances[{input, output}]",
        _detect_self_instruct,
        _norm_self_instruct,
        required=lambda c: ["instruction", "instances"],
    )
)
