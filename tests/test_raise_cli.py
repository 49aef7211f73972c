"""`workbench raise train|deploy|show` end to end on sample_data with a tiny model: policy training in a job
folder, the deploy run in the queue trained on the planned batches, and the JSON the commands print."""

from __future__ import annotations

import json

import pytest

from tests.helpers import import_sample_pools, noisy_blob_encoder


def _cli(capsys, *argv) -> tuple[int, str, str]:
    from workbench.cli import main

    base = [a for a in argv[-3:] if a in ("--db", "-q")]  # the store options go before a nested command
    argv = list(argv)
    if base:
        argv = argv[-3:] + argv[:-3]
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_raise_trains_a_policy_deploys_a_run_and_shows_it(tmp_path, model_dir, capsys):
    from engine.core.store import Store
    from engine.geometry.clusters import cluster
    from engine.geometry.embeddings import embed_samples
    from engine.training.loop import train
    from engine.training.runs import get_run

    db = tmp_path / "wb.duckdb"
    with Store(db) as st:
        import_sample_pools(st, tmp_path, ["math", "code"], 12)
        embed_samples(st, model="fakeenc", encoder=noisy_blob_encoder)
        cluster(st, "c", model="fakeenc", min_cluster_size=4)
    base = ["--db", str(db), "-q"]
    knobs = ["--steps", "3", "--batch", "2", "--candidates", "6", "--episodes", "2", "--val-items", "4"]
    code, out, err = _cli(
        capsys,
        "raise", "train", "--name", "r1", "--target", "math_eval", "--base-model", str(model_dir),
        "--embeddings", "fakeenc", "--clustering", "c",
        *knobs, "--format", "json", *base,
    )  # fmt: skip
    assert code == 0, err
    got = json.loads(out)
    assert got["status"]["status"] == "done" and [e["episode"] for e in got["episodes"]] == [1, 2]
    assert got["spec"]["pool"] == 24 and got["spec"]["clustering"] == "c"
    for e in got["episodes"]:
        assert abs(e["return"] - (e["val0"] - e["val_final"])) < 1e-5
    assert len(got["last_episode_steps"]) == 3
    # the same command again resumes: nothing left to train, the same episodes
    code, out2, _ = _cli(
        capsys,
        "raise", "train", "--name", "r1", "--target", "math_eval", "--base-model", str(model_dir),
        "--embeddings", "fakeenc", "--clustering", "c",
        *knobs, "--format", "json", *base,
    )  # fmt: skip
    assert code == 0 and json.loads(out2)["episodes"] == got["episodes"]
    # other settings under the same name: refused, naming --replace
    code, _, err = _cli(
        capsys, "raise", "train", "--name", "r1", "--target", "math_eval", "--base-model", str(model_dir),
        "--steps", "4", *base,
    )  # fmt: skip
    assert code != 0 and "--replace" in err
    code, out, err = _cli(capsys, "raise", "deploy", "--name", "r1", "--format", "json", *base)
    assert code == 0, err
    dep = json.loads(out)
    assert dep["steps"] == 3 and dep["run"]["status"] == "queued"
    picks = [sid for st in dep["picks"] for sid in st["samples"]]
    assert len(picks) == 6
    # the queued run trains exactly the planned batches, in order
    status = train(dep["run"]["folder"])
    assert status["status"] == "done" and status["step"] == 3
    recs = [json.loads(x) for x in open(f"{dep['run']['folder']}/data.jsonl")]
    kept = json.loads(open(f"{dep['run']['folder']}/raise_plan.json").read())
    assert kept["steps"] == dep["picks"] and kept["raise_job"].endswith("r1")
    assert [r["sample_id"] for r in recs] == picks and [r["plan_step"] for r in recs] == [1, 1, 2, 2, 3, 3]
    with Store(db) as st:
        assert get_run(st, dep["run"]["id"]).name.startswith("raise-")
    # the random baseline at equal steps: the same quota, other picks, its own plan file and run name
    code, out, err = _cli(
        capsys, "raise", "deploy", "--name", "r1", "--random", "--plan-only", "--format", "json", *base
    )
    assert code == 0, err
    rnd = json.loads(out)
    assert rnd["baseline"] == "random" and rnd["run"] is None and rnd["plan"].endswith("plan-random.json")
    assert [sorted(st["clusters"]) for st in rnd["picks"]] == [sorted(st["clusters"]) for st in dep["picks"]]
    # the comparison at equal steps: the ifd arm refuses without stored scores, before any run is queued
    code, _, err = _cli(capsys, "raise", "compare", "--name", "r1", "--arms", "ifd", *base)
    assert code != 0 and "no stored ifd scores" in err and "--arms" in err
    code, out, err = _cli(
        capsys, "raise", "compare", "--name", "r1", "--arms", "raise,full,base", "--max-items", "2",
        "--device", "cpu", "--format", "json", *base,
    )  # fmt: skip
    assert code == 0, err
    cmp = json.loads(out)
    assert list(cmp["runs"]) == ["raise", "full", "base"] and cmp["sets"] == ["math_eval"]
    # the raise arm is the deploy run above (the same batches): reused, not queued again (its training above ran
    # outside the queue, so the store still says queued)
    assert cmp["runs"]["raise"] == dep["run"]["id"]
    assert cmp["status"] == {"raise": "queued", "full": "queued", "base": "done"}
    assert cmp["rows"] and all(set(r["values"]) == {"base"} for r in cmp["rows"])
    assert {r["domain"] for r in cmp["rows"]} >= {"math"}
    full = json.loads(open(f"{got['folder']}/plan-full.json").read())
    every = [x for s in full["steps"] for x in s["samples"]]  # every trainable sample (answer within max_len) once
    assert len(full["steps"]) == 3 and len(set(every)) == len(every) and 6 < len(every) <= 24
    code, out2, _ = _cli(capsys, "raise", "compare", "--name", "r1", "--arms", "raise,full,base", "--format", "json",
                         "--max-items", "2", "--device", "cpu", *base)  # fmt: skip
    assert code == 0 and json.loads(out2)["runs"] == cmp["runs"]  # the same runs again
    code, out, _ = _cli(capsys, "raise", "show", "--name", "r1", *base)
    assert code == 0 and "episode 2: return" in out and "score driven by" in out
    code, _, err = _cli(capsys, "raise", "show", "--name", "nope", *base)
    assert code != 0 and "no RAISE job named 'nope'" in err
    code, _, err = _cli(
        capsys, "raise", "train", "--name", "r2", "--target", "nope_eval", "--base-model", str(model_dir), *base
    )
    assert code != 0 and "no eval pool named 'nope_eval'" in err


