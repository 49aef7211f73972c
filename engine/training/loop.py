"""The training loop of one run folder: AdamW over a peft LoRA model, per-domain eval losses, the live
gradient-conflict probe, metrics/status files, cancel and resume (plain torch; imported lazily)."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from engine.training.checkpoint import checkpoints, load_checkpoint, save_checkpoint
from engine.training.data import (
    Example,
    build_plan,
    collate_rows,
    fixed_plan,
    read_records,
    split_eval,
    tokenize_records,
)
from engine.training.model import (
    compute_context,
    frozen_linears_to_bf16,
    load_base,
    precision_note,
    resolve_precision,
    token_losses,
)
from engine.training.settings import LoraSettings, TrainingError, TrainSettings, settings_from_dict


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


def _eval_losses(
    model, evals: dict[str, list[Example]], pad_id: int, device, batch_size: int, precision: str = "fp32"
) -> dict[str, float]:
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
                with compute_context(device, precision):
                    losses, _ = token_losses(model, b, reduction="none")
                tot += float(losses.sum())
                n += int(losses.numel())
            if n:
                out[d] = tot / n
    if was_training:
        model.train()
    return out


def _grad_cos(
    model, examples: list[Example], s: TrainSettings, step: int, pad_id: int, device, precision: str = "fp32"
) -> dict[str, float]:
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
            with compute_context(device, precision):
                loss = token_losses(model, b)
            loss.backward()
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


def _wait_if_held(folder: Path, step: int, cancel: _Cancel, status: dict) -> None:
    """Test hook: with a file `hold` holding N, wait before step N (status "held": true) until the file goes
    or a cancel is asked, so a test can cancel at an exact step instead of racing the trainer."""
    hold = folder / "hold"
    try:
        at = int(hold.read_text().strip() or -1)
    except (OSError, ValueError):
        return
    if step != at:
        return
    _write_json(folder / "status.json", status | {"step": step, "held": True})
    while hold.exists() and not cancel.asked:
        time.sleep(0.02)


def _split_step(model, examples, parts, pad_id, packed, device, precision, grad_accum: int):
    """Forward and backward of one step given as micro-batches (`parts`: each a list of rows): each micro-batch's
    token-mean loss weighted by its share of the step's labelled tokens, so the gradient and the loss are those of
    the whole batch at once. Returns (the step's loss as a tensor, its tokens)."""
    import torch

    batches = [collate_rows(examples, rows, pad_id, packed) for rows in parts]
    counts = [int((b["labels"][:, 1:] != -100).sum()) for b in batches]
    n_all = max(sum(counts), 1)
    total, ntok = 0.0, 0
    for b, c in zip(batches, counts):
        ntok += b.pop("n_tokens")
        b = {k: v.to(device) for k, v in b.items()}
        with compute_context(device, precision):
            part = token_losses(model, b)
        (part * (c / n_all) / grad_accum).backward()
        total += float(part.detach()) * c / n_all
    return torch.tensor(total), ntok


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


def _activity(folder: Path, status: dict, text: str | None, say=None) -> None:
    """Name what the worker does now in status.json (loading, tokenising, held-out loss, saving) and the log: no
    phase of a run is silent on screen, also those without steps."""
    status["activity"] = text
    _write_json(folder / "status.json", status)
    if say is not None and text:
        say(f"phase: {text}")


def _train(folder: Path, cancel: _Cancel, say, status: dict) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
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
    say(f"loading {cfg['base_model']} on {device} ({precision_note(device, precision)})")
    _activity(folder, status, f"loading the base model {cfg['base_model']}", say)
    model, tok, _name = load_base(cfg["base_model"], device, precision)
    _activity(folder, status, "tokenising the training data", say)
    examples, tstats = tokenize_records(tok, read_records(folder), s.max_len)
    if not examples:
        raise TrainingError("no trainable example in data.jsonl (no assistant tokens)")
    train_ex, evals, eval_src = split_eval(examples, s)
    eval_how = "; ".join(f"{d}: {v}" for d, v in eval_src.items()) or "none"
    status["eval_sources"] = eval_src  # shown with the eval-loss curves: held out, or from the training data
    fixed = fixed_plan(list(read_records(folder)), len(examples), s)
    if fixed is not None:  # the batches of every step come with the data (engine.raise_rl's deploy)
        train_ex = examples
        plan, plan_phase, total = fixed
    else:
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
    if n_bf16 := frozen_linears_to_bf16(model, device, precision):
        say(f"bf16 autocast: {n_bf16} frozen Linear weights kept in bf16 (cast once, not at every forward)")
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
        _step0, path = ck[-1]
        st = load_checkpoint(path, model, opt, sched, device)
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
    status.update(step=start, total=total, activity=None)
    _write_json(folder / "status.json", status)
    if start == 0 and evals and s.eval_every:
        emit(
            0,
            **{
                f"eval_loss/{d}": v
                for d, v in _eval_losses(model, evals, pad_id, device, s.batch_size, precision).items()
            },
        )
    t0 = time.perf_counter()
    tok_window, t_window = 0, time.perf_counter()
    step = start
    while step < total:
        _wait_if_held(folder, step, cancel, status)
        if cancel.asked:
            save_checkpoint(folder, model, opt, sched, step, {"tokens_seen": tokens_seen}, s.keep_checkpoints)
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
                with compute_context(device, precision):
                    loss = mixup.mixup_loss(model, batch)
                ntok = int(batch["attention_mask"].sum())
            elif kind == "split":  # one step of a fixed plan in micro-batches (fixed_plan): its token-mean loss
                loss, ntok = _split_step(model, train_ex, rows, pad_id, packed, device, precision, s.grad_accum)
            else:
                batch = collate_rows(train_ex, rows, pad_id, packed)
                ntok = batch.pop("n_tokens")
                batch = {k: v.to(device) for k, v in batch.items()}
                with compute_context(device, precision):
                    loss = token_losses(model, batch)
            if kind != "split":  # (a split step ran its backward passes already)
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
            gc = _grad_cos(model, train_ex, s, step, pad_id, device, precision)
            if gc:
                emit(step, **gc)
        if evals and s.eval_every and (step % s.eval_every == 0 or step == total):
            _activity(folder, status, f"held-out loss per domain ({eval_how})", say)
            emit(
                step,
                **{
                    f"eval_loss/{d}": v
                    for d, v in _eval_losses(model, evals, pad_id, device, s.batch_size, precision).items()
                },
            )
            status["activity"] = None  # written with the next step
        if s.save_every and step % s.save_every == 0 and step < total:
            _activity(folder, status, f"saving a checkpoint at step {step}", say)
            save_checkpoint(folder, model, opt, sched, step, {"tokens_seen": tokens_seen}, s.keep_checkpoints)
            status["activity"] = None
    _activity(folder, status, "saving the adapter", say)
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
    status.update(status="done", step=total, tokens=tokens_seen, activity=None)
    return status
