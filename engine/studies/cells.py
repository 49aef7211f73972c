"""From a study's cell to what trains it: the study's base read from the store, the seeded random selections of
the selection templates, each cell's mixture recipe and run settings, and its volume (items, tokens, domains).

Selection templates (targeted, quantiles): a budget b of a targeted selection is its first b samples (the
selection's ranks, so a smaller budget is a prefix of a larger one); the random baseline of a seed is the
scope's candidates (the targeted selection's scope, less the query items when the query set is a pool of the
store) shuffled with that seed, saved once as selection `<base>-random<seed>`, and its budget b is again its
first b (the reference's selection/random.py: shuffle the pool with the seed, take the first k). Cells use them
through a mixture component of kind selection with a rank filter (`selection.NAME <= b`).

Mixture templates (growth, ratio, protocols, cross) derive each cell's recipe from the base mixture version's recipe:
growth scales its budget (fraction f of the base's effective budget, each domain's draw a prefix of the full
one for the same seed), ratio sets the proportions of two domains at a fixed total, protocols keep the items
and change the protocol (multi-stage: the base's stages, else DMT's two stages), cross trains each domain's
items of the base version alone (its specialist's mixture). A seed s draws the mixture with the base recipe's
seed + s and trains with seed s.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.mixtures import DMT_K, Component, MixtureError, Recipe, dmt_stages, get_mixture, resolve
from engine.studies.spec import Cell, Study, StudyError, default_budgets

if TYPE_CHECKING:
    from engine.core.store import Store

TARGET_METHOD_PREFIX = "target-"  # engine/targeting/saving.py saves its orderings with method target-<algo>


@dataclass
class CellVolume:
    """What a cell trains on: items, estimated tokens (samples.n_tokens) and items per domain."""

    n_items: int = 0
    n_tokens: int = 0
    per_domain: dict = field(default_factory=dict)


# -- the base ---------------------------------------------------------------------------------------------------


def _selection(store: Store, name: str):
    from engine.quality.selection import get_selection

    try:
        return get_selection(store, name)
    except KeyError as e:
        raise StudyError(str(e.args[0] if e.args else e)) from None


def _targeting_params(sel) -> dict:
    return {"scope": sel.params.get("scope"), "query": sel.params.get("query")}


def read_base(store: Store, template: str, ref: str) -> tuple[dict, dict]:
    """The base of a new study from what `ref` names (a targeted selection, a quantile experiment's name, a
    mixture version), and the template's default axes. StudyError when it is not the kind the template needs."""
    if template == "targeted":
        sel = _selection(store, ref)
        if not str(sel.method).startswith(TARGET_METHOD_PREFIX) or "quantile" in sel.params:
            raise StudyError(
                f"selection {sel.name!r} is not a targeted selection (made by `workbench target` without "
                f"--quantiles; its method is {sel.method}); the targeted template compares one at budgets"
            )
        base = {"selection": sel.name, "selection_id": sel.id, "n": int(sel.n), "content_hash": sel.content_hash}
        return base | _targeting_params(sel), {"budget": default_budgets(int(sel.n)), "seed": [0]}
    if template == "quantiles":
        from engine.quality.selection import list_selections

        prefix = str(ref)
        parts = {}
        for s in list_selections(store):
            p = s.params or {}
            if s.name.startswith(f"{prefix}-q") and "quantile" in p and s.name == f"{prefix}-q{p['quantile']}":
                parts[int(p["quantile"])] = s
        if not parts:
            raise StudyError(
                f"no distance-quantile selections {prefix}-q0, {prefix}-q1, ... "
                f"(make them with workbench target ... --quantiles 10 --name {prefix})"
            )
        n_q = int(parts[min(parts)].params.get("n_quantiles", len(parts)))
        missing = [q for q in range(n_q) if q not in parts]
        if missing:
            raise StudyError(f"{prefix}: quantile selection(s) {', '.join(f'{prefix}-q{q}' for q in missing)} missing")
        first = parts[0]
        base = {
            "selections": prefix,
            "n_quantiles": n_q,
            "names": [parts[q].name for q in range(n_q)],
            "n": max(int(parts[q].n) for q in range(n_q)),
            "distances": {str(q): parts[q].params.get("distance") or {} for q in range(n_q)},
            "hashes": [parts[q].content_hash for q in range(n_q)],
        } | _targeting_params(first)
        return base, {"quantile": list(range(n_q)), "seed": [0]}
    try:
        mv = get_mixture(store, ref)
    except MixtureError as e:
        raise StudyError(str(e)) from None
    if mv.recipe.derived is not None:
        raise StudyError(
            f"mixture {mv.label} is a derived subset (workbench mix subset); base a study on a mixture with its "
            "own recipe"
        )
    res = resolve(store, mv.recipe)
    base = {
        "mixture": mv.label,
        "mixture_id": mv.id,
        "budget": int(res.budget),
        "unit": mv.recipe.unit,
        "per_domain": {d: int(v["items"]) for d, v in mv.per_domain.items()},
    }
    return base, {}


