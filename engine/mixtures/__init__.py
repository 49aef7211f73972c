"""Domain mixtures: recipes, exact seeded resolution, saved versions, diffs, exports and training records.

A recipe names *components* (a pool, a domain, a cluster, a saved selection or an interpolation set, each
with an optional filter-language expression), per-domain *proportions*, a *unit* (samples or tokens), a
*budget*, sampling with or without replacement, a seed, a *short* policy and optional *stages*. `resolve`
turns it into an ordered list of items; `save` stores a version (content hash = recipe + resolved items).

Resolution rules (ours; docs/mixtures.md explains them with examples):
- Candidates: every component yields items; eval-pool samples (`pools.role = 'eval'`) and excluded samples
  are never candidates (a component naming an eval pool is refused). An item reached by several components
  counts once, for the first component in recipe order. An item's domain is the component's `domain`, else
  the sample's own domain ("mixup" for interpolation pairs).
- Shares: proportions normalised to sum 1 (empty proportions: each domain's share of what is available).
  Budget None: the largest budget that no domain with a share is short of.
- unit=samples: domain quotas by largest-remainder rounding of budget * share (they sum to the budget).
  unit=tokens: token quotas the same way; a domain draws items in its seeded order until its token total
  reaches the quota, the item that crosses it included (overshoot < one item).
- Draw order: each domain's candidates sorted by item key, then permuted by a numpy Generator seeded with
  (seed, crc32(domain)): a domain's draw does not depend on the other domains. With replacement: indices
  drawn uniformly with repetition.
- Short domains (fewer available than requested, without replacement): "error" raises MixtureError,
  "take_all" takes everything and reports the shortfall, "upsample" takes everything then repeats items
  (drawn with replacement) up to the quota.
- Stages: each domain with a share belongs to exactly one stage; stage s holds the draws of its domains plus,
  for each `replay` entry {domain | "*": fraction}, round(fraction * n) items picked without replacement from
  that domain's n items drawn in earlier stages (replays are on top of the budget). Every stage's items are
  shuffled together (seeded) into training order.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import InputError

KINDS = ("pool", "domain", "cluster", "selection", "interpolation")
UNITS = ("samples", "tokens")
SHORT_POLICIES = ("error", "take_all", "upsample")
ALL_DOMAINS = "*"  # replay key: every domain drawn in earlier stages
DMT_K = 1 / 256  # DMT's replay share of the specialised data in the general stage (Dong et al. 2024)


class MixtureError(InputError):
    """A recipe that cannot be resolved, saved or exported as asked (the message says what is wrong)."""


# -- recipe ---------------------------------------------------------------------------------------------


@dataclass
class Component:
    """Where items come from. kind: pool | domain | cluster | selection | interpolation.

    ref: pool name or id; domain name; "CLUSTERING:k"; selection name; interpolation set name.
    filter: a filter-language expression (engine.data.filters) the samples must match (both samples of a pair).
    domain: count the component's items toward this domain instead of the sample's own ("mixup" for pairs).
    """

    name: str
    kind: str
    ref: str
    filter: str | None = None
    domain: str | None = None


@dataclass
class Stage:
    """One training stage: the domains drawn in it and `replay` {domain or "*": fraction of earlier items}."""

    name: str
    domains: list[str]
    replay: dict[str, float] = field(default_factory=dict)


@dataclass
class Recipe:
    """A mixture recipe (see the module docstring for how it resolves).

    `derived` is set only on versions made by `domains_subset` ({"mixture_id", "domain" or "domains",
    "parent"}); such a recipe resolves to the parent version's items of that domain (or those domains)."""

    components: list[Component]
    proportions: dict[str, float] = field(default_factory=dict)
    unit: str = "samples"
    budget: int | None = None
    replacement: bool = False
    seed: int = 0
    short: str = "take_all"
    stages: list[Stage] | None = None
    derived: dict | None = None

    def to_dict(self) -> dict:
        """Canonical plain dict (JSON-ready); `from_dict(to_dict())` round-trips."""
        d = asdict(self)
        if d["stages"] is None:
            d.pop("stages")
        if d["derived"] is None:
            d.pop("derived")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        """A Recipe from a dict (e.g. parsed JSON); unknown keys and bad values raise MixtureError."""
        if not isinstance(d, dict):
            raise MixtureError(f"a recipe is a JSON object, not {type(d).__name__}")
        known = {"components", "proportions", "unit", "budget", "replacement", "seed", "short", "stages", "derived"}
        extra = sorted(set(d) - known)
        if extra:
            raise MixtureError(f"unknown recipe field(s) {', '.join(extra)}; known: {', '.join(sorted(known))}")
        comps = []
        for i, c in enumerate(d.get("components") or []):
            if isinstance(c, Component):
                comps.append(c)
                continue
            if not isinstance(c, dict):
                raise MixtureError(f"component {i + 1}: expected an object with name, kind, ref")
            ck = {"name", "kind", "ref", "filter", "domain"}
            bad = sorted(set(c) - ck)
            if bad:
                raise MixtureError(
                    f"component {i + 1}: unknown field(s) {', '.join(bad)}; known: {', '.join(sorted(ck))}"
                )
            missing = [k for k in ("kind", "ref") if c.get(k) in (None, "")]
            if missing:
                raise MixtureError(f"component {i + 1}: missing {', '.join(missing)}")
            comps.append(
                Component(
                    name=str(c.get("name") or f"{c['kind']}:{c['ref']}"),
                    kind=str(c["kind"]),
                    ref=str(c["ref"]),
                    filter=c.get("filter") or None,
                    domain=c.get("domain") or None,
                )
            )
        stages = None
        if d.get("stages") is not None:
            stages = []
            for i, s in enumerate(d["stages"]):
                if isinstance(s, Stage):
                    stages.append(s)
                    continue
                if not isinstance(s, dict) or "domains" not in s:
                    raise MixtureError(f"stage {i + 1}: expected an object with name, domains, replay")
                stages.append(
                    Stage(
                        name=str(s.get("name") or f"stage{i + 1}"),
                        domains=[str(x) for x in s["domains"]],
                        replay={str(k): v for k, v in (s.get("replay") or {}).items()},
                    )
                )
        r = cls(
            components=comps,
            proportions=dict(d.get("proportions") or {}),
            unit=d.get("unit", "samples"),
            budget=d.get("budget"),
            replacement=d.get("replacement", False),
            seed=d.get("seed", 0),
            short=d.get("short", "take_all"),
            stages=stages,
            derived=d.get("derived"),
        )
        r.validate()
        return r

    def validate(self) -> None:
        """Raise MixtureError naming the first problem of the recipe itself (not of the store)."""
        if self.derived is None and not self.components:
            raise MixtureError(
                "a recipe needs at least one component (a pool, domain, cluster, selection or interpolation set)"
            )
        names = [c.name for c in self.components]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise MixtureError(f"component names must be unique: {', '.join(dup)} repeated")
        for c in self.components:
            if c.kind not in KINDS:
                raise MixtureError(f"component {c.name!r}: unknown kind {c.kind!r}; choose one of {', '.join(KINDS)}")
            if not str(c.ref).strip():
                raise MixtureError(f"component {c.name!r}: empty ref")
            if c.kind == "cluster":
                _parse_cluster_ref(c)
        if self.unit not in UNITS:
            raise MixtureError(f"unknown unit {self.unit!r}; choose samples or tokens")
        if self.short not in SHORT_POLICIES:
            raise MixtureError(f"unknown short policy {self.short!r}; choose one of {', '.join(SHORT_POLICIES)}")
        if self.budget is not None:
            if (
                isinstance(self.budget, bool)
                or not isinstance(self.budget, (int, float))
                or self.budget < 0
                or float(self.budget) != int(self.budget)
            ):
                raise MixtureError(
                    f"budget must be a whole number >= 0 (or null for the largest possible), not {self.budget!r}"
                )
            self.budget = int(self.budget)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise MixtureError(f"seed must be a whole number >= 0, not {self.seed!r}")
        if not isinstance(self.replacement, bool):
            raise MixtureError(f"replacement must be true or false, not {self.replacement!r}")
        for dom, p in self.proportions.items():
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) or p < 0:
                raise MixtureError(f"proportion of {dom!r} must be a number >= 0, not {p!r}")
        if self.proportions and sum(self.proportions.values()) <= 0:
            raise MixtureError("proportions sum to 0: give at least one domain a share > 0")
        if self.stages is not None:
            if not self.stages:
                raise MixtureError("stages is an empty list: leave it out for a single stage")
            seen: dict[str, str] = {}
            for i, s in enumerate(self.stages):
                for dom in s.domains:
                    if dom in seen:
                        raise MixtureError(
                            f"domain {dom!r} is in stage {seen[dom]!r} and stage {s.name!r}; "
                            "a domain is drawn in one stage (use replay to repeat it later)"
                        )
                    seen[dom] = s.name
                for dom, frac in s.replay.items():
                    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac <= 1:
                        raise MixtureError(
                            f"stage {s.name!r}: replay of {dom!r} must be a fraction in [0, 1], not {frac!r}"
                        )
                    if i == 0 and frac > 0:
                        raise MixtureError(f"stage {s.name!r} is the first stage: there is nothing earlier to replay")
            missing = [d for d, p in self.proportions.items() if p > 0 and d not in seen]
            if missing:
                raise MixtureError(f"domain(s) {', '.join(missing)} have a share but are in no stage")


