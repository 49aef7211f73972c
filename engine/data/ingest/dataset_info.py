"""LLaMA-Factory dataset_info.json: its entries imported as pools named after them, entry by entry.

Each entry is read the way LLaMA-Factory 0.9.5 reads it (llamafactory/data/parser.py, converter.py,
loader.py): a hub (`hf_hub_url`, `ms_hub_url`, `om_hub_url`) wins over `script_url`, which wins over
`cloud_file_name`, which wins over `file_name` (a file, or a folder whose files are all read). Without
`columns` the alpaca defaults are prompt=instruction, query=input, response=output and sharegpt's
messages=conversations; with `columns` only the declared columns are used (system, history, tools only
ever when declared). `ranking: true` entries become preference pairs (`alpaca_ranking`,
`sharegpt_ranking`), a `kto_tag` column marks replies desired (tag kto:desired) or undesired (excluded,
tag kto:undesired), and `columns: {"prompt": "text"}` reads pre-training text as prompt-only samples.

A whole-file import imports every entry it can, each in its own transaction, and reports every other entry
by name with the reason (`DatasetInfoReport`). Entries named explicitly are all-or-nothing: one that cannot
be imported raises ImportFailed and nothing is written."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.errors import InputError
from engine.core.jobs import CancelToken, ProgressFn
from engine.data.formats import RecordIssue
from engine.data.ingest.pipeline import _import_many, _Job
from engine.data.ingest.readers import SUFFIXES, ImportFailed
from engine.data.ingest.write import ImportResult

if TYPE_CHECKING:
    from engine.core.store import Store


_LF_TAGS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag")
_HUBS = ("hf_hub_url", "ms_hub_url", "om_hub_url")
_MEDIA = ("images", "videos", "audios")
_READABLE = tuple(SUFFIXES) + (".txt",)  # LLaMA-Factory reads json, jsonl, csv, parquet, arrow, txt

# why an entry was not imported (SkippedEntry.kind)
SKIP_KINDS = {
    "hub": "hub dataset, not downloaded",
    "script": "loading script, not run",
    "cloud": "cloud file, not downloaded",
    "no_source": "no file_name or other source",
    "missing_file": "file not found",
    "file_type": "unsupported file type",
    "pretraining_text": "pre-training text",
    "multimodal": "multimodal (images, videos, audios)",
    "config": "entry not understood",
    "records": "bad records",
}


@dataclass
class SkippedEntry:
    """An entry that was not imported: its name, why (`kind`, a key of SKIP_KINDS) and the reason in words."""

    name: str
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: skipped: {self.reason}"


@dataclass
class DatasetInfoReport:
    """What a dataset_info import did, entry by entry. Iterating (or indexing) it gives the ImportResults."""

    path: str
    imported: list[ImportResult] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)  # every entry looked at, in the file's order
    seconds: float = 0.0

    def __iter__(self):
        return iter(self.imported)

    def __len__(self) -> int:
        return len(self.imported)

    def __getitem__(self, i):
        return self.imported[i]

    def skipped_by_kind(self) -> dict[str, int]:
        return dict(Counter(s.kind for s in self.skipped))

    def lines(self) -> list[str]:
        """One line per entry, in the file's order, then a summary line."""
        done = {r.pool: r for r in self.imported}
        skipped = {s.name: s for s in self.skipped}
        out = []
        for name in self.entries:
            if name in done:
                out.append(f"{name}: {_result_text(done[name])}")
            elif name in skipped:
                out.append(str(skipped[name]))
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.skipped_by_kind().items(), key=lambda kv: -kv[1]))
        out.append(
            f"{len(self.imported)} of {len(self.entries)} entries imported, {len(self.skipped)} skipped"
            + (f" ({kinds})" if kinds else "")
            + f" in {self.seconds:.1f}s"
        )
        return out


def _result_text(r: ImportResult) -> str:
    msg = (
        f"imported {r.n_inserted:,} samples ({r.format}) into pool {r.pool} (id {r.pool_id}): "
        f"{r.n_records:,} records, {r.n_duplicates:,} duplicates, {r.n_invalid:,} invalid in {r.seconds:.1f}s"
    )
    for note in r.notes:
        msg += f"; {note}"
    if r.quarantine_path:
        msg += f"; bad records quarantined in {r.quarantine_path}"
    return msg


