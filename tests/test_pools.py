"""Pools (list, get, rename, delete, set domain, create) and domain/tag rules on real DuckDB stores."""

from __future__ import annotations

import json

import pytest

from engine.core.store import Store
from engine.data.filters import FilterError
from engine.data.pools import (
    REVERTED,
    PoolNotFound,
    add_rule,
    apply_rules,
    create_pool,
    delete_pool,
    delete_rule,
    get_pool,
    list_pools,
    list_rules,
    rename_pool,
    set_pool_domain,
)


def _sample(con, sid, pool_id, instruction, *, domain="general", domain_source="pool", excluded=False, n_tokens=10):
    msgs = [{"role": "user", "content": instruction}, {"role": "assistant", "content": "ok"}]
    con.execute(
        "INSERT INTO samples (id, pool_id, messages, instruction, response, n_turns, domain, domain_source,"
        " content_hash, n_chars, n_tokens, excluded) VALUES (?, ?, ?, ?, 'ok', 2, ?, ?, ?, ?, ?, ?)",
        [
            sid,
            pool_id,
            json.dumps(msgs),
            instruction,
            domain,
            domain_source,
            f"h{sid}",
            len(instruction) + 2,
            n_tokens,
            excluded,
        ],
    )


@pytest.fixture
def pstore(tmp_path):
    """Pools alpaca (1: samples 1-4) and gsm8k (2: samples 5-7) plus an empty pool; tags, scores, etc."""
    st = Store(tmp_path / "pools.duckdb")
    assert create_pool(st, "alpaca") == 1
    assert create_pool(st, "gsm8k", "math", format="qa", source="gsm8k.jsonl", description="grade school") == 2
    assert create_pool(st, "empty", "code") == 3
    con = st.cursor()
    _sample(con, 1, 1, "write a python function", n_tokens=50)
    _sample(con, 2, 1, "tell a joke", excluded=True)
    _sample(con, 3, 1, "python one-liner please", domain="code", domain_source="manual")
    _sample(con, 4, 1, "sum 2 and 2", domain="math", domain_source="rule")
    _sample(con, 5, 2, "what is 3*3?", domain="math")
    _sample(con, 6, 2, "solve for x", domain="math", excluded=True)
    _sample(con, 7, 2, "a python question", domain="math", n_tokens=99)
    for sid, tag in [(1, "good"), (5, "good"), (6, "hard")]:
        con.execute("INSERT INTO sample_tags (sample_id, tag) VALUES (?, ?)", [sid, tag])
    for sid in (1, 5, 6):
        con.execute("INSERT INTO scores (sample_id, metric, model, value) VALUES (?, 'ifd', 'm', 0.5)", [sid])
        con.execute("INSERT INTO embeddings (sample_id, model, text_kind, text_hash) VALUES (?, 'e', 'i', 'x')", [sid])
        con.execute("INSERT INTO cluster_assignments (clustering_id, sample_id, cluster) VALUES (1, ?, 0)", [sid])
    con.execute(
        "INSERT INTO imports (id, pool_id, path, format) VALUES (1, 1, 'a.json', 'alpaca'), (2, 2, 'g.jsonl', 'qa')"
    )
    con.close()
    yield st
    st.close()


def rows(st, sql, params=()):
    con = st.cursor()
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def domains(st):
    return {sid: (d, src) for sid, d, src in rows(st, "SELECT id, domain, domain_source FROM samples ORDER BY id")}


# -- pools -------------------------------------------------------------------------------------------


def test_list_pools_counts(pstore):
    pools = list_pools(pstore)
    assert [p.name for p in pools] == ["alpaca", "gsm8k", "empty"]
    a, g, e = pools
    assert (a.id, a.domain, a.n_samples, a.n_excluded) == (1, "general", 4, 1)
    assert a.domains == {"general": 2, "code": 1, "math": 1}
    assert list(a.domains) == ["general", "code", "math"]  # largest first, then by name
    assert (g.n_samples, g.n_excluded, g.domains) == (3, 1, {"math": 3})
    assert (g.format, g.source, g.description) == ("qa", "gsm8k.jsonl", "grade school")
    assert g.created_at is not None
    assert (e.n_samples, e.n_excluded, e.domains) == (0, 0, {})


def test_get_pool_by_name_or_id(pstore):
    assert get_pool(pstore, "gsm8k").id == 2
    assert get_pool(pstore, 2).name == "gsm8k"
    assert get_pool(pstore, "2").name == "gsm8k"  # a digit string that is no pool name is an id
    assert get_pool(pstore, "alpaca").n_samples == 4
    with pytest.raises(KeyError) as ei:
        get_pool(pstore, "alpacca")
    assert str(ei.value) == "no pool named 'alpacca'; pools are: alpaca, gsm8k, empty"
    with pytest.raises(PoolNotFound, match="no pool with id 42"):
        get_pool(pstore, 42)


def test_get_pool_on_empty_store(tmp_path):
    st = Store(tmp_path / "empty.duckdb")
    try:
        with pytest.raises(KeyError, match="no pools yet"):
            get_pool(st, "x")
        assert list_pools(st) == []
    finally:
        st.close()


def test_create_pool_refuses_duplicates(pstore):
    with pytest.raises(ValueError, match="already exists"):
        create_pool(pstore, "gsm8k")
    with pytest.raises(ValueError):
        create_pool(pstore, "  ")
    assert create_pool(pstore, "new one", meta={"a": 1}) == 4
    assert json.loads(rows(pstore, "SELECT meta FROM pools WHERE id = 4")[0][0]) == {"a": 1}


