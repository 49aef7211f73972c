"""Ray overhead: the same scoring job run here (the local worker loop) and on a local Ray (an actor pool on this
machine), wall-clock each, and their ratio.

Both runs score the same input with the same chunk boundaries (their chunk files are compared byte for byte);
the Ray run's time includes starting Ray and its actors (each loads the model), which is what a person pays.

    .venv/bin/python bench/ray_overhead.py                          # the sample data, SmolLM2-135M, 64 samples
    .venv/bin/python bench/ray_overhead.py --model tiny --n 200     # a tiny random LM: the overhead alone
    .venv/bin/python bench/ray_overhead.py --address ray://head:10001   # a real cluster instead of a local Ray

Needs the ray extra (pip install -e '.[ray]'). The last line is the result.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2", help="smollm2 (default), a model folder, or 'tiny'")
    ap.add_argument("--n", type=int, default=64, help="samples (the first N of the bundled sample pools)")
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    ap.add_argument("--address", default=None, help="a Ray cluster (default: a local Ray)")
    a = ap.parse_args()

    import os

    import torch

    from engine.core.jobs import JobFolder
    from engine.core.ray_jobs import RaySetup
    from engine.core.store import Store
    from engine.data.sample import load_sample
    from engine.quality.ifd import IFDParams
    from engine.quality.scoring import create_job, run_job
    from workbench.paths import sample_data_dir

    tmp = Path(tempfile.mkdtemp(prefix="ray_overhead-"))
    model = a.model
    if model == "tiny":
        from tests.tiny_lm import tiny_llama, tiny_tokenizer

        tok = tiny_tokenizer()
        tiny_llama(tok).save_pretrained(tmp / "tiny")
        tok.save_pretrained(tmp / "tiny")
        model = str(tmp / "tiny")
    os.environ["PYTHONPATH"] = str(ROOT)  # the local Ray's workers import this checkout
    params = IFDParams(max_length=512)
    with Store(tmp / "s.duckdb") as s:
        load_sample(s, sample_data_dir())
        ids = [r[0] for r in s.con.execute("SELECT id FROM samples ORDER BY id LIMIT ?", [a.n]).fetchall()]
        from engine.data.query import Filter

        scope = Filter(expression=f"id <= {max(ids)}")
        for name in ("local", "ray"):
            create_job(s, tmp / name, model=model, chunk=a.chunk, params=params, scope=scope)
    n = len(JobFolder(tmp / "local").read_input())
    cpus = a.cpus or os.cpu_count()
    print(f"{n} samples, model {a.model}, chunks of {a.chunk}; torch threads here {torch.get_num_threads()}")

    t = time.perf_counter()
    run_job(tmp / "local")
    local_s = time.perf_counter() - t
    print(f"local: {local_s:.1f} s ({n / local_s:.2f} samples/s, model load included)")

    t = time.perf_counter()
    run_job(tmp / "ray", on="ray", ray=RaySetup(address=a.address, local_cpus=cpus))
    ray_s = time.perf_counter() - t
    prog = JobFolder(tmp / "ray").read_progress()
    pool = prog.get("ray", {})
    workers = ", ".join(f"{w['worker']} {w['chunks']} chunks {w['rate']:.2f}/s" for w in pool.get("workers", []))
    print(
        f"ray: {ray_s:.1f} s ({n / ray_s:.2f} samples/s, Ray start-up and model loads included); "
        f"{pool.get('actors')} actors at {pool.get('address')}: {workers}"
    )
    same = all(
        filecmp.cmp(f, tmp / "ray" / "chunks" / f.name, shallow=False) for f in JobFolder(tmp / "local").chunk_files()
    )
    print(f"chunk files identical: {same}")
    print(
        f"ray_overhead: ray/local wall-time ratio {ray_s / local_s:.2f} ({ray_s:.1f} s / {local_s:.1f} s, {n} samples)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
