"""Browse queries, sample detail and bulk actions on real DuckDB stores."""

from __future__ import annotations

import random
import threading

import pytest

from engine.core.store import Store
from engine.data.filters import FilterError
from engine.data.query import (
    COLUMNS,
    TEXT_WIDTH,
    Browser,
    Filter,
    _write,
    bulk_exclude,
    bulk_set_domain,
    bulk_tag,
    columns,
    domain_counts,
    get_sample,
    score_metrics,
    where_sql,
)
from tests.helpers import insert_pool, insert_sample

_pool = insert_pool


def _sample(con, sid, *args, source_file="/data/in/train.jsonl", **kw):
    """A sample row from /data/in/train.jsonl unless told."""
    insert_sample(con, sid, *args, source_file=source_file, **kw)


def _score(con, sid, metric, value, model="m", when="2024-01-01"):
    con.execute(
        "INSERT INTO scores (sample_id, metric, model, value, created_at) VALUES (?, ?, ?, ?, ?)",
        [sid, metric, model, value, when],
    )


@pytest.fixture
def qstore(tmp_path):
    """Six hand-made samples in two pools."""
    st = Store(tmp_path / "query.duckdb")
    con = st.cursor()
    _pool(con, 1, "alpaca")
    _pool(con, 2, "gsm8k", "math")
    _sample(
        con,
        1,
        1,
        "Write a poem\nabout the sea",
        "Waves...",
        tags=["poetry", "good"],
        source_line=1,
        meta={"k": 1},
        tools=[{"name": "t"}],
    )
    _sample(con, 2, 1, "Translate 'hello'", "bonjour", system="You are a TRANSLATOR", tags=["good"], source_line=2)
    _sample(con, 3, 2, "What is 2+2?", "4", domain="math", tags=["checked"])
    _sample(con, 4, 2, "Solve x+1=3", "x=2", domain="math", excluded=True)
    _sample(con, 5, 1, "L" * 500, "R\n" * 300, domain="code")
    _sample(con, 6, 1, "Another poem please", "Roses", source_file=None)
    _score(con, 1, "ifd", 0.2)
    _score(con, 2, "ifd", 0.9, model="old", when="2024-01-01")
    _score(con, 2, "ifd", 0.4, model="new", when="2024-06-01")
    _score(con, 3, "ifd", 0.7)
    _score(con, 1, "ppl", 5.0)
    con.close()
    yield st
    st.close()


def matching(st, f):
    where, params = where_sql(st, f)
    con = st.cursor()
    try:
        return [r[0] for r in con.execute(f"SELECT s.id FROM samples s WHERE {where} ORDER BY s.id", params).fetchall()]
    finally:
        con.close()


# -- filters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f,expected",
    [
        (Filter(), [1, 2, 3, 4, 5, 6]),
        (Filter(pool_ids=[2]), [3, 4]),
        (Filter(pool_ids=[]), []),
        (Filter(domains=["math", "code"]), [3, 4, 5]),
        (Filter(tags=["poetry", "checked"]), [1, 3]),  # any of the tags
        (Filter(text="translator"), [2]),  # system prompt counts, case-insensitive
        (Filter(text="POEM"), [1, 6]),
        (Filter(text="bonjour"), [2]),  # response
        (Filter(text="%"), []),  # a plain substring, not a LIKE pattern
        (Filter(score_ranges={"ifd": (0.3, None)}), [2, 3]),  # sample 2's latest (new model) is 0.4
        (Filter(score_ranges={"ifd": (None, 0.5)}), [1, 2]),
        (Filter(score_ranges={"ifd": (0.2, 0.4)}), [1, 2]),  # inclusive
        (Filter(score_ranges={"ifd": (None, None)}), [1, 2, 3, 4, 5, 6]),
        (Filter(expression="tag = 'good' AND instruction ~ 'poem'"), [1]),
        (Filter(include_excluded=False), [1, 2, 3, 5, 6]),
        (Filter(pool_ids=[1, 2], domains=["math"], include_excluded=False), [3]),
    ],
)
def test_filter_parts(qstore, f, expected):
    assert matching(qstore, f) == expected