def _parse_cluster_ref(c: Component) -> tuple[str, int]:
    name, sep, k = str(c.ref).rpartition(":")
    try:
        if not sep or not name:
            raise ValueError
        return name, int(k)
    except ValueError:
        raise MixtureError(
            f"component {c.name!r}: a cluster ref is CLUSTERING:k (e.g. topics:3), not {c.ref!r}"
        ) from None


def dmt_stages(specialised: list[str], general: list[str], k: float = DMT_K) -> list[Stage]:
    """DMT's two stages (Dong et al. 2024): stage 1 the specialised domains, stage 2 the general ones plus
    k of the specialised items again (default k = 1/256)."""
    return [Stage("specialised", list(specialised)), Stage("general", list(general), {d: k for d in specialised})]


# -- resolution -----------------------------------------------------------------------------------------


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


@dataclass
class Candidates:
    """One domain's candidate items as columns, in key order (sample ids first, then pairs).

    kind: "sample" / "mixup" per item; sample_id (-1 for pairs), set_id and pair_index (-1 for samples),
    n_tokens, component (index into the recipe's components), digest (content hash of the sample(s))."""

    kind: np.ndarray
    sample_id: np.ndarray
    set_id: np.ndarray
    pair_index: np.ndarray
    n_tokens: np.ndarray
    component: np.ndarray
    digest: np.ndarray

    def __len__(self) -> int:
        return len(self.sample_id)

    @classmethod
    def concat(cls, parts: list["Candidates"]) -> "Candidates":
        c = cls(*[np.concatenate([getattr(x, f) for x in parts]) for f in _CAND_FIELDS])
        order = np.lexsort((c.pair_index, c.set_id, c.sample_id, c.kind == "mixup"))
        return c.take(order)

    def take(self, idx) -> "Candidates":
        return Candidates(*[getattr(self, f)[idx] for f in _CAND_FIELDS])


