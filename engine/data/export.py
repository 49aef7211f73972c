"""Export samples to JSONL or Parquet in messages (OpenAI), alpaca or sharegpt style.

Optionally writes or merges a LLaMA-Factory `dataset_info.json` entry that points at the exported file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import InputError
from engine.core.jobs import CancelToken, ProgressFn, ProgressMeter
from engine.data.formats import INPUT_SPLIT, preference_pair, split_user

STYLES = ("messages", "alpaca", "sharegpt")
FETCH_ROWS = 5_000


@dataclass
class ExportResult:
    """What an export wrote."""

    n: int
    path: str
    dataset_info_path: str | None = None
    # records that do not end with an assistant reply (prompt-only, or ending with a tool result):
    # LLaMA-Factory's SFT loader skips them
    n_without_reply: int = 0


class ExportError(InputError):
    """An export that cannot be done as asked (nothing was written)."""


# -- conversions -----------------------------------------------------------------------------------
# Every record carries every key its dataset_info entry declares ("" or [] when empty): LLaMA-Factory's
# converters index the declared columns directly, and Arrow-based readers (HF datasets, polars) infer a
# column only from the rows they sample. Tool definitions are JSON text in every style ("" when none):
# LLaMA-Factory expects text there, and a list of differently shaped dicts becomes one struct of all keys,
# null-filled, in Arrow.
def _split_system(messages: list[dict], system: str | None) -> tuple[str | None, list[dict]]:
    if messages and messages[0]["role"] == "system":
        return messages[0]["content"] or system, messages[1:]
    return system, messages


def _tools_text(tools: list | None, *, lf: bool = False) -> str:
    """Tool definitions as JSON text ("" for none). With `lf`, a function whose parameters declare no
    `properties` gets an empty one (the same JSON Schema): LLaMA-Factory's default tool prompt reads
    parameters.properties of every tool and stops the whole load with KeyError when it is missing."""
    if not tools:
        return ""
    if lf:
        tools = [_lf_tool(t) for t in tools]
    return json.dumps(tools, ensure_ascii=False)


def _lf_tool(tool: Any) -> Any:
    if not isinstance(tool, dict):
        return tool
    if tool.get("type") == "function" and isinstance(tool.get("function"), dict):
        return {**tool, "function": _lf_tool(tool["function"])}
    params = tool.get("parameters")
    if params is None:
        return {**tool, "parameters": {"type": "object", "properties": {}}}
    if isinstance(params, dict) and "properties" not in params:
        return {**tool, "parameters": {**params, "properties": {}}}
    return tool


def _call_obj(tc: dict) -> dict:
    fn = tc.get("function", tc)
    args = fn.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            pass
    return {"name": fn.get("name"), "arguments": args}


def _lf_calls(tool_calls: list[dict]) -> str:
    """A function_call turn's text: {"name", "arguments"} (arguments as an object), a list for parallel calls."""
    calls = [_call_obj(tc) for tc in tool_calls]
    return json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)


# LLaMA-Factory joins consecutive tool results into one observation turn this way (its OpenAI converter)
_OBSERVATION_JOIN = "\n</tool_response>\n<tool_response>\n"


def lf_turns(messages: list[dict]) -> list[tuple[str, str]]:
    """The turns after the system prompt as LLaMA-Factory roles (user, assistant, function_call,
    observation): assistant tool calls become function_call turns, consecutive tool results one observation.

    LLaMA-Factory reads only alternating turns (user or observation, then assistant or function_call) and
    skips any other record without a word, so those are refused here (ExportError) instead."""
    out: list[tuple[str, str]] = []
    for m in messages:
        role, content = m["role"], m.get("content") or ""
        if role == "assistant" and m.get("tool_calls"):
            if content.strip():
                raise ExportError(
                    "an assistant turn has both text and tool calls; LLaMA-Factory's function_call turn holds "
                    "only the calls (leave such samples out with a filter, or export style 'messages' "
                    "without a dataset_info entry)"
                )
            out.append(("function_call", _lf_calls(m["tool_calls"])))
        elif role == "tool":
            if out and out[-1][0] == "observation":
                out[-1] = ("observation", out[-1][1] + _OBSERVATION_JOIN + content)
            else:
                out.append(("observation", content))
        elif role in ("user", "assistant"):
            out.append((role, content))
        else:
            raise ExportError(f"a {role!r} turn inside the conversation cannot be written for LLaMA-Factory")
    for i, (role, _) in enumerate(out):
        want = ("user", "observation") if i % 2 == 0 else ("assistant", "function_call")
        if role not in want:
            raise ExportError(
                f"turn {i + 1} is {role!r} where LLaMA-Factory expects {' or '.join(want)} "
                "(turns must alternate, starting with the user)"
            )
    return out


