"""Conflict Rate on hand-made per-item results with known answers, and over runs stored in a real DuckDB file."""

from __future__ import annotations

import inspect
import json

import pytest

from engine.evaluation.conflict import (
    ConflictError,
    compare,
    conflict_from_items,
    conflict_rate,
    conflicting_items,
    interference_matrix,
    is_conflict,
    results_rows,
    specialists,
    summary_for_runs,
)
from tests.helpers import insert_eval as _eval
from tests.helpers import insert_run as _run


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
def test_conflict_rate_over_stored_runs(stored):
    assert specialists(stored, 1) == {"math": 2, "code": 3}
    r = conflict_rate(stored, 1)
    assert r.domains["math"].conflicts == 1 and r.domains["math"].n == 3  # item 101
    assert r.domains["code"].conflicts == 1 and r.domains["code"].n == 2  # item 200
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
    from engine.evaluation.conflict import pair_runs

    m = interference_matrix(stored, 1)
    assert m["filled"] == 0 and m["n_cells"] == 2
    assert m["cells"]["code|math"]["run_id"] is None and "--make-pairs" in m["cells"]["code|math"]["how"]
    folders = {}
    with stored.transaction() as con:
        con.execute(
            "INSERT INTO mixtures (id, name, version, recipe, content_hash) VALUES "
            "(2, 'mix/only:code+math', 1, '{}', 'h2')"
        )
        for pos, (sid, dom) in enumerate([(1, "math"), (11, "code")]):
            con.execute(
                "INSERT INTO mixture_items (mixture_id, position, kind, sample_id, domain) VALUES "
                "(2, ?, 'sample', ?, ?)",
                [pos, sid, dom],
            )
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
        from engine.evaluation.conflict import ensure_pair_runs

        ensure_pair_runs(stored, 2)


# -- issue 12 section 4: partial rates, shared items, settings, conditional and gain rates ---------------------
def test_conditional_and_gain_rates_known_answer():
    # math: R right on 0-3; M wrong on 1, 3 (conflicts); 4 both wrong; 5 R wrong and M right (gain)
    mix = items("math", [True, False, True, False, False, True]) | items("code", [False, True], start=10)
    spec = items("math", [True, True, True, True, False, False]) | items("code", [True, False], start=10)
    r = conflict_from_items(mix, spec)
    m = r.domains["math"]
    assert (m.n, m.conflicts, m.reference_right, m.gains) == (6, 2, 4, 1)
    assert m.rate == pytest.approx(2 / 6)  # joint: P(R right, M wrong)
    assert m.conditional_conflict_rate == pytest.approx(2 / 4)  # P(M wrong | R right)
    assert m.gain_rate == pytest.approx(1 / 6)  # P(R wrong, M right)
    c = r.domains["code"]  # 10: R right, M wrong; 11: R wrong, M right
    assert (c.conflicts, c.reference_right, c.gains) == (1, 1, 1) and c.conditional_conflict_rate == 1.0
    # pooled: sums over domains, not means of rates
    assert r.rate == pytest.approx(3 / 8) and r.conditional_conflict_rate == pytest.approx(3 / 5)
    assert r.gain_rate == pytest.approx(2 / 8) and not r.partial and r.covered_domains == ["code", "math"]
    d = r.to_dict()
    assert d["joint_conflict_rate"] == d["rate"] and d["labels"]["conditional_conflict_rate"] == "conditional conflict"
    assert d["domains"]["math"]["gain_rate"] == pytest.approx(1 / 6)


