"""Conflict Rate on hand-made per-item results with known answers, and over runs stored in a real DuckDB file."""

from __future__ import annotations

import json

import pytest

from engine.conflict import (
    ConflictError, compare, conflict_from_items, conflict_rate, conflicting_items, interference_matrix, is_conflict,
    results_rows, specialists, summary_for_runs,
)


def items(domain: str, correct: list, nll: list | None = None, start: int = 0) -> dict[int, dict]:
    nll = nll or [None] * len(correct)
    return {start + i: {"domain": domain, "correct": c, "nll": n} for i, (c, n) in enumerate(zip(correct, nll))}


def test_accuracy_variant_known_answer():
    # math: specialist right on 0,1,2,3; mixture wrong on 1 and 3 -> 2 conflicts of 5 items
    mix = items("math", [True, False, True, False, False]) | items("code", [True, True, False, False], start=10)
    spec = items("math", [True, True, True, True, False]) | items("code", [True, False, True, False], start=10)
    r = conflict_from_items(mix, spec)
    assert r.domains["math"].conflicts == 2 and r.domains["math"].n == 5
    assert r.domains["math"].rate == pytest.approx(0.4)
    # code: spec right on 10, 12; mixture wrong on 12 -> 1 of 4 (mixture right where spec wrong is no conflict)
    assert r.domains["code"].rate == pytest.approx(0.25)
    assert r.rate == pytest.approx(3 / 9)  # pooled, not the mean of the two rates
    assert r.domains["math"].score == pytest.approx(0.4) and r.domains["math"].reference_score == pytest.approx(0.8)
    assert r.domains["math"].delta_vs_specialist == pytest.approx(-0.4)


def test_loss_variant_and_tau():
    mix = items("general", [None] * 4, nll=[2.0, 2.5, 3.0, 1.0])
    spec = items("general", [None] * 4, nll=[2.0, 2.0, 2.0, 2.0])
    assert conflict_from_items(mix, spec, variant="loss", tau=0.0).rate == pytest.approx(0.5)
    assert conflict_from_items(mix, spec, variant="loss", tau=0.6).rate == pytest.approx(0.25)
    # the accuracy variant has nothing to compare on NLL-only items
    r = conflict_from_items(mix, spec, variant="accuracy")
    assert r.rate is None and r.domains["general"].n == 0 and r.domains["general"].metric == "nll"


def test_items_missing_in_reference_are_not_compared_and_base_delta():
    mix = items("math", [False, False, True])
    spec = {0: {"domain": "math", "correct": True, "nll": None}}
    base = items("math", [False, False, False])
    r = conflict_from_items(mix, spec, base=base)
    assert r.domains["math"].n == 1 and r.rate == 1.0
    assert r.domains["math"].delta_vs_base == pytest.approx(1 / 3)


def test_bad_variant():
    with pytest.raises(ConflictError, match="variant"):
        is_conflict({"correct": True}, {"correct": True}, variant="magnitude")


# -- over stored runs -----------------------------------------------------------------------------------------
def _run(con, rid, name, kind, *, parent=None, domain=None, mixture=None, folder=None, base="tiny"):
    con.execute("INSERT INTO runs (id, name, status, kind, parent_run_id, domain, mixture_id, folder, base_model, "
                "protocol) VALUES (?, ?, 'done', ?, ?, ?, ?, ?, ?, 'multi_task')",
                [rid, name, kind, parent, domain, mixture, folder, base])


def _eval(con, eid, rid, domain, rows):
    con.execute("INSERT INTO evaluations (id, run_id, eval_set, domain, metric, value, n) VALUES "
                "(?, ?, 'ev', ?, 'accuracy', NULL, ?)", [eid, rid, domain, len(rows)])
    for sid, correct, nll, out in rows:
        con.execute("INSERT INTO eval_items (evaluation_id, run_id, sample_id, domain, scorer, prompt, output, "
                    "extracted, correct, nll) VALUES (?, ?, ?, ?, 'gsm8k', ?, ?, ?, ?, ?)",
                    [eid, rid, sid, domain, f"q{sid}", out, out, correct, nll])


