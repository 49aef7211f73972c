"""Interpolation sets' types: the set, pair, preview, coverage and diversity-step records, and the error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.core.errors import InputError

SOURCE_KINDS = ("domain", "pool", "cluster", "selection")
PAIRINGS = ("random", "index", "nearest")
FEATURES = ("embedding_layer", "sentence")
TEXT_EXPORT_MESSAGE = (
    "an interpolation set cannot be exported as text: MDIT mixes the model's input embeddings of two samples "
    "(lam*E[a] + (1-lam)*E[b]) at training time, and such a mixture has no text form. Export the pairs with "
    "their lam as a table instead (`workbench interpolate export-pairs NAME PATH`)."
)


class InterpolationError(InputError):
    """An interpolation request that cannot be honoured (the message says why)."""


@dataclass
class InterpSet:
    id: int
    name: str
    source_a: dict
    source_b: dict
    alpha: float
    n_pairs: int
    pairing: str
    seed: int
    params: dict
    content_hash: str
    created_at: Any = None
    note: str | None = None
    n_kept: int = 0


@dataclass
class Pair:
    pair_index: int
    sample_a: int
    sample_b: int
    lam: float
    kept: bool
    cluster: int | None
    why: str | None
    domain_a: str | None = None
    domain_b: str | None = None
    instruction_a: str | None = None
    instruction_b: str | None = None


@dataclass
class DiversityResult:
    n_pairs: int
    n_kept: int
    k: int
    features: str
    n_originals: int
    clusters: list[dict]  # cluster, size, n_mixes, n_originals, quota, kept
    seconds: float


@dataclass
class Neighbour:
    sample_id: int
    domain: str
    cosine: float
    instruction: str


@dataclass
class PairPreview:
    pair_index: int
    lam: float
    kept: bool
    cluster: int | None
    why: str | None
    a: dict  # sample_id, domain, pool, instruction, response
    b: dict
    cos_a: float | None  # cosine of the interpolated point to sample a / sample b
    cos_b: float | None
    nearest: list[Neighbour]
    embedding: str  # "model/text_kind" used


@dataclass
class Coverage:
    clustering: str
    placement: str  # how mixes were put on the map (text for the UI)
    n_clusters: int
    n_mixes: int  # mixes placed
    n_unplaced: int  # pairs whose samples lack an embedding of the clustering's model
    n_mixes_noise: int
    covered_originals: int  # non-noise clusters holding at least one pair sample
    covered_with_mixes: int  # ... or a mix
    new_clusters: list[int]  # clusters reached only by mixes
    per_cluster: dict[int, dict]  # cluster -> {"originals": n, "mixes": n}
    pair_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
