"""Instruction-data formats: detection and normalisation into canonical OpenAI-style messages.

Every supported format is a `FormatSpec` in `FORMATS`. A spec knows how to recognise a record (`detect`),
how to turn one record into a `Normalized` sample (`normalize`), and, for flat formats whose fields are
plain strings, which keys make the user turn, the reply and the system prompt (`flat`). Flat formats
can be imported by a DuckDB fast path and by a cheaper Python path; both build messages the same way.

Conventions shared by every format (see docs/formats.md):
- messages are OpenAI style `{"role", "content"[, "name"][, "tool_calls"][, "tool_call_id"]}`; a system
  prompt is the first message *and* kept in `Normalized.system`;
- an instruction and its input are joined with a single newline (as LLaMA-Factory does);
- a reply that is JSON `null` means "no reply" (prompt-only eval sets); a missing reply key is an error;
- original fields that did not go into the messages are kept in `meta`;
- where an instruction and a non-empty input were joined, `meta["input_split"]` is the instruction's
  length, so both can be recovered (`split_user`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.core.errors import InputError

DOMAINS = ["general", "math", "code", "tool_use"]

_MISSING = object()


# -- data classes ---------------------------------------------------------------------------------
@dataclass
class Normalized:
    """One sample in canonical form."""

    messages: list[dict]
    system: str | None = None
    tools: list | None = None
    meta: dict = field(default_factory=dict)

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

    def __str__(self) -> str:
        loc = Path(self.file).name
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


class FieldError(InputError):
    """Raised by a normaliser: `field` (a key or a path like "conversations[2].value") is wrong."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class NotFlat(Exception):
    """A record of a flat format uses a feature (history, tools) that needs the full normaliser."""


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


