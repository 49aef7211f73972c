"""Embedding-level mixup of two tokenised samples (MDIT task interpolation), used by the LoRA trainer.

MDIT (arXiv 2504.07288) mixes the model's own input embeddings of a sample of task A and a sample of task B,
`H = lam * E[ids_a] + (1 - lam) * E[ids_b]`, and the one-hot response labels the same way. With one-hot labels
the soft-label cross-entropy is exactly `lam * CE(labels_a) + (1 - lam) * CE(labels_b)`, which is what
`mixup_loss` computes (no vocabulary-sized soft-label tensor is built).

Length alignment (ours: the paper does not say). Both sides are right-padded to one length T, the longest
side in the batch:
  - input ids beyond a side's own length are `pad_id`, so the embedding of a pad position is the pad token's
    embedding (mixed like any other position);
  - the attention mask is 1 where either side has a real token, 0 where both are padding;
  - each side's labels are -100 beyond its own length (so a side is never trained on the other side's tail).

Loss (token means as in the plain trainer loss): with the usual causal shift (logits[:, :-1] against
labels[:, 1:]) and per-token cross-entropy `ce`,
  CE_a = sum_i lam_i * sum_t ce_a[i, t] / N_a        N_a = label positions != -100 of side a in the batch
  CE_b = sum_i (1 - lam_i) * sum_t ce_b[i, t] / N_b
  loss = CE_a + CE_b
With one lam for the whole batch this is `lam * mean_CE_a + (1 - lam) * mean_CE_b`; with lam = 1 it is exactly
the plain loss on the a samples (mean token CE over their label positions), because 1*x + 0*y == x in floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.core.errors import InputError

IGNORE = -100


class MixupError(InputError):
    """A mixup batch that cannot be built (the message names what is wrong)."""


def _as_list(x: Any, what: str, i: int) -> list[int]:
    if hasattr(x, "tolist"):
        x = x.tolist()
    try:
        out = [int(v) for v in x]
    except (TypeError, ValueError) as e:
        raise MixupError(f"example {i}: {what} must be a sequence of integers ({e})") from None
    return out


def mixup_collate(examples: Sequence[tuple], pad_id: int) -> dict:
    """Pad a list of `(ids_a, labels_a, ids_b, labels_b, lam)` into one mixup batch.

    Returns torch tensors `input_ids_a`, `input_ids_b`, `labels_a`, `labels_b`, `attention_mask` ([B, T],
    int64) and `lam` ([B], float32), aligned as the module docstring describes.
    """
    import torch

    if not examples:
        raise MixupError("mixup_collate needs at least one example")
    if pad_id is None:
        raise MixupError("mixup_collate needs a pad_id (the tokenizer has no pad token; use eos)")
    rows = []
    for i, ex in enumerate(examples):
        if len(ex) != 5:
            raise MixupError(f"example {i}: expected (ids_a, labels_a, ids_b, labels_b, lam), got {len(ex)} items")
        ids_a, lab_a, ids_b, lab_b, lam = ex
        ids_a, lab_a = _as_list(ids_a, "ids_a", i), _as_list(lab_a, "labels_a", i)
        ids_b, lab_b = _as_list(ids_b, "ids_b", i), _as_list(lab_b, "labels_b", i)
        if len(ids_a) != len(lab_a):
            raise MixupError(f"example {i}: ids_a has {len(ids_a)} tokens but labels_a has {len(lab_a)}")
        if len(ids_b) != len(lab_b):
            raise MixupError(f"example {i}: ids_b has {len(ids_b)} tokens but labels_b has {len(lab_b)}")
        if not ids_a or not ids_b:
            raise MixupError(f"example {i}: both sides need at least one token")
        lam = float(lam)
        if not 0.0 <= lam <= 1.0:
            raise MixupError(f"example {i}: lam must be in [0, 1], got {lam}")
        rows.append((ids_a, lab_a, ids_b, lab_b, lam))
    T = max(max(len(r[0]), len(r[2])) for r in rows)
    B = len(rows)
    ia = torch.full((B, T), int(pad_id), dtype=torch.long)
    ib = torch.full((B, T), int(pad_id), dtype=torch.long)
    la = torch.full((B, T), IGNORE, dtype=torch.long)
    lb = torch.full((B, T), IGNORE, dtype=torch.long)
    am = torch.zeros((B, T), dtype=torch.long)
    for i, (ids_a, lab_a, ids_b, lab_b, _) in enumerate(rows):
        na, nb = len(ids_a), len(ids_b)
        ia[i, :na] = torch.tensor(ids_a)
        la[i, :na] = torch.tensor(lab_a)
        ib[i, :nb] = torch.tensor(ids_b)
        lb[i, :nb] = torch.tensor(lab_b)
        am[i, : max(na, nb)] = 1
    lam = torch.tensor([r[4] for r in rows], dtype=torch.float32)
    return {"input_ids_a": ia, "input_ids_b": ib, "labels_a": la, "labels_b": lb, "attention_mask": am, "lam": lam}


@dataclass
class MixupTerms:
    """The parts of one mixup loss: `loss = ce_a + ce_b` (already lam-weighted), token counts of each side."""

    loss: Any  # torch scalar with grad
    ce_a: Any  # lam-weighted mean CE of side a (detached)
    ce_b: Any  # (1 - lam)-weighted mean CE of side b (detached)
    n_a: int
    n_b: int


def mixed_embeddings(model, batch: dict):
    """`lam * E[ids_a] + (1 - lam) * E[ids_b]` from the model's own input-embedding layer, [B, T, H]."""
    emb = model.get_input_embeddings()
    dev = emb.weight.device
    ea = emb(batch["input_ids_a"].to(dev))
    eb = emb(batch["input_ids_b"].to(dev))
    lam = batch["lam"].to(dev, dtype=ea.dtype)[:, None, None]
    return lam * ea + (1 - lam) * eb


