"""Kill -9 mid-run, then resume: for each kind of job, the resumed result is identical to an uninterrupted run's.

A job killed with SIGKILL gets no chance to clean up: whatever it committed before the kill must be whole, and
the next run must finish exactly what is left. Every test kills a real process at a known point (a `hold` test
hook of the job layer, or a process that kills itself at its N-th checkpoint), resumes through the public engine
API, and compares the rows with those of a second store that ran the same job without interruption.

IFD scoring has its own test (tests/test_scoring_jobs.py, test_killed_worker_resumes_without_recomputing).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from engine.core.jobs import JobFolder
from engine.core.store import Store
from engine.data.ingest import import_file
from tests.helpers import ROOT, SAMPLE, blob_encoder, topic_records, write_jsonl

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def run_killed(script: str, *args: str) -> None:
    """Run `script` in a child Python; it must die of SIGKILL (it kills itself at its checkpoint)."""
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr[-3000:])


# A CancelToken whose N+1-th check kills the process: the job dies right after its N-th committed chunk.
KILL_AT = """
import os, signal, sys
from engine.core.jobs import CancelToken

class KillAt(CancelToken):
    def __init__(self, n):
        super().__init__()
        self.n, self.calls = n, 0

    def check(self):
        self.calls += 1
        if self.calls > self.n:
            os.kill(os.getpid(), signal.SIGKILL)
"""


def wait_for_file_state(read, want: str, proc, timeout: float = 120.0) -> None:
    """Poll read() until its "state" is `want` (the worker is still alive meanwhile)."""
    end = time.monotonic() + timeout
    while read().get("state") != want:
        assert proc.poll() is None, f"the worker ended ({proc.returncode}) before reaching {want!r}"
        assert time.monotonic() < end, f"no {want!r} state: {read()}"
        time.sleep(0.05)


def kill(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def two_stores(tmp_path: Path, fill) -> tuple[Path, Path]:
    """Store A (to be killed and resumed) and store B (the uninterrupted reference), filled alike."""
    paths = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        db = tmp_path / name / "s.duckdb"
        with Store(db) as st:
            fill(st, tmp_path / name)
        paths.append(db)
    return paths[0], paths[1]


# --- heuristics (in-process chunks, each its own transaction)


def _sample_pool(st, _folder):
    import_file(st, SAMPLE / "code.jsonl", pool="c", domain="code")  # 80 samples


def _score_rows(db: Path) -> list[tuple]:
    with Store(db, read_only=True) as st:
        return st.con.execute(
            "SELECT sample_id, metric, model, params_hash, version, value, reason FROM scores ORDER BY ALL"
        ).fetchall()


def test_heuristics_killed_between_chunks_resume_to_the_same_rows(tmp_path):
    from engine.quality.heuristics import run_heuristics

    a, b = two_stores(tmp_path, _sample_pool)
    run_killed(
        KILL_AT
        + """
from engine.core.store import Store
from engine.quality.heuristics import run_heuristics
st = Store(sys.argv[1])
run_heuristics(st, chunk=20, cancel=KillAt(2))
""",
        str(a),
    )
    with Store(a) as st:  # the two committed chunks survive the kill whole: 40 samples, every operator
        per_sample = st.con.execute("SELECT count(DISTINCT sample_id), count(DISTINCT metric) FROM scores").fetchall()
        assert per_sample[0][0] == 40
        n_ops = per_sample[0][1]
        assert st.con.execute("SELECT count(*) FROM scores").fetchall()[0][0] == 40 * n_ops
        written = run_heuristics(st, chunk=20)  # resume: only the 40 samples left
        assert set(written.values()) == {40}
    with Store(b) as st:
        run_heuristics(st, chunk=20)
    rows = _score_rows(a)
    assert len(rows) == 80 * n_ops and rows == _score_rows(b)


# --- embeddings (in-process chunks: a part file, then one transaction)

KILLING_ENCODER = """
import os, signal, sys
from tests.helpers import blob_encoder

calls = 0

def encoder(texts):
    global calls
    calls += 1
    if calls > int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return blob_encoder(texts)
