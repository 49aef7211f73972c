"""Evaluation settings and records: the error type, run rows, EvalSettings, EvalSummary."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.errors import InputError

if TYPE_CHECKING:
    from engine.core.store import Store

SCORER_VERSION = "2"  # 2: BFCL-faithful tool calls, new math/gsm8k extraction, two-sandbox code verdicts


class EvaluationError(InputError):
    """Bad evaluation input (unknown run or pool, a pool that is not an eval set, nothing to evaluate...)."""


def _loads(v):
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


# -- runs --------------------------------------------------------------------------------------------------
@dataclass
class RunRow:
    """What evaluation needs of a run (read from the runs table, schema v3)."""

    id: int
    name: str
    kind: str
    status: str
    base_model: str | None
    folder: str | None
    mixture_id: int | None
    parent_run_id: int | None
    domain: str | None
    protocol: str | None
    content_hash: str | None
    config: dict

    @property
    def adapter(self) -> str | None:
        """The run's final LoRA adapter folder (None for a base run or when it has none yet)."""
        if self.kind == "base" or not self.folder:
            return None
        p = Path(self.folder) / "adapter"
        return str(p) if p.is_dir() else None


_RUN_COLS = (
    "id, name, coalesce(kind, 'mixture'), status, base_model, folder, mixture_id, parent_run_id, domain, "
    "protocol, content_hash, config"
)


def _run_from_row(r) -> RunRow:
    cfg = _loads(r[11]) or {}
    return RunRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4] or (cfg.get("base_model") if isinstance(cfg, dict) else None),
        r[5],
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],
        cfg if isinstance(cfg, dict) else {},
    )


def get_run_row(store: Store, run) -> RunRow:
    """A run by id or name."""
    con = store.cursor()
    try:
        rows = []
        if isinstance(run, int) or str(run).isdigit():
            rows = con.execute(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", [int(run)]).fetchall()
        if not rows:
            rows = con.execute(f"SELECT {_RUN_COLS} FROM runs WHERE name = ? ORDER BY id DESC", [str(run)]).fetchall()
    finally:
        con.close()
    if not rows:
        raise EvaluationError(f"no run {run!r}")
    return _run_from_row(rows[0])


# -- jobs --------------------------------------------------------------------------------------------------
@dataclass
class EvalSettings:
    """Generation settings of an evaluation (part of its content hash)."""

    max_new_tokens: int = 256
    batch_size: int = 8
    greedy: bool = True
    temperature: float = 0.0
    max_len: int = 1024  # prompt + continuation tokens for NLL / option scoring
    choice_normalize: bool = True  # multiple choice: per-token log-likelihood
    device: str = "auto"
    dtype: str | None = None
    chunk: int = 16  # items per chunk file
    sandbox_timeout_s: float = 10.0
    sandbox_unisolated: bool = False  # run generated code even where kernel isolation is missing (opt-in)
    threads: int | None = None  # torch CPU threads in the worker (None: half the cores, at least 1)


@dataclass
class EvalSummary:
    """One evaluations row: a run on one eval pool, one domain."""

    id: int
    run_id: int
    eval_set: str
    domain: str
    metric: str  # 'accuracy' (scorers with right/wrong) or 'nll'
    value: float | None
    n: int
    details: dict = field(default_factory=dict)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _require_sandbox(pool: str, s: EvalSettings) -> None:
    """Refuse before any generation when code items would run where kernel isolation is missing."""
    from engine.evaluation.sandbox import SandboxUnavailable, isolation, require_isolation

    try:
        require_isolation(s.sandbox_unisolated)
    except SandboxUnavailable as e:
        raise EvaluationError(
            f"pool {pool!r} has code items and generated code is not run without isolation: "
            f"{isolation().reason}. To fix: {SandboxUnavailable.hint}"
        ) from e