# -- small helpers --------------------------------------------------------------------------------
_TYPE_NAMES = {
    dict: "object",
    list: "list",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def type_name(v: Any) -> str:
    """JSON-ish name of a Python value's type."""
    return _TYPE_NAMES.get(type(v), type(v).__name__)


def _expected_str(v: Any) -> str:
    if v is _MISSING:
        return "missing"
    return f"expected a string, got {type_name(v)}"


def _missing(rec: dict, key: str) -> FieldError:
    keys = ", ".join(list(rec)[:12])
    return FieldError(key, f"missing (record has keys: {keys})")


def _need_obj(rec: Any) -> dict:
    if type(rec) is not dict:
        raise FieldError(None, f"expected a JSON object, got {type_name(rec)}")
    return rec


def _get_str(rec: dict, key: str, *, optional: bool = False, nullable: bool = False) -> str | None:
    v = rec.get(key, _MISSING)
    if v is _MISSING:
        if optional:
            return None
        raise _missing(rec, key)
    if v is None and (optional or nullable):
        return None
    if type(v) is not str:
        raise FieldError(key, _expected_str(v))
    return v


def _join(*parts: str | None) -> str:
    return "\n".join(p for p in parts if p)


def _meta(rec: dict, used: Sequence[str] | frozenset) -> dict:
    return {k: v for k, v in rec.items() if k not in used}


def _user_assistant(user: str, reply: str | None, system: str | None = None) -> list[dict]:
    msgs = []
    if system:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": user})
    if reply is not None:
        msgs.append({"role": "assistant", "content": reply})
    return msgs


_HASH_EXTRAS = ("name", "tool_calls", "tool_call_id")


def content_hash_text(messages: list[dict], system: str | None, tools: list | None) -> str:
    """The canonical serialisation behind `content_hash`.

    system, RS, tools (sorted-key compact JSON), RS, then each message as role US content
    [US sorted-key JSON of name/tool_calls/tool_call_id], messages separated by GS. Only strings and
    Python's json module are involved, so the hash does not depend on how a file or DuckDB writes JSON."""
    parts = []
    for m in messages:
        extra = {k: m[k] for k in _HASH_EXTRAS if k in m}
        t = m["role"] + "\x1f" + m["content"]
        if extra:
            t += "\x1f" + json.dumps(extra, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        parts.append(t)
    tools_text = json.dumps(tools, ensure_ascii=False, sort_keys=True, separators=(",", ":")) if tools else ""
    return (system or "") + "\x1e" + tools_text + "\x1e" + "\x1d".join(parts)


def content_hash(messages: list[dict], system: str | None, tools: list | None) -> str:
    """md5 hex of `content_hash_text` (what samples.content_hash holds)."""
    return hashlib.md5(content_hash_text(messages, system, tools).encode("utf-8", "surrogatepass")).hexdigest()


def dumps(v: Any) -> str:
    """Compact JSON text used for staging (DuckDB re-serialises it canonically)."""
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)


def _parse_tools(v: Any, key: str) -> list | None:
    if v is None or v == "" or v == []:
        return None
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError as e:
            raise FieldError(key, f"tools is not valid JSON: {e}") from None
    if isinstance(v, dict):
        v = [v]
    if not isinstance(v, list):
        raise FieldError(key, f"expected a list of tool schemas (or its JSON text), got {type_name(v)}")
    return v or None


def _arguments_text(args: Any) -> str:
    """OpenAI keeps tool-call arguments as a JSON string, written here one fixed way (a string that is
    not JSON is kept as it is)."""
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return args
    return json.dumps(args, ensure_ascii=False)


def _tool_call(obj: Any, where: str) -> dict:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise FieldError(where, "a function call must be an object with a string 'name'")
    return {
        "type": "function",
        "function": {"name": obj["name"], "arguments": _arguments_text(obj.get("arguments", {}))},
    }


def _function_call_message(value: Any, where: str) -> dict:
    """ShareGPT `function_call` turn (JSON text of {name, arguments} or a list of them) -> assistant."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FieldError(where, "function_call value is not valid JSON") from None
    calls = value if isinstance(value, list) else [value]
    return {"role": "assistant", "content": "", "tool_calls": [_tool_call(c, where) for c in calls]}


def _canonical_tool_calls(tcs: Any, where: str) -> list:
    if not isinstance(tcs, list):
        raise FieldError(where, f"expected a list, got {type_name(tcs)}")
    out = []
    for i, tc in enumerate(tcs):
        w = f"{where}[{i}]"
        if not isinstance(tc, dict):
            raise FieldError(w, f"expected an object, got {type_name(tc)}")
        fn = tc.get("function", tc)
        call = _tool_call(fn, w)
        if tc.get("id") is not None:
            call = {"id": tc["id"], **call}
        out.append(call)
    return out


def _content_text(c: Any, where: str) -> str:
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, list):  # OpenAI content parts
        texts = []
        for i, part in enumerate(c):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
            else:
                raise FieldError(f"{where}[{i}]", "only text content parts are supported")
        return "\n".join(texts)
    raise FieldError(where, f"expected a string, got {type_name(c)}")


# -- alpaca / mapping -----------------------------------------------------------------------------
_ALPACA_DEFAULTS = {
    "instruction": "instruction",
    "input": "input",
    "output": None,
    "system": "system",
    "history": "history",
    "tools": "tools",
}
_ROLE_ALIASES = {"prompt": "instruction", "query": "input", "response": "output"}


def _mapped(mapping: Mapping) -> dict:
    """User mapping keys in canonical role names (instruction/input/output/system/history/tools/...)."""
    out = {}
    for k, v in (mapping or {}).items():
        if k in ("header",) or k.endswith("_tag"):
            continue
        out[_ROLE_ALIASES.get(k, k)] = v
    return out


def _resolve_alpaca(sample: list, mapping: dict, fmt: str) -> tuple[dict, FlatCols | None]:
    m = _mapped(mapping)
    if fmt == "mapping":
        keys = {r: m.get(r) for r in _ALPACA_DEFAULTS}
        if not keys["instruction"]:
            raise FieldError(None, "a column mapping needs at least 'instruction' (or 'prompt')")
    else:
        keys = {r: m.get(r, d) for r, d in _ALPACA_DEFAULTS.items()}
        if not keys["output"]:
            recs = [r for r in sample if isinstance(r, dict)]
            has_out = any("output" in r for r in recs)
            keys["output"] = "output" if has_out or not any("response" in r for r in recs) else "response"
    user = tuple(k for k in (keys["instruction"], keys["input"]) if k)
    cx = tuple(k for k in (keys["history"], keys["tools"]) if k)
    return keys, FlatCols(user=user, assistant=keys["output"], system=keys["system"], complex_keys=cx)


# meta key of a flat record whose user turn joins an instruction and a non-empty input (alpaca, dolly,
# column mappings, alpaca-style prompt-only sets): the instruction's length in characters (code points),
# so that instruction = user[:n] and input = user[n + 1:] without storing the texts twice
INPUT_SPLIT = "input_split"


def split_user(content: str, n: Any) -> tuple[str, str] | None:
    """(instruction, input) of a user turn from its `meta["input_split"]`; None if `n` does not fit it."""
    if type(n) is not int or not 0 <= n < len(content) or content[n] != "\n":
        return None
    return content[:n], content[n + 1 :]


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


# -- simple flat formats --------------------------------------------------------------------------
def _fixed_flat(user: tuple[str, ...], assistant: str | None, system: str | None = None):
    cols = FlatCols(user=user, assistant=assistant, system=system)

    def resolve(sample: list, mapping: dict, fmt: str) -> tuple[dict, FlatCols]:
        return {}, cols

    def normalize(rec: Any, ctx: FormatContext) -> Normalized:
        return _flat_normalized(rec, ctx.flat or cols)

    return resolve, normalize


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


# -- question/answer, problem/solution ------------------------------------------------------------
def _norm_qa(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    q = _get_str(rec, "question")
    a = _get_str(rec, "answer", nullable=True)
    meta = _meta(rec, ("question", "answer"))
    if a and "####" in a:
        meta["final_answer"] = a.rsplit("####", 1)[1].strip()
    return Normalized(_user_assistant(q, a), None, None, meta)


def _gsm8k_hint(sample: list) -> str | None:
    recs = [r for r in sample if isinstance(r, dict) and isinstance(r.get("answer"), str)]
    if recs and sum("####" in r["answer"] for r in recs) * 2 >= len(recs):
        return "math"
    return None


def boxed_answer(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) in a solution, braces balanced."""
    i = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if i < 0:
        return None
    j = text.find("{", i)
    if j < 0:
        return None
    depth = 0
    for k in range(j, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return text[j + 1 : k]
    return None


def _norm_problem(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    p = _get_str(rec, "problem")
    s = _get_str(rec, "solution", nullable=True)
    meta = _meta(rec, ("problem", "solution"))
    if s:
        ans = boxed_answer(s)
        if ans is not None:
            meta["final_answer"] = ans
    return Normalized(_user_assistant(p, s), None, None, meta)


# -- MBPP -----------------------------------------------------------------------------------------
def mbpp_prompt(text: str, tests: Sequence[str]) -> str:
    """The MBPP paper's prompt: task text plus the asserts the code must pass."""
    return (
        f"You are an expert Python programmer, and here is your task: {text} "
        f"Your code should pass these tests:\n\n" + "\n".join(tests)
    )


def _norm_mbpp(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    text = _get_str(rec, "text")
    code = _get_str(rec, "code", nullable=True)
    tests = rec.get("test_list", _MISSING)
    if tests is _MISSING:
        raise _missing(rec, "test_list")
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise FieldError("test_list", f"expected a list of strings, got {type_name(tests)}")
    meta = _meta(rec, ("text", "code"))
    return Normalized(_user_assistant(mbpp_prompt(text, tests), code), None, None, meta)


# -- SVAMP, ASDiv (math word problems), HumanEval (code) ------------------------------------------
def _norm_key(k: str) -> str:
    return re.sub(r"[^a-z0-9]", "", k.lower())


def _key_of(rec: dict, name: str) -> str | None:
    """The record's key for `name`, ignoring case and separators ('Solution-Type' = 'solution_type')."""
    want = _norm_key(name)
    return next((k for k in rec if isinstance(k, str) and _norm_key(k) == want), None)


def _has_keys(r: Any, *names: str) -> bool:
    return isinstance(r, dict) and all(_key_of(r, n) is not None for n in names)


def _resolve_keys(*names: str):
    def resolve(sample: list, mapping: dict, fmt: str) -> tuple[dict, None]:
        recs = [r for r in sample if isinstance(r, dict)]
        return {n: next((k for r in recs if (k := _key_of(r, n))), n) for n in names}, None

    return resolve


def number_text(v: float) -> str:
    """A number as the reference text of the gsm8k scorer: 1.0 -> '1', 0.5 -> '0.5'."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


_ANSWER_NUMBER = re.compile(r"\$?\s*(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+)(?:\s*/\s*(\d+))?")


def word_problem_answer(answer: Any) -> tuple[str | None, str]:
    """(numeric reference or None, the answer without units) of a word problem's answer: 1.0 -> '1';
    '8 (apples)' -> '8'; '1,200 (people)' -> '1200'; '1/2 (cup)' -> '0.5'; '4:3' -> (None, '4:3');
    'Nancy' -> (None, 'Nancy'); '3 (dollars); 2 (dollars)' -> (None, '3; 2')."""
    if isinstance(answer, bool):
        return None, str(answer)
    if isinstance(answer, (int, float)):
        return number_text(answer), number_text(answer)
    text = re.sub(r"\s*\([^()]*\)", "", str(answer)).strip().rstrip(".")
    m = _ANSWER_NUMBER.fullmatch(text)
    if m:
        num = float(m.group(1).replace(",", ""))
        if m.group(2) and int(m.group(2)) != 0:
            num /= int(m.group(2))
        return number_text(num), text
    return None, text


def _norm_word_problem(rec: Any, ctx: FormatContext) -> Normalized:
    """SVAMP / ASDiv: prompt = Body + " " + Question; reply = the answer (SVAMP's number as text, ASDiv's
    string as given); meta["final_answer"] = the numeric reference (`word_problem_answer`), else the answer
    text without units; every other field (ID, Equation, Type, Formula, Solution-Type, ...) kept in meta."""
    rec = _need_obj(rec)
    keys = {}
    for n in ("Body", "Question", "Answer"):
        k = _key_of(rec, n)
        if k is None:
            raise _missing(rec, n)
        keys[n] = k
    body, question = _get_str(rec, keys["Body"]), _get_str(rec, keys["Question"])
    raw = rec[keys["Answer"]]
    if raw is None:
        reply, final = None, None
    else:
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise FieldError(keys["Answer"], f"expected a number or a string, got {type_name(raw)}")
        final, text = word_problem_answer(raw)
        if final is None and not text:
            raise FieldError(keys["Answer"], "empty answer")
        reply = raw.strip() if isinstance(raw, str) else final
        final = final if final is not None else text.replace(";", ",")
    user = " ".join(p.strip() for p in (body, question) if p and p.strip())
    meta = _meta(rec, tuple(keys.values()))
    if final is not None:
        meta["final_answer"] = final
    return Normalized(_user_assistant(user, reply), None, None, meta)


def _detect_svamp(r: Any) -> bool:
    return _has_keys(r, "Body", "Question", "Answer", "Equation")


def _detect_asdiv(r: Any) -> bool:
    return _has_keys(r, "Body", "Question", "Answer") and (
        _key_of(r, "Formula") is not None or _key_of(r, "Solution-Type") is not None
    )


def humaneval_prompt(prompt: str) -> str:
    """The user turn of a HumanEval task: the function to complete, in a Python code block."""
    return "Complete the following Python function:\n\n```python\n" + prompt.strip("\n") + "\n```"


def humaneval_test(test: str, entry_point: str) -> str:
    """The one test statement block of a HumanEval task: its test code (which defines check(candidate))
    followed by the call check(entry_point)."""
    return test.rstrip("\n") + f"\n\ncheck({entry_point})\n"


def _norm_humaneval(rec: Any, ctx: FormatContext) -> Normalized:
    rec = _need_obj(rec)
    prompt = _get_str(rec, "prompt")
    test = _get_str(rec, "test")
    entry = _get_str(rec, "entry_point").strip()
    if not entry.isidentifier():
        raise FieldError("entry_point", f"expected a function name, got {entry!r}")
    sol = _get_str(rec, "canonical_solution", optional=True, nullable=True)
    reply = prompt + sol if sol is not None else None
    meta = _meta(rec, ("test", "canonical_solution", "entry_point"))
    meta.update(entry_point=entry, test_list=[humaneval_test(test, entry)])
    return Normalized(_user_assistant(humaneval_prompt(prompt), reply), None, None, meta)


def _detect_humaneval(r: Any) -> bool:
    return (
        isinstance(r, dict)
        and isinstance(r.get("prompt"), str)
        and isinstance(r.get("test"), str)
        and isinstance(r.get("entry_point"), str)
    )


# -- ShareGPT and OpenAI messages -----------------------------------------------------------------
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
        rt, ct = k["role_tag"], k["content_tag"]
        for i, turn in enumerate(conv):
            where = f"{mk}[{i}]"
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
                msgs.append(_function_call_message(value, f"{where}.{ct}"))
                continue
            if "tool_calls" in turn and role == "assistant" and turn["tool_calls"]:
                m = {
                    "role": "assistant",
                    "content": _content_text(value, f"{where}.{ct}"),
                    "tool_calls": _canonical_tool_calls(turn["tool_calls"], f"{where}.tool_calls"),
                }
                msgs.append(m)
                continue
            if type(value) is not str:
                raise FieldError(f"{where}.{ct}", _expected_str(value))
            if role == "system":
                if msgs:
                    raise FieldError(f"{where}.{rt}", "a system turn is only allowed first")
                system = system or value or None
                continue
            msgs.append({"role": role, "content": value})
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


# -- function calling: BFCL, gorilla openfunctions, apibench --------------------------------------
def _norm_bfcl(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    q = rec.get("question", _MISSING)
    if q is _MISSING:
        raise _missing(rec, "question")
    if not isinstance(q, list) or not q:
        raise FieldError("question", f"expected a list of turns, got {type_name(q)}")
    turns = q if all(isinstance(t, list) for t in q) else [q]
    msgs: list[dict] = []
    system = None
    for ti, turn in enumerate(turns):
        for mi, m in enumerate(turn):
            where = f"question[{ti}][{mi}]"
            if not isinstance(m, dict) or not isinstance(m.get("content"), str):
                raise FieldError(where, "expected an object with string 'role' and 'content'")
            role = _OPENAI_ROLES.get(m.get("role"))
            if role is None:
                raise FieldError(f"{where}.role", f"unknown role {m.get('role')!r}")
            if role == "system" and not msgs:
                system = m["content"]
            msgs.append({"role": role, "content": m["content"]})
    fn = rec.get("function", _MISSING)
    if fn is _MISSING:
        raise _missing(rec, "function")
    tools = _parse_tools(fn, "function")
    return Normalized(msgs, system, tools, _meta(rec, ("question", "function")))


def _detect_bfcl(r: Any) -> bool:
    return isinstance(r, dict) and isinstance(r.get("question"), list) and "function" in r


def _norm_openfunctions(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    q = _get_str(rec, "question")
    fn = rec.get("function", _MISSING)
    if fn is _MISSING:
        raise _missing(rec, "function")
    tools = _parse_tools(fn, "function")
    ans = _get_str(rec, "model_answer", optional=True)
    return Normalized(_user_assistant(q, ans), None, tools, _meta(rec, ("question", "function", "model_answer")))


def _detect_openfunctions(r: Any) -> bool:
    return isinstance(r, dict) and isinstance(r.get("question"), str) and isinstance(r.get("function"), (dict, list))


_APIBENCH_DICT = re.compile(r"^\s*\{\s*'Instruction'\s*:\s*(.*?),\s*'Output'\s*:\s*(.*)$", re.S)
_APIBENCH_HASH = re.compile(r"###\s*Instruction\s*:\s*(.*?)\s*###\s*Output\s*:\s*(.*)$", re.S)


def parse_apibench_code(code: str) -> tuple[str, str] | None:
    """Split gorilla apibench's `code` string into (instruction, output); None if it has neither form."""
    m = _APIBENCH_DICT.match(code) or _APIBENCH_HASH.search(code)
    if not m:
        return None
    ins, out = m.group(1).strip(), m.group(2).strip()
    if m.re is _APIBENCH_DICT and out.endswith("}"):
        out = out[:-1].rstrip()  # the closing brace of the outer {'Instruction': ..., 'Output': ...}
    if len(ins) >= 2 and ins[0] == ins[-1] and ins[0] in "\"'":
        ins = ins[1:-1]
    return ins, out


def _norm_apibench(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    code = _get_str(rec, "code")
    parts = parse_apibench_code(code)
    if parts is None:
        raise FieldError(
            "code",
            "expected an 'Instruction'/'Output' pair ({'Instruction': ..., 'Output': ...}"
            " or ###Instruction: ... ###Output: ...)",
        )
    return Normalized(_user_assistant(parts[0], parts[1]), None, None, _meta(rec, ("code",)))


def _detect_apibench(r: Any) -> bool:
    return isinstance(r, dict) and isinstance(r.get("code"), str) and "api_call" in r and ("Instruction" in r["code"])


# -- self-instruct seeds, multiple choice ---------------------------------------------------------
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


_MCQ_LETTERS = ("A", "B", "C", "D", "E")


def _mcq_keys(rec: dict) -> tuple[str, list[str], str] | None:
    if "question" in rec and "answer" in rec and "A" in rec:
        return "question", [c for c in _MCQ_LETTERS if c in rec], "answer"
    pos = [k for k in rec if k.isdigit()]
    if len(pos) >= 4:
        pos.sort(key=int)
        return pos[0], pos[1:-1], pos[-1]
    return None


def _norm_mcq(rec: Any, ctx: FormatContext) -> Normalized:
    _need_obj(rec)
    keys = _mcq_keys(rec)
    if keys is None:
        raise FieldError(None, "expected question, A, B, C, D, answer columns")
    qk, ck, ak = keys
    q = _get_str(rec, qk)
    choices = [_get_str(rec, c) for c in ck]
    ans = _get_str(rec, ak).strip()
    letters = _MCQ_LETTERS[: len(choices)]
    if ans not in letters:
        raise FieldError(ak, f"expected an answer letter {'/'.join(letters)}, got {ans!r}")
    user = q + "".join(f"\n{letter}. {c}" for letter, c in zip(letters, choices))
    meta = _meta(rec, (qk, *ck, ak))
    meta.update(choices=choices, answer=ans)
    return Normalized(_user_assistant(user, ans), None, None, meta)


def _detect_mcq(r: Any) -> bool:
    if not isinstance(r, dict):
        return False
    keys = _mcq_keys(r)
    if keys is None:
        return False
    a = r.get(keys[2])
    return isinstance(a, str) and a.strip() in _MCQ_LETTERS


# -- domain hints ---------------------------------------------------------------------------------
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


# -- registry -------------------------------------------------------------------------------------
_dolly_resolve, _dolly_norm = _fixed_flat(("instruction", "context"), "response")
_pc_resolve, _pc_norm = _fixed_flat(("prompt",), "completion")


def _norm_prompt_only(rec: Any, ctx: FormatContext) -> Normalized:
    return _flat_normalized(rec, ctx.flat)


FORMATS: dict[str, FormatSpec] = {
    "mbpp": FormatSpec(
        "mbpp",
        "MBPP code tasks: text, code, test_list (prompt = task + tests)",
        lambda r: isinstance(r, dict) and "text" in r and "code" in r and "test_list" in r,
        _norm_mbpp,
        required=lambda c: ["text", "code", "test_list"],
        domain="code",
    ),
    "humaneval": FormatSpec(
        "humaneval",
        "HumanEval code tasks: task_id, prompt, canonical_solution, test, "
        "entry_point (reply = prompt + canonical_solution; test + check(entry_point) run)",
        _detect_humaneval,
        _norm_humaneval,
        required=lambda c: ["prompt", "test", "entry_point"],
        domain="code",
    ),
    "svamp": FormatSpec(
        "svamp",
        "SVAMP word problems: Body, Question, Equation, Answer (number), Type (prompt = Body + ' ' + Question)",
        _detect_svamp,
        _norm_word_problem,
        resolve=_resolve_keys("Body", "Question", "Answer"),
        required=lambda c: [c.keys["Body"], c.keys["Question"], c.keys["Answer"]],
        domain="math",
    ),
    "asdiv": FormatSpec(
        "asdiv",
        "ASDiv word problems: Body, Question, Answer ('8 (apples)'), Formula, "
        "Solution-Type (prompt = Body + ' ' + Question)",
        _detect_asdiv,
        _norm_word_problem,
        resolve=_resolve_keys("Body", "Question", "Answer"),
        required=lambda c: [c.keys["Body"], c.keys["Question"], c.keys["Answer"]],
        domain="math",
    ),
    "bfcl": FormatSpec(
        "bfcl",
        "Berkeley function-calling leaderboard: question [[{role, content}]], function [...]",
        _detect_bfcl,
        _norm_bfcl,
        required=lambda c: ["question", "function"],
        domain="tool_use",
    ),
    "openfunctions": FormatSpec(
        "openfunctions",
        "gorilla openfunctions: question, function, model_answer",
        _detect_openfunctions,
        _norm_openfunctions,
        required=lambda c: ["question", "function"],
        domain="tool_use",
    ),
    "apibench": FormatSpec(
        "apibench",
        "gorilla apibench: code ('Instruction' + 'Output' text), api_call, ...",
        _detect_apibench,
        _norm_apibench,
        required=lambda c: ["code"],
        domain="tool_use",
    ),
    "self_instruct": FormatSpec(
        "self_instruct",
        "self-instruct seed tasks: instruction, instances[{input, output}]",
        _detect_self_instruct,
        _norm_self_instruct,
        required=lambda c: ["instruction", "instances"],
    ),
    "sharegpt": FormatSpec(
        "sharegpt",
        "ShareGPT: conversations [{from, value}], optional system, tools",
        _detect_sharegpt,
        _norm_sharegpt,
        resolve=_resolve_sharegpt,
        required=lambda c: [c.keys["messages"]],
    ),
    "messages": FormatSpec(
        "messages",
        "OpenAI chat: messages [{role, content, tool_calls?}], optional tools",
        _detect_messages,
        _norm_messages,
        resolve=_resolve_messages,
        required=lambda c: [c.keys["messages"]],
    ),
    "dolly": FormatSpec(
        "dolly",
        "Dolly: instruction, context, response",
        lambda r: isinstance(r, dict) and "instruction" in r and "context" in r and "response" in r,
        _dolly_norm,
        resolve=_dolly_resolve,
        required=lambda c: ["instruction", "response"],
    ),
    "alpaca": FormatSpec(
        "alpaca",
        "Alpaca: instruction, input, output (or response), optional system, history",
        _detect_alpaca,
        _norm_alpaca,
        resolve=_resolve_alpaca,
        required=lambda c: [c.keys["instruction"], c.keys["output"]],
    ),
    "problem_solution": FormatSpec(
        "problem_solution",
        "MATH style: problem, solution (level/type kept in meta)",
        lambda r: isinstance(r, dict) and "problem" in r and "solution" in r,
        _norm_problem,
        required=lambda c: ["problem", "solution"],
        domain="math",
    ),
    "qa": FormatSpec(
        "qa",
        "question, answer (GSM8K: rationale ending in '#### <answer>')",
        lambda r: isinstance(r, dict) and isinstance(r.get("question"), str) and "answer" in r and not _detect_mcq(r),
        _norm_qa,
        required=lambda c: ["question", "answer"],
        domain_hint=_gsm8k_hint,
    ),
    "prompt_completion": FormatSpec(
        "prompt_completion",
        "prompt, completion (kept verbatim)",
        lambda r: isinstance(r, dict) and "prompt" in r and "completion" in r,
        _pc_norm,
        resolve=_pc_resolve,
        required=lambda c: ["prompt", "completion"],
    ),
    "mcq": FormatSpec("mcq", "multiple choice (MMLU CSV): question, A, B, C, D, answer letter", _detect_mcq, _norm_mcq),
    "prompt_only": FormatSpec(
        "prompt_only",
        "eval prompts without replies (WizardLM Instruction, LIMA conversations string)",
        _detect_prompt_only,
        _norm_prompt_only,
        resolve=_resolve_prompt_only,
        required=lambda c: [c.keys["instruction"]],
    ),
    "mapping": FormatSpec(
        "mapping",
        "user column mapping {instruction|prompt, input|query, output|response, system, history}",
        lambda r: False,
        _norm_alpaca,
        resolve=_resolve_alpaca,
        required=lambda c: [k for k in (c.keys["instruction"], c.keys["output"]) if k],
    ),
}

FLAT_FORMATS = frozenset({"alpaca", "mapping", "dolly", "prompt_completion", "prompt_only"})


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