def to_messages(messages: list[dict], system: str | None, tools: list | None, *, lf: bool = False, **_: Any) -> dict:
    """OpenAI style: {"messages": [...], "tools": JSON text or ""}; the system prompt stays the first message.

    With `lf` (the file is written for a LLaMA-Factory dataset_info entry) tool calls are written as
    {"role": "function_call", "content": calls JSON} messages and tool results as one "tool" message per
    observation, which LLaMA-Factory's role tags can read; OpenAI `tool_calls` it would drop."""
    if lf:
        sys_text, rest = _split_system(messages, system)
        head = [{"role": "system", "content": sys_text}] if sys_text else []
        tag = {"observation": "tool"}
        msgs = head + [{"role": tag.get(r, r), "content": c} for r, c in lf_turns(rest)]
        return {"messages": msgs, "tools": _tools_text(tools, lf=True)}
    return {"messages": messages, "tools": _tools_text(tools)}


_SHAREGPT_FROM = {"user": "human", "assistant": "gpt", "function_call": "function_call", "observation": "observation"}


def to_sharegpt(messages: list[dict], system: str | None, tools: list | None, **_: Any) -> dict:
    """LLaMA-Factory ShareGPT: {conversations [{from, value}], system, tools} with function_call (JSON of
    {name, arguments}, a list for parallel calls) and observation turns."""
    system, rest = _split_system(messages, system)
    conv = [{"from": _SHAREGPT_FROM[r], "value": c} for r, c in lf_turns(rest)]
    return {"conversations": conv, "system": system or "", "tools": _tools_text(tools, lf=True)}


def to_alpaca(
    messages: list[dict], system: str | None, tools: list | None, *, input_split: Any = None, **_: Any
) -> dict:
    """Alpaca: {instruction, input, output, system, history, tools}; earlier turns go into history.

    `input_split` (the sample's meta["input_split"]) splits the last user turn back into instruction and
    input. A prompt-only sample gets output null (re-imported, it stays prompt-only). Samples with tool
    calls or tool results cannot be written in this style (ExportError)."""

    system, rest = _split_system(messages, system)
    if any(m["role"] not in ("user", "assistant") or m.get("tool_calls") for m in rest):
        raise ExportError(
            "a sample with tool calls or tool results cannot be written as alpaca; use style 'messages' or 'sharegpt'"
        )
    pairs: list[list] = []
    i = 0
    while i < len(rest):
        if rest[i]["role"] != "user":
            raise ExportError("alpaca needs alternating user/assistant turns starting with a user turn")
        reply = rest[i + 1]["content"] if i + 1 < len(rest) and rest[i + 1]["role"] == "assistant" else None
        if reply is None and i + 1 < len(rest):
            raise ExportError("alpaca needs alternating user/assistant turns")
        pairs.append([rest[i]["content"], reply])
        i += 2
    if not pairs:
        raise ExportError("a sample without a user turn cannot be written as alpaca")
    if any(p[1] is None for p in pairs[:-1]):
        raise ExportError("alpaca history needs a reply for every earlier turn")
    instruction, inp = pairs[-1][0], ""
    parts = split_user(instruction, input_split) if input_split is not None else None
    if parts is not None:
        instruction, inp = parts
    return {
        "instruction": instruction,
        "input": inp,
        "output": pairs[-1][1],
        "system": system or "",
        "history": [list(p) for p in pairs[:-1]],
        "tools": _tools_text(tools, lf=True),
    }