_CAND_FIELDS = ("kind", "sample_id", "set_id", "pair_index", "n_tokens", "component", "digest")
_TRAIN = "NOT s.excluded AND coalesce(p.role, 'train') <> 'eval'"


def _filter_sql(store, c: Component) -> tuple[str, list]:
    if not c.filter or not c.filter.strip():
        return "TRUE", []
    from engine.data.query import Filter, where_sql

    try:
        return where_sql(store, Filter(expression=c.filter))
    except ValueError as e:
        raise MixtureError(f"component {c.name!r}: filter {c.filter!r}: {e}") from None


def _columns(con, sql: str, params: list) -> dict[str, np.ndarray]:
    t = con.sql(sql, params=params).to_arrow_table()
    return {n: t.column(n).to_numpy(zero_copy_only=False) for n in t.column_names}


def _component_candidates(store, con, c: Component, ci: int) -> dict[str, Candidates]:
    """The items one component offers per domain (eval pools and excluded samples left out)."""
    fsql, fparams = _filter_sql(store, c)
    if c.kind == "interpolation":
        return _pair_candidates(con, c, ci, fsql, fparams)
    if c.kind == "pool":
        rows = con.execute("SELECT id, name, coalesce(role, 'train') FROM pools WHERE name = ?", [c.ref]).fetchall()
        if not rows and str(c.ref).strip().isdigit():
            rows = con.execute(
                "SELECT id, name, coalesce(role, 'train') FROM pools WHERE id = ?", [int(c.ref)]
            ).fetchall()
        if not rows:
            names = [r[0] for r in con.execute("SELECT name FROM pools ORDER BY id").fetchall()]
            raise MixtureError(f"component {c.name!r}: no pool {c.ref!r}; pools: {', '.join(names) or 'none'}")
        pid, pname, role = rows[0]
        if role == "eval":
            raise MixtureError(
                f"component {c.name!r}: pool {pname!r} is an eval pool (role 'eval'); eval pools are "
                "never drawn into mixtures (`workbench eval` uses them)"
            )
        cond, params = "s.pool_id = ?", [pid]
    elif c.kind == "domain":
        cond, params = "s.domain = ?", [c.ref]
    elif c.kind == "cluster":
        cname, k = _parse_cluster_ref(c)
        rows = con.execute("SELECT id FROM clusterings WHERE name = ?", [cname]).fetchall()
        if not rows:
            names = [r[0] for r in con.execute("SELECT name FROM clusterings ORDER BY id").fetchall()]
            raise MixtureError(
                f"component {c.name!r}: no clustering {cname!r}; clusterings: {', '.join(names) or 'none'}"
            )
        cond = "s.id IN (SELECT sample_id FROM cluster_assignments WHERE clustering_id = ? AND cluster = ?)"
        params = [rows[0][0], k]
    elif c.kind == "selection":
        rows = con.execute("SELECT id FROM selections WHERE name = ?", [c.ref]).fetchall()
        if not rows:
            names = [r[0] for r in con.execute("SELECT name FROM selections ORDER BY name").fetchall()]
            raise MixtureError(
                f"component {c.name!r}: no selection {c.ref!r}; selections: {', '.join(names) or 'none'}"
            )
        cond, params = "s.id IN (SELECT sample_id FROM selection_items WHERE selection_id = ?)", [rows[0][0]]
    else:  # validate() refuses other kinds
        raise MixtureError(f"component {c.name!r}: unknown kind {c.kind!r}")
    cols = _columns(
        con,
        f"SELECT s.id AS sid, s.domain AS dom, coalesce(s.n_tokens, 0) AS tok, s.content_hash AS h "
        f"FROM samples s JOIN pools p ON p.id = s.pool_id WHERE {_TRAIN} AND ({cond}) AND ({fsql}) "
        f"ORDER BY s.id",
        [*params, *fparams],
    )
    n = len(cols["sid"])
    doms = np.full(n, c.domain, dtype=object) if c.domain else cols["dom"]
    out: dict[str, Candidates] = {}
    for d in sorted(set(doms.tolist())):
        m = doms == d
        k = int(m.sum())
        out[str(d)] = Candidates(
            np.full(k, "sample", dtype=object),
            cols["sid"][m].astype(np.int64),
            np.full(k, -1, np.int64),
            np.full(k, -1, np.int64),
            cols["tok"][m].astype(np.int64),
            np.full(k, ci, np.int32),
            cols["h"][m].astype(object),
        )
    return out


def _pair_candidates(con, c: Component, ci: int, fsql: str, fparams: list) -> dict[str, Candidates]:
    rows = con.execute("SELECT id FROM interpolation_sets WHERE name = ?", [c.ref]).fetchall()
    if not rows:
        names = [r[0] for r in con.execute("SELECT name FROM interpolation_sets ORDER BY id").fetchall()]
        raise MixtureError(f"component {c.name!r}: no interpolation set {c.ref!r}; sets: {', '.join(names) or 'none'}")
    set_id = int(rows[0][0])
    # The filter's SQL is over alias s: it is applied to each side through its own sub-select.
    ok = f"SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id WHERE {_TRAIN} AND ({fsql})"
    cols = _columns(
        con,
        f"""SELECT ip.pair_index AS pi,
                   greatest(coalesce(a.n_tokens, 0), coalesce(b.n_tokens, 0)) AS tok,
                   a.content_hash || '|' || b.content_hash || '|' || ip.lam::VARCHAR AS h
            FROM interpolation_pairs ip JOIN samples a ON a.id = ip.sample_a JOIN samples b ON b.id = ip.sample_b
            WHERE ip.set_id = ? AND ip.kept AND ip.sample_a IN ({ok}) AND ip.sample_b IN ({ok})
            ORDER BY ip.pair_index""",
        [set_id, *fparams, *fparams],
    )
    k = len(cols["pi"])
    return {
        c.domain or "mixup": Candidates(
            np.full(k, "mixup", dtype=object),
            np.full(k, -1, np.int64),
            np.full(k, set_id, np.int64),
            cols["pi"].astype(np.int64),
            cols["tok"].astype(np.int64),
            np.full(k, ci, np.int32),
            cols["h"].astype(object),
        )
    }


