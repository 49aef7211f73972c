"""The Results screen under Textual's pilot: hand-made stored evaluations (known conflict rates), then the
end-to-end path on CPU: a tiny model, a two-domain mixture, a LoRA run, specialists created and reused,
evaluations in child processes, and the conflict rate shown in the Results screen."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from screens.results import ResultsScreen
from tests.helpers import SIZE, import_sample_pools, plain, wait_for
from workbench.app import WorkbenchApp


def run_pilot(body, app):
    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await body(pilot, app)

    asyncio.run(main())


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def row_of(table: DataTable, run_id: int, domain: str) -> list[str]:
    return next(r for r in cells(table) if r[1].startswith(f"{run_id} ") and r[5] == domain)


@pytest.mark.slow
def test_table_drill_compare_matrix_and_knobs(stored):
    async def body(pilot, app):
        await pilot.press("7")
        scr = app.screen
        assert isinstance(scr, ResultsScreen)
        t = scr.query_one("#r-table", DataTable)
        await wait_for(pilot, lambda: t.row_count == 5, what="results rows")
        math = row_of(t, 1, "math")
        assert math[3] == "mix v2" and math[4] == "multi_task" and math[10] == "0.333" and math[7] == "0.333"
        assert math[8] == "-0.333" and math[9] == "+0.333"  # delta vs specialist, vs base
        # conditional conflict 1/2 (specialist right on 100, 101; run wrong on 101), gain 0, n 3
        assert math[11] == "0.500" and math[12] == "0.000" and math[13] == "3" and math[2] == "mix"
        knobs = plain(scr.query_one("#r-knobs", Static), width=400)
        assert "our definition" in knobs and "tau 0.05" in knobs
        assert "joint conflict P(spec ok, run wrong)" in knobs and "cond = conditional conflict" in knobs
        assert "gain P(spec wrong, run ok)" in knobs
        # drill into the conflicting items of run 1 / math
        t.move_cursor(row=[i for i, r in enumerate(cells(t)) if r[1].startswith("1 ") and r[5] == "math"][0])
        await pilot.press("enter")
        d = scr.query_one("#r-detail", DataTable)
        await wait_for(pilot, lambda: scr.detail_kind == "items" and d.row_count == 1, what="conflicting items")
        assert cells(d)[0][:4] == ["101", "q101", "4", "3"]
        # the matrix of run 1
        await pilot.press("m")
        await wait_for(pilot, lambda: scr.detail_kind == "matrix" and d.row_count == 2, what="matrix")
        assert cells(d)[1][0] == "math" and cells(d)[1][2].startswith("0.333")
        # mark runs 1 and 2, compare
        await pilot.press("space")
        t.move_cursor(row=[i for i, r in enumerate(cells(t)) if r[1].startswith("2 ")][0])
        await pilot.press("space")
        await pilot.press("v")
        await wait_for(pilot, lambda: scr.detail_kind == "compare" and d.row_count >= 1, what="compare")
        mrow = next(r for r in cells(d) if r[0] == "math")
        assert mrow[2:5] == ["0.333", "0.667", "+0.333"] and mrow[7:9] == ["0", "1"] and mrow[11:] == ["3", "0/0"]
        # the loss variant with tau, and sorting by conflict (descending)
        await pilot.press("l")
        await wait_for(pilot, lambda: scr.variant == "loss" and row_of(t, 1, "math")[10] == "0.667", what="loss")
        while scr.sort_key != "conflict_rate":
            await pilot.press("s")
        await pilot.press("S")
        await pilot.pause(0.1)
        assert cells(t)[0][10] == "0.667" and cells(t)[-1][10] == "-"  # None last
        await pilot.press("b")
        await wait_for(pilot, lambda: scr.reference == "base" and row_of(t, 1, "math")[10] == "0.000", what="base")
        # against the base model, code has no base evaluation: "no ref", and the pooled line says partial
        assert row_of(t, 1, "code")[10] == "no ref"
        t.move_cursor(row=[i for i, r in enumerate(cells(t)) if r[1].startswith("1 ") and r[5] == "math"][0])
        await pilot.pause(0.1)
        info = " ".join(plain(scr.query_one("#r-info", Static), width=400).split())
        assert "3 items shared with the base model" in info and "pooled: joint conflict 0.000" in info
        assert "(partial: code's base-model run (run 4) is not evaluated on it)" in info

    run_pilot(body, WorkbenchApp(store=stored))


def test_partial_rate_and_settings_warning_on_the_screen(partial_store):
    """Math specialist only, the run fails every code item: code shows "no ref", the pooled line says partial;
    a specialist evaluated with another max_new_tokens: the warning line names it."""
    with partial_store.transaction() as con:
        con.execute(
            "UPDATE evaluations SET details = ? WHERE id = 3", [json.dumps({"settings": {"max_new_tokens": 8}})]
        )
        con.execute(
            "UPDATE evaluations SET details = ? WHERE id IN (1, 2)", [json.dumps({"settings": {"max_new_tokens": 256}})]
        )

    async def body(pilot, app):
        await pilot.press("7")
        scr = app.screen
        t = scr.query_one("#r-table", DataTable)
        await wait_for(pilot, lambda: t.row_count == 3, what="results rows")
        assert row_of(t, 1, "code")[10] == "no ref" and row_of(t, 1, "math")[10] == "0.000"
        assert row_of(t, 2, "math")[10] == "-"  # the specialist itself: nothing to compare, not "partial"
        t.move_cursor(row=[i for i, r in enumerate(cells(t)) if r[1].startswith("2 ")][0])
        await pilot.pause(0.1)
        assert "a specialist run: no specialist to compare it with" in plain(
            scr.query_one("#r-info", Static), width=400
        )
        t.move_cursor(row=[i for i, r in enumerate(cells(t)) if r[1].startswith("1 ") and r[5] == "code"][0])
        await pilot.pause(0.1)
        info = " ".join(plain(scr.query_one("#r-info", Static), width=400).split())
        assert "1 code: no rate (code has no specialist)" in info
        assert "pooled: joint conflict 0.000" in info and "(partial: code has no specialist)" in info
        assert "evaluations compared differ in max_new_tokens" in info

    run_pilot(body, WorkbenchApp(store=partial_store))


def test_making_specialists_says_how_many_runs_first(partial_store):
    """p shows how many specialist runs would be queued (existing ones reused) before queueing any;
    cancelling queues nothing."""
    from screens.widgets import ConfirmDialog
    from tests.helpers import wait_screen

    n_runs = partial_store.fetchall("SELECT count(*) FROM runs")[0][0]

    async def body(pilot, app):
        await pilot.press("7")
        scr = app.screen
        t = scr.query_one("#r-table", DataTable)
        await wait_for(pilot, lambda: t.row_count == 3, what="results rows")
        t.move_cursor(row=[i for i, r in enumerate(cells(t)) if r[1].startswith("1 ")][0])
        await pilot.press("p")
        dlg = await wait_screen(pilot, app, ConfirmDialog, what="plan")
        text = " ".join(plain(dlg.query_one("#message", Static), width=400).split())
        assert "1 new run(s) will be queued" in text and "code: 1 items" in text and "Reused: math (run 2)" in text
        assert "Queue 1" in str(dlg.query_one("#confirm").label)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is scr, what="closed")

    run_pilot(body, WorkbenchApp(store=partial_store))
    assert partial_store.fetchall("SELECT count(*) FROM runs")[0][0] == n_runs


def test_first_evaluation_from_runs_and_an_empty_results_screen(store):
    """No evaluation yet: e on Runs (or on the empty Results screen) opens the evaluate form over the finished
    runs and the eval sets; a bad item count is refused in the form; with no eval set it says how to make one."""
    from screens.results_dialogs import EvaluateDialog
    from tests.helpers import insert_run, wait_screen

    with store.transaction() as con:
        insert_run(con, 1, "first", "mixture")
        insert_run(con, 2, "second", "mixture")
        con.execute("UPDATE runs SET status = 'failed' WHERE id = 2")  # only finished runs are offered

    async def body(pilot, app):
        await pilot.press("7", "e")  # no eval set yet
        await wait_for(pilot, lambda: any("no eval sets" in str(n.message) for n in app._notifications), what="note")
        import_sample_pools(app.store, app.store.path.parent, ["math"], 5)  # train_math and the eval set math_eval
        await pilot.press("6")
        runs = app.screen.query_one("#r-runs", DataTable)
        await wait_for(pilot, lambda: runs.row_count == 2, what="runs")
        runs.focus()
        runs.move_cursor(row=[str(runs.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(2)].index("1"))
        await wait_for(pilot, lambda: app.screen.selected == 1, what="run selected")
        await pilot.press("e")
        form = await wait_screen(pilot, app, EvaluateDialog, what="evaluate form")
        assert isinstance(app.screen_stack[-2], ResultsScreen)  # the job will run (and show) in Results
        assert [v for _, v in form.query_one("#ev-run")._options] == [1]
        assert list(form.query_one("#ev-sets").selected)  # every set ticked
        form.query_one("#ev-max").value = "zero"
        form.query_one("#ok").press()
        await wait_for(pilot, lambda: "items per set" in plain(form.query_one("#error", Static)), what="error")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ResultsScreen), what="back")

    run_pilot(body, WorkbenchApp(store=store))


# -- end to end on CPU ----------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
FAST = dict(
    lr=1e-2, batch_size=4, max_len=512, eval_every=0, save_every=0, grad_conflict_every=1, warmup_ratio=0.0, max_steps=2
)


def _drive(store, until, timeout=120.0):
    import time

    from engine.training import runs as R

    end = time.monotonic() + timeout
    while not until():
        R.tick(store)
        assert time.monotonic() < end, [(r.id, r.status, r.error) for r in R.list_runs(store)]
        time.sleep(0.2)


@pytest.mark.slow
def test_end_to_end_two_domain_mixture_specialists_and_results_screen(tmp_path, monkeypatch):
    from engine.core.store import Store
    from engine.evaluation import conflict as cf
    from engine.evaluation import evaluate as ev
    from engine.mixtures import Component, Recipe, save
    from engine.training import runs as R
    from tests.tiny_lm import tiny_chat_model

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # training workers: one torch thread each (tiny model, busy CPU)
    model = tiny_chat_model(tmp_path / "model")
    store = Store(tmp_path / "wb.duckdb")
    import_sample_pools(store, tmp_path, ("math", "code"), 10)
    mix = save(
        store,
        "two",
        Recipe(
            [Component("m", "pool", "train_math"), Component("c", "pool", "train_code")],
            {"math": 0.5, "code": 0.5},
            budget=16,
        ),
    )
    assert ev.overlap(store, mix.id, ["math_eval", "code_eval"]).warnings == []
    run = R.create_run(store, mix.id, base_model=str(model), lora={"target_modules": "all-linear"}, train=FAST)
    base = R.create_run(store, base_model=str(model), kind="base")
    specs = cf.ensure_specialists(store, run.id)
    assert sorted(specs) == ["code", "math"] and len(set(specs.values())) == 2
    assert cf.ensure_specialists(store, run.id) == specs  # reused, not duplicated
    assert len(R.list_runs(store)) == 4
    assert {R.get_run(store, r).kind for r in specs.values()} == {"specialist"}
    _drive(store, lambda: all(r.status in R.FINISHED for r in R.list_runs(store)))
    assert all(r.status == "done" for r in R.list_runs(store)), [(r.id, r.error) for r in R.list_runs(store)]
    settings = ev.EvalSettings(max_new_tokens=8, batch_size=4, threads=1)
    # the mixture run, its specialists and the base model in one worker (one model load)
    ev.evaluate_many(
        store,
        [run.id, base.id, *specs.values()],
        ["math_eval", "code_eval"],
        max_items=2,
        settings=settings,
        poll_s=0.1,
    )
    acc = cf.conflict_rate(store, run.id)
    assert acc.n == 4 and acc.rate is not None  # 2 items per domain compared with each domain's specialist
    loss = cf.conflict_rate(store, run.id, variant="loss")
    # the stored per-item NLLs give the same rate through the pure formula
    mix_items = ev.item_results(store, run.id)
    ref_items = {}
    for d, rid in specs.items():
        ref_items |= ev.item_results(store, rid, domain=d)
    assert loss.rate == pytest.approx(cf.conflict_from_items(mix_items, ref_items, variant="loss").rate)
    assert cf.summary_for_runs(store, [run.id, base.id]) == {run.id: acc.rate, base.id: None}
    # another run of the same mixture and settings (other protocol) reuses the trained specialists
    run2 = R.create_run(
        store,
        mix.id,
        base_model=str(model),
        protocol="sequential",
        order="code,math",
        lora={"target_modules": "all-linear"},
        train=FAST,
    )
    assert R.get_run(store, run2.id).status == "queued"
    assert cf.ensure_specialists(store, run2.id) == specs

    async def body(pilot, app):
        await pilot.press("7")
        scr = app.screen
        t = scr.query_one("#r-table", DataTable)
        await wait_for(pilot, lambda: t.row_count == 8, what="results rows")  # 4 runs x 2 domains
        for d in ("math", "code"):
            r = row_of(t, run.id, d)
            assert r[3] == "two v1" and r[4] == "multi_task"
            assert r[10] == f"{acc.domains[d].rate:.3f}"
        await pilot.press("l")
        await wait_for(
            pilot, lambda: row_of(t, run.id, "math")[10] == f"{loss.domains['math'].rate:.3f}", what="loss variant"
        )
        # e: the run with its specialists and the base model; every job is done already, so no worker starts
        scr.eval_settings, scr.eval_max_items = settings, 2
        t.move_cursor(row=[i for i, r in enumerate(cells(t)) if r[1].startswith(f"{run.id} ")][0])
        await pilot.press("e")  # the evaluate form, prefilled with the highlighted run and every eval set
        from screens.results_dialogs import EvaluateDialog
        from tests.helpers import wait_screen

        form = await wait_screen(pilot, app, EvaluateDialog, what="evaluate form")
        assert form.query_one("#ev-max").value == "2"
        form.query_one("#ok").press()
        job = scr.query_one("#r-job", Static)
        await wait_for(
            pilot, lambda: "evaluated: 8 result row(s)" in plain(job), timeout=30, what=f"evaluate ({plain(job)!r})"
        )

    run_app = WorkbenchApp(store=store)
    run_pilot(body, run_app)
    store.close()