def test_loss_variant_gain_and_default_tau():
    from engine.evaluation.conflict import DEFAULT_TAU

    assert DEFAULT_TAU > 0
    for f in (
        conflict_from_items,
        conflict_rate,
        summary_for_runs,
        results_rows,
        compare,
        interference_matrix,
        conflicting_items,
        is_conflict,
    ):
        assert inspect.signature(f).parameters["tau"].default == DEFAULT_TAU, f.__name__
    mix = items("general", [None] * 3, nll=[1.0, 2.0, 1.9])
    spec = items("general", [None] * 3, nll=[1.1, 1.9, 2.0])
    r = conflict_from_items(mix, spec, variant="loss")  # default tau: 0.1 differences count, both ways
    g = r.domains["general"]
    assert (g.conflicts, g.gains) == (1, 2) and g.gain_rate == pytest.approx(2 / 3)
    assert g.conditional_conflict_rate is None and r.conditional_conflict_rate is None  # no "right" under loss
    assert conflict_from_items(mix, spec, variant="loss", tau=0.2).domains["general"].gains == 0
    # numerical noise (0.01 nats/token) is no conflict under the default tau; with tau 0 every item is one
    noisy = items("general", [None] * 4, nll=[2.01, 1.51, 3.01, 1.01])
    same = items("general", [None] * 4, nll=[2.0, 1.5, 3.0, 1.0])
    assert conflict_from_items(noisy, same, variant="loss").rate == 0.0
    assert conflict_from_items(noisy, same, variant="loss", tau=0.0).rate == 1.0


