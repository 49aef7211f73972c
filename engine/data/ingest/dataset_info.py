"""LLaMA-Factory dataset_info.json: its entries imported as pools named after them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.jobs import CancelToken, ProgressFn
from engine.data.formats import RecordIssue
from engine.data.ingest.pipeline import _import_many
from engine.data.ingest.readers import ImportFailed
from engine.data.ingest.write import ImportResult

if TYPE_CHECKING:
    from engine.core.store import Store


_LF_TAGS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")


def read_dataset_info(path: str | Path) -> dict:
    """Parse a LLaMA-Factory dataset_info.json (a JSON object of entries)."""
    p = Path(path)
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ImportFailed(
            [RecordIssue(str(p), getattr(e, "lineno", None), None, None, f"cannot read dataset_info: {e}")]
        ) from None
    if not isinstance(info, dict):
        raise ImportFailed([RecordIssue(str(p), None, None, None, "dataset_info must be a JSON object of entries")])
    return info


def dataset_info_job(base: Path, name: str, entry: dict) -> tuple[Path, str, dict]:
    """(file path, format, mapping) for one dataset_info entry."""
    if not isinstance(entry, dict) or not entry.get("file_name"):
        raise ValueError(f"entry {name!r} has no local file_name (hub or script datasets are not imported)")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in ("alpaca", "sharegpt"):
        raise ValueError(f"entry {name!r}: formatting {formatting!r} is not supported (alpaca or sharegpt)")
    mapping = dict(entry.get("columns") or {})
    mapping.update({k: v for k, v in (entry.get("tags") or {}).items() if k in _LF_TAGS})
    if formatting == "sharegpt" and "messages" not in mapping:
        mapping["messages"] = "conversations"
    return base / entry["file_name"], formatting, mapping


def import_dataset_info(
    store: Store,
    dataset_info_path: str | Path,
    *,
    names=None,
    domain: str | None = None,
    skip_invalid: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> list[ImportResult]:
    """Import entries of a LLaMA-Factory dataset_info.json as pools named after the entries.

    `names` picks entries (default: every entry with a local file_name; hub-only entries are skipped).
    All entries are written in one transaction: if one fails, none is imported."""
    p = Path(dataset_info_path)
    info = read_dataset_info(p)
    wanted = (
        list(names) if names is not None else [n for n, e in info.items() if isinstance(e, dict) and e.get("file_name")]
    )
    jobs = []
    issues = []
    for name in wanted:
        if name not in info:
            issues.append(RecordIssue(str(p), None, None, name, "no such entry"))
            continue
        try:
            fpath, fmt, mapping = dataset_info_job(p.parent, name, info[name])
        except ValueError as e:
            issues.append(RecordIssue(str(p), None, None, name, str(e)))
            continue
        jobs.append((fpath, name, domain, fmt, mapping, f"from {p.name}"))
    if issues:
        raise ImportFailed(issues)
    if not jobs:
        return []
    return _import_many(store, jobs, skip_invalid=skip_invalid, progress=progress, cancel=cancel)