@pytest.mark.slow
def test_ctrl_c_stops_raise_train_at_a_step_and_the_same_command_resumes(tmp_path, model_dir):
    """A real SIGINT to a real `workbench raise train` once an episode has finished: exit 130, the message that
    the same command resumes, the checkpoint of the finished episodes kept; the same command then goes on from
    there (its first new episode is the next one) and the picks of the kept episodes are unchanged."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from engine.core.store import Store

    root = Path(__file__).resolve().parent.parent
    db = tmp_path / "wb.duckdb"
    with Store(db) as st:
        import_sample_pools(st, tmp_path, ["math"], 10)
    env = dict(os.environ, PYTHONPATH=str(root), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    cmd = [
        sys.executable, "-m", "workbench", "--db", str(db), "raise", "train", "--name", "r1", "--target", "math_eval",
        "--base-model", str(model_dir), "--steps", "2", "--batch", "2", "--candidates", "4", "--val-items", "4",
    ]  # fmt: skip
    p = subprocess.Popen([*cmd, "--episodes", "6"], stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if line.startswith("workbench: episode 1:"):
            break
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    err = "".join(seen) + err
    assert p.returncode == 130, err
    assert "cancelled after" in err and "the same command resumes" in err and "Traceback" not in err
    with Store(db) as st:
        from engine.raise_rl.reading import jobs_root

        folder = jobs_root(st) / "r1"
    kept = [json.loads(x) for x in (folder / "episodes.jsonl").read_text().splitlines()]
    assert 1 <= len(kept) < 6
    # the same command (the same settings) resumes after the last finished episode and runs to the end
    r = subprocess.run([*cmd, "--episodes", "6"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "resuming RAISE job 'r1'" in r.stderr
    assert f"workbench: episode {len(kept) + 1}:" in r.stderr and "workbench: episode 1:" not in r.stderr
    got = [json.loads(x) for x in (folder / "episodes.jsonl").read_text().splitlines()]
    assert [e["episode"] for e in got] == list(range(1, 7))
    assert [e["steps"] for e in got[: len(kept)]] == [e["steps"] for e in kept]
