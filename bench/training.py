"""Training benchmark: real (non-pad) tokens/s of our LoRA trainer vs a plain padded `transformers.Trainer`.

Same model, same LoRA settings, same examples with the same assistant-only labels (our chat-template
tokenisation), in the same process one after another. The baseline pads each batch of examples in data order
(DataCollatorForSeq2Seq style, no length grouping) and computes the LM head at every position; ours runs
`engine.training.train` on a run folder, so the numbers are the trainer's own `tokens` / timestamps in
metrics.jsonl: "packed" concatenates examples into rows of max_len (position ids restart per example, so no
attention across examples) and "grouped" batches examples of similar length. Both of ours compute the LM head
only at labelled positions. The first step of each is warm-up and not counted.

By default single steps are interleaved (one step of each mode per round). On a shared machine the other
processes' load swings step times by 10x or more, so the **best** step of each mode (as `timeit` reports the
minimum) is the figure to compare; medians and tokens per CPU-second are printed too.

    .venv/bin/python bench/training.py                    # SmolLM2-135M, CPU, interleaved steps (default)
    .venv/bin/python bench/training.py --sequential       # whole runs: train() on a run folder vs Trainer.train()
    .venv/bin/python bench/training.py --steps 20 --device cuda --modes packed,grouped,baseline
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "alpaca_5000" / "alpaca_5000.json"


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


def ours(model_path: str, recs: list[dict], args, packing: str) -> dict:
    from engine import training as T
    from engine.core.jobs import read_jsonl

    folder = Path(tempfile.mkdtemp(prefix=f"bench-{packing}-"))
    try:
        train = T.TrainSettings(
            max_steps=args.steps,
            lr=1e-4,
            max_len=args.max_len,
            packing=packing,
            batch_size=args.rows if packing == "packed" else args.batch,
            eval_every=0,
            save_every=0,
            eval_per_domain=0,
            device=args.device,
            seed=0,
        )
        cfg = T.config_dict(
            base_model=model_path, protocol="multi_task", order=None, lora=T.LoraSettings(), train=train
        )
        (folder / "config.json").write_text(json.dumps(cfg))
        (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        T.train(folder)
        lines = read_jsonl(folder / "metrics.jsonl")  # split on "\n" only, never splitlines()
        steps = [x for x in lines if "loss" in x]
        timed = steps[1:]
        tokens = sum(x["tokens"] for x in timed)
        secs = steps[-1]["ts"] - steps[0]["ts"]
        cpu = steps[-1]["cpu_s"] - steps[0]["cpu_s"]
        return {
            "tokens": tokens,
            "seconds": secs,
            "tokens_per_s": tokens / secs,
            "cpu_s": cpu,
            "tokens_per_cpu_s": tokens / cpu,
            "steps": len(timed),
            "loss_first": steps[0]["loss"],
            "loss_last": steps[-1]["loss"],
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def baseline(model_path: str, recs: list[dict], args) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from engine.training import tokenize_records

    tok = AutoTokenizer.from_pretrained(model_path)
    exs, _ = tokenize_records(tok, recs, args.max_len)
    data = [{"input_ids": e.ids, "attention_mask": [1] * len(e.ids), "labels": e.labels} for e in exs]
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model = get_peft_model(
        model,
        LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    inner = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
    counts: list[int] = []
    slots: list[int] = []

    def collate(batch):
        out = inner(batch)
        counts.append(int(out["attention_mask"].sum()))
        slots.append(int(out["attention_mask"].numel()))
        return out

    marks: list[float] = []
    cpu: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *a, **k):
            marks.append(time.perf_counter())
            cpu.append(time.process_time())

    out_dir = tempfile.mkdtemp(prefix="bench-trainer-")
    try:
        targs = TrainingArguments(
            output_dir=out_dir,
            per_device_train_batch_size=args.batch,
            max_steps=args.steps,
            learning_rate=1e-4,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            use_cpu=args.device == "cpu",
            seed=0,
            dataloader_num_workers=0,
            remove_unused_columns=False,
            disable_tqdm=True,
        )
        tr = Trainer(model=model, args=targs, train_dataset=data, data_collator=collate, callbacks=[Clock()])
        res = tr.train()
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    # counts[i] is batch i's real tokens; marks[i] ends step i (the dataloader may prefetch one batch ahead)
    tokens = sum(counts[1 : args.steps])
    secs = marks[-1] - marks[0]
    return {
        "tokens": tokens,
        "seconds": secs,
        "tokens_per_s": tokens / secs,
        "cpu_s": cpu[-1] - cpu[0],
        "tokens_per_cpu_s": tokens / (cpu[-1] - cpu[0]),
        "steps": len(marks) - 1,
        "pad_share": 1 - sum(counts[1 : args.steps]) / max(1, sum(slots[1 : args.steps])),
        "train_loss": res.training_loss,
    }


def interleaved(model_path: str, recs: list[dict], args) -> dict:
    """Round-robin steps: one step of each mode per round, so a load swing on a shared machine hits all modes
    alike; the median step of each is reported. Ours: the trainer's own batching (build_plan/collate_rows) and
    loss (token_losses); baseline: `Trainer.training_step` on the Trainer's own padded dataloader."""
    import statistics

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from engine import training as T

    tok = AutoTokenizer.from_pretrained(model_path)
    exs, _ = T.tokenize_records(tok, recs, args.max_len)
    pad = tok.pad_token_id

    def lora_model():
        torch.manual_seed(0)
        m = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        m = get_peft_model(
            m,
            LoraConfig(
                r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"
            ),
        )
        m.train()
        return m

    steppers = {}
    for mode in args.modes.split(","):
        if mode == "baseline":
            model = lora_model()
            data = [{"input_ids": e.ids, "attention_mask": [1] * len(e.ids), "labels": e.labels} for e in exs]
            out_dir = tempfile.mkdtemp(prefix="bench-trainer-")
            targs = TrainingArguments(
                output_dir=out_dir,
                per_device_train_batch_size=args.batch,
                learning_rate=1e-4,
                report_to=[],
                use_cpu=args.device == "cpu",
                seed=0,
                disable_tqdm=True,
                remove_unused_columns=False,
                dataloader_num_workers=0,
            )
            tr = Trainer(
                model=model,
                args=targs,
                train_dataset=data,
                data_collator=DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100),
            )
            tr.create_optimizer_and_scheduler(num_training_steps=args.steps)
            tr.current_gradient_accumulation_steps = 1  # set by Trainer.train() otherwise
            it = iter(tr.get_train_dataloader())

            def step(tr=tr, it=it):
                batch = next(it)
                n = int(batch["attention_mask"].sum())
                tr.training_step(tr.model, batch)
                tr.optimizer.step()
                tr.model.zero_grad(set_to_none=True)
                return n, int(batch["attention_mask"].numel())
        else:
            model = lora_model()
            st = T.TrainSettings(
                max_steps=args.steps,
                max_len=args.max_len,
                packing=mode,
                batch_size=args.rows if mode == "packed" else args.batch,
                seed=0,
            )
            plan, _names, _ = T.build_plan(exs, "multi_task", None, st)
            opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            batches = iter(plan)

            def step(model=model, opt=opt, batches=batches, packed=mode == "packed"):
                _kind, rows = next(batches)
                b = T.collate_rows(exs, rows, pad, packed)
                n = b.pop("n_tokens")
                slots = int(b["input_ids"].numel())
                T.token_losses(model, b).backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                return n, slots

        steppers[mode] = step
    rates: dict[str, list[float]] = {m: [] for m in steppers}
    cpu_rates: dict[str, list[float]] = {m: [] for m in steppers}
    pads: dict[str, list[float]] = {m: [] for m in steppers}
    for rnd in range(args.steps):
        for mode, step in steppers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            n, slots = step()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            print(
                f"  round {rnd + 1} {mode:>9}: {n:5d} real tokens ({1 - n / slots:4.0%} padding) "
                f"{dt:6.1f} s, {n / dt:6.1f} tokens/s",
                flush=True,
            )
            if rnd:  # round 1 is warm-up
                rates[mode].append(n / dt)
                cpu_rates[mode].append(n / max(dc, 1e-9))
                pads[mode].append(1 - n / slots)
    return {
        m: {
            "tokens_per_s": statistics.median(rates[m]),
            "best_tokens_per_s": max(rates[m]),
            "tokens_per_cpu_s": statistics.median(cpu_rates[m]),
            "pad_share": statistics.mean(pads[m]),
            "steps": len(rates[m]),
        }
        for m in steppers
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2", help="base model spec (engine.core.models); default SmolLM2-135M")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--n", type=int, default=200, help="records to draw from the data set")
    ap.add_argument("--steps", type=int, default=5, help="steps (rounds) per mode; the first is warm-up")
    ap.add_argument("--batch", type=int, default=4, help="examples per batch (baseline and grouped)")
    ap.add_argument("--rows", type=int, default=1, help="packed rows of max_len per batch (ours, packed)")
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--modes", default="packed,grouped,baseline")
    ap.add_argument(
        "--sequential",
        action="store_true",
        help="run each mode whole, one after another (ours: engine.training.train on a run folder; "
        "baseline: Trainer.train) instead of interleaving single steps",
    )
    args = ap.parse_args(argv)

    from engine.core.models import local_folder, resolve

    model_path = local_folder(resolve(args.model))
    recs = load_records(args.data, args.n)
    print(
        f"model {model_path}\n{len(recs)} records from {args.data.name}; {args.steps} steps each "
        f"(first one not timed); max_len {args.max_len}; device {args.device}",
        flush=True,
    )
    if not args.sequential:
        results = interleaved(model_path, recs, args)
        for mode, r in results.items():
            print(
                f"{mode:>9}: best step {r['best_tokens_per_s']:8.1f} real tokens/s, median {r['tokens_per_s']:8.1f}, "
                f"median {r['tokens_per_cpu_s']:8.2f} per CPU-second, {r['pad_share']:.0%} padding "
                f"({r['steps']} timed steps)"
            )
        if "baseline" in results:
            b = results["baseline"]
            for mode, r in results.items():
                if mode != "baseline":
                    print(
                        f"ratio {mode} / baseline: best {r['best_tokens_per_s'] / b['best_tokens_per_s']:.2f}x, "
                        f"median {r['tokens_per_s'] / b['tokens_per_s']:.2f}x tokens/s, "
                        f"{r['tokens_per_cpu_s'] / b['tokens_per_cpu_s']:.2f}x tokens per CPU-second"
                    )
        print(json.dumps(results))
        return 0
    results = {}
    for mode in args.modes.split(","):
        t0 = time.perf_counter()
        results[mode] = baseline(model_path, recs, args) if mode == "baseline" else ours(model_path, recs, args, mode)
        r = results[mode]
        print(
            f"{mode:>9}: {r['tokens_per_s']:8.1f} real tokens/s, {r['tokens_per_cpu_s']:8.2f} per CPU-second "
            f"({r['tokens']:,} tokens in {r['seconds']:.1f} s, {r['cpu_s']:.1f} CPU-s, {r['steps']} timed steps; "
            f"wall {time.perf_counter() - t0:.0f} s)"
            + (f"; {r['pad_share']:.0%} of its batch slots are padding" if "pad_share" in r else ""),
            flush=True,
        )
    if "baseline" in results:
        b = results["baseline"]
        for mode in results:
            if mode != "baseline":
                r = results[mode]
                print(
                    f"ratio {mode} / baseline: {r['tokens_per_s'] / b['tokens_per_s']:.2f}x tokens/s, "
                    f"{r['tokens_per_cpu_s'] / b['tokens_per_cpu_s']:.2f}x tokens per CPU-second"
                )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