def test_bad_expression_raises_filter_error(qstore):
    with pytest.raises(FilterError, match="did you mean 'domain'"):
        Browser(qstore, Filter(expression="domian = 'math'"))


def test_score_metrics_and_columns(qstore):
    assert score_metrics(qstore) == ["ifd", "ppl"]
    keys = [c.key for c in columns(qstore)]
    assert keys[: len(COLUMNS)] == [c.key for c in COLUMNS]
    assert keys[len(COLUMNS) :] == ["score.ifd", "score.ppl"]


# -- browser -----------------------------------------------------------------------------------------


def test_page_rows(qstore):
    b = Browser(qstore)
    assert b.count() == 6
    rows = b.page(0, 100)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5, 6]
    r1 = rows[0]
    assert list(r1) == [c.key for c in b.columns]
    assert r1["pool"] == "alpaca" and r1["domain"] == "general"
    assert r1["instruction"] == "Write a poem about the sea"  # newline replaced in SQL
    assert r1["tags"] == ["good", "poetry"]
    assert r1["source"] == "train.jsonl:1"
    assert r1["score.ifd"] == 0.2 and r1["score.ppl"] == 5.0
    assert rows[1]["score.ifd"] == 0.4  # latest model wins
    assert rows[1]["score.ppl"] is None
    assert rows[2]["source"] == "train.jsonl#2"  # no line: record index
    assert rows[3]["excluded"] is True
    assert len(rows[4]["instruction"]) == TEXT_WIDTH and "\n" not in rows[4]["response"]
    assert len(rows[4]["response"]) == TEXT_WIDTH
    assert rows[5]["source"] is None and rows[5]["tags"] == []


def test_pages_slice_the_view(qstore):
    b = Browser(qstore, Filter(include_excluded=False))
    assert [r["id"] for r in b.page(0, 2)] == [1, 2]
    assert [r["id"] for r in b.page(2, 2)] == [3, 5]
    assert [r["id"] for r in b.page(4, 2)] == [6]
    assert b.page(10, 2) == []
    assert b.ids() == [1, 2, 3, 5, 6]
    assert b.ids(1, 2) == [2, 3]
    assert b.count() == 5


@pytest.mark.parametrize(
    "sort,expected",
    [
        ([("id", True)], [6, 5, 4, 3, 2, 1]),
        ([("score.ifd", False)], [1, 2, 3, 4, 5, 6]),  # 0.2, 0.4, 0.7, then NULLs by id
        ([("score.ifd", True)], [3, 2, 1, 4, 5, 6]),  # NULLs last when descending too
        ([("ifd", True)], [3, 2, 1, 4, 5, 6]),
        ([("score.ppl", True), ("score.ifd", True)], [1, 3, 2, 4, 5, 6]),
        ([("pool", True), ("id", True)], [4, 3, 6, 5, 2, 1]),
        ([("domain", False)], [5, 1, 2, 6, 3, 4]),
        ([("instruction", False)], [6, 5, 4, 2, 3, 1]),
        ([("excluded", True)], [4, 1, 2, 3, 5, 6]),
    ],
)
def test_sorting(qstore, sort, expected):
    assert Browser(qstore, sort=sort).ids() == expected
    assert [r["id"] for r in Browser(qstore, sort=sort).page(0, 10)] == expected


def test_score_sort_with_filter_params(qstore):
    b = Browser(
        qstore,
        Filter(expression="n_tokens > 1 AND tag != 'zz'", domains=["general", "math"]),
        sort=[("score.ifd", True)],
    )
    assert b.ids() == [3, 2, 4, 6]


def test_unknown_sort_key(qstore):
    with pytest.raises(ValueError, match="cannot sort by 'tags'"):
        Browser(qstore, sort=[("tags", False)])
    with pytest.raises(ValueError, match="sortable columns"):
        Browser(qstore, sort=[("score.nope", False)])


