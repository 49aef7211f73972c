"""Targeted selections read back (the Targeted area): which saved selections came from engine/targeting, their
request, and per pick the query item that pulled it in and their similarity.

The similarity of a pick is read from its `why` line (saving.why writes every one as "... query Q (LABEL):
similarity S" with four decimals), since the selection's score column holds the algorithm's own score (the
similarity for round-robin and doubly greedy, the transported mass or probability for UOT and the KNN
methods). `parse_why` is that line's inverse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from engine.core.store import Store
from engine.quality.selection import SelectionInfo, get_selection, list_selections
from engine.targeting.saving import ALGOS

_WHY = re.compile(r"query (\d+) \((.*)\): similarity (\S+)$", re.S)
_SAMPLE_LABEL = re.compile(r"sample (\d+)$")


def parse_why(why: str | None) -> tuple[int, str, float] | None:
    """(query index, query label, similarity) of a targeting `why` line; None for any other line."""
    m = _WHY.search(why or "")
    if m is None:
        return None
    try:
        return int(m.group(1)), m.group(2), float(m.group(3))
    except ValueError:
        return None


def is_targeted(info: SelectionInfo) -> bool:
    """A selection saved by engine/targeting (method "target-<algo>")."""
    return info.method.startswith("target-") and info.method[len("target-") :] in ALGOS


def list_targeted(store: Store) -> list[SelectionInfo]:
    """The targeted selections of the store, newest first."""
    return [s for s in list_selections(store) if is_targeted(s)]


@dataclass
class TargetedPick:
    rank: int
    sample_id: int
    domain: str | None
    instruction: str
    query: int | None  # the query item's index in the query set
    label: str  # the query item ("sample 374", "mine.jsonl record 3")
    query_text: str  # the query item's first user turn, when it is a sample of the store
    similarity: float | None
    score: float | None  # the algorithm's score
    why: str


@dataclass
class TargetedDetail:
    info: SelectionInfo
    picks: list[TargetedPick]  # the first `limit`
    similarities: np.ndarray  # every pick's similarity, in rank order
    per_query: list[tuple[int, str, int]]  # (query index, label, picks it pulled in), most first
    n_query: int
    edges: list[float] = field(default_factory=list)  # the similarity histogram
    counts: list[int] = field(default_factory=list)


def targeted_detail(store: Store, name: str, *, limit: int = 200, bins: int = 20) -> TargetedDetail:
    """The selection `name` as the Targeted area shows it: its first `limit` picks with their query item and
    similarity, every pick's similarity and their histogram (`bins`), and the picks per query item."""
    info = get_selection(store, name)
    rows = store.fetchall(
        "SELECT rank, sample_id, score, why FROM selection_items WHERE selection_id = ? ORDER BY grp, rank",
        [info.id],
    )
    parsed = [parse_why(r[3]) for r in rows]
    sims = np.array([np.nan if p is None else p[2] for p in parsed], dtype=np.float64)
    labels: dict[int, str] = {}
    for p in parsed:
        if p is not None:
            labels.setdefault(p[0], p[1])
    head = rows[: max(0, int(limit))]
    ids = [int(r[1]) for r in head]
    query_ids = {}  # query index -> its sample id, when the query set is a pool of the store
    if str(info.params.get("query", "")).startswith("pool:"):
        query_ids = {q: int(m.group(1)) for q, lab in labels.items() if (m := _SAMPLE_LABEL.match(lab))}
    wanted = sorted(set(ids) | set(query_ids.values()))
    text = {
        int(i): (d, ins)
        for i, d, ins in store.fetchall(
            "SELECT id, domain, instruction FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))", [wanted]
        )
    }
    picks = []
    for r, p in zip(head, parsed):
        q = None if p is None else p[0]
        qid = query_ids.get(q) if q is not None else None
        picks.append(
            TargetedPick(
                rank=int(r[0]),
                sample_id=int(r[1]),
                domain=text.get(int(r[1]), (None, ""))[0],
                instruction=_line(text.get(int(r[1]), (None, ""))[1]),
                query=q,
                label="" if p is None else p[1],
                query_text=_line(text[qid][1]) if qid in text else "",
                similarity=None if p is None else p[2],
                score=None if r[2] is None else float(r[2]),
                why=r[3] or "",
            )
        )
    counts = info.params.get("per_query") or []
    n_query = int(info.params.get("n_query") or len(counts))
    per_query = sorted(
        ((i, labels.get(i, f"query {i}"), int(c)) for i, c in enumerate(counts)), key=lambda t: (-t[2], t[0])
    )
    det = TargetedDetail(info, picks, sims, per_query, n_query)
    finite = sims[np.isfinite(sims)]
    if len(finite):
        lo, hi = float(finite.min()), float(finite.max())
        if hi <= lo:
            lo, hi = lo - 0.005, hi + 0.005
        c, e = np.histogram(finite, bins=int(bins), range=(lo, hi))
        det.edges, det.counts = [float(x) for x in e], [int(x) for x in c]
    return det


def _line(text: str | None, n: int = 200) -> str:
    """The first n characters of a text on one line."""
    t = " ".join((text or "").split())
    return t[:n]
