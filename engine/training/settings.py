"""Training settings: the LoRA adapter and the trainer (defaults, validation), and the run config they form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TypeVar

from engine.core.errors import InputError

PROTOCOLS = ("multi_task", "sequential", "multi_stage")
PACKING = ("packed", "grouped", "padded")
_S = TypeVar("_S", "LoraSettings", "TrainSettings")


class TrainingError(InputError):
    """Bad training input (settings, data, model); the message names what is wrong."""


@dataclass
class LoraSettings:
    """LoRA adapter settings (peft LoraConfig). target_modules: module names or "all-linear"."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | str = field(default_factory=lambda: ["q_proj", "v_proj"])

    def validate(self) -> None:
        if self.r < 1:
            raise TrainingError(f"lora r must be >= 1 (got {self.r})")
        if self.alpha <= 0:
            raise TrainingError(f"lora alpha must be > 0 (got {self.alpha})")
        if not 0 <= self.dropout < 1:
            raise TrainingError(f"lora dropout must be in [0, 1) (got {self.dropout})")
        if isinstance(self.target_modules, str):
            if self.target_modules != "all-linear":
                self.target_modules = [m.strip() for m in self.target_modules.split(",") if m.strip()]
        if not self.target_modules:
            raise TrainingError("lora target_modules is empty")


@dataclass
class TrainSettings:
    """Training settings. One step = one optimizer step over `grad_accum` micro-batches.

    epochs: passes over the data (per phase for sequential / multi_stage); max_steps caps the steps (when the
    data runs out first, the plan repeats with a new shuffle). packing: "grouped" (default) batches examples of
    similar length, "packed" concatenates examples into rows of max_len tokens (position ids restart per
    example, so attention never crosses examples), "padded" is plain padding in data order (baseline).
    batch_size: rows (packed) or examples per micro-batch; batch_tokens (optional) sets it from a token budget
    instead. eval_every / save_every / grad_conflict_every: steps (0 = only at the end / never).
    eval_per_domain: examples per domain for the per-domain eval loss, held out of training when the domain
    has at least 4x as many (else drawn from the training examples; config.json says which).
    """

    epochs: float = 1.0
    max_steps: int | None = None
    lr: float = 2e-4
    batch_size: int = 8
    batch_tokens: int | None = None
    grad_accum: int = 1
    max_len: int = 1024
    packing: str = "grouped"  # measured faster than "packed" on CPU (bench/training.py, docs/runs.md)
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    device: str = "auto"
    bf16: str | bool = "auto"
    gradient_checkpointing: bool = False
    eval_every: int = 50
    eval_per_domain: int = 16
    save_every: int = 100
    keep_checkpoints: int = 2
    grad_conflict_every: int = 50  # the live gradient-conflict probe: ~D*grad_conflict_batch examples per 50 steps
    grad_conflict_batch: int = 4
    log_every: int = 1
    group_window: int = 64  # micro-batches per length-grouping / packing window

    def validate(self) -> None:
        if self.packing not in PACKING:
            raise TrainingError(f"packing must be one of {', '.join(PACKING)} (got {self.packing!r})")
        for name in ("batch_size", "grad_accum", "max_len", "log_every", "group_window", "grad_conflict_batch"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be >= 1 (got {getattr(self, name)})")
        if self.max_len < 8:
            raise TrainingError(f"max_len must be >= 8 (got {self.max_len})")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainingError(f"max_steps must be >= 1 (got {self.max_steps})")
        if self.epochs <= 0:
            raise TrainingError(f"epochs must be > 0 (got {self.epochs})")
        if not self.lr > 0:
            raise TrainingError(f"lr must be > 0 (got {self.lr})")
        if not 0 <= self.warmup_ratio < 1:
            raise TrainingError(f"warmup_ratio must be in [0, 1) (got {self.warmup_ratio})")
        for name in ("eval_every", "save_every", "grad_conflict_every", "eval_per_domain", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise TrainingError(f"{name} must be >= 0 (got {getattr(self, name)})")


def settings_from_dict(cls: type[_S], d: dict | None) -> _S:
    """A LoraSettings / TrainSettings from a dict; unknown keys are an error naming them."""
    d = dict(d or {})
    known = {f.name for f in fields(cls)}
    bad = sorted(set(d) - known)
    if bad:
        raise TrainingError(f"unknown {cls.__name__} field(s): {', '.join(bad)} (known: {', '.join(sorted(known))})")
    return cls(**d)


def config_dict(
    *, base_model: str, protocol: str, order: list[str] | None, lora: LoraSettings, train: TrainSettings
) -> dict:
    """The resolved run config as written to config.json (without the data description)."""
    return {
        "base_model": base_model,
        "protocol": protocol,
        "order": order,
        "lora": asdict(lora),
        "train": asdict(train),
    }