def _token_ce(logits, labels):
    """Per-token CE with the causal shift: [B, T-1] (0 where the label is -100) and the valid mask."""
    import torch.nn.functional as F

    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:].to(shift_logits.device)
    B, T1, V = shift_logits.shape
    ce = F.cross_entropy(
        shift_logits.reshape(-1, V), shift_labels.reshape(-1), ignore_index=IGNORE, reduction="none"
    ).view(B, T1)
    return ce, shift_labels != IGNORE


def mixup_terms(model, batch: dict) -> MixupTerms:
    """Forward the mixed embeddings and return the loss with its parts (see the module docstring)."""
    embeds = mixed_embeddings(model, batch)
    dev = embeds.device
    out = model(inputs_embeds=embeds, attention_mask=batch["attention_mask"].to(dev), use_cache=False)
    logits = out.logits
    lam = batch["lam"].to(logits.device).float()
    ce_a, ma = _token_ce(logits, batch["labels_a"])
    ce_b, mb = _token_ce(logits, batch["labels_b"])
    n_a, n_b = int(ma.sum()), int(mb.sum())
    if n_a == 0 and n_b == 0:
        raise MixupError("mixup batch has no label positions on either side (all labels are -100)")
    term_a = (lam * ce_a.sum(dim=1)).sum() / n_a if n_a else ce_a.sum() * 0.0
    term_b = ((1 - lam) * ce_b.sum(dim=1)).sum() / n_b if n_b else ce_b.sum() * 0.0
    loss = term_a + term_b
    return MixupTerms(loss=loss, ce_a=term_a.detach(), ce_b=term_b.detach(), n_a=n_a, n_b=n_b)


def mixup_loss(model, batch: dict):
    """Mixup loss of a `mixup_collate` batch: inputs_embeds = lam*E[a] + (1-lam)*E[b], loss = lam*CE_a +
    (1-lam)*CE_b over each side's label positions (token means; lam = 1 gives the plain loss on a)."""
    return mixup_terms(model, batch).loss


def plain_loss(model, input_ids, labels, attention_mask=None):
    """The reference plain loss: mean token CE over label positions != -100, causal shift (for tests/metrics)."""
    dev = model.get_input_embeddings().weight.device
    out = model(
        input_ids=input_ids.to(dev),
        attention_mask=None if attention_mask is None else attention_mask.to(dev),
        use_cache=False,
    )
    ce, m = _token_ce(out.logits, labels)
    n = int(m.sum())
    if n == 0:
        raise MixupError("no label positions (all labels are -100)")
    return ce.sum() / n
