"""synthesis: new training items made from existing ones.

- `interpolation`: MDIT interpolation sets (pairing, lambda ~ Beta, diversity step, preview, coverage).
- `mixup`: the mixup collate and loss used by the trainer.
- `worker`: the child process computing embedding-layer features.

Imports from core, data and geometry.
"""
