"""Derived versions: the items of one or several domains of a saved version (specialists, pair runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.mixtures.recipe import MixtureError, Recipe
from engine.mixtures.resolution import DomainCount, Item, Resolution, _hash, _rng, resolve
from engine.mixtures.versioning import MixtureVersion, _insert_version, _items, get_mixture

if TYPE_CHECKING:
    from engine.core.store import Store


def _digests(store: Store, its: list[Item]) -> list[str]:
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


def _resolve_derived(store: Store, recipe: Recipe) -> Resolution:
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


def domains_subset(store: Store, mixture_id: int, domains: list[str]) -> MixtureVersion:
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


def domain_subset(store: Store, mixture_id: int, domain: str) -> MixtureVersion:
    """A derived version "<name>/only:<domain>" holding only the `domain` sample items of mixture version
    `mixture_id` (stages merged; repeats kept; order: a shuffle seeded by the parent's seed and the domain),
    for single-domain specialist runs. An existing version with the same items (same content hash, which does
    not depend on the parent's other domains) is reused; its recipe names the parent that first made it.
    `domains_subset` with one domain."""
    return domains_subset(store, mixture_id, [domain])
