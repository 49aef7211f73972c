"""Scoring benchmark: samples/s of the batch-1 reference loop (Superfiltering code style) vs ours.

Same model, same samples (the first N records of a shared Alpaca-format dataset); prints both rates,
the ratio and the largest absolute IFD difference.

    .venv/bin/python bench/scoring.py                       # 200 samples, SmolLM2-135M, CPU
    .venv/bin/python bench/scoring.py --n 1000 --device cuda
    .venv/bin/python bench/scoring.py --data ../shared/datasets/alpaca_5000/alpaca_5000.json

On a 2-core CPU the ceiling is about 1.7x (see ../shared/docs/stack.md §3): the reference already spends
most of its time in matmuls; the gains come from skipping the LM head outside response tokens,
length-sorted batches and no per-sample overhead. On a GPU batching is where the large factor comes from.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "alpaca_gpt4_en_demo" / "alpaca_en_demo.json"


def load_items(path: Path, n: int):
    from engine.quality.ifd import Item

    data = json.loads(path.read_text(encoding="utf-8"))[:n]
    items = []
    for k, r in enumerate(data):
        instr, inp, out = r["instruction"], r.get("input", ""), r["output"]
        prompt = f"{instr}\n{inp}\n" if inp else f"{instr}\n"
        items.append(Item(k, prompt, out, instr, inp))
    return items


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default=None, help="fp32 (CPU default) | bf16 (GPU default)")
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--token-budget", type=int, default=None)
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--blocks", type=int, default=4, help="interleave reference/ours in this many blocks")
    args = ap.parse_args()

    import torch

    from engine.core.models import load_causal_lm
    from engine.quality.ifd import IFDParams, score_items
    from tests.ifd_reference import superfiltering_reference

    t = time.perf_counter()
    model, tok, src = load_causal_lm(args.model, device=args.device, dtype=args.dtype)
    dev = next(model.parameters()).device
    print(
        f"model {src.name} on {dev} ({next(model.parameters()).dtype}), loaded in "
        f"{time.perf_counter() - t:.1f}s; torch threads {torch.get_num_threads()}",
        flush=True,
    )
    items = load_items(Path(args.data), args.n)
    print(f"{len(items)} samples from {args.data}", flush=True)

    # warm-up (kernels, allocator) on a few samples, not timed
    score_items(model, tok, items[:4], IFDParams(max_length=args.max_length))
    ref = {}
    if not args.skip_reference:
        for it in items[:2]:
            superfiltering_reference(model, tok, it.prompt, it.response, args.max_length)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    # Interleaved blocks (reference then ours on the same block) so that drifting machine load hits both alike.
    params = IFDParams(max_length=args.max_length, token_budget=args.token_budget)
    t_ref = t_ours = 0.0
    got = []
    block = max(1, len(items) // args.blocks)
    for k in range(0, len(items), block):
        part = items[k : k + block]
        if not args.skip_reference:
            sync()
            t = time.perf_counter()
            for it in part:
                ref[it.sample_id] = superfiltering_reference(model, tok, it.prompt, it.response, args.max_length)["ifd"]
            sync()
            t_ref += time.perf_counter() - t
        sync()
        t = time.perf_counter()
        got += score_items(model, tok, part, params)
        sync()
        t_ours += time.perf_counter() - t
    if not args.skip_reference:
        print(
            f"reference (batch 1, two forwards, full logits): {len(items) / t_ref:.2f} samples/s ({t_ref:.1f}s)",
            flush=True,
        )
    print(
        f"ours (length-sorted batches, LM head at response positions): {len(items) / t_ours:.2f} samples/s "
        f"({t_ours:.1f}s)",
        flush=True,
    )
    if ref:
        diffs = [
            abs(g.values["ifd"] - ref[g.sample_id])
            for g in got
            if g.values.get("ifd") is not None and not math.isnan(ref[g.sample_id])
        ]
        print(
            f"ratio ours/reference: {t_ref / t_ours:.2f}x   max |IFD diff| {max(diffs):.2e} over {len(diffs)} samples",
            flush=True,
        )


if __name__ == "__main__":
    main()