def test_view_is_a_snapshot_until_refresh(qstore):
    b = Browser(qstore, Filter(domains=["math"]))
    assert b.count() == 2
    con = qstore.cursor()
    _sample(con, 7, 2, "new", domain="math")
    con.close()
    assert b.count() == 2  # cached
    b.refresh()
    assert b.count() == 3 and b.ids() == [3, 4, 7]
    con = qstore.cursor()
    con.execute("DELETE FROM samples WHERE id = 4")
    con.close()
    assert [r["id"] for r in b.page(0, 10)] == [3, 7]  # a vanished sample is skipped, not an error


@pytest.fixture(scope="module")
def rstore(tmp_path_factory):
    """400 random samples with ties in n_tokens, missing and multi-model scores and random tags (read-only)."""
    rng = random.Random(7)
    st = Store(tmp_path_factory.mktemp("random") / "random.duckdb")
    con = st.cursor()
    con.execute("BEGIN TRANSACTION")
    _pool(con, 1, "a")
    _pool(con, 2, "b")
    truth = {}
    for sid in rng.sample(range(1, 2000), 400):
        nt = rng.randint(0, 20)
        dom = rng.choice(["general", "math", "code"])
        tags = rng.sample(["x", "y", "z"], rng.randint(0, 2))
        _sample(con, sid, rng.choice([1, 2]), f"q {rng.random()}", domain=dom, n_tokens=nt, tags=tags)
        score = None
        if rng.random() < 0.7:
            _score(con, sid, "ifd", rng.random(), model="old", when="2024-01-01")
            score = round(rng.random(), 6)
            _score(con, sid, "ifd", score, model="new", when="2024-02-01")
        truth[sid] = dict(nt=nt, dom=dom, tags=set(tags), score=score)
    con.execute("COMMIT")
    con.close()
    yield st, truth
    st.close()


def test_sorted_paging_matches_python(rstore):
    st, truth = rstore
    f = Filter(domains=["general", "math"], expression="tag != 'z'")
    keep = [s for s, t in truth.items() if t["dom"] in ("general", "math") and "z" not in t["tags"]]
    b = Browser(st, f, sort=[("n_tokens", True)])
    expected = sorted(keep, key=lambda s: (-truth[s]["nt"], s))
    assert b.count() == len(keep)
    got = []
    for off in range(0, len(keep) + 10, 37):
        got += [r["id"] for r in b.page(off, 37)]
    assert got == expected

    b = Browser(st, f, sort=[("score.ifd", True)])
    scored = sorted((s for s in keep if truth[s]["score"] is not None), key=lambda s: (-truth[s]["score"], s))
    unscored = sorted(s for s in keep if truth[s]["score"] is None)
    assert b.ids() == scored + unscored
    rows = b.page(0, 5)
    assert [r["score.ifd"] for r in rows] == pytest.approx([truth[s]["score"] for s in scored[:5]])


@pytest.mark.parametrize(
    "sort", [[("n_tokens", True)], [("score.ifd", False)], [("pool", False), ("n_tokens", False)], [("id", True)]]
)
def test_first_pages_of_a_sort_come_from_a_top_n_query_and_match_the_full_order(rstore, monkeypatch, sort):
    """Pages within the first TOP_ROWS rows are read from a top-N query (a new sort's first page does not order
    every match); they, the page across the boundary and every later page equal the fully ordered view (ties by
    id, missing scores last)."""
    from engine.data import query

    st, truth = rstore
    monkeypatch.setattr(query, "TOP_ROWS", 50)
    f = Filter(domains=["general", "code"])
    full = Browser(st, f, sort=sort).ids()
    assert len(full) == sum(t["dom"] in ("general", "code") for t in truth.values()) > 100
    b = Browser(st, f, sort=sort)
    assert b.count() == len(full)
    assert [r["id"] for r in b.page(0, 25)] + [r["id"] for r in b.page(25, 25)] == full[:50]
    assert b._ids is None  # no full ordering yet
    got = [r["id"] for r in b.page(50, 37)] + [r["id"] for r in b.page(87, len(full))]
    assert got == full[50:] and b._ids is not None
    assert Browser(st, Filter(domains=["none"]), sort=sort).page(0, 10) == []