def test_domain_without_specialist_gives_no_rate_and_a_partial_pooled_rate(partial_store, capsys):
    r = conflict_rate(partial_store, 1)
    assert r.domains["code"].rate is None and r.domains["code"].missing == "no_reference"
    assert r.domains["code"].conditional_conflict_rate is None and r.domains["code"].gain_rate is None
    assert r.domains["code"].score == 0.0  # the run's own score is still reported
    # pooled over math only (3 items), and flagged: not a silent 0.0 for the whole run
    assert r.rate == 0.0 and r.n == 3 and r.partial
    assert r.covered_domains == ["math"] and r.missing_domains == ["code"]
    assert r.missing == {"code": "code has no specialist"}
    assert r.label() == "0.000 (partial: code has no specialist)"
    assert r.to_dict()["partial"] is True and r.to_dict()["missing_domains"] == ["code"]
    full = summary_for_runs(partial_store, [1], full=True)[1]
    assert full.partial and full.rate == 0.0 and summary_for_runs(partial_store, [1]) == {1: 0.0}
    rows = {x["domain"]: x for x in results_rows(partial_store) if x["run_id"] == 1}
    assert rows["code"]["conflict_rate"] is None and rows["code"]["missing"] == "no_reference"
    assert rows["math"]["pooled_partial"] and rows["math"]["pooled_label"] == "0.000 (partial: code has no specialist)"
    # no specialist at all: no rate, partial, every domain missing
    with partial_store.transaction() as con:
        con.execute("UPDATE runs SET status = 'failed' WHERE id = 2")
    none = conflict_rate(partial_store, 1)
    assert none.rate is None and none.partial and none.missing_domains == ["code", "math"]
    assert none.label().startswith("- (partial: code has no specialist; math has no specialist")
    with partial_store.transaction() as con:
        con.execute("UPDATE runs SET status = 'done' WHERE id = 2")
    # the CLI: JSON keys and the table's pooled row say so
    from workbench.cli import main

    db = str(partial_store.path)
    partial_store.close()
    assert main(["--db", db, "conflict", "1", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["partial"] is True and out["missing"] == {"code": "code has no specialist"}
    assert out["domains"]["code"]["joint_conflict_rate"] is None and out["rate"] == 0.0
    assert main(["--db", db, "conflict", "1"]) == 0
    cap = capsys.readouterr()
    assert "0.000 (partial: code has no specialist)" in cap.out
    assert "joint conflict" in cap.out and "conditional conflict" in cap.out and "gain" in cap.out
    assert "partial: pooled over math only" in cap.err


@pytest.fixture
def shared_store(store):
    """Run 1 (mixture) evaluated on math items 100-105, its math specialist (run 2) on 103-108; base run 3 on
    100-102 and 104."""
    with store.transaction() as con:
        con.execute("INSERT INTO mixtures (id, name, version, recipe, content_hash) VALUES (1, 'mix', 1, '{}', 'h')")
        con.execute(
            "INSERT INTO mixture_items (mixture_id, position, kind, sample_id, domain) VALUES "
            "(1, 0, 'sample', 1, 'math')"
        )
        _run(con, 1, "mix", "mixture", mixture=1)
        _run(con, 2, "spec-math", "specialist", parent=1, domain="math")
        _run(con, 3, "base", "base")
        # the run: right on 100-102 (only it has them), 103 wrong, 104 right, 105 wrong
        _eval(
            con,
            1,
            1,
            "math",
            [
                (100, True, 1.0, "a"),
                (101, True, 1.0, "a"),
                (102, True, 1.0, "a"),
                (103, False, 2.0, "b"),
                (104, True, 1.0, "a"),
                (105, False, 2.0, "b"),
            ],
        )
        # the specialist: 103 right, 104 wrong, 105 right; 106-108 right (only it has them)
        _eval(
            con,
            2,
            2,
            "math",
            [
                (103, True, 1.0, "a"),
                (104, False, 2.0, "b"),
                (105, True, 1.0, "a"),
                (106, True, 1.0, "a"),
                (107, True, 1.0, "a"),
                (108, True, 1.0, "a"),
            ],
        )
        _eval(
            con,
            3,
            3,
            "math",
            [(100, False, 3.0, "c"), (101, False, 3.0, "c"), (102, False, 3.0, "c"), (104, False, 3.0, "c")],
        )
    return store


def test_rates_and_deltas_on_the_shared_items_only(shared_store):
    r = conflict_rate(shared_store, 1)
    m = r.domains["math"]
    assert (m.n_run, m.n_reference, m.n_shared, m.dropped_run, m.dropped_reference) == (6, 6, 3, 3, 3)
    # over 103-105 only: conflicts 103 and 105, gain 104; the specialist right on 103 and 105
    assert (m.n, m.conflicts, m.gains, m.reference_right) == (3, 2, 1, 2)
    assert m.rate == pytest.approx(2 / 3) and m.conditional_conflict_rate == 1.0 and m.gain_rate == pytest.approx(1 / 3)
    # the run's score is over all its items (4/6), the delta over the shared ones: 1/3 - 2/3
    assert m.score == pytest.approx(4 / 6) and m.reference_score == pytest.approx(2 / 3)
    assert m.delta_vs_specialist == pytest.approx(1 / 3 - 2 / 3)  # naive 4/6 - 5/6 would be -1/6
    # base: shared 100, 101, 102, 104 (run right on all, base wrong on all)
    assert m.n_base_shared == 4 and m.base_score == 0.0 and m.delta_vs_base == pytest.approx(1.0)
    assert (r.n_shared, r.dropped_run, r.dropped_reference) == (3, 3, 3) and not r.partial
    assert any(
        "compared on the 3 items both were evaluated on; left out 3 of the run's 6 and 3 of specialist run 2's 6" in w
        for w in r.warnings
    )
    row = next(x for x in results_rows(shared_store) if x["run_id"] == 1)
    assert (row["n_shared"], row["dropped_run"], row["dropped_reference"]) == (3, 3, 3)
    # conflicting items: only shared items can conflict
    assert sorted(x["sample_id"] for x in conflicting_items(shared_store, 1)) == [103, 105]
    # compare: agreement and scores on the shared items, counts per side
    cmp = compare(shared_store, [1, 2])
    assert cmp["items"]["math"] == {"both_right": 0, "only_a": 1, "only_b": 2, "both_wrong": 0}
    sh = cmp["shared"]["math"]
    assert (sh["n_a"], sh["n_b"], sh["n_shared"], sh["dropped_a"], sh["dropped_b"]) == (6, 6, 3, 3, 3)
    assert sh["score_a"] == pytest.approx(1 / 3) and sh["score_b"] == pytest.approx(2 / 3)
    assert sh["delta"] == pytest.approx(1 / 3)
    assert any("left out 3 of A's 6 and 3 of B's 6" in w for w in cmp["warnings"])
    # a specialist evaluated on other items only: no rate for the domain, partial
    with shared_store.transaction() as con:
        con.execute("DELETE FROM eval_items WHERE run_id = 2 AND sample_id <= 105")
    r = conflict_rate(shared_store, 1)
    assert r.domains["math"].missing == "no_shared" and r.partial and r.rate is None
    assert "no item evaluated by both the run and its specialist (run 2)" in r.label()


SETTINGS = {
    "max_new_tokens": 256,
    "greedy": True,
    "temperature": 0.0,
    "max_len": 1024,
    "choice_normalize": True,
    "sandbox_timeout_s": 10.0,
}


def test_differing_generation_settings_warn_or_refuse(partial_store, capsys):
    from engine.evaluation.conflict import SettingsMismatch

    with partial_store.transaction() as con:
        con.execute(
            "UPDATE evaluations SET details = ? WHERE id IN (1, 2)",
            [json.dumps({"settings": SETTINGS, "max_items": 3, "scorer_version": "1"})],
        )
        con.execute(
            "UPDATE evaluations SET details = ? WHERE id = 3",
            [json.dumps({"settings": SETTINGS | {"max_new_tokens": 8}, "max_items": 3, "scorer_version": "1"})],
        )
    r = conflict_rate(partial_store, 1)  # default: computed, with a warning naming the setting
    assert r.rate == 0.0
    assert [(x["setting"], x["run_value"], x["other_value"]) for x in r.settings_mismatches] == [
        ("max_new_tokens", 256, 8)
    ]
    assert any(
        "math: run 1 and its specialist (run 2) were evaluated with a different max_new_tokens on ev: 256 vs 8" in w
        for w in r.warnings
    )
    with pytest.raises(SettingsMismatch, match="refused \\(strict\\): .* differ in max_new_tokens") as e:
        conflict_rate(partial_store, 1, strict=True)
    assert isinstance(e.value, ConflictError) and e.value.mismatches[0]["setting"] == "max_new_tokens"
    with pytest.raises(SettingsMismatch, match="max_new_tokens"):
        compare(partial_store, [1, 2], strict=True)
    assert compare(partial_store, [1, 2])["settings_mismatches"][0]["setting"] == "max_new_tokens"
    with pytest.raises(SettingsMismatch):
        conflicting_items(partial_store, 1, strict=True)
    # the same settings, but other prompts (another chat template): named too
    with partial_store.transaction() as con:
        con.execute("UPDATE evaluations SET details = (SELECT details FROM evaluations WHERE id = 1) WHERE id = 3")
        con.execute("UPDATE eval_items SET prompt = '<|im_start|>' || prompt WHERE run_id = 2")
    r = conflict_rate(partial_store, 1)
    assert [x["setting"] for x in r.settings_mismatches] == ["prompt (chat template)"]
    assert "different prompts (chat template) on 3 of 3 shared items" in r.warnings[-1]
    with partial_store.transaction() as con:
        con.execute("UPDATE eval_items SET prompt = 'q' || CAST(sample_id AS VARCHAR)")
        con.execute(
            "UPDATE evaluations SET details = ? WHERE id = 3",
            [json.dumps({"settings": SETTINGS | {"greedy": False, "temperature": 0.7}})],
        )
    # the CLI: a warning by default, exit 1 with the setting named under --strict
    from workbench.cli import main

    db = str(partial_store.path)
    partial_store.close()
    assert main(["--db", db, "conflict", "1"]) == 0
    assert "different greedy on ev: True vs False" in capsys.readouterr().err
    assert main(["--db", db, "conflict", "1", "--strict"]) == 1
    err = capsys.readouterr().err
    assert "refused (strict)" in err and "greedy, temperature" in err
    assert main(["--db", db, "compare", "1", "2", "--strict", "--format", "json"]) == 1
    assert "temperature" in capsys.readouterr().err
    assert main(["--db", db, "compare", "1", "2", "--format", "json"]) == 0
    assert {x["setting"] for x in json.loads(capsys.readouterr().out)["settings_mismatches"]} == {
        "greedy",
        "temperature",
    }


def test_recorded_evaluation_settings_are_compared(store, tmp_path):
    """prepare() records the settings and max_items per evaluation; two base runs prepared with other
    max_new_tokens and max_items differ in exactly those."""
    from pathlib import Path

    from engine.data.ingest import import_file
    from engine.evaluation import evaluate as ev

    root = Path(__file__).resolve().parent.parent
    import_file(store, root / "sample_data" / "eval" / "math_eval.jsonl", pool="math_eval", domain="math")
    ev.set_role(store, "math_eval", "eval")
    with store.transaction() as con:
        _run(con, 1, "base-a", "base", base="model-a", folder=str(tmp_path / "a"))
        _run(con, 2, "base-b", "base", base="model-b", folder=str(tmp_path / "b"))
    a, b = ev.get_run_row(store, 1), ev.get_run_row(store, 2)
    _, sa, _ = ev.prepare(store, a.id, ["math_eval"], max_items=2, settings=ev.EvalSettings(max_new_tokens=16))
    _, sb, _ = ev.prepare(store, b.id, ["math_eval"], max_items=3, settings=ev.EvalSettings(max_new_tokens=32))
    rec = ev.evaluation_settings(store, [sa[0].id, sb[0].id])
    assert rec[sa[0].id]["settings"]["max_new_tokens"] == 16 and rec[sb[0].id]["settings"]["max_items"] == 3
    items, _ = ev.pool_items(store, "math_eval", max_items=2)
    with store.transaction() as con:
        for s, run in ((sa[0], a), (sb[0], b)):
            for it in items:
                con.execute(
                    "INSERT INTO eval_items (evaluation_id, run_id, sample_id, domain, scorer, prompt, "
                    "output, correct) VALUES (?, ?, ?, 'math', 'math', 'p', 'o', true)",
                    [s.id, run.id, it.sample_id],
                )
    res = compare(store, [a.id, b.id])
    assert sorted(x["setting"] for x in res["settings_mismatches"]) == ["max_items", "max_new_tokens"]
    assert res["shared"]["math"]["n_shared"] == 2 and res["items"]["math"]["both_right"] == 2


def test_a_cancelled_or_failed_evaluation_never_hides_a_finished_one(partial_store):
    from engine.evaluation.evaluate import item_results

    before = item_results(partial_store, 1, domain="math")
    assert sorted(before) == [100, 101, 102]
    with partial_store.transaction() as con:  # newer, partial evaluations of the same set and domain
        _eval(con, 10, 1, "math", [(100, False, 9.0, "x")], details={"state": "cancelled"})
        _eval(con, 11, 1, "math", [], details={"state": "failed"})
    after = item_results(partial_store, 1, domain="math")
    assert after == before and {r["evaluation_id"] for r in after.values()} == {1}
    with partial_store.transaction() as con:  # a newer finished one wins
        _eval(con, 12, 1, "math", [(100, False, 9.0, "x")], details={"state": "done"})
    assert {r["evaluation_id"] for r in item_results(partial_store, 1, domain="math").values()} == {12}
    with partial_store.transaction() as con:  # with nothing finished, the latest partial one is what there is
        _eval(con, 13, 1, "law", [(300, True, 1.0, "y")], details={"state": "cancelled"})
    assert item_results(partial_store, 1, domain="law")[300]["evaluation_id"] == 13


def test_reference_plan_counts_new_runs_items_and_time(partial_store):
    """Before making specialists or pair runs the user sees how many runs are queued and about how long they take:
    the mixture run's own training time scaled by each run's items; existing specialists are reused."""
    from engine.evaluation.conflict import reference_plan

    with partial_store.transaction() as con:
        for pos in range(2, 10):  # 3 math and 7 code items in all
            con.execute(
                "INSERT INTO mixture_items (mixture_id, position, kind, sample_id, domain) VALUES (1, ?, 'sample', ?, ?)",
                [pos, 100 + pos, "math" if pos < 4 else "code"],
            )
        con.execute(
            "UPDATE runs SET started_at = TIMESTAMP '2026-01-01 10:00:00', "
            "finished_at = TIMESTAMP '2026-01-01 10:01:40' WHERE id = 1"
        )  # 100 s for 10 items
    p = reference_plan(partial_store, 1, "specialists")
    by = {r.label: r for r in p.runs}
    assert by["math"].existing == 2 and by["math"].n_items == 3  # run 2 serves math already
    assert by["code"].existing is None and by["code"].n_items == 7 and by["code"].estimate_s == pytest.approx(70)
    assert [r.label for r in p.new] == ["code"]
    assert p.words().startswith("1 new run(s) will be queued") and "~1m10s" in p.words() and "run 2" in p.words()
    pairs = reference_plan(partial_store, 1, "pairs")
    assert [(r.label, r.n_items, r.existing) for r in pairs.runs] == [("code+math", 10, None)]
    with partial_store.transaction() as con:
        con.execute("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = 1")
    assert "no time estimate" in reference_plan(partial_store, 1, "pairs").words()