def candidates(store, recipe: Recipe) -> dict[str, Candidates]:
    """Per-domain candidate items of a recipe: deduplicated (an item reached by several components counts
    once, for the first component in recipe order), each domain's items in key order. Depends only on the
    components and the store, so an editor can cache it while shares, budget or seed change."""
    recipe.validate()
    con = store.cursor()
    try:
        seen_samples = np.empty(0, np.int64)
        seen_pairs: set[tuple[int, int]] = set()
        parts: dict[str, list[Candidates]] = defaultdict(list)
        for ci, c in enumerate(recipe.components):
            for d, cand in _component_candidates(store, con, c, ci).items():
                if c.kind == "interpolation":
                    keys = list(zip(cand.set_id.tolist(), cand.pair_index.tolist()))
                    keep = np.array([k not in seen_pairs for k in keys], dtype=bool)
                    seen_pairs.update(keys)
                else:
                    keep = ~np.isin(cand.sample_id, seen_samples)
                    seen_samples = np.concatenate([seen_samples, cand.sample_id[keep]])
                if keep.any():
                    parts[d].append(cand.take(np.flatnonzero(keep)))
    finally:
        con.close()
    return {d: Candidates.concat(p) for d, p in parts.items()}


def parse_fraction(text: str, *, what: str = "a fraction", hint: str = "write 0.25, 1/4 or 25%") -> float:
    """A number typed as 0.25, 1/4 or 25% (= 0.25); MixtureError naming the text when it is not one."""
    t = str(text).strip()
    pct = t.endswith("%")
    try:
        num, sep, den = t.rstrip("%").partition("/")
        v = float(num) / float(den) if sep else float(num)
    except (ValueError, ZeroDivisionError):
        raise MixtureError(f"{t!r} is not {what}: {hint}") from None
    if not math.isfinite(v):
        raise MixtureError(f"{t!r} is not {what}: {hint}")
    return v / 100 if pct else v


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
    """Indices (into the domain's candidates) of one domain's draw, in draw order (module docstring)."""
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


def resolve(store, recipe: Recipe | dict, *, cands: dict[str, Candidates] | None = None) -> Resolution:
    """Resolve a recipe against the store: the ordered items, per-domain available/requested/drawn (samples
    and tokens), warnings in words, the effective budget and the content hash. Raises MixtureError.
    `cands` may pass `candidates(store, recipe)` computed earlier for the same components and store content."""
    if isinstance(recipe, dict):
        recipe = Recipe.from_dict(recipe)
    recipe.validate()
    if recipe.derived is not None:
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


# -- saved versions -------------------------------------------------------------------------------------


@dataclass
class MixtureVersion:
    """One saved version of a mixture. per_domain: {domain: {"items", "tokens", "samples", "mixup"}}."""

    id: int
    name: str
    version: int
    content_hash: str
    recipe: Recipe
    n_items: int
    n_tokens: int
    per_domain: dict[str, dict]
    created_at: datetime | None
    note: str | None

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["recipe"] = self.recipe.to_dict()
        d["created_at"] = None if self.created_at is None else str(self.created_at)
        return d


_MV_SQL = """SELECT m.id, m.name, m.version, m.content_hash, m.recipe, m.created_at, m.note,
       i.domain, count(i.mixture_id), coalesce(sum(i.n_tokens), 0),
       count(i.mixture_id) FILTER (WHERE i.kind = 'sample'), count(i.mixture_id) FILTER (WHERE i.kind = 'mixup')
FROM mixtures m LEFT JOIN mixture_items i ON i.mixture_id = m.id
{where} GROUP BY ALL ORDER BY m.name, m.version, i.domain"""


def _versions(store, where: str = "", params: list | None = None) -> list[MixtureVersion]:
    con = store.cursor()
    try:
        rows = con.execute(_MV_SQL.format(where=where), params or []).fetchall()
    finally:
        con.close()
    out: dict[int, MixtureVersion] = {}
    for mid, name, ver, h, recipe, created, note, dom, n, nt, ns, nm in rows:
        mv = out.get(mid)
        if mv is None:
            mv = out[mid] = MixtureVersion(
                mid, name, ver, h, Recipe.from_dict(json.loads(recipe)), 0, 0, {}, created, note
            )
        if dom is not None:
            mv.per_domain[dom] = {"items": int(n), "tokens": int(nt), "samples": int(ns), "mixup": int(nm)}
            mv.n_items += int(n)
            mv.n_tokens += int(nt)
    return list(out.values())


def list_mixtures(store) -> list[MixtureVersion]:
    """The latest version of every saved mixture, by name."""
    con = store.cursor()
    try:
        ids = [
            r[0]
            for r in con.execute("SELECT arg_max(id, version) FROM mixtures GROUP BY name ORDER BY name").fetchall()
        ]
    finally:
        con.close()
    if not ids:
        return []
    return _versions(store, "WHERE m.id IN (SELECT unnest(?::INTEGER[]))", [ids])


