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
    """ "bf16" on a CUDA GPU that supports it (bf16="auto" or True), else "fp32" (bf16 is slow on CPUs)."""
    import torch

    if bf16 in (False, "false", "no", "off"):
        return "fp32"
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    if bf16 in (True, "true", "yes", "on") and not device.startswith("cuda"):
        return "bf16"  # asked for explicitly
    return "fp32"


def load_base(spec: str, device: str, precision: str):
    """(model, tokenizer, model name) of a base model spec (engine.core.models: "smollm2", a folder, a .gguf, a
    cached hub id), on `device`, in training mode."""
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
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    try:
        tok = AutoTokenizer.from_pretrained(path, **kw)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
    except OSError as e:
        raise TrainingError(f"cannot load base model {spec!r}: {e}") from e
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.to(device)
    return model, tok, src.name
