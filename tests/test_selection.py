"""SuperFiltering selection: IFD < 1, top int(N * rate) by IFD per group, NULLs never picked."""

import json

import pytest

from engine.core.store import Store
from engine.quality.scores import MetricDef, write_scores
from engine.quality.selection import SelectionError, get_selection, selection_ids, superfiltering_select


@pytest.fixture
def st(tmp_path):
    s = Store(tmp_path / "s.duckdb")
    s.con.execute("INSERT INTO pools (id, name, domain) VALUES (1, 'a', 'math'), (2, 'b', 'code')")
    rows = []
    for i in range(1, 41):
        dom = "math" if i <= 20 else "code"
        s.con.execute(
            "INSERT INTO samples (id, pool_id, messages, domain, content_hash) VALUES (?, ?, ?, ?, ?)",
            [i, 1 if dom == "math" else 2, json.dumps([{"role": "user", "content": str(i)}]), dom, f"h{i}"],
        )
        # ifd: i/20 for math (0.05..1.0), (i-20)/10 for code (0.1..2.0); sample 3 has no value
        v = i / 20 if dom == "math" else (i - 20) / 10
        rows.append((i, None if i == 3 else v, "empty response" if i == 3 else None))
    write_scores(s, MetricDef("ifd", "m"), rows)
    yield s
    s.close()


def test_per_domain_top_rate(st):
    sel = superfiltering_select(st, "sf10", rate=0.25, per="domain")
    ids = selection_ids(st, "sf10")
    # math: 20 samples, quota 5, IFD < 1 are ids 1..19 (not 3) -> highest five: 19,18,17,16,15
    # code: 20 samples, quota 5, IFD < 1 are ids 21..29 (0.1..0.9) -> 29,28,27,26,25
    assert set(ids) == {19, 18, 17, 16, 15, 29, 28, 27, 26, 25}
    assert sel.n == 10 and sel.method == "superfiltering"
    why = st.con.execute("SELECT why FROM selection_items WHERE sample_id = 19").fetchone()[0]
    assert "ifd 0.9500 < 1.0: rank 1 of 20 in domain math" == why


def test_global_n_and_threshold_strict(st):
    superfiltering_select(st, "top3", rate=None, n=3, per=None, threshold=0.95)
    # 0.95 itself is not < 0.95; ids 18 (math) and 29 (code) tie at 0.9, ties go by id
    assert selection_ids(st, "top3") == [18, 29, 17]


def test_name_clash_is_refused_then_replaced(st):
    superfiltering_select(st, "x", rate=0.1)
    with pytest.raises(SelectionError, match="exists"):
        superfiltering_select(st, "x", rate=0.2)
    before = get_selection(st, "x").content_hash
    superfiltering_select(st, "x", rate=0.2, replace=True)
    assert get_selection(st, "x").content_hash != before
    with pytest.raises(KeyError, match="selections: x"):
        get_selection(st, "nope")


def test_excluded_samples_are_not_selected(st):
    st.con.execute("UPDATE samples SET excluded = true WHERE id = 19")
    superfiltering_select(st, "e", rate=None, n=1, per="domain")
    assert set(selection_ids(st, "e")) == {18, 29}
