"""Interpolation sets (MDIT) over a real store: sources, pairing rules, reproducibility, lam ~ Beta, the diversity
step (sentence and embedding-layer features), the pair preview, coverage on a cluster map and the pairs export."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from engine.core.store import Store
from engine.data.ingest import import_file
from engine.geometry.clusters import cluster
from engine.geometry.embeddings import embed_samples, load_embeddings
from engine.synthesis.interpolation import (
    TEXT_EXPORT_MESSAGE,
    InterpolationError,
    coverage,
    create_set,
    delete_set,
    export_pairs,
    export_text,
    get_set,
    list_sets,
    pairs,
    parse_source,
    preview_pair,
    proportional_quotas,
    resolve_source,
    select_diverse,
)
from tests.helpers import blob_encoder, wb, write_jsonl
from tests.helpers import blob_records as _records


def _pool(st, tmp_path, name, domain, topic_counts):
    recs = [r for k, n in topic_counts for r in _records(k, n)]
    p = tmp_path / f"{name}.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    import_file(st, p, pool=name, domain=domain)


def _ids(st, sql, params=()):
    return [r[0] for r in st.con.execute(sql, list(params)).fetchall()]


@pytest.fixture
def st(tmp_path):
    s = Store(tmp_path / "wb.duckdb")
    _pool(s, tmp_path, "math", "math", [(0, 20)])  # volcano blob
    _pool(s, tmp_path, "code", "code", [(1, 20)])  # python blob
    _pool(s, tmp_path, "mixed", "general", [(2, 10), (3, 10)])  # violin (general) + soccer (sport)
    s.con.execute("UPDATE samples SET domain = 'sport' WHERE instruction LIKE 'soccer%'")
    _pool(s, tmp_path, "held", "math", [(4, 6)])  # bread blob, an eval pool
    s.con.execute("UPDATE pools SET role = 'eval' WHERE name = 'held'")
    s.con.execute(
        "UPDATE samples SET excluded = true WHERE id IN (SELECT id FROM samples WHERE domain = 'math' "
        "AND pool_id = (SELECT id FROM pools WHERE name = 'math') ORDER BY id LIMIT 2)"
    )
    embed_samples(s, model="fakeenc", encoder=blob_encoder)
    yield s
    s.close()


def _pairs(st, name):
    return [(p.sample_a, p.sample_b, p.lam) for p in pairs(st, name)]


def test_sources_leave_out_excluded_and_eval_samples(st):
    ids, doms = resolve_source(st, "domain:math")
    assert set(doms) == {"math"}
    allowed = _ids(
        st,
        "SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id WHERE s.domain = 'math' "
        "AND NOT s.excluded AND p.name = 'math' ORDER BY 1",
    )
    assert ids.tolist() == allowed and len(allowed) == 18  # 2 excluded, the eval pool's 6 math samples out
    with pytest.raises(InterpolationError, match="eval pool"):
        resolve_source(st, "pool:held")
    with pytest.raises(InterpolationError, match="no usable samples"):
        resolve_source(st, "domain:nothing")
    with pytest.raises(InterpolationError, match="no pool named 'nope'"):
        resolve_source(st, "pool:nope")
    with pytest.raises(InterpolationError, match="KIND:REF"):
        parse_source("math")
    with pytest.raises(InterpolationError, match="source kind must be"):
        parse_source("tag:x")
    f_ids, _ = resolve_source(st, {"kind": "pool", "ref": "mixed", "filter": "domain = 'sport'"})
    assert len(f_ids) == 10


def test_random_pairs_are_reproducible_and_cross_task(st):
    s1 = create_set(st, "mc", "domain:math", "domain:code", alpha=0.5, n_pairs=50, seed=3)
    s2 = create_set(st, "mc2", "domain:math", "domain:code", alpha=0.5, n_pairs=50, seed=3)
    s3 = create_set(st, "mc3", "domain:math", "domain:code", alpha=0.5, n_pairs=50, seed=4)
    p1, p2, p3 = _pairs(st, "mc"), _pairs(st, "mc2"), _pairs(st, "mc3")
    assert p1 == p2 and s1.content_hash == s2.content_hash
    assert p1 != p3 and s3.content_hash != s1.content_hash
    math_ids = set(resolve_source(st, "domain:math")[0].tolist())
    code_ids = set(resolve_source(st, "domain:code")[0].tolist())
    assert all(a in math_ids and b in code_ids and 0 < lam < 1 for a, b, lam in p1)
    assert len({(a, b) for a, b, _ in p1}) == 50  # never the same pair twice
    assert len({a for a, _, _ in p1}) == 18  # A visited in a cycling permutation: every A used
    assert [s.name for s in list_sets(st)] == ["mc", "mc2", "mc3"]
    assert get_set(st, "mc").n_kept == 50 and get_set(st, s1.id).name == "mc"


def test_same_sources_never_pair_a_task_with_itself_unless_asked(st):
    create_set(st, "mixed", "pool:mixed", "pool:mixed", n_pairs=60, seed=1)
    rows = pairs(st, "mixed")
    assert rows and all(p.domain_a != p.domain_b for p in rows)
    create_set(st, "same", "pool:mixed", "pool:mixed", n_pairs=150, seed=1, allow_same_task=True)
    rows = pairs(st, "same")
    assert all(p.sample_a != p.sample_b for p in rows)
    assert any(p.domain_a == p.domain_b for p in rows)
    with pytest.raises(InterpolationError, match="same task"):
        create_set(st, "bad", "domain:code", "domain:code", n_pairs=5)
    with pytest.raises(InterpolationError, match="only 200 distinct valid pairs"):
        create_set(st, "toomany", "pool:mixed", "pool:mixed", n_pairs=201)  # 10 x 10 each way


def test_lambda_is_beta_alpha_alpha(st):
    from scipy import stats

    for alpha in (0.2, 2.0):
        create_set(st, f"l{alpha}", "pool:mixed", "pool:mixed", alpha=alpha, n_pairs=200, seed=0, allow_same_task=True)
        lam = np.array([p.lam for p in pairs(st, f"l{alpha}")])
        assert stats.kstest(lam, "beta", args=(alpha, alpha)).pvalue > 1e-3
    # same seed, other pairing: the same lambdas (the lam stream does not depend on the pairing)
    create_set(
        st, "li", "pool:mixed", "pool:mixed", alpha=0.2, n_pairs=200, seed=0, pairing="index", allow_same_task=True
    )
    assert [p.lam for p in pairs(st, "li")] == [p.lam for p in pairs(st, "l0.2")]


def test_index_pairing_aligns_and_skips_invalid(st):
    A = resolve_source(st, "domain:math")[0].tolist()
    B = resolve_source(st, "domain:code")[0].tolist()
    create_set(st, "ix", "domain:math", "domain:code", n_pairs=25, pairing="index")
    got = [(p.sample_a, p.sample_b) for p in pairs(st, "ix")]
    nA, nB = len(A), len(B)
    assert got[:nA] == list(zip(A, B[:nA]))  # the paper's k-th with k-th
    assert got == [(A[k % nA], B[(k % nA + k // nA) % nB]) for k in range(25)]  # round 2 shifts B by one
    # same pool both sides: a never meets itself nor (without allow_same_task) its own domain; b is the
    # first such sample at or after a's position
    X, dom = resolve_source(st, "pool:mixed")
    X, dom = X.tolist(), dom
    create_set(st, "ix2", "pool:mixed", "pool:mixed", n_pairs=20, pairing="index")
    for k, p in enumerate(pairs(st, "ix2")):
        j = next(t % 20 for t in range(k, k + 20) if dom[t % 20] != dom[k])
        assert (p.sample_a, p.sample_b) == (X[k], X[j]) and p.domain_a != p.domain_b
    create_set(st, "ix3", "pool:mixed", "pool:mixed", n_pairs=20, pairing="index", allow_same_task=True)
    assert [(p.sample_a, p.sample_b) for p in pairs(st, "ix3")] == [(X[k], X[(k + 1) % 20]) for k in range(20)]


def test_nearest_pairing_takes_the_nearest_other_task_sample(st):
    create_set(st, "nn", "pool:mixed", "domain:code", n_pairs=20, pairing="nearest", seed=2)
    s = get_set(st, "nn")
    assert s.params["embedding"] == {"model": "fakeenc", "text_kind": "instruction_response"}
    B = resolve_source(st, "domain:code")[0]
    ib, XB = load_embeddings(st, model="fakeenc", text_kind="instruction_response", sample_ids=B)
    XB = XB / np.linalg.norm(XB, axis=1, keepdims=True)
    rows = pairs(st, "nn")
    assert len({p.sample_a for p in rows}) == 20  # round 1: every A once
    for p in rows:
        _, xa = load_embeddings(st, model="fakeenc", text_kind="instruction_response", sample_ids=[p.sample_a])
        sims = XB @ (xa[0] / np.linalg.norm(xa[0]))
        assert p.sample_b == int(ib[np.argmax(sims)])
    # more pairs than A samples: second round takes each a's second nearest
    create_set(st, "nn2", "pool:mixed", "domain:code", n_pairs=40, pairing="nearest", seed=2)
    r2 = pairs(st, "nn2")
    assert len({(p.sample_a, p.sample_b) for p in r2}) == 40


def test_bad_requests_are_named(st):
    with pytest.raises(InterpolationError, match="alpha must be > 0"):
        create_set(st, "x", "domain:math", "domain:code", alpha=0)
    with pytest.raises(InterpolationError, match="pairing must be one of"):
        create_set(st, "x", "domain:math", "domain:code", pairing="zip")
    with pytest.raises(InterpolationError, match="n_pairs must be a positive integer"):
        create_set(st, "x", "domain:math", "domain:code", n_pairs=0)
    create_set(st, "x", "domain:math", "domain:code", n_pairs=3)
    with pytest.raises(InterpolationError, match="named 'x' exists"):
        create_set(st, "x", "domain:math", "domain:code", n_pairs=3)
    create_set(st, "x", "domain:math", "domain:code", n_pairs=4, replace=True)
    assert get_set(st, "x").n_pairs == 4 and len(list_sets(st)) == 1
    with pytest.raises(InterpolationError, match="no interpolation set 'y'; sets: x"):
        get_set(st, "y")
    with pytest.raises(InterpolationError, match="has no pair 9"):
        preview_pair(st, "x", 9)


def test_proportional_quotas():
    q = proportional_quotas({0: 60, 1: 30, 2: 10}, {0: 100, 1: 100, 2: 100}, 10)
    assert q == {0: 6, 1: 3, 2: 1}
    q = proportional_quotas({0: 60, 1: 30, 2: 10}, {0: 2, 1: 100, 2: 100}, 10)  # cluster 0 capped at 2
    assert q[0] == 2 and sum(q.values()) == 10 and q[1] > q[2]
    assert sum(proportional_quotas({0: 5, 1: 5}, {0: 1, 1: 1}, 10).values()) == 2


def _check_kept_nearest_centroid(rows, budget):
    kept = [p for p in rows if p.kept]
    assert len(kept) == budget
    by_cluster: dict[int, list] = {}
    for p in rows:
        assert p.cluster is not None and p.why
        by_cluster.setdefault(p.cluster, []).append(p)
    for members in by_cluster.values():
        ranks = sorted(members, key=lambda p: int(p.why.split("rank ")[1].split(" ")[0]))
        flags = [p.kept for p in ranks]
        assert flags == sorted(flags, reverse=True)  # kept ones are exactly the first by distance


def test_select_diverse_sentence_features(st):
    create_set(st, "d", "pool:mixed", "domain:code", n_pairs=40, seed=0)
    res = select_diverse(st, "d", budget=12, features="sentence", k=4, seed=0)
    assert res.n_kept == 12 and res.k == 4 and res.features.startswith("sentence (fakeenc")
    assert sum(c["kept"] for c in res.clusters) == 12
    assert sum(c["n_mixes"] for c in res.clusters) == 40
    assert res.n_originals == 40  # 20 mixed + 20 code samples
    rows = pairs(st, "d")
    _check_kept_nearest_centroid(rows, 12)
    assert get_set(st, "d").n_kept == 12 and get_set(st, "d").params["diversity"]["budget"] == 12
    assert len(pairs(st, "d", kept_only=True)) == 12
    again = select_diverse(st, "d", budget=12, features="sentence", k=4, seed=0)
    assert [p.kept for p in pairs(st, "d")] == [p.kept for p in rows] and again.n_kept == 12
    assert get_set(st, "d").params["diversity"]["pca_dims"] == 64  # 384-d sentence vectors reduced first
    full = select_diverse(st, "d", budget=12, features="sentence", k=4, seed=0, pca_dims=None)
    assert full.n_kept == 12 and get_set(st, "d").params["diversity"]["pca_dims"] is None
    _check_kept_nearest_centroid(pairs(st, "d"), 12)
    with pytest.raises(InterpolationError, match="pca_dims must be"):
        select_diverse(st, "d", budget=3, features="sentence", pca_dims=1)
    with pytest.raises(InterpolationError, match="budget must be a positive integer"):
        select_diverse(st, "d", budget=0, features="sentence")
    with pytest.raises(InterpolationError, match="features must be one of"):
        select_diverse(st, "d", budget=3, features="pixels")


@pytest.mark.slow
def test_select_diverse_embedding_layer_features(st):
    pytest.importorskip("torch")
    from tests.tiny_lm import tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    model = tiny_llama(tok)
    create_set(st, "e", "domain:math", "domain:code", n_pairs=30, seed=5)
    res = select_diverse(st, "e", budget=30, model=(model, tok), seed=1)  # budget >= pairs: keep all
    assert res.n_kept == 30 and res.features == "embedding_layer"
    res = select_diverse(st, "e", budget=7, model=(model, tok), seed=1)
    assert res.n_kept == 7
    _check_kept_nearest_centroid(pairs(st, "e"), 7)


def test_preview_pair_nearest_real_samples(st):
    create_set(st, "p", "domain:math", "domain:code", n_pairs=5, seed=0)
    pv = preview_pair(st, "p", 2, k=4)
    row = pairs(st, "p")[2]
    assert (pv.a["sample_id"], pv.b["sample_id"], pv.lam) == (row.sample_a, row.sample_b, row.lam)
    assert pv.a["domain"] == "math" and pv.b["domain"] == "code" and pv.embedding == "fakeenc/instruction_response"
    ids, X = load_embeddings(st, model="fakeenc", text_kind="instruction_response")
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    e = dict(zip(ids.tolist(), Xn))
    point = row.lam * e[row.sample_a] + (1 - row.lam) * e[row.sample_b]
    point /= np.linalg.norm(point)
    excluded = set(_ids(st, "SELECT id FROM samples WHERE excluded"))
    cand = [
        (float(Xn[i] @ point), int(sid))
        for i, sid in enumerate(ids.tolist())
        if sid not in excluded and sid not in (row.sample_a, row.sample_b)
    ]
    want = sorted(cand, key=lambda t: (-t[0], t[1]))[:4]
    assert [n.sample_id for n in pv.nearest] == [sid for _, sid in want]
    assert [n.cosine for n in pv.nearest] == pytest.approx([c for c, _ in want], abs=1e-5)
    assert pv.cos_a == pytest.approx(float(point @ e[row.sample_a]), abs=1e-5)
    assert {n.domain for n in pv.nearest} <= {"math", "code"}  # the blob between lies near the two tasks


def test_coverage_places_mixes_on_the_map(st):
    cluster(st, "topics", model="fakeenc", min_cluster_size=5)
    create_set(st, "cv", "domain:math", "pool:mixed", n_pairs=30, seed=0)
    cov = coverage(st, "cv", "topics")
    assert cov.n_mixes == 30 and cov.n_unplaced == 0 and len(cov.x) == 30
    assert sum(v["mixes"] for v in cov.per_cluster.values()) == 30
    assert cov.covered_originals == 3  # volcano, violin, soccer blobs
    assert cov.covered_with_mixes >= cov.covered_originals
    assert set(cov.new_clusters) == {
        c
        for c in range(cov.n_clusters)
        if cov.per_cluster.get(c, {}).get("originals", 0) == 0 and cov.per_cluster.get(c, {}).get("mixes", 0) > 0
    }
    assert "projected" in cov.placement
    # lam = 1: the mix is sample a itself, so it lands on a's own map point and cluster
    sid = get_set(st, "cv").id
    st.con.execute("UPDATE interpolation_pairs SET lam = 1.0 WHERE set_id = ? AND pair_index = 0", [sid])
    cov = coverage(st, "cv", "topics")
    a = pairs(st, "cv")[0].sample_a
    x, y, cl = st.con.execute("SELECT x, y, cluster FROM cluster_assignments WHERE sample_id = ?", [a]).fetchall()[0]
    j = cov.pair_index.tolist().index(0)
    assert (cov.x[j], cov.y[j]) == pytest.approx((x, y), abs=1e-4) and cov.cluster[j] == cl
    with pytest.raises(InterpolationError, match="no clustering named 'nope'"):
        coverage(st, "cv", "nope")


def test_export_pairs_table_and_text_export_refused(st, tmp_path):
    create_set(st, "x", "domain:math", "domain:code", n_pairs=6, seed=0)
    select_diverse(st, "x", budget=3, features="sentence", k=2)
    want = pairs(st, "x")
    assert export_pairs(st, "x", tmp_path / "p.csv") == 6
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["sample_a"]) for r in rows] == [p.sample_a for p in want]
    assert [float(r["lam"]) for r in rows] == pytest.approx([p.lam for p in want])
    assert rows[0]["instruction_a"] == want[0].instruction_a
    import pyarrow.parquet as pq

    export_pairs(st, "x", tmp_path / "p.parquet", kept_only=True)
    t = pq.read_table(tmp_path / "p.parquet")
    assert t.num_rows == 3 and all(t.column("kept").to_pylist())
    export_pairs(st, "x", tmp_path / "p.jsonl")
    lines = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [x["cluster"] for x in lines] == [p.cluster for p in want]
    with pytest.raises(InterpolationError, match="csv, .parquet or .jsonl"):
        export_pairs(st, "x", tmp_path / "p.txt")
    with pytest.raises(InterpolationError, match="cannot be exported as text"):
        export_text(st, "x")
    assert "export-pairs" in TEXT_EXPORT_MESSAGE


def test_delete_set_refused_while_a_mixture_uses_it(st):
    s = create_set(st, "x", "domain:math", "domain:code", n_pairs=4)
    st.con.execute("INSERT INTO mixtures (id, name, version, recipe, content_hash) VALUES (1, 'mx', 1, '{}', 'h')")
    st.con.execute(
        "INSERT INTO mixture_items (mixture_id, position, kind, interp_set_id, pair_index, domain) "
        "VALUES (1, 0, 'mixup', ?, 0, 'mixup')",
        [s.id],
    )
    with pytest.raises(InterpolationError, match="used by mixture mx v1"):
        delete_set(st, "x")
    st.con.execute("DELETE FROM mixture_items")
    delete_set(st, "x")
    assert list_sets(st) == [] and st.con.execute("SELECT count(*) FROM interpolation_pairs").fetchall()[0][0] == 0


def test_cli_create_select_preview_export(st, tmp_path, capsys):
    """`workbench interpolate ...` as a user runs it: one real subprocess, the rest through main()."""
    from workbench.cli import main

    cluster(st, "topics", model="fakeenc", min_cluster_size=5)
    db = str(st.path)
    st.close()
    r = wb(
        st.path,
        "interpolate",
        "create",
        "cli",
        "--a",
        "domain:math",
        "--b",
        "pool:mixed | where domain = 'sport'",
        "--pairs",
        "12",
        "--seed",
        "1",
        "--json",
    )
    made = json.loads(r.stdout)
    assert made["n_pairs"] == 12 and made["source_b"] == "pool:mixed [domain = 'sport']"
    r = wb(st.path, "interpolate", "create", "cli", "--a", "domain:math", "--b", "domain:code", check=False)
    assert r.returncode == 1 and "named 'cli' exists" in r.stderr
    assert main(["--db", db, "interpolate", "list", "--json"]) == 0
    assert [s["name"] for s in json.loads(capsys.readouterr().out)] == ["cli"]
    assert (
        main(["--db", db, "interpolate", "select", "cli", "--budget", "5", "--features", "sentence", "--k", "3"]) == 0
    )
    assert "kept 5 of 12 mixes" in capsys.readouterr().out
    assert main(["--db", db, "interpolate", "pairs", "cli", "--kept", "--json"]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert len(kept) == 5 and all(p["domain_b"] == "sport" for p in kept)
    assert main(["--db", db, "interpolate", "preview", "cli", "3", "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "pair 3: lam" in out and "nearest real samples to the mix (fakeenc/instruction_response)" in out
    assert main(["--db", db, "interpolate", "show", "cli"]) == 0
    assert "diversity: budget 5, k 3" in capsys.readouterr().out
    assert main(["--db", db, "interpolate", "coverage", "cli", "topics", "--json"]) == 0
    cov = json.loads(capsys.readouterr().out)
    assert cov["n_mixes"] == 5 and len(cov["points"]) == 5 and cov["covered_originals"] == 2
    assert main(["--db", db, "interpolate", "coverage", "cli", "topics", "--all"]) == 0
    assert "12 mixes placed" in capsys.readouterr().out
    assert main(["--db", db, "interpolate", "export-pairs", "cli", str(tmp_path / "x.csv")]) == 0
    assert (tmp_path / "x.csv").read_text().count("\n") == 13
    assert main(["--db", db, "interpolate", "export", "cli", str(tmp_path / "x.jsonl")]) == 1
    assert "cannot be exported as text" in capsys.readouterr().err
    assert main(["--db", db, "interpolate", "preview", "cli", "99"]) == 1
    assert "has no pair 99" in capsys.readouterr().err
    assert main(["--db", db, "interpolate", "delete", "cli"]) == 0


@pytest.mark.slow
def test_feature_worker_subprocess_matches_in_process(st, tmp_path):
    """The Interpolation screen's path: features in a child process (engine.synthesis.worker), then select_diverse
    with those vectors; same features and kept set as the in-process path."""
    pytest.importorskip("torch")
    from engine.synthesis import worker as interp_worker
    from engine.synthesis.interpolation import embedding_layer_features, originals
    from tests.tiny_lm import tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    model = tiny_llama(tok)
    folder = tmp_path / "tiny"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    create_set(st, "w", "domain:math", "domain:code", n_pairs=20, seed=2)
    job = tmp_path / "job"
    n = interp_worker.prepare(st, "w", job, model=str(folder))
    assert n == len(originals(st, "w")) == 38
    proc = interp_worker.start(job)
    assert proc.wait(timeout=120) == 0, (job / "worker.stderr").read_text()
    ids, X = interp_worker.load_result(job)
    want = embedding_layer_features(st, ids.tolist(), (model, tok))
    np.testing.assert_allclose(X, want, rtol=1e-6, atol=1e-7)
    select_diverse(st, "w", budget=6, model=(model, tok), seed=0)
    kept_in_process = [p.kept for p in pairs(st, "w")]
    res = select_diverse(st, "w", budget=6, vectors=(ids, X), seed=0)
    assert res.n_kept == 6 and [p.kept for p in pairs(st, "w")] == kept_in_process
    with pytest.raises(InterpolationError, match="miss 1 of the 38 originals"):
        select_diverse(st, "w", budget=6, vectors=(ids[1:], X[1:]))


def test_coverage_counts_clusters_reached_only_by_mixes(tmp_path):
    """Three planted blobs: A, B and one exactly between them. Pairs of A x B with lam near 0.5 (alpha 50) land
    in the middle blob, which no pair sample is in: coverage goes from 2 to 3 clusters, new_clusters = [mid]."""
    e = np.eye(16, dtype=np.float32)
    centres = {"alpha": e[0], "beta": e[1], "mid": (e[0] + e[1]) / np.sqrt(2)}

    def enc(texts):
        out = []
        for t in texts:
            rng = np.random.default_rng(int.from_bytes(t.encode()[-8:].ljust(8, b"_"), "little") % 2**32)
            out.append(centres[t.split()[0]] + rng.normal(scale=0.03, size=16).astype(np.float32))
        return np.stack(out)

    with Store(tmp_path / "c.duckdb") as st:
        for word, dom in (("alpha", "math"), ("beta", "code"), ("mid", "general")):
            recs = [{"instruction": f"{word} item {i}", "input": "", "output": f"x{i}"} for i in range(15)]
            import_file(st, write_jsonl(tmp_path / f"{word}.jsonl", recs), pool=word, domain=dom)
        embed_samples(st, model="enc3", encoder=enc)
        info = cluster(st, "three", model="enc3", min_cluster_size=5)
        assert info.n_clusters == 3
        mid = st.con.execute(
            "SELECT DISTINCT a.cluster FROM cluster_assignments a JOIN samples s ON s.id = a.sample_id "
            "WHERE s.domain = 'general'"
        ).fetchall()
        assert len(mid) == 1
        create_set(st, "ab", "domain:math", "domain:code", alpha=50.0, n_pairs=20, seed=0)
        assert all(0.3 < p.lam < 0.7 for p in pairs(st, "ab"))
        cov = coverage(st, "ab", "three")
        assert (cov.covered_originals, cov.covered_with_mixes, cov.n_clusters) == (2, 3, 3)
        assert cov.new_clusters == [mid[0][0]] and cov.per_cluster[mid[0][0]] == {"originals": 0, "mixes": 20}
        # and a set of near-pure mixes (alpha 0.02: lam near 0 or 1) adds nothing
        create_set(st, "pure", "domain:math", "domain:code", alpha=0.02, n_pairs=20, seed=0)
        near = [p for p in pairs(st, "pure") if min(p.lam, 1 - p.lam) < 0.01]
        st.con.execute(
            "UPDATE interpolation_pairs SET kept = (least(lam, 1 - lam) < 0.01) WHERE set_id = ?",
            [get_set(st, "pure").id],
        )
        cov = coverage(st, "pure", "three")
        assert cov.n_mixes == len(near) > 0 and cov.new_clusters == []
