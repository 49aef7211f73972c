"""IFD (Superfiltering and Cherry variants) and response perplexity, batched and padding-correct.

Definitions (see docs/metrics.md and ../shared/docs/methods.md §2):

Superfiltering (tianyi-lab/Superfiltering, code_ifd/data_analysis.py), no chat template:
    prompt  = "{instruction}\\n{input}\\n"  (here: the user turn(s) + "\\n", see `superfiltering_texts`)
    whole   = prompt + response
    instr_len   = len(encode(prompt, truncation, max_length))
    direct ids  = encode(response, truncation, max_length - instr_len + 1); every token but the first is scored
    cond ids    = encode(whole, truncation, max_length); scored from start = len(encode(whole[:rfind(response)]))
    L_direct, L_cond = mean token cross-entropy over the scored tokens (HF's shifted CE)
    ppl_direct = exp(L_direct), ppl_cond = exp(L_cond), IFD = ppl_cond / ppl_direct

Cherry (tianyi-lab/Cherry_LLM, cherry_seletion/data_analysis.py + data_by_IFD.py), Alpaca or "wiz" template:
    instruct = template prompt; instr_len = len(encode(instruct, truncation, max_length))
    direct = "### Response:" + output, truncated to max_length - instr_len - 2
    whole  = instruct + output (alpaca) / instruction + "\\n\\n### Response:" + output (wiz)
    losses sliced to the output tokens [start, end) in both; mean_1 (direct), mean_2 (whole)
    cherry_ifd = mean_2 / mean_1 (a ratio of mean losses). NULL when Cherry skips the sample
    (prompt leaves <= 4 tokens, output truncated away, or instr_len + len_1 > max_length).

Where the reference code writes 0 on an exception or NaN on an empty output, we store NULL with a reason.

Speed: both passes of all samples in a chunk are sorted by length and batched under a token budget;
the model body runs once per batch and the LM head (the 49k-vocab matmul) runs only at the positions that
predict scored tokens. Right or left padding is masked and, for left padding, position ids are shifted,
so results equal the batch-1 reference (tests/ifd_reference.py) up to float noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

CHERRY_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
CHERRY_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)


@dataclass(frozen=True)
class IFDParams:
    """Knobs of the model-based scores (stored with every score through its params hash)."""

    max_length: int = 1024  # Superfiltering's default (Cherry uses 512)
    cherry_max_length: int = 512
    cherry_template: str = "alpaca"  # "alpaca" | "wiz"
    padding_side: str = "right"
    token_budget: int | None = None  # padded tokens per forward batch; None = auto by device

    def as_dict(self) -> dict:
        return {
            "max_length": self.max_length,
            "cherry_max_length": self.cherry_max_length,
            "cherry_template": self.cherry_template,
        }


@dataclass
class Item:
    """One sample to score: the texts both variants need."""

    sample_id: int
    prompt: str  # Superfiltering prompt (ends with "\n")
    response: str
    instruction: str  # for Cherry's template
    input: str = ""


@dataclass
class Seq:
    ids: list[int]
    start: int  # first scored token index (>= 1)
    end: int  # one past the last scored token
    nll: list[float] = field(default_factory=list)


# -------------------------------------------------------------------------------------------------
# texts from stored samples


def superfiltering_texts(messages: list[dict], system: str | None = None) -> tuple[str, str]:
    """(prompt, response) for a stored conversation, the Superfiltering way (no chat template).

    Single turn: prompt = user content + "\\n". For Alpaca records imported as
    user = instruction + "\\n" + input this is exactly Superfiltering's "{instruction}\\n{input}\\n".
    Multi-turn (Workbench's own extension; the papers score single turns only): every message before the
    last assistant turn contributes its content (tool calls as JSON) + "\\n"; a system prompt is not used.
    """
    import json

    last = None
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "assistant":
            last = i
            break
    if last is None:
        return "".join(_content(m) + "\n" for m in messages), ""
    prompt = "".join(_content(m) + "\n" for m in messages[:last] if m.get("role") != "system")
    resp = _content(messages[last])
    if not resp and messages[last].get("tool_calls"):
        resp = json.dumps(messages[last]["tool_calls"], ensure_ascii=False)
    return prompt, resp


def _content(m: dict) -> str:
    import json

    c = m.get("content")
    if isinstance(c, str):
        text = c
    elif isinstance(c, list):  # content parts
        text = "".join(p.get("text", "") for p in c if isinstance(p, dict))
    else:
        text = ""
    if m.get("tool_calls") and not text:
        text = json.dumps(m["tool_calls"], ensure_ascii=False)
    return text


def cherry_texts(item: Item, template: str) -> tuple[str, str, str]:
    """(instruct, whole, direct) texts of the Cherry code for one item."""
    out = item.response
    direct = "### Response:" + out
    if template == "wiz":
        whole = item.instruction + "\n\n### Response:" + out
        if item.input:
            whole = item.instruction + "\nInput:" + item.input + "\n\n### Response:" + out
        return item.instruction, whole, direct
    if item.input:
        instruct = CHERRY_PROMPT_INPUT.format_map({"instruction": item.instruction, "input": item.input})
    else:
        instruct = CHERRY_PROMPT_NO_INPUT.format_map({"instruction": item.instruction})
    return instruct, instruct + out, direct


# -------------------------------------------------------------------------------------------------
# tokenisation (exactly the reference calls)


def _enc(tok, text: str, max_length: int | None = None) -> list[int]:
    if max_length is None:
        return tok.encode(text)
    return tok.encode(text, truncation=True, max_length=max_length)


def prepare_superfiltering(tok, item: Item, max_length: int) -> tuple[Seq | None, Seq | None, str | None, int]:
    """(direct, cond, reason_if_unscorable, instr_len)."""
    if item.response == "":
        return None, None, "empty response", 0
    instr_len = len(_enc(tok, item.prompt, max_length))
    if max_length - instr_len + 1 < 2:
        return None, None, f"prompt fills max_length ({max_length} tokens)", instr_len
    ids_a = _enc(tok, item.response, max_length - instr_len + 1)
    whole = item.prompt + item.response
    ids = _enc(tok, whole, max_length)
    start = len(_enc(tok, whole[: whole.rfind(item.response)]))
    direct = Seq(ids_a, 1, len(ids_a))
    cond = Seq(ids, max(start, 1), len(ids))
    if direct.end - direct.start < 1:
        return None, None, "response has fewer than 2 tokens", instr_len
    if cond.end - cond.start < 1:
        return None, None, f"response truncated away (prompt {instr_len} tokens, max_length {max_length})", instr_len
    return direct, cond, None, instr_len


def prepare_cherry(tok, item: Item, max_length: int, template: str) -> tuple[Seq | None, Seq | None, str | None, int]:
    """(direct, whole, reason_if_skipped, instr_len) following Cherry's data_analysis + data_by_IFD."""
    if item.response == "":
        return None, None, "empty response", 0
    instruct, whole, direct_text = cherry_texts(item, template)
    instr_len = len(_enc(tok, instruct, max_length))
    if max_length - instr_len - 2 <= 4:
        return None, None, f"prompt leaves no room (Cherry skips: {instr_len} of {max_length} tokens)", instr_len
    ids1 = _enc(tok, direct_text, max_length - instr_len - 2)
    s1 = len(_enc(tok, direct_text[: direct_text.rfind(item.response)]))
    ids2 = _enc(tok, whole, max_length)
    s2 = len(_enc(tok, whole[: whole.rfind(item.response)]))
    len1, len2 = len(ids1) - s1, len(ids2) - s2
    if len1 <= 0 or len2 <= 0:
        return None, None, "response truncated away (Cherry skips)", instr_len
    if instr_len + len1 > max_length:
        return None, None, "response truncated (Cherry skips: instr_len + len_1 > max_length)", instr_len
    return Seq(ids1, max(s1, 1), len(ids1)), Seq(ids2, max(s2, 1), len(ids2)), None, instr_len


# -------------------------------------------------------------------------------------------------
# the batched forward


def auto_token_budget(device: str) -> int:
    """Padded tokens per forward batch: small on CPU (cache-friendly), large on a GPU."""
    return 1024 if device == "cpu" else 65536


def _needs_full_logits(model) -> bool:
    cfg = model.config
    return bool(
        getattr(cfg, "final_logit_softcapping", None)
        or getattr(cfg, "logit_scale", None)
        or getattr(cfg, "logits_scaling", None)
    )


def score_sequences(
    model,
    seqs: list[Seq],
    *,
    pad_id: int,
    token_budget: int,
    padding_side: str = "right",
    max_batch: int = 256,
    cancel=None,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Fill `seq.nll` (per scored token) for every sequence; batches sorted by length. `progress(f)` after each
    batch, f the share of tokens scored so far."""
    import torch

    device = next(model.parameters()).device
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i].ids))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        n = len(seqs[i].ids)
        if cur and ((len(cur) + 1) * n > token_budget or len(cur) >= max_batch):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)

    full = _needs_full_logits(model)
    head = model.get_output_embeddings()
    body = model.base_model
    all_tokens = max(sum(len(s.ids) for s in seqs), 1)
    tokens_done = 0
    with torch.inference_mode():
        for b in batches:
            if cancel is not None:
                cancel.check()
            if progress is not None and tokens_done:
                progress(tokens_done / all_tokens)
            tokens_done += sum(len(seqs[i].ids) for i in b)
            T = max(len(seqs[i].ids) for i in b)
            ids = torch.full((len(b), T), pad_id, dtype=torch.long)
            mask = torch.zeros((len(b), T), dtype=torch.long)
            offs = []
            for r, i in enumerate(b):
                s = seqs[i].ids
                off = T - len(s) if padding_side == "left" else 0
                ids[r, off : off + len(s)] = torch.tensor(s, dtype=torch.long)
                mask[r, off : off + len(s)] = 1
                offs.append(off)
            ids = ids.to(device)
            if padding_side == "left":
                pos = (mask.cumsum(-1) - 1).clamp(min=0)
                fwd = {"attention_mask": mask.to(device), "position_ids": pos.to(device)}
            else:
                # Right padding needs no mask: under causal attention a real token never sees the pads that
                # follow it, and positions are 0..len-1 as in batch 1. Without a mask the fused causal
                # attention kernel runs (a padding mask forces the slower masked path).
                fwd = {}
            rows, cols, tgt = [], [], []
            for r, i in enumerate(b):
                sq = seqs[i]
                for j in range(sq.start, sq.end):
                    rows.append(r)
                    cols.append(offs[r] + j - 1)
                    tgt.append(sq.ids[j])
            rows_t = torch.tensor(rows, device=device)
            cols_t = torch.tensor(cols, device=device)
            tgt_t = torch.tensor(tgt, device=device)
            if full:
                logits = model(input_ids=ids, **fwd).logits
                sel = logits[rows_t, cols_t].float()
            else:
                hidden = body(input_ids=ids, **fwd).last_hidden_state
                sel = head(hidden[rows_t, cols_t]).float()
            logp = torch.log_softmax(sel, dim=-1)
            nll = (-logp.gather(1, tgt_t[:, None])[:, 0]).cpu().tolist()
            k = 0
            for i in b:
                sq = seqs[i]
                n = sq.end - sq.start
                sq.nll = nll[k : k + n]
                k += n


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _safe_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return float("inf")


@dataclass
class ItemScores:
    sample_id: int
    values: dict[str, float | None]
    reasons: dict[str, str | None]


SUPERFILTERING_METRICS = ("ifd", "ppl_cond", "ppl_direct", "loss_cond", "loss_direct", "prompt_tokens", "resp_tokens")
CHERRY_METRICS = ("cherry_ifd",)


def score_items(
    model,
    tok,
    items: list[Item],
    params: IFDParams = IFDParams(),
    *,
    variants: tuple[str, ...] = ("superfiltering",),
    cancel=None,
    progress: Callable[[float], None] | None = None,
) -> list[ItemScores]:
    """Compute the model-based scores of `items` (batched). Returns one ItemScores per item, in order.
    `progress(f)`: the share of the work done, between model batches."""
    device = next(model.parameters()).device.type
    budget = params.token_budget or auto_token_budget(device)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    out = [ItemScores(it.sample_id, {}, {}) for it in items]
    seqs: list[Seq] = []
    plan: list[tuple[int, str, Seq, Seq, int]] = []
    for k, it in enumerate(items):
        if "superfiltering" in variants:
            d, c, reason, instr_len = prepare_superfiltering(tok, it, params.max_length)
            if reason:
                for m in SUPERFILTERING_METRICS:
                    out[k].values[m] = None
                    out[k].reasons[m] = reason
                if instr_len:
                    out[k].values["prompt_tokens"] = float(instr_len)
                    out[k].reasons["prompt_tokens"] = None
            else:
                seqs += [d, c]
                plan.append((k, "superfiltering", d, c, instr_len))
        if "cherry" in variants:
            d, c, reason, instr_len = prepare_cherry(tok, it, params.cherry_max_length, params.cherry_template)
            if reason:
                out[k].values["cherry_ifd"] = None
                out[k].reasons["cherry_ifd"] = reason
            else:
                seqs += [d, c]
                plan.append((k, "cherry", d, c, instr_len))
    score_sequences(
        model,
        seqs,
        pad_id=pad_id,
        token_budget=budget,
        padding_side=params.padding_side,
        cancel=cancel,
        progress=progress,
    )
    for k, variant, d, c, instr_len in plan:
        v, r = out[k].values, out[k].reasons
        ld, lc = _mean(d.nll), _mean(c.nll)
        if variant == "superfiltering":
            v.update(
                loss_direct=ld,
                loss_cond=lc,
                ppl_direct=_safe_exp(ld),
                ppl_cond=_safe_exp(lc),
                ifd=_safe_exp(lc - ld),
                prompt_tokens=float(instr_len),
                resp_tokens=float(len(d.ids)),
            )
            for m in SUPERFILTERING_METRICS:
                r[m] = None
        else:
            if ld == 0.0:
                v["cherry_ifd"], r["cherry_ifd"] = None, "direct loss is 0"
            else:
                v["cherry_ifd"], r["cherry_ifd"] = lc / ld, None
    return out
