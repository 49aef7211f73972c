"""Chat formats: ShareGPT (LLaMA-Factory tags, LIMA strings) and OpenAI messages."""

from __future__ import annotations

from typing import Any

from engine.data.formats.fields import (
    _MISSING,
    FieldError,
    _canonical_tool_calls,
    _content_text,
    _expected_str,
    _function_call_message,
    _get_str,
    _mapped,
    _meta,
    _missing,
    _need_obj,
    _parse_tools,
    _tool_call,
    type_name,
)
from engine.data.formats.records import Normalized
from engine.data.formats.registry import FormatContext, FormatSpec, register

_SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}


def _resolve_sharegpt(sample: list, mapping: dict, fmt: str) -> tuple[dict, None]:
    m = _mapped(mapping)
    tags = {k: (mapping or {}).get(k, d) for k, d in _SHAREGPT_TAGS.items()}
    key = m.get("messages") or m.get("conversations")
    if not key:
        recs = [r for r in sample if isinstance(r, dict)]
        key = (
            "conversations"
            if any("conversations" in r for r in recs) or not any("messages" in r for r in recs)
            else "messages"
        )
    if "role_tag" not in (mapping or {}):
        turns = [
            t
            for r in sample
            if isinstance(r, dict) and isinstance(r.get(key), list)
            for t in r[key]
            if isinstance(t, dict)
        ]
        if turns and any("role" in t for t in turns) and not any("from" in t for t in turns):
            tags.update(
                role_tag="role",
                content_tag="content",
                user_tag="user",
                assistant_tag="assistant",
                observation_tag="observation",
            )
    return {"messages": key, "system": m.get("system", "system"), "tools": m.get("tools", "tools"), **tags}, None


def _sharegpt_role(tag: Any, k: dict) -> str | None:
    if tag == k["user_tag"] or tag in ("human", "user"):
        return "user"
    if tag == k["assistant_tag"] or tag in ("gpt", "assistant", "model", "chatgpt", "bing", "bard"):
        return "assistant"
    if tag == k["system_tag"] or tag == "system":
        return "system"
    if tag == k["function_tag"] or tag == "function_call":
        return "function_call"
    if tag == k["observation_tag"] or tag in ("observation", "tool"):
        return "tool"
    return None


def _sharegpt_turn(turn: Any, where: str, k: dict) -> dict:
    """One ShareGPT turn as a message: function_call turns become assistant tool calls, observations tool
    messages; a system turn comes back with role "system" (the caller places it)."""
    rt, ct = k["role_tag"], k["content_tag"]
    if not isinstance(turn, dict):
        raise FieldError(where, f"expected an object, got {type_name(turn)}")
    tag = turn.get(rt, _MISSING)
    if tag is _MISSING:
        raise FieldError(f"{where}.{rt}", "missing")
    role = _sharegpt_role(tag, k)
    if role is None:
        raise FieldError(
            f"{where}.{rt}",
            f"unknown role {tag!r} (expected {k['user_tag']}, "
            f"{k['assistant_tag']}, {k['system_tag']}, {k['function_tag']} or "
            f"{k['observation_tag']})",
        )
    value = turn.get(ct, _MISSING)
    if value is _MISSING:
        raise FieldError(f"{where}.{ct}", "missing")
    if role == "function_call":
        return _function_call_message(value, f"{where}.{ct}")
    if "tool_calls" in turn and role == "assistant" and turn["tool_calls"]:
        return {
            "role": "assistant",
            "content": _content_text(value, f"{where}.{ct}"),
            "tool_calls": _canonical_tool_calls(turn["tool_calls"], f"{where}.tool_calls"),
        }
    if type(value) is not str:
        raise FieldError(f"{where}.{ct}", _expected_str(value))
    return {"role": role, "content": value}


