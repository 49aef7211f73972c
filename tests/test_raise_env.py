"""RAISE on a real tiny model: episodes of LoRA steps from the same start, rewards that telescope, the policy
training's checkpoint and resume, and the fixed batch plan a deploy run trains on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.core.jobs import JobFolder, write_jsonl
from engine.raise_rl.env import Env, RaiseSettings, as_dict, settings_from
from engine.raise_rl.job import episodes, load_checkpoint, start, train_policy
from engine.raise_rl.policy import PPOSettings, RaiseError, make_policy
from engine.training.data import fixed_plan
from engine.training.settings import TrainingError, TrainSettings
from tests.helpers import training_records

SMALL = {"steps": 3, "batch": 2, "candidates": 6, "episodes": 2, "val_items": 4, "sem_dim": 4, "lr": 5e-3}


def _val(n: int = 6) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"Tom has {i} apples."},
                {"role": "assistant", "content": f"{i + 5}"},
            ]
        }
        for i in range(n)
    ]


def _pool(n: int = 12) -> list[dict]:
    recs = training_records(n)
    for r in recs:
        r["cluster"] = 0 if r["domain"] == "math" else 1
    return recs


def test_an_episode_steps_from_the_same_start_and_its_rewards_telescope(model_dir):
    s = settings_from(SMALL)
    pool = _pool()
    emb = np.random.default_rng(0).standard_normal((len(pool), 9))
    env = Env(str(model_dir), pool, _val(), s, emb=emb, clusters=[r["cluster"] for r in pool])
    pol = make_policy(env.n_features, 8, 0)
    trs, log = env.episode(pol, 0, np.random.default_rng(1))
    assert len(trs) == len(log) == 3
    assert abs(sum(r["reward"] for r in log) - (env.val0 - log[-1]["val"])) < 1e-5
    for row, tr in zip(log, trs):
        assert len(set(row["samples"])) == 2
        assert sorted(row["clusters"]) == [0, 1]  # the quota: one per cluster
        assert tr.x.shape == (6, env.n_features)
    assert env.uses.sum() == 6
    # reset is the same fresh adapter: the same rng gives the same episode
    _, log2 = env.episode(pol, 0, np.random.default_rng(1))
    assert [r["samples"] for r in log2] == [r["samples"] for r in log]
    assert np.allclose([r["val"] for r in log2], [r["val"] for r in log])
    assert set(env.timings) >= {"scoring", "policy", "gradient", "validation"}
    # per-example losses do not depend on the batching (sorted by length, in batches of 16)
    one = np.concatenate([env.losses([i]) for i in range(len(env.examples))])
    assert np.allclose(env.losses(np.arange(len(env.examples))), one, atol=1e-5)


def test_bad_settings_and_pools_say_what_is_wrong(model_dir):
    with pytest.raises(RaiseError, match="batch .* must not exceed candidates"):
        settings_from({"batch": 9, "candidates": 4})
    with pytest.raises(RaiseError, match="unknown RAISE setting"):
        settings_from({"stepz": 3})
    with pytest.raises(RaiseError, match="metric must be one of"):
        settings_from({"metric": "f1"})
    with pytest.raises(RaiseError, match="no target item has an answer a scorer checks"):
        Env(str(model_dir), _pool(), _val(), settings_from(SMALL | {"metric": "accuracy"}))
    with pytest.raises(RaiseError, match="6 trainable samples"):
        Env(str(model_dir), _pool(6), _val(), settings_from(SMALL | {"candidates": 8}))


def _folder(tmp_path, model_dir, name: str) -> JobFolder:
    f = JobFolder(tmp_path / name).create(chunks=False)
    pool = _pool()
    write_jsonl(f.file("pool.jsonl"), pool)
    write_jsonl(f.file("val.jsonl"), _val())
    f.write_spec(
        {
            "base_model": str(model_dir),
            "settings": as_dict(RaiseSettings(**SMALL)),
            "ppo": PPOSettings(hidden=8).__dict__,
        }
    )
    return f


@pytest.mark.slow
def test_policy_training_resumes_after_a_stop_as_if_it_never_stopped(tmp_path, model_dir):
    a = _folder(tmp_path, model_dir, "a")
    proc = start(a)  # the uninterrupted one in the worker subprocess
    b = _folder(tmp_path, model_dir, "b")
    assert train_policy(b, stop_after=1)["status"] == "stopped"
    assert [e["episode"] for e in episodes(b)] == [1]
    assert train_policy(b)["status"] == "done"
    assert proc.wait(timeout=120) == 0, a.file("worker.stderr").read_text()[-2000:]
    st = json.loads(a.file("status.json").read_text())
    assert st["status"] == "done" and st["episode"] == 2
    ea, eb = episodes(a), episodes(b)
    assert [e["episode"] for e in eb] == [1, 2]
    assert [e["steps"] for e in ea] == [e["steps"] for e in eb]
    assert np.allclose([e["return"] for e in ea], [e["return"] for e in eb])
    pa, pb = load_checkpoint(a)["policy"], load_checkpoint(b)["policy"]
    assert all(np.allclose(pa[k].numpy(), pb[k].numpy()) for k in pa)
    assert set(ea[-1]["attribution"]) == {"stage", "difficulty", "semantics", "availability"}
    assert json.loads(a.file("status.json").read_text())["timings"]["steps"] == 6


def test_a_fixed_plan_trains_the_given_batches_in_order():
    recs = [{"plan_step": k} for k in (1, 1, 2, 2, 3)]
    plan, names, total = fixed_plan(recs, 5, TrainSettings())
    assert total == 3 and plan == [("sample", [[0], [1]]), ("sample", [[2], [3]]), ("sample", [[4]])]
    # a step larger than batch_size is split into micro-batches of the one step
    plan, _, total = fixed_plan(recs, 5, TrainSettings(batch_size=1))
    assert total == 3 and plan[0] == ("split", [[[0]], [[1]]]) and plan[2] == ("sample", [[4]])
    assert fixed_plan([{}, {}], 2, TrainSettings()) is None
    with pytest.raises(TrainingError, match="some records have a plan_step"):
        fixed_plan([{"plan_step": 1}, {}], 2, TrainSettings())
    with pytest.raises(TrainingError, match="1 had no assistant token"):
        fixed_plan(recs, 4, TrainSettings())


def test_knobs_left_out_take_the_defaults_of_the_device():
    """A CPU (or MPS) job takes the small CPU trial; a CUDA job the GPU scale for each knob it was not given;
    "auto" is a CPU here (no GPU) and given knobs always win."""
    from engine.raise_rl.settings import GPU_SCALE, settings_for

    cpu = settings_for({"steps": None, "device": "cpu"})
    assert as_dict(cpu) == as_dict(RaiseSettings())
    gpu = settings_for({"device": "cuda", "batch": 2, "episodes": None})
    assert gpu.batch == 2 and gpu.steps == GPU_SCALE["steps"] and gpu.episodes == GPU_SCALE["episodes"]
    assert gpu.candidates == GPU_SCALE["candidates"] and gpu.lr == RaiseSettings.lr
    import torch

    auto = settings_for({"device": "auto"})
    assert auto.steps == (GPU_SCALE["steps"] if torch.cuda.is_available() else RaiseSettings.steps)
    assert settings_for({"device": "mps"}).candidates == RaiseSettings.candidates
    with pytest.raises(RaiseError, match="batch .* must not exceed candidates"):
        settings_for({"device": "cuda", "batch": 200})


def test_the_accuracy_reward_generates_checks_and_rewards_a_rise(model_dir, monkeypatch):
    """metric accuracy: the target subset's greedy answers checked by their scorers (GSM8K's here: the tiny model
    answers none right), and the reward of a step is the rise of the accuracy (the sign of the NLL's is the
    opposite), so the rewards still telescope to the final gain."""
    val = _val()
    for i, r in enumerate(val):
        r.update(scorer="gsm8k", reference={"answer": f"#### {i + 5}"}, prompt=r["messages"][:1])
    s = settings_from(SMALL | {"metric": "accuracy", "gen_tokens": 6})
    pool = _pool()
    env = Env(str(model_dir), pool, val, s, clusters=[r["cluster"] for r in pool])
    assert len(env.acc_items) == 4 and env.val == []
    assert env.validate() == 0.0  # real generation and the real GSM8K check
    rises = iter([0.0, 0.25, 0.5, 0.25])  # val0, then after each of the 3 steps
    monkeypatch.setattr(env, "accuracy", lambda: next(rises))
    _, log = env.episode(make_policy(env.n_features, 8, 0), 0, np.random.default_rng(1))
    assert [r["reward"] for r in log] == [0.25, 0.25, -0.25]
    assert abs(sum(r["reward"] for r in log) - (log[-1]["val"] - env.val0)) < 1e-9


def test_a_large_plan_step_in_micro_batches_trains_as_the_whole_batch(tmp_path, model_dir):
    """The full-data arm's steps are large: in micro-batches (batch_size 2) a step gives the loss and the adapter of
    the whole batch at once (batch_size 8), up to float rounding."""
    import torch
    from safetensors.torch import load_file

    from engine.core.store import Store
    from engine.training.loop import train
    from engine.training.runs import create_run

    recs = training_records(10)
    for i, r in enumerate(recs):
        r["plan_step"] = 1 + i // 5  # two steps of five
    got = {}
    with Store(tmp_path / "wb.duckdb") as st:
        for bs in (8, 2):
            run = create_run(
                st, base_model=str(model_dir), records=recs, name=f"bs{bs}", lora={"r": 4, "alpha": 8, "dropout": 0.0},
                train={"epochs": 1.0, "lr": 1e-2, "batch_size": bs, "grad_accum": 1, "warmup_ratio": 0.0,
                       "eval_every": 0, "eval_per_domain": 0, "save_every": 0, "grad_conflict_every": 0,
                       "packing": "padded", "log_every": 1},
            )  # fmt: skip
            assert train(run.folder)["status"] == "done"
            losses = [json.loads(x)["loss"] for x in open(f"{run.folder}/metrics.jsonl") if '"loss"' in x]
            adapter = next(p for p in Path(run.folder).rglob("adapter_model.safetensors"))
            got[bs] = (losses, load_file(str(adapter)))
    assert len(got[8][0]) == 2 and np.allclose(got[8][0], got[2][0], atol=1e-5)
    for k, v in got[8][1].items():
        assert torch.allclose(v, got[2][1][k], atol=1e-5), k
