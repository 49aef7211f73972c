"""Score storage: replace-on-rewrite, NULL needs a reason, metric listing."""

import pytest

from engine.scores import MetricDef, list_metrics, metric_values, scored_ids, write_scores
from engine.store import Store


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
