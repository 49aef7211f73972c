"""Interpolation sets (MDIT task interpolation, arXiv 2504.07288): stored pairs of samples of two different
tasks with a mixing weight lam ~ Beta(alpha, alpha), a diversity step that keeps dense, representative mixes,
a preview of what lies between two samples, where mixes fall on a cluster map, and a table export.

The mixing itself happens at training time on the model's own input embeddings (engine.synthesis.mixup); a set only
stores *which* samples are mixed and with which lam. See docs/interpolation.md for the method and for which
parts are ours (the paper is silent on them): the pairing rules, the length alignment (engine.synthesis.mixup), the
diversity features and the per-cluster pick rule.

Sources: {"kind": "domain"|"pool"|"cluster"|"selection", "ref": ..., "filter": optional filter expression}
  domain     ref = domain name
  pool       ref = pool name or id
  cluster    ref = "CLUSTERING:K" (one cluster), "CLUSTERING:K1,K2" (several) or "CLUSTERING" (every non-noise
             cluster) of a saved clustering
  selection  ref = saved selection name
Excluded samples and samples of eval pools (pools.role = 'eval') are never used. A "task" is a sample's
domain: unless allow_same_task, a pair never joins two samples of the same domain; a sample is never paired
with itself.

Pairing (ours where the paper is silent; the paper pairs the k-th sample of task i with the k-th of task j):
  index    A and B in id order; pair k takes a = A[i], i = k mod |A|, r = k div |A| (the round), and the first
           b = B[j], j = i + r, i + r + 1, ... (mod |B|) that is valid for a and not yet paired with it. With two
           sources of different tasks and |A| <= |B| the first |A| pairs are exactly (A[k], B[k]).
  random   A visited in a seeded random order (cycling); each a gets a uniformly random valid b; a pair
           (a, b) is never repeated.
  nearest  A visited in a seeded random order (cycling); in round r each a is paired with its r-th nearest
           valid b by cosine of stored sentence embeddings (samples without an embedding are left out).
lam for pair k is the k-th draw of Beta(alpha, alpha) from numpy's Generator seeded with (seed, 1), so the
same seed gives the same lambdas whatever the pairing; the pairing's own randomness uses (seed, 2).

Modules: `model` (types), `pairing` (sources, pairing rules), `sets` (create, get, list, delete), `features`
(the diversity step), `views` (preview, coverage, export).
"""

from engine.synthesis.interpolation.features import (
    embedding_layer_features,
    mean_pooled,
    originals,
    proportional_quotas,
    select_diverse,
)
from engine.synthesis.interpolation.model import (
    FEATURES,
    PAIRINGS,
    SOURCE_KINDS,
    TEXT_EXPORT_MESSAGE,
    Coverage,
    DiversityResult,
    InterpolationError,
    InterpSet,
    Neighbour,
    Pair,
    PairPreview,
)
from engine.synthesis.interpolation.pairing import parse_source, resolve_source, source_label
from engine.synthesis.interpolation.sets import create_set, delete_set, get_set, list_sets, pairs
from engine.synthesis.interpolation.views import coverage, export_pairs, export_text, preview_pair

__all__ = [
    "SOURCE_KINDS",
    "PAIRINGS",
    "FEATURES",
    "TEXT_EXPORT_MESSAGE",
    "InterpolationError",
    "InterpSet",
    "Pair",
    "DiversityResult",
    "Neighbour",
    "PairPreview",
    "Coverage",
    "parse_source",
    "source_label",
    "resolve_source",
    "get_set",
    "list_sets",
    "create_set",
    "delete_set",
    "pairs",
    "mean_pooled",
    "embedding_layer_features",
    "originals",
    "proportional_quotas",
    "select_diverse",
    "preview_pair",
    "coverage",
    "export_text",
    "export_pairs",
]