_CONVERT = {"messages": to_messages, "sharegpt": to_sharegpt, "alpaca": to_alpaca}

_LF_MESSAGE_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "observation_tag": "tool",
    "function_tag": "function_call",
    "system_tag": "system",
}


def dataset_info_entry(file_name: str, style: str, *, ranking: bool = False) -> dict:
    """The LLaMA-Factory dataset_info entry describing an exported file (every column it names is in every
    record); `ranking`: a file of preference pairs (chosen and rejected columns)."""
    entry = _dataset_info_entry(file_name, style)
    if ranking:
        cols = entry["columns"]
        cols.pop("response", None)
        entry = {**entry, "ranking": True, "columns": {**cols, "chosen": "chosen", "rejected": "rejected"}}
    return entry


def _dataset_info_entry(file_name: str, style: str) -> dict:
    if style == "alpaca":
        return {
            "file_name": file_name,
            "formatting": "alpaca",
            "columns": {
                "prompt": "instruction",
                "query": "input",
                "response": "output",
                "system": "system",
                "history": "history",
                "tools": "tools",
            },
        }
    if style == "sharegpt":
        return {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
        }
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "tools": "tools"},
        "tags": dict(_LF_MESSAGE_TAGS),
    }


# -- export ----------------------------------------------------------------------------------------
def _where(store, filter, include_excluded: bool) -> tuple[str, list]:
    clauses, params = [], []
    if filter is not None:
        from engine.data import query  # written separately; imported lazily

        sql, p = query.where_sql(store, filter)
        if sql and sql.strip():
            clauses.append(f"({sql})")
            params.extend(p)
    if not include_excluded:
        clauses.append("NOT s.excluded")
    return (" AND ".join(clauses) or "TRUE"), params


def convert_record(
    style: str,
    messages: list[dict],
    system: str | None,
    tools: list | None,
    *,
    input_split: Any = None,
    lf: bool = False,
    rejected: dict | None = None,
    ranking: bool = False,
) -> dict:
    """One sample in the export `style`; `lf`: written for a LLaMA-Factory dataset_info entry (matters for the
    messages style's tool turns), `input_split`: the sample's meta["input_split"] (alpaca).

    `ranking`: write the preference pair (the prompt, then `chosen` and `rejected` replies; the sample's
    `rejected` is samples.rejected) as LLaMA-Factory's ranking data reads it; ExportError for a sample that is
    not a pair. Without it a pair is written as its chosen conversation."""
    if not ranking:
        return _CONVERT[style](messages, system, tools, input_split=input_split, lf=lf)
    pair = preference_pair(messages, rejected)
    if pair is None:
        raise ExportError("not a preference pair (no rejected reply): a ranking export needs pairs only")
    prompt, chosen, worse = pair
    if style == "alpaca":
        rec = to_alpaca(prompt + [chosen], system, tools, input_split=input_split)
        if worse.get("tool_calls"):
            raise ExportError("a rejected reply with tool calls cannot be written as alpaca; use style 'sharegpt'")
        rec.pop("output")
        return {**rec, "chosen": chosen["content"], "rejected": worse["content"]}
    if style == "sharegpt":
        rec = to_sharegpt(prompt, system, tools)
        return {**rec, "chosen": _sharegpt_reply(chosen), "rejected": _sharegpt_reply(worse)}
    rec = to_messages(prompt, system, tools, lf=lf)
    if lf:
        return {**rec, "chosen": _lf_reply(chosen), "rejected": _lf_reply(worse)}
    return {**rec, "chosen": chosen, "rejected": worse}


def _lf_reply(m: dict) -> dict:
    """A final reply as one LLaMA-Factory turn: {"role": assistant | function_call, "content"}."""
    role, content = lf_turns([{"role": "user", "content": ""}, m])[1]
    return {"role": role, "content": content}


def _sharegpt_reply(m: dict) -> dict:
    r = _lf_reply(m)
    return {"from": _SHAREGPT_FROM[r["role"]], "value": r["content"]}


