"""The model side of training: base model loading, precision, and the labelled-token loss."""

from __future__ import annotations

from engine.training.settings import TrainingError


def _body_and_head(model):
    """(decoder body, lm_head) of a (peft-wrapped) causal LM when the head is a plain projection, else None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = getattr(base, "config", None)
    if getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None):
        return None
    body = getattr(base, getattr(base, "base_model_prefix", "model"), None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    if body is None or head is None or body is base:
        return None
    return body, head


def token_losses(model, batch: dict, reduction: str = "mean"):
    """Cross-entropy of the labelled tokens of a batch. The LM head runs only at labelled positions (on a
    49k vocabulary that is a large share of the step). reduction "mean": one scalar (token mean); "none":
    (per-token losses, row index of each token)."""
    import torch
    import torch.nn.functional as F

    labels = batch["labels"]
    tgt = labels[:, 1:]
    sel = tgt != -100
    kw = {k: batch[k] for k in ("attention_mask", "position_ids") if k in batch}
    kw["use_cache"] = False  # with a cache transformers ignores the packed position ids (attention would cross)
    bh = _body_and_head(model)
    if bh is not None:
        body, head = bh
        hidden = body(input_ids=batch["input_ids"], **kw).last_hidden_state[:, :-1]
        logits = head(hidden[sel])
    else:
        logits = model(input_ids=batch["input_ids"], **kw).logits[:, :-1][sel]
    losses = F.cross_entropy(logits.float(), tgt[sel], reduction="none")
    if reduction == "none":
        rows = torch.arange(labels.shape[0], device=labels.device)[:, None].expand_as(tgt)[sel]
        return losses, rows
    return losses.mean()


def resolve_precision(device: str, bf16: str | bool) -> str:
    """ "bf16" on a CUDA GPU that supports it (bf16="auto" or True); on a CPU only when asked for (bf16=True), else
    "fp32". On a CPU bf16 means autocast (see `compute_context`); it is fast only with bf16 units
    (engine.core.hardware: AMX / AVX-512 BF16), and fp32 stays the default there."""
    import torch

    if bf16 in (False, "false", "no", "off"):
        return "fp32"
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    if bf16 in (True, "true", "yes", "on") and not device.startswith("cuda"):
        return "bf16"  # asked for explicitly
    return "fp32"


def cpu_autocast(device: str, precision: str) -> bool:
    """bf16 on a CPU runs as autocast: fp32 weights, norms, residual stream and loss; the matmuls in bf16 (on the
    CPU's bf16 units where it has them). On a GPU bf16 means bf16 weights (the LoRA adapters stay fp32)."""
    return precision == "bf16" and not device.startswith("cuda")


def precision_note(device: str, precision: str) -> str:
    """How a run computes, for its log: "fp32", "bf16 weights" or "bf16 autocast (amx_bf16, avx512_bf16)", with a
    warning when the CPU has no bf16 units."""
    if precision != "bf16":
        return "fp32"
    if not cpu_autocast(device, precision):
        return "bf16 weights, fp32 LoRA adapters"
    from engine.core.hardware import bf16_note, cpu_info

    note = bf16_note("cpu")
    units = ", ".join(cpu_info().bf16_units)
    return f"bf16 autocast ({units})" if note is None else f"bf16 autocast; warning: {note}"


def compute_context(device: str, precision: str):
    """The context every forward of a run goes under: bf16 autocast on a CPU run in bf16, else nothing."""
    import contextlib

    import torch

    if cpu_autocast(device, precision):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def load_base(spec: str, device: str, precision: str):
    """(model, tokenizer, model name) of a base model spec (engine.core.models: "smollm2", a folder, a .gguf, a
    cached hub id), on `device`, in training mode. Precision "bf16": bf16 weights on a GPU; on a CPU fp32 weights
    for autocast (`compute_context`) with eager attention (measured: torch's fused CPU attention backward in bf16
    took 2.5x the fp32 one and a quarter of the step, while eager attention's matmuls run on the bf16 units)."""
    import warnings

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from engine.core.models import ModelError, local_folder, resolve

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")

    try:
        src = resolve(spec)
        path = local_folder(src)
    except ModelError as e:
        raise TrainingError(str(e)) from e
    import torch

    kw = {"local_files_only": True} if src.kind == "hub" else {}
    dtype = torch.bfloat16 if precision == "bf16" and not cpu_autocast(device, precision) else torch.float32
    mkw = {"attn_implementation": "eager"} if cpu_autocast(device, precision) else {}
    try:
        tok = AutoTokenizer.from_pretrained(path, **kw)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw, **mkw)
    except OSError as e:
        raise TrainingError(f"cannot load base model {spec!r}: {e}") from e
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.to(device)
    return model, tok, src.name


def frozen_linears_to_bf16(model, device: str, precision: str) -> int:
    """For a CPU autocast run, once the LoRA adapters are in place: every frozen Linear weight in bf16. Autocast
    casts a weight that needs no gradient again at every forward (its cache keeps only trainable ones); a bf16 copy
    made once gives the same matmuls without the casts. Embeddings (and a head tied to them), norms, the residual
    stream and the adapters stay fp32. Returns how many Linear modules were cast (0 when not a CPU bf16 run)."""
    import torch

    if not cpu_autocast(device, precision):
        return 0
    emb = model.get_input_embeddings()
    tied = emb.weight if emb is not None else None
    n = 0
    for mod in model.modules():
        if isinstance(mod, torch.nn.Linear) and mod.weight is not tied and not mod.weight.requires_grad:
            mod.to(torch.bfloat16)
            n += 1
    return n