def check_base_unchanged(store: Store, study: Study) -> None:
    """StudyError when a selection the study is based on was replaced since the study was made (a cell launched
    now would train on other samples than the cells before it)."""
    if study.template == "targeted":
        pairs = [(study.base["selection"], study.base.get("content_hash"))]
    elif study.template == "quantiles":
        pairs = list(zip(study.base["names"], study.base.get("hashes") or [None] * len(study.base["names"])))
    else:
        return
    for name, h in pairs:
        sel = _selection(store, name)
        if h is not None and sel.content_hash != h:
            raise StudyError(
                f"selection {name!r} was replaced since study {study.name!r} was made; make a new study for it"
            )


# -- random baselines -------------------------------------------------------------------------------------------


def random_name(study: Study, seed: int) -> str:
    return f"{study.base.get('selection') or study.base.get('selections')}-random{seed}"


def random_candidates(store: Store, base: dict) -> np.ndarray:
    """The candidates the targeted selection chose from: its scope's samples (engine.data.scope), less the
    query items when its query set is a pool of the store; sorted ids."""
    from engine.data.scope import scope_from_params, scope_ids

    ids = scope_ids(store, scope_from_params(base.get("scope")))
    query = str(base.get("query") or "")
    if query.startswith("pool:"):
        rows = store.fetchall(
            "SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.name = ? AND NOT s.excluded",
            [query[len("pool:") :]],
        )
        if rows:
            ids = ids[~np.isin(ids, np.asarray([r[0] for r in rows], dtype=np.int64))]
    return np.sort(ids)


def random_order(store: Store, base: dict, seed: int, n: int) -> np.ndarray:
    """The first n of the candidates shuffled with `seed` (numpy default_rng(seed).permutation)."""
    ids = random_candidates(store, base)
    if n > len(ids):
        raise StudyError(f"the random baseline needs {n:,} samples but the scope holds {len(ids):,}")
    return ids[np.random.default_rng(int(seed)).permutation(len(ids))[:n]]


def ensure_random_selection(store: Store, study: Study, seed: int, n: int) -> str:
    """Selection `<base>-random<seed>` holding at least the first n of the seeded shuffle (saved, or grown by
    saving it again: the same shuffle, so what cells used before is still its prefix)."""
    from engine.quality.selection import _save_selection, get_selection

    name = random_name(study, seed)
    try:
        have = get_selection(store, name)
    except KeyError:
        have = None
    if have is not None:
        p = have.params or {}
        if have.method != "random" or p.get("of") != (study.base.get("selection") or study.base.get("selections")):
            raise StudyError(f"a selection named {name!r} exists and is not this study's random baseline; rename it")
        if have.n >= n and p.get("seed") == seed:
            return name
    ids = random_order(store, study.base, seed, n)
    n_cand = len(random_candidates(store, study.base))
    params = {
        "of": study.base.get("selection") or study.base.get("selections"),
        "seed": int(seed),
        "scope": study.base.get("scope"),
        "query": study.base.get("query"),
        "n_candidates": int(n_cand),
        "rule": "candidates sorted by id, shuffled with numpy default_rng(seed).permutation, first n",
    }
    items = [
        (int(s), r + 1, "all", None, f"random draw {r + 1} of {n_cand:,} (seed {seed})") for r, s in enumerate(ids)
    ]
    _save_selection(store, name, "random", params, items, replace=have is not None)
    return name


# -- recipes ----------------------------------------------------------------------------------------------------


def _quoted(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "''") + "'"


def _prefix(label: str, selection: str, b: int | None) -> Recipe:
    """A recipe of the first b samples of a selection (all of it when b is None)."""
    flt = None if b is None else f"selection.{_quoted(selection)} <= {int(b)}"
    return Recipe([Component(label, "selection", selection, filter=flt)])


