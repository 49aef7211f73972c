"""Overlap warnings between eval sets and a mixture's training items: exact (content hash or normalised
instruction) and near-duplicates (MinHash LSH over word 3-grams, datasketch)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.evaluation.evaluate.sets import _pool_row, eval_pools

if TYPE_CHECKING:
    from engine.core.store import Store

# -- overlap -------------------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+")


def normalize_instruction(text: str | None) -> str:
    """Lower case, words only, single spaces (exact-overlap key)."""
    return " ".join(_WORD.findall((text or "").lower()))


@dataclass
class OverlapReport:
    """Eval items that also occur in training data: exact (same content hash or normalised instruction)
    and near duplicates (estimated word-3-gram Jaccard >= threshold)."""

    n_eval: int
    n_train: int
    exact: list[dict] = field(default_factory=list)  # {eval_id, train_id, why}
    near: list[dict] = field(default_factory=list)  # {eval_id, train_id, jaccard}
    threshold: float = 0.5

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.exact:
            out.append(f"{len({e['eval_id'] for e in self.exact})} eval item(s) also in the training data (exact)")
        if self.near:
            out.append(
                f"{len({e['eval_id'] for e in self.near})} eval item(s) near-duplicate a training item "
                f"(Jaccard >= {self.threshold:g})"
            )
        return out


def _shingles(text: str, k: int = 3) -> set[str]:
    w = normalize_instruction(text).split()
    if len(w) < k:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i : i + k]) for i in range(len(w) - k + 1)}


def overlap_ids(
    store, train_ids: list[int], eval_ids: list[int], *, threshold: float = 0.5, num_perm: int = 128, near: bool = True
) -> OverlapReport:
    """Overlap between explicit training and eval sample ids (see OverlapReport); near=False: exact only."""
    con = store.cursor()
    try:

        def load(ids):
            if not ids:
                return []
            return con.execute(
                "SELECT id, content_hash, instruction FROM samples WHERE id IN "
                "(SELECT unnest(?::BIGINT[])) ORDER BY id",
                [list(ids)],
            ).fetchall()

        train, ev = load(train_ids), load(eval_ids)
    finally:
        con.close()
    rep = OverlapReport(len(ev), len(train), threshold=threshold)
    by_hash: dict[str, int] = {}
    by_instr: dict[str, int] = {}
    for tid, h, ins in train:
        by_hash.setdefault(h, tid)
        k = normalize_instruction(ins)
        if k:
            by_instr.setdefault(k, tid)
    exact_ids = set()
    for eid, h, ins in ev:
        if h in by_hash:
            rep.exact.append({"eval_id": eid, "train_id": by_hash[h], "why": "same content"})
            exact_ids.add(eid)
        elif normalize_instruction(ins) and normalize_instruction(ins) in by_instr:
            rep.exact.append(
                {"eval_id": eid, "train_id": by_instr[normalize_instruction(ins)], "why": "same instruction"}
            )
            exact_ids.add(eid)
    if not train or not ev or not near:
        return rep
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    sh_train = {}
    for tid, _h, ins in train:
        sh = _shingles(ins)
        if not sh:
            continue
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([s.encode() for s in sh])
        lsh.insert(str(tid), m)
        sh_train[tid] = sh
    for eid, _h, ins in ev:
        if eid in exact_ids:
            continue
        sh = _shingles(ins)
        if not sh:
            continue
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([s.encode() for s in sh])
        best = None
        for key in lsh.query(m):
            tid = int(key)
            j = len(sh & sh_train[tid]) / len(sh | sh_train[tid])  # exact Jaccard of the candidate
            if j >= threshold and (best is None or j > best[1]):
                best = (tid, j)
        if best:
            rep.near.append({"eval_id": eid, "train_id": best[0], "jaccard": round(best[1], 3)})
    return rep


NEAR_CHECK_LIMIT = 50_000  # training + eval items above which mixture_overlap_warnings skips the MinHash pass


def mixture_overlap_warnings(
    store, mixture_id: int, *, threshold: float = 0.5, near_limit: int = NEAR_CHECK_LIMIT
) -> list[str]:
    """Warnings for a saved mixture version against every eval set: exact overlap always, near duplicates
    (MinHash) when training + eval items are at most `near_limit` (else a warning says the check was skipped
    and how to run it). Empty when there are no eval sets or no overlap."""
    pools = eval_pools(store)
    if not pools:
        return []
    n_eval = sum(p["n_samples"] for p in pools)
    con = store.cursor()
    try:
        n_train = con.execute("SELECT count(*) FROM mixture_items WHERE mixture_id = ?", [mixture_id]).fetchall()[0][0]
    finally:
        con.close()
    near = n_train + n_eval <= near_limit
    rep = overlap(store, mixture_id, [p["id"] for p in pools], threshold=threshold, near=near)
    out = [f"eval sets: {w}" for w in rep.warnings]
    if not near:
        out.append(
            f"near-duplicate check against eval sets skipped ({n_train + n_eval:,} items > {near_limit:,}); "
            "run `workbench evalset overlap MIXTURE --sets ...`"
        )
    return out


def overlap(
    store: Store, mixture_id: int, eval_pool_ids: list, *, threshold: float = 0.5, near: bool = True
) -> OverlapReport:
    """Overlap between a saved mixture's training items (samples and both sides of mixup pairs) and eval
    pools (names or ids)."""
    con = store.cursor()
    try:
        train = [
            r[0]
            for r in con.execute(
                "SELECT sample_id FROM mixture_items WHERE mixture_id = ? AND sample_id IS NOT NULL UNION "
                "SELECT ip.sample_a FROM mixture_items mi JOIN interpolation_pairs ip ON ip.set_id = mi.interp_set_id "
                "AND ip.pair_index = mi.pair_index WHERE mi.mixture_id = ? AND mi.kind = 'mixup' UNION "
                "SELECT ip.sample_b FROM mixture_items mi JOIN interpolation_pairs ip ON ip.set_id = mi.interp_set_id "
                "AND ip.pair_index = mi.pair_index WHERE mi.mixture_id = ? AND mi.kind = 'mixup'",
                [mixture_id] * 3,
            ).fetchall()
        ]
        ev = []
        for p in eval_pool_ids:
            pid = _pool_row(con, p)[0]
            ev += [r[0] for r in con.execute("SELECT id FROM samples WHERE pool_id = ?", [pid]).fetchall()]
    finally:
        con.close()
    return overlap_ids(store, train, ev, threshold=threshold, near=near)
