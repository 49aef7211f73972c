"""Clusterings: PCA -> HDBSCAN recovers synthetic blobs, saved named results, assign_new, labels, diversity."""

import json

import numpy as np
import pytest

from engine.core.store import Store
from engine.data.ingest import import_file
from engine.data.query import Filter
from engine.geometry.clusters import (
    ClusterError,
    assign_new,
    cluster,
    cluster_ids,
    cluster_summary,
    ctfidf_keywords,
    diversity,
    get_clustering,
    list_clusterings,
    map_points,
)
from engine.geometry.embeddings import embed_samples, load_embeddings
from tests.helpers import DIM, TOPICS, blob_encoder
from tests.helpers import blob_records as _records


def _make(tmp_path, n=50, name="s"):
    st = Store(tmp_path / f"{name}.duckdb")
    recs = [r for k in range(len(TOPICS)) for r in _records(k, n)]
    p = tmp_path / f"{name}.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    import_file(st, p, pool="blobs", domain="general")
    embed_samples(st, model="blobenc", encoder=blob_encoder)
    return st


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("blobs")
    st = _make(tmp)
    info = cluster(st, "six", model="blobenc", min_cluster_size=15)
    yield st, info
    st.close()


def _truth(st, ids):
    rows = dict(st.con.execute("SELECT id, instruction FROM samples").fetchall())
    return [next(i for i, w in enumerate(TOPICS) if rows[int(s)].startswith(w[0])) for s in ids]


def test_blobs_recovered(blobs):
    from sklearn.metrics import adjusted_rand_score

    st, info = blobs
    assert info.n_samples == 300 and info.n_clusters == 6 and info.params["pca_dims"] == 32
    ids, labels, x, y = map_points(st, "six")
    assert adjusted_rand_score(_truth(st, ids), labels) >= 0.9
    assert np.isfinite(x).all() and np.isfinite(y).all() and np.ptp(x) > 0
    art = st.files_dir / info.artefact_path
    assert art.exists() and info.artefact_path.startswith("clusterings/")
    assert [c.name for c in list_clusterings(st)] == ["six"]


def test_summary_keywords_representative_domains(blobs):
    st, _ = blobs
    summ = cluster_summary(st, "six")
    real = [c for c in summ if c.cluster >= 0]
    assert len(real) == 6 and sum(c.size for c in summ) == 300
    rows = dict(st.con.execute("SELECT id, instruction FROM samples").fetchall())
    for c in real:
        members = cluster_ids(st, "six", c.cluster)
        topic = TOPICS[_truth(st, [members[0]])[0]]
        assert set(topic) <= set(c.keywords[:3]), (topic, c.keywords)
        assert c.representative_id in members and c.representative_text == rows[c.representative_id]
        assert c.domains == {"general": c.size}
        assert not {"question", "tell", "answer"} & set(c.keywords[:3])


def test_summary_score_means_and_noise_row(tmp_path):
    from engine.quality.scores import MetricDef, write_scores

    st = _make(tmp_path, n=30)
    # a few far-away points end up as noise, shown as a row labelled noise
    p = tmp_path / "odd.jsonl"
    p.write_text(
        "".join(
            json.dumps({"instruction": f"{TOPICS[i % 6][0]} odd {i}", "input": "", "output": "x"}) + "\n"
            for i in range(3)
        )
    )
    import_file(st, p, pool="odd")

    def enc(texts):
        return np.stack(
            [np.random.default_rng(i + 100).normal(size=DIM).astype(np.float32) * 3 for i, _ in enumerate(texts)]
        )

    embed_samples(st, model="blobenc", encoder=enc, pool_ids=[2])
    write_scores(st, MetricDef("ifd", "m"), [(i, 0.5, None) for i in range(1, 184)])
    info = cluster(st, "c", model="blobenc", min_cluster_size=10)
    assert info.n_noise >= 3
    summ = cluster_summary(st, "c")
    assert summ[0].cluster == -1 and summ[0].label == "noise" and summ[0].keywords == []
    assert all(c.scores["ifd"] == pytest.approx(0.5) for c in summ if c.cluster >= 0)
    st.close()


def test_duplicate_name_refused_replace_allowed(blobs, tmp_path):
    st, info = blobs
    with pytest.raises(ClusterError, match="exists"):
        cluster(st, "six", model="blobenc", min_cluster_size=15)
    assert get_clustering(st, "six").id == info.id
    new = cluster(st, "six2", model="blobenc", min_cluster_size=15, pca_dims=8)
    again = cluster(st, "six2", model="blobenc", min_cluster_size=15, pca_dims=16, replace=True)
    assert again.params["pca_dims"] == 16 and again.id != new.id
    assert not (st.files_dir / new.artefact_path).exists()
    n_old = st.con.execute("SELECT count(*) FROM cluster_assignments WHERE clustering_id = ?", [new.id]).fetchall()[0][
        0
    ]
    assert n_old == 0
    with pytest.raises(ClusterError, match="embed"):
        cluster(st, "none", model="no-such-model")


