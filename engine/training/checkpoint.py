"""Checkpoints of a run folder: `checkpoints/step-N/` holds the LoRA adapter and `state.pt` (optimizer, scheduler,
RNG states, step and data position); written under a `.partial` name and renamed, so a listed one is complete."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path


def _rng_state() -> dict:
    import numpy as np
    import torch

    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    import numpy as np
    import torch

    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run folder, oldest first: (step, path)."""
    out = []
    for p in (Path(folder) / "checkpoints").glob("step-*"):
        if p.is_dir() and (p / "state.pt").is_file() and not p.name.endswith(".partial"):
            try:
                out.append((int(p.name.split("-", 1)[1]), p))
            except ValueError:
                pass
    return sorted(out)


def save_checkpoint(folder: Path, model, opt, sched, step: int, extra: dict, keep: int) -> Path:
    import torch

    root = folder / "checkpoints"
    root.mkdir(exist_ok=True)
    final = root / f"step-{step}"
    tmp = root / f"step-{step}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    torch.save(
        {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": _rng_state(), "step": step, **extra},
        tmp / "state.pt",
    )
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for _s, p in checkpoints(folder)[: -max(keep, 1)]:
        shutil.rmtree(p, ignore_errors=True)
    return final


def load_checkpoint(path: Path, model, opt, sched, device: str) -> dict:
    """Restore adapter weights, optimizer, scheduler and RNG states from checkpoint `path`; returns its state
    dict ("step", "tokens_seen", ...)."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(path / "adapter_model.safetensors"), device=device))
    st = torch.load(path / "state.pt", weights_only=False, map_location="cpu")  # RNG states must stay on the CPU
    opt.load_state_dict(st["optimizer"])
    sched.load_state_dict(st["scheduler"])
    _set_rng_state(st["rng"])
    return st
