"""The RAISE comparison's pieces without training: the table read from evaluation rows, the best arm per row,
the arms' checks, the static IFD top-k plan from stored scores (and its refusals) and the full-data plan."""

from __future__ import annotations

import json

import pytest

from engine.evaluation.evaluate.settings import EvalSummary
from engine.raise_rl.compare import best_arm, check_arms, comparison_rows, full_plan, ifd_plan
from engine.raise_rl.policy import RaiseError


def _row(i, run, eval_set, domain, metric, value, n=4, nll=None):
    details = {} if nll is None else {"mean_nll": nll}
    return EvalSummary(
        id=i, run_id=run, eval_set=eval_set, domain=domain, metric=metric, value=value, n=n, details=details
    )


def test_comparison_rows_one_row_per_set_domain_metric_with_each_arms_value():
    arms = {1: "raise", 2: "random", 3: "base"}
    sums = [
        _row(1, 1, "math_eval", "all", "accuracy", 0.5),
        _row(2, 2, "math_eval", "all", "accuracy", 0.25),
        _row(3, 1, "math_eval", "math", "accuracy", 0.75),
        _row(4, 3, "math_eval", "math", "accuracy", 0.0),
        _row(5, 2, "math_eval", "math", "nll", 1.5),
        _row(6, 1, "math_eval", "math", "nll", 1.25),
        _row(7, 9, "math_eval", "math", "nll", 0.1),  # a run of no arm: left out
        _row(8, 3, "code_eval", "code", "accuracy", None, 0),
    ]
    rows = comparison_rows(sums, arms)
    assert [(r["eval_set"], r["domain"], r["metric"]) for r in rows] == [
        ("code_eval", "code", "accuracy"),
        ("math_eval", "math", "accuracy"),
        ("math_eval", "math", "nll"),
        ("math_eval", "all", "accuracy"),
    ]
    assert rows[1]["values"] == {"raise": 0.75, "base": 0.0} and rows[1]["n"] == {"raise": 4, "base": 4}
    assert rows[2]["values"] == {"random": 1.5, "raise": 1.25}
    assert [best_arm(r) for r in rows] == [None, "raise", "raise", "raise"]
    rows[3]["values"]["random"] = 0.9
    assert best_arm(rows[3]) == "random"
    rows[3]["values"]["raise"] = 0.9
    assert best_arm(rows[3]) is None  # a tie has no best arm


def test_arms_checked_and_in_order():
    assert check_arms(None) == ["raise", "random", "ifd", "full", "base"]
    assert check_arms("base, ifd") == ["ifd", "base"]
    with pytest.raises(RaiseError, match="unknown arm.*nope"):
        check_arms("raise,nope")


def test_ifd_plan_takes_the_top_scored_below_one_and_refuses_without_scores(tmp_path):
    from engine.core.store import Store
    from engine.quality.scores import MetricDef, register_metric, write_scores
    from tests.helpers import import_sample_pools

    with Store(tmp_path / "wb.duckdb") as st:
        import_sample_pools(st, tmp_path, ["math"], 10)
        ids = [int(r[0]) for r in st.fetchall("SELECT id FROM samples WHERE NOT excluded ORDER BY id")][:10]
        job = tmp_path / "job"
        job.mkdir()
        with pytest.raises(RaiseError, match="no stored ifd scores.*--arms"):
            ifd_plan(st, job, ids=ids, T=2, B=2)
        m = MetricDef("ifd", "m", {"k": 1}, "test")
        register_metric(st, m)
        # ids[0] scores above 1 (dropped), ids[1] has no value; the others 0.1 .. 0.8
        vals = [1.5, None, 0.1, 0.8, 0.3, 0.7, 0.2, 0.6, 0.4, 0.5]
        write_scores(st, m, [(i, v, None if v is not None else "too long") for i, v in zip(ids, vals)])
        got = ifd_plan(st, job, ids=ids, T=2, B=3)
        assert got["steps"] == [
            {"step": 1, "samples": [ids[3], ids[5], ids[7]], "clusters": []},
            {"step": 2, "samples": [ids[9], ids[8], ids[4]], "clusters": []},
        ]
        assert json.loads((job / "plan-ifd.json").read_text())["steps"] == got["steps"]
        with pytest.raises(RaiseError, match="needs 10 samples with ifd < 1.*have 8 of 10"):
            ifd_plan(st, job, ids=ids, T=5, B=2)
    full = full_plan(job, ids=ids, T=3, seed=0)
    assert [len(s["samples"]) for s in full["steps"]] == [4, 3, 3]
    assert sorted(x for s in full["steps"] for x in s["samples"]) == sorted(ids)
    assert full_plan(job, ids=ids, T=3, seed=0)["steps"] == full["steps"]


def test_an_accuracy_row_brings_the_gold_answers_nll():
    """With a small model every arm may answer nothing right: the gold answers' NLL (the reward's metric) still
    tells the arms apart, as a row of its own."""
    sums = [
        _row(1, 1, "math_eval", "math", "accuracy", 0.0, nll=1.25),
        _row(2, 2, "math_eval", "math", "accuracy", 0.0, nll=1.5),
        _row(3, 2, "math_eval", "all", "accuracy", 0.0),  # no NLL: no row
    ]
    rows = comparison_rows(sums, {1: "raise", 2: "random"})
    assert [(r["domain"], r["metric"]) for r in rows] == [("math", "accuracy"), ("math", "nll"), ("all", "accuracy")]
    assert rows[1]["values"] == {"raise": 1.25, "random": 1.5} and best_arm(rows[1]) == "raise"
    assert best_arm(rows[0]) is None  # a tie
