"""Scoring jobs: a real worker subprocess, killed mid-run, resumes without recomputing or losing scores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from engine.core.store import Store  # noqa: E402
from engine.quality.ifd import IFDParams  # noqa: E402
from engine.quality.scores import list_metrics, metric_values  # noqa: E402
from engine.quality.scoring import create_job, ingest_job, read_progress, score_in_process  # noqa: E402
from tests.tiny_lm import tiny_llama, tiny_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _fill(store: Store, n: int) -> None:
    store.con.execute("INSERT INTO pools (id, name, domain) VALUES (1, 'p', 'general')")
    for i in range(1, n + 1):
        msgs = [
            {"role": "user", "content": f"Explain apples number {i} " + "tree " * (i % 7)},
            {"role": "assistant", "content": "" if i == 5 else f"Apples grow on a tree {i} " + "sunny " * (i % 11)},
        ]
        store.con.execute(
            "INSERT INTO samples (id, pool_id, messages, domain, content_hash, instruction, response)"
            " VALUES (?, 1, ?, 'general', ?, ?, ?)",
            [i, json.dumps(msgs), f"h{i}", msgs[0]["content"], msgs[1]["content"]],
        )


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    tok = tiny_tokenizer()
    tiny_llama(tok).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def test_in_process_scoring_stores_scores_and_skips_cached(tmp_path, tiny_model_dir):
    s = Store(tmp_path / "s.duckdb")
    _fill(s, 30)
    out = score_in_process(
        s, model=str(tiny_model_dir), variants=("superfiltering", "cherry"), chunk=8, params=IFDParams(max_length=256)
    )
    assert out["scored"] == 30
    ifd = metric_values(s, "ifd")
    assert len(ifd) == 30 and ifd[5] is None  # empty response: NULL
    reasons = s.con.execute("SELECT reason FROM scores WHERE metric='ifd' AND sample_id=5").fetchall()
    assert reasons == [("empty response",)]
    assert all(v is not None and v > 0 for k, v in ifd.items() if k != 5)
    assert {m.metric for m in list_metrics(s)} >= {"ifd", "ppl_cond", "ppl_direct", "cherry_ifd", "resp_tokens"}
    again = score_in_process(
        s, model=str(tiny_model_dir), variants=("superfiltering", "cherry"), chunk=8, params=IFDParams(max_length=256)
    )
    assert again["scored"] == 0  # cached: nothing recomputed
    s.close()


@pytest.mark.slow
def test_killed_worker_resumes_without_recomputing(tmp_path, tiny_model_dir):
    s = Store(tmp_path / "s.duckdb")
    _fill(s, 120)
    job = tmp_path / "job"
    n = create_job(s, job, model=str(tiny_model_dir), chunk=4, params=IFDParams(max_length=256, token_budget=64))
    assert n == 120
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    (job / "hold").write_text("3")  # test hook: the worker waits after its 3rd chunk until this file goes
    p = subprocess.Popen(
        [sys.executable, "-m", "engine.quality.worker", str(job)], env=env, cwd=ROOT, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while time.time() < deadline and read_progress(job).get("state") != "held":
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    (job / "hold").unlink()
    first = {f.name: f.stat().st_mtime_ns for f in (job / "chunks").glob("*.jsonl")}
    assert len(first) == 3, "the worker should have been killed after its 3rd chunk"
    # the app ingests what finished before the kill
    n1 = ingest_job(s, job)
    assert n1 == 4 * len(first)
    before = dict(s.con.execute("SELECT sample_id, value FROM scores WHERE metric='ifd'").fetchall())
    # resume
    r = subprocess.run(
        [sys.executable, "-m", "engine.quality.worker", str(job)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    log = (job / "log.txt").read_text()
    assert f"{4 * len(first)} already scored, {120 - 4 * len(first)} to do" in log
    for name, mtime in first.items():  # finished chunks untouched
        assert (job / "chunks" / name).stat().st_mtime_ns == mtime
    ingest_job(s, job)
    after = dict(s.con.execute("SELECT sample_id, value FROM scores WHERE metric='ifd'").fetchall())
    assert len(after) == 120
    assert s.con.execute("SELECT count(*) FROM scores WHERE metric='ifd'").fetchone()[0] == 120  # no duplicates
    assert all(after[k] == v for k, v in before.items())
    assert read_progress(job)["state"] == "done"
    s.close()
