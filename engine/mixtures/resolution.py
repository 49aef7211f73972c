"""Resolution: domain quotas (largest remainder), seeded per-domain draws, short policies, stages and replay,
and the content hash of the resolved items (rules: the package docstring and docs/mixtures.md)."""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.mixtures.recipe import ALL_DOMAINS, MixtureError, Recipe, Stage
from engine.mixtures.sources import _CAND_FIELDS, Candidates, candidates

if TYPE_CHECKING:
    from engine.core.store import Store


@dataclass
class Item:
    """One drawn item: a sample, or an interpolation pair (kind "mixup": set_id, pair_index)."""

    stage: int
    position: int
    kind: str
    domain: str
    component: str
    n_tokens: int
    sample_id: int | None = None
    set_id: int | None = None
    pair_index: int | None = None

    @property
    def key(self) -> tuple:
        return ("sample", self.sample_id) if self.kind == "sample" else ("mixup", self.set_id, self.pair_index)


@dataclass
class DomainCount:
    """Available / requested / drawn of one domain. `requested` is in the recipe's unit (samples or
    tokens); drawn counts the budgeted draws, `replayed` the stage replays on top of them."""

    domain: str
    share: float
    stage: str | None
    available: int
    available_tokens: int
    requested: int
    drawn: int = 0
    drawn_tokens: int = 0
    replayed: int = 0
    replayed_tokens: int = 0
    short: bool = False
    note: str = ""


@dataclass
class Resolution:
    """What a recipe resolves to in the store right now."""

    recipe: Recipe
    items: list[Item]
    per_domain: dict[str, DomainCount]
    warnings: list[str]
    budget: int  # effective budget (the recipe's, or the computed largest one)
    unit: str
    content_hash: str

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_tokens(self) -> int:
        return int(sum(i.n_tokens for i in self.items))

    def to_dict(self, *, items: bool = False) -> dict:
        """Plain dict for JSON output (items left out unless asked)."""
        out = {
            "budget": self.budget,
            "unit": self.unit,
            "n_items": self.n_items,
            "n_tokens": self.n_tokens,
            "content_hash": self.content_hash,
            "warnings": list(self.warnings),
            "per_domain": {d: asdict(c) for d, c in self.per_domain.items()},
        }
        if items:
            out["items"] = [asdict(i) for i in self.items]
        return out


