"""RAISE benchmark: the time of one RL step split into candidate scoring (the current model's loss on the candidate
subsample and the fused state), policy (the acquisition function and the set draw), gradient step (one LoRA step on
the picked batch) and validation (the gold-answer NLL of the target subset), plus the PPO update per episode.

Records: Alpaca (../shared/datasets/alpaca_5000) as the pool and a disjoint slice of it as the "target" (its
answers are the gold answers), else the tests' tiny records. Model: SmolLM2-135M-Instruct by default, or
--model tiny (a random 2-layer llama built here, for a quick check). The last line is the JSON of the figures.

    .venv/bin/python bench/raise_step.py                         # SmolLM2, CPU, 2 episodes of 4 steps
    .venv/bin/python bench/raise_step.py --model tiny --episodes 3
    .venv/bin/python bench/raise_step.py --device cuda --candidates 256 --batch 16 --steps 20
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "datasets" / "alpaca_5000" / "alpaca_5000.json"


def records(n: int, start: int = 0) -> list[dict]:
    if DATA.exists():
        data = json.loads(DATA.read_text(encoding="utf-8"))[start : start + n]
        out = []
        for i, r in enumerate(data):
            q = r["instruction"] + (("\n\n" + r["input"]) if r.get("input") else "")
            out.append(
                {
                    "sample_id": start + i,
                    "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": r["output"]}],
                }
            )
        return out
    from tests.helpers import training_records

    return training_records(n)[start:]


def main() -> int:
    from engine.raise_rl.settings import RaiseSettings as RS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2", help="smollm2, a model folder, or tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=RS.batch)
    ap.add_argument("--candidates", type=int, default=RS.candidates)
    ap.add_argument("--episodes", type=int, default=2)
    ap.add_argument("--val-items", type=int, default=RS.val_items)
    ap.add_argument("--max-len", type=int, default=RS.max_len)
    ap.add_argument("--pool", type=int, default=400)
    a = ap.parse_args()

    import numpy as np
    import torch

    from engine.raise_rl.env import Env, settings_from
    from engine.raise_rl.policy import PPOSettings, Replay, make_policy, ppo_update

    model = a.model
    if model == "tiny":
        from tests.tiny_lm import tiny_chat_model

        model = str(tiny_chat_model(Path(tempfile.mkdtemp()) / "tiny"))
    s = settings_from(
        {
            "steps": a.steps,
            "batch": a.batch,
            "candidates": a.candidates,
            "episodes": a.episodes,
            "val_items": a.val_items,
            "max_len": a.max_len,
            "device": a.device,
        }
    )
    pool = records(a.pool)
    val = records(a.val_items * 2, start=a.pool) if DATA.exists() else records(a.val_items * 2)
    clusters = [i % 4 for i in range(len(pool))]
    t0 = time.perf_counter()
    env = Env(model, pool, val, s, clusters=clusters)
    load_s = time.perf_counter() - t0
    p = PPOSettings()
    pol = make_policy(env.n_features, p.hidden, 0)
    opt = torch.optim.Adam(pol.parameters(), lr=p.lr)
    rep = Replay(p.replay_episodes)
    ppo_s = []
    per_episode = []
    for ep in range(a.episodes):
        before = dict(env.timings)
        trs, log = env.episode(pol, ep, np.random.default_rng([0, ep]))
        rep.add(trs, p.gamma, p.lam)
        t1 = time.perf_counter()
        ppo_update(pol, opt, rep, p)
        ppo_s.append(time.perf_counter() - t1)
        per_episode.append({k: (env.timings[k] - before.get(k, 0.0)) / s.steps for k in env.timings if k != "steps"})
        print(
            f"episode {ep + 1}: return {sum(t.reward for t in trs):+.4f}; per step "
            + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in per_episode[-1].items())
            + f"; PPO update {ppo_s[-1] * 1000:.0f} ms"
        )
    # the first episode pays warm-up; report the later ones when there are any
    rows = per_episode[1:] or per_episode
    keys = ("scoring", "policy", "gradient", "validation")
    out = {k: round(float(np.mean([r[k] for r in rows])) * 1000, 1) for k in keys}
    out = {f"{k}_ms": v for k, v in out.items()}
    out["step_ms"] = round(sum(out.values()), 1)
    out["ppo_update_ms"] = round(float(np.mean(ppo_s[1:] or ppo_s)) * 1000, 1)
    out.update(
        model=a.model,
        device=a.device,
        steps=s.steps,
        batch=s.batch,
        candidates=s.candidates,
        val_items=len(env.val),
        load_s=round(load_s, 1),
        data="alpaca_5000" if DATA.exists() else "tests",
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
