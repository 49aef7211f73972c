"""The knobs of a RAISE job, apart from the engine so that the CLI and the app read their defaults without numpy or
torch: RaiseSettings (the episodes), PPOSettings (PPO and GAE), GPU_SCALE and settings_for (the defaults of the
device the job runs on), and RaiseError."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from engine.core.errors import InputError


class RaiseError(InputError):
    """Bad RAISE input (settings, pool, target); the message names what is wrong."""


# the knobs a person sets (the CLI's options, the RAISE form's fields): (their name, "settings" or "ppo", the
# field of RaiseSettings or PPOSettings)
KNOBS = (
    ("steps", "settings", "steps"),
    ("batch", "settings", "batch"),
    ("candidates", "settings", "candidates"),
    ("episodes", "settings", "episodes"),
    ("lr", "settings", "lr"),
    ("max_len", "settings", "max_len"),
    ("val_items", "settings", "val_items"),
    ("seed", "settings", "seed"),
    ("ppo_epochs", "ppo", "epochs"),
    ("clip", "ppo", "clip"),
    ("gamma", "ppo", "gamma"),
    ("gae_lambda", "ppo", "lam"),
    ("entropy", "ppo", "entropy_coef"),
    ("policy_lr", "ppo", "lr"),
    ("replay", "ppo", "replay_episodes"),
)

METRICS = ("nll", "accuracy")
# the target items the accuracy reward can check: those whose answer the model generates and a scorer reads
ACCURACY_SCORERS = ("gsm8k", "math", "code", "tool")


def metric_sign(metric: str) -> float:
    """+1 where a higher metric is better (accuracy), -1 where lower is (NLL): the reward of a step is
    sign x (metric after - metric before)."""
    return 1.0 if metric == "accuracy" else -1.0


@dataclass
class PPOSettings:
    """PPO / GAE knobs (ours where the paper gives none)."""

    gamma: float = 1.0  # rewards telescope to the final gain: no discount by default
    lam: float = 0.95
    clip: float = 0.2
    lr: float = 3e-3
    epochs: int = 4
    value_coef: float = 0.5
    entropy_coef: float = 0.01
    max_grad_norm: float = 1.0
    replay_episodes: int = 2  # transitions of the last N episodes are replayed in each update
    hidden: int = 32

    def validate(self) -> None:
        if not 0 < self.gamma <= 1:
            raise RaiseError(f"gamma must be in (0, 1] (got {self.gamma})")
        if not 0 <= self.lam <= 1:
            raise RaiseError(f"lam must be in [0, 1] (got {self.lam})")
        if not 0 < self.clip < 1:
            raise RaiseError(f"clip must be in (0, 1) (got {self.clip})")
        for name in ("epochs", "replay_episodes", "hidden"):
            if getattr(self, name) < 1:
                raise RaiseError(f"{name} must be >= 1 (got {getattr(self, name)})")
        if not self.lr > 0:
            raise RaiseError(f"lr must be > 0 (got {self.lr})")


@dataclass
class RaiseSettings:
    """The episode knobs. The defaults are a small trial on a CPU: SmolLM2-135M finishes one (policy training and
    the deploy rollout) in a few minutes on 2 cores, a tiny model in about a minute. On a CUDA GPU the knobs
    left out take GPU_SCALE instead (settings_for)."""

    steps: int = 6  # T: training steps per episode
    batch: int = 4  # B: samples per step
    candidates: int = 16  # the candidate subsample scored per step
    episodes: int = 4
    lr: float = 1e-3  # LoRA learning rate of the episodes (and of the deploy run)
    max_len: int = 256
    val_items: int = 8  # the fixed validation subset of the target eval pool
    metric: str = "nll"  # the reward's metric on the target subset: nll (default) or accuracy
    gen_tokens: int = 192  # accuracy: new tokens generated per target item (greedy)
    sem_dim: int = 16  # embedding columns kept in the state (a fixed random projection when wider)
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    target_modules: list[str] | str = field(default_factory=lambda: ["q_proj", "v_proj"])
    seed: int = 0
    device: str = "cpu"  # or auto (cuda when present), cuda, mps

    def validate(self) -> None:
        for name in (
            "steps",
            "batch",
            "candidates",
            "episodes",
            "val_items",
            "sem_dim",
            "lora_r",
            "max_len",
            "gen_tokens",
        ):
            if getattr(self, name) < 1:
                raise RaiseError(f"{name} must be >= 1 (got {getattr(self, name)})")
        if self.batch > self.candidates:
            raise RaiseError(f"batch ({self.batch}) must not exceed candidates ({self.candidates})")
        if self.metric not in METRICS:
            raise RaiseError(f"metric must be one of {', '.join(METRICS)} (got {self.metric!r})")
        if not self.lr > 0:
            raise RaiseError(f"lr must be > 0 (got {self.lr})")
        if isinstance(self.target_modules, str) and self.target_modules != "all-linear":
            self.target_modules = [m.strip() for m in self.target_modules.split(",") if m.strip()]


def settings_from(d: dict | None) -> RaiseSettings:
    d = dict(d or {})
    known = {f.name for f in fields(RaiseSettings)}
    bad = sorted(set(d) - known)
    if bad:
        raise RaiseError(f"unknown RAISE setting(s): {', '.join(bad)} (known: {', '.join(sorted(known))})")
    s = RaiseSettings(**d)
    s.validate()
    return s


# the knobs a CUDA GPU takes where they are not given (ours; methods.md 4: T of 20-100 and 100-300 target items at
# scale): a trial that still ends in minutes on one GPU with a model of SmolLM2's size
GPU_SCALE = {"steps": 20, "batch": 8, "candidates": 128, "episodes": 12, "val_items": 64, "max_len": 512}


def settings_for(d: dict | None) -> RaiseSettings:
    """settings_from, where knobs left out (or None) take the defaults of the device the job runs on: the
    dataclass's (a small CPU trial) on a CPU or MPS, GPU_SCALE on a CUDA GPU ("auto" resolves to one when present)."""
    d = {k: v for k, v in (d or {}).items() if v is not None}
    dev = str(d.get("device", RaiseSettings.device))
    if dev == "auto":
        from engine.core.models import pick_device

        dev = pick_device(dev)
    if dev.startswith("cuda"):
        d = GPU_SCALE | d
    return settings_from(d)


def as_dict(s: RaiseSettings) -> dict:
    return asdict(s)