@pytest.fixture
def stored(store, tmp_path):
    folder = tmp_path / "runs" / "1-mix"
    folder.mkdir(parents=True)
    with store.transaction() as con:
        con.execute("INSERT INTO mixtures (id, name, version, recipe, content_hash) VALUES (1, 'mix', 2, '{}', 'h')")
        for pos, (sid, dom) in enumerate([(1, "math"), (2, "math"), (11, "code"), (12, "code")]):
            con.execute("INSERT INTO mixture_items (mixture_id, position, kind, sample_id, domain) VALUES "
                        "(1, ?, 'sample', ?, ?)", [pos, sid, dom])
        _run(con, 1, "mix", "mixture", mixture=1, folder=str(folder))
        _run(con, 2, "spec-math", "specialist", parent=1, domain="math")
        _run(con, 3, "spec-code", "specialist", parent=99, domain="code")  # reused from another parent
        _run(con, 4, "base", "base")
        _eval(con, 1, 1, "math", [(100, True, 1.0, "7"), (101, False, 2.0, "3"), (102, False, 2.0, "0")])
        _eval(con, 2, 1, "code", [(200, False, 1.0, "x"), (201, True, 1.0, "y")])
        _eval(con, 3, 2, "math", [(100, True, 1.0, "7"), (101, True, 1.5, "4"), (102, False, 1.0, "1")])
        _eval(con, 4, 3, "code", [(200, True, 1.0, "ok"), (201, True, 1.0, "ok")])
        _eval(con, 5, 4, "math", [(100, False, 3.0, "1"), (101, False, 3.0, "1"), (102, False, 3.0, "1")])
    (folder / "specialists.json").write_text(json.dumps({"code": 3}))
    return store


def test_conflict_rate_over_stored_runs(stored):
    assert specialists(stored, 1) == {"math": 2, "code": 3}
    r = conflict_rate(stored, 1)
    assert r.domains["math"].conflicts == 1 and r.domains["math"].n == 3   # item 101
    assert r.domains["code"].conflicts == 1 and r.domains["code"].n == 2   # item 200
    assert r.rate == pytest.approx(2 / 5)
    assert r.domains["math"].delta_vs_base == pytest.approx(1 / 3)
    assert r.domains["math"].delta_vs_specialist == pytest.approx(1 / 3 - 2 / 3)
    loss = conflict_rate(stored, 1, variant="loss", tau=0.4)
    assert loss.domains["math"].conflicts == 2  # 101: 2.0 vs 1.5 (0.5 > 0.4), 102: 2.0 vs 1.0
    vs_base = conflict_rate(stored, 1, reference="base")
    assert vs_base.domains["math"].conflicts == 0 and "code" in vs_base.domains
    assert summary_for_runs(stored, [1, 4, 77]) == {1: pytest.approx(0.4), 4: None, 77: None}


def test_conflicting_items_and_tables(stored):
    c = conflicting_items(stored, 1)
    assert sorted(x["sample_id"] for x in c) == [101, 200]
    m = next(x for x in c if x["sample_id"] == 101)
    assert m["reference_output"] == "4" and m["output"] == "3" and m["question"] == "q101"
    rows = results_rows(stored)
    mix_math = next(r for r in rows if r["run_id"] == 1 and r["domain"] == "math")
    assert mix_math["recipe"] == "mix v2" and mix_math["conflict_rate"] == pytest.approx(1 / 3)
    assert {r["run_id"] for r in rows} == {1, 2, 3, 4}
    cmp = compare(stored, [1, 2])
    assert cmp["items"]["math"] == {"both_right": 1, "only_a": 0, "only_b": 1, "both_wrong": 1}
    mat = interference_matrix(stored, 1)
    assert mat["outcome"]["math"]["math"] == pytest.approx(1 / 3) and mat["outcome"]["math"]["code"] is None
    with pytest.raises(ConflictError, match="no run"):
        conflict_rate(stored, 42)
    with pytest.raises(ConflictError, match="reference"):
        conflict_rate(stored, 1, reference="oracle")


