"""Duplicate groups on planted duplicates: exact (hash / normalised text), semantic (cosine), MinHash;
keep_one_per_group excludes the others (soft, reversible), in one transaction."""

import json

import numpy as np
import pytest

from engine.core.store import Store
from engine.data.ingest import import_file
from engine.data.query import Filter, bulk_exclude
from engine.geometry.dedup import (
    DedupError,
    exact_duplicate_groups,
    keep_one_per_group,
    near_duplicate_groups_minhash,
    semantic_duplicate_groups,
    similar_pairs,
)
from engine.geometry.embeddings import embed_samples
from engine.quality.scores import MetricDef, write_scores
from tests.helpers import vec_encoder

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
    "upsilon phi chi psi omega"
).split()


def _long(i):
    return " ".join(f"{WORDS[k % len(WORDS)]}{k}" for k in range(i, i + 60))


def _rec(instr, out):
    return {"instruction": instr, "input": "", "output": out}


@pytest.fixture
def st(tmp_path):
    s = Store(tmp_path / "d.duckdb")
    a = [_rec(f"q{i} vec[{i},1]", f"answer {i}") for i in range(8)]
    a.append(_rec("Tell me   about CATS", "They purr."))  # text dup of b's "tell me about cats"
    a.append(_rec(_long(1), "x"))  # minhash near-dup of b's one-word edit
    b = [_rec("q0 vec[0,1]", "answer 0"), _rec("q1 vec[1,1]", "answer 1")]  # exact copies (other pool)
    b.append(_rec("tell me about cats", "they   purr."))
    b.append(_rec(_long(1).rsplit(" ", 1)[0] + " changed", "x"))  # one word of 61 differs
    b.append(_rec("q5 vec[5.02,1]", "a much longer answer for five"))  # semantic near-copy of q5
    for name, recs in (("a", a), ("b", b)):
        p = tmp_path / f"{name}.jsonl"
        p.write_text("".join(json.dumps(r) + "\n" for r in recs))
        import_file(s, p, pool=name, domain="general")
    embed_samples(s, model="fake", encoder=vec_encoder)
    yield s
    s.close()


def _instr(st, ids):
    d = dict(st.con.execute("SELECT id, instruction FROM samples").fetchall())
    return sorted(d[i] for i in ids)


def test_exact_groups_by_hash_and_by_text(st):
    g = exact_duplicate_groups(st)
    assert [_instr(st, x.ids) for x in g] == [["q0 vec[0,1]"] * 2, ["q1 vec[1,1]"] * 2]
    assert all(x.kind == "hash" and x.keeper == min(x.ids) for x in g)  # same length: lowest id
    t = exact_duplicate_groups(st, by="text")
    assert [_instr(st, x.ids) for x in t][-1] == ["Tell me   about CATS", "tell me about cats"]
    assert len(t) == 3
    assert exact_duplicate_groups(st, Filter(pool_ids=[1])) == []  # within one pool: none
    with pytest.raises(DedupError):
        exact_duplicate_groups(st, by="fuzzy")


def test_semantic_groups_and_keeper(st):
    g = semantic_duplicate_groups(st, model="fake", threshold=0.9999)
    got = {tuple(_instr(st, x.ids)) for x in g}
    assert ("q5 vec[5,1]", "q5 vec[5.02,1]") in got and ("q0 vec[0,1]", "q0 vec[0,1]") in got
    five = next(x for x in g if "q5 vec[5,1]" in _instr(st, x.ids))
    assert _instr(st, [five.keeper]) == ["q5 vec[5.02,1]"] and "longest" in five.why  # longer answer
    assert five.similarity >= 0.9999
    ids5 = five.ids
    write_scores(st, MetricDef("q", "m"), [(ids5[0], 0.9, None), (ids5[1], 0.1, None)])
    g2 = semantic_duplicate_groups(st, model="fake", threshold=0.9999, keep="score:q")
    assert next(x for x in g2 if x.ids == ids5).keeper == ids5[0]


