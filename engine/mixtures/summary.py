"""Summaries for the Mixtures screen and `workbench mix show`: quality, diversity, preview, store domains."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import TYPE_CHECKING

from engine.mixtures.resolution import Item
from engine.mixtures.sources import _TRAIN

if TYPE_CHECKING:
    from engine.core.store import Store


def sample_ids_of(items_: list[Item]) -> list[int]:
    """Distinct sample ids among items (both sides of mixup pairs are not included)."""
    return sorted({int(i.sample_id) for i in items_ if i.kind == "sample"})


def quality_summary(store: Store, sample_ids: list[int]) -> dict[str, dict]:
    """{metric: {"mean", "n"}}: the mean of each stored score metric over the given samples (the latest
    value per sample, engine.quality.scores.metric_values), and how many of them have a value."""
    from engine.quality.scores import list_metrics, metric_values

    out: dict[str, dict] = {}
    if not sample_ids:
        return out
    for m in dict.fromkeys(mi.metric for mi in list_metrics(store)):
        vals = [v for v in metric_values(store, m, sample_ids=sample_ids).values() if v is not None]
        vals = [v for v in vals if math.isfinite(v)]
        out[m] = {"mean": (sum(vals) / len(vals)) if vals else None, "n": len(vals)}
    return out


def diversity_summary(store: Store, sample_ids: list[int], clustering: str | None = None) -> dict | None:
    """engine.geometry.clusters.diversity over exactly these samples for `clustering` (default: the newest one);
    None when there is no clustering."""
    from engine.geometry.clusters import diversity, list_clusterings

    if clustering is None:
        cl = list_clusterings(store)
        if not cl:
            return None
        clustering = cl[-1].name
    info = diversity(store, clustering, sample_ids=sample_ids)
    d = asdict(info)
    d["clustering"] = clustering
    return d


def preview(store: Store, items_: list[Item], n: int = 50) -> list[dict]:
    """The first `n` items in training order with a short instruction text, for a preview list."""
    head = items_[:n]
    con = store.cursor()
    try:
        ids = sorted({i.sample_id for i in head if i.kind == "sample"})
        text = (
            dict(
                con.execute(
                    "SELECT id, left(instruction, 200) FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]
                ).fetchall()
            )
            if ids
            else {}
        )
    finally:
        con.close()
    return [
        {
            "stage": i.stage,
            "position": i.position,
            "kind": i.kind,
            "domain": i.domain,
            "component": i.component,
            "id": i.sample_id if i.kind == "sample" else f"{i.set_id}:{i.pair_index}",
            "n_tokens": i.n_tokens,
            "text": (text.get(i.sample_id) or "").replace("\n", " ") if i.kind == "sample" else "(interpolation pair)",
        }
        for i in head
    ]


def store_domains(store: Store) -> dict[str, dict]:
    """{domain: {"samples", "tokens"}} of the drawable samples (train pools, not excluded), for editors."""
    rows = store.fetchall(
        f"SELECT s.domain, count(*), coalesce(sum(s.n_tokens), 0) FROM samples s JOIN pools p "
        f"ON p.id = s.pool_id WHERE {_TRAIN} GROUP BY 1 ORDER BY 1"
    )
    return {d: {"samples": int(n), "tokens": int(t)} for d, n, t in rows}
