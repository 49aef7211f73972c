"""The Scores screen under Textual's pilot: summaries, live keep/lose, jump to Browse, and both scoring jobs
(heuristics in a worker, IFD in a real child process with a tiny saved model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.core.store import Store
from engine.data.ingest import import_file
from engine.data.query import Browser, Filter
from engine.quality.scores import MetricDef, metric_values, threshold_counts, write_scores
from screens.browse import BrowseScreen
from screens.scores import ScoresScreen
from tests.helpers import plain, wait_for, wait_screen
from tests.helpers import run_app as _run
from workbench.app import WorkbenchApp


def _store(tmp_path: Path, with_scores: bool = True) -> Path:
    p = tmp_path / "wb.duckdb"
    src = tmp_path / "mix.jsonl"
    with src.open("w") as f:
        for i in range(60):
            f.write(
                json.dumps(
                    {
                        "instruction": f"Explain item {i}",
                        "input": "",
                        "output": "" if i == 0 else f"Item {i} is explained here" + " well" * (i % 5),
                    }
                )
                + "\n"
            )
    with Store(p) as s:
        import_file(s, src, pool="mix")
        s.con.execute("UPDATE samples SET domain = 'math' WHERE record_index >= 30")
        if with_scores:
            ids = [r[0] for r in s.con.execute("SELECT id FROM samples ORDER BY id").fetchall()]
            write_scores(
                s, MetricDef("ifd", "m", definition="test ifd"), [(sid, k / 40, None) for k, sid in enumerate(ids)]
            )
    return p


def _rows(screen: ScoresScreen) -> dict[str, list[str]]:
    from textual.widgets import DataTable

    t = screen.query_one("#s-domains", DataTable)
    out = {}
    for rk in t.rows:
        out[str(rk.value)] = [str(c) for c in t.get_row(rk)]
    return out


async def _job(pilot, app, key: str, done: str, timeout: float) -> ScoresScreen:
    """Open the Scores screen, start a job with key (confirming its scope), wait until it is over and #s-job
    says `done`."""
    from screens.scope_dialog import ScopeDialog

    await pilot.press("3")
    screen = app.screen
    await pilot.press(key)
    await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
    await pilot.press("enter")
    await wait_for(
        pilot, lambda: screen.job is None and done in plain(screen.query_one("#s-job")), timeout=timeout, what=done
    )
    return screen


@pytest.mark.slow
def test_summary_threshold_and_jump_to_browse(tmp_path):
    db = _store(tmp_path)

    async def body(pilot, app):
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, ScoresScreen)
        await wait_for(pilot, lambda: "math" in _rows(screen), what="summary")
        expected = {r["domain"]: r for r in threshold_counts(app.store, "ifd", "<", 1.0)}
        rows = _rows(screen)
        # default rule for ifd is "< 1.0"; columns: domain, keep, lose, samples, median, mean, scored, NULL
        assert rows["general"][1] == f"{expected['general']['keep']:,}"
        assert rows["math"][2] == f"{expected['math']['lose']:,}"
        # a live threshold change
        thr = screen.query_one("#s-thr")
        thr.value = "0.5"
        exp2 = {r["domain"]: r for r in threshold_counts(app.store, "ifd", "<", 0.5)}
        await wait_for(pilot, lambda: _rows(screen)["general"][1] == f"{exp2['general']['keep']:,}", what="keep")
        assert _rows(screen)["math"][1] == f"{exp2['math']['keep']:,}"
        # histogram and examples follow the highlighted row; jump to Browse on what the rule keeps in math
        from textual.widgets import DataTable

        t = screen.query_one("#s-domains", DataTable)
        t.focus()
        t.move_cursor(row=list(_rows(screen)).index("math"))
        await wait_for(pilot, lambda: screen.domain == "math", what="domain row")
        ex = screen.query_one("#s-examples", DataTable)
        await wait_for(pilot, lambda: ex.row_count == 10, what="examples")
        await pilot.press("b")
        browse = app.screen
        assert isinstance(browse, BrowseScreen)
        await wait_for(
            pilot,
            lambda: browse.filter is not None and not browse.querying and browse.filter.expression is not None,
            what="browse query",
        )
        assert browse.filter.domains == ["math"] and "score.ifd < 0.5" in browse.filter.expression
        assert (
            browse.count
            == exp2["math"]["keep"]
            == Browser(app.store, Filter(domains=["math"], expression="score.ifd < 0.5")).count()
        )

    _run(WorkbenchApp(db_path=db), body)


def test_heuristics_job_from_the_screen(tmp_path):
    db = _store(tmp_path, with_scores=False)

    async def body(pilot, app):
        screen = await _job(pilot, app, "h", "heuristics done", timeout=60)
        vals = metric_values(app.store, "h_empty_answer")
        assert len(vals) == 60 and sum(v == 1 for v in vals.values()) == 1
        await wait_for(pilot, lambda: screen.metric is not None, what="metrics listed")

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_ifd_job_runs_in_a_child_process_and_caches(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from tests.tiny_lm import tiny_llama, tiny_tokenizer

    model_dir = tmp_path / "tiny-model"
    tok = tiny_tokenizer()
    tiny_llama(tok).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    monkeypatch.setenv("WORKBENCH_SCORER", str(model_dir))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    db = _store(tmp_path, with_scores=False)

    async def body(pilot, app):
        from screens.scope_dialog import ScopeDialog

        screen = await _job(pilot, app, "s", "IFD job done", timeout=120)
        vals = metric_values(app.store, "ifd")
        assert len(vals) == 60
        assert sum(v is None for v in vals.values()) == 1  # the empty answer: NULL with a reason
        # pressing s again finds nothing to do: every sample is cached
        await pilot.press("s")
        await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "already scored" in plain(screen.query_one("#s-job")), timeout=30, what="cached")
        await wait_for(pilot, lambda: "ifd" in [m.metric for m in screen.metrics], what="metrics")

    _run(WorkbenchApp(db_path=db), body)


def test_superfiltering_selection_from_the_screen(tmp_path):
    db = _store(tmp_path)

    async def body(pilot, app):
        from engine.quality.selection import get_selection, selection_ids

        await pilot.press("3")
        screen = app.screen
        await wait_for(pilot, lambda: "math" in _rows(screen), what="summary")
        await pilot.press("p")
        from screens.scope_dialog import ScopeDialog
        from screens.widgets import FieldsDialog

        await wait_screen(pilot, app, ScopeDialog, what="scope first")
        await pilot.press("enter")  # every training sample: Browse has no filter yet
        dlg = await wait_screen(pilot, app, FieldsDialog, what="selection form")
        assert "among 60 samples: every training sample" in plain(dlg.query_one("#note"))
        await pilot.press(*"top20")  # name and rate are separate fields: tab to the rate
        await pilot.press("tab")
        rate = dlg.query_one("#fd-rate")
        assert app.focused is rate and rate.value == "0.1"
        rate.value = "5"  # a rate above 1 is refused in the form, which stays open
        await pilot.press("enter")
        await wait_for(pilot, lambda: "rate is the share" in plain(dlg.query_one("#error")), what="rate error")
        rate.value = "0.2"
        await pilot.press("enter")
        await wait_for(pilot, lambda: _has(app, "top20"), what="selection saved")
        sel = get_selection(app.store, "top20")
        assert sel.params["per"] == "domain" and sel.params["threshold"] == 1.0
        assert sel.n == 12  # int(30 * 0.2) = 6 per domain, all with ifd < 1
        assert len(selection_ids(app.store, "top20")) == 12

    _run(WorkbenchApp(db_path=db), body)


def _has(app, name: str) -> bool:
    from engine.quality.selection import list_selections

    return any(s.name == name for s in list_selections(app.store))


def test_narrow_layouts_keep_the_decision_columns(tmp_path):
    """At 100x30 Scores still shows keep and lose, and Browse keeps excl (and a sorted score column) while it
    hides the other score columns first."""
    from screens.browse import BASE_COLUMNS, decision_columns, score_column

    cols = list(BASE_COLUMNS) + [score_column(m) for m in ("ifd", "ppl", "a", "b", "c", "d", "e")]
    ranked = sorted(decision_columns(cols, "score.ppl", {}), key=lambda c: c.priority)
    hidden_first = [c.key for c in ranked][:8]
    assert "excluded" not in hidden_first and "score.ppl" not in hidden_first and "score.ifd" in hidden_first

    db = _store(tmp_path)

    async def body(pilot, app):
        await pilot.press("3")
        screen = app.screen
        await wait_for(pilot, lambda: "math" in _rows(screen), what="summary")
        t = screen.query_one("#s-domains")
        shown = t.scrollable_content_region.width
        widths = [c.get_render_width(t) for c in t.columns.values()]
        keys = [k.value for k in t.columns]
        assert sum(widths[: keys.index("lose") + 1]) <= shown < sum(widths)  # keep and lose on screen, unscrolled
        await pilot.press("2")
        from screens.browse import BrowseScreen

        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen) and app.screen.count, what="browse")
        table = app.screen.table
        await wait_for(pilot, lambda: bool(table.visible_columns), what="columns")
        keys = [c.key for c in table.visible_columns]
        assert "excluded" in keys and "instruction" in keys

    async def main():
        async with WorkbenchApp(db_path=db).run_test(size=(100, 30)) as pilot:
            app = pilot.app
            await wait_for(pilot, lambda: app.store is not None, what="store")
            await body(pilot, app)

    import asyncio

    asyncio.run(main())