def test_rename_pool(pstore):
    rename_pool(pstore, "gsm8k", "gsm8k-train")
    assert get_pool(pstore, 2).name == "gsm8k-train"
    rename_pool(pstore, 2, "gsm8k-train")  # same name: fine
    with pytest.raises(ValueError, match="already exists"):
        rename_pool(pstore, "alpaca", "gsm8k-train")
    with pytest.raises(KeyError):
        rename_pool(pstore, "gsm8k", "x")
    assert [p.name for p in list_pools(pstore)] == ["alpaca", "gsm8k-train", "empty"]


def test_delete_pool_removes_everything_of_its_samples(pstore):
    assert delete_pool(pstore, "gsm8k") == 3
    assert [p.name for p in list_pools(pstore)] == ["alpaca", "empty"]
    assert rows(pstore, "SELECT id FROM samples ORDER BY id") == [(1,), (2,), (3,), (4,)]
    assert rows(pstore, "SELECT sample_id, tag FROM sample_tags") == [(1, "good")]
    for table in ("scores", "embeddings", "cluster_assignments"):
        assert rows(pstore, f"SELECT sample_id FROM {table}") == [(1,)], table
    assert rows(pstore, "SELECT pool_id FROM imports") == [(1,)]
    assert delete_pool(pstore, 3) == 0
    with pytest.raises(KeyError):
        delete_pool(pstore, "gsm8k")


def test_set_pool_domain_only_touches_pool_sourced_samples(pstore):
    assert set_pool_domain(pstore, "alpaca", "chat") == 2
    d = domains(pstore)
    assert d[1] == ("chat", "pool") and d[2] == ("chat", "pool")
    assert d[3] == ("code", "manual") and d[4] == ("math", "rule")
    assert d[5] == ("math", "pool")  # other pool untouched
    assert get_pool(pstore, "alpaca").domain == "chat"
    assert set_pool_domain(pstore, "alpaca", "chat") == 0


# -- rules -------------------------------------------------------------------------------------------


def test_add_rule_validates(pstore):
    with pytest.raises(FilterError, match="did you mean 'instruction'"):
        add_rule(pstore, "bad", "instrucion ~ 'x'", domain="code")
    with pytest.raises(ValueError, match="domain, a tag or both"):
        add_rule(pstore, "nothing", "instruction ~ 'x'")
    assert add_rule(pstore, "py", "instruction ~ 'python'", domain="code") == 1
    with pytest.raises(ValueError, match="already exists"):
        add_rule(pstore, "py", "instruction ~ 'x'", tag="x")
    assert add_rule(pstore, "hi-ifd", "score.ifd > 0.4", tag="hi") == 2
    assert [(r.id, r.name, r.domain, r.tag) for r in list_rules(pstore)] == [
        (1, "py", "code", None),
        (2, "hi-ifd", None, "hi"),
    ]


def test_apply_rules(pstore):
    add_rule(pstore, "py", "instruction ~ 'python'", domain="code", tag="py")
    add_rule(pstore, "long", "n_tokens > 40", domain="long")  # after "py": loses where both match
    add_rule(pstore, "hi-ifd", "score.ifd >= 0.5", tag="hi")
    before = domains(pstore)
    res = apply_rules(pstore)
    d = domains(pstore)
    assert d[1] == ("code", "rule")  # python and long: the first rule wins
    assert d[3] == before[3] == ("code", "manual")  # manual never overridden ...
    assert "py" in {t for s, t in rows(pstore, "SELECT sample_id, tag FROM sample_tags WHERE sample_id = 3")}
    assert d[7] == ("code", "rule")
    assert d[2] == ("general", "pool") and d[5] == ("math", "pool")
    assert d[4] == ("general", "pool")  # rule-set earlier, no rule matches now: back to its pool's domain
    tags = set(rows(pstore, "SELECT sample_id, tag FROM sample_tags"))
    assert {(1, "py"), (3, "py"), (7, "py"), (1, "hi"), (5, "hi"), (6, "hi")} <= tags
    assert res == {"py": 3, "long": 0, "hi-ifd": 3, REVERTED: 1}
    # idempotent
    assert apply_rules(pstore) == {"py": 0, "long": 0, "hi-ifd": 0}
    assert len(rows(pstore, "SELECT * FROM sample_tags")) == len(tags)
    # deleting the first rule lets the second one decide samples 1 and 7
    delete_rule(pstore, "py")
    res = apply_rules(pstore)
    d = domains(pstore)
    assert d[1] == ("long", "rule") and d[7] == ("long", "rule")  # 7 has 99 tokens
    assert res == {"long": 2, "hi-ifd": 0}
    with pytest.raises(KeyError, match="no rule 'py'"):
        delete_rule(pstore, "py")


def test_apply_rules_pool_scope(pstore):
    add_rule(pstore, "py", "instruction ~ 'python'", domain="code", tag="py")
    assert apply_rules(pstore, pool="gsm8k") == {"py": 1}
    d = domains(pstore)
    assert d[7] == ("code", "rule") and d[1] == ("general", "pool") and d[4] == ("math", "rule")
    assert rows(pstore, "SELECT sample_id FROM sample_tags WHERE tag = 'py'") == [(7,)]
    with pytest.raises(KeyError):
        apply_rules(pstore, pool="nope")


def test_apply_rules_names_a_rule_that_no_longer_compiles(pstore):
    add_rule(pstore, "ok", "instruction ~ 'python'", domain="code")
    add_rule(pstore, "uses-score", "score.ifd > 0.1", tag="x")
    rows(pstore, "DELETE FROM scores")  # the metric disappears: the stored rule no longer compiles
    before = domains(pstore)
    with pytest.raises(FilterError, match="rule 'uses-score'"):
        apply_rules(pstore)
    assert domains(pstore) == before
