"""Sandbox benchmark: what kernel isolation costs per code check.

Runs the shared MBPP reference solutions with their tests three ways, interleaved item by item:
- baseline: one bare child process, `python -I -S -c` with code + asserts (no isolation, like the old
  in-process runner in a child: what any harness pays at least);
- ours: `engine.evaluation.sandbox.run_code` (two bubblewrap sandboxes, harness and candidate, plain-data verdicts);
- ours unisolated: the same two processes without bubblewrap (the opt-in fallback).

Prints checks/s of each and the ratios against the baseline; also how many items each one passed.

    .venv/bin/python bench/sandbox.py            # first 100 MBPP items
    .venv/bin/python bench/sandbox.py --n 474
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MBPP = ROOT.parent / "shared" / "datasets" / "mbpp_prompt_train" / "mbpp_taskid_1-10_511-974.jsonl"


def bare(code: str, tests: list[str], setup: str) -> bool:
    prog = code + "\n" + setup + "\n" + "\n".join(tests) + "\n"
    r = subprocess.run([sys.executable, "-I", "-S", "-c", prog], capture_output=True, timeout=30)
    return r.returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    from engine.evaluation.sandbox import SandboxLimits, isolation, run_code

    iso = isolation()
    print(f"isolation: kernel={iso.kernel} ({iso.reason}), uid mode {iso.uid_mode}, python {iso.python}")
    rows = [json.loads(line) for line in MBPP.open(encoding="utf-8")][: args.n]
    modes = {
        "baseline (bare child)": lambda r: bare(r["code"], r["test_list"], r.get("test_setup_code") or ""),
        "ours (bubblewrap x2)": lambda r: run_code(
            r["code"], r["test_list"], setup=r.get("test_setup_code") or ""
        ).passed,
        "ours, unisolated": lambda r: run_code(
            r["code"], r["test_list"], setup=r.get("test_setup_code") or "", limits=SandboxLimits(allow_unisolated=True)
        ).passed,
    }
    if iso.kernel:  # the unisolated path only runs where isolation is missing: force it for the measurement
        import engine.evaluation.sandbox as sb

        plain = modes["ours, unisolated"]
        forced = sb.Isolation(False, "forced off for the benchmark", python=iso.python)

        def run_unisolated(r):
            sb._PROBE = forced
            try:
                return plain(r)
            finally:
                sb._PROBE = iso

        modes["ours, unisolated"] = run_unisolated
    secs = {k: 0.0 for k in modes}
    passed = {k: 0 for k in modes}
    for r in rows:
        for k, fn in modes.items():
            t0 = time.perf_counter()
            passed[k] += bool(fn(r))
            secs[k] += time.perf_counter() - t0
    base = len(rows) / secs["baseline (bare child)"]
    print(f"{len(rows)} MBPP items (code + its asserts), interleaved per item")
    for k in modes:
        rate = len(rows) / secs[k]
        print(
            f"  {k:24} {rate:6.1f} checks/s  {1000 / rate:6.1f} ms/check  passed {passed[k]:4}/{len(rows)}"
            f"  speed vs baseline {rate / base:.2f}x"
        )


if __name__ == "__main__":
    main()
