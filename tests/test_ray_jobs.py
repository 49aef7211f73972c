"""Scoring and embedding with --on ray (engine.core.ray_jobs): a local Ray with 2 CPU workers.

Skipped unless ray is installed (an optional extra, kept out of the default test install for CI time):
    .venv/bin/pip install -e '.[ray]'   # or: ./run install --ray
    .venv/bin/python -m pytest -q tests/test_ray_jobs.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.core.errors import Cancelled
from engine.core.jobs import CancelToken, JobFolder
from engine.core.store import Store
from engine.quality.ifd import IFDParams
from engine.quality.scoring import create_job, ingest_job, run_job
from tests.helpers import blob_encoder, import_sample_pools, topic_records, write_jsonl
from tests.tiny_lm import tiny_llama, tiny_tokenizer

try:
    import ray
except ImportError:
    ray = None
ROOT = Path(__file__).resolve().parent.parent
PARAMS = IFDParams(max_length=256, token_budget=64)
VARIANTS = ("superfiltering", "cherry")


@pytest.fixture(scope="module")
def cluster():
    """One local Ray (2 CPUs) for the module; its workers import this checkout (tests.helpers' encoders)."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A store of 24 samples, a tiny LM, and a local reference job (5 chunks of 5, 5, 5, 5, 4)."""
    tmp = tmp_path_factory.mktemp("ray_score")
    model = tmp / "tiny"
    tok = tiny_tokenizer()
    tiny_llama(tok).save_pretrained(model)
    tok.save_pretrained(model)
    db = tmp / "s.duckdb"
    with Store(db) as s:
        import_sample_pools(s, tmp, ["math", "code"], 12)
        folders = {k: tmp / k for k in ("local", "ray", "cancel", "killed")}
        for f in folders.values():  # every job before any ingest: each holds all 24 samples
            assert create_job(s, f, model=str(model), chunk=5, params=PARAMS, variants=VARIANTS) == 24
    run_job(folders["local"])
    return {"db": db, "model": model, **folders}


def _chunks(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in JobFolder(folder).chunk_files()}


@pytest.mark.slow
@pytest.mark.skipif(ray is None, reason="ray is not installed (optional: pip install -e '.[ray]')")
def test_score_on_ray_writes_the_local_chunk_files_byte_for_byte(cluster, scored):
    out = run_job(scored["ray"], on="ray")
    assert (out["scored"], out["total"]) == (24, 24)
    ref = _chunks(scored["local"])
    assert list(ref) == [f"{i:06d}.jsonl" for i in range(1, 6)]
    assert _chunks(scored["ray"]) == ref
    prog = JobFolder(scored["ray"]).read_progress()
    assert prog["state"] == "done" and prog["done"] == 24
    workers = prog["ray"]["workers"]
    assert prog["ray"]["actors"] == 2 and sum(w["chunks"] for w in workers) == 5
    assert sum(w["items"] for w in workers) == 24 and all(w["rate"] > 0 for w in workers)
    # the store is written by this process, from the chunk files, as for a local job
    with Store(scored["db"]) as s:
        assert ingest_job(s, scored["ray"]) == 24
        n = s.con.execute("SELECT count(DISTINCT sample_id) FROM scores WHERE metric = 'ifd'").fetchone()[0]
    assert n == 24


@pytest.mark.slow
@pytest.mark.skipif(ray is None, reason="ray is not installed (optional: pip install -e '.[ray]')")
def test_cancel_on_ray_keeps_finished_chunks_and_resumes_locally(cluster, scored):
    token = CancelToken()

    def after_first_chunk(p):
        if p.done >= 5:
            token.cancel()

    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        run_job(scored["cancel"], on="ray", cancel=token, progress=after_first_chunk)
    assert time.monotonic() - t0 < 60
    job = JobFolder(scored["cancel"])
    assert job.read_progress()["state"] == "cancelled"
    kept = _chunks(scored["cancel"])
    ref = _chunks(scored["local"])
    assert 1 <= len(kept) < 5 and all(kept[k] == ref[k] for k in kept)
    out = run_job(scored["cancel"])  # resumed here: only what no chunk holds, same boundaries
    assert out["skipped"] == 5 * len(kept) and out["scored"] == 24 - 5 * len(kept)
    assert _chunks(scored["cancel"]) == ref


DRIVER = """
import sys
from engine.core.ray_jobs import RaySetup
from engine.quality.scoring import run_job
run_job(sys.argv[1], on="ray", ray=RaySetup(address=sys.argv[2]))
"""


@pytest.mark.slow
@pytest.mark.skipif(ray is None, reason="ray is not installed (optional: pip install -e '.[ray]')")
def test_driver_killed_halfway_resumes_on_ray(cluster, scored):
    """A driver holding after 2 chunks is SIGKILLed; a new driver on the same cluster does only the rest."""
    folder = scored["killed"]
    (folder / "hold").write_text("2")
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(folder), cluster],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while JobFolder(folder).read_progress().get("state") != "held":
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the driver never reached its hold"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    ref = _chunks(scored["local"])
    kept = _chunks(folder)
    assert len(kept) == 2 and all(kept[k] == ref[k] for k in kept)
    (folder / "hold").unlink()
    out = run_job(folder, on="ray")
    assert (out["skipped"], out["scored"]) == (10, 14)
    assert _chunks(folder) == ref