def list_versions(store) -> list[MixtureVersion]:
    """Every saved version of every mixture, by name then version."""
    return _versions(store)


def versions(store, name: str) -> list[MixtureVersion]:
    """Every saved version of mixture `name`, oldest first (MixtureError when there is none)."""
    out = _versions(store, "WHERE m.name = ?", [name])
    if not out:
        raise MixtureError(_no_mixture(store, name))
    return out


def _no_mixture(store, ref) -> str:
    con = store.cursor()
    try:
        names = [r[0] for r in con.execute("SELECT DISTINCT name FROM mixtures ORDER BY name").fetchall()]
    finally:
        con.close()
    return f"no mixture {ref!r}; mixtures: {', '.join(names) or 'none saved yet'}"


def parse_ref(ref: str | int, version: int | None = None) -> tuple[str | int, int | None]:
    """Split "NAME@v" into (NAME, v); an int ref is a mixture id."""
    if isinstance(ref, int):
        return ref, version
    name, sep, v = str(ref).rpartition("@")
    if sep and name and v.isdigit():
        if version is not None and int(v) != int(version):
            raise MixtureError(f"{ref!r} names version {v} but version={version} was also given")
        return name, int(v)
    return str(ref), version


def get_mixture(store, ref: str | int, version: int | None = None) -> MixtureVersion:
    """A saved mixture version: ref = name, "name@v" or mixture id (an id names one version already);
    the latest version by default."""
    ref, version = parse_ref(ref, version)
    if isinstance(ref, int) and not isinstance(ref, bool):
        got = _versions(store, "WHERE m.id = ?", [ref])
        if not got:
            raise MixtureError(f"no mixture version with id {ref}")
        return got[0]
    vs = _versions(store, "WHERE m.name = ?", [ref])
    if not vs and str(ref).isdigit():
        return get_mixture(store, int(ref))
    if not vs:
        raise MixtureError(_no_mixture(store, ref))
    if version is None:
        return vs[-1]
    for v in vs:
        if v.version == int(version):
            return v
    raise MixtureError(f"mixture {ref!r} has no version {version}; versions: {', '.join(str(v.version) for v in vs)}")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise MixtureError("a mixture needs a name")
    name = name.strip()
    if "@" in name:
        raise MixtureError(f"a mixture name cannot contain '@' (NAME@v names a version): {name!r}")
    return name


def _insert_version(con, store, name: str, recipe: Recipe, h: str, items: list[Item], note: str | None) -> int:
    ver = con.execute("SELECT coalesce(max(version), 0) + 1 FROM mixtures WHERE name = ?", [name]).fetchall()[0][0]
    mid = store.next_id("mixtures", con)
    con.execute(
        "INSERT INTO mixtures (id, name, version, recipe, content_hash, note) VALUES (?, ?, ?, ?, ?, ?)",
        [mid, name, int(ver), json.dumps(recipe.to_dict(), sort_keys=True), h, note],
    )
    if items:
        import pyarrow as pa

        tbl = pa.table(
            {
                "stage": pa.array([i.stage for i in items], pa.int32()),
                "position": pa.array([i.position for i in items], pa.int64()),
                "kind": pa.array([i.kind for i in items], pa.string()),
                "sample_id": pa.array([i.sample_id for i in items], pa.int64()),
                "interp_set_id": pa.array([i.set_id for i in items], pa.int32()),
                "pair_index": pa.array([i.pair_index for i in items], pa.int32()),
                "domain": pa.array([i.domain for i in items], pa.string()),
                "component": pa.array([i.component for i in items], pa.string()),
                "n_tokens": pa.array([i.n_tokens for i in items], pa.int32()),
            }
        )
        con.register("_mix_items", tbl)
        try:
            con.execute(
                "INSERT INTO mixture_items SELECT ?, stage, position, kind, sample_id, interp_set_id, "
                "pair_index, domain, component, n_tokens FROM _mix_items",
                [mid],
            )
        finally:
            con.unregister("_mix_items")
    return mid


def save(
    store, name: str, recipe: Recipe | dict, note: str | None = None, resolution: Resolution | None = None
) -> MixtureVersion:
    """Resolve and save `recipe` as mixture `name`: the latest version unchanged when its content hash
    matches (same recipe, same resolved items), else a new version (latest + 1) with its items.
    `resolution` may pass a fresh `resolve(store, recipe)` result to skip resolving twice."""
    name = _check_name(name)
    if isinstance(recipe, dict):
        recipe = Recipe.from_dict(recipe)
    res = resolution if resolution is not None and resolution.recipe is recipe else resolve(store, recipe)
    with store.transaction() as con:
        rows = con.execute(
            "SELECT id, content_hash FROM mixtures WHERE name = ? ORDER BY version DESC LIMIT 1", [name]
        ).fetchall()
        if rows and rows[0][1] == res.content_hash:
            mid = rows[0][0]
        else:
            mid = _insert_version(con, store, name, recipe, res.content_hash, res.items, note)
    return get_mixture(store, mid)


def _items(store, mixture_id: int) -> list[Item]:
    con = store.cursor()
    try:
        rows = con.execute(
            "SELECT stage, position, kind, domain, component, coalesce(n_tokens, 0), sample_id, "
            "interp_set_id, pair_index FROM mixture_items WHERE mixture_id = ? ORDER BY stage, position",
            [mixture_id],
        ).fetchall()
    finally:
        con.close()
    return [Item(*r) for r in rows]