def test_pages_from_many_threads(rstore):
    st, truth = rstore
    b = Browser(st, sort=[("score.ifd", False)])
    expected = b.ids()
    results, errors = {}, []

    def work(k):
        try:
            results[k] = [r["id"] for r in b.page(k * 50, 50)]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum((results[k] for k in range(8)), []) == expected


# -- detail ------------------------------------------------------------------------------------------


def test_get_sample(qstore):
    d = get_sample(qstore, 1)
    assert d.id == 1 and d.pool == "alpaca" and d.domain == "general"
    assert d.messages[0] == {"role": "user", "content": "Write a poem\nabout the sea"}
    assert d.tags == ["good", "poetry"] and d.scores == {"ifd": 0.2, "ppl": 5.0}
    assert d.meta == {"k": 1} and d.tools == [{"name": "t"}]
    assert d.source_file == "/data/in/train.jsonl" and d.source_line == 1 and d.excluded is False
    d2 = get_sample(qstore, 2)
    assert d2.system == "You are a TRANSLATOR" and d2.scores == {"ifd": 0.4}
    with pytest.raises(KeyError, match="no sample with id 99"):
        get_sample(qstore, 99)


# -- bulk actions ------------------------------------------------------------------------------------


def tags_of(st):
    con = st.cursor()
    try:
        return con.execute("SELECT sample_id, tag FROM sample_tags ORDER BY sample_id, tag").fetchall()
    finally:
        con.close()


def test_bulk_tag_adds_once_and_removes(qstore):
    before = tags_of(qstore)
    assert bulk_tag(qstore, Filter(expression="instruction ~ 'poem'"), "good") == 1  # 1 already has it
    assert bulk_tag(qstore, Filter(expression="instruction ~ 'poem'"), "good") == 0
    after = tags_of(qstore)
    assert set(after) - set(before) == {(6, "good")}
    assert len(after) == len(set(after))  # no duplicate rows
    assert bulk_tag(qstore, Filter(domains=["general"]), "good", remove=True) == 3
    assert [t for t in tags_of(qstore) if t[1] == "good"] == []
    assert (1, "poetry") in tags_of(qstore)
    with pytest.raises(ValueError):
        bulk_tag(qstore, Filter(), "  ")


def test_bulk_set_domain_is_manual_and_exact(qstore):
    n = bulk_set_domain(qstore, Filter(tags=["good"]), "creative")
    assert n == 2
    con = qstore.cursor()
    rows = con.execute("SELECT id, domain, domain_source FROM samples ORDER BY id").fetchall()
    con.close()
    assert rows[0] == (1, "creative", "manual") and rows[1] == (2, "creative", "manual")
    assert [r[1:] for r in rows[2:]] == [("math", "pool"), ("math", "pool"), ("code", "pool"), ("general", "pool")]
    assert bulk_set_domain(qstore, Filter(tags=["good"]), "creative") == 0
    assert domain_counts(qstore, Filter()) == {"creative": 2, "math": 2, "code": 1, "general": 1}
    assert domain_counts(qstore, Filter(include_excluded=False)) == {"creative": 2, "code": 1, "general": 1, "math": 1}


def test_bulk_exclude(qstore):
    assert bulk_exclude(qstore, Filter(pool_ids=[2])) == 1  # 4 was already excluded
    assert matching(qstore, Filter(expression="excluded")) == [3, 4]
    assert bulk_exclude(qstore, Filter(expression="excluded"), False) == 2
    assert matching(qstore, Filter(expression="excluded")) == []