def test_assign_new_puts_near_copies_in_their_cluster(tmp_path):
    st = _make(tmp_path, n=40)
    info = cluster(st, "c", model="blobenc", min_cluster_size=10)
    assert info.n_clusters == 6
    before = dict(st.con.execute("SELECT sample_id, cluster FROM cluster_assignments").fetchall())
    recs = [r for k in range(len(TOPICS)) for r in _records(k, 3, start=1000)]
    p = tmp_path / "new.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = import_file(st, p, pool="blobs")  # appended to the clustered pool
    embed_samples(st, model="blobenc", encoder=blob_encoder)
    assert assign_new(st, "c") == 18
    assert assign_new(st, "c") == 0
    rows = st.con.execute(
        "SELECT a.sample_id, a.cluster, a.probability, a.outlier_score FROM cluster_assignments a "
        "WHERE a.sample_id > ?",
        [max(before)],
    ).fetchall()
    assert len(rows) == 18 and res.n_inserted == 18
    # each new sample lands in the cluster that holds the old members of its topic
    topic_cluster = {}
    for sid, cl in before.items():
        topic_cluster.setdefault(_truth(st, [sid])[0], set()).add(cl)
    for sid, cl, prob, out in rows:
        assert {cl} == topic_cluster[_truth(st, [sid])[0]]
        assert 0 < prob <= 1 and out is not None
    again = get_clustering(st, "c")
    assert again.n_samples == 258 and again.n_assigned_later == 18 and again.n_clusters == 6
    st.close()


def test_diversity_metrics(blobs):
    st, _ = blobs
    full = diversity(st, "six")
    assert full.n == 300 and full.n_clusters == 6 and full.coverage == 1.0
    assert full.entropy_norm == pytest.approx(1.0, abs=0.02)
    one = diversity(st, "six", Filter(text="volcano"))
    assert one.n == 50 and one.n_covered == 1 and one.coverage == pytest.approx(1 / 6) and one.entropy == 0.0
    # exact mean cosine distance equals the brute force over all pairs
    ids, X = load_embeddings(st, model="blobenc", text_kind="instruction_response")
    S = X.astype(np.float64) @ X.T.astype(np.float64)
    n = len(X)
    brute = float((1 - S)[~np.eye(n, dtype=bool)].mean())
    assert full.mean_cosine_distance == pytest.approx(brute, abs=1e-6)
    assert one.mean_cosine_distance < full.mean_cosine_distance


def test_ctfidf_definition():
    kw = ctfidf_keywords({0: ["apple apple pear", "apple"], 1: ["pear plum", "plum"]}, n=2)
    # class 0: apple 3/4, pear 1/4; class 1: plum 2/3, pear 1/3; A = 3.5; f: apple 3, pear 2, plum 2
    assert kw[0][0] == "apple" and kw[1][0] == "plum"


