"""Two stores in ONE folder never share a file: each store writes into its own folder (`<db file>.d/`), every job
manifest names its store, and cleanup never leaves that folder. For every job kind (scoring, heuristics,
embeddings, clusterings, interpolation features, training runs, evaluation jobs) the job runs in store X and then,
on the same data, in store Y: Y's results are its own (counted, not "already done") and X's files and rows are
unchanged. Last, a store of the old shared layout (jobs/, embeddings/, clusterings/, runs/ beside the store file)
still reads everything it recorded there and never deletes a file there."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.core.jobs import JobFolder, JobOwnerError
from engine.core.paths import is_own, store_id
from engine.core.store import Store
from engine.data.ingest import import_file
from engine.evaluation import evaluate as ev
from engine.geometry.clusters import assign_new, cluster, delete_clustering, get_clustering
from engine.geometry.embeddings import embed_samples, embedding_dim, load_embeddings
from engine.training import runs as R
from tests.helpers import blob_encoder, blob_records, topic_records, training_records, write_jsonl

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "sample_data" / "eval" / "general_eval.jsonl"
POOLS = [
    ("m", "math", blob_records(0, 8)),
    ("c", "code", blob_records(1, 8)),
    ("g", "general", topic_records(6, 0, range(2, 6))),
]
N = 40  # samples per store
EMB = dict(model="fakeenc", encoder=blob_encoder)
LORA = dict(target_modules="all-linear", r=4)
FAST = dict(lr=1e-2, batch_size=4, max_len=96, eval_every=0, eval_per_domain=1, save_every=0, max_steps=2)


def _fill(st: Store, data: Path) -> None:
    for name, domain, recs in POOLS:
        path = data / f"{name}.jsonl"
        if not path.exists():
            write_jsonl(path, recs)
        import_file(st, path, pool=name, domain=domain)


def _files(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its content hash (what "X's files are intact" compares)."""
    return {
        str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def xy(tmp_path):
    """Stores x.duckdb and y.duckdb side by side in one folder, holding the same 40 samples."""
    data = tmp_path / "data"
    data.mkdir()
    x, y = Store(tmp_path / "x.duckdb"), Store(tmp_path / "y.duckdb")
    for st in (x, y):
        _fill(st, data)
    yield x, y
    x.close()
    y.close()


def test_each_store_has_its_own_folder(xy, tmp_path):
    x, y = xy
    assert x.files_dir == (tmp_path / "x.duckdb.d").resolve() and y.files_dir == (tmp_path / "y.duckdb.d").resolve()
    assert store_id(x) != store_id(y) and not is_own(x, y.files_dir) and not is_own(y, x.files_dir)
    assert is_own(x, x.files_dir / "jobs" / "a") and not is_own(x, tmp_path / "jobs" / "a")
    # one store file named two ways is one store with one folder
    with Store(tmp_path / "data" / ".." / "x2.duckdb") as a:
        assert a.files_dir == (tmp_path / "x2.duckdb.d").resolve()


def test_scoring_jobs_belong_to_their_store(xy, model_dir):
    from engine.quality.ifd import IFDParams
    from engine.quality.scores import metric_values
    from engine.quality.scoring import create_job, ingest_job, score_in_process

    x, y = xy
    kw = dict(model=str(model_dir), chunk=16, params=IFDParams(max_length=96))
    ox = score_in_process(x, **kw)
    assert ox["scored"] == N
    before = _files(x.files_dir)
    oy = score_in_process(y, **kw)
    assert (oy["scored"], oy["skipped"]) == (N, 0)  # not "scored 0 samples (40 already scored)"
    assert len(metric_values(y, "ifd")) == N and metric_values(y, "ifd") == metric_values(x, "ifd")
    assert is_own(x, ox["job_dir"]) and is_own(y, oy["job_dir"])
    assert JobFolder(oy["job_dir"]).owner() == store_id(y) and JobFolder(ox["job_dir"]).owner() == store_id(x)
    # X's job folder is never resumed or ingested by Y, even when named explicitly
    with pytest.raises(JobOwnerError, match="belongs to store"):
        create_job(y, Path(ox["job_dir"]), model=str(model_dir), model_name="tiny")
    with pytest.raises(JobOwnerError, match="does not belong"):
        ingest_job(y, Path(ox["job_dir"]))
    assert _files(x.files_dir) == before and len(metric_values(x, "ifd")) == N


def test_a_job_folder_of_the_same_store_moved_with_it_starts_afresh(xy, tmp_path):
    x, _y = xy
    job = JobFolder(x.files_dir / "jobs" / "score-k").claim(x)
    job.write_spec({"store": "/elsewhere/old-name.duckdb"})  # the store was renamed together with its folder
    job.write_chunk([{"sample_id": 1}])
    assert JobFolder(job.path).claim(x).chunk_files() == []  # its own folder: emptied, never resumed
    outside = JobFolder(tmp_path / "somewhere" / "job").create()
    outside.write_chunk([{"sample_id": 1}])  # files, no manifest: an unknown store's
    with pytest.raises(JobOwnerError, match="unknown store"):
        outside.claim(x)
    assert outside.chunk_files()  # left alone


def test_heuristics_write_only_rows_of_their_store(xy):
    from engine.quality.heuristics.job import run_heuristics

    x, y = xy
    names = ["h_resp_chars", "h_refusal"]
    assert run_heuristics(x, names=names) == {n: N for n in names}
    assert run_heuristics(y, names=names) == {n: N for n in names}
    for st in (x, y):
        assert st.fetchall("SELECT count(*) FROM scores WHERE metric = 'h_resp_chars'")[0][0] == N
        assert not st.files_dir.exists()  # in-process, no files


def test_embeddings_are_per_store_and_cleanup_stays_home(xy, tmp_path):
    x, y = xy
    rx = embed_samples(x, chunk_size=16, **EMB)
    assert rx.n_new == N
    before = _files(x.files_dir)
    # a part in the folder older versions shared (maybe another store's) and an orphan in Y's own folder
    shared = tmp_path / "embeddings" / "fakeenc-instruction_response"
    shared.mkdir(parents=True)
    (shared / "part-000001.parquet").write_bytes(b"someone else's part")
    mine = y.files_dir / "embeddings" / "fakeenc-instruction_response"
    mine.mkdir(parents=True)
    (mine / "part-000077.parquet").write_bytes(b"Y's orphan of a killed run")
    ry = embed_samples(y, chunk_size=16, **EMB)
    assert (ry.n_scope, ry.n_cached, ry.n_new, ry.n_encoded) == (N, 0, N, N)
    ix, vx = load_embeddings(x, model="fakeenc", text_kind="instruction_response")  # X still reads its 40
    assert _files(x.files_dir) == before and len(ix) == N
    assert is_own(x, rx.folder) and is_own(y, ry.folder)
    assert (shared / "part-000001.parquet").read_bytes() == b"someone else's part"
    assert not (mine / "part-000077.parquet").exists()  # Y's own orphan is cleaned up
    iy, vy = load_embeddings(y, model="fakeenc", text_kind="instruction_response")
    assert len(ix) == len(iy) == N and np.allclose(vx, vy)
    # a second run in Y finds everything done and leaves X alone
    assert embed_samples(y, **EMB).n_new == 0 and _files(x.files_dir) == before


def test_clusterings_are_per_store(xy, tmp_path):
    x, y = xy
    for st in (x, y):
        embed_samples(st, **EMB)
    cx = cluster(x, "topics", model="fakeenc", min_cluster_size=5)
    before = _files(x.files_dir)
    cy = cluster(y, "topics", model="fakeenc", min_cluster_size=5)
    assert cx.artefact_path == cy.artefact_path  # same name, same id: one relative path, two folders
    assert (x.files_dir / cx.artefact_path).exists() and (y.files_dir / cy.artefact_path).exists()
    assert cy.n_samples == cx.n_samples == N
    cluster(y, "topics", model="fakeenc", min_cluster_size=6, replace=True)
    delete_clustering(y, "topics")
    assert _files(x.files_dir) == before
    # X's clustering still places samples embedded later
    more = write_jsonl(tmp_path / "more.jsonl", blob_records(0, 3, start=100))
    import_file(x, more, pool="more", domain="math")
    embed_samples(x, **EMB)
    assert assign_new(x, "topics") == 3 and get_clustering(x, "topics").n_samples == N + 3


def test_interpolation_feature_jobs_are_per_store(xy, model_dir):
    pytest.importorskip("torch")
    from engine.synthesis import worker as W
    from engine.synthesis.interpolation import create_set

    x, y = xy
    for st in (x, y):
        create_set(st, "mc", "domain:math", "domain:code", n_pairs=6, seed=1)
    fx, fy = W.features_folder(x, "mc"), W.features_folder(y, "mc")
    assert fx != fy and is_own(x, fx) and is_own(y, fy)
    assert W.prepare(x, "mc", model=str(model_dir)) == 16
    W.run(fx)
    before = _files(x.files_dir)
    assert W.prepare(y, "mc", model=str(model_dir)) == 16
    W.run(fy)
    (ix, vx), (iy, vy) = W.load_result(fx), W.load_result(fy)
    assert ix.tolist() == iy.tolist() and np.allclose(vx, vy)
    assert JobFolder(fy).owner("request.json") == store_id(y)
    with pytest.raises(JobOwnerError):
        W.prepare(y, "mc", fx, model=str(model_dir))  # X's folder, named explicitly
    assert _files(x.files_dir) == before


def test_run_folders_are_per_store_and_never_crossed(xy, model_dir):
    x, y = xy
    rx = R.create_run(x, records=training_records(8), base_model=str(model_dir), lora=LORA, train=FAST)
    before = _files(x.files_dir)
    ry = R.create_run(y, records=training_records(8), base_model=str(model_dir), lora=LORA, train=FAST)
    assert (rx.id, rx.name) == (ry.id, ry.name) and rx.folder != ry.folder  # the old shared runs/ clashed here
    assert is_own(x, rx.folder) and is_own(y, ry.folder)
    assert json.loads((Path(ry.folder) / "config.json").read_text())["store"] == store_id(y)
    assert _files(x.files_dir) == before
    # a row of Y pointing at X's run folder (a copied store): never resumed, never started in Y
    y.con.execute("UPDATE runs SET folder = ?, status = 'failed' WHERE id = ?", [rx.folder, ry.id])
    with pytest.raises(R.RunError, match="belongs to store"):
        R.resume_run(y, ry.id)
    y.con.execute("UPDATE runs SET status = 'queued' WHERE id = ?", [ry.id])
    assert R.tick(y) == [f"run {ry.id} failed (could not start)"]
    assert "belongs to store" in R.get_run(y, ry.id).error
    assert _files(x.files_dir) == before and R.get_run(x, rx.id).status == "queued"


@pytest.mark.slow
def test_training_in_both_stores(xy, model_dir):
    x, y = xy
    runs = {}
    for st in (x, y):
        run = R.create_run(st, records=training_records(8), base_model=str(model_dir), lora=LORA, train=FAST)
        runs[st.path.name] = R.wait_run(st, run.id, poll=0.2, timeout=180)
    rx, ry = runs["x.duckdb"], runs["y.duckdb"]
    assert rx.status == ry.status == "done", (rx.error, ry.error)
    for st, run in ((x, rx), (y, ry)):
        assert (Path(run.folder) / "adapter").is_dir() and is_own(st, run.folder)
        assert st.fetchall("SELECT count(*) FROM run_metrics WHERE run_id = ?", [run.id])[0][0] > 0


def _eval_stores(x, y, model_dir):
    for st in (x, y):
        import_file(st, EVAL, pool="general_eval", domain="general")
        ev.set_role(st, "general_eval", "eval")
        # run 1: a row without a folder (eval job under jobs/ of the store), run 2: a base run with its folder
        st.con.execute(
            "INSERT INTO runs (id, name, status, kind, base_model) VALUES (1, 'bare', 'done', 'base', ?)",
            [str(model_dir)],
        )
        R.create_run(st, kind="base", base_model=str(model_dir))


def test_eval_jobs_are_per_store(xy, model_dir):
    x, y = xy
    _eval_stores(x, y, model_dir)
    for rid in (1, 2):
        jx, sx, _ = ev.prepare(x, rid, ["general_eval"], max_items=3)
        before = _files(x.files_dir)
        jy, sy, _ = ev.prepare(y, rid, ["general_eval"], max_items=3)
        assert jx != jy and is_own(x, jx) and is_own(y, jy)
        assert JobFolder(jy).owner() == store_id(y) and len(JobFolder(jy).read_input()) == 3
        with pytest.raises(JobOwnerError):
            ev.ingest(y, jx, sy)
        assert _files(x.files_dir) == before


@pytest.mark.slow
def test_evaluation_in_both_stores(xy, model_dir):
    x, y = xy
    _eval_stores(x, y, model_dir)
    settings = ev.EvalSettings(max_new_tokens=4, batch_size=4, chunk=2, threads=1)
    rx = ev.evaluate(x, 1, ["general_eval"], max_items=3, settings=settings, poll_s=0.1)
    before = _files(x.files_dir)
    ry = ev.evaluate(y, 1, ["general_eval"], max_items=3, settings=settings, poll_s=0.1)
    assert [(r.n, r.details["state"]) for r in ry] == [(3, "done")] and ry[0].value == pytest.approx(rx[0].value)
    assert y.fetchall("SELECT count(*) FROM eval_items")[0][0] == 3
    assert _files(x.files_dir) == before


def test_old_layout_store_still_reads_its_files(tmp_path, model_dir):
    """A store whose files an older version put in the shared jobs/, embeddings/, clusterings/ and runs/ beside it:
    its embeddings, clustering and runs stay readable, new files go to its own folder without clashing with
    the recorded names, and nothing in the shared folders is deleted."""
    data = tmp_path / "data"
    data.mkdir()
    db = tmp_path / "old.duckdb"
    with Store(db) as st:
        _fill(st, data)
        embed_samples(st, chunk_size=16, **EMB)  # parts 1..3
        cluster(st, "topics", model="fakeenc", min_cluster_size=5)
        cluster(st, "spare", model="fakeenc", min_cluster_size=5)
        run = R.create_run(st, kind="base", base_model=str(model_dir))
        import_file(st, EVAL, pool="general_eval", domain="general")
        ev.set_role(st, "general_eval", "eval")
        own = st.files_dir
        # what an older version left: the same relative paths, in the folders shared by every store beside it
        for sub in ("embeddings", "clusterings"):
            shutil.move(own / sub, tmp_path / sub)
        old_run = tmp_path / "runs" / Path(run.folder).name
        old_run.parent.mkdir()
        shutil.move(run.folder, old_run)
        cfg = json.loads((old_run / "config.json").read_text())
        (old_run / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if k != "store"}))
        st.con.execute("UPDATE runs SET folder = ? WHERE id = ?", [str(old_run), run.id])
    shared = _files(tmp_path / "embeddings") | _files(tmp_path / "clusterings")
    with Store(db) as st:
        ids, vecs = load_embeddings(st, model="fakeenc", text_kind="instruction_response")
        assert len(ids) == N and embedding_dim(st, "fakeenc", "instruction_response") == vecs.shape[1]
        more = write_jsonl(tmp_path / "more.jsonl", blob_records(1, 3, start=100))
        import_file(st, more, pool="more", domain="code")
        r = embed_samples(st, chunk_size=16, pool_ids=[1, 2, 3, 5], **EMB)  # not the eval pool (4)
        assert (r.n_cached, r.n_new) == (N, 3) and is_own(st, r.folder)
        new_parts = st.fetchall(
            "SELECT DISTINCT parquet_path FROM embeddings e JOIN samples s ON s.id = e.sample_id WHERE s.pool_id = 5"
        )
        assert new_parts == [("embeddings/fakeenc-instruction_response/part-000004.parquet",)]  # past the old 1..3
        ids, vecs = load_embeddings(st, model="fakeenc", text_kind="instruction_response")
        assert len(ids) == N + 3 and np.isfinite(vecs).all()
        assert assign_new(st, "topics") == 3  # the clustering's artefact is read from the shared folder
        cluster(st, "topics", model="fakeenc", min_cluster_size=5, replace=True)
        delete_clustering(st, "spare")
        assert _files(tmp_path / "embeddings") | _files(tmp_path / "clusterings") == shared  # nothing deleted there
        assert (st.files_dir / get_clustering(st, "topics").artefact_path).exists()
        # the run recorded in the shared runs/ folder is still this store's: evaluated, its eval job adopted
        assert R.folder_owner_error(st, R.get_run(st, run.id)) is None
        job, _s, _ = ev.prepare(st, run.id, ["general_eval"], max_items=2)
        assert Path(job).parent == old_run / "eval"
        spec = json.loads((Path(job) / "spec.json").read_text())
        (Path(job) / "spec.json").write_text(json.dumps({k: v for k, v in spec.items() if k != "store"}))
        JobFolder(job).write_chunk([{"sample_id": 1, "domain": "general", "eval_set": "general_eval"}])
        again, _s, _ = ev.prepare(st, run.id, ["general_eval"], max_items=2)
        assert again == job and len(JobFolder(job).chunk_files()) == 1  # an older version's eval job is resumed