def test_bulk_action_with_score_and_text_filter(qstore):
    f = Filter(text="poem", score_ranges={"ifd": (0.1, 0.3)})
    assert bulk_tag(qstore, f, "low-ifd-poem") == 1
    assert [s for s, t in tags_of(qstore) if t == "low-ifd-poem"] == [1]


def test_write_rolls_back_on_error(qstore):
    before = tags_of(qstore)
    with pytest.raises(Exception, match="no_such_table"):
        _write(
            qstore,
            ("SELECT 3 AS id", []),
            [
                ("INSERT INTO sample_tags (sample_id, tag) SELECT id, 'zzz' FROM _bulk_ids", []),
                ("INSERT INTO no_such_table VALUES (1)", []),
            ],
        )
    assert tags_of(qstore) == before
    # the store is usable afterwards, and a good write goes through
    assert (
        _write(
            qstore,
            ("SELECT 3 AS id", []),
            [("INSERT INTO sample_tags (sample_id, tag) SELECT id, 'zzz' FROM _bulk_ids", [])],
        )
        == 1
    )
    assert (3, "zzz") in tags_of(qstore)


def test_text_search_browser(qstore):
    b = Browser(qstore, Filter(text="POEM", expression="NOT excluded"))
    assert b.count() == 2
    assert [r["id"] for r in b.page(0, 10)] == [1, 6]
    b = Browser(qstore, Filter(text="poem"), sort=[("id", True)])
    assert b.count() == 2 and b._ids is not None and b.ids() == [6, 1]  # one scan: counted and ordered


def test_the_last_bulk_action_can_be_undone(qstore):
    """Tag, untag, set domain, exclude: each can be undone, giving its samples back exactly what they held
    (a sample that already had the tag keeps it; domains go back with their source)."""
    from engine.core.errors import InputError
    from engine.data.query import last_bulk, undo_last_bulk

    def state():
        return (
            tags_of(qstore),
            qstore.fetchall("SELECT id, domain, domain_source, excluded FROM samples ORDER BY id"),
        )

    with pytest.raises(InputError, match="nothing to undo"):
        undo_last_bulk(qstore)
    start = state()
    assert bulk_tag(qstore, Filter(expression="instruction ~ 'poem'"), "good") == 1
    assert last_bulk(qstore) == "tagged 'good' 1 sample"
    undo_last_bulk(qstore)
    assert state() == start and last_bulk(qstore) is None
    bulk_tag(qstore, Filter(domains=["general"]), "good", remove=True)
    undo_last_bulk(qstore)
    assert sorted(state()[0]) == sorted(start[0])
    bulk_set_domain(qstore, Filter(tags=["good"]), "creative")
    bulk_exclude(qstore, Filter(pool_ids=[1]))  # replaces the domain change as the undoable one
    assert last_bulk(qstore).startswith("excluded ")
    undo_last_bulk(qstore)
    after = state()[1]
    assert [r[3] for r in after] == [r[3] for r in start[1]]  # exclusion back as it was
    assert after[0][1:3] == ("creative", "manual")  # the earlier domain change stays
    with pytest.raises(InputError):
        undo_last_bulk(qstore)


def test_cli_undo_twin(tmp_path):
    from tests.helpers import wb, write_jsonl

    db = tmp_path / "s.duckdb"
    write_jsonl(tmp_path / "a.jsonl", [{"instruction": f"q{i}", "output": "a"} for i in range(5)])
    wb(db, "import", str(tmp_path / "a.jsonl"), "--pool", "a")
    assert "nothing to undo" in wb(db, "undo", "--show").stdout
    wb(db, "tag", "keep", "--pool", "a")
    assert "would undo: tagged 'keep' 5 samples" in wb(db, "undo", "--show").stdout
    assert "undone: tagged 'keep' 5 samples" in wb(db, "undo").stdout
    r = wb(db, "undo", check=False)
    assert r.returncode == 1 and "nothing to undo" in r.stderr and "Traceback" not in r.stderr
