"""Duplicate groups among the non-excluded samples, and a reversible bulk "keep one per group".

Every finder takes a scope as `filter` (engine.data.scope: the Browse filter, a Scope, or None for every training
sample): excluded samples and samples of eval pools are left out unless the scope asks for them.

- exact_duplicate_groups(by="hash"): the same samples.content_hash (the canonical messages + system +
  tools hash of ingest; the importer already stores one copy per pool, so these groups span pools).
  by="text": the same normalised instruction + response (lower case, whitespace runs collapsed, trimmed),
  which also catches copies that differ only in system prompt, tools or spacing.
- semantic_duplicate_groups: cosine >= threshold between stored (L2-normalised) embeddings; pairs come
  from blocked matrix products (block x block tiles, never an n x n matrix), groups are the connected
  components (union-find), so a group can hold two members below the threshold linked through a third.
- near_duplicate_groups_minhash: datasketch MinHash LSH over word 3-gram shingles of the normalised
  instruction + response; LSH candidates are kept when the estimated Jaccard is >= threshold.

Each group suggests a keeper: the longest response (ties: lowest id), or the highest latest value of a
metric ("score:METRIC"; samples without a value lose, then longest). keep_one_per_group() marks every
other member excluded (the soft flag; nothing is deleted) and tags it `duplicate`, in one transaction;
`workbench exclude --undo --tag duplicate` reverses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.core.errors import InputError
from engine.core.store import Store

DUP_TAG = "duplicate"
_NORM_SQL = (
    "trim(regexp_replace(lower(coalesce(s.instruction, '') || ' ' || coalesce(s.response, '')), '\\s+', ' ', 'g'))"
)


class DedupError(InputError):
    """A dedup request that cannot be honoured (the message says why)."""


@dataclass
class DupGroup:
    kind: str  # "hash", "text", "semantic", "minhash"
    ids: list[int]  # sorted
    keeper: int
    similarity: float | None = None  # lowest linked pair similarity within the group (semantic/minhash)
    why: str = ""  # why this keeper
    extra: dict = field(default_factory=dict)


def _where(store: Store, filter) -> tuple[str, list]:
    """The scope's condition (engine.data.scope: a Filter, a Scope or None; excluded samples and eval pools left
    out unless the scope asks for them: an eval sample is never excluded as a copy of a training sample)."""
    from engine.data.scope import scope_sql

    return scope_sql(store, filter)


def _facts(store: Store, ids: list[int], metric: str | None) -> dict[int, tuple[int, float | None]]:
    """sample id -> (response length, latest metric value or None)."""
    if not ids:
        return {}
    c = store.cursor()
    try:
        lens = dict(
            c.execute(
                "SELECT id, length(coalesce(response, '')) FROM samples WHERE id BETWEEN ? AND ? AND id = ANY(?)",
                [min(ids), max(ids), ids],
            ).fetchall()
        )
        vals = {}
        if metric:
            vals = dict(
                c.execute(
                    "SELECT sample_id, arg_max_null(value, created_at) FROM scores WHERE metric = ? AND sample_id "
                    "BETWEEN ? AND ? AND sample_id = ANY(?) GROUP BY sample_id",
                    [metric, min(ids), max(ids), ids],
                ).fetchall()
            )
    finally:
        c.close()
    return {i: (int(lens.get(i, 0)), vals.get(i)) for i in ids}


def _parse_keep(keep: str) -> str | None:
    if keep == "longest":
        return None
    if keep.startswith("score:") and len(keep) > 6:
        return keep[6:]
    raise DedupError(f"keep must be 'longest' or 'score:METRIC'; got {keep!r}")


def _choose(groups_ids: list[list[int]], store: Store, keep: str) -> list[tuple[int, str]]:
    metric = _parse_keep(keep)
    facts = _facts(store, sorted({i for g in groups_ids for i in g}), metric)
    out = []
    for g in groups_ids:
        if metric:
            k = min(g, key=lambda i: (facts[i][1] is None, -(facts[i][1] or 0.0), -facts[i][0], i))
            v = facts[k][1]
            out.append((k, f"highest {metric} ({v:.4g})" if v is not None else f"no {metric} value; longest response"))
        else:
            k = min(g, key=lambda i: (-facts[i][0], i))
            out.append((k, f"longest response ({facts[k][0]} chars)"))
    return out


def _groups(store: Store, kind: str, groups_ids: list[list[int]], keep: str, sims=None) -> list[DupGroup]:
    groups_ids = [sorted(int(i) for i in g) for g in groups_ids if len(g) > 1]
    order = sorted(range(len(groups_ids)), key=lambda n: (-len(groups_ids[n]), groups_ids[n][0]))
    groups_ids = [groups_ids[n] for n in order]
    sims = [sims[n] for n in order] if sims is not None else [None] * len(groups_ids)
    return [DupGroup(kind, g, k, s, why) for g, (k, why), s in zip(groups_ids, _choose(groups_ids, store, keep), sims)]


def exact_duplicate_groups(store: Store, filter=None, *, by: str = "hash", keep: str = "longest") -> list[DupGroup]:
    """Groups of non-excluded samples (of `filter`) with the same content_hash (by="hash") or the same
    normalised instruction + response text (by="text"); largest first."""
    if by not in ("hash", "text"):
        raise DedupError(f"by must be 'hash' or 'text'; got {by!r}")
    w, p = _where(store, filter)
    key = "s.content_hash" if by == "hash" else _NORM_SQL
    rows = store.fetchall(
        f"SELECT list(s.id ORDER BY s.id) FROM samples s WHERE {w} GROUP BY {key} HAVING count(*) > 1", p
    )
    return _groups(store, by, [r[0] for r in rows], keep)


class _UnionFind:
    def __init__(self, n: int):
        self.p = np.arange(n)

    def find(self, a: int) -> int:
        p = self.p
        r = a
        while p[r] != r:
            r = p[r]
        while p[a] != r:
            p[a], a = r, p[a]
        return int(r)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.p[max(ra, rb)] = min(ra, rb)


def _components(n: int, pairs, sims) -> tuple[list[list[int]], list[float]]:
    uf = _UnionFind(n)
    for a, b in pairs:
        uf.union(a, b)
    comp: dict[int, list[int]] = {}
    low: dict[int, float] = {}
    for (a, _b), s in zip(pairs, sims):
        r = uf.find(a)
        low[r] = min(low.get(r, 1.0), float(s))
    for i in {x for pr in pairs for x in pr}:
        comp.setdefault(uf.find(i), []).append(i)
    roots = list(comp)
    return [comp[r] for r in roots], [low[r] for r in roots]


def similar_pairs(X: np.ndarray, threshold: float, *, block: int = 2048) -> tuple[list[tuple[int, int]], list[float]]:
    """Index pairs (i < j) with X[i] . X[j] >= threshold, from block x block tiles of X @ X.T (memory
    block^2 floats, not n^2)."""
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    pairs: list[tuple[int, int]] = []
    sims: list[float] = []
    for i0 in range(0, n, block):
        A = X[i0 : i0 + block]
        for j0 in range(i0, n, block):
            T = A @ X[j0 : j0 + block].T
            if j0 == i0:
                T = np.triu(T, k=1) + np.tril(np.full_like(T, -np.inf))
            a, b = np.nonzero(T >= threshold)
            pairs += list(zip((a + i0).tolist(), (b + j0).tolist()))
            sims += T[a, b].tolist()
    return pairs, sims


def semantic_duplicate_groups(
    store: Store,
    *,
    model: str | None = None,
    text_kind: str = "instruction_response",
    threshold: float = 0.95,
    filter=None,
    keep: str = "longest",
    block: int = 2048,
) -> list[DupGroup]:
    """Connected components of cosine >= threshold among the stored embeddings of the non-excluded samples
    of `filter` (samples without an embedding are ignored)."""
    from engine.geometry.embeddings import load_embeddings, model_name

    if not (0 < threshold <= 1):
        raise DedupError(f"threshold must be in (0, 1], got {threshold}")
    w, p = _where(store, filter)
    c = store.cursor()
    try:
        cand = [r[0] for r in c.execute(f"SELECT s.id FROM samples s WHERE {w} ORDER BY 1", p).fetchall()]
    finally:
        c.close()
    if not cand:
        return []
    ids, X = load_embeddings(store, model=model_name(model), text_kind=text_kind, sample_ids=cand)
    if len(ids) == 0:
        raise DedupError(f"no {text_kind} embeddings for model {model_name(model)!r}; run `workbench embed` first")
    pairs, sims = similar_pairs(X, threshold, block=block)
    comps, lows = _components(len(ids), pairs, sims)
    return _groups(store, "semantic", [[int(ids[i]) for i in g] for g in comps], keep, lows)


def _shingles(text: str, n: int = 3) -> set[bytes]:
    words = text.split()
    if len(words) < n:
        return {text.encode()} if text else set()
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


def near_duplicate_groups_minhash(
    store: Store, threshold: float = 0.8, num_perm: int = 128, *, filter=None, keep: str = "longest", shingle: int = 3
) -> list[DupGroup]:
    """Text-level near-duplicates: datasketch MinHash (num_perm) of word `shingle`-grams of the normalised
    instruction + response, MinHashLSH(threshold) candidates kept when the estimated Jaccard >= threshold;
    groups are connected components."""
    from datasketch import MinHash, MinHashLSH

    if not (0 < threshold <= 1):
        raise DedupError(f"threshold must be in (0, 1], got {threshold}")
    w, p = _where(store, filter)
    c = store.cursor()
    try:
        rows = c.execute(f"SELECT s.id, {_NORM_SQL} FROM samples s WHERE {w} ORDER BY 1", p).fetchall()
    finally:
        c.close()
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    mh = []
    for n, (_sid, text) in enumerate(rows):
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch(list(_shingles(text or "", shingle)))
        mh.append(m)
        lsh.insert(n, m)
    pairs, sims = [], []
    for n, m in enumerate(mh):
        for o in lsh.query(m):
            if o > n:
                j = m.jaccard(mh[o])
                if j >= threshold:
                    pairs.append((n, o))
                    sims.append(j)
    comps, lows = _components(len(rows), pairs, sims)
    return _groups(store, "minhash", [[int(rows[i][0]) for i in g] for g in comps], keep, lows)


def keep_one_per_group(
    store: Store, groups: list[DupGroup], *, keep: str | None = None, tag: str | None = DUP_TAG
) -> int:
    """Exclude every member of each group but its keeper (the group's suggestion, or re-chosen by `keep`:
    "longest" | "score:METRIC"), tagging the excluded ones `tag`, in one transaction. Nothing is deleted.
    Returns how many samples were newly excluded."""
    if keep is not None:
        chosen = _choose([g.ids for g in groups], store, keep)
        keepers = [k for k, _ in chosen]
    else:
        keepers = [g.keeper for g in groups]
    drop = sorted({i for g, k in zip(groups, keepers) for i in g.ids if i != k} - set(keepers))
    if not drop:
        return 0
    import pyarrow as pa

    with store.transaction() as c:
        c.register("_dup_ids", pa.table({"id": pa.array(drop, pa.int64())}))
        c.execute(
            "CREATE OR REPLACE TEMP TABLE _dup_drop AS SELECT s.id FROM samples s "
            "WHERE s.id IN (SELECT id FROM _dup_ids) AND NOT s.excluded"
        ).fetchall()
        c.unregister("_dup_ids")
        n = int(c.execute("SELECT count(*) FROM _dup_drop").fetchall()[0][0])
        c.execute("UPDATE samples SET excluded = true WHERE id IN (SELECT id FROM _dup_drop)").fetchall()
        if tag:
            c.execute(
                "INSERT INTO sample_tags (sample_id, tag) SELECT d.id, ? FROM _dup_drop d WHERE NOT "
                "EXISTS (SELECT 1 FROM sample_tags t WHERE t.sample_id = d.id AND t.tag = ?)",
                [tag, tag],
            ).fetchall()
        c.execute("DROP TABLE _dup_drop")
    return n
