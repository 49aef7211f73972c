"""Score storage: replace-on-rewrite, NULL needs a reason, metric listing."""

import pytest

from engine.core.store import Store
from engine.quality.scores import MetricDef, list_metrics, metric_values, scored_ids, write_scores


def test_write_replace_and_list(tmp_path):
    s = Store(tmp_path / "s.duckdb")
    m = MetricDef("resp_chars", params={"unit": "chars"}, definition="characters in the response")
    write_scores(s, m, [(1, 10.0, None), (2, None, "empty response")])
    write_scores(s, m, [(1, 12.0, None)])
    assert metric_values(s, "resp_chars") == {1: 12.0, 2: None}
    assert scored_ids(s, m) == {1, 2}
    (info,) = list_metrics(s)
    assert (info.metric, info.n, info.n_null) == ("resp_chars", 2, 1)
    with pytest.raises(ValueError, match="needs a reason"):
        write_scores(s, m, [(3, None, None)])
    # a different parameter set is a different metric key
    m2 = MetricDef("resp_chars", params={"unit": "bytes"})
    assert m2.params_hash != m.params_hash
    assert scored_ids(s, m2) == set()
    s.close()


def _mini(tmp_path):
    import json

    s = Store(tmp_path / "v.duckdb")
    s.con.execute("INSERT INTO pools (id, name, domain) VALUES (1, 'p', 'math')")
    for i in range(1, 11):
        dom = "math" if i <= 6 else "code"
        s.con.execute(
            "INSERT INTO samples (id, pool_id, messages, domain, content_hash, instruction, response) "
            "VALUES (?, 1, ?, ?, ?, ?, ?)",
            [i, json.dumps([]), dom, f"h{i}", f"q{i}", f"a{i}"],
        )
    m = MetricDef("ifd", "m")
    write_scores(s, m, [(i, i / 10, None) for i in range(1, 10)] + [(10, None, "empty response")])
    return s


def test_domain_views(tmp_path):
    from engine.quality.scores import domain_summary, extremes, histogram, threshold_counts

    s = _mini(tmp_path)
    summ = {r["domain"]: r for r in domain_summary(s, "ifd")}
    assert summ["math"]["n"] == 6 and summ["math"]["n_scored"] == 6 and summ["math"]["n_null"] == 0
    assert summ["code"]["n"] == 4 and summ["code"]["n_scored"] == 3 and summ["code"]["n_null"] == 1
    assert abs(summ["math"]["mean"] - 0.35) < 1e-9
    edges, counts = histogram(s, "ifd", bins=9, lo=0.05, hi=0.95)
    assert len(edges) == 10 and counts == [1] * 9
    tc = {r["domain"]: r for r in threshold_counts(s, "ifd", "<", 0.5)}
    assert (tc["math"]["keep"], tc["math"]["lose"], tc["math"]["null"]) == (4, 2, 0)
    assert (tc["code"]["keep"], tc["code"]["lose"], tc["code"]["null"]) == (0, 3, 1)
    ex = extremes(s, "ifd", k=2)
    assert [r["id"] for r in ex["top"]] == [9, 8] and [r["id"] for r in ex["bottom"]] == [1, 2]
    assert [r["id"] for r in extremes(s, "ifd", k=1, domain="math")["top"]] == [6]
    s.close()