class _Skip(InputError):
    """Why an entry cannot be imported (reported in the whole-file report, raised for a named entry)."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind, self.reason = kind, reason


def read_dataset_info(path: str | Path) -> dict:
    """Parse a LLaMA-Factory dataset_info.json (a JSON object of entries)."""
    p = _info_path(path)
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:  # RecursionError: nested too deeply for Python's parser
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise ImportFailed(
            [RecordIssue(str(p), getattr(e, "lineno", None), None, None, f"cannot read dataset_info: {why}")]
        ) from None
    if not isinstance(info, dict):
        raise ImportFailed([RecordIssue(str(p), None, None, None, "dataset_info must be a JSON object of entries")])
    return info


def _info_path(path: str | Path) -> Path:
    """The dataset_info.json itself, also when given its folder (LLaMA-Factory's dataset_dir)."""
    p = Path(path)
    return p / "dataset_info.json" if p.is_dir() else p


def _suffix(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


def _entry_files(base: Path, file_name: str) -> list[Path]:
    """The files of a local entry: the file, or every file directly in the folder (as LLaMA-Factory lists
    them; hidden files left out), all of one type."""
    path = base / file_name
    if not path.exists():
        raise _Skip("missing_file", f"file not found: {path}")
    if path.is_file():
        return [path.resolve()]
    files = sorted(f.resolve() for f in path.iterdir() if f.is_file() and not f.name.startswith("."))
    if not files:
        raise _Skip("missing_file", f"folder {path} has no files")
    kinds = sorted({_suffix(f) for f in files})
    if len(kinds) > 1:
        raise _Skip("file_type", f"folder {path} mixes file types ({', '.join(kinds)}); LLaMA-Factory needs one")
    return files


def dataset_info_job(base: Path, name: str, entry: dict) -> tuple[Path, str, dict]:
    """(file path, format, mapping) of one dataset_info entry; ValueError (with the reason) if it cannot be
    imported."""
    try:
        job, _ = _plan(base, name, entry)
    except _Skip as e:
        raise ValueError(f"entry {name!r}: {e.reason}") from None
    return job.path, job.format, job.mapping


def _plan(base: Path, name: str, entry) -> tuple[_Job, list[str]]:
    """The import job of one entry and notes for its report line; raises _Skip with the reason."""
    if not isinstance(entry, dict):
        raise _Skip("config", "the entry is not a JSON object")
    if not name.strip():
        raise _Skip("config", "an entry needs a name (it names the pool)")
    hub = next((entry[k] for k in _HUBS if entry.get(k)), None)
    if hub is not None:
        raise _Skip("hub", f"hub dataset, not downloaded: {hub}")
    if entry.get("script_url"):
        raise _Skip("script", f"loading script, not run: {entry['script_url']}")
    if entry.get("cloud_file_name"):
        raise _Skip("cloud", f"cloud file, not downloaded: {entry['cloud_file_name']}")
    file_name = entry.get("file_name")
    if not file_name or not isinstance(file_name, str):
        raise _Skip("no_source", "no file_name (nor hf_hub_url, ms_hub_url, om_hub_url, script_url, cloud_file_name)")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in ("alpaca", "sharegpt", "openai"):
        raise _Skip("config", f"formatting {formatting!r} is not alpaca, sharegpt or openai")
    columns = entry.get("columns")
    tags = entry.get("tags")
    if columns is not None and not isinstance(columns, dict):
        raise _Skip("config", "columns must be a JSON object")
    if tags is not None and not isinstance(tags, dict):
        raise _Skip("config", "tags must be a JSON object")
    media = [m for m in _MEDIA if (columns or {}).get(m)]
    if media:
        raise _Skip(
            "multimodal",
            f"multimodal ({', '.join(media)} column{'s' if len(media) > 1 else ''}): Workbench holds text only "
            "and the text refers to media it cannot keep",
        )

    def col(key: str, default: str | None) -> str | None:
        # LLaMA-Factory: without `columns` the defaults; with it, a column not declared is None
        return default if columns is None else (columns.get(key) or None)

    ranking = bool(entry.get("ranking"))
    kto_tag = col("kto_tag", None)
    if ranking and kto_tag:
        raise _Skip("config", "both ranking and kto_tag: an entry is preference pairs or KTO labels, not both")
    split = entry.get("split", "train")
    if split not in (None, "train"):
        raise _Skip("config", f"split {split!r}: LLaMA-Factory reads only the 'train' split of local files")
    files = _entry_files(base, file_name)
    kind = _suffix(files[0])
    notes: list[str] = []
    if kind == ".txt":
        if formatting != "alpaca" or col("prompt", "instruction") != "text" or ranking or kto_tag:
            raise _Skip(
                "pretraining_text",
                "pre-training text (.txt) is not instruction data; LLaMA-Factory reads it as prompt-only text only "
                'with columns {"prompt": "text"}',
            )
    elif kind == ".arrow":
        raise _Skip("file_type", "Arrow files are not read (save it as JSON Lines or Parquet)")
    elif kind not in _READABLE:
        raise _Skip(
            "file_type", f"unsupported file type {kind or '(none)'!r} (LLaMA-Factory reads json, jsonl, csv, parquet)"
        )

    if formatting == "alpaca":
        prompt, query = col("prompt", "instruction"), col("query", "input")
        if not prompt:
            prompt, query = query, None
        if not prompt:
            raise _Skip("config", "columns declare neither prompt nor query")
        response = col("response", "output")
        mapping = {
            "instruction": prompt,
            "input": query,
            "output": None if ranking else response,
            "system": col("system", None),
            "history": col("history", None),
            "tools": col("tools", None),
        }
        fmt = "alpaca_ranking" if ranking else "alpaca"
        if not response and not ranking:
            notes.append(
                "pre-training text: prompt-only samples" if prompt == "text" else "prompt-only: no response column"
            )
    else:
        if formatting == "openai":
            notes.append("formatting openai read as sharegpt")
        mapping = {
            "messages": col("messages", "conversations") or "conversations",
            "system": col("system", None),
            "tools": col("tools", None),
        }
        mapping.update({k: v for k, v in (tags or {}).items() if k in _LF_TAGS and isinstance(v, str)})
        fmt = "sharegpt_ranking" if ranking else "sharegpt"
    if ranking:
        mapping["chosen"] = col("chosen", "chosen") or "chosen"
        mapping["rejected"] = col("rejected", "rejected") or "rejected"
    if entry.get("num_samples") is not None:
        notes.append(f"num_samples {entry['num_samples']} not applied: LLaMA-Factory draws them at training time")
    if entry.get("subset") or entry.get("folder"):
        notes.append("subset/folder ignored: they apply to hub datasets")
    job = _Job(
        base / file_name,
        name,
        format=fmt,
        mapping=mapping,
        files=files,
        kto_tag=kto_tag,
        pool_meta={"dataset_info": {"name": name, "entry": entry}},
        label=f"entry {name!r}",
    )
    return job, notes


def import_dataset_info(
    store: Store,
    dataset_info_path: str | Path,
    *,
    names=None,
    domain: str | None = None,
    skip_invalid: bool = False,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> DatasetInfoReport:
    """Import the entries of a LLaMA-Factory dataset_info.json as pools named after them.

    Without `names`: every entry is its own all-or-nothing unit; the importable ones are imported and every
    other one is reported by name with the reason (hub, script or cloud datasets, missing files, file types,
    bad records ...). With `names`: those entries only, all in one transaction; an entry that cannot be
    imported raises ImportFailed naming it and nothing is written."""
    t0 = time.perf_counter()
    p = _info_path(dataset_info_path)
    info = read_dataset_info(p)
    base = p.parent
    if names is not None:
        return _import_named(store, p, info, list(names), domain, skip_invalid, progress, cancel, t0)
    report = DatasetInfoReport(str(p), entries=list(info))
    for name, entry in info.items():
        try:
            job, notes = _plan(base, name, entry)
        except _Skip as e:
            report.skipped.append(SkippedEntry(name, e.kind, e.reason))
            continue
        job.domain, job.description, job.label = domain, f"from {p.name}", None
        try:
            (r,) = _import_many(store, [job], skip_invalid=skip_invalid, progress=progress, cancel=cancel)
        except ImportFailed as e:
            report.skipped.append(SkippedEntry(name, "records", str(e)))
            continue
        except OSError as e:
            report.skipped.append(SkippedEntry(name, "records", f"cannot read: {e}"))
            continue
        r.notes = notes + r.notes
        report.imported.append(r)
    report.seconds = time.perf_counter() - t0
    return report


def _import_named(store, p: Path, info: dict, names: list, domain, skip_invalid, progress, cancel, t0):
    jobs, notes, issues = [], [], []
    for name in names:
        if name not in info:
            issues.append(RecordIssue(str(p), None, None, None, f"entry {name!r}: no such entry"))
            continue
        try:
            job, n = _plan(p.parent, name, info[name])
        except _Skip as e:
            issues.append(RecordIssue(str(p), None, None, None, f"entry {name!r}: {e.reason}"))
            continue
        job.domain, job.description = domain, f"from {p.name}"
        jobs.append(job)
        notes.append(n)
    if issues:
        raise ImportFailed(issues)
    results = _import_many(store, jobs, skip_invalid=skip_invalid, progress=progress, cancel=cancel) if jobs else []
    for r, n in zip(results, notes):
        r.notes = n + r.notes
    return DatasetInfoReport(str(p), results, [], list(names), time.perf_counter() - t0)