def _norm_sharegpt(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    k = ctx.keys
    mk = k["messages"]
    conv = rec.get(mk, _MISSING)
    if conv is _MISSING:
        raise _missing(rec, mk)
    system = None
    if k["system"] and rec.get(k["system"]) is not None:
        system = _get_str(rec, k["system"]) or None
    msgs: list[dict] = []
    if isinstance(conv, str):  # LIMA test set: a single prompt string
        conv = [conv]
    if not isinstance(conv, list):
        raise FieldError(mk, f"expected a list of messages, got {type_name(conv)}")
    if not conv:
        raise FieldError(mk, "empty conversation")
    if all(isinstance(c, str) for c in conv):  # LIMA train: alternating user/assistant strings
        for i, c in enumerate(conv):
            msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": c})
    else:
        for i, turn in enumerate(conv):
            where = f"{mk}[{i}]"
            m = _sharegpt_turn(turn, where, k)
            if m["role"] == "system":
                if msgs:
                    raise FieldError(f"{where}.{k['role_tag']}", "a system turn is only allowed first")
                system = system or m["content"] or None
                continue
            msgs.append(m)
    if system:
        msgs.insert(0, {"role": "system", "content": system})
    tools = _parse_tools(rec.get(k["tools"]), k["tools"]) if k["tools"] else None
    used = {mk, k["system"], k["tools"]}
    return Normalized(msgs, system, tools, _meta(rec, used))


def _detect_sharegpt(r: Any) -> bool:
    if not isinstance(r, dict):
        return False
    c = r.get("conversations")
    if isinstance(c, list) and c:
        return all(isinstance(t, dict) and ("from" in t or "role" in t) for t in c) or all(
            isinstance(t, str) for t in c
        )
    return False


register(
    FormatSpec(
        "sharegpt",
        "ShareGPT: conversations [{from, value}], optional system, tools",
        _detect_sharegpt,
        _norm_sharegpt,
        resolve=_resolve_sharegpt,
        required=lambda c: [c.keys["messages"]],
    )
)


# -- ShareGPT preference data (LLaMA-Factory `ranking: true`) ---------------------------------------
def _resolve_sharegpt_ranking(sample: list, mapping: dict, fmt: str) -> tuple[dict, None]:
    keys, _ = _resolve_sharegpt(sample, mapping, fmt)
    m = _mapped(mapping)
    return {**keys, "chosen": m.get("chosen") or "chosen", "rejected": m.get("rejected") or "rejected"}, None


def _preference_turn(rec: dict, key: str, k: dict) -> dict:
    """The chosen or rejected turn of a ShareGPT preference record: an assistant or function_call turn."""
    turn = rec.get(key, _MISSING)
    if turn is _MISSING:
        raise _missing(rec, key)
    if not isinstance(turn, dict):
        raise FieldError(key, f"expected a {{{k['role_tag']}, {k['content_tag']}}} object, got {type_name(turn)}")
    m = _sharegpt_turn(turn, key, k)
    if m["role"] != "assistant":
        raise FieldError(
            f"{key}.{k['role_tag']}",
            f"expected {k['assistant_tag']} or {k['function_tag']}, got {turn[k['role_tag']]!r}",
        )
    return m


def _norm_sharegpt_ranking(rec: Any, ctx: FormatContext) -> Normalized:
    """Prompt turns plus the chosen reply as the last message; the rejected reply in `rejected`."""
    _need_obj(rec)
    k = ctx.keys
    n = _norm_sharegpt(rec, ctx)
    turns = [m for m in n.messages if m["role"] != "system"]
    if not turns or turns[-1]["role"] not in ("user", "tool"):
        raise FieldError(
            k["messages"],
            "a preference prompt must end with a user or observation turn (the replies are in "
            f"{k['chosen']!r} and {k['rejected']!r})",
        )
    chosen = _preference_turn(rec, k["chosen"], k)
    rejected = _preference_turn(rec, k["rejected"], k)
    meta = {kk: v for kk, v in n.meta.items() if kk not in (k["chosen"], k["rejected"])}
    return Normalized([*n.messages, chosen], n.system, n.tools, meta, rejected)


def _detect_sharegpt_ranking(r: Any) -> bool:
    return _detect_sharegpt(r) and isinstance(r.get("chosen"), dict) and isinstance(r.get("rejected"), dict)


register(
    FormatSpec(
        "sharegpt_ranking",
        "ShareGPT preference pairs: conversations (the prompt), chosen and rejected {from, value} replies",
        _detect_sharegpt_ranking,
        _norm_sharegpt_ranking,
        resolve=_resolve_sharegpt_ranking,
        required=lambda c: [c.keys["messages"], c.keys["chosen"], c.keys["rejected"]],
    )
)


_OPENAI_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
    "ipython": "tool",
}


