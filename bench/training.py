"""Training benchmark: real (non-pad) tokens/s of our LoRA trainer against a plain padded `transformers.Trainer`,
the same real-token budget per step for every mode, interleaved in rounds; and bf16 against fp32.

Same model (SmolLM2-135M-Instruct by default), same LoRA settings (r=8, alpha 16, dropout 0.05, q_proj/v_proj),
same examples with the same assistant-only labels (our chat-template tokenisation), AdamW at lr 2e-4 (the
trainer's default). Modes:
  baseline      `Trainer.training_step` (loss from the model's full logits) on batches padded in data order
                (DataCollatorForSeq2Seq), fp32;
  grouped       ours: the trainer's plan (engine.training.build_plan, packing "grouped": examples of similar
                length batched together) and loss (token_losses: the LM head only at labelled positions), fp32;
  grouped-bf16  the same in bf16 as a run with --bf16 true computes it (engine.training.load_base and
                compute_context: on a CPU, autocast with eager attention; on a GPU, bf16 weights);
  packed        ours, packing "packed" (rows of max_len, attention never across examples), fp32.
Every step of every mode carries at most --step-tokens real tokens (the baseline takes examples in data order
until the next would pass it; ours uses batch_tokens, which counts padded slots), so steps are comparable.

One round = one step of each mode, in a rotating order, so a load swing on a shared machine hits every mode
alike; round 1 is warm-up. Per round, each mode's tokens/s is divided by the baseline's of the same round; the
median of those ratios (and their spread) is the figure. grouped and grouped-bf16 start from the same LoRA
weights and draw the same dropout masks (one RNG state per mode), so their per-step losses are compared
directly. The noise to hold that against: a twin of grouped fp32 started from another seed (other LoRA init, other
dropout masks), stepped on the same batches, untimed; how far its loss is from seed 0's is what a rerun changes.

    .venv/bin/python bench/training.py                       # CPU, 12 rounds, 1,024 real tokens per step
    .venv/bin/python bench/training.py --steps 20 --step-tokens 2048 --modes grouped,baseline
    .venv/bin/python bench/training.py --device cuda --step-tokens 16384

The last line starts with "RESULT training" and holds the ratios, to compare across commits.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "alpaca_5000" / "alpaca_5000.json"
LORA = dict(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")


def load_records(path: Path, n: int, seed: int = 0) -> list[dict]:
    """n Alpaca records (a seeded sample, mixed lengths) as training records."""
    import random

    data = json.loads(path.read_text(encoding="utf-8"))
    random.Random(seed).shuffle(data)
    out = []
    for r in data[:n]:
        user = r["instruction"] + ("\n" + r["input"] if r.get("input") else "")
        out.append(
            {
                "kind": "sample",
                "stage": 0,
                "domain": "general",
                "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": r["output"]}],
            }
        )
    return out


def load_avg() -> str:
    try:
        return "%.1f" % os.getloadavg()[0]
    except OSError:
        return "?"


def spread(xs: list[float], fmt: str = "{:.2f}") -> str:
    if not xs:
        return "-"
    q = statistics.quantiles(xs, n=4) if len(xs) >= 2 else [xs[0], xs[0], xs[0]]
    f = fmt.format
    return f"{f(statistics.median(xs))} (IQR {f(q[0])}-{f(q[2])}, min-max {f(min(xs))}-{f(max(xs))})"


def budget_batches(exs, budget: int) -> list[list[int]]:
    """The baseline's batches: examples in data order, each batch as many as fit in `budget` real tokens."""
    out, cur, n = [], [], 0
    for i, e in enumerate(exs):
        if cur and n + len(e.ids) > budget:
            out.append(cur)
            cur, n = [], 0
        cur.append(i)
        n += len(e.ids)
    if cur:
        out.append(cur)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2", help="base model spec (engine.core.models); default SmolLM2-135M")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--n", type=int, default=400, help="records to draw from the data set")
    ap.add_argument("--steps", type=int, default=12, help="rounds (one step of each mode each); round 1 is warm-up")
    ap.add_argument("--step-tokens", type=int, default=1024, help="real-token budget of every step of every mode")
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, every core)")
    ap.add_argument(
        "--modes",
        default="auto",
        help="comma separated: baseline, grouped, grouped-bf16, packed; auto: grouped, baseline, and grouped-bf16 "
        "where the device has bf16 units (engine.core.hardware)",
    )
    args = ap.parse_args(argv)

    from engine.core.hardware import set_omp_wait_policy

    policy = set_omp_wait_policy()  # as the training worker does, before torch loads

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from engine import training as T
    from engine.core.hardware import bf16_fast, cpu_info
    from engine.core.models import local_folder, resolve
    from engine.training.model import frozen_linears_to_bf16, precision_note

    if args.threads:
        torch.set_num_threads(args.threads)
    modes = (
        ["grouped", "baseline"] + (["grouped-bf16"] if bf16_fast(args.device) else [])
        if args.modes == "auto"
        else args.modes.split(",")
    )
    model_path = local_folder(resolve(args.model))
    tok = AutoTokenizer.from_pretrained(model_path)
    recs = load_records(args.data, args.n)
    exs, _ = T.tokenize_records(tok, recs, args.max_len)
    print(
        f"machine: {cpu_info().describe()}; torch {torch.__version__}, {torch.get_num_threads()} threads, OpenMP wait "
        f"{policy}; device {args.device}; load {load_avg()} at start\n"
        f"model {model_path}; {len(exs)} examples from {args.data.name} (max_len {args.max_len}); "
        f"{args.step_tokens} real tokens per step at most; {args.steps} rounds of {', '.join(modes)} (round 1 not "
        "timed)",
        flush=True,
    )
    if "grouped-bf16" not in modes:
        print("bf16: not measured (no bf16 units here, or not asked for)", flush=True)

    steppers = {}
    rng = {}
    twin = "grouped" in modes and "grouped-bf16" in modes
    for mode in modes + (["seed1"] if twin else []):
        if mode == "baseline":
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
            model = get_peft_model(model, LoraConfig(**LORA))
            model.train()
            out_dir = tempfile.mkdtemp(prefix="bench-trainer-")
            targs = TrainingArguments(
                output_dir=out_dir,
                per_device_train_batch_size=1,
                learning_rate=2e-4,
                report_to=[],
                use_cpu=args.device == "cpu",
                seed=0,
                disable_tqdm=True,
                remove_unused_columns=False,
                dataloader_num_workers=0,
            )
            tr = Trainer(model=model, args=targs, train_dataset=[{"input_ids": [0]}])
            tr.create_optimizer_and_scheduler(num_training_steps=args.steps)
            tr.current_gradient_accumulation_steps = 1  # set by Trainer.train() otherwise
            shutil.rmtree(out_dir, ignore_errors=True)
            collate = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
            order = list(range(len(exs)))
            __import__("random").Random(0).shuffle(order)
            data = [exs[i] for i in order]
            plan = iter(budget_batches(data, args.step_tokens))

            def step(tr=tr, plan=plan, data=data, collate=collate):
                rows = next(plan)
                batch = collate(
                    [
                        {"input_ids": data[i].ids, "attention_mask": [1] * len(data[i].ids), "labels": data[i].labels}
                        for i in rows
                    ]
                )
                batch = {k: v.to(args.device) for k, v in batch.items()}
                n = int(batch["attention_mask"].sum())
                loss = tr.training_step(tr.model, batch)
                tr.optimizer.step()
                tr.model.zero_grad(set_to_none=True)
                return n, int(batch["attention_mask"].numel()), float(loss)
        else:
            packing, _, prec = mode.partition("-") if mode != "seed1" else ("grouped", "", "")
            precision = "bf16" if prec == "bf16" else "fp32"
            if precision == "bf16":
                precision = T.resolve_precision(args.device, True)
            model, _tok, _ = T.load_base(model_path, args.device, precision)
            torch.manual_seed(1 if mode == "seed1" else 0)
            model = get_peft_model(model, LoraConfig(**LORA))
            frozen_linears_to_bf16(model, args.device, precision)  # as the trainer does (CPU bf16 only)
            model.train()
            if mode != "seed1":
                print(f"  {mode}: {precision_note(args.device, precision)}", flush=True)
            st = T.TrainSettings(
                max_steps=args.steps, max_len=args.max_len, packing=packing, batch_tokens=args.step_tokens, seed=0
            )
            plan = iter(T.build_plan(exs, "multi_task", None, st)[0])
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4, weight_decay=0.0)

            def step(model=model, opt=opt, plan=plan, packed=packing == "packed", precision=precision, mode=mode):
                _kind, rows = next(plan)
                b = T.collate_rows(exs, rows, tok.pad_token_id, packed)
                n = b.pop("n_tokens")
                b = {k: v.to(args.device) for k, v in b.items()}
                with T.compute_context(args.device, precision):
                    loss = T.token_losses(model, b)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                return n, int(b["input_ids"].numel()), float(loss.detach())

        steppers[mode] = step
        torch.manual_seed(1 if mode == "seed1" else 0)
        rng[mode] = torch.get_rng_state()

    rates: dict[str, list[float]] = {m: [] for m in modes}
    tokens: dict[str, list[int]] = {m: [] for m in modes}
    pads: dict[str, list[float]] = {m: [] for m in modes}
    losses: dict[str, list[float]] = {m: [] for m in modes}
    ratios: dict[str, list[float]] = {m: [] for m in modes if m != "baseline"}
    noise: list[float] = []
    t_start = time.perf_counter()
    for rnd in range(args.steps):
        order = modes[rnd % len(modes) :] + modes[: rnd % len(modes)]
        got = {}
        for mode in order:
            torch.set_rng_state(rng[mode])
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            n, slots, loss = steppers[mode]()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            rng[mode] = torch.get_rng_state()
            got[mode] = n / dt
            losses[mode].append(loss)
            print(
                f"  round {rnd + 1}/{args.steps} {mode:>12}: {n:5d} real tokens ({1 - n / slots:4.0%} padding), "
                f"{dt:6.1f} s, {n / dt:7.1f} tokens/s, loss {loss:.4f}  [load {load_avg()}]",
                flush=True,
            )
            if rnd:  # round 1 is warm-up
                rates[mode].append(n / dt)
                tokens[mode].append(n)
                pads[mode].append(1 - n / slots)
        if twin:  # the seed-noise twin, untimed
            torch.set_rng_state(rng["seed1"])
            noise.append(steppers["seed1"]()[2])
            rng["seed1"] = torch.get_rng_state()
        if rnd and "baseline" in got:
            for m in ratios:
                ratios[m].append(got[m] / got["baseline"])
        print(f"  ... {time.perf_counter() - t_start:.0f}s elapsed", flush=True)

    timed = args.steps - 1
    print(f"\n{timed} timed rounds; medians (IQR, min-max); load {load_avg()} at the end")
    for m in modes:
        print(
            f"  {m:>12}: {spread(rates[m], '{:.1f}')} real tokens/s; real tokens per step "
            f"{spread([float(x) for x in tokens[m]], '{:.0f}')}; padding {statistics.fmean(pads[m]):.0%}"
        )
    result = {"threads": torch.get_num_threads(), "omp_wait": policy.split()[0], "load_end": load_avg()}
    for m, xs in ratios.items():
        if xs:
            print(f"  {m} / baseline, per round: {spread(xs)}x")
            result[f"{m}/baseline"] = round(statistics.median(xs), 2)
    if "grouped" in modes and "grouped-bf16" in modes:
        x = [a / b for a, b in zip(rates["grouped-bf16"], rates["grouped"])]
        d = [abs(a - b) for a, b in zip(losses["grouped-bf16"], losses["grouped"])]
        e = [abs(a - b) for a, b in zip(noise, losses["grouped"])]
        print(f"  grouped-bf16 / grouped, per round: {spread(x)}x")
        print(
            f"  loss, bf16 vs fp32 over {len(d)} steps (same seed, same batches): max |diff| {max(d):.4f}, mean "
            f"{statistics.fmean(d):.4f} (losses {min(losses['grouped']):.2f}-{max(losses['grouped']):.2f}); "
            f"fp32 seed 1 vs seed 0 (the noise of a rerun): max {max(e):.4f}, mean {statistics.fmean(e):.4f}"
        )
        print(
            "  per-step loss fp32 / bf16 / fp32 seed 1: "
            + "  ".join(f"{a:.4f}/{b:.4f}/{c:.4f}" for a, b, c in zip(losses["grouped"], losses["grouped-bf16"], noise))
        )
        result.update(
            bf16_vs_fp32=round(statistics.median(x), 2),
            bf16_max_loss_diff=round(max(d), 4),
            seed_noise_max_loss_diff=round(max(e), 4),
        )
    print("RESULT training " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
