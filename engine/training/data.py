"""Training data: records -> examples (chat template, assistant-only labels), the phases of a protocol, and the
micro-batch plan (length-grouped, packed or padded) with its collation into tensors.

A micro-batch is ("sample", rows) with rows = lists of example indices (one index per row unless packed) or
("mixup", [example indices]). The plan depends only on the examples, the protocol and the settings, so a resumed
run rebuilds the same plan and skips the micro-batches it has done.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.training.settings import PROTOCOLS, TrainingError, TrainSettings


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


def read_records(folder: Path) -> Iterator[dict]:
    """The run's training records (data.jsonl), one dict per line."""
    with open(folder / "data.jsonl", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise TrainingError(f"data.jsonl line {n}: not JSON ({e})") from e


def split_eval(
    examples: list[Example], s: TrainSettings
) -> tuple[list[Example], dict[str, list[Example]], dict[str, str]]:
    """Per-domain eval examples (sample kind): held out when the domain is big enough (at least 4x
    eval_per_domain examples), else drawn from the training data. The third value says which, per domain
    ("8 held out" / "3 from the training data"), so the eval loss is labelled with where it comes from."""
    if s.eval_per_domain == 0:
        return examples, {}, {}
    by_dom: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(examples):
        if e.kind == "sample":
            by_dom[e.domain].append(i)
    rng = random.Random(f"eval:{s.seed}")
    held: set[int] = set()
    evals: dict[str, list[Example]] = {}
    how: dict[str, str] = {}
    for d, idx in sorted(by_dom.items()):
        pick = rng.sample(idx, min(s.eval_per_domain, len(idx)))
        if len(idx) >= 4 * s.eval_per_domain:
            held.update(pick)
            how[d] = f"{len(pick)} held out"
        else:
            how[d] = f"{len(pick)} from the training data"
        evals[d] = [examples[i] for i in pick]
    return [e for i, e in enumerate(examples) if i not in held], evals, how


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


def fixed_plan(records: list[dict], n_examples: int, s: TrainSettings) -> tuple[list[tuple], list[str], int] | None:
    """The per-step batch plan given with the data (engine.raise_rl's deploy), or None when no record has one: when
    every record has "plan_step", step k trains on the records of the k-th plan_step, in data order. A step of more
    than `batch_size` records is one ("split", [micro-batch rows, ...]) entry: the loop accumulates its micro-batches
    into the gradient of the whole step's token-mean loss (the full-data arm's large steps fit in memory)."""
    steps = [r.get("plan_step") for r in records]
    if all(k is None for k in steps):
        return None
    if any(k is None for k in steps):
        raise TrainingError("some records have a plan_step and some do not (a fixed batch plan needs all)")
    if n_examples != len(records):
        raise TrainingError(
            f"a fixed batch plan needs every record trainable: {len(records) - n_examples} had no assistant token "
            f"within max_len {s.max_len}"
        )
    if s.grad_accum != 1:
        raise TrainingError(f"a fixed batch plan needs grad_accum 1 (got {s.grad_accum})")
    by: dict[int, list[int]] = defaultdict(list)
    for i, k in enumerate(steps):
        by[int(k)].append(i)
    mb = max(1, int(s.batch_size))
    plan: list[tuple] = []
    for k in sorted(by):
        rows = [[i] for i in by[k]]
        plan.append(
            ("sample", rows) if len(rows) <= mb else ("split", [rows[j : j + mb] for j in range(0, len(rows), mb)])
        )
    return plan, ["plan"] * len(plan), len(plan)


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
