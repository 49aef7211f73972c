"""RAISE (Reinforced Adaptive Instruction SElection, methods.md section 4): a learned, task-driven choice of the
batch at every training step, trained with PPO on the per-step gain of a validation metric. See docs/raise.md.

- settings: the knobs (RaiseSettings, PPOSettings, the GPU defaults) and RaiseError, light to import;
- policy: the fused state, the MLP acquisition function and value head, the cluster-balanced set distribution,
  GAE and PPO (no store, no model);
- env: episodes of LoRA steps on a real model from the same start, rewards from the validation NLL;
- job: policy training in a job folder (checkpoint per episode, resume), deploy as a queued run.
"""

from engine.raise_rl.settings import PPOSettings, RaiseError

__all__ = ["PPOSettings", "RaiseError"]
