"""The Runs screen under Textual's pilot over a real store: its timer ticks the queue, a real worker subprocess
trains a tiny llama, the table, progress and loss curves follow; c cancels a queued run, r resumes it, and a run
whose worker died is shown as failed with the log tail."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import DataTable, ProgressBar, Static
from textual_plotext import PlotextPlot

from engine.core.store import Store
from engine.training import runs as R
from screens.runs import RunsScreen, fmt_eta, thin
from screens.widgets import ConfirmDialog
from tests.helpers import SIZE, plain, run_app, wait_for, wait_screen, write_jsonl
from tests.helpers import training_records as records
from tests.tiny_lm import tiny_chat_model
from workbench.app import WorkbenchApp

TRAIN = dict(
    lr=1e-2,
    batch_size=4,
    max_len=128,
    eval_every=2,
    eval_per_domain=2,
    save_every=0,
    grad_conflict_every=2,
    warmup_ratio=0.0,
    max_steps=4,
)


def test_helpers():
    assert fmt_eta(None) == "-" and fmt_eta(187) == "3m07s" and fmt_eta(3900) == "1h05m"
    pts = [(i, float(i)) for i in range(1000)]
    out = thin(pts, 100)
    assert len(out) <= 101 and out[0] == (0, 0.0) and out[-1] == (999, 999.0)


@pytest.mark.slow
def test_runs_screen_trains_cancels_resumes_and_shows_failures(tmp_path):
    model = tiny_chat_model(tmp_path / "model")
    db = tmp_path / "wb.duckdb"
    with Store(db) as s:
        a = R.create_run(
            s,
            records=records(16),
            base_model=str(model),
            lora={"target_modules": "all-linear"},
            train=TRAIN,
            name="alpha",
        )
        b = R.create_run(s, records=records(16), base_model=str(model), train=TRAIN | {"max_steps": 2}, name="beta")
        dead = R.create_run(s, records=records(4), base_model=str(model), train=TRAIN, name="ghost")
        (Path(dead.folder) / "log.txt").write_text("12:00:00 loading\nRuntimeError: CUDA out of memory\n")
        with s.transaction() as con:  # left 'running' by an app that is gone; its pid is not alive
            con.execute("UPDATE runs SET status = 'running', pid = 2147483000 WHERE id = ?", [dead.id])

    async def body(pilot, app):
        await pilot.press("6")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        table = screen.query_one("#r-runs", DataTable)
        await wait_for(pilot, lambda: table.row_count == 3, what="rows")

        def status(rid):
            return str(table.get_cell(str(rid), "status"))

        # the dead worker is failed on the first tick, the first queued run starts
        await wait_for(pilot, lambda: status(dead.id) == "failed", what="dead run failed")
        await wait_for(pilot, lambda: status(a.id) == "running", what="alpha running")
        assert status(b.id) == "queued"
        assert "running #1 · next #2" in plain(screen.query_one("#r-queue", Static))
        table.move_cursor(row=2)
        await wait_for(pilot, lambda: screen.selected == dead.id, what="ghost selected")
        detail = plain(screen.query_one("#r-detail", Static))
        assert "died without a final status" in detail and "CUDA out of memory" in detail
        # cancel the queued run with c
        table.move_cursor(row=1)
        await wait_for(pilot, lambda: screen.selected == b.id, what="beta selected")
        await pilot.press("c")
        await wait_for(pilot, lambda: status(b.id) == "cancelled", what="beta cancelled")
        # the first run trains in its worker; its curves and progress show up
        table.move_cursor(row=0)
        await wait_for(pilot, lambda: status(a.id) == "done", timeout=60, what="alpha done")
        await wait_for(pilot, lambda: screen.series.get("loss") and len(screen.series["loss"]) == 4, what="loss curve")
        assert {"eval_loss/math", "eval_loss/code"} <= set(screen.series)
        assert str(table.get_cell(str(a.id), "step")) == "4/4"
        bar = screen.query_one("#r-progress", ProgressBar)
        assert bar.total == 4 and bar.progress == 4
        detail = plain(screen.query_one("#r-detail", Static))
        assert "alpha" in detail and "gradient conflict code|math" in detail and "LoRA r=8" in detail
        assert screen.query_one("#r-loss", PlotextPlot).plt is not None
        # resume the cancelled run: it joins the queue and trains
        table.move_cursor(row=1)
        await wait_for(pilot, lambda: screen.selected == b.id, what="beta selected")
        await pilot.press("r")
        await wait_for(pilot, lambda: status(b.id) in ("queued", "running", "done"), what="beta queued")
        await wait_for(pilot, lambda: status(b.id) == "done", timeout=60, what="beta done")

    run_app(WorkbenchApp(db_path=db), body)
    with Store(db) as s:
        assert [r.status for r in R.list_runs(s)] == ["done", "done", "failed"]
        assert [st for st, _n, _v in R.run_metrics(s, a.id, ["loss"])] == [1, 2, 3, 4]


@pytest.mark.slow
def test_new_run_form_queues_a_configured_run(tmp_path):
    """n opens the form over the saved versions (engine defaults shown); bad input gets an inline error and keeps
    the form open; a valid form queues a run with exactly those settings, which then trains."""

    from textual.widgets import Checkbox, Input, Select

    from engine import mixtures as mx
    from engine.data.ingest import import_file
    from engine.training import LoraSettings, TrainSettings
    from screens.runs import NewRunDialog

    model = tiny_chat_model(tmp_path / "model")
    db = tmp_path / "wb.duckdb"
    with Store(db) as s:
        for dom in ("math", "code"):
            recs = [{"instruction": f"{dom} q {i}", "input": "", "output": f"a {i}"} for i in range(6)]
            import_file(s, write_jsonl(tmp_path / f"{dom}.jsonl", recs), pool=dom, domain=dom)

        def recipe(**kw):
            components = [mx.Component("math", "domain", "math"), mx.Component("code", "domain", "code")]
            return mx.Recipe(components, {"math": 0.5, "code": 0.5}, budget=None, **kw)

        mv1 = mx.save(s, "mix", recipe())
        staged = mx.save(s, "staged", recipe(stages=[mx.Stage("first", ["math"]), mx.Stage("then", ["code"])]))

    async def body(pilot, app):
        await pilot.press("6")
        screen = app.screen
        await pilot.press("n")
        await wait_screen(pilot, app, NewRunDialog, what="dialog")
        dlg = app.screen
        await pilot.pause()

        def field(key):
            return dlg.query_one(f"#nr-{key}", Input)

        def error():
            return plain(dlg.query_one("#error", Static))

        async def ok():  # the button ignores a click during its 0.2 s press effect
            await pilot.click("#ok")
            await pilot.pause(0.25)

        async def queue():  # a valid form shows its summary to confirm first
            await ok()
            confirm = await wait_screen(pilot, app, ConfirmDialog, what="summary")
            summary = plain(confirm.query_one("#message", Static))
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is not confirm, what="summary closed")
            return summary

        # the engine's defaults are shown; both versions are offered
        assert field("r").value == str(LoraSettings().r) and field("lr").value == str(TrainSettings().lr)
        assert field("max_len").value == str(TrainSettings().max_len) and field("max_steps").value == ""
        assert dlg.query_one("#nr-packing", Select).value == TrainSettings().packing
        version = dlg.query_one("#nr-version", Select)
        assert {str(label) for label, _ in version._options} >= {"mix@1 · 12 items", "staged@1 · 12 items"}
        assert version.value == staged.id  # the newest version is preselected
        dlg.query_one("#nr-protocol", Select).value = "multi_stage"
        await pilot.pause()
        assert "2 stage(s): first: math; then: code" in plain(dlg.query_one("#nr-info", Static))
        assert field("order").has_class("unused") and field("order").can_focus  # stays in the Tab order
        version.value = mv1.id
        await pilot.pause()
        assert "no stages" in plain(dlg.query_one("#nr-info", Static))
        await ok()
        await wait_for(pilot, lambda: "mix@1 has no stages" in error(), what="stages error")
        dlg.query_one("#nr-protocol", Select).value = "sequential"
        await pilot.pause()
        assert "domains: code, math" in plain(dlg.query_one("#nr-info", Static))
        assert not field("order").has_class("unused")
        # validation: sequential without order, an unknown domain, a bad number; the form stays open
        await ok()
        await wait_for(pilot, lambda: "sequential needs an order" in error(), what="order error")
        field("order").value = "code,poetry"
        await ok()
        await wait_for(pilot, lambda: "unknown domain(s) poetry" in error(), what="domain error")
        field("order").value = "code, math"
        field("r").value = "four"
        field("r").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "LoRA r must be a whole number" in error(), what="number error")
        field("r").value = "0"
        await ok()
        await wait_for(pilot, lambda: "lora r must be >= 1" in error(), what="engine check")
        field("r").value = "4"
        field("max_steps").value = "2"
        field("base").value = str(tmp_path / "no-such-model")
        await queue()  # the engine's error (unknown base model) is shown in the form too
        await wait_for(pilot, lambda: "no-such-model" in error(), what="model error")
        assert app.screen is dlg
        field("base").value = str(model)
        dlg.query_one("#nr-targets", Select).value = "all-linear"
        dlg.query_one("#nr-ckpt", Checkbox).value = True
        await pilot.pause()
        summary = await queue()
        assert "mix@1 (12 items) · sequential (code → math)" in summary and "2 steps" in summary, summary
        await wait_for(pilot, lambda: app.screen is screen, what="dialog closed")
        table = screen.query_one("#r-runs", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="new run row")
        rid = screen.runs[0].id
        await wait_for(pilot, lambda: str(table.get_cell(str(rid), "status")) == "done", timeout=90, what="run done")
        assert str(table.get_cell(str(rid), "step")) == "2/2"

    run_app(WorkbenchApp(db_path=db), body)
    with Store(db) as s:
        (run,) = R.list_runs(s)
        cfg = run.config
        assert run.mixture_id == mv1.id and cfg["mixture"] == "mix@1" and run.protocol == "sequential"
        assert cfg["order"] == ["code", "math"] and run.base_model == str(model)
        assert cfg["lora"]["r"] == 4 and cfg["lora"]["target_modules"] == "all-linear"
        assert cfg["train"]["max_steps"] == 2 and cfg["train"]["gradient_checkpointing"] is True
        assert cfg["train"]["lr"] == TrainSettings().lr
        assert [st for st, _n, _v in R.run_metrics(s, run.id, ["loss"])] == [1, 2]


def test_new_run_form_is_driveable_blind(tmp_path):
    """Tab reaches the same field whatever the protocol; alt+letter reaches the field labelled with it; typing
    edits (nothing is selected on entry); F1 helps; escape after a change asks before losing the form."""
    from textual.widgets import Input, Select

    from engine import mixtures as mx
    from engine.data.ingest import import_file
    from screens.help import HelpScreen
    from screens.runs import NewRunDialog

    db = tmp_path / "wb.duckdb"
    with Store(db) as s:
        recs = [{"instruction": f"q {i}", "input": "", "output": f"a {i}"} for i in range(4)]
        import_file(s, write_jsonl(tmp_path / "m.jsonl", recs), pool="m", domain="math")
        mx.save(s, "mix", mx.Recipe([mx.Component("m", "domain", "math")], {"math": 1.0}))

    async def body(pilot, app):
        await pilot.press("6", "n")
        dlg = await wait_screen(pilot, app, NewRunDialog, what="form")

        async def tab_order() -> list[str]:
            dlg.query_one("#nr-version").focus()
            await pilot.pause()
            seen = []
            for _ in range(17):
                seen.append(app.focused.id)
                await pilot.press("tab")
            return seen

        before = await tab_order()
        dlg.query_one("#nr-protocol", Select).value = "sequential"
        dlg.query_one("#nr-targets", Select).value = "custom"
        await pilot.pause()
        assert await tab_order() == before and before[:4] == ["nr-version", "nr-protocol", "nr-order", "nr-base"]
        await pilot.press("alt+e")
        epochs = dlg.query_one("#nr-epochs", Input)
        assert app.focused is epochs
        old = epochs.value
        await pilot.press("5")  # appended at the cursor, not replacing a selected value
        assert epochs.value == old + "5"
        await pilot.press("f1")
        await wait_screen(pilot, app, HelpScreen, what="help")
        assert "alt+letter" in app.screen.query_one("#help-text").source
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dlg, what="back to the form")
        await pilot.press("escape")  # changed: asks first
        confirm = await wait_screen(pilot, app, ConfirmDialog, what="discard?")
        await pilot.press("escape")  # keep editing
        await wait_for(pilot, lambda: app.screen is dlg, what="kept")
        assert dlg.query_one("#nr-epochs", Input).value == old + "5"
        await pilot.press("escape")
        confirm = await wait_screen(pilot, app, ConfirmDialog, what="discard?")
        confirm.query_one("#confirm").press()
        await wait_for(pilot, lambda: not isinstance(app.screen, (NewRunDialog, ConfirmDialog)), what="closed")

    run_app(WorkbenchApp(db_path=db), body)


def test_new_run_form_without_versions_says_so(tmp_path):
    db = tmp_path / "wb.duckdb"
    Store(db).close()

    async def body(pilot, app):
        await pilot.press("6")
        await pilot.press("n")
        await wait_for(pilot, lambda: any("no saved mixture" in n.message for n in app._notifications), what="notice")
        assert isinstance(app.screen, RunsScreen)

    run_app(WorkbenchApp(db_path=db), body, notifications=True)


@pytest.mark.slow
def test_queue_moves_on_any_screen(tmp_path):
    """The app ticks the run queue itself: a queued run starts, trains and finishes while the Pools screen is
    open (the Runs screen is never opened)."""
    model = tiny_chat_model(tmp_path / "model")
    db = tmp_path / "wb.duckdb"
    with Store(db) as s:
        run = R.create_run(s, records=records(8), base_model=str(model), train=TRAIN | {"max_steps": 2}, name="bg")
    app = WorkbenchApp(db_path=db)

    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.store is not None, what="store")
            await wait_for(
                pilot, lambda: R.get_run(app.store, run.id).status == "done", timeout=90, what="queued run done"
            )
            assert app.current_mode == "pools"
            assert [m[0] for m in R.run_metrics(app.store, run.id, ["loss"])] == [1, 2]

    asyncio.run(main())
