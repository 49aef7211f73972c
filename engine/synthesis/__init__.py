"""synthesis: new training items made from existing ones.

- `interpolation/`: MDIT interpolation sets: pairing (lambda ~ Beta), sets, features and the diversity
  step, views (preview, coverage, export).
- `mixup`: the mixup collate and loss used by the trainer.
- `worker`: the child process computing embedding-layer features.

Imports from core, data and geometry.
"""