def _resolve_messages(sample: list, mapping: dict, fmt: str) -> tuple[dict, None]:
    m = _mapped(mapping)
    return {
        "messages": m.get("messages", "messages"),
        "tools": m.get("tools", "tools"),
        "system": m.get("system", "system"),
    }, None


def _norm_messages(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    k = ctx.keys
    mk = k["messages"]
    raw = rec.get(mk, _MISSING)
    if raw is _MISSING:
        raise _missing(rec, mk)
    if not isinstance(raw, list):
        raise FieldError(mk, f"expected a list of messages, got {type_name(raw)}")
    if not raw:
        raise FieldError(mk, "empty conversation")
    msgs: list[dict] = []
    extras: dict = {}
    system = None
    if k["system"] and rec.get(k["system"]) is not None:
        system = _get_str(rec, k["system"]) or None
    for i, m in enumerate(raw):
        where = f"{mk}[{i}]"
        if not isinstance(m, dict):
            raise FieldError(where, f"expected an object, got {type_name(m)}")
        role_raw = m.get("role", _MISSING)
        if role_raw is _MISSING:
            raise FieldError(f"{where}.role", "missing")
        if role_raw == "function_call":
            msgs.append(_function_call_message(m.get("content"), f"{where}.content"))
            continue
        role = _OPENAI_ROLES.get(role_raw) if isinstance(role_raw, str) else None
        if role is None:
            raise FieldError(f"{where}.role", f"unknown role {role_raw!r} (expected system, user, assistant or tool)")
        content = _content_text(m.get("content"), f"{where}.content")
        if role == "system" and not msgs and system is None:
            system = content or None
            if not content:
                continue
        out = {"role": role, "content": content}
        if m.get("name") is not None:
            out["name"] = m["name"]
        if m.get("tool_calls"):
            if role != "assistant":
                raise FieldError(f"{where}.tool_calls", "only assistant messages can have tool_calls")
            out["tool_calls"] = _canonical_tool_calls(m["tool_calls"], f"{where}.tool_calls")
        elif m.get("function_call"):  # legacy OpenAI function_call
            out["tool_calls"] = [_tool_call(m["function_call"], f"{where}.function_call")]
        if m.get("tool_call_id") is not None:
            out["tool_call_id"] = m["tool_call_id"]
        rest = {
            kk: vv
            for kk, vv in m.items()
            if kk not in ("role", "content", "name", "tool_calls", "tool_call_id", "function_call") and vv is not None
        }
        if rest:
            extras[str(i)] = rest
        msgs.append(out)
    if system and not (msgs and msgs[0]["role"] == "system"):
        msgs.insert(0, {"role": "system", "content": system})
    tools = _parse_tools(rec.get(k["tools"]), k["tools"]) if k["tools"] else None
    meta = _meta(rec, {mk, k["tools"], k["system"]})
    if extras:
        meta["message_extras"] = extras
    return Normalized(msgs, system, tools, meta)


def _detect_messages(r: Any) -> bool:
    if not isinstance(r, dict):
        return False
    c = r.get("messages")
    return isinstance(c, list) and bool(c) and all(isinstance(t, dict) and "role" in t for t in c)


register(
    FormatSpec(
        "messages",
        "OpenAI chat: messages [{role, content, tool_calls?}], optional tools",
        _detect_messages,
        _norm_messages,
        resolve=_resolve_messages,
        required=lambda c: [c.keys["messages"]],
    )
)
