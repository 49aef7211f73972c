"""The Mixtures screen under Textual's pilot over a real store (the bundled sample pools): the default recipe
resolves with live counts, typing a share changes the requested/drawn counts, +/- nudge, a short domain
shows its warning, ctrl+s saves a version (and again saves nothing new), loading and diffing versions,
adding a component through the dialogs, and exporting."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from engine.mixtures import get_mixture, list_versions
from engine.store import Store
from screens.mixtures import MixturesScreen
from screens.widgets import ChoiceDialog, InputDialog
from tests.test_app import SIZE, plain, wait_for
from workbench.app import WorkbenchApp
from workbench.cli import load_sample


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("mixscreen") / "sample.duckdb"
    with Store(p) as st:
        load_sample(st)
    return p


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "wb.duckdb"
    dst.write_bytes(src.read_bytes())
    return dst


def _run(app, body):
    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.store is not None and "samples" in app.store_status, what="store")
            await body(pilot, app)

    asyncio.run(main())


def _rows(screen) -> dict[str, list[str]]:
    t = screen.query_one("#m-domains", DataTable)
    return {str(rk.value): [str(c) for c in t.get_row(rk)] for rk in t.rows}


async def _open(pilot, app) -> MixturesScreen:
    await pilot.press("5")
    screen = app.screen
    assert isinstance(screen, MixturesScreen)
    await wait_for(pilot, lambda: screen.resolution is not None and len(_rows(screen)) == 4, what="first resolution")
    return screen


async def _settled(pilot, screen, pred, what):
    await wait_for(pilot, lambda: screen._timer is None and pred(), what=what)


def _col(screen, dom: str, name: str) -> str:
    keys = ["domain", "share", "stage", "available", "avail_tokens", "requested", "drawn", "drawn_tokens", "note"]
    return _rows(screen)[dom][keys.index(name)]


def test_default_recipe_and_typed_share_changes_counts(sample_db, tmp_path):
    db = _copy(sample_db, tmp_path)

    async def body(pilot, app):
        screen = await _open(pilot, app)
        rows = _rows(screen)
        assert set(rows) == {"code", "general", "math", "tool_use"}
        # equal shares, budget max: the smallest domain (tool_use, 60) limits the budget to 4 x 60
        assert all(_col(screen, d, "share") == "25" for d in rows)
        assert screen.resolution.budget == 240
        assert {d: _col(screen, d, "drawn") for d in rows} == {d: "60" for d in rows}
        assert _col(screen, "general", "available") == "100"
        # type a budget and a share: math 70 % of 100 -> 70 requested, 80 available
        budget = screen.query_one("#m-budget", Input)
        budget.value = "100"
        table = screen.query_one("#m-domains", DataTable)
        table.focus()
        table.move_cursor(row=list(_rows(screen)).index("math"))
        await pilot.pause()
        await pilot.press("e")
        assert screen.query_one("#m-share", Input).has_focus
        await pilot.press("7", "0", "enter")  # the field's text is selected on focus: 70 % of a 145 % total
        await _settled(pilot, screen, lambda: screen.resolution.budget == 100
                       and screen.shares["math"] == 70.0 and _col(screen, "math", "requested") == "49", "math 70")
        # 70 / 145 of 100 = 48.28, the others 25 / 145 of 100 = 17.24 each: floors 48 + 3 x 17 = 99, and the
        # one left goes to the largest remainder (math's .28)
        req = {d: int(_col(screen, d, "requested")) for d in _rows(screen)}
        assert req == {"math": 49, "code": 17, "general": 17, "tool_use": 17}
        assert "normalised" in plain(screen.query_one("#m-sum", Static))
        # now make math short: 400 samples at 70 / 145 -> 193 requested, 80 available
        budget.value = "400"
        await _settled(pilot, screen, lambda: _col(screen, "math", "requested") == "193", "math short")
        assert _col(screen, "math", "drawn") == "80" and "short by 113" in _col(screen, "math", "note")
        summary = plain(screen.query_one("#m-summary", Static))
        assert "math: 193 samples requested, 80 available; took all 80 (short policy take_all)" in summary

    _run(app := WorkbenchApp(db_path=db), body)
    assert app.return_code in (None, 0)


def test_nudge_save_version_and_diff(sample_db, tmp_path):
    db = _copy(sample_db, tmp_path)

    async def body(pilot, app):
        screen = await _open(pilot, app)
        screen.query_one("#m-budget", Input).value = "80"
        await _settled(pilot, screen, lambda: screen.resolution.budget == 80, "budget 80")
        assert {int(_col(screen, d, "drawn")) for d in _rows(screen)} == {20}
        # +/- on the domain table nudge the highlighted share by one point
        table = screen.query_one("#m-domains", DataTable)
        table.focus()
        table.move_cursor(row=list(_rows(screen)).index("code"))
        await pilot.pause()
        await pilot.press("plus", "plus", "minus")
        assert screen.shares["code"] == 26.0
        await _settled(pilot, screen, lambda: _col(screen, "code", "share") == "26"
                       and screen.resolution.recipe.proportions.get("code") == 0.26, "nudged")
        # save needs a name: ctrl+s without one focuses the name field
        await pilot.press("ctrl+s")
        assert screen.query_one("#m-name", Input).has_focus
        await pilot.press(*"mix1")
        table.focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(screen.saved) == 1, what="saved v1")
        assert screen.saved[0].label == "mix1@1" and screen.saved[0].n_items == 80
        # saving again without a change makes no new version
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "unchanged" in plain(screen.query_one("#m-status", Static)), what="unchanged")
        assert len(list_versions(app.store)) == 1
        # change the seed: a new version, then diff it with v1
        screen.query_one("#m-seed", Input).value = "7"
        await _settled(pilot, screen, lambda: screen.resolution.recipe.seed == 7, "seed 7")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(screen.saved) == 2, what="saved v2")
        saved = screen.query_one("#m-saved", DataTable)
        saved.focus()
        saved.move_cursor(row=1)
        await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: "diff mix1 v1 → v2" in plain(screen.query_one("#m-summary", Static)), what="diff")
        text = plain(screen.query_one("#m-summary", Static))
        assert "seed: 0 → 7" in text
        # load v1 back into the editor: the seed field follows
        saved.move_cursor(row=0)
        await pilot.pause()
        await pilot.press("l")
        await _settled(pilot, screen, lambda: screen.query_one("#m-seed", Input).value == "0"
                       and screen.resolution is not None and screen.resolution.recipe.seed == 0, "loaded v1")
        assert screen.resolution.content_hash == get_mixture(app.store, "mix1", 1).content_hash

    _run(WorkbenchApp(db_path=db), body)


def test_add_component_with_filter_and_export(sample_db, tmp_path):
    db = _copy(sample_db, tmp_path)
    out = tmp_path / "out" / "m.jsonl"

    async def body(pilot, app):
        screen = await _open(pilot, app)
        n_comp = len(screen.components)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceDialog), what="kind dialog")
        app.screen.dismiss("pool")
        await wait_for(pilot, lambda: isinstance(app.screen, InputDialog), what="ref dialog")
        assert app.screen._choices == ["sample_code", "sample_general", "sample_math", "sample_tool_use"]
        app.screen.query_one("#value", Input).value = "sample_math"
        app.screen.query_one("#value", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.components) == n_comp + 1, what="component added")
        assert screen.components[-1].kind == "pool" and screen.components[-1].ref == "sample_math"
        # filter the new component; the math domain component comes first in the recipe, so restrict it too
        comps = screen.query_one("#m-components", DataTable)
        comps.focus()
        math_i = next(i for i, c in enumerate(screen.components) if c.ref == "math")
        comps.move_cursor(row=math_i)
        await pilot.pause()
        await pilot.press("x")
        await wait_for(pilot, lambda: len(screen.components) == n_comp, what="removed")
        comps.move_cursor(row=len(screen.components) - 1)
        await pilot.pause()
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, InputDialog), what="filter dialog")
        app.screen.query_one("#value", Input).value = "n_tokens > 80"
        await pilot.press("enter")
        await _settled(pilot, screen, lambda: screen.resolution is not None
                       and screen.resolution.recipe.components[-1].filter == "n_tokens > 80", "filtered")
        con = app.store.cursor()
        n = con.execute("SELECT count(*) FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.name = "
                        "'sample_math' AND s.n_tokens > 80").fetchall()[0][0]
        con.close()
        assert _col(screen, "math", "available") == str(n) and 0 < n < 80
        screen.query_one("#m-name", Input).value = "filtered"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(screen.saved) == 1, what="saved")
        saved = screen.query_one("#m-saved", DataTable)
        saved.focus()
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, InputDialog), what="export dialog")
        app.screen.query_one("#value", Input).value = f"{out} sharegpt"
        await pilot.press("enter")
        await wait_for(pilot, lambda: out.exists() and (out.parent / "dataset_info.json").exists(), what="export")
        lines = out.read_text().splitlines()
        assert len(lines) == screen.saved[0].n_items
        assert all("conversations" in json.loads(x) for x in lines)
        assert json.loads((out.parent / "dataset_info.json").read_text())["filtered_v1"]["file_name"] == "m.jsonl"

    _run(WorkbenchApp(db_path=db), body)


def test_bad_budget_shows_an_error_not_a_crash(sample_db, tmp_path):
    db = _copy(sample_db, tmp_path)

    async def body(pilot, app):
        screen = await _open(pilot, app)
        screen.query_one("#m-budget", Input).value = "lots"
        await wait_for(pilot, lambda: "cannot resolve: budget" in plain(screen.query_one("#m-summary", Static)),
                       what="error")
        screen.query_one("#m-budget", Input).value = "1000"
        from textual.widgets import Select

        screen.query_one("#m-short", Select).value = "error"
        await wait_for(pilot, lambda: "short policy error" in plain(screen.query_one("#m-summary", Static)),
                       what="short error")

    _run(WorkbenchApp(db_path=db), body)


def test_counts_follow_data_changes(sample_db, tmp_path):
    """Excluding samples elsewhere (Browse, CLI) and announcing it refreshes the cached candidates."""
    db = _copy(sample_db, tmp_path)

    async def body(pilot, app):
        screen = await _open(pilot, app)
        assert _col(screen, "math", "available") == "80"
        from engine.query import Filter, bulk_exclude

        n = bulk_exclude(app.store, Filter(expression="domain = 'math' and n_tokens > 60"))
        assert 0 < n < 80
        app.data_changed("samples")
        await _settled(pilot, screen, lambda: _col(screen, "math", "available") == str(80 - n), "fewer math")
        # budget max follows: the smallest domain now limits it
        assert screen.resolution.budget == 4 * min(80 - n, 60)

    _run(WorkbenchApp(db_path=db), body)


def test_f1_help_lists_the_mixtures_keys(sample_db, tmp_path):
    from screens.help import HelpScreen

    db = _copy(sample_db, tmp_path)

    async def body(pilot, app):
        await _open(pilot, app)
        await pilot.press("f1")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        local = plain(help_screen.query_one("#keys-local", Static))
        assert "Save the recipe as a version" in local and "Add a component" in local
        assert "ours" in help_screen.query_one("#help-text").source  # the rules are ours, and it says so
        await pilot.press("f1")
        assert isinstance(app.screen, MixturesScreen)

    _run(WorkbenchApp(db_path=db), body)