def test_cli_cluster_and_clusters(tmp_path, capsys):
    from workbench.cli import main

    st = _make(tmp_path, n=30)
    db = str(st.path)
    st.close()
    assert main(["--db", db, "-q", "cluster", "cli", "--model", "blobenc", "--min-cluster-size", "10"]) == 0
    assert "6 clusters" in capsys.readouterr().out
    assert main(["--db", db, "clusters", "--format", "json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["cli"]
    assert main(["--db", db, "clusters", "cli", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len([r for r in rows if r["cluster"] >= 0]) == 6 and all(r["keywords"] for r in rows if r["cluster"] >= 0)
    assert main(["--db", db, "clusters", "cli"]) == 0
    assert "coverage" in capsys.readouterr().out
    assert main(["--db", db, "-q", "cluster", "cli", "--model", "blobenc"]) == 1
    assert "exists" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--db", db, "-q", "embed", "--model", "blobenc", "--text", "bogus"])


def test_diversity_over_explicit_sample_ids(blobs):
    st, _ = blobs
    ids, labels, _x, _y = map_points(st, "six")
    by_cluster = {int(k): ids[labels == k].tolist() for k in np.unique(labels) if k >= 0}
    two = sorted(by_cluster)[:2]
    pick = by_cluster[two[0]][:10] + by_cluster[two[1]][:30]
    d = diversity(st, "six", sample_ids=pick + pick[:5] + [10**9])  # repeats count once; unknown id left out
    assert d.n == 40 and d.n_covered == 2 and d.coverage == pytest.approx(2 / 6) and d.n_missing == 1
    p = np.array([10, 30]) / 40
    assert d.entropy == pytest.approx(float(-(p * np.log(p)).sum()))
    assert any("not in this clustering" in n for n in d.notes)
    # mean cosine distance over exactly these samples, brute force
    _sub, X = load_embeddings(st, model="blobenc", text_kind="instruction_response", sample_ids=np.array(sorted(pick)))
    X = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    S = X @ X.T
    assert d.mean_cosine_distance == pytest.approx(float((1 - S)[~np.eye(40, dtype=bool)].mean()), abs=1e-6)
    # sample_ids and a filter intersect
    rows = dict(st.con.execute("SELECT id, instruction FROM samples").fetchall())
    word = rows[pick[0]].split()[0]
    both = diversity(st, "six", Filter(text=word), sample_ids=pick)
    assert both.n == 10 and both.n_covered == 1
    empty = diversity(st, "six", sample_ids=[])
    assert empty.n == 0 and empty.mean_cosine_distance is None and empty.n_missing == 0
    for bad in ("1,2", [1, "2"], [1.5], [True], 5):
        with pytest.raises(ClusterError, match="sample"):
            diversity(st, "six", sample_ids=bad)


def test_fit_on_a_subsample_places_the_rest(blobs):
    from sklearn.metrics import adjusted_rand_score

    st, _ = blobs
    info = cluster(st, "sub", model="blobenc", min_cluster_size=15, fit_sample=120, seed=3)
    p = info.params
    assert p["fit_sample"] == 120 and p["result"]["n_fit"] == 120 and p["result"]["n_predicted"] == 180
    assert p["fit_min_cluster_size"] == 6 and p["min_cluster_size"] == 15  # scaled by 120/300
    assert p["min_samples"] is None and p["fit_min_samples"] == 6  # default: min(10, fit min_cluster_size)
    assert info.n_samples == 300 and info.n_assigned_later == 0 and info.n_clusters == 6
    ids, labels, x, y = map_points(st, "sub")
    assert adjusted_rand_score(_truth(st, ids), labels) >= 0.9
    rows = st.con.execute(
        "SELECT probability, outlier_score FROM cluster_assignments WHERE clustering_id = ?", [info.id]
    ).fetchall()
    assert all(0 <= pr <= 1 and o is not None for pr, o in rows)
    # the same seed draws the same subsample: the same labels again
    again = cluster(st, "sub", model="blobenc", min_cluster_size=15, fit_sample=120, seed=3, replace=True)
    assert np.array_equal(map_points(st, "sub")[1], labels) and again.params["result"]["n_fit"] == 120
    # no limit (None or 0), or a limit above n: every sample is fitted
    full = cluster(st, "nolimit", model="blobenc", min_cluster_size=15, fit_sample=None)
    assert full.params["result"]["n_fit"] == 300 and full.params["result"]["n_predicted"] == 0
    assert full.params["fit_min_samples"] == 10  # min(10, 15)
    with pytest.raises(ClusterError, match="min_samples 120 needs more than 120"):
        cluster(st, "bad", model="blobenc", fit_sample=120, min_samples=120)
    for bad in ({"fit_sample": -1}, {"min_cluster_size": 1}, {"min_samples": 2.5}, {"fit_sample": "10"}):
        with pytest.raises(ClusterError, match=next(iter(bad))):
            cluster(st, "bad", model="blobenc", **bad)


def test_cli_cluster_fit_sample(tmp_path, capsys):
    from workbench.cli import main

    st = _make(tmp_path, n=30)
    db = str(st.path)
    st.close()
    assert (
        main(
            [
                "--db",
                db,
                "-q",
                "cluster",
                "part",
                "--model",
                "blobenc",
                "--min-cluster-size",
                "10",
                "--fit-sample",
                "90",
            ]
        )
        == 0
    )
    assert "6 clusters" in capsys.readouterr().out
    with Store(db) as st2:
        info = get_clustering(st2, "part")
    assert info.params["fit_sample"] == 90 and info.params["result"]["n_fit"] == 90 and info.n_samples == 180
    assert main(["--db", db, "-q", "cluster", "all", "--model", "blobenc", "--fit-sample", "0"]) == 0
    with Store(db) as st2:
        assert get_clustering(st2, "all").params["result"]["n_predicted"] == 0
    assert main(["--db", db, "-q", "cluster", "bad", "--model", "blobenc", "--fit-sample", "-5"]) == 1
    assert "fit_sample must be an integer >= 0" in capsys.readouterr().err


@pytest.mark.slow
def test_parallel_placement_equals_serial(monkeypatch):
    """Placing points with approximate_predict in worker processes gives exactly the serial result."""
    import hdbscan

    from engine.geometry import cluster_fit as C

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 10, size=(4, 5))
    X = np.concatenate([c + rng.normal(0, 1, size=(150, 5)) for c in centers])
    fit, rest = X[::2], X[1::2]
    hd = hdbscan.HDBSCAN(min_cluster_size=10, prediction_data=True).fit(fit)
    serial = C._predict(hd, rest, n_jobs=1)
    monkeypatch.setattr(C, "PARALLEL_PREDICT_MIN", 10)
    parallel = C._predict(hd, rest, n_jobs=2)
    assert len(set(serial[0])) == 4
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