def write_parquet_rows(rows: list[dict], path: Path) -> None:
    """Rows of export records as a Parquet file (columns: the union of keys, first-seen order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = list(dict.fromkeys(k for r in rows for k in r))
    pq.write_table(pa.table({k: pa.array([r.get(k) for r in rows]) for k in keys}), path)


def written_in_place(path: str | Path) -> bool:
    """An existing path that is neither a regular file nor a folder (a FIFO, a device such as /dev/stdout, a
    symbolic link): written through in place, never replaced (replacing would cut a link, or a shell's redirect,
    from what it points at)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _special(path: Path) -> bool:
    """written_in_place(path); a folder (not a link to one) as the target is an ExportError."""
    if written_in_place(path):
        return True
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name to export to")
    return False


@contextmanager
def record_writer(path: Path, file_format: str) -> Iterator[Callable[[dict], None]]:
    """Yield `write(record)`; on success the records are in `path`, on any error nothing changed there.

    A regular file is written to `<path>.part` and moved over the target when complete; an existing special
    file (a FIFO, a device such as /dev/stdout) is written in place, never replaced."""
    special = _special(path)
    if not special:
        path.parent.mkdir(parents=True, exist_ok=True)
    target = path if special else path.with_name(path.name + ".part")
    rows: list[dict] = []
    try:
        if file_format == "jsonl":
            with open(target, "w", encoding="utf-8") as f:
                yield lambda rec: f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        else:
            yield rows.append
            write_parquet_rows(rows, target)
        if not special:
            os.replace(target, path)
    except BaseException as e:
        if not special:
            _unlink_quietly(target)
        if isinstance(e, OSError) and e.filename in (None, str(target)):  # a failed write names no file
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e  # the .part: name the file asked for
        raise


