"""LoRA training of one run folder: settings, chat-template tokenisation with assistant-only labels, packing /
length grouping, the training protocols and the training loop (plain torch over a peft LoRA model).

A run folder (written by `engine.training.runs.create_run`) holds `config.json` and `data.jsonl`; `train(folder)` (run by
`python -m engine.training.worker FOLDER`) writes there:
    metrics.jsonl      one JSON object per line: {"step", "ts", name: value, ...}; names are loss, lr,
                       tokens_per_s, eta_s, eval_loss/<domain>, gradcos/<a>|<b>, gpu_mem_gb; a line
                       {"event": "resume", "step": N} says that later lines replace steps > N
    status.json        {"status": running|done|failed|cancelled, "step", "total", "pid", "error"?}
    log.txt            human log (the worker's stderr goes there too)
    checkpoints/step-N/  adapter + state.pt (optimizer, scheduler, RNG states, data position)
    adapter/           the final LoRA adapter (peft `save_pretrained`)
Cancel: a file named `cancel` in the folder, or SIGTERM; both are checked between optimizer steps and end with a
checkpoint, so `resume` continues exactly where the run stopped.

torch, transformers and peft are imported inside functions (the app never imports them).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.core.errors import InputError

PROTOCOLS = ("multi_task", "sequential", "multi_stage")
PACKING = ("packed", "grouped", "padded")


class TrainingError(InputError):
    """Bad training input (settings, data, model); the message names what is wrong."""


# -- settings ------------------------------------------------------------------------------------------------


@dataclass
class LoraSettings:
    """LoRA adapter settings (peft LoraConfig). target_modules: module names or "all-linear"."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | str = field(default_factory=lambda: ["q_proj", "v_proj"])

    def validate(self) -> None:
        if self.r < 1:
            raise TrainingError(f"lora r must be >= 1 (got {self.r})")
        if self.alpha <= 0:
            raise TrainingError(f"lora alpha must be > 0 (got {self.alpha})")
        if not 0 <= self.dropout < 1:
            raise TrainingError(f"lora dropout must be in [0, 1) (got {self.dropout})")
        if isinstance(self.target_modules, str):
            if self.target_modules != "all-linear":
                self.target_modules = [m.strip() for m in self.target_modules.split(",") if m.strip()]
        if not self.target_modules:
            raise TrainingError("lora target_modules is empty")