def _base_recipe(store: Store, study: Study) -> Recipe:
    try:
        return copy.deepcopy(get_mixture(store, int(study.base["mixture_id"])).recipe)
    except MixtureError as e:
        raise StudyError(f"study {study.name!r}: its base mixture {study.base.get('mixture')}: {e}") from None


def protocol_domains(study: Study) -> tuple[list[str], list[str]]:
    """(specialised, general) domains of a protocols study: general from the settings, else 'general' when the
    base has it; specialised = the base's other domains."""
    doms = list(study.base.get("per_domain") or {})
    general = list(study.settings.get("general") or ([d for d in doms if d == "general"]))
    spec = [d for d in doms if d not in general]
    return spec, general


def cell_recipe(store: Store, study: Study, cell: Cell) -> Recipe | None:
    """The mixture recipe of a cell (None for the base-model cell). Random baselines must exist
    (ensure_random_selection) before their recipe resolves."""
    if cell.arm == "base":
        return None
    t, p = study.template, cell.params
    if t == "targeted":
        if cell.arm == "random":
            return _prefix("random", random_name(study, p["seed"]), p["budget"])
        sel = study.base["selection"]
        return _prefix("targeted", sel, None if p["budget"] >= study.base["n"] else p["budget"])
    if t == "quantiles":
        if cell.arm == "random":
            return _prefix("random", random_name(study, p["seed"]), study.base["n"])
        return _prefix("quantile", study.base["names"][int(p["quantile"])], None)
    if t == "cross":
        return None  # a derived version: cross_mixture
    r = _base_recipe(store, study)
    r.seed = int(r.seed) + int(p.get("seed", 0))
    if t == "growth" and p.get("provenance") is not None:
        pv = p["provenance"]
        r = provenance_recipe(r, pv, (study.base.get("provenance") or {}).get(pv, {}).get("domains"))
        budget = int(((study.base.get("provenance") or {}).get(pv) or {}).get("budget") or 0)
        r.budget = max(1, round(float(p["fraction"]) * budget))
    elif t == "growth":
        r.budget = max(1, round(float(p["fraction"]) * int(study.base["budget"])))
    elif t == "ratio":
        a, b = study.settings["domains"]
        r.proportions = {a: float(p["ratio"]), b: 1.0 - float(p["ratio"])}
        r.budget = int(study.settings["total"])
        r.unit, r.stages, r.short = "samples", None, "take_all"
    elif t == "protocols":
        if p["protocol"] == "multi_stage":
            if not r.stages:
                spec, general = protocol_domains(study)
                r.stages = dmt_stages(spec, general, float(study.settings.get("replay", DMT_K)))
        else:
            r.stages = None
    return r


def provenance_recipe(r: Recipe, provenance: str, domains: list[str] | None = None) -> Recipe:
    """The recipe `r` drawing only from pools of one provenance: every component's filter gains
    `provenance = '<label>'`; with `domains` (those with items of that provenance), the proportions and stages
    keep only those domains (a domain with no such items would otherwise make the whole draw empty)."""
    r = copy.deepcopy(r)
    cond = f"provenance = {_quoted(provenance)}"
    for c in r.components:
        c.filter = cond if not c.filter else f"({c.filter}) AND {cond}"
    if domains is not None:
        keep = set(domains)
        if r.proportions:
            r.proportions = {d: v for d, v in r.proportions.items() if d in keep}
        if r.stages:
            stages = []
            for st in r.stages:
                doms = [d for d in st.domains if d in keep]
                if doms:
                    st.domains = doms
                    st.replay = {d: v for d, v in (st.replay or {}).items() if d == "*" or d in keep}
                    stages.append(st)
            r.stages = stages or None
    return r


def provenance_base(store: Store, study_base: dict, provenance: str) -> dict:
    """What the base mixture offers of one provenance: its domains with items of it and the largest budget of the
    base recipe drawn from those pools alone (each domain's share kept, capped at the base's budget), in the
    recipe's unit. StudyError when none of the base mixture's components reach a pool of that provenance."""
    try:
        base = copy.deepcopy(get_mixture(store, int(study_base["mixture_id"])).recipe)
    except MixtureError as e:
        raise StudyError(f"the base mixture {study_base.get('mixture')}: {e}") from None
    probe = provenance_recipe(base, provenance)
    probe.proportions, probe.budget, probe.stages = {}, None, None
    try:
        res = resolve(store, probe)
    except MixtureError as e:
        raise StudyError(f"provenance {provenance}: {e}") from None
    doms = sorted({it.domain for it in res.items})
    if not doms:
        raise StudyError(
            f"no sample of mixture {study_base.get('mixture')} comes from a pool of provenance {provenance!r} "
            "(label pools with workbench pool set-provenance POOL VALUE, or Pools p)"
        )
    full = provenance_recipe(base, provenance, doms)
    full.budget = None
    try:
        budget = int(resolve(store, full).budget)
    except MixtureError as e:
        raise StudyError(f"provenance {provenance}: {e}") from None
    return {"domains": doms, "budget": min(budget, int(study_base["budget"]))}


