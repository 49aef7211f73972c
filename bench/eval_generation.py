"""Evaluation generation benchmark: items/s of the eval worker's generation (`generate_outputs`, as
`score_chunk` calls it) against a plain batch-1 `model.generate` loop over the same items with the same
settings (greedy, the same max_new_tokens and end tokens), and whether each greedy output is identical.

The items are the first --per-set items of the sample eval sets (imported into a throw-away store, so the
scorers are detected as in the app) and the prompts are rendered with the model's chat template as the
worker renders them. Rounds run both sides back to back, alternating which goes first, so that the load of
a shared machine hits both alike; the ratio printed last is the median of the rounds' ratios, of wall-clock
time (what a user waits) and of the process's CPU time (the work done; one torch thread by default, so it
barely depends on how much of a busy machine the process gets).

    .venv/bin/python bench/eval_generation.py                          # 12 items (4 math, 4 code, 4 tool)
    .venv/bin/python bench/eval_generation.py --per-set 8 --rounds 3   # 24 items, 3 rounds
    .venv/bin/python bench/eval_generation.py --batch-size 16 --max-new-tokens 128
    .venv/bin/python bench/eval_generation.py --also-dtype bf16          # + bf16 speed and agreement
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_items(sets: list[str], per_set: int) -> list[dict]:
    """The eval worker's item dicts for the first `per_set` checkable samples of each sample eval set."""
    from engine.core.store import Store
    from engine.data.ingest import import_file
    from engine.evaluation import evaluate as ev
    from engine.evaluation.evaluate.sets import pool_items

    out: list[dict] = []
    with tempfile.TemporaryDirectory() as d, Store(Path(d) / "bench.duckdb") as st:
        for name in sets:
            path = ROOT / "sample_data" / "eval" / f"{name}_eval.jsonl"
            if not path.is_file():
                raise SystemExit(f"no eval set {path}")
            import_file(st, path, pool=f"{name}_eval", domain=name)
            ev.set_role(st, f"{name}_eval", "eval")
            items, _ = pool_items(st, f"{name}_eval", max_items=per_set)
            out += [asdict(it) | {"eval_set": f"{name}_eval"} for it in items]
    return out


def reads(scorer: str, text: str):
    """What the item's scorer reads from an output: the final number, the math answer, the code it runs, the
    calls it parses."""
    from engine.evaluation.scorers import extract_code, gsm8k_prediction, math_prediction, parse_tool_calls

    try:
        if scorer == "gsm8k":
            return gsm8k_prediction(text)
        if scorer == "math":
            return math_prediction(text)[0]
        if scorer == "code":
            return extract_code(text)
        return json.dumps(parse_tool_calls(text), sort_keys=True, default=str)
    except Exception as e:  # noqa: BLE001 - an output the parser refuses: compare the refusal
        return f"error: {e}"


