"""Domain mixtures: recipes, exact seeded resolution, saved versions, diffs, exports and training records.

A recipe names *components* (a pool, a domain, a cluster, a saved selection or an interpolation set, each
with an optional filter-language expression), per-domain *proportions*, a *unit* (samples or tokens), a
*budget*, sampling with or without replacement, a seed, a *short* policy and optional *stages*. `resolve`
turns it into an ordered list of items; `save` stores a version (content hash = recipe + resolved items).

Modules: `recipe` (Component, Stage, Recipe, validation, fractions, the stage-line syntax), `sources`
(the candidate items each component offers), `resolution` (quotas, seeded draws, short policies, stages,
content hash), `versioning` (save, list, get, items, diff), `subsets` (derived single- and two-domain
versions), `export` (training records, JSONL/Parquet files), `summary` (quality, diversity, preview, store
domains). This package re-exports their public names: `from engine.mixtures import resolve` and `mx.resolve`
both work (module names differ from function names, so `engine.mixtures.resolve` is always the function).

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

from engine.mixtures.export import MixtureExport, export_mixture, training_records
from engine.mixtures.recipe import (
    ALL_DOMAINS,
    DMT_K,
    KINDS,
    SHORT_POLICIES,
    STAGE_SYNTAX,
    UNITS,
    Component,
    MixtureError,
    Recipe,
    Stage,
    dmt_stages,
    format_stage,
    parse_fraction,
    parse_stages,
)
from engine.mixtures.resolution import DomainCount, Item, Resolution, largest_remainder, resolve
from engine.mixtures.sources import Candidates, candidates
from engine.mixtures.subsets import domain_subset, domains_subset
from engine.mixtures.summary import diversity_summary, preview, quality_summary, sample_ids_of, store_domains
from engine.mixtures.versioning import (
    MixtureVersion,
    diff,
    get_mixture,
    items,
    list_mixtures,
    list_versions,
    parse_ref,
    save,
    versions,
)

__all__ = [
    "ALL_DOMAINS",
    "Candidates",
    "Component",
    "DMT_K",
    "DomainCount",
    "Item",
    "KINDS",
    "MixtureError",
    "MixtureExport",
    "MixtureVersion",
    "Recipe",
    "Resolution",
    "SHORT_POLICIES",
    "STAGE_SYNTAX",
    "Stage",
    "UNITS",
    "candidates",
    "diff",
    "diversity_summary",
    "dmt_stages",
    "domain_subset",
    "domains_subset",
    "export_mixture",
    "format_stage",
    "get_mixture",
    "items",
    "largest_remainder",
    "list_mixtures",
    "list_versions",
    "parse_fraction",
    "parse_ref",
    "parse_stages",
    "preview",
    "quality_summary",
    "resolve",
    "sample_ids_of",
    "save",
    "store_domains",
    "training_records",
    "versions",
]