"""


def _topics(st, folder):
    import_file(st, write_jsonl(folder / "t.jsonl", topic_records(10)), pool="t")


def _embeddings(db: Path):
    from engine.geometry.embeddings import load_embeddings

    with Store(db, read_only=True) as st:
        n_rows = st.con.execute("SELECT count(*), count(DISTINCT sample_id) FROM embeddings").fetchall()[0]
        return n_rows, load_embeddings(st, model="fakeenc", text_kind="instruction_response")


def test_embeddings_killed_mid_chunk_resume_to_the_same_vectors(tmp_path):
    from engine.geometry.embeddings import embed_samples

    a, b = two_stores(tmp_path, _topics)  # 60 samples
    run_killed(
        KILLING_ENCODER
        + """
from engine.core.store import Store
from engine.geometry.embeddings import embed_samples
st = Store(sys.argv[1])
embed_samples(st, model="fakeenc", encoder=encoder, chunk_size=15, batch_size=15)
""",
        str(a),
        "2",  # the third chunk's encoding kills it: two chunks committed
    )
    (n, n_ids), (ids, _X) = _embeddings(a)
    assert n == n_ids == 30 and len(ids) == 30
    with Store(a) as st:
        res = embed_samples(st, model="fakeenc", encoder=blob_encoder, chunk_size=15, batch_size=15)
    assert (res.n_cached, res.n_new) == (30, 30)
    with Store(b) as st:
        embed_samples(st, model="fakeenc", encoder=blob_encoder, chunk_size=15, batch_size=15)
    (n, n_ids), (ids_a, X_a) = _embeddings(a)
    (_, _), (ids_b, X_b) = _embeddings(b)
    assert n == n_ids == 60
    assert np.array_equal(ids_a, ids_b) and np.array_equal(X_a, X_b)
    parts = sorted(p.name for p in (a.parent / "s.duckdb.d").rglob("part-*.parquet"))
    assert len(parts) == 4  # no part file of the killed chunk left behind


# --- evaluation (a worker subprocess; chunks ingested by this process)


@pytest.mark.slow
def test_evaluation_worker_killed_resumes_to_the_same_items(tmp_path, model_dir):
    from engine.evaluation import evaluate as ev
    from engine.training import runs as R

    pools = ["math_eval", "general_eval"]

    def fill(st, _folder):
        for name, dom in (("math_eval", "math"), ("general_eval", "general")):
            import_file(st, ROOT / "sample_data" / "eval" / f"{name}.jsonl", pool=name, domain=dom)
            ev.set_role(st, name, "eval")
        R.create_run(st, kind="base", base_model=str(model_dir))

    a, b = two_stores(tmp_path, fill)
    settings = ev.EvalSettings(max_new_tokens=6, batch_size=2, chunk=2, threads=1)
    items = "SELECT sample_id, domain, scorer, prompt, output, extracted, correct, nll FROM eval_items ORDER BY ALL"
    with Store(a) as st:
        job, summaries, _ = ev.prepare(st, 1, pools, max_items=3, settings=settings)
        (job / "hold").write_text("1")  # the worker waits after its first chunk
        proc = ev.start_worker(job)
        wait_for_file_state(lambda: ev.read_progress(job), "held", proc)
        kill(proc)
        (job / "hold").unlink()
        assert len(JobFolder(job).chunk_files()) == 1
        assert ev.ingest(st, job, summaries) == 2  # what the app ingests of a dead worker
        ev.evaluate(st, 1, pools, max_items=3, settings=settings, poll_s=0.1)
        log = (job / "log.txt").read_text().split("\n")
        assert any("start: 6 items, 2 done, 4 to do" in line for line in log), log
        got = st.con.execute(items).fetchall()
    with Store(b) as st:  # the reference: the same job run to its end in this process (the worker's code)
        from engine.evaluation.worker import run_job

        job_b, summaries_b, _ = ev.prepare(st, 1, pools, max_items=3, settings=settings)
        run_job(job_b)
        ev.ingest(st, job_b, summaries_b, state="done")
        want = st.con.execute(items).fetchall()
    assert len(got) == 6 and [r[:7] for r in got] == [r[:7] for r in want]
    assert [r[7] for r in got] == pytest.approx([r[7] for r in want], rel=1e-5)


# --- interpolation features (a worker subprocess that writes its result only when done)


@pytest.mark.slow
def test_feature_worker_killed_leaves_no_result_and_a_rerun_matches(tmp_path, model_dir):
    from engine.synthesis import worker as interp_worker
    from tests.helpers import interpolation_store

    db = interpolation_store(tmp_path, with_set=True)
    with Store(db) as st:
        folder = interp_worker.features_folder(st, "mc")
        n = interp_worker.prepare(st, "mc", folder, model=str(model_dir))
    proc = interp_worker.start(folder)
    wait_for_file_state(lambda: interp_worker.read_status(folder), "loading", proc)
    kill(proc)
    assert interp_worker.read_status(folder)["state"] == "loading"  # never "done"
    assert not (folder / "features.npy").exists()
    with pytest.raises(RuntimeError, match="did not finish"):
        interp_worker.load_result(folder)
    # what the screen does again: prepare (clears the old status and result) and start
    with Store(db) as st:
        assert interp_worker.prepare(st, "mc", folder, model=str(model_dir)) == n
    proc = interp_worker.start(folder)
    assert proc.wait(timeout=120) == 0, (folder / "worker.stderr").read_text()
    ids, X = interp_worker.load_result(folder)
    ref = tmp_path / "ref"  # the same request computed without a kill
    ref.mkdir()
    for f in ("request.json", "texts.jsonl"):
        shutil.copy(folder / f, ref / f)
    interp_worker.run(ref)
    ids_ref, X_ref = interp_worker.load_result(ref)
    assert len(ids) == n and np.array_equal(ids, ids_ref) and np.array_equal(X, X_ref)


# --- training (a worker subprocess; checkpoints, resumed by the run queue)


@pytest.mark.slow
def test_training_worker_killed_resumes_to_the_same_losses_and_adapter(tmp_path, model_dir):
    import torch
    from safetensors.torch import load_file

    from engine.training import loop as T
    from engine.training import runs as R
    from tests.helpers import training_records

    train = dict(
        lr=1e-2,
        batch_size=4,
        max_len=128,
        eval_every=0,
        grad_conflict_every=0,
        warmup_ratio=0.0,
        max_steps=8,
        save_every=4,
    )
    with Store(tmp_path / "s.duckdb") as st:
        run = R.create_run(
            st,
            records=training_records(16),
            base_model=str(model_dir),
            lora=dict(target_modules="all-linear"),
            train=train,
        )
        folder = Path(run.folder)
        ref = tmp_path / "ref"  # the same run, uninterrupted, in this process
        ref.mkdir()
        for f in ("config.json", "data.jsonl"):
            shutil.copy(folder / f, ref / f)
        assert T.train(ref)["status"] == "done"

        (folder / "hold").write_text("5")  # the worker waits once 5 steps are done; its checkpoint is step 4
        assert R.tick(st) == [f"run {run.id} started"]
        proc = R._procs[run.id]
        wait_for_file_state(
            lambda: {"state": "held" if JobFolder(folder).read_status().get("held") else ""}, "held", proc
        )
        kill(proc)
        (folder / "hold").unlink()
        assert R.tick(st) == [f"run {run.id} failed (process died)"]
        assert [s for s, _n, _v in R.run_metrics(st, run.id, ["loss"])] == [1, 2, 3, 4, 5]
        R.resume_run(st, run.id)
        R.wait_run(st, run.id, poll=0.2, timeout=120)
        got = R.get_run(st, run.id)
        assert got.status == "done", got.error
        losses = R.run_metrics(st, run.id, ["loss"])
    ref_loss = [
        x["loss"] for x in (json.loads(x) for x in (ref / "metrics.jsonl").read_text().split("\n") if x) if "loss" in x
    ]
    assert [s for s, _n, _v in losses] == list(range(1, 9))  # step 5, done twice, is one row
    assert [v for _s, _n, v in losses] == pytest.approx(ref_loss, abs=1e-5)
    resumed = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().split("\n") if x]
    assert any(x.get("event") == "resume" and x["step"] == 4 for x in resumed)  # from the last checkpoint
    a = load_file(str(folder / "adapter" / "adapter_model.safetensors"))
    r = load_file(str(ref / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == r.keys() and all(torch.allclose(a[k], r[k], atol=1e-6) for k in a)