def main() -> None:
    from engine.evaluation.evaluate.settings import EvalSettings

    d = EvalSettings()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--sets", default="math,code,tool", help="sample eval sets (sample_data/eval/<name>_eval.jsonl)")
    ap.add_argument("--per-set", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens)
    ap.add_argument("--batch-size", type=int, default=d.batch_size)
    ap.add_argument("--chunk", type=int, default=d.chunk, help="items per worker chunk (one generate call each)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the worker's, half the cores)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--save", default=None, help="write both sides' outputs to this JSON file")
    ap.add_argument(
        "--also-dtype",
        default=None,
        help="after the rounds, time ours with the model in this dtype too (e.g. bf16 on a CPU with bf16 units) "
        "and report how many outputs, and how many answers the scorers read, agree with the first dtype's",
    )
    args = ap.parse_args()

    import torch

    from engine.core.models import load_causal_lm
    from engine.evaluation.code_check import extract_code
    from engine.evaluation.generation import stop_token_ids
    from engine.evaluation.worker import GENERATING_SCORERS, _set_threads, generate_outputs, render_prompt

    _set_threads({"threads": args.threads})
    t = time.perf_counter()
    model, tok, src = load_causal_lm(args.model, device=args.device, dtype=args.dtype)
    dev = next(model.parameters()).device
    print(
        f"model {src.name} on {dev} ({next(model.parameters()).dtype}), loaded in {time.perf_counter() - t:.1f}s; "
        f"torch threads {torch.get_num_threads()} of {os.cpu_count()} cores",
        flush=True,
    )
    items = [it for it in load_items(args.sets.split(","), args.per_set) if it["scorer"] in GENERATING_SCORERS]
    prompts = [render_prompt(tok, it["messages"], it.get("tools")) for it in items]
    s = asdict(d) | {"max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "greedy": True}
    eos = stop_token_ids(model, tok)
    n = len(items)
    print(
        f"{n} items ({', '.join(sorted({it['scorer'] for it in items}))}), prompts "
        f"{min(len(tok(p)['input_ids']) for p in prompts)}-{max(len(tok(p)['input_ids']) for p in prompts)} tokens; "
        f"greedy, max_new_tokens {args.max_new_tokens}, batch_size {args.batch_size}, chunk {args.chunk}; "
        f"end tokens {eos} ({tok.convert_ids_to_tokens(eos)})",
        flush=True,
    )

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def loop() -> tuple[list[str], list[int], float, float]:
        """The baseline: one prompt at a time through model.generate (its own KV cache, no padding)."""
        texts, lens = [], []
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        for k, p in enumerate(prompts):
            enc = tok(p, return_tensors="pt", add_special_tokens=False).to(dev)
            with torch.no_grad():
                g = model.generate(
                    **enc,
                    max_new_tokens=args.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=eos,
                )
            new = g[0, enc["input_ids"].shape[1] :]
            texts.append(tok.decode(new, skip_special_tokens=True))
            lens.append(len(new))
            print(f"  loop {k + 1}/{n} ({len(new)} tokens) {time.perf_counter() - t0:.1f}s", flush=True)
        sync()
        return texts, lens, time.perf_counter() - t0, time.process_time() - c0

    def ours(model=model, tok=tok) -> tuple[list[str], float, float]:
        """The eval worker's generation: one call per chunk of items, as score_chunk makes it."""
        out: list[str] = []
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        for c in range(0, n, args.chunk):
            part = items[c : c + args.chunk]

            def progress(done, total, c=c):
                print(f"  ours {c + done}/{n} {time.perf_counter() - t0:.1f}s", flush=True)

            got = generate_outputs(model, tok, part, prompts[c : c + args.chunk], s, on_batch=progress)
            out += [got[i] for i in range(len(part))]
        sync()
        return out, time.perf_counter() - t0, time.process_time() - c0

    # warm-up (allocator, kernels), not timed
    generate_outputs(model, tok, items[:2], prompts[:2], s | {"max_new_tokens": 4})

    ratios, cpu_ratios, t_loops, t_ours = [], [], [], []
    base = mine = None
    lens: list[int] = []
    for r in range(args.rounds):
        first_loop = r % 2 == 0
        print(f"round {r + 1}/{args.rounds} ({'loop first' if first_loop else 'ours first'})", flush=True)
        if first_loop:
            b, lens, tl, cl = loop()
            m, to, co = ours()
        else:
            m, to, co = ours()
            b, lens, tl, cl = loop()
        if base is not None and (b != base or m != mine):
            print("  note: greedy outputs changed between rounds", flush=True)
        base, mine = b, m
        t_loops.append(tl)
        t_ours.append(to)
        ratios.append(tl / to)
        cpu_ratios.append(cl / co)
        print(
            f"round {r + 1}: loop {n / tl:.3f} items/s ({tl:.1f}s, CPU {cl:.1f}s), ours {n / to:.3f} items/s "
            f"({to:.1f}s, CPU {co:.1f}s), ratio {tl / to:.2f}x (CPU time {cl / co:.2f}x); load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )

    assert base is not None and mine is not None
    same = early = 0
    for k, (it, a, b) in enumerate(zip(items, base, mine)):
        if a == b:
            same += 1
            verdict = "identical"
        elif it["scorer"] == "code" and a.startswith(b) and extract_code(a) == extract_code(b):
            early += 1
            verdict = "stopped early, the code the scorer runs is identical"
        else:
            at = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            verdict = f"DIFFERS from character {at}: loop {a[at : at + 40]!r} / ours {b[at : at + 40]!r}"
        print(f"  item {k + 1:2d} {it['scorer']:5s} {lens[k]:4d} tokens: {verdict}", flush=True)
    tokens = sum(lens)
    print(
        f"loop {n / statistics.median(t_loops):.3f} items/s, ours {n / statistics.median(t_ours):.3f} items/s "
        f"(medians; {tokens} tokens generated per pass); rounds' ratios " + ", ".join(f"{x:.2f}" for x in ratios),
        flush=True,
    )
    if args.also_dtype:
        other, otok, _ = load_causal_lm(args.model, device=args.device, dtype=args.also_dtype)
        generate_outputs(other, otok, items[:2], prompts[:2], s | {"max_new_tokens": 4})  # warm-up
        print(f"ours again, then ours with the model in {args.also_dtype}", flush=True)
        _, to1, co1 = ours()
        alt, to2, co2 = ours(other, otok)
        same_text = sum(a == b for a, b in zip(mine, alt))
        same_read = sum(reads(it["scorer"], a) == reads(it["scorer"], b) for it, a, b in zip(items, mine, alt))
        print(
            f"{args.also_dtype}: {n / to2:.3f} items/s ({to2:.1f}s, CPU {co2:.1f}s) vs {n / to1:.3f} items/s "
            f"({to1:.1f}s, CPU {co1:.1f}s): {to1 / to2:.2f}x wall, {co1 / co2:.2f}x CPU time; outputs identical "
            f"{same_text}/{n}, the answer the scorer reads identical {same_read}/{n}",
            flush=True,
        )
    if args.save:
        Path(args.save).write_text(
            json.dumps(
                [{"scorer": it["scorer"], "loop": a, "ours": b} for it, a, b in zip(items, base, mine)], indent=1
            ),
            encoding="utf-8",
        )
    print(
        f"eval_generation ratio ours/loop: {statistics.median(ratios):.2f}x wall, "
        f"{statistics.median(cpu_ratios):.2f}x CPU time (medians of {len(ratios)} rounds, {n} items; "
        f"greedy outputs identical {same}/{n}, stopped early with the same code {early}/{n})",
        flush=True,
    )


if __name__ == "__main__":
    main()
