"""Mixture resolution, versions, diff, export, training records and domain subsets over real DuckDB stores
built from small hand-made JSONL files (and the bundled sample pools), plus the `workbench mix` CLI."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path

import pytest

from engine import mixtures as mx
from engine.core.store import Store
from engine.data.ingest import import_file
from engine.data.query import Filter, bulk_exclude
from engine.mixtures import Component, MixtureError, Recipe, Stage
from engine.quality.scores import MetricDef, write_scores
from workbench.cli import load_sample, main

DOMS = {"math": 30, "code": 20, "general": 50}


def _records(domain: str, n: int, start: int = 0) -> list[dict]:
    # lengths vary so that token quotas are not a multiple of one item
    return [
        {
            "instruction": f"{domain} task {i}: " + "please explain " * (i % 5),
            "input": "",
            "output": f"{domain} answer {i} " + "word " * (3 + (i * 7) % 23),
        }
        for i in range(start, start + n)
    ]


def _write(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "mix.duckdb")
    for dom, n in DOMS.items():
        import_file(s, _write(tmp_path / f"{dom}.jsonl", _records(dom, n)), pool=f"p_{dom}", domain=dom)
    # an eval pool of math questions: never drawn
    import_file(
        s, _write(tmp_path / "math_eval.jsonl", _records("math", 10, start=1000)), pool="math_eval", domain="math"
    )
    s.con.execute("UPDATE pools SET role = 'eval' WHERE name = 'math_eval'")
    yield s
    s.close()


def _domain_comps() -> list[Component]:
    return [Component(d, "domain", d) for d in DOMS]


def _recipe(**kw) -> Recipe:
    base = dict(components=_domain_comps(), proportions={"math": 0.5, "code": 0.3, "general": 0.2}, budget=40)
    base.update(kw)
    return Recipe(**base)


def _by_domain(items) -> Counter:
    return Counter(i.domain for i in items)


def _ids(store, sql: str) -> set[int]:
    c = store.cursor()
    try:
        return {r[0] for r in c.execute(sql).fetchall()}
    finally:
        c.close()


# -- resolution ----------------------------------------------------------------------------------------


def test_largest_remainder_sums_exactly():
    assert mx.largest_remainder(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}  # tie: first name
    q = mx.largest_remainder(101, {"x": 0.5, "y": 0.3, "z": 0.2})
    assert q == {"x": 51, "y": 30, "z": 20} and sum(q.values()) == 101
    assert mx.largest_remainder(0, {"a": 1}) == {"a": 0}


@pytest.mark.parametrize(
    "budget,expected", [(40, {"math": 20, "code": 12, "general": 8}), (33, {"math": 16, "code": 10, "general": 7})]
)  # 16.5/9.9/6.6
def test_proportions_by_samples_are_exact(store, budget, expected):
    res = mx.resolve(store, _recipe(budget=budget))
    assert res.n_items == budget
    assert dict(_by_domain(res.items)) == expected
    for d, n in expected.items():
        c = res.per_domain[d]
        assert (c.requested, c.drawn, c.available, c.short) == (n, n, DOMS[d], False)
        assert c.drawn_tokens == sum(i.n_tokens for i in res.items if i.domain == d)
    # without replacement: no item twice; positions are the training order 0..n-1
    assert len({i.sample_id for i in res.items}) == budget
    assert [i.position for i in res.items] == list(range(budget))
    assert res.warnings == []


def test_proportions_by_tokens_stop_at_the_crossing_item(store):
    tok = {
        d: _ids(
            store, f"SELECT sum(n_tokens) FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.name = 'p_{d}'"
        ).pop()
        for d in DOMS
    }
    budget = 600
    res = mx.resolve(store, _recipe(unit="tokens", budget=budget))
    quotas = mx.largest_remainder(budget, {"math": 0.5, "code": 0.3, "general": 0.2})
    for d, q in quotas.items():
        mine = [i.n_tokens for i in res.items if i.domain == d]
        assert res.per_domain[d].requested == q and res.per_domain[d].available_tokens == tok[d]
        assert sum(mine) >= q, d  # the quota is met...
        assert sum(mine) - max(mine) < q, d  # ...and without the crossing item it would not be
        assert res.per_domain[d].drawn_tokens == sum(mine)
    assert not res.warnings


def test_same_seed_same_items_other_seed_other_items(store, tmp_path):
    a = mx.resolve(store, _recipe())
    b = mx.resolve(store, _recipe())
    assert [(i.sample_id, i.position) for i in a.items] == [(i.sample_id, i.position) for i in b.items]
    assert a.content_hash == b.content_hash
    c = mx.resolve(store, _recipe(seed=1))
    assert {i.sample_id for i in c.items} != {i.sample_id for i in a.items}
    assert dict(_by_domain(c.items)) == dict(_by_domain(a.items))
    # a domain's draw does not depend on the other domains' shares
    d = mx.resolve(store, _recipe(proportions={"math": 0.5, "code": 0.1, "general": 0.4}))
    assert {i.sample_id for i in d.items if i.domain == "math"} == {i.sample_id for i in a.items if i.domain == "math"}


def test_short_policies(store):
    r = dict(proportions={"math": 0.8, "general": 0.2}, budget=50)  # math: 40 requested, 30 available
    with pytest.raises(MixtureError, match=r"math: 40 samples requested, 30 available \(short policy error"):
        mx.resolve(store, _recipe(short="error", **r))
    took = mx.resolve(store, _recipe(short="take_all", **r))
    assert took.per_domain["math"].drawn == 30 and took.per_domain["math"].short
    assert "math: 40 samples requested, 30 available; took all 30 (short policy take_all)" in took.warnings
    assert took.n_items == 40 and took.per_domain["general"].drawn == 10
    up = mx.resolve(store, _recipe(short="upsample", **r))
    math_ids = [i.sample_id for i in up.items if i.domain == "math"]
    assert len(math_ids) == 40 and len(set(math_ids)) == 30  # every item once, 10 repeats
    assert any("repeated 10 items" in w for w in up.warnings)
    # a domain with a share but no candidates
    none = mx.resolve(store, _recipe(proportions={"math": 0.5, "law": 0.5}, budget=10))
    assert none.per_domain["law"].drawn == 0 and none.per_domain["math"].drawn == 5
    assert "law: 5 samples requested, none available; drew nothing (short policy take_all)" in none.warnings
    # tokens: short by tokens
    tok = mx.resolve(store, _recipe(unit="tokens", budget=10**6, short="take_all"))
    assert all(c.short and c.drawn == c.available for c in tok.per_domain.values())


def test_replacement_repeats_and_is_never_short(store):
    code = [Component("c", "domain", "code")]
    res = mx.resolve(store, _recipe(components=code, replacement=True, proportions={"code": 1.0}, budget=100))
    ids = [i.sample_id for i in res.items]
    assert len(ids) == 100 and len(set(ids)) <= 20 and not res.warnings and not res.per_domain["code"].short
    assert (
        mx.resolve(
            store, _recipe(components=code, replacement=True, proportions={"code": 1.0}, budget=100)
        ).content_hash
        == res.content_hash
    )


def test_budget_none_is_the_largest_without_a_short_domain(store):
    res = mx.resolve(store, _recipe(budget=None))
    # math 30 / 0.5 = 60, code 20 / 0.3 = 66, general 50 / 0.2 = 250: 60 -> 30 / 18 / 12
    assert res.budget == 60 and dict(_by_domain(res.items)) == {"math": 30, "code": 18, "general": 12}
    nat = mx.resolve(store, _recipe(budget=None, proportions={}))  # natural mix: everything
    assert nat.n_items == sum(DOMS.values())


def test_eval_pools_are_refused_and_skipped(store):
    with pytest.raises(MixtureError, match="'math_eval' is an eval pool"):
        mx.resolve(store, Recipe([Component("e", "pool", "math_eval")], {"math": 1}, budget=1))
    eval_ids = _ids(store, "SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.name = 'math_eval'")
    res = mx.resolve(store, Recipe([Component("m", "domain", "math")], {"math": 1}, budget=None))
    assert res.n_items == 30 and not ({i.sample_id for i in res.items} & eval_ids)


def test_excluded_samples_are_never_drawn(store):
    code = sorted(_ids(store, "SELECT id FROM samples WHERE domain = 'code'"))
    n = bulk_exclude(store, Filter(expression=f"domain = 'code' and id <= {code[9]}"))
    assert n == 10
    excluded = _ids(store, "SELECT id FROM samples WHERE excluded")
    for kw in (dict(short="upsample"), dict(replacement=True)):
        res = mx.resolve(store, _recipe(proportions={"code": 1}, budget=50, **kw))
        assert res.n_items == 50 and not ({i.sample_id for i in res.items} & excluded)
        assert res.per_domain["code"].available == 10


def test_component_filters_clusters_selections_and_domain_override(store):
    ids = sorted(_ids(store, "SELECT id FROM samples WHERE domain = 'general' AND NOT excluded"))
    write_scores(store, MetricDef("ifd", "m", definition="test"), [(sid, (sid % 10) / 10, None) for sid in ids])
    low = {sid for sid in ids if (sid % 10) / 10 < 0.3}
    res = mx.resolve(store, Recipe([Component("g", "domain", "general", filter="score.ifd < 0.3")], {}, budget=None))
    assert {i.sample_id for i in res.items} == low
    with pytest.raises(MixtureError, match="component 'g': filter"):
        mx.resolve(store, Recipe([Component("g", "domain", "general", filter="score.nope < 1")], {}, budget=1))
    # a cluster (rows written as engine.geometry.clusters would) and a saved selection
    with store.transaction() as c:
        c.execute("INSERT INTO clusterings (id, name) VALUES (1, 'topics')")
        for k, sid in enumerate(ids):
            c.execute(
                "INSERT INTO cluster_assignments (clustering_id, sample_id, cluster) VALUES (1, ?, ?)", [sid, k % 3]
            )
        c.execute("INSERT INTO selections (id, name, method, content_hash, n) VALUES (1, 'picked', 'hand', 'x', 3)")
        for r, sid in enumerate(ids[:3]):
            c.execute("INSERT INTO selection_items (selection_id, sample_id, rank) VALUES (1, ?, ?)", [sid, r])
    res = mx.resolve(store, Recipe([Component("c", "cluster", "topics:1", domain="topic1")], {}, budget=None))
    assert {i.sample_id for i in res.items} == {sid for k, sid in enumerate(ids) if k % 3 == 1}
    assert set(res.per_domain) == {"topic1"}
    res = mx.resolve(
        store, Recipe([Component("s", "selection", "picked"), Component("g", "domain", "general")], {}, budget=None)
    )
    assert Counter(i.component for i in res.items) == {"s": 3, "g": 47}  # first component wins, no duplicates
    with pytest.raises(MixtureError, match="no clustering 'nope'"):
        mx.resolve(store, Recipe([Component("c", "cluster", "nope:1")], {}, budget=1))
    with pytest.raises(MixtureError, match="CLUSTERING:k"):
        mx.resolve(store, Recipe([Component("c", "cluster", "topics")], {}, budget=1))


@pytest.mark.parametrize(
    "bad,msg",
    [
        ({"components": [{"kind": "bucket", "ref": "x"}]}, "unknown kind 'bucket'"),
        ({"components": [{"kind": "pool", "ref": "x"}], "budget": -3}, "budget must be a whole number"),
        ({"components": [{"kind": "pool", "ref": "x"}], "unit": "bytes"}, "unknown unit"),
        ({"components": [{"kind": "pool", "ref": "x"}], "colour": 1}, "unknown recipe field"),
        ({"components": []}, "at least one component"),
        (
            {
                "components": [{"kind": "pool", "ref": "x"}],
                "proportions": {"a": 1},
                "stages": [{"name": "s1", "domains": ["a"]}, {"name": "s2", "domains": ["a"]}],
            },
            "is in stage 's1' and stage 's2'",
        ),
        (
            {
                "components": [{"kind": "pool", "ref": "x"}],
                "proportions": {"a": 1, "b": 1},
                "stages": [{"name": "s1", "domains": ["a"]}],
            },
            "b have a share but are in no stage",
        ),
    ],
)
def test_recipe_validation_names_the_problem(bad, msg):
    with pytest.raises(MixtureError, match=msg):
        Recipe.from_dict(bad)


def test_recipe_round_trips_through_json():
    r = _recipe(stages=mx.dmt_stages(["math", "code"], ["general"]), short="upsample", seed=3)
    again = Recipe.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r and again.stages[1].replay == {"math": 1 / 256, "code": 1 / 256}


def test_stages_and_replay(store):
    stages = mx.dmt_stages(["math", "code"], ["general"], k=0.25)
    res = mx.resolve(store, _recipe(stages=stages, budget=40))  # math 20, code 12, general 8
    s0 = [i for i in res.items if i.stage == 0]
    s1 = [i for i in res.items if i.stage == 1]
    assert dict(_by_domain(s0)) == {"math": 20, "code": 12}
    assert dict(_by_domain(s1)) == {"general": 8, "math": 5, "code": 3}  # round(0.25 * 20), round(0.25 * 12)
    replays = [i for i in s1 if i.component.startswith("replay:")]
    assert {i.sample_id for i in replays} <= {i.sample_id for i in s0}
    assert res.per_domain["math"].replayed == 5 and res.per_domain["math"].stage == "specialised"
    assert [i.position for i in s1] == list(range(len(s1)))
    with pytest.raises(MixtureError, match="replay of 'law', which no earlier stage draws"):
        mx.resolve(store, _recipe(stages=[Stage("a", ["math", "code", "general"]), Stage("b", [], {"law": 0.5})]))


# -- versions ------------------------------------------------------------------------------------------


def test_versions_change_with_recipe_and_data_only(store):
    v1 = mx.save(store, "mix", _recipe(), note="first")
    assert (v1.version, v1.n_items, v1.note) == (1, 40, "first")
    assert {d: v["items"] for d, v in v1.per_domain.items()} == {"math": 20, "code": 12, "general": 8}
    assert mx.save(store, "mix", _recipe()).id == v1.id  # same recipe, same data: no new version
    v2 = mx.save(store, "mix", _recipe(budget=41))
    assert v2.version == 2 and v2.content_hash != v1.content_hash
    assert mx.save(store, "mix", _recipe(budget=41)).id == v2.id
    # data change: exclude one drawn sample -> same recipe, new version without it
    drawn = mx.items(store, "mix")[0].sample_id
    bulk_exclude(store, Filter(expression=f"id = {drawn}"))
    v3 = mx.save(store, "mix", _recipe(budget=41))
    assert v3.version == 3 and v3.recipe == v2.recipe and drawn not in {i.sample_id for i in mx.items(store, "mix")}
    assert [v.version for v in mx.versions(store, "mix")] == [1, 2, 3]
    assert mx.get_mixture(store, "mix@2").id == v2.id and mx.get_mixture(store, "mix", 1).id == v1.id
    assert mx.get_mixture(store, v2.id).label == "mix@2"
    assert [m.label for m in mx.list_mixtures(store)] == ["mix@3"]
    with pytest.raises(MixtureError, match="has no version 9; versions: 1, 2, 3"):
        mx.get_mixture(store, "mix@9")
    with pytest.raises(MixtureError, match="no mixture 'other'; mixtures: mix"):
        mx.get_mixture(store, "other")
    with pytest.raises(MixtureError, match="cannot contain '@'"):
        mx.save(store, "a@b", _recipe())


def test_diff_between_versions(store):
    mx.save(store, "mix", _recipe())
    mx.save(store, "mix", _recipe(seed=5, proportions={"math": 0.5, "code": 0.5}))
    d = mx.diff(store, "mix", 1, 2)
    assert d["recipe"]["seed"] == {"old": 0, "new": 5}
    assert d["recipe"]["proportions.general"] == {"old": 0.2, "new": None}
    assert d["domains"]["general"] == {"old": 8, "new": 0, "added": 0, "removed": 8, "kept": 0}
    m = d["domains"]["math"]
    assert m["old"] == m["new"] == 20 and m["added"] == m["removed"] and m["kept"] + m["added"] == 20
    same = mx.diff(store, "mix", 1, 1)
    assert same["same"] and not same["recipe"] and all(v["added"] == 0 for v in same["domains"].values())


# -- records, subsets, export --------------------------------------------------------------------------


def _interp_set(store, name="mixset") -> list[tuple[int, int]]:
    """An interpolation set written as engine.synthesis.interpolation would: pairs math x code, one not kept."""
    math_ids = sorted(_ids(store, "SELECT id FROM samples WHERE domain = 'math' AND pool_id = 1"))[:4]
    code_ids = sorted(_ids(store, "SELECT id FROM samples WHERE domain = 'code'"))[:4]
    with store.transaction() as c:
        c.execute(
            "INSERT INTO interpolation_sets (id, name, source_a, source_b, alpha, n_pairs, pairing, seed, "
            "content_hash) VALUES (1, ?, '{}', '{}', 0.2, 4, 'random', 0, 'h')",
            [name],
        )
        for k, (a, b) in enumerate(zip(math_ids, code_ids)):
            c.execute(
                "INSERT INTO interpolation_pairs (set_id, pair_index, sample_a, sample_b, lam, kept) "
                "VALUES (1, ?, ?, ?, ?, ?)",
                [k, a, b, 0.25 + k / 10, k != 3],
            )
    return list(zip(math_ids, code_ids))


def test_training_records_samples_and_mixup(store):
    pairs = _interp_set(store)
    recipe = Recipe(
        [Component("m", "domain", "math"), Component("x", "interpolation", "mixset")],
        {"math": 0.5, "mixup": 0.5},
        budget=6,
    )
    res = mx.resolve(store, recipe)
    assert res.per_domain["mixup"].available == 3  # the not-kept pair is left out
    assert res.per_domain["mixup"].drawn == 3 and res.per_domain["math"].drawn == 3
    mv = mx.save(store, "withmix", recipe)
    recs = list(mx.training_records(store, mv.id))
    assert len(recs) == mv.n_items == 6
    samples = [r for r in recs if r["kind"] == "sample"]
    mix = [r for r in recs if r["kind"] == "mixup"]
    assert len(samples) == 3 and len(mix) == 3
    assert set(samples[0]) == {"kind", "stage", "domain", "sample_id", "messages", "system", "tools", "input_split"}
    assert samples[0]["messages"][0]["role"] == "user" and samples[0]["domain"] == "math"
    m = mix[0]
    assert set(m) == {"kind", "stage", "domain", "set_id", "pair_index", "lam", "a", "b"} and m["domain"] == "mixup"
    assert (m["a"]["sample_id"], m["b"]["sample_id"]) == pairs[m["pair_index"]]
    assert m["lam"] == pytest.approx(0.25 + m["pair_index"] / 10)
    assert m["a"]["domain"] == "math" and m["b"]["domain"] == "code" and m["a"]["messages"]
    # n_tokens of a mixup item = the longer of its two samples
    toks = dict(store.cursor().execute("SELECT id, n_tokens FROM samples").fetchall())
    for it in mx.items(store, mv.id):
        if it.kind == "mixup":
            a, b = pairs[it.pair_index]
            assert it.n_tokens == max(toks[a], toks[b])
    # mixup items have no text form
    with pytest.raises(MixtureError, match="interpolate export-pairs"):
        mx.export_mixture(store, "withmix", store.path.parent / "x.jsonl")
    out = mx.export_mixture(store, "withmix", store.path.parent / "x.jsonl", skip_mixup=True)
    assert out.n == 3 and out.n_skipped_mixup == 3


@pytest.mark.parametrize("style,suffix", [("alpaca", "jsonl"), ("sharegpt", "jsonl"), ("messages", "parquet")])
def test_export_round_trip(store, tmp_path, style, suffix):
    mv = mx.save(store, "rt", _recipe(short="upsample", proportions={"math": 0.6, "code": 0.4}, budget=70))
    assert mv.per_domain["math"]["items"] == 42  # 30 available: 12 repeats, exported as repeats
    path = tmp_path / f"rt.{suffix}"
    r = mx.export_mixture(store, "rt", path, style=style, dataset_info=tmp_path)
    assert r.n == 70 and r.paths == [str(path)]
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["rt_v1"]["file_name"] == path.name
    back = import_file(store, path, pool="reimported", domain="general")
    assert back.n_records == 70
    want = Counter(json.dumps(x["messages"]) for x in mx.training_records(store, mv.id))
    c = store.cursor()
    got_rows = c.execute(
        "SELECT messages FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.name = 'reimported'"
    ).fetchall()
    c.close()
    got = {json.dumps(json.loads(m)) for (m,) in got_rows}
    assert got == set(want)  # duplicates are stored once on import; every distinct record came back
    assert back.n_duplicates == 70 - len(want)
    with pytest.raises(MixtureError, match="already has entry rt_v1"):
        mx.export_mixture(store, "rt", path, style=style, dataset_info=tmp_path)


def test_export_multi_stage_writes_one_file_per_stage(store, tmp_path):
    mx.save(store, "dmt", _recipe(stages=mx.dmt_stages(["math", "code"], ["general"], k=0.25)))
    r = mx.export_mixture(store, "dmt", tmp_path / "dmt.jsonl", style="alpaca", dataset_info=tmp_path / "di.json")
    assert [Path(p).name for p in r.paths] == ["dmt.stage1-specialised.jsonl", "dmt.stage2-general.jsonl"]
    assert r.n_per_file == [32, 16]
    info = json.loads((tmp_path / "di.json").read_text())
    assert set(info) == {"dmt_v1_stage1", "dmt_v1_stage2"}
    first = json.loads(Path(r.paths[0]).read_text().splitlines()[0])
    assert set(first) >= {"instruction", "input", "output"}


def test_domain_subset_is_reused(store):
    parent = mx.save(store, "mix", _recipe(stages=mx.dmt_stages(["math", "code"], ["general"], k=0.25)))
    sub = mx.domain_subset(store, parent.id, "math")
    assert sub.name == "mix/only:math" and sub.version == 1
    its = mx.items(store, sub.id)
    parent_math = [i for i in mx.items(store, parent.id) if i.domain == "math"]
    assert Counter(i.sample_id for i in its) == Counter(i.sample_id for i in parent_math)  # replays included
    assert len(its) == 25 and {i.stage for i in its} == {0} and [i.position for i in its] == list(range(25))
    assert sub.recipe.derived["mixture_id"] == parent.id and sub.recipe.stages is None
    assert mx.domain_subset(store, parent.id, "math").id == sub.id  # identical: reused
    assert [r["domain"] for r in mx.training_records(store, sub.id)] == ["math"] * 25
    # a parent version that differs only in another domain gives the same math items: reused
    other = mx.save(
        store,
        "mix",
        _recipe(
            proportions={"math": 0.5, "code": 0.2, "general": 0.3},
            stages=mx.dmt_stages(["math", "code"], ["general"], k=0.25),
        ),
    )
    assert other.version == 2 and mx.domain_subset(store, other.id, "math").id == sub.id
    assert mx.domain_subset(store, other.id, "general").id != sub.id
    # a new parent version with other math items makes a new subset version
    parent2 = mx.save(store, "mix", _recipe(seed=9, stages=mx.dmt_stages(["math", "code"], ["general"], k=0.25)))
    sub2 = mx.domain_subset(store, parent2.id, "math")
    assert sub2.version == 2 and sub2.id != sub.id and sub2.recipe.derived["mixture_id"] == parent2.id
    assert mx.domain_subset(store, parent.id, "math").id == sub.id  # the first parent's subset still reused
    with pytest.raises(MixtureError, match="no sample items of domain 'law'"):
        mx.domain_subset(store, parent.id, "law")


def test_summaries_for_the_screen(store):
    res = mx.resolve(store, _recipe())
    ids = mx.sample_ids_of(res.items)
    write_scores(store, MetricDef("ifd", "m", definition="t"), [(sid, 0.5, None) for sid in ids[:10]])
    q = mx.quality_summary(store, ids)
    assert q == {"ifd": {"mean": 0.5, "n": 10}}
    assert mx.diversity_summary(store, ids) is None  # no clustering
    head = mx.preview(store, res.items, 5)
    assert [h["position"] for h in head] == [0, 1, 2, 3, 4] and all(h["text"] for h in head)
    assert mx.store_domains(store)["math"]["samples"] == 30  # the eval pool is not drawable


def test_sample_data_mixture_is_exact(tmp_path):
    with Store(tmp_path / "s.duckdb") as st:
        load_sample(st)
        comps = [Component(d, "domain", d) for d in ("math", "code", "general", "tool_use")]
        res = mx.resolve(st, Recipe(comps, {"math": 0.4, "code": 0.3, "general": 0.2, "tool_use": 0.1}, budget=150))
        assert dict(_by_domain(res.items)) == {"math": 60, "code": 45, "general": 30, "tool_use": 15}
        tools = [r for r in mx.training_records(st, mx.save(st, "s", res.recipe).id) if r["domain"] == "tool_use"]
        assert len(tools) == 15 and all(r["tools"] or any(m.get("tool_calls") for m in r["messages"]) for r in tools)


# -- CLI -----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_mix_commands(store, tmp_path, capsys):
    db = str(store.path)
    store.close()
    args = ["--db", db, "mix"]

    def mix(command: str) -> int:
        return main(args + shlex.split(command))

    assert (
        mix(
            "resolve -c domain:math -c 'domain:code | where n_tokens > 0 | name cc' --prop math=50% "
            "--prop code=1/2 --budget 20 --format json"
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (
        out["n_items"] == 20 and out["per_domain"]["math"]["drawn"] == 10 and out["per_domain"]["code"]["drawn"] == 10
    )
    assert (
        mix("save m -c domain:math -c domain:general --prop math=3 --prop general=1 --budget 40 --short take_all") == 0
    )
    text = capsys.readouterr().out
    assert "m@1 (id 1) saved" in text and "math: 30 samples requested, 30 available" not in text
    assert main(args + ["save", "m", "--from", "m", "--seed", "4"]) == 0
    assert "m@2" in capsys.readouterr().out
    assert main(args + ["new", "m", "--from", "m@2"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert main(args + ["list", "--format", "json"]) == 0
    assert [(r["name"], r["version"]) for r in json.loads(capsys.readouterr().out)] == [("m", 2)]
    assert main(args + ["diff", "m", "1", "2", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["recipe"] == {"seed": {"old": 0, "new": 4}}
    assert main(args + ["show", "m@1", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 1 and shown["now"]["stale"] is False and len(shown["preview"]) == 10
    assert main(args + ["recipe", "m"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 4
    assert main(args + ["subset", "m", "math"]) == 0
    assert "m/only:math@1" in capsys.readouterr().out
    e = tmp_path / "e"
    assert mix(f"export m {shlex.quote(str(e / 'm.jsonl'))} --style sharegpt --dataset-info {shlex.quote(str(e))}") == 0
    assert "wrote 40 records" in capsys.readouterr().out
    assert (tmp_path / "e" / "dataset_info.json").exists()
    # DMT stages from the command line
    assert (
        mix(
            "resolve -c domain:math -c domain:general --prop math=1 --prop general=1 --budget 40 "
            "--dmt math/general@1/4 --format json"
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["per_domain"]["math"]["replayed"] == 5 and out["per_domain"]["math"]["stage"] == "specialised"
    # bad input: exit 1 with a message naming the problem
    assert main(args + ["resolve", "-c", "pool:math_eval"]) == 1
    assert "eval pool" in capsys.readouterr().err
    assert main(args + ["resolve", "-c", "pond:x"]) == 1
    assert "KIND one of pool, domain" in capsys.readouterr().err
    assert main(args + ["resolve", "-c", "domain:math", "--prop", "math=lots"]) == 1
    assert "--prop 'math=lots': bad value 'lots'" in capsys.readouterr().err
    assert main(args + ["show", "zzz"]) == 1
    assert "no mixture 'zzz'" in capsys.readouterr().err
    # data change makes `show` report the version as stale
    with Store(db) as st:
        bulk_exclude(st, Filter(expression="domain = 'math'"))
    assert main(args + ["show", "m", "--items", "0"]) == 0
    assert "stale: the store's data changed" in capsys.readouterr().out


def test_replay_of_every_earlier_domain_and_an_empty_budget(store):
    stages = [Stage("a", ["math"]), Stage("b", ["code"], {"*": 0.5}), Stage("c", ["general"], {"*": 0.1})]
    res = mx.resolve(store, _recipe(stages=stages, budget=40))  # math 20, code 12, general 8
    per_stage = [dict(_by_domain(i for i in res.items if i.stage == s)) for s in range(3)]
    assert per_stage == [{"math": 20}, {"code": 12, "math": 10}, {"general": 8, "math": 2, "code": 1}]
    assert res.per_domain["math"].replayed == 12 and res.per_domain["code"].replayed == 1
    with pytest.raises(MixtureError, match="general have a share but are in no stage"):
        mx.resolve(store, _recipe(proportions={}, stages=stages[:2]))  # natural mix: every domain has a share
    empty = mx.resolve(store, _recipe(budget=0))
    assert empty.n_items == 0 and all(c.requested == 0 for c in empty.per_domain.values())


def test_interpolation_pairs_skip_excluded_samples_and_follow_filters(store):
    pairs = _interp_set(store)
    rec = Recipe([Component("x", "interpolation", "mixset", domain="mix")], {}, budget=None)
    assert [i.pair_index for i in sorted(mx.resolve(store, rec).items, key=lambda i: i.pair_index)] == [0, 1, 2]
    bulk_exclude(store, Filter(expression=f"id = {pairs[1][1]}"))  # the code side of pair 1
    res = mx.resolve(store, rec)
    assert sorted(i.pair_index for i in res.items) == [0, 2] and set(res.per_domain) == {"mix"}
    # the filter must hold for both samples of a pair
    filt = Recipe([Component("x", "interpolation", "mixset", filter=f"id != {pairs[2][0]}")], {}, budget=None)
    assert sorted(i.pair_index for i in mx.resolve(store, filt).items) == [0]
    with pytest.raises(MixtureError, match="no interpolation set 'other'; sets: mixset"):
        mx.resolve(store, Recipe([Component("x", "interpolation", "other")], {}, budget=None))
