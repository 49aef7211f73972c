"""Scoring benchmark: IFD samples/s and GFLOP/s of ours (fp32, and bf16 where the hardware has bf16 units) against
the batch-1 reference loop (Superfiltering code style) and a plain 2048x2048 matmul, all in the same run.

Same model, same samples (the first N records of a shared Alpaca-format dataset), cut into rounds; each round
measures every part on its own block of samples, one after another in a rotating order, so that a machine whose
load drifts hits every part alike. A progress line is printed after every part. Per round:
  - the matmul rate: 2048x2048 fp32 matmuls back to back for 3 s (and bf16 when measured);
  - the reference: two forwards per sample at batch 1, full logits (tests/ifd_reference.py), fp32;
  - ours in fp32 and in bf16 (score_items: length-sorted batches, LM head only at response positions).
Figures are medians over rounds (spread: min-max). GFLOP/s counts the same useful work for every part: the linear
layers of the body on real tokens (2 x their weights), causal attention (2 x 2 x T(T+1)/2 x width per layer and
sequence), and the LM head at the scored positions; padding and the reference's extra head positions are waste,
not work. bf16 agreement with fp32 on the same samples: max |IFD diff|, Spearman rank correlation, overlap of
the SuperFiltering pick (top 10% by IFD among IFD < 1) and samples that cross IFD = 1.

    .venv/bin/python bench/scoring.py                           # 96 samples, SmolLM2-135M, CPU, fp32 (+bf16 if fast)
    .venv/bin/python bench/scoring.py --threads 1 --rounds 6
    .venv/bin/python bench/scoring.py --n 1000 --device cuda --skip-reference

The last line starts with "RESULT scoring" and holds the ratios, to compare across commits.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
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


def load_avg() -> str:
    try:
        return "%.1f" % os.getloadavg()[0]
    except OSError:
        return "?"


def ranks(xs: list[float]) -> list[float]:
    """Ranks (1-based), ties averaged."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = ranks(a), ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = math.sqrt(sum((x - ma) ** 2 for x in ra))
    vb = math.sqrt(sum((y - mb) ** 2 for y in rb))
    return cov / (va * vb) if va and vb else float("nan")


def superfiltering_pick(ifd: dict[int, float], rate: float = 0.1) -> set[int]:
    """SuperFiltering's selection on these samples: IFD < 1, the highest first, int(N x rate) of them."""
    keep = sorted((v, k) for k, v in ifd.items() if v < 1)
    n = max(1, int(len(ifd) * rate))
    return {k for _, k in keep[-n:]}


def agreement(a: dict[int, float], b: dict[int, float]) -> dict:
    ids = [k for k in a if k in b]
    xa, xb = [a[k] for k in ids], [b[k] for k in ids]
    pa, pb = superfiltering_pick(a), superfiltering_pick(b)
    return {
        "n": len(ids),
        "max_abs_diff": max(abs(x - y) for x, y in zip(xa, xb)),
        "mean_abs_diff": statistics.fmean(abs(x - y) for x, y in zip(xa, xb)),
        "spearman": spearman(xa, xb),
        "pick_overlap": len(pa & pb) / max(1, len(pa)),
        "pick_size": len(pa),
        "cross_1": sum((x < 1) != (y < 1) for x, y in zip(xa, xb)),
    }


def useful_flops(model, tok, items, max_length: int) -> float:
    """The work of scoring `items` (both passes): body linears on real tokens, causal attention, LM head at the
    scored positions."""
    import torch

    from engine.quality.ifd import prepare_superfiltering

    body = model.base_model
    lin = sum(m.weight.numel() for m in body.modules() if isinstance(m, torch.nn.Linear))
    cfg = model.config
    layers = getattr(cfg, "num_hidden_layers", 0)
    width = getattr(cfg, "num_attention_heads", 0) * (
        getattr(cfg, "head_dim", None) or cfg.hidden_size // max(1, getattr(cfg, "num_attention_heads", 1))
    )
    head = model.get_output_embeddings().weight.numel()
    total = 0.0
    for it in items:
        d, c, reason, _ = prepare_superfiltering(tok, it, max_length)
        if reason:
            continue
        for s in (d, c):
            t = len(s.ids)
            total += 2 * lin * t + 4 * layers * width * t * (t + 1) / 2 + 2 * head * (s.end - s.start)
    return total