def items(store, ref: str | int, version: int | None = None) -> list[Item]:
    """The saved items of a mixture version in training order (stage, position)."""
    return _items(store, get_mixture(store, ref, version).id)


def _digests(store, its: list[Item]) -> list[str]:
    ids = sorted({i.sample_id for i in its if i.kind == "sample"})
    pairs = sorted({(i.set_id, i.pair_index) for i in its if i.kind == "mixup"})
    con = store.cursor()
    try:
        h = (
            dict(
                con.execute(
                    "SELECT id, content_hash FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]
                ).fetchall()
            )
            if ids
            else {}
        )
        ph: dict[tuple, str] = {}
        if pairs:
            for sid, pi, dg in con.execute(
                "SELECT ip.set_id, ip.pair_index, a.content_hash || '|' || b.content_hash || '|' || ip.lam::VARCHAR "
                "FROM interpolation_pairs ip JOIN samples a ON a.id = ip.sample_a "
                "JOIN samples b ON b.id = ip.sample_b WHERE ip.set_id IN (SELECT unnest(?::INTEGER[]))",
                [sorted({p[0] for p in pairs})],
            ).fetchall():
                ph[(sid, pi)] = dg
    finally:
        con.close()
    return [h.get(i.sample_id, "") if i.kind == "sample" else ph.get((i.set_id, i.pair_index), "") for i in its]


def _subset_items(parent_items: list[Item], domains: list[str] | str, seed: int) -> list[Item]:
    """The parent's sample items of `domains` (repeats kept, stages merged) in an order that depends only on
    those items and the seed: sorted by sample id, then a seeded shuffle (one domain: keyed by that domain, as
    before; several: by the sorted domains joined with "+"). Parents that differ only in other domains
    therefore give the same subset."""
    doms = [domains] if isinstance(domains, str) else sorted(set(domains))
    mine = sorted(
        (i for i in parent_items if i.kind == "sample" and i.domain in doms),
        key=lambda i: (i.sample_id, i.component, i.domain),
    )
    perm = _rng(seed, "subset", "+".join(doms)).permutation(len(mine))
    return [
        Item(0, pos, "sample", mine[j].domain, mine[j].component, mine[j].n_tokens, mine[j].sample_id)
        for pos, j in enumerate(perm.tolist())
    ]


def _derived_domains(d: dict) -> list[str]:
    return [str(x) for x in d["domains"]] if d.get("domains") else [str(d["domain"])]


def _resolve_derived(store, recipe: Recipe) -> Resolution:
    d = recipe.derived or {}
    parent = get_mixture(store, int(d["mixture_id"]))
    doms = _derived_domains(d)
    its = _subset_items(_items(store, parent.id), doms if len(doms) > 1 else doms[0], recipe.seed)
    per = {}
    for dom in doms:
        mine = [i for i in its if i.domain == dom]
        tok = int(sum(i.n_tokens for i in mine))
        per[dom] = DomainCount(
            dom, len(mine) / len(its) if its else 1.0 / len(doms), None, len(mine), tok, len(mine), len(mine), tok
        )
    warnings = [f"{parent.label} has no sample items of domain {dom!r}" for dom in doms if not per[dom].drawn]
    # the hash covers the domain(s), the seed and the items, not which parent version they came from
    key = Recipe([], derived={"domain": doms[0]} if len(doms) == 1 else {"domains": doms}, seed=recipe.seed)
    return Resolution(recipe, its, per, warnings, len(its), "samples", _hash(key, its, _digests(store, its)))


def domains_subset(store, mixture_id: int, domains: list[str]) -> MixtureVersion:
    """A derived version "<name>/only:a+b" holding only the sample items of `domains` (sorted, deduplicated)
    of mixture version `mixture_id`: stages merged, repeats kept, order a seeded shuffle of the items (seed of
    the parent recipe), so a subset of a staged parent is a plain multi-task mix. Used for single-domain
    specialists (`domain_subset`) and two-domain pair runs (engine.evaluation.conflict.ensure_pair_runs). An existing
    version with the same items (same content hash, which does not depend on the parent's other domains) is
    reused; its recipe names the parent that first made it. The subset of a subset is named after the root
    mixture ("<root>/only:a", not "<root>/only:a+b/only:a"), so it meets the root's own subset."""
    parent = get_mixture(store, int(mixture_id))
    if isinstance(domains, str) or not domains:
        raise MixtureError("give a non-empty list of domains")
    doms = sorted({str(x) for x in domains})
    have = [k for k, v in parent.per_domain.items() if v.get("samples")]
    missing = [x for x in doms if x not in have]
    if missing:
        what = "domain" if len(missing) == 1 else "domains"
        raise MixtureError(
            f"{parent.label} has no sample items of {what} {', '.join(map(repr, missing))}; "
            f"its domains: {', '.join(have) or 'none'}"
        )
    base = parent.recipe.to_dict()
    base.pop("derived", None)
    derived = {"mixture_id": parent.id, "parent": parent.label, "parent_hash": parent.content_hash}
    derived |= {"domain": doms[0]} if len(doms) == 1 else {"domains": doms}
    recipe = Recipe.from_dict({**base, "stages": None, "derived": derived})
    res = resolve(store, recipe)
    root = parent.name.split("/only:")[0] if parent.recipe.derived is not None else parent.name
    name = f"{root}/only:{'+'.join(doms)}"
    what = " and ".join(doms)
    with store.transaction() as con:
        rows = con.execute(
            "SELECT id FROM mixtures WHERE name = ? AND content_hash = ? ORDER BY version DESC LIMIT 1",
            [name, res.content_hash],
        ).fetchall()
        mid = (
            rows[0][0]
            if rows
            else _insert_version(
                con, store, name, recipe, res.content_hash, res.items, f"{what} items of {parent.label}"
            )
        )
    return get_mixture(store, mid)