def test_similar_pairs_blocked_equals_dense():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X[200] = X[3]
    pairs, sims = similar_pairs(X, 0.9, block=64)
    S = X @ X.T
    want = {(i, j) for i in range(300) for j in range(i + 1, 300) if S[i, j] >= 0.9}
    assert set(pairs) == want and len(pairs) == len(want) and (3, 200) in want


def test_minhash_near_duplicates(st):
    g = near_duplicate_groups_minhash(st, threshold=0.8)
    longs = [
        r[0] for r in st.con.execute("SELECT id FROM samples WHERE instruction LIKE 'beta1 %' ORDER BY 1").fetchall()
    ]
    assert len(longs) == 2 and longs in [x.ids for x in g]
    exact = [x.ids for x in exact_duplicate_groups(st)] + [x.ids for x in exact_duplicate_groups(st, by="text")]
    assert sorted(x.ids for x in g) == sorted(map(list, {tuple(e) for e in exact} | {tuple(longs)}))
    assert all(x.kind == "minhash" and x.similarity >= 0.8 for x in g)


def test_keep_one_per_group_excludes_the_others_reversibly(st):
    n0 = st.con.execute("SELECT count(*) FROM samples").fetchall()[0][0]
    g = exact_duplicate_groups(st)
    assert keep_one_per_group(st, g) == 2
    excl = [r[0] for r in st.con.execute("SELECT id FROM samples WHERE excluded ORDER BY 1").fetchall()]
    assert excl == sorted(i for x in g for i in x.ids if i != x.keeper)
    assert st.con.execute("SELECT count(*) FROM samples").fetchall()[0][0] == n0  # nothing deleted
    assert exact_duplicate_groups(st) == []  # excluded samples no longer form groups
    assert keep_one_per_group(st, g) == 0  # idempotent
    tagged = [
        r[0] for r in st.con.execute("SELECT sample_id FROM sample_tags WHERE tag = 'duplicate' ORDER BY 1").fetchall()
    ]
    assert tagged == excl
    assert bulk_exclude(st, Filter(tags=["duplicate"]), excluded=False) == 2
    with pytest.raises(DedupError, match="keep"):
        keep_one_per_group(st, g, keep="shortest")


@pytest.mark.slow
def test_cli_dedup_and_diversity_select(tmp_path):
    from tests.helpers import SAMPLE, wb

    db = tmp_path / "wb.duckdb"
    wb(db, "import", str(SAMPLE / "math.jsonl"), "--pool", "m1", "--domain", "math")
    wb(db, "import", str(SAMPLE / "math.jsonl"), "--pool", "m2", "--domain", "math")
    r = wb(db, "dedup", "--format", "json")
    groups = json.loads(r.stdout)
    assert len(groups) == 80 and all(g["size"] == 2 and g["kind"] == "hash" for g in groups)
    assert "nothing changed" in r.stderr
    assert wb(db, "query", "--count", "--no-excluded").stdout.strip() == "160"
    r = wb(db, "dedup", "--apply")
    assert "excluded 80" in r.stdout
    assert wb(db, "query", "--count", "--no-excluded").stdout.strip() == "80"
    assert "0 duplicate groups" in wb(db, "dedup", "--minhash", "0.9").stdout
    s = Store(db)
    embed_samples(s, model="fake", encoder=vec_encoder)
    s.close()
    r = wb(db, "select", "div", "--method", "kcenter", "--k", "7", "--embed-model", "fake")
    assert "selection 'div': 7 samples (kcenter)" in r.stdout
    r = wb(db, "select", "fl", "--method", "facility_location", "--k", "5", "--embed-model", "fake", "--pool", "m1")
    assert "5 samples (facility_location)" in r.stdout
    r = wb(db, "select", "fl", "--method", "facility_location", "--k", "5", "--embed-model", "fake", check=False)
    assert r.returncode != 0 and "exists" in r.stderr
    r = wb(db, "select", "bad", "--method", "kcenter", check=False)
    assert r.returncode != 0 and "--k" in r.stderr
    r = wb(db, "select", "d", "--method", "superfiltering_d", "--k", "3", "--embed-model", "fake", check=False)
    assert r.returncode != 0 and "IFD pre-filter" in r.stderr  # no IFD scores yet