def _unlink_quietly(path: Path) -> None:
    """Remove `path` if it is there; a folder that refuses it leaves it (the error being handled matters more)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def read_dataset_info(path: str | Path, *, folder_unless_json: bool = False) -> tuple[Path, dict]:
    """(the dataset_info.json path, its entries): a folder means its dataset_info.json (with
    `folder_unless_json`, so does any path not ending in .json); a missing file has no entries. ExportError when
    the file is not a JSON object."""
    info_path = Path(path)
    if info_path.is_dir() or (folder_unless_json and info_path.suffix.lower() != ".json"):
        info_path = info_path / "dataset_info.json"
    info: dict = {}
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ExportError(f"{info_path} is not valid JSON: {e}") from None
        if not isinstance(info, dict):
            raise ExportError(f"{info_path} is not a JSON object of entries")
    return info_path, info


def write_dataset_info(
    info_path: Path, info: dict, files: dict[str, Path], style: str, *, ranking: bool = False
) -> str:
    """Add an entry per exported file (name -> file, path relative to the dataset_info.json) to `info` and
    write it atomically. Returns the path written."""
    part = _dataset_info_part(info_path, info, files, style, ranking=ranking)
    os.replace(part, info_path)
    return str(info_path)


def _dataset_info_part(info_path: Path, info: dict, files: dict[str, Path], style: str, *, ranking: bool) -> Path:
    """`info` with an entry per file written to `<dataset_info.json>.part` (removed again when writing fails)."""
    for name, file in files.items():
        rel = os.path.relpath(Path(file).resolve(), info_path.resolve().parent)
        info[name] = dataset_info_entry(Path(rel).as_posix(), style, ranking=ranking)
    info_path.parent.mkdir(parents=True, exist_ok=True)
    part = info_path.with_name(info_path.name + ".part")
    try:
        part.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        _unlink_quietly(part)
        raise OSError(e.errno, e.strerror or str(e), str(info_path)) from e
    return part


@contextmanager
def dataset_info_with(
    info_path: Path | None, info: dict, files: dict[str, Path], style: str, *, ranking: bool = False
) -> Iterator[None]:
    """Data files and their dataset_info entries, all or nothing: the dataset_info.json is written (as its
    `.part`) before the body writes the `files`, so a folder it cannot be written into fails first, with nothing
    written. When the body fails, or the dataset_info.json cannot be moved into place after it, the `.part` goes
    and so do the files the body made (those not there before: an older file the body replaced stays replaced).
    `info_path` None: the body alone."""
    if info_path is None:
        yield
        return
    existed = {Path(f): Path(f).exists() for f in files.values()}
    part = _dataset_info_part(info_path, info, files, style, ranking=ranking)

    def undo() -> None:
        _unlink_quietly(part)
        for f, was in existed.items():
            if not was and not _special(f):
                _unlink_quietly(f)

    try:
        yield
    except BaseException:
        undo()
        raise
    try:
        os.replace(part, info_path)
    except OSError as e:
        undo()
        raise OSError(e.errno, e.strerror, e.filename or str(info_path)) from e


def export(
    store,
    path: str | Path,
    *,
    filter=None,
    style: str = "messages",
    file_format: str | None = None,
    dataset_info: str | Path | None = None,
    dataset_name: str | None = None,
    overwrite: bool = False,
    include_excluded: bool = False,
    ranking: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write the samples matched by `filter` (default: all non-excluded) to `path`, ordered by id.

    file_format: "jsonl" or "parquet" (default from the suffix). With `dataset_info`, an entry named
    `dataset_name` (default: the file's stem) is merged into that dataset_info.json; an existing entry
    of that name is an error unless overwrite=True. `ranking`: write preference pairs (chosen and rejected;
    every matched sample must be one) and mark the dataset_info entry `ranking: true`."""
    if style not in STYLES:
        raise ExportError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    out = Path(path)
    fmt = file_format or ("parquet" if out.suffix.lower() == ".parquet" else "jsonl")
    if fmt not in ("jsonl", "parquet"):
        raise ExportError(f"unknown file format {fmt!r} (jsonl or parquet)")
    # a dataset_info path not ending in .json is its folder (which may not exist yet)
    info_path, info = read_dataset_info(dataset_info, folder_unless_json=True) if dataset_info else (None, {})
    name = dataset_name or out.name.split(".")[0]
    if info_path is not None:
        if name in info and not overwrite:
            raise ExportError(
                f"{info_path.name} already has an entry {name!r}; pass overwrite (CLI: --overwrite) or another "
                "dataset name (--dataset-name)"
            )
    where, params = _where(store, filter, include_excluded)
    lf = info_path is not None
    n = n_open = 0
    con = store.cursor()
    try:
        total = con.execute(f"SELECT count(*) FROM samples s WHERE {where}", params).fetchall()[0][0]
        meter = ProgressMeter(progress, total=total)
        res = con.execute(
            f"SELECT s.id, s.messages, s.system, s.tools, json_extract(s.meta, '$.{INPUT_SPLIT}'), s.rejected "
            f"FROM samples s WHERE {where} ORDER BY s.id",
            params,
        )
        with dataset_info_with(info_path, info, {name: out}, style, ranking=ranking), record_writer(out, fmt) as write:
            while True:
                batch = res.fetchmany(FETCH_ROWS)
                if not batch:
                    break
                for sid, messages, system, tools, split, worse in batch:
                    msgs = json.loads(messages)
                    try:
                        rec = convert_record(
                            style,
                            msgs,
                            system,
                            json.loads(tools) if tools else None,
                            input_split=json.loads(split) if split is not None else None,
                            lf=lf,
                            rejected=json.loads(worse) if worse else None,
                            ranking=ranking,
                        )
                    except ExportError as e:
                        raise ExportError(f"sample {sid}: {e}") from None
                    write(rec)
                    n_open += not msgs or msgs[-1]["role"] != "assistant"
                n += len(batch)
                meter.advance(len(batch))
                if cancel is not None and cancel.cancelled:
                    res.fetchall()  # drain before the connection closes
                    cancel.check()
    finally:
        con.close()
    meter.report("done", force=True)
    return ExportResult(n, str(out), str(info_path) if info_path is not None else None, n_open)
