"""Model load benchmark: `load_causal_lm(spec)` (what the eval, scoring and training workers call) against
plain `AutoTokenizer.from_pretrained` + `AutoModelForCausalLM.from_pretrained` of the same converted folder.

Each load runs in a fresh Python process, as a worker does, so the cold import of torch and transformers is
measured too (reported apart from the load itself). Rounds alternate which side goes first so that the
load of a shared machine hits both alike; medians are printed and the final line is the load ratio.

Before the rounds it says whether the GGUF conversion is cached (converting once, timed, if not) and checks
that the cache is keyed by the file's content: a copy of the GGUF file at another path (as another virtual
environment's copy of the wheel) must map to the same converted folder.

    .venv/bin/python bench/model_load.py               # smollm2, 5 rounds
    .venv/bin/python bench/model_load.py --rounds 9
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
import engine.core.models
t1 = time.perf_counter()
if {ours!r}:
    from engine.core.models import load_causal_lm
    model, tok, _ = load_causal_lm({spec!r}, device="cpu")
else:
    tok = AutoTokenizer.from_pretrained({folder!r})
    model = AutoModelForCausalLM.from_pretrained({folder!r}, dtype=torch.float32).eval()
t2 = time.perf_counter()
assert sum(p.numel() for p in model.parameters()) > 0 and len(tok) > 0
print(json.dumps({{"import": t1 - t0, "load": t2 - t1}}))
"""


def child(ours: bool, spec: str, folder: str) -> dict:
    code = CHILD.format(root=str(ROOT), ours=ours, spec=spec, folder=folder)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"the {'ours' if ours else 'plain'} child failed:\n{p.stderr[-2000:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["process"] = wall
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--convert", action="store_true", help="also time one GGUF conversion into a throw-away cache folder"
    )
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from engine.core.models import ModelSource, converted_folder, local_folder, resolve

    src = resolve(args.model)
    if src.kind == "gguf":
        g = Path(src.path) / (src.gguf_file or "")
        folder = converted_folder(src)
        if (folder / ".complete").is_file():
            print(f"conversion of {g.name}: cached at {folder}", flush=True)
        else:
            t = time.perf_counter()
            local_folder(src, progress=lambda m: print(m, flush=True))
            print(f"conversion of {g.name}: {time.perf_counter() - t:.1f}s (once per machine)", flush=True)
        if args.convert:  # what the first use on a machine costs, in a fresh process with an empty cache
            with tempfile.TemporaryDirectory() as d:
                code = (
                    f"import sys, time; sys.path.insert(0, {str(ROOT)!r}); t = time.perf_counter(); "
                    "from engine.core.models import local_folder, resolve; "
                    f"local_folder(resolve({args.model!r})); print(time.perf_counter() - t)"
                )
                p = subprocess.run(
                    [sys.executable, "-c", code],
                    capture_output=True,
                    text=True,
                    env=os.environ | {"WORKBENCH_MODELS": d},
                )
                if p.returncode != 0:
                    raise SystemExit(f"the conversion failed:\n{p.stderr[-2000:]}")
                print(
                    f"a conversion from scratch (fresh process, empty cache): {float(p.stdout.split()[-1]):.1f}s",
                    flush=True,
                )
        with tempfile.TemporaryDirectory() as d:  # the content key: a copy elsewhere finds the same folder
            copy = Path(d) / g.name
            shutil.copy2(g, copy)
            other = converted_folder(ModelSource(args.model, src.name, d, "gguf", g.name))
            print(
                f"a copy of the GGUF at another path maps to {'the same' if other == folder else 'ANOTHER'} "
                f"converted folder",
                flush=True,
            )
        folder = str(folder)
    else:
        folder = local_folder(src)
        print(f"model folder {folder}", flush=True)

    rows: dict[str, list[dict]] = {"ours": [], "plain": []}
    for r in range(args.rounds):
        order = ["plain", "ours"] if r % 2 == 0 else ["ours", "plain"]
        line = []
        for side in order:
            res = child(side == "ours", args.model, folder)
            rows[side].append(res)
            line.append(f"{side} import {res['import']:.2f}s load {res['load']:.2f}s")
        print(f"round {r + 1}/{args.rounds}: " + "; ".join(line), flush=True)

    def med(side: str, key: str) -> float:
        return statistics.median(x[key] for x in rows[side])

    for side, what in (
        ("plain", "AutoTokenizer + AutoModelForCausalLM.from_pretrained(converted folder)"),
        ("ours", f"load_causal_lm({args.model!r})"),
    ):
        print(
            f"{side:5s} {what}: import {med(side, 'import'):.2f}s, load {med(side, 'load'):.2f}s, "
            f"whole process {med(side, 'process'):.2f}s (medians)",
            flush=True,
        )
    ratios = [o["load"] / p["load"] for o, p in zip(rows["ours"], rows["plain"])]
    print(
        f"model_load ratio ours/plain from_pretrained: {statistics.median(ratios):.2f}x load "
        f"(median of {len(ratios)} rounds; import+load {med('ours', 'import') + med('ours', 'load'):.2f}s "
        f"vs {med('plain', 'import') + med('plain', 'load'):.2f}s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