@dataclass
class TrainSettings:
    """Training settings. One step = one optimizer step over `grad_accum` micro-batches.

    epochs: passes over the data (per phase for sequential / multi_stage); max_steps caps the steps (when the
    data runs out first, the plan repeats with a new shuffle). packing: "grouped" (default) batches examples of
    similar length, "packed" concatenates examples into rows of max_len tokens (position ids restart per
    example, so attention never crosses examples), "padded" is plain padding in data order (baseline).
    batch_size: rows (packed) or examples per micro-batch; batch_tokens (optional) sets it from a token budget
    instead. eval_every / save_every / grad_conflict_every: steps (0 = only at the end / never).
    eval_per_domain: examples per domain for the per-domain eval loss, held out of training when the domain
    has at least 4x as many (else drawn from the training examples; config.json says which).
    """

    epochs: float = 1.0
    max_steps: int | None = None
    lr: float = 2e-4
    batch_size: int = 8
    batch_tokens: int | None = None
    grad_accum: int = 1
    max_len: int = 1024
    packing: str = "grouped"  # measured faster than "packed" on CPU (bench/training.py, docs/runs.md)
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    device: str = "auto"
    bf16: str | bool = "auto"
    gradient_checkpointing: bool = False
    eval_every: int = 50
    eval_per_domain: int = 16
    save_every: int = 100
    keep_checkpoints: int = 2
    grad_conflict_every: int = 50  # the live gradient-conflict probe: ~D*grad_conflict_batch examples per 50 steps
    grad_conflict_batch: int = 4
    log_every: int = 1
    group_window: int = 64  # micro-batches per length-grouping / packing window

    def validate(self) -> None:
        if self.packing not in PACKING:
            raise TrainingError(f"packing must be one of {', '.join(PACKING)} (got {self.packing!r})")
        for name in ("batch_size", "grad_accum", "max_len", "log_every", "group_window", "grad_conflict_batch"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be >= 1 (got {getattr(self, name)})")
        if self.max_len < 8:
            raise TrainingError(f"max_len must be >= 8 (got {self.max_len})")
        if self.max_steps is not None and self.max_steps < 1:
            raise TrainingError(f"max_steps must be >= 1 (got {self.max_steps})")
        if self.epochs <= 0:
            raise TrainingError(f"epochs must be > 0 (got {self.epochs})")
        if not self.lr > 0:
            raise TrainingError(f"lr must be > 0 (got {self.lr})")
        if not 0 <= self.warmup_ratio < 1:
            raise TrainingError(f"warmup_ratio must be in [0, 1) (got {self.warmup_ratio})")
        for name in ("eval_every", "save_every", "grad_conflict_every", "eval_per_domain", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise TrainingError(f"{name} must be >= 0 (got {getattr(self, name)})")


def settings_from_dict(cls, d: dict | None):
    """A LoraSettings / TrainSettings from a dict; unknown keys are an error naming them."""
    d = dict(d or {})
    known = {f.name for f in fields(cls)}
    bad = sorted(set(d) - known)
    if bad:
        raise TrainingError(f"unknown {cls.__name__} field(s): {', '.join(bad)} (known: {', '.join(sorted(known))})")
    return cls(**d)


# -- tokenisation ------------------------------------------------------------------------------------------


@dataclass
class Example:
    """One tokenised training example: ids, labels (-100 outside assistant tokens), domain, stage."""

    ids: list[int]
    labels: list[int]
    domain: str
    stage: int = 0
    kind: str = "sample"
    # mixup only: the b side and the mixing weight
    ids_b: list[int] | None = None
    labels_b: list[int] | None = None
    lam: float = 1.0

    @property
    def n_tokens(self) -> int:
        return len(self.ids) + (len(self.ids_b) if self.ids_b is not None else 0)


def _conversation(rec: dict, template: str) -> tuple[list[dict], list | None]:
    """Messages (system first when given) ready for the chat template; tool calls become text when the
    template does not render them."""
    msgs = [dict(m) for m in rec.get("messages") or []]
    if not msgs:
        raise TrainingError("record has no messages")
    system = rec.get("system")
    if system and msgs[0].get("role") != "system":
        msgs.insert(0, {"role": "system", "content": system})
    renders_calls = "tool_calls" in template
    for m in msgs:
        if m.get("tool_calls") and not renders_calls:
            calls = [c.get("function", c) for c in m["tool_calls"]]
            text = json.dumps(calls, ensure_ascii=False)
            m["content"] = (m.get("content") or "") + ("\n" if m.get("content") else "") + text
            del m["tool_calls"]
        if m.get("content") is None:
            m["content"] = ""
    tools = rec.get("tools") or None
    return msgs, tools


def _render(tok, msgs, tools, *, add_generation_prompt: bool) -> str:
    kw = {"tools": tools} if tools else {}
    return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt, **kw)


def assistant_spans(tok, msgs: list[dict], tools=None) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of every assistant turn (its content plus the
    template's end-of-turn marker). Found by rendering prefixes: the text of messages[:i] with the
    generation prompt ends where turn i starts, the text of messages[:i+1] ends where it ends. When a template
    rewrites earlier turns (so prefixes do not match), the turn's content is searched for instead."""
    full = _render(tok, msgs, tools, add_generation_prompt=False)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, m in enumerate(msgs):
        if m.get("role") != "assistant":
            continue
        start = end = None
        try:
            before = _render(tok, msgs[:i], tools, add_generation_prompt=True) if i else None
            upto = _render(tok, msgs[: i + 1], tools, add_generation_prompt=False)
        except Exception:  # noqa: BLE001 - some templates refuse prefixes (e.g. must end with a user turn)
            before = upto = None
        if before is not None and upto is not None and full.startswith(upto) and upto.startswith(before):
            start, end = len(before), len(upto)
        else:
            content = m.get("content") or ""
            k = full.find(content, cursor) if content else -1
            if k >= 0:
                start, end = k, k + len(content)
                # take the end-of-turn marker too when the template has one (eos right after the content)
                eos = getattr(tok, "eos_token", None)
                if eos and full.startswith(eos, end):
                    end += len(eos)
        if start is None:
            continue
        while end > start and full[end - 1] in " \n\t":  # the newline after the end marker is not the reply
            end -= 1
        if end > start:
            spans.append((start, end))
            cursor = end
    return full, spans


def tokenize_conversation(tok, rec: dict, max_len: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one conversation with the tokenizer's chat template; labels are -100 except on
    assistant tokens. Truncated to max_len tokens."""
    template = getattr(tok, "chat_template", None)
    if not template:
        raise TrainingError("the tokenizer has no chat template; training needs one (pick an instruct model)")
    msgs, tools = _conversation(rec, template if isinstance(template, str) else json.dumps(template))
    text, spans = assistant_spans(tok, msgs, tools)
    try:
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    except NotImplementedError as e:
        raise TrainingError(
            "training needs a fast tokenizer (character offsets to find the assistant tokens); "
            f"{type(tok).__name__} has none"
        ) from e
    ids = list(enc["input_ids"])
    labels = [-100] * len(ids)
    j = 0
    for t, (a, b) in enumerate(enc["offset_mapping"]):
        while j < len(spans) and spans[j][1] <= a:
            j += 1
        if j < len(spans) and a < spans[j][1] and b > spans[j][0]:  # the token overlaps an assistant span
            labels[t] = ids[t]
    return ids[:max_len], labels[:max_len]


def tokenize_records(tok, records, max_len: int) -> tuple[list[Example], dict]:
    """Examples of training records (kinds "sample" and "mixup"); records with no assistant token left after
    truncation are skipped and counted in the returned stats."""
    out: list[Example] = []
    stats = {"records": 0, "skipped_no_labels": 0, "truncated": 0, "tokens": 0, "label_tokens": 0}
    for rec in records:
        stats["records"] += 1
        kind = rec.get("kind", "sample")
        if kind == "mixup":
            ia, la = tokenize_conversation(tok, rec["a"], max_len)
            ib, lb = tokenize_conversation(tok, rec["b"], max_len)
            if not any(x != -100 for x in la) or not any(x != -100 for x in lb):
                stats["skipped_no_labels"] += 1
                continue
            ex = Example(
                ia,
                la,
                str(rec.get("domain") or "mixup"),
                int(rec.get("stage") or 0),
                "mixup",
                ib,
                lb,
                float(rec["lam"]),
            )
        elif kind == "sample":
            ids, labels = tokenize_conversation(tok, rec, max_len + 1)
            if len(ids) > max_len:
                stats["truncated"] += 1
                ids, labels = ids[:max_len], labels[:max_len]
            if sum(1 for x in labels[1:] if x != -100) == 0:
                stats["skipped_no_labels"] += 1
                continue
            ex = Example(ids, labels, str(rec.get("domain") or "general"), int(rec.get("stage") or 0))
        else:
            raise TrainingError(f"record {stats['records']}: unknown kind {kind!r} (sample or mixup)")
        stats["tokens"] += ex.n_tokens
        stats["label_tokens"] += sum(1 for x in ex.labels if x != -100)
        out.append(ex)
    return out, stats


# -- batching plan -----------------------------------------------------------------------------------------
# A micro-batch is ("sample", rows) with rows = lists of example indices (one index per row unless packed)
# or ("mixup", [example indices]). The plan depends only on the examples, the protocol and the settings, so a
# resumed run rebuilds the same plan and skips the micro-batches it has done.


def phases(examples: list[Example], protocol: str, order: list[str] | None) -> list[tuple[str, list[int]]]:
    """The training phases: (name, example indices). multi_task: one phase with everything; sequential: one
    phase per domain in `order` (domains not named come after, in first-seen order); multi_stage: one per
    `stage` value, ascending."""
    if protocol not in PROTOCOLS:
        raise TrainingError(f"protocol must be one of {', '.join(PROTOCOLS)} (got {protocol!r})")
    if protocol == "multi_task":
        return [("all", list(range(len(examples))))]
    groups: dict[Any, list[int]] = defaultdict(list)
    if protocol == "sequential":
        for i, e in enumerate(examples):
            groups[e.domain].append(i)
        seen = list(groups)
        names = list(order or [])
        unknown = [d for d in names if d not in groups]
        if unknown:
            raise TrainingError(
                f"--order names domain(s) not in the data: {', '.join(unknown)} (the data has: {', '.join(seen)})"
            )
        names += [d for d in seen if d not in names]
        return [(d, groups[d]) for d in names]
    for i, e in enumerate(examples):
        groups[e.stage].append(i)
    return [(f"stage {s}", groups[s]) for s in sorted(groups)]


def _batches_of(examples: list[Example], idx: list[int], s: TrainSettings, rng: random.Random) -> list[tuple]:
    samples = [i for i in idx if examples[i].kind == "sample"]
    mixups = [i for i in idx if examples[i].kind == "mixup"]
    out: list[tuple] = []
    if s.packing == "packed":
        rows_per = max(1, s.batch_tokens // s.max_len) if s.batch_tokens else s.batch_size
        window = rows_per * s.group_window * 4
        for w in range(0, len(samples), window):
            chunk = sorted(samples[w : w + window], key=lambda i: -len(examples[i].ids))
            rows: list[list[int]] = []
            room: list[int] = []
            for i in chunk:  # first fit decreasing
                n = len(examples[i].ids)
                for r, left in enumerate(room):
                    if n <= left:
                        rows[r].append(i)
                        room[r] -= n
                        break
                else:
                    rows.append([i])
                    room.append(s.max_len - n)
            rng.shuffle(rows)
            out += [("sample", rows[k : k + rows_per]) for k in range(0, len(rows), rows_per)]
    elif s.packing == "grouped":
        window = s.batch_size * s.group_window
        for w in range(0, len(samples), window):
            chunk = sorted(samples[w : w + window], key=lambda i: len(examples[i].ids))
            if s.batch_tokens:
                batches, cur = [], []
                for i in chunk:
                    n = len(examples[i].ids)
                    if cur and n * (len(cur) + 1) > s.batch_tokens:
                        batches.append(cur)
                        cur = []
                    cur.append(i)
                if cur:
                    batches.append(cur)
            else:
                batches = [chunk[k : k + s.batch_size] for k in range(0, len(chunk), s.batch_size)]
            rng.shuffle(batches)
            out += [("sample", [[i] for i in b]) for b in batches]
    else:
        out += [("sample", [[i] for i in samples[k : k + s.batch_size]]) for k in range(0, len(samples), s.batch_size)]
    mix_batches = [("mixup", mixups[k : k + s.batch_size]) for k in range(0, len(mixups), s.batch_size)]
    if mix_batches:  # spread the mixup batches among the sample batches
        out += mix_batches
        rng.shuffle(out)
    return out


def build_plan(
    examples: list[Example],
    protocol: str,
    order: list[str] | None,
    s: TrainSettings,
) -> tuple[list[tuple], list[str], int]:
    """(micro-batches, phase name of each, total optimizer steps). Each phase runs `epochs` passes (a
    fractional last pass takes its first part). With max_steps the plan is cut there; when the data runs out
    first, every phase gets proportionally more passes (so sequential stays domain by domain) and the plan is cut
    at max_steps."""
    ph = phases(examples, protocol, order)

    def passes(epochs: float) -> tuple[list[tuple], list[str]]:
        plan: list[tuple] = []
        names: list[str] = []
        for p, (name, idx) in enumerate(ph):
            full, frac = int(epochs), epochs - int(epochs)
            for ep in range(full + (1 if frac > 1e-9 else 0)):
                rng = random.Random(f"{s.seed}:{p}:{ep}")
                order_idx = list(idx)
                rng.shuffle(order_idx)
                b = _batches_of(examples, order_idx, s, rng)
                if ep == full:  # the fractional pass
                    b = b[: max(1, int(round(len(b) * frac)))]
                plan += b
                names += [name] * len(b)
        return plan, names

    plan, names = passes(s.epochs)
    if not plan:
        raise TrainingError("no training examples (every record was empty or had no assistant tokens)")
    if s.max_steps is not None and len(plan) < s.max_steps * s.grad_accum:
        k = math.ceil(s.max_steps * s.grad_accum / len(plan))
        plan, names = passes(s.epochs * k)
    steps = len(plan) // s.grad_accum if s.max_steps is None else s.max_steps
    steps = max(steps, 1)
    need = steps * s.grad_accum
    plan, names = plan[:need], names[:need]
    while len(plan) < need:  # fewer micro-batches than one accumulation: repeat
        plan.append(plan[len(plan) % max(1, len(plan))])
        names.append(names[len(names) % max(1, len(names))])
    return plan, names, steps


def collate_rows(examples: list[Example], rows: list[list[int]], pad_id: int, packed: bool) -> dict:
    """Tensors of one sample micro-batch. Packed rows get position ids restarting at every example (and at the
    padding) and no attention mask (transformers builds a block-diagonal causal mask from the position ids);
    unpacked rows are right-padded with an attention mask."""
    import torch

    lens = [sum(len(examples[i].ids) for i in r) for r in rows]
    T = max(lens)
    B = len(rows)
    ids = torch.full((B, T), pad_id, dtype=torch.long)
    labels = torch.full((B, T), -100, dtype=torch.long)
    pos = torch.zeros((B, T), dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    for b, r in enumerate(rows):
        k = 0
        for i in r:
            e = examples[i]
            n = len(e.ids)
            ids[b, k : k + n] = torch.tensor(e.ids)
            lab = torch.tensor(e.labels)
            lab[0] = -100  # never predict an example's first token from the previous example
            labels[b, k : k + n] = lab
            pos[b, k : k + n] = torch.arange(n)
            mask[b, k : k + n] = 1
            k += n
        if k < T:
            pos[b, k:] = torch.arange(T - k)
    out = {"input_ids": ids, "labels": labels, "n_tokens": int(sum(lens))}
    if packed:
        out["position_ids"] = pos
    else:
        out["attention_mask"] = mask
    return out


# -- loss ----------------------------------------------------------------------------------------------------


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


# -- the run ---------------------------------------------------------------------------------------------------


class _Cancel:
    def __init__(self, folder: Path):
        self.folder = folder
        self.flag = False

    def __call__(self, *_a) -> None:
        self.flag = True

    @property
    def asked(self) -> bool:
        return self.flag or (self.folder / "cancel").exists()


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def read_records(folder: Path):
    """The run's training records (data.jsonl), one dict per line."""
    with open(folder / "data.jsonl", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise TrainingError(f"data.jsonl line {n}: not JSON ({e})") from e


def _split_eval(examples: list[Example], s: TrainSettings) -> tuple[list[Example], dict[str, list[Example]], str]:
    """Per-domain eval examples (sample kind): held out when the domain is big enough, else drawn from train."""
    if s.eval_per_domain == 0:
        return examples, {}, "none"
    by_dom: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        if e.kind == "sample":
            by_dom[e.domain].append(i)
    rng = random.Random(f"eval:{s.seed}")
    held: set[int] = set()
    evals: dict[str, list[Example]] = {}
    how = []
    for d, idx in sorted(by_dom.items()):
        pick = rng.sample(idx, min(s.eval_per_domain, len(idx)))
        if len(idx) >= 4 * s.eval_per_domain:
            held.update(pick)
            how.append(f"{d}: {len(pick)} held out")
        else:
            how.append(f"{d}: {len(pick)} from the training data")
        evals[d] = [examples[i] for i in pick]
    return [e for i, e in enumerate(examples) if i not in held], evals, "; ".join(how)


def _eval_losses(model, evals: dict[str, list[Example]], pad_id: int, device, batch_size: int) -> dict[str, float]:
    import torch

    out = {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for d, exs in evals.items():
            tot, n = 0.0, 0
            order = sorted(range(len(exs)), key=lambda i: len(exs[i].ids))
            for k in range(0, len(order), batch_size):
                rows = [[i] for i in order[k : k + batch_size]]
                b = collate_rows(exs, rows, pad_id, packed=False)
                b = {key: (v.to(device) if hasattr(v, "to") else v) for key, v in b.items()}
                losses, _ = token_losses(model, b, reduction="none")
                tot += float(losses.sum())
                n += int(losses.numel())
            if n:
                out[d] = tot / n
    if was_training:
        model.train()
    return out


def _grad_cos(model, examples: list[Example], s: TrainSettings, step: int, pad_id: int, device) -> dict[str, float]:
    """Cosine between per-domain gradients of the LoRA parameters, each on a small batch of that domain (dropout
    off, the optimizer's gradients untouched)."""
    import torch

    by_dom: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        if e.kind == "sample":
            by_dom[e.domain].append(i)
    if len(by_dom) < 2:
        return {}
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.grad for p in params]
    was_training = model.training
    model.eval()
    rng = random.Random(f"gradcos:{s.seed}:{step}")
    grads = {}
    try:
        for d in sorted(by_dom):
            pick = rng.sample(by_dom[d], min(s.grad_conflict_batch, len(by_dom[d])))
            b = collate_rows(examples, [[i] for i in pick], pad_id, packed=False)
            b = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in b.items()}
            for p in params:
                p.grad = None
            token_losses(model, b).backward()
            grads[d] = torch.cat(
                [(p.grad if p.grad is not None else torch.zeros_like(p)).detach().float().flatten() for p in params]
            )
    finally:
        for p, g in zip(params, saved):
            p.grad = g
        if was_training:
            model.train()
    out = {}
    names = sorted(grads)
    for a_i, a in enumerate(names):
        for b in names[a_i + 1 :]:
            out[f"gradcos/{a}|{b}"] = float(torch.nn.functional.cosine_similarity(grads[a], grads[b], dim=0))
    return out


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


def _save_checkpoint(folder: Path, model, opt, sched, step: int, extra: dict, keep: int) -> Path:
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


def resolve_precision(device: str, bf16) -> str:
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


def train(folder: str | Path, *, log=None) -> dict:
    """Train the run in `folder` (resuming from its last checkpoint when there is one). Returns the final
    status dict (also written to status.json)."""
    import signal

    folder = Path(folder)
    cancel = _Cancel(folder)
    try:
        signal.signal(signal.SIGTERM, cancel)
    except ValueError:  # not the main thread (tests calling train() from a thread)
        pass
    logf = open(folder / "log.txt", "a", encoding="utf-8")

    def say(msg: str) -> None:
        logf.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
        logf.flush()
        if log:
            log(msg)

    status = {"status": "running", "pid": os.getpid(), "step": 0, "total": None}
    _write_json(folder / "status.json", status)
    try:
        status = _train(folder, cancel, say, status)
    except BaseException as e:  # noqa: BLE001 - every failure ends in status.json
        import traceback

        say("failed:\n" + traceback.format_exc())
        status.update(status="failed", error=f"{type(e).__name__}: {e}")
        _write_json(folder / "status.json", status)
        logf.close()
        raise
    _write_json(folder / "status.json", status)
    logf.close()
    return status


def _train(folder: Path, cancel: _Cancel, say, status: dict) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from transformers import get_linear_schedule_with_warmup

    cfg = json.loads((folder / "config.json").read_text())
    lora = settings_from_dict(LoraSettings, cfg.get("lora"))
    s = settings_from_dict(TrainSettings, cfg.get("train"))
    lora.validate()
    s.validate()
    from engine.core.models import pick_device

    device = pick_device(s.device)
    precision = resolve_precision(device, s.bf16)
    torch.manual_seed(s.seed)
    random.seed(s.seed)
    say(f"loading {cfg['base_model']} on {device} ({precision})")
    model, tok, _name = load_base(cfg["base_model"], device, precision)
    examples, tstats = tokenize_records(tok, read_records(folder), s.max_len)
    if not examples:
        raise TrainingError("no trainable example in data.jsonl (no assistant tokens)")
    train_ex, evals, eval_how = _split_eval(examples, s)
    plan, plan_phase, total = build_plan(train_ex, cfg.get("protocol", "multi_task"), cfg.get("order"), s)
    say(
        f"{tstats['records']} records -> {len(examples)} examples ({tstats['tokens']} tokens, "
        f"{tstats['label_tokens']} assistant tokens, {tstats['truncated']} truncated, "
        f"{tstats['skipped_no_labels']} skipped); eval: {eval_how}; {len(plan)} micro-batches, {total} steps"
    )
    if s.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    pcfg = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(model, pcfg)
    except ValueError as e:
        raise TrainingError(f"LoRA target modules {lora.target_modules!r} do not fit this model: {e}") from e
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    warm = int(round(s.warmup_ratio * total))
    sched = get_linear_schedule_with_warmup(opt, warm, total)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    packed = s.packing == "packed"
    mixup = None
    if any(e.kind == "mixup" for e in train_ex):
        import importlib

        try:
            mixup = importlib.import_module("engine.synthesis.mixup")  # lazy: only runs with mixup records need it
        except ImportError as e:
            raise TrainingError("the data has mixup records but engine.synthesis.mixup is not available") from e

    start = 0
    tokens_seen = 0
    ck = checkpoints(folder)
    metrics = open(folder / "metrics.jsonl", "a", encoding="utf-8")
    if ck:
        step0, path = ck[-1]
        from safetensors.torch import load_file

        set_peft_model_state_dict(model, load_file(str(path / "adapter_model.safetensors"), device=device))
        st = torch.load(path / "state.pt", weights_only=False, map_location="cpu")  # RNG states must stay on the CPU
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        _set_rng_state(st["rng"])
        start, tokens_seen = st["step"], st.get("tokens_seen", 0)
        metrics.write(json.dumps({"event": "resume", "step": start, "ts": time.time()}) + "\n")
        metrics.flush()
        say(f"resumed from checkpoint step {start}")
    elif (folder / "metrics.jsonl").stat().st_size > 0:  # an earlier attempt died before its first checkpoint
        metrics.write(json.dumps({"event": "resume", "step": -1, "ts": time.time()}) + "\n")
        metrics.flush()
        say("restarting from step 0 (no checkpoint)")

    def emit(step: int, **vals) -> None:
        metrics.write(json.dumps({"step": step, "ts": time.time(), **vals}) + "\n")
        metrics.flush()

    on_gpu = device.startswith("cuda")
    n_params = sum(p.numel() for p in params)
    say(f"LoRA r={lora.r} alpha={lora.alpha} on {lora.target_modules}: {n_params:,} trainable parameters")
    status.update(step=start, total=total)
    _write_json(folder / "status.json", status)
    if start == 0 and evals and s.eval_every:
        emit(0, **{f"eval_loss/{d}": v for d, v in _eval_losses(model, evals, pad_id, device, s.batch_size).items()})
    t0 = time.perf_counter()
    tok_window, t_window = 0, time.perf_counter()
    step = start
    while step < total:
        if cancel.asked:
            _save_checkpoint(folder, model, opt, sched, step, {"tokens_seen": tokens_seen}, s.keep_checkpoints)
            say(f"cancelled at step {step} (checkpoint saved)")
            status.update(status="cancelled", step=step)
            metrics.close()
            return status
        loss_sum = 0.0
        for micro in range(s.grad_accum):
            kind, rows = plan[step * s.grad_accum + micro]
            if kind == "mixup":
                exs = [train_ex[i] for i in rows]
                batch = mixup.mixup_collate([(e.ids, e.labels, e.ids_b, e.labels_b, e.lam) for e in exs], pad_id)
                batch = {k: v.to(device) for k, v in batch.items()}
                loss = mixup.mixup_loss(model, batch)
                ntok = int(batch["attention_mask"].sum())
            else:
                batch = collate_rows(train_ex, rows, pad_id, packed)
                ntok = batch.pop("n_tokens")
                batch = {k: v.to(device) for k, v in batch.items()}
                loss = token_losses(model, batch)
            (loss / s.grad_accum).backward()
            loss_sum += float(loss.detach())
            tokens_seen += ntok
            tok_window += ntok
        gnorm = torch.nn.utils.clip_grad_norm_(params, s.max_grad_norm) if s.max_grad_norm else None
        lr = sched.get_last_lr()[0]
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        if step % s.log_every == 0 or step == total:
            now = time.perf_counter()
            tps = tok_window / max(now - t_window, 1e-9)
            n_window, tok_window, t_window = tok_window, 0, now
            per_step = (now - t0) / (step - start)
            vals = {
                "loss": loss_sum / s.grad_accum,
                "lr": lr,
                "tokens_per_s": tps,
                "tokens": n_window,
                "cpu_s": time.process_time(),
                "eta_s": per_step * (total - step),
                "phase": plan_phase[(step - 1) * s.grad_accum],
            }
            if gnorm is not None:
                vals["grad_norm"] = float(gnorm)
            if on_gpu:
                vals["gpu_mem_gb"] = torch.cuda.max_memory_allocated() / 1e9
            emit(step, **vals)
            status.update(step=step, loss=vals["loss"], eta_s=vals["eta_s"])
            _write_json(folder / "status.json", status)
        if s.grad_conflict_every and step % s.grad_conflict_every == 0:
            gc = _grad_cos(model, train_ex, s, step, pad_id, device)
            if gc:
                emit(step, **gc)
        if evals and s.eval_every and (step % s.eval_every == 0 or step == total):
            emit(
                step,
                **{f"eval_loss/{d}": v for d, v in _eval_losses(model, evals, pad_id, device, s.batch_size).items()},
            )
        if s.save_every and step % s.save_every == 0 and step < total:
            _save_checkpoint(folder, model, opt, sched, step, {"tokens_seen": tokens_seen}, s.keep_checkpoints)
    out = folder / "adapter"
    tmp = folder / "adapter.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    elapsed = time.perf_counter() - t0
    say(f"done: {total} steps, {tokens_seen:,} tokens, {elapsed:.1f}s this session")
    metrics.close()
    status.update(status="done", step=total, tokens=tokens_seen)
    return status


def config_dict(
    *, base_model: str, protocol: str, order: list[str] | None, lora: LoraSettings, train: TrainSettings
) -> dict:
    """The resolved run config as written to config.json (without the data description)."""
    return {
        "base_model": base_model,
        "protocol": protocol,
        "order": order,
        "lora": asdict(lora),
        "train": asdict(train),
    }