def largest_remainder(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Integer quotas proportional to `shares` that sum exactly to `total` (Hamilton's method; ties of the
    remainders go to the domain that sorts first)."""
    s = sum(shares.values())
    if total <= 0 or s <= 0:
        return {d: 0 for d in shares}
    exact = {d: total * v / s for d, v in shares.items()}
    q = {d: int(math.floor(x)) for d, x in exact.items()}
    left = total - sum(q.values())
    for d in sorted(exact, key=lambda d: (-(exact[d] - q[d]), d))[:left]:
        q[d] += 1
    return q


def _rng(seed: int, *parts: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), *[zlib.crc32(p.encode()) for p in parts]])


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _draw(
    tokens: np.ndarray,
    quota: int,
    unit: str,
    replacement: bool,
    short: str,
    rng: np.random.Generator,
    dc: DomainCount,
    warnings: list[str],
) -> np.ndarray:
    """Indices (into the domain's candidates) of one domain's draw, in draw order (the engine.mixtures docstring)."""
    n = len(tokens)
    what = "tokens" if unit == "tokens" else "samples"
    empty = np.empty(0, np.int64)
    if quota <= 0:
        return empty
    if n == 0 or (unit == "tokens" and int(tokens.sum()) == 0):
        dc.short = True
        msg = f"{dc.domain}: {quota:,} {what} requested, none available"
        if short == "error":
            raise MixtureError(msg + " (short policy error)")
        dc.note = "none available"
        warnings.append(msg + f"; drew nothing (short policy {short})")
        return empty
    if replacement:
        if unit == "samples":
            return rng.integers(0, n, size=quota)
        picks: list[np.ndarray] = []
        got = 0
        while got < quota:  # blocks of uniform draws, cut at the item that crosses the quota
            block = rng.integers(0, n, size=max(16, int(1.2 * (quota - got) / max(1.0, float(tokens.mean()))) + 1))
            cum = got + np.cumsum(tokens[block])
            if cum[-1] >= quota:
                picks.append(block[: int(np.searchsorted(cum, quota, side="left")) + 1])
                break
            picks.append(block)
            got = int(cum[-1])
        return np.concatenate(picks)
    order = rng.permutation(n)
    if unit == "samples":
        if quota <= n:
            return order[:quota]
        avail, need = n, quota
    else:
        cum = np.cumsum(tokens[order])
        if cum[-1] >= quota:
            return order[: int(np.searchsorted(cum, quota, side="left")) + 1]  # first position with cum >= quota
        avail, need = int(cum[-1]), quota
    dc.short = True
    msg = f"{dc.domain}: {need:,} {what} requested, {avail:,} available"
    if short == "error":
        raise MixtureError(msg + " (short policy error: lower the budget or the share, or choose take_all or upsample)")
    if short == "take_all":
        dc.note = f"short by {need - avail:,} {what}"
        warnings.append(msg + f"; took all {avail:,} (short policy take_all)")
        return order
    # upsample: repeat items drawn with replacement until the quota is met
    extra: list[int] = []
    got = avail
    while got < need:
        i = int(rng.integers(0, n))
        extra.append(i)
        got += 1 if unit == "samples" else int(tokens[i])
    dc.note = f"upsampled: {len(extra):,} repeated items"
    warnings.append(msg + f"; took all and repeated {len(extra):,} items to reach the quota (short policy upsample)")
    return np.concatenate([order, np.asarray(extra, np.int64)])


def _hash(recipe: Recipe, items: list[Item], digests: list[str]) -> str:
    """sha256 of the canonical recipe JSON and the ordered items (with each item's content digest)."""
    h = hashlib.sha256()
    h.update(json.dumps(recipe.to_dict(), sort_keys=True, separators=(",", ":"), default=str).encode())
    h.update(b"\x00")
    h.update(
        np.array(
            [
                (
                    i.stage,
                    i.position,
                    -1 if i.sample_id is None else i.sample_id,
                    -1 if i.set_id is None else i.set_id,
                    -1 if i.pair_index is None else i.pair_index,
                )
                for i in items
            ],
            dtype=np.int64,
        ).tobytes()
    )
    h.update("\x00".join(f"{i.kind}\x01{i.domain}\x01{i.component}" for i in items).encode())
    h.update("\x00".join(digests).encode())
    return h.hexdigest()


def resolve(store: Store, recipe: Recipe | dict, *, cands: dict[str, Candidates] | None = None) -> Resolution:
    """Resolve a recipe against the store: the ordered items, per-domain available/requested/drawn (samples
    and tokens), warnings in words, the effective budget and the content hash. Raises MixtureError.
    `cands` may pass `candidates(store, recipe)` computed earlier for the same components and store content."""
    if isinstance(recipe, dict):
        recipe = Recipe.from_dict(recipe)
    recipe.validate()
    if recipe.derived is not None:
        from engine.mixtures.subsets import _resolve_derived  # it reads saved versions, which import this module

        return _resolve_derived(store, recipe)
    if cands is None:
        cands = candidates(store, recipe)
    warnings: list[str] = []
    tokens_unit = recipe.unit == "tokens"
    avail_n = {d: len(c) for d, c in cands.items()}
    avail_t = {d: int(c.n_tokens.sum()) for d, c in cands.items()}

    def avail(dom: str) -> int:
        return (avail_t if tokens_unit else avail_n).get(dom, 0)

    if recipe.proportions:
        shares = {d: float(p) for d, p in recipe.proportions.items()}
        total = sum(shares.values())
        if abs(total - 1.0) > 1e-6:
            warnings.append(f"proportions sum to {total:.4g}; normalised to 1")
        shares = {d: v / total for d, v in shares.items()}
        for d in sorted(set(cands) - set(shares)):
            warnings.append(f"{d}: {avail_n[d]:,} items available but no share; not drawn")
    else:
        tot = sum(avail(d) for d in cands)
        shares = {d: (avail(d) / tot if tot else 0.0) for d in sorted(cands)}
    active = {d: s for d, s in shares.items() if s > 0}
    if recipe.stages:
        staged = {d for s in recipe.stages for d in s.domains}
        missing = sorted(set(active) - staged)
        if missing:
            raise MixtureError(
                f"domain(s) {', '.join(missing)} have a share but are in no stage; add them to a "
                "stage or give them no share"
            )
    if recipe.budget is not None:
        budget = int(recipe.budget)
    else:
        usable = {d: s for d, s in active.items() if avail(d) > 0}
        for d in sorted(set(active) - set(usable)):
            warnings.append(f"{d}: has a share but nothing is available; left out of the largest budget")
        budget = int(math.floor(min((avail(d) / s for d, s in usable.items()), default=0) + 1e-9))
        while budget > 0 and any(q > avail(d) for d, q in largest_remainder(budget, usable).items()):
            budget -= 1
    quotas = largest_remainder(budget, active)
    stage_of: dict[str, str] = {}
    for s in recipe.stages or []:
        for d in s.domains:
            stage_of[d] = s.name
    per_domain: dict[str, DomainCount] = {}
    for d in sorted(set(shares) | set(cands), key=lambda d: (-shares.get(d, 0), d)):
        per_domain[d] = DomainCount(
            d, shares.get(d, 0.0), stage_of.get(d), avail_n.get(d, 0), avail_t.get(d, 0), quotas.get(d, 0)
        )
    drawn: dict[str, np.ndarray] = {}
    for d, q in quotas.items():
        c = cands.get(d)
        tok = c.n_tokens if c is not None else np.empty(0, np.int64)
        idx = _draw(
            tok, q, recipe.unit, recipe.replacement, recipe.short, _rng(recipe.seed, d), per_domain[d], warnings
        )
        drawn[d] = idx
        per_domain[d].drawn = len(idx)
        per_domain[d].drawn_tokens = int(tok[idx].sum()) if len(idx) else 0
    # stages: primary draws plus replays, then a seeded shuffle per stage
    names = [c.name for c in recipe.components]
    stages = recipe.stages or [Stage("all", sorted(active))]
    items: list[Item] = []
    digests: list[str] = []
    cols: dict[str, tuple] = {}  # per domain: the candidate columns as Python lists (fast item building)
    for si, stage in enumerate(stages):
        chosen: list[tuple[str, np.ndarray, bool]] = []  # (domain, candidate indices, replay?)
        for d in stage.domains:
            if len(drawn.get(d, ())):
                chosen.append((d, drawn[d], False))
        if recipe.stages:
            earlier = [d for s in stages[:si] for d in s.domains]
            for key, frac in stage.replay.items():
                if key != ALL_DOMAINS and key not in earlier:
                    raise MixtureError(f"stage {stage.name!r}: replay of {key!r}, which no earlier stage draws")
                for d in earlier if key == ALL_DOMAINS else [key]:
                    prev = drawn.get(d, np.empty(0, np.int64))
                    k = _half_up(float(frac) * len(prev))
                    if frac > 0 and k == 0 and len(prev):
                        warnings.append(f"{stage.name}: replay {frac:.4g} of {d}'s {len(prev):,} items rounds to 0")
                    if k == 0:
                        continue
                    rep = prev[np.sort(_rng(recipe.seed, "replay", stage.name, d).permutation(len(prev))[:k])]
                    chosen.append((d, rep, True))
                    per_domain[d].replayed += len(rep)
                    per_domain[d].replayed_tokens += int(cands[d].n_tokens[rep].sum())
        flat = [(d, j, rp) for d, idx, rp in chosen for j in idx.tolist()]
        perm = _rng(recipe.seed, "stage", stage.name, str(si)).permutation(len(flat))
        for pos, j in enumerate(perm.tolist()):
            d, k, rp = flat[j]
            kind, sid, set_id, pair, tok, comp, dg = (
                cols[d] if d in cols else cols.setdefault(d, tuple(getattr(cands[d], f).tolist() for f in _CAND_FIELDS))
            )
            name = names[comp[k]]
            if kind[k] == "mixup":
                items.append(
                    Item(si, pos, "mixup", d, f"replay:{name}" if rp else name, tok[k], None, set_id[k], pair[k])
                )
            else:
                items.append(Item(si, pos, "sample", d, f"replay:{name}" if rp else name, tok[k], sid[k]))
            digests.append(dg[k])
    return Resolution(recipe, items, per_domain, warnings, budget, recipe.unit, _hash(recipe, items, digests))
