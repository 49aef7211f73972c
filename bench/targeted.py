"""Targeted-selection benchmark, each part against its baseline in the same run (docs/targeting.md):

- rr: round-robin over a queries x candidates similarity (default 500 x 200,000 float32, random) with ours
  (per-query lists, rebuilt over what is left) vs the plain loop (an argmax over the whole row per pick);
  same budget; the orders must be equal.
- grads: per-example LoRA gradients, batched with torch.func vs the batch-1 backward loop (the reference's
  way), same model (a small random Llama by default, or --model smollm2 / a folder) and the same examples
  (the sample math pool's conversations); prints examples/s of both, the ratio, the largest difference.

    .venv/bin/python bench/targeted.py                        # both parts, CPU
    .venv/bin/python bench/targeted.py --part rr --queries 500 --candidates 200000 --budget 10000
    .venv/bin/python bench/targeted.py --part grads --model smollm2 --device cuda --n 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_rr(args) -> None:
    from engine.targeting.round_robin import round_robin, round_robin_naive

    rng = np.random.default_rng(0)
    S = rng.standard_normal((args.queries, args.candidates), dtype=np.float32)
    t = time.perf_counter()
    ours = round_robin(S, args.budget).order
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    naive = round_robin_naive(S, args.budget)
    t_naive = time.perf_counter() - t
    assert ours.tolist() == naive, "round-robin orders differ"
    print(
        f"rr {args.queries} x {args.candidates:,}, budget {args.budget:,}: naive argmax loop {t_naive:.2f}s, "
        f"ours {t_ours:.2f}s -> {t_naive / t_ours:.1f}x (orders equal)"
    )


def _model(args):
    import torch
    from peft import LoraConfig, get_peft_model

    if args.model == "tiny":
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        from engine.core.models import local_folder, resolve

        tok = AutoTokenizer.from_pretrained(local_folder(resolve("smollm2")))  # SmolLM2's tokenizer, a small model
        torch.manual_seed(0)
        cfg = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=256,
            intermediate_size=512,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=2048,
        )
        base = LlamaForCausalLM(cfg)
    else:
        from engine.core.models import load_causal_lm

        base, tok, _src = load_causal_lm(args.model, device="cpu", dtype="fp32")
    lora = LoraConfig(r=args.rank, lora_alpha=4 * args.rank, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(base, lora)
    for n, p in model.named_parameters():
        if "lora_B" in n:
            p.data.normal_(0, 0.01)
    dev = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    return model.to(dev).eval(), tok, dev


def _examples(tok, n: int, max_tokens: int):
    rows = [json.loads(line) for line in (ROOT / "sample_data" / "pools" / "math.jsonl").open(encoding="utf-8")]
    out = []
    for r in (rows * (n // len(rows) + 1))[:n]:
        p = tok(f"user: {r['question']}\nassistant:", truncation=True, max_length=max_tokens // 2)["input_ids"]
        a = tok(" " + r["answer"] + (tok.eos_token or ""), add_special_tokens=False)["input_ids"][: max_tokens // 2]
        out.append((p + a, [-100] * len(p) + a))
    return out


def bench_grads(args) -> None:
    import torch

    from engine.targeting.less import grads_loop, per_example_grads, trainable

    model, tok, dev = _model(args)
    ex = _examples(tok, args.n, args.max_tokens)
    D = sum(p.numel() for p in trainable(model).values())
    per_example_grads(model, ex[: min(2, len(ex))], batch_size=2)  # warm-up
    if dev == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    loop = grads_loop(model, ex)
    t_loop = time.perf_counter() - t
    t = time.perf_counter()
    batched = per_example_grads(model, ex, batch_size=args.batch_size)
    if dev == "cuda":
        torch.cuda.synchronize()
    t_batch = time.perf_counter() - t
    diff = float(np.abs(batched - loop).max())
    mean_len = np.mean([len(x) for x, _y in ex])
    print(
        f"grads {args.model} LoRA r={args.rank} ({D:,} params), {len(ex)} examples of ~{mean_len:.0f} tokens on {dev}: "
        f"batch-1 loop {len(ex) / t_loop:.1f}/s, batched ({args.batch_size}) {len(ex) / t_batch:.1f}/s -> "
        f"{t_loop / t_batch:.2f}x; max |diff| {diff:.2e}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["rr", "grads", "all"], default="all")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--candidates", type=int, default=200_000)
    ap.add_argument("--budget", type=int, default=5000)
    ap.add_argument("--model", default="tiny", help="tiny (a small random Llama), smollm2, or a model folder")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if args.part in ("rr", "all"):
        bench_rr(args)
    if args.part in ("grads", "all"):
        bench_grads(args)


if __name__ == "__main__":
    main()
