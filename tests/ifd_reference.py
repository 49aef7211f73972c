"""Golden batch-1 reference for IFD, written like the papers' code: two forwards per sample, full logits,
HF's built-in shifted cross-entropy through `labels`. Used by tests/test_ifd.py and bench/scoring.py.

Superfiltering: tianyi-lab/Superfiltering code_ifd/data_analysis.py (+ put_analysis_to_data.py).
Cherry: tianyi-lab/Cherry_LLM cherry_seletion/data_analysis.py (--mod cherry) + data_by_IFD.py.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.quality.ifd import cherry_texts


def _part_loss(tok, model, text, target_span, max_length):
    input_ids = tok.encode(text, return_tensors="pt", truncation=True, max_length=max_length).to(model.device)
    start_token = len(tok.encode(text[: text.rfind(target_span)]))
    labels = input_ids.clone()
    labels[0, :start_token] = -100
    with torch.no_grad():
        out = model(input_ids, labels=labels)
    return out.loss.item(), out.logits, input_ids


def superfiltering_reference(model, tok, prompt: str, output: str, max_length: int = 1024) -> dict:
    """ppl/loss direct and conditioned, IFD = ppl_cond / ppl_direct (NaN for an empty output)."""
    if output == "":
        return {"ifd": math.nan}
    instr_len = tok.encode(prompt, return_tensors="pt", truncation=True, max_length=max_length).shape[1]
    ids_a = tok.encode(output, return_tensors="pt", truncation=True, max_length=max_length - instr_len + 1).to(
        model.device
    )
    with torch.no_grad():
        loss_direct = model(ids_a, labels=ids_a.contiguous()).loss.item()
    whole = prompt + output
    loss_cond, _, _ = _part_loss(tok, model, whole, output, max_length)
    ppl_d, ppl_c = math.exp(loss_direct), math.exp(loss_cond)
    return {
        "loss_direct": loss_direct,
        "loss_cond": loss_cond,
        "ppl_direct": ppl_d,
        "ppl_cond": ppl_c,
        "ifd": ppl_c / ppl_d,
    }


def _token_losses(logits, input_ids):
    lp = torch.log_softmax(logits[0].float(), dim=-1)
    return [-lp[i - 1, input_ids[0, i]].item() for i in range(1, input_ids.shape[1])]


def cherry_reference(model, tok, item, max_length: int = 512, template: str = "alpaca") -> float:
    """Cherry's mean_2 / mean_1 (NaN where Cherry skips the sample)."""
    if item.response == "":
        return math.nan
    instruct, whole, direct = cherry_texts(item, template)
    instr_len = tok.encode(instruct, return_tensors="pt", truncation=True, max_length=max_length).shape[1]
    if max_length - instr_len - 2 <= 4:
        return math.nan

    def part(text, ml):
        _, logits, ids = _part_loss(tok, model, text, item.response, ml)
        losses = _token_losses(logits, ids)
        start = len(tok.encode(text[: text.rfind(item.response)]))
        end = ids.shape[1]
        return end - start, np.array(losses[start - 1 : end - 1])

    len1, l1 = part(direct, max_length - instr_len - 2)
    len2, l2 = part(whole, max_length)
    if len1 == 0 or len2 == 0 or instr_len + len1 > max_length:
        return math.nan
    return float(l2.mean() / l1.mean())