def cross_mixture(store: Store, study: Study, cell: Cell) -> int:
    """A cross cell's mixture: the base version's items of its one domain (engine.mixtures.domain_subset, the
    version a Conflict Rate specialist of that domain trains on: the same runs serve both)."""
    from engine.mixtures import domain_subset

    try:
        return int(domain_subset(store, int(study.base["mixture_id"]), cell.params["domain"]).id)
    except MixtureError as e:
        raise StudyError(f"cell {cell.key!r}: {e}") from None


def cell_run_settings(study: Study, cell: Cell) -> dict:
    """create_run's keyword arguments for a cell (the study's run settings; its seed as the training seed;
    protocols: the cell's protocol and, for sequential, the study's order)."""
    s = study.settings
    train = dict(s.get("train") or {})
    train["seed"] = int(cell.params.get("seed", train.get("seed", 0)))
    protocol = s.get("protocol") or "multi_task"
    order = s.get("order") if protocol == "sequential" else None
    if study.template == "protocols" and "protocol" in cell.params:
        protocol = cell.params["protocol"]
        if protocol == "sequential":
            spec, general = protocol_domains(study)
            order = s.get("order") or [*spec, *general]
        else:
            order = None
    return {
        "base_model": cell.params.get("model") or s.get("base_model"),
        "protocol": protocol,
        "order": order,
        "lora": dict(s.get("lora") or {}),
        "train": train,
    }


def mixture_name(study: Study, cell: Cell) -> str:
    """`<study>/<cell key>`, spaces as '/', without the model (the cells of several models share a mixture)."""
    return "/".join([study.name, *(part for part in cell.key.split(" ") if not part.startswith("model="))])


# -- volumes ----------------------------------------------------------------------------------------------------


def _volume_of_ids(store: Store, ids) -> CellVolume:
    ids = [int(i) for i in ids]
    if not ids:
        return CellVolume()
    rows = store.fetchall(
        "SELECT domain, count(*), coalesce(sum(n_tokens), 0) FROM samples WHERE id IN (SELECT unnest(?::BIGINT[])) "
        "AND NOT excluded GROUP BY domain ORDER BY domain",
        [ids],
    )
    return CellVolume(sum(int(r[1]) for r in rows), sum(int(r[2]) for r in rows), {str(r[0]): int(r[1]) for r in rows})


def cell_volume(store: Store, study: Study, cell: Cell) -> CellVolume:
    """What a cell would train on, without saving anything (plan): selection templates count the samples of
    their prefix (the random baseline from the seeded shuffle, saved or not), mixture templates resolve the
    cell's recipe."""
    from engine.quality.selection import selection_ids

    if cell.arm == "base":
        return CellVolume()
    t, p = study.template, cell.params
    if t in ("targeted", "quantiles"):
        if cell.arm == "random":
            n = p["budget"] if t == "targeted" else study.base["n"]
            return _volume_of_ids(store, random_order(store, study.base, p["seed"], n))
        name = study.base["selection"] if t == "targeted" else study.base["names"][int(p["quantile"])]
        try:
            ids = selection_ids(store, name)
        except KeyError as e:
            raise StudyError(str(e.args[0] if e.args else e)) from None
        return _volume_of_ids(store, ids[: p["budget"]] if t == "targeted" else ids)
    if t == "cross":
        rows = store.fetchall(
            "SELECT count(*), coalesce(sum(n_tokens), 0) FROM mixture_items WHERE mixture_id = ? AND domain = ? "
            "AND kind = 'sample'",
            [int(study.base["mixture_id"]), p["domain"]],
        )
        n, tok = (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
        return CellVolume(n, tok, {p["domain"]: n} if n else {})
    try:
        res = resolve(store, cell_recipe(store, study, cell))
    except MixtureError as e:
        raise StudyError(f"cell {cell.key!r}: {e}") from None
    per: dict[str, int] = {}
    for it in res.items:
        per[it.domain] = per.get(it.domain, 0) + 1
    return CellVolume(res.n_items, res.n_tokens, dict(sorted(per.items())))
