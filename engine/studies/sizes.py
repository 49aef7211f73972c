"""A base model's size in parameters, read without loading it (a growth study over several models reads its
growth pace against model size).

In order: the tensors of its safetensors files (their headers' shapes: exact), a GGUF file's tensors (exact), else
an estimate from config.json (embeddings, attention with grouped KV heads, a gated MLP per layer, a separate
output matrix unless tied: decoder-only transformers of the Llama family), found in the folder or, for a hub id,
in the local Hugging Face cache (nothing is downloaded). None when none of these is there: the study then reads
the models in the order given.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path


def _safetensors(folder: Path) -> int | None:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for f in files:
        try:
            with open(f, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                if n <= 0 or n > 100 * 1024 * 1024:
                    return None
                header = json.loads(fh.read(n))
        except (OSError, ValueError, struct.error):
            return None
        for name, t in header.items():
            if name != "__metadata__" and isinstance(t, dict) and "shape" in t:
                total += math.prod(int(x) for x in t["shape"])
    return total or None


def _gguf(file: Path) -> int | None:
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(file))
        return int(sum(int(t.n_elements) for t in reader.tensors)) or None
    except Exception:  # noqa: BLE001 - no gguf package, or not a file it reads: size unknown
        return None


def from_config(cfg: dict) -> int | None:
    """Parameters of a decoder-only transformer from its config.json (an estimate: biases and norms left out)."""
    cfg = cfg.get("text_config") or cfg
    h = cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("d_model")
    layers = cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg.get("num_layers")
    vocab = cfg.get("vocab_size")
    if not (h and layers and vocab):
        return None
    heads = cfg.get("num_attention_heads") or cfg.get("n_head") or 1
    kv = cfg.get("num_key_value_heads") or heads
    head_dim = cfg.get("head_dim") or h // heads
    inter = cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * h
    gated = cfg.get("model_type") not in ("gpt2", "gpt_neox", "opt", "bloom", "falcon")
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2
    mlp = h * inter * (3 if gated else 2)
    emb = vocab * h * (1 if cfg.get("tie_word_embeddings", True) else 2)
    return int(layers * (attn + mlp) + emb)


def _hub_folder(repo: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        got = try_to_load_from_cache(repo, "config.json")
    except Exception:  # noqa: BLE001 - no hub package or an id it refuses: not cached
        return None
    return Path(got).parent if isinstance(got, str) else None


def model_parameters(spec: str) -> int | None:
    """The parameters of a base model given as a folder, a .gguf file or a hub id (see the module docstring)."""
    from engine.core.models import ModelError, resolve

    p = Path(str(spec)).expanduser()
    try:
        src = resolve(str(spec))
    except ModelError:
        return None
    if src.kind == "gguf":
        return _gguf(Path(src.path) / (src.gguf_file or ""))
    folder = p if p.is_dir() else _hub_folder(str(spec))
    if folder is None:
        return None
    n = _safetensors(folder)
    if n:
        return n
    try:
        return from_config(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
