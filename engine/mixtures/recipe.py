"""Mixture recipes: components, proportions, stages (and their one-line syntax), validation and fractions."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from engine.core.errors import InputError

KINDS = ("pool", "domain", "cluster", "selection", "interpolation")
UNITS = ("samples", "tokens")
SHORT_POLICIES = ("error", "take_all", "upsample")
ALL_DOMAINS = "*"  # replay key: every domain drawn in earlier stages
DMT_K = 1 / 256  # DMT's replay share of the specialised data in the general stage (Dong et al. 2024)


class MixtureError(InputError):
    """A recipe that cannot be resolved, saved or exported as asked (the message says what is wrong)."""


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
    """A mixture recipe (see the engine.mixtures docstring for how it resolves).

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
        for key, kind in (("components", list), ("proportions", dict), ("stages", list), ("derived", dict)):
            if d.get(key) is not None and not isinstance(d[key], kind):
                what = "a list" if kind is list else "an object"
                raise MixtureError(f"{key}: expected {what}, not {type(d[key]).__name__}")
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
            for k in ("name", "kind", "ref", "filter", "domain"):
                v = c.get(k)
                if v is not None and not (isinstance(v, str) or (k == "ref" and _whole(v))):
                    want = "text or a pool id" if k == "ref" else "text"
                    raise MixtureError(f"component {i + 1}: {k} must be {want}, not {type(v).__name__} {v!r}")
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
                if not isinstance(s["domains"], list) or not all(isinstance(x, str) for x in s["domains"]):
                    raise MixtureError(f"stage {i + 1}: domains must be a list of domain names, not {s['domains']!r}")
                if s.get("replay") is not None and not isinstance(s["replay"], dict):
                    raise MixtureError(
                        f"stage {i + 1}: replay must be an object {{domain: fraction}}, not {s['replay']!r}"
                    )
                stages.append(
                    Stage(
                        name=str(s.get("name") or f"stage{i + 1}"),
                        domains=[str(x) for x in s["domains"]],
                        replay={str(k): v for k, v in (s.get("replay") or {}).items()},
                    )
                )
        derived = d.get("derived")
        if derived is not None and not (
            _whole(derived.get("mixture_id"))
            and (isinstance(derived.get("domain"), str) or isinstance(derived.get("domains"), list))
        ):
            raise MixtureError(
                f'derived: expected {{"mixture_id": ID, "domain": D}} (made by `workbench mix subset`), not {derived!r}'
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


def _whole(v) -> bool:
    """Whether `v` is a whole number (an int, not a bool)."""
    return isinstance(v, int) and not isinstance(v, bool)


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


STAGE_SYNTAX = "NAME = dom, dom | replay dom=fraction, ..."


def format_stage(stage: Stage) -> str:
    """One stage as a line of the stage syntax: `NAME = dom, dom | replay dom=fraction, ...`."""
    line = f"{stage.name} = {', '.join(stage.domains)}"
    if stage.replay:
        line += " | replay " + ", ".join(f"{d}={f:.6g}" for d, f in stage.replay.items())
    return line


def parse_stages(lines: list[str]) -> list[Stage]:
    """Stages from lines `NAME = dom, dom | replay dom=fraction, ...` (blank lines are skipped; `*` replays
    every earlier domain; the replay part is optional). MixtureError naming the line for a malformed one or a
    repeated name."""
    out: list[Stage] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        head, _, tail = line.partition("|")
        name, eq, doms = head.partition("=")
        name = name.strip()
        if not eq or not name:
            raise MixtureError(f"stage line {n}: expected {STAGE_SYNTAX}, not {line.strip()!r}")
        if any(s.name == name for s in out):
            raise MixtureError(f"stage line {n}: stage name {name!r} is used twice")
        tail = tail.strip()
        if tail.lower().startswith("replay"):
            tail = tail[len("replay") :]
        replay: dict[str, float] = {}
        for part in tail.split(","):
            if not part.strip():
                continue
            dom, eq2, frac = part.partition("=")
            if not eq2 or not dom.strip():
                raise MixtureError(
                    f"stage line {n} ({name}): replay {part.strip()!r}: expected DOMAIN=FRACTION, e.g. math=1/256"
                )
            try:
                replay[dom.strip()] = parse_fraction(frac)
            except MixtureError as e:
                raise MixtureError(f"stage line {n} ({name}): replay of {dom.strip()}: {e}") from None
        out.append(Stage(name, [d.strip() for d in doms.split(",") if d.strip()], replay))
    return out
