"""The bundled sample data: its pools and eval sets imported into a store (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.errors import InputError

if TYPE_CHECKING:
    from engine.core.store import Store

_DOMAINS = {"math": "math", "code": "code", "tool_use": "tool_use", "tool": "tool_use", "general": "general"}


def load_sample(store: Store, folder: str | Path, progress=None, *, evals: bool = False) -> list:
    """Import the sample pools under `folder`/pools that the store does not have yet, as `sample_<name>`.
    With `evals`, also `folder`/eval/<domain>_eval.jsonl as pools `eval_<domain>` marked as evaluation data
    (never drawn into mixtures). Returns the import results of what was imported now."""
    from engine.data.ingest import import_file
    from engine.data.pools import list_pools

    folder = Path(folder)
    have = {p.name for p in list_pools(store)}
    results = []
    pools = folder / "pools"
    if not pools.is_dir():
        raise InputError(f"sample data not found at {pools}")
    for f in sorted(pools.iterdir()):
        name = "sample_" + f.name.split(".")[0]
        if name in have or f.name.startswith("."):
            continue
        dom = _DOMAINS.get(f.name.split(".")[0], "general")
        results.append(import_file(store, f, pool=name, domain=dom, progress=progress))
    if evals:
        from engine.data.pools import set_role

        for f in sorted((folder / "eval").glob("*_eval.jsonl")):
            dom = _DOMAINS.get(f.name[: -len("_eval.jsonl")], "general")
            name = f"eval_{dom}"
            if name in have:
                continue
            results.append(import_file(store, f, pool=name, domain=dom, progress=progress))
            set_role(store, name, "eval")
    return results