def domain_subset(store, mixture_id: int, domain: str) -> MixtureVersion:
    """A derived version "<name>/only:<domain>" holding only the `domain` sample items of mixture version
    `mixture_id` (stages merged; repeats kept; order: a shuffle seeded by the parent's seed and the domain),
    for single-domain specialist runs. An existing version with the same items (same content hash, which does
    not depend on the parent's other domains) is reused; its recipe names the parent that first made it.
    `domains_subset` with one domain."""
    return domains_subset(store, mixture_id, [domain])


# -- diff -----------------------------------------------------------------------------------------------


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, list) and d and all(isinstance(x, dict) and "name" in x for x in d):
        for x in d:
            out.update(_flat({k: v for k, v in x.items() if k != "name"}, f"{prefix}[{x['name']}]"))
    else:
        out[prefix] = d
    return out


def diff(store, name: str, v1: int, v2: int) -> dict:
    """What changed from version v1 to v2 of mixture `name`: recipe fields ({path: {"old", "new"}}) and,
    per domain, items added / removed / kept (multisets of items, repeats counted)."""
    a, b = get_mixture(store, name, int(v1)), get_mixture(store, name, int(v2))
    fa, fb = _flat(a.recipe.to_dict()), _flat(b.recipe.to_dict())
    recipe = {k: {"old": fa.get(k), "new": fb.get(k)} for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}
    ia, ib = _items(store, a.id), _items(store, b.id)
    per: dict[str, dict] = {}
    for dom in sorted({i.domain for i in ia} | {i.domain for i in ib}):
        ca = Counter(i.key for i in ia if i.domain == dom)
        cb = Counter(i.key for i in ib if i.domain == dom)
        per[dom] = {
            "old": sum(ca.values()),
            "new": sum(cb.values()),
            "added": sum((cb - ca).values()),
            "removed": sum((ca - cb).values()),
            "kept": sum((ca & cb).values()),
        }
    return {
        "name": name,
        "v1": a.version,
        "v2": b.version,
        "hash": [a.content_hash, b.content_hash],
        "same": a.content_hash == b.content_hash,
        "n_items": [a.n_items, b.n_items],
        "n_tokens": [a.n_tokens, b.n_tokens],
        "recipe": recipe,
        "domains": per,
    }


# -- records --------------------------------------------------------------------------------------------


def _sample_texts(con, ids: list[int]) -> dict[int, tuple]:
    if not ids:
        return {}
    rows = con.execute(
        "SELECT id, messages, system, tools, domain FROM samples WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids]
    ).fetchall()
    return {r[0]: (json.loads(r[1]), r[2], json.loads(r[3]) if r[3] else None, r[4]) for r in rows}


def training_records(store, mixture_id: int, *, chunk: int = 2000) -> Iterator[dict]:
    """One dict per item of mixture version `mixture_id` in (stage, position) order: samples as
    {kind, stage, domain, sample_id, messages, system, tools}; interpolation pairs as {kind: "mixup", stage,
    domain, set_id, pair_index, lam, a: {...}, b: {...}} (docs/contracts-v3.md)."""
    get_mixture(store, int(mixture_id))  # clear error for an unknown id
    its = _items(store, int(mixture_id))
    for k in range(0, len(its), chunk):
        part = its[k : k + chunk]
        con = store.cursor()
        try:
            pairs: dict[tuple, tuple] = {}
            mix = sorted({(i.set_id, i.pair_index) for i in part if i.kind == "mixup"})
            for sid in sorted({p[0] for p in mix}):
                for pi, a, b, lam in con.execute(
                    "SELECT pair_index, sample_a, sample_b, lam FROM interpolation_pairs WHERE set_id = ? "
                    "AND pair_index IN (SELECT unnest(?::INTEGER[]))",
                    [sid, [p[1] for p in mix if p[0] == sid]],
                ).fetchall():
                    pairs[(sid, pi)] = (a, b, lam)
            ids = {i.sample_id for i in part if i.kind == "sample"} | {x for p in pairs.values() for x in p[:2]}
            texts = _sample_texts(con, sorted(ids))
        finally:
            con.close()

        def side(sid: int, texts=texts) -> dict:
            m, s, t, d = texts[sid]
            return {"sample_id": int(sid), "domain": d, "messages": m, "system": s, "tools": t}

        for i in part:
            if i.kind == "sample":
                if i.sample_id not in texts:
                    raise MixtureError(f"mixture item {i.stage}/{i.position}: sample {i.sample_id} no longer exists")
                m, s, t, _d = texts[i.sample_id]
                yield {
                    "kind": "sample",
                    "stage": i.stage,
                    "domain": i.domain,
                    "sample_id": int(i.sample_id),
                    "messages": m,
                    "system": s,
                    "tools": t,
                }
            else:
                p = pairs.get((i.set_id, i.pair_index))
                if p is None or p[0] not in texts or p[1] not in texts:
                    raise MixtureError(
                        f"mixture item {i.stage}/{i.position}: pair {i.pair_index} of interpolation "
                        f"set {i.set_id} no longer exists"
                    )
                yield {
                    "kind": "mixup",
                    "stage": i.stage,
                    "domain": i.domain,
                    "set_id": int(i.set_id),
                    "pair_index": int(i.pair_index),
                    "lam": float(p[2]),
                    "a": side(p[0]),
                    "b": side(p[1]),
                }


# -- export ---------------------------------------------------------------------------------------------