def test_cli_conflict_and_compare_json(stored, capsys):
    from workbench.cli import main

    db = str(stored.path)
    stored.close()
    assert main(["--db", db, "conflict", "1", "--format", "json", "--items", "--matrix"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rate"] == pytest.approx(0.4) and out["domains"]["math"]["conflicts"] == 1
    assert "our definition" in out["definition"] and len(out["items"]) == 2
    assert out["matrix"]["outcome"]["code"]["code"] == pytest.approx(0.5)
    assert main(["--db", db, "conflict", "1", "--variant", "loss", "--tau", "0.4", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["domains"]["math"]["conflicts"] == 2
    assert main(["--db", db, "compare", "1", "spec-math", "--format", "json"]) == 0
    cmp = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in cmp["runs"]] == [1, 2] and cmp["items"]["math"]["only_b"] == 1
    assert main(["--db", db, "conflict", "nope"]) == 1
    assert "no run 'nope'" in capsys.readouterr().err
    assert main(["--db", db, "conflict", "1"]) == 0  # table output
    assert "(pooled)" in capsys.readouterr().out


def test_matrix_prefers_recorded_pair_runs_and_says_how_to_fill(stored, tmp_path):
    from engine.conflict import pair_runs

    m = interference_matrix(stored, 1)
    assert m["filled"] == 0 and m["n_cells"] == 2
    assert m["cells"]["code|math"]["run_id"] is None and "--make-pairs" in m["cells"]["code|math"]["how"]
    folders = {}
    with stored.transaction() as con:
        con.execute("INSERT INTO mixtures (id, name, version, recipe, content_hash) VALUES "
                    "(2, 'mix/only:code+math', 1, '{}', 'h2')")
        for pos, (sid, dom) in enumerate([(1, "math"), (11, "code")]):
            con.execute("INSERT INTO mixture_items (mixture_id, position, kind, sample_id, domain) VALUES "
                        "(2, ?, 'sample', ?, ?)", [pos, sid, dom])
        for rid in (5, 6, 7):
            folders[rid] = tmp_path / "runs" / f"{rid}-pair"
            folders[rid].mkdir(parents=True)
            (folders[rid] / "specialists.json").write_text(json.dumps({"math": 2, "code": 3}))
            _run(con, rid, f"pair{rid}", "mixture", mixture=2, folder=str(folders[rid]))
        con.execute("UPDATE runs SET status = 'queued' WHERE id = 7")
        # run 5: math 1 conflict of 3 (item 100), code 1 of 2 (item 201); run 6: none
        _eval(con, 6, 5, "math", [(100, False, 1.0, "0"), (101, True, 1.0, "4"), (102, False, 1.0, "1")])
        _eval(con, 7, 5, "code", [(200, True, 1.0, "ok"), (201, False, 1.0, "no")])
        _eval(con, 8, 6, "math", [(100, True, 1.0, "7"), (101, True, 1.0, "4"), (102, True, 1.0, "2")])
        _eval(con, 9, 6, "code", [(200, True, 1.0, "ok"), (201, True, 1.0, "ok")])
    # nothing recorded: the search finds the first done two-domain run (5)
    m = interference_matrix(stored, 1)
    assert m["outcome"]["math"]["code"] == pytest.approx(1 / 3) and m["outcome"]["code"]["math"] == pytest.approx(0.5)
    assert m["filled"] == 2 and m["pair_runs"] == {"math|code": 5, "code|math": 5}
    assert m["cells"]["code|math"]["how"] == "filled from run 5"
    # recorded pair run 6 (pairs.json of run 1) wins over the search
    pj = tmp_path / "runs" / "1-mix" / "pairs.json"
    pj.write_text(json.dumps({"code|math": 6}))
    assert pair_runs(stored, 1) == {("code", "math"): 6}
    m = interference_matrix(stored, 1)
    assert m["outcome"]["math"]["code"] == 0.0 and m["outcome"]["code"]["math"] == 0.0
    assert m["pair_runs"]["math|code"] == 6 and m["outcome"]["math"]["math"] == pytest.approx(1 / 3)
    # a recorded pair run still queued: its cells come from the search, not from it; a cancelled one is ignored
    pj.write_text(json.dumps({"code|math": 7}))
    m = interference_matrix(stored, 1)
    assert m["pair_runs"]["math|code"] == 5
    with stored.transaction() as con:
        con.execute("UPDATE runs SET status = 'done' WHERE id IN (5, 6)")
        con.execute("DELETE FROM eval_items WHERE run_id IN (5, 6)")
    m = interference_matrix(stored, 1)
    c = m["cells"]["code|math"]
    assert m["filled"] == 0 and c["run_id"] == 7 and c["status"] == "queued" and "let it train" in c["how"]
    with stored.transaction() as con:
        con.execute("UPDATE runs SET status = 'cancelled' WHERE id = 7")
    assert pair_runs(stored, 1) == {}
    # pair runs serve mixture runs only
    with pytest.raises(ConflictError, match="specialist run"):
        from engine.conflict import ensure_pair_runs

        ensure_pair_runs(stored, 2)
