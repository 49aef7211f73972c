"""Export samples to JSONL or Parquet in messages (OpenAI), alpaca or sharegpt style.

Optionally writes or merges a LLaMA-Factory `dataset_info.json` entry that points at the exported file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.core.errors import InputError
from engine.core.jobs import CancelToken, ProgressFn, ProgressMeter

STYLES = ("messages", "alpaca", "sharegpt")
FETCH_ROWS = 5_000


@dataclass
class ExportResult:
    """What an export wrote."""

    n: int
    path: str
    dataset_info_path: str | None = None


class ExportError(InputError):
    """An export that cannot be done as asked (nothing was written)."""


# -- conversions -----------------------------------------------------------------------------------
def _split_system(messages: list[dict], system: str | None) -> tuple[str | None, list[dict]]:
    if messages and messages[0]["role"] == "system":
        return messages[0]["content"] or system, messages[1:]
    return system, messages


def _call_obj(tc: dict) -> dict:
    fn = tc.get("function", tc)
    args = fn.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            pass
    return {"name": fn.get("name"), "arguments": args}


def to_messages(messages: list[dict], system: str | None, tools: list | None, *, tools_as_text: bool = False) -> dict:
    """OpenAI style: {"messages": [...], "tools"?: [...]} (system stays the first message)."""
    out: dict[str, Any] = {"messages": messages}
    if tools:
        out["tools"] = json.dumps(tools, ensure_ascii=False) if tools_as_text else tools
    return out


def to_sharegpt(messages: list[dict], system: str | None, tools: list | None) -> dict:
    """LLaMA-Factory ShareGPT: conversations [{from, value}] with function_call/observation turns."""
    system, rest = _split_system(messages, system)
    conv = []
    for m in rest:
        role = m["role"]
        if role == "user":
            conv.append({"from": "human", "value": m["content"]})
        elif role == "assistant":
            if m.get("content") or not m.get("tool_calls"):
                conv.append({"from": "gpt", "value": m.get("content") or ""})
            if m.get("tool_calls"):
                calls = [_call_obj(tc) for tc in m["tool_calls"]]
                value = calls[0] if len(calls) == 1 else calls
                conv.append({"from": "function_call", "value": json.dumps(value, ensure_ascii=False)})
        elif role == "tool":
            conv.append({"from": "observation", "value": m["content"]})
        elif role == "system":
            conv.append({"from": "system", "value": m["content"]})
    out: dict[str, Any] = {"conversations": conv}
    if system:
        out["system"] = system
    if tools:
        out["tools"] = json.dumps(tools, ensure_ascii=False)
    return out


def to_alpaca(messages: list[dict], system: str | None, tools: list | None) -> dict:
    """Alpaca: {instruction, input, output, system?, history?}; earlier turns go into history.

    A prompt-only sample gets output null (re-imported, it stays prompt-only). Samples with tool
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
    out: dict[str, Any] = {"instruction": pairs[-1][0], "input": "", "output": pairs[-1][1]}
    if system:
        out["system"] = system
    if len(pairs) > 1:
        out["history"] = [list(p) for p in pairs[:-1]]
    if tools:
        out["tools"] = json.dumps(tools, ensure_ascii=False)
    return out


_CONVERT = {"messages": to_messages, "sharegpt": to_sharegpt, "alpaca": to_alpaca}


def dataset_info_entry(file_name: str, style: str) -> dict:
    """The LLaMA-Factory dataset_info entry describing an exported file."""
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
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
            "observation_tag": "tool",
            "function_tag": "function_call",
        },
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
    style: str, messages: list[dict], system: str | None, tools: list | None, *, file_format: str = "jsonl"
) -> dict:
    """One sample in the export `style` (messages keep tools as a JSON string in Parquet)."""
    if style == "messages":
        return to_messages(messages, system, tools, tools_as_text=file_format == "parquet")
    return _CONVERT[style](messages, system, tools)


def write_parquet_rows(rows: list[dict], path: Path) -> None:
    """Rows of export records as a Parquet file (columns: the union of keys, first-seen order)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = list(dict.fromkeys(k for r in rows for k in r))
    pq.write_table(pa.table({k: pa.array([r.get(k) for r in rows]) for k in keys}), path)


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


def write_dataset_info(info_path: Path, info: dict, files: dict[str, Path], style: str) -> str:
    """Add an entry per exported file (name -> file, path relative to the dataset_info.json) to `info` and
    write it atomically. Returns the path written."""
    for name, file in files.items():
        rel = os.path.relpath(Path(file).resolve(), info_path.resolve().parent)
        info[name] = dataset_info_entry(Path(rel).as_posix(), style)
    info_path.parent.mkdir(parents=True, exist_ok=True)
    tmpi = info_path.with_name(info_path.name + ".part")
    tmpi.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmpi, info_path)
    return str(info_path)


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
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write the samples matched by `filter` (default: all non-excluded) to `path`, ordered by id.

    file_format: "jsonl" or "parquet" (default from the suffix). With `dataset_info`, an entry named
    `dataset_name` (default: the file's stem) is merged into that dataset_info.json; an existing entry
    of that name is an error unless overwrite=True."""
    if style not in STYLES:
        raise ExportError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    out = Path(path)
    fmt = file_format or ("parquet" if out.suffix.lower() == ".parquet" else "jsonl")
    if fmt not in ("jsonl", "parquet"):
        raise ExportError(f"unknown file format {fmt!r} (jsonl or parquet)")
    info_path, info = read_dataset_info(dataset_info) if dataset_info else (None, {})
    name = dataset_name or out.name.split(".")[0]
    if info_path is not None:
        if name in info and not overwrite:
            raise ExportError(
                f"{info_path.name} already has an entry {name!r}; pass overwrite=True or another dataset_name"
            )
    where, params = _where(store, filter, include_excluded)
    con = store.cursor()
    try:
        total = con.execute(f"SELECT count(*) FROM samples s WHERE {where}", params).fetchall()[0][0]
        meter = ProgressMeter(progress, total=total)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        rows: list[dict] = []
        n = 0
        try:
            res = con.execute(
                f"SELECT s.id, s.messages, s.system, s.tools FROM samples s WHERE {where} ORDER BY s.id", params
            )
            with open(tmp, "w", encoding="utf-8") if fmt == "jsonl" else _NullCtx() as f:
                while True:
                    batch = res.fetchmany(FETCH_ROWS)
                    if not batch:
                        break
                    for sid, messages, system, tools in batch:
                        msgs = json.loads(messages)
                        tl = json.loads(tools) if tools else None
                        try:
                            rec = convert_record(style, msgs, system, tl, file_format=fmt)
                        except ExportError as e:
                            raise ExportError(f"sample {sid}: {e}") from None
                        if f is not None:
                            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                        else:
                            rows.append(rec)
                    n += len(batch)
                    meter.advance(len(batch))
                    if cancel is not None and cancel.cancelled:
                        res.fetchall()  # drain before the connection closes
                        cancel.check()
            if fmt == "parquet":
                write_parquet_rows(rows, tmp)
            os.replace(tmp, out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    finally:
        con.close()
    written_info = None
    if info_path is not None:
        written_info = write_dataset_info(info_path, info, {name: out}, style)
    meter.report("done", force=True)
    return ExportResult(n, str(out), written_info)


class _NullCtx:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