@dataclass
class MixtureExport:
    """What export_mixture wrote: one file per stage (one file for a single-stage mixture)."""

    paths: list[str]
    n: int
    n_per_file: list[int]
    n_skipped_mixup: int = 0
    dataset_info_path: str | None = None
    dataset_names: list[str] = field(default_factory=list)


def _stage_path(path: Path, si: int, name: str, n_stages: int) -> Path:
    if n_stages == 1:
        return path
    stem, _, suffix = path.name.partition(".")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
    return path.with_name(f"{stem}.stage{si + 1}-{safe}." + (suffix or "jsonl"))


def export_mixture(
    store,
    ref: str | int,
    path: str | Path,
    *,
    style: str = "messages",
    file_format: str | None = None,
    dataset_info: str | Path | None = None,
    version: int | None = None,
    dataset_name: str | None = None,
    skip_mixup: bool = False,
    overwrite: bool = False,
) -> MixtureExport:
    """Write a saved mixture version as JSONL/Parquet in messages, alpaca or sharegpt style, one record per
    item in training order (repeats included). A multi-stage mixture writes one file per stage
    (`NAME.stage1-<stage>.jsonl`, ...). With `dataset_info`, one LLaMA-Factory entry per file is merged
    into that dataset_info.json (an existing entry of the same name needs overwrite=True).
    Interpolation (mixup) items have no text form: they are refused unless skip_mixup=True (then left out
    and counted); `workbench interpolate export-pairs` exports the pairs themselves."""
    from engine.data.export import (
        STYLES,
        ExportError,
        convert_record,
        read_dataset_info,
        write_dataset_info,
        write_parquet_rows,
    )

    if style not in STYLES:
        raise MixtureError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    mv = get_mixture(store, ref, version)
    out = Path(path)
    fmt = file_format or ("parquet" if out.suffix.lower() == ".parquet" else "jsonl")
    if fmt not in ("jsonl", "parquet"):
        raise MixtureError(f"unknown file format {fmt!r} (jsonl or parquet)")
    n_mix = sum(v["mixup"] for v in mv.per_domain.values())
    if n_mix and not skip_mixup:
        raise MixtureError(
            f"{mv.label} has {n_mix:,} interpolation (mixup) items, which have no text form to "
            "export; pass skip_mixup (CLI: --skip-mixup) to leave them out, and use `workbench "
            "interpolate export-pairs` to export the pairs themselves"
        )
    stage_names = [s.name for s in mv.recipe.stages] if mv.recipe.stages else ["all"]
    info_path: Path | None = None
    info: dict = {}
    base = dataset_name or "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in mv.name) + f"_v{mv.version}"
    names = [base] if len(stage_names) == 1 else [f"{base}_stage{i + 1}" for i in range(len(stage_names))]
    if dataset_info:
        try:  # a path not ending in .json is a folder (it may not exist yet)
            info_path, info = read_dataset_info(dataset_info, folder_unless_json=True)
        except ExportError as e:
            raise MixtureError(str(e)) from None
        clash = [n for n in names if n in info]
        if clash and not overwrite:
            raise MixtureError(
                f"{info_path.name} already has entr{'y' if len(clash) == 1 else 'ies'} "
                f"{', '.join(clash)}; pass overwrite or another dataset name"
            )
    per_stage: list[list[dict]] = [[] for _ in stage_names]
    skipped = 0
    for rec in training_records(store, mv.id):
        if rec["kind"] != "sample":
            skipped += 1
            continue
        try:
            r = convert_record(style, rec["messages"], rec["system"], rec["tools"], file_format=fmt)
        except ExportError as e:
            raise MixtureError(f"sample {rec['sample_id']}: {e}") from None
        per_stage[rec["stage"]].append(r)
    paths: list[Path] = []
    for si, rows in enumerate(per_stage):
        p = _stage_path(out, si, stage_names[si], len(stage_names))
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".part")
        try:
            if fmt == "jsonl":
                with open(tmp, "w", encoding="utf-8") as f:
                    for r in rows:
                        f.write(json.dumps(r, ensure_ascii=False) + "\n")
            else:
                write_parquet_rows(rows, tmp)
            os.replace(tmp, p)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        paths.append(p)
    written = None
    if info_path is not None:
        written = write_dataset_info(info_path, info, dict(zip(names, paths)), style)
    return MixtureExport(
        [str(p) for p in paths],
        sum(len(r) for r in per_stage),
        [len(r) for r in per_stage],
        skipped,
        written,
        names if written else [],
    )


# -- summaries (Mixtures screen, `workbench mix show`) ----------------------------------------------------


def sample_ids_of(items_: list[Item]) -> list[int]:
    """Distinct sample ids among items (both sides of mixup pairs are not included)."""
    return sorted({int(i.sample_id) for i in items_ if i.kind == "sample"})


def quality_summary(store, sample_ids: list[int]) -> dict[str, dict]:
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


def diversity_summary(store, sample_ids: list[int], clustering: str | None = None) -> dict | None:
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


def preview(store, items_: list[Item], n: int = 50) -> list[dict]:
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


def store_domains(store) -> dict[str, dict]:
    """{domain: {"samples", "tokens"}} of the drawable samples (train pools, not excluded), for editors."""
    con = store.cursor()
    try:
        rows = con.execute(
            f"SELECT s.domain, count(*), coalesce(sum(s.n_tokens), 0) FROM samples s JOIN pools p "
            f"ON p.id = s.pool_id WHERE {_TRAIN} GROUP BY 1 ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    return {d: {"samples": int(n), "tokens": int(t)} for d, n, t in rows}