def matmul_rate(dtype, n: int = 2048, seconds: float = 3.0) -> float:
    """GFLOP/s of n x n matmuls run back to back for `seconds` (after one warm-up): a rate over a stretch of time,
    as ours is, so that a busy machine's swings weigh on both alike."""
    import torch

    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    k, t0 = 0, time.perf_counter()
    while True:
        a @ b
        k += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return 2 * n**3 * k / dt / 1e9


def spread(xs: list[float], fmt: str = "{:.2f}") -> str:
    if not xs:
        return "-"
    return f"{fmt.format(statistics.median(xs))} ({fmt.format(min(xs))}-{fmt.format(max(xs))})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=96, help="samples (cut into --rounds blocks)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--dtypes",
        default="auto",
        help="ours in these dtypes, comma separated (fp32, bf16); auto: fp32, plus bf16 where the device has bf16 "
        "units (engine.core.hardware)",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, every core)")
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--max-length", type=int, default=1024)
    ap.add_argument("--token-budget", type=int, default=None)
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args(argv)

    from engine.core.hardware import set_omp_wait_policy

    policy = set_omp_wait_policy()  # as the scoring worker does, before torch loads

    import torch

    from engine.core.hardware import bf16_fast, cpu_info
    from engine.core.models import load_causal_lm
    from engine.quality.ifd import IFDParams, score_items
    from tests.ifd_reference import superfiltering_reference

    if args.threads:
        torch.set_num_threads(args.threads)
    dtypes = (
        args.dtypes.split(",") if args.dtypes != "auto" else ["fp32"] + (["bf16"] if bf16_fast(args.device) else [])
    )
    print(
        f"machine: {cpu_info().describe()}; torch {torch.__version__}, {torch.get_num_threads()} threads, OpenMP "
        f"wait {policy}; device {args.device}; load {load_avg()} at start",
        flush=True,
    )
    if "bf16" not in dtypes:
        print("bf16: not measured (no bf16 units here, or not asked for)", flush=True)
    models = {}
    for dt in dtypes:
        t = time.perf_counter()
        model, tok, src = load_causal_lm(args.model, device=args.device, dtype=dt)
        models[dt] = model
        print(f"model {src.name} in {dt} loaded in {time.perf_counter() - t:.1f}s", flush=True)
    ref_model = models.get("fp32") or next(iter(models.values()))
    items = load_items(Path(args.data), args.n)
    flops_of = {}
    block = math.ceil(len(items) / args.rounds)
    blocks = [items[k : k + block] for k in range(0, len(items), block)]
    for b in blocks:
        flops_of[id(b[0])] = useful_flops(ref_model, tok, b, args.max_length)
    print(
        f"{len(items)} samples from {args.data} in {len(blocks)} rounds; "
        f"{sum(flops_of.values()) / 1e9:.0f} GFLOP of work in all",
        flush=True,
    )
    params = IFDParams(max_length=args.max_length, token_budget=args.token_budget)
    for model in models.values():  # warm-up (kernels, allocator), not timed
        score_items(model, tok, items[:4], params)
    if not args.skip_reference:
        superfiltering_reference(ref_model, tok, items[0].prompt, items[0].response, args.max_length)

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    parts = ["matmul"] + ([] if args.skip_reference else ["reference"]) + [f"ours {dt}" for dt in dtypes]
    rates: dict[str, list[float]] = {p: [] for p in parts if p != "matmul"}  # samples/s per round
    gflops: dict[str, list[float]] = {p: [] for p in parts}
    mm_bf16: list[float] = []
    share: dict[str, list[float]] = {dt: [] for dt in dtypes}
    ifd: dict[str, dict[int, float]] = {p: {} for p in parts if p != "matmul"}
    t_start = time.perf_counter()
    for r, part_items in enumerate(blocks):
        flop = flops_of[id(part_items[0])]
        order = parts[r % len(parts) :] + parts[: r % len(parts)]
        mm = None
        for part in order:
            sync()
            t = time.perf_counter()
            if part == "matmul":
                if args.device == "cpu":
                    mm = matmul_rate(torch.float32)
                    if "bf16" in dtypes:
                        mm_bf16.append(matmul_rate(torch.bfloat16))
                    gflops["matmul"].append(mm)
                    print(
                        f"  round {r + 1}/{len(blocks)} matmul 2048^2: fp32 {mm:.0f} GFLOP/s"
                        + (f", bf16 {mm_bf16[-1]:.0f}" if mm_bf16 else "")
                        + f"  [load {load_avg()}]",
                        flush=True,
                    )
                continue
            if part == "reference":
                for it in part_items:
                    v = superfiltering_reference(ref_model, tok, it.prompt, it.response, args.max_length)["ifd"]
                    if not math.isnan(v):
                        ifd[part][it.sample_id] = v
            else:
                got = score_items(models[part.split()[1]], tok, part_items, params)
                ifd[part].update({g.sample_id: g.values["ifd"] for g in got if g.values.get("ifd") is not None})
            sync()
            dt_s = time.perf_counter() - t
            rates[part].append(len(part_items) / dt_s)
            gflops[part].append(flop / dt_s / 1e9)
            print(
                f"  round {r + 1}/{len(blocks)} {part}: {len(part_items)} samples in {dt_s:.1f}s = "
                f"{rates[part][-1]:.2f} samples/s, {gflops[part][-1]:.0f} GFLOP/s  [load {load_avg()}]",
                flush=True,
            )
        if mm is not None:
            for dt in dtypes:
                share[dt].append(gflops[f"ours {dt}"][-1] / mm)
        print(f"  ... {time.perf_counter() - t_start:.0f}s elapsed", flush=True)

    print(f"\nmedians over {len(blocks)} rounds (min-max); load {load_avg()} at the end")
    if gflops["matmul"]:
        print(f"  matmul 2048^2 fp32: {spread(gflops['matmul'], '{:.0f}')} GFLOP/s")
    if mm_bf16:
        print(f"  matmul 2048^2 bf16: {spread(mm_bf16, '{:.0f}')} GFLOP/s")
    for p in rates:
        print(f"  {p:>10}: {spread(rates[p])} samples/s, {spread(gflops[p], '{:.0f}')} GFLOP/s")
    result = {"threads": torch.get_num_threads(), "omp_wait": policy.split()[0], "load_end": load_avg()}
    for dt in dtypes:
        if share[dt]:
            print(f"  ours {dt} as a share of the fp32 matmul rate in the same round: {spread(share[dt], '{:.0%}')}")
            result[f"{dt}_share_of_fp32_matmul"] = round(statistics.median(share[dt]), 3)
        result[f"{dt}_samples_per_s"] = round(statistics.median(rates[f"ours {dt}"]), 3)
        result[f"{dt}_gflops"] = round(statistics.median(gflops[f"ours {dt}"]), 1)
    if gflops["matmul"]:
        result["matmul_fp32_gflops"] = round(statistics.median(gflops["matmul"]), 1)
    if "reference" in rates:
        for dt in dtypes:
            x = [a / b for a, b in zip(rates[f"ours {dt}"], rates["reference"])]
            print(f"  ours {dt} / reference (per round): {spread(x)}x")
            result[f"{dt}_vs_reference"] = round(statistics.median(x), 2)
        if "fp32" in dtypes:
            ag = agreement(ifd["reference"], ifd["ours fp32"])
            print(f"  ours fp32 vs reference: max |IFD diff| {ag['max_abs_diff']:.1e} over {ag['n']} samples")
    if "bf16" in dtypes and "fp32" in dtypes:
        x = [a / b for a, b in zip(rates["ours bf16"], rates["ours fp32"])]
        ag = agreement(ifd["ours fp32"], ifd["ours bf16"])
        print(
            f"  bf16 / fp32 (per round): {spread(x)}x; agreement over {ag['n']} samples: max |IFD diff| "
            f"{ag['max_abs_diff']:.4f} (mean {ag['mean_abs_diff']:.4f}), Spearman {ag['spearman']:.4f}, "
            f"SuperFiltering top-10% pick overlap {ag['pick_overlap']:.0%} of {ag['pick_size']}, "
            f"{ag['cross_1']} samples cross IFD = 1"
        )
        result.update(
            bf16_vs_fp32=round(statistics.median(x), 2),
            bf16_max_abs_ifd_diff=round(ag["max_abs_diff"], 4),
            bf16_spearman=round(ag["spearman"], 4),
            bf16_pick_overlap=round(ag["pick_overlap"], 3),
        )
    print("RESULT scoring " + " ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
