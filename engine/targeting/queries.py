"""Query sets: the target a selection serves. Any pool of the store (training or evaluation) or a file in any
format the importer reads (read into a throwaway in-memory store, so detection and error messages are the
importer's own).

Each query item has a prompt and a label (the reference's `prompts` / `labels`): the prompt is every turn
before the last assistant reply, in the workbench's conversation text ("role: content" per line, the system
prompt first), followed by "assistant:"; the label is that last reply (empty when the item has none). So
prompt + " " + label is exactly the item's conversation text, the text the candidates are represented by.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.store import Store
from engine.geometry.embeddings import turn_text
from engine.targeting.similarity import TargetingError


@dataclass
class QuerySet:
    source: str  # "pool:NAME" or "file:PATH"
    labels: list[str]  # one short label per item (sample id or file record), for the explanations
    prompts: list[str]
    answers: list[str]
    sample_ids: list[int]  # the store's sample ids (a pool), empty for a file
    records: list[dict] = field(default_factory=list)  # {messages, system, tools} per item (LESS's gradients)

    def __len__(self) -> int:
        return len(self.prompts)

    def texts(self) -> list[str]:
        """prompt + " " + label per item (stripped), as the reference joins them."""
        return [f"{p} {a}".strip() for p, a in zip(self.prompts, self.answers)]


def prompt_and_label(messages, system: str | None = None) -> tuple[str, str]:
    """(prompt, label) of one item: see the module docstring."""
    msgs = json.loads(messages) if isinstance(messages, str) else list(messages or [])
    last = max((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), default=None)
    before = msgs if last is None else msgs[:last]
    lines = []
    if system and not any(m.get("role") == "system" for m in msgs):
        lines.append(f"system: {system}")
    lines += [f"{m.get('role', '?')}: {turn_text(m)}" for m in before]
    if last is None:
        return "\n".join(lines), ""
    lines.append("assistant:")
    return "\n".join(lines), turn_text(msgs[last])


def _rows_of_pool(store: Store, name: str) -> tuple[str, list]:
    from engine.data.pools import get_pool

    try:
        p = get_pool(store, name)
    except KeyError as e:
        raise TargetingError(str(e.args[0] if e.args else e)) from None
    rows = store.fetchall(
        "SELECT id, messages, system, tools FROM samples WHERE pool_id = ? AND NOT excluded ORDER BY id", [p.id]
    )
    return p.name, rows


def load_queries(store: Store, query: str) -> QuerySet:
    """The query set named by `query`: a pool of the store, else an existing file."""
    from engine.data.pools import list_pools

    names = {p.name for p in list_pools(store)}
    if query in names:
        name, rows = _rows_of_pool(store, query)
        source = f"pool:{name}"
        labels = [f"sample {r[0]}" for r in rows]
        ids = [int(r[0]) for r in rows]
    else:
        path = Path(query).expanduser()
        if not path.is_file():
            raise TargetingError(
                f"query set {query!r} is neither a pool nor a file; pools: {', '.join(sorted(names)) or 'none'}"
            )
        rows = _rows_of_file(path)
        source = f"file:{path}"
        labels = [f"{path.name} record {n + 1}" for n in range(len(rows))]
        ids = []
    if not rows:
        raise TargetingError(f"query set {query!r} has no (non-excluded) items")
    pl = [prompt_and_label(r[1], r[2]) for r in rows]
    recs = [
        {
            "kind": "sample",
            "messages": json.loads(r[1]) if isinstance(r[1], str) else r[1],
            "system": r[2],
            "tools": (json.loads(r[3]) if isinstance(r[3], str) else r[3]) or None,
        }
        for r in rows
    ]
    return QuerySet(source, labels, [p for p, _a in pl], [a for _p, a in pl], ids, recs)


def _rows_of_file(path: Path) -> list:
    """The records of a file as (n, messages, system, tools), through the importer into an in-memory store."""
    from engine.data.ingest import import_file

    tmp = Store(":memory:")
    try:
        import_file(tmp, path, pool="query")
        return tmp.fetchall("SELECT id, messages, system, tools FROM samples ORDER BY id")
    finally:
        tmp.close()