def _embed_store(path: Path, folder: Path) -> Store:
    recs = topic_records(6)
    recs += [dict(r, output=r["output"] + " again") for r in recs[:5]]  # same instructions: encoded once
    write_jsonl(folder / "t.jsonl", recs)
    from engine.data.ingest import import_file

    s = Store(path)
    import_file(s, folder / "t.jsonl", pool="t")
    return s


def _embedded(s: Store) -> tuple[list, np.ndarray]:
    from engine.geometry.embeddings import load_embeddings

    rows = s.con.execute("SELECT sample_id, text_hash, parquet_path FROM embeddings ORDER BY sample_id").fetchall()
    ids, X = load_embeddings(s, model="blob", text_kind="instruction")
    return rows, X  # ids come sorted


@pytest.mark.slow
@pytest.mark.skipif(ray is None, reason="ray is not installed (optional: pip install -e '.[ray]')")
def test_embed_on_ray_matches_local(cluster, tmp_path):
    from engine.geometry.embeddings import embed_samples

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        _embed_store(tmp_path / "a.duckdb", tmp_path / "a") as a,
        _embed_store(tmp_path / "b.duckdb", tmp_path / "b") as b,
    ):
        kw = dict(model="blob", text_kind="instruction", encoder=blob_encoder, chunk_size=8, batch_size=3)
        ra = embed_samples(a, **kw)
        rb = embed_samples(b, on="ray", **kw)
        assert (rb.n_new, rb.n_encoded, rb.n_reused, rb.dim) == (ra.n_new, ra.n_encoded, ra.n_reused, ra.dim)
        assert rb.n_reused > 0 and rb.n_new == rb.n_encoded + rb.n_reused
        rows_a, Xa = _embedded(a)
        rows_b, Xb = _embedded(b)
        assert rows_a == rows_b
        assert Xa.tobytes() == Xb.tobytes()
        again = embed_samples(b, on="ray", **kw)  # nothing left: no Ray needed
        assert again.n_new == 0 and again.n_cached == ra.n_new


def test_cli_on_ray_flags(tmp_path):
    from tests.helpers import wb

    r = wb(tmp_path / "s.duckdb", "embed", "--ray-address", "127.0.0.1:1", check=False)
    assert r.returncode == 2 and "--ray-address and --ray-actors need --on ray" in r.stderr
    r = wb(tmp_path / "s.duckdb", "score", "--on", "ray", "--ray-actors", "0", check=False)
    assert r.returncode == 2 and "--ray-actors 0" in r.stderr
    r = wb(tmp_path / "s.duckdb", "score", "--help")
    assert "--on {local,ray}" in r.stdout and "--ray-address" in r.stdout


def test_on_ray_without_ray_is_a_clear_error(tmp_path, monkeypatch):
    from engine.core.ray_jobs import RayError, import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(RayError, match=r"pip install -e '\.\[ray\]'"):
        import_ray()
    with Store(tmp_path / "s.duckdb") as s:
        import_sample_pools(s, tmp_path, ["math"], 3)
        assert create_job(s, tmp_path / "job", model="smollm2", chunk=2) == 3
    with pytest.raises(RayError):
        run_job(tmp_path / "job", on="ray")
    assert not JobFolder(tmp_path / "job").chunk_files()
