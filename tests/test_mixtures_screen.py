"""The Mixtures screen under Textual's pilot over a real store (the bundled sample pools): the default recipe
resolves with live counts, typing a share changes the requested/drawn counts, +/- nudge, a short domain
shows its warning, ctrl+s saves a version (and again saves nothing new), loading and diffing versions,
adding a component through the dialogs, and exporting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from engine.core.store import Store
from engine.mixtures import get_mixture, list_versions
from screens.mixtures import MixturesScreen
from screens.widgets import ChoiceDialog, InputDialog
from tests.helpers import plain, wait_for, wait_screen
from tests.helpers import run_app as _run
from workbench.app import WorkbenchApp
from workbench.cli import load_sample


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
    keys = [
        "domain",
        "share",
        "stage",
        "available",
        "avail_tokens",
        "requested",
        "drawn",
        "drawn_tokens",
        "replayed",
        "note",
    ]
    return _rows(screen)[dom][keys.index(name)]


@pytest.mark.slow
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
        await _settled(
            pilot,
            screen,
            lambda: screen.resolution.budget == 100
            and screen.shares["math"] == 70.0
            and _col(screen, "math", "requested") == "49",
            "math 70",
        )
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


@pytest.mark.slow
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
        await _settled(
            pilot,
            screen,
            lambda: _col(screen, "code", "share") == "26" and screen.resolution.recipe.proportions.get("code") == 0.26,
            "nudged",
        )
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
        await _settled(
            pilot,
            screen,
            lambda: screen.query_one("#m-seed", Input).value == "0"
            and screen.resolution is not None
            and screen.resolution.recipe.seed == 0,
            "loaded v1",
        )
        assert screen.resolution.content_hash == get_mixture(app.store, "mix1", 1).content_hash

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_add_component_with_filter_and_export(sample_db, tmp_path):
    db = _copy(sample_db, tmp_path)
    out = tmp_path / "out" / "m.jsonl"

    async def body(pilot, app):
        screen = await _open(pilot, app)
        n_comp = len(screen.components)
        await pilot.press("a")
        await wait_screen(pilot, app, ChoiceDialog, what="kind dialog")
        app.screen.dismiss("pool")
        await wait_screen(pilot, app, InputDialog, what="ref dialog")
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
        await wait_screen(pilot, app, InputDialog, what="filter dialog")
        app.screen.query_one("#value", Input).value = "n_tokens > 80"
        await pilot.press("enter")
        await _settled(
            pilot,
            screen,
            lambda: screen.resolution is not None and screen.resolution.recipe.components[-1].filter == "n_tokens > 80",
            "filtered",
        )
        con = app.store.cursor()
        n = con.execute(
            "SELECT count(*) FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.name = "
            "'sample_math' AND s.n_tokens > 80"
        ).fetchall()[0][0]
        con.close()
        assert _col(screen, "math", "available") == str(n) and 0 < n < 80
        screen.query_one("#m-name", Input).value = "filtered"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(screen.saved) == 1, what="saved")
        saved = screen.query_one("#m-saved", DataTable)
        saved.focus()
        await pilot.press("o")
        await wait_screen(pilot, app, InputDialog, what="export dialog")
        app.screen.query_one("#value", Input).value = f"{out} sharegpt"
        await pilot.press("enter")
        await wait_for(pilot, lambda: out.exists() and (out.parent / "dataset_info.json").exists(), what="export")
        lines = out.read_text().splitlines()
        assert len(lines) == screen.saved[0].n_items
        assert all("conversations" in json.loads(x) for x in lines)
        assert json.loads((out.parent / "dataset_info.json").read_text())["filtered_v1"]["file_name"] == "m.jsonl"

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_bad_budget_shows_an_error_not_a_crash(sample_db, tmp_path):
    db = _copy(sample_db, tmp_path)

    async def body(pilot, app):
        screen = await _open(pilot, app)
        screen.query_one("#m-budget", Input).value = "lots"
        await wait_for(
            pilot, lambda: "cannot resolve: budget" in plain(screen.query_one("#m-summary", Static)), what="error"
        )
        screen.query_one("#m-budget", Input).value = "1000"
        from textual.widgets import Select

        screen.query_one("#m-short", Select).value = "error"
        await wait_for(
            pilot, lambda: "short policy error" in plain(screen.query_one("#m-summary", Static)), what="short error"
        )

    _run(WorkbenchApp(db_path=db), body)


def test_counts_follow_data_changes(sample_db, tmp_path):
    """Excluding samples elsewhere (Browse, CLI) and announcing it refreshes the cached candidates."""
    db = _copy(sample_db, tmp_path)

    async def body(pilot, app):
        screen = await _open(pilot, app)
        assert _col(screen, "math", "available") == "80"
        from engine.data.query import Filter, bulk_exclude

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


async def _type_share(pilot, screen, dom: str, value: str) -> None:
    table = screen.query_one("#m-domains", DataTable)
    table.focus()
    table.move_cursor(row=list(_rows(screen)).index(dom))
    await pilot.pause()
    await pilot.press("e", *value, "enter")


def _stage_lines(dialog) -> list[str]:
    return [x for x in dialog.lines() if x.strip()]


@pytest.mark.slow
def test_dmt_stages_by_hand_recompute_and_save(sample_db, tmp_path):
    """s opens the stages dialog; DMT with k = 1/4 fills two stages; the counts recompute with replays; the
    saved version keeps the stages and its items their stage numbers; No stages clears them."""
    from engine.mixtures import dmt_stages, items
    from screens.mixtures import StagesDialog

    db = _copy(sample_db, tmp_path)

    async def body(pilot, app):
        screen = await _open(pilot, app)
        screen.query_one("#m-budget", Input).value = "100"
        for dom, v in (("math", "40"), ("code", "32"), ("general", "28"), ("tool_use", "0")):
            await _type_share(pilot, screen, dom, v)
        await _settled(
            pilot,
            screen,
            lambda: screen.resolution.budget == 100
            and screen.resolution.recipe.proportions == {"math": 0.4, "code": 0.32, "general": 0.28},
            "shares",
        )
        assert all(_col(screen, d, "stage") == "" for d in _rows(screen))
        await pilot.press("s")
        await wait_screen(pilot, app, StagesDialog, what="stages dialog")
        dialog = app.screen
        assert _stage_lines(dialog) == []
        k = dialog.query_one("#st-k", Input)
        assert k.value == "1/256"
        k.value = "1/4"
        k.focus()
        await pilot.press("enter")  # enter in the k field fills DMT
        assert _stage_lines(dialog) == ["specialised = code, math", "general = general | replay code=0.25, math=0.25"]
        assert dialog.query_one("#st-0", Input).has_focus
        await pilot.press("enter")  # enter in a stage line is OK
        await wait_screen(pilot, app, MixturesScreen, what="dialog closed")
        await _settled(pilot, screen, lambda: screen.resolution.recipe.stages is not None, "staged")
        assert screen.stages == dmt_stages(["code", "math"], ["general"], 0.25)
        assert {d: _col(screen, d, "stage") for d in _rows(screen)} == {
            "code": "1 specialised",
            "math": "1 specialised",
            "general": "2 general",
            "tool_use": "",
        }
        drawn = {d: int(_col(screen, d, "drawn")) for d in ("code", "math", "general")}
        assert drawn == {"math": 40, "code": 32, "general": 28}
        want_rep = {d: int(0.25 * drawn[d] + 0.5) for d in ("code", "math")}  # round half up, as the engine
        assert {d: _col(screen, d, "replayed") for d in ("code", "math", "general")} == {
            "code": str(want_rep["code"]),
            "math": str(want_rep["math"]),
            "general": "",
        }
        n_rep = sum(want_rep.values())
        assert screen.resolution.n_items == 100 + n_rep
        summary = plain(screen.query_one("#m-summary", Static))
        assert "stage 1 specialised: code, math · 72 items" in summary
        assert (
            f"stage 2 general: general · replay code 0.25, math 0.25 · {28 + n_rep} items ({n_rep} replayed)" in summary
        )
        prev = screen.query_one("#m-preview", DataTable)
        first = [str(c) for c in prev.get_row_at(0)]
        assert first[0] == "1 specialised" and first[2] in ("code", "math")
        # save: the version keeps the stages, its items their stage numbers
        screen.query_one("#m-name", Input).value = "dmt"
        screen.query_one("#m-domains", DataTable).focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(screen.saved) == 1, what="saved")
        mv = get_mixture(app.store, "dmt")
        assert mv.recipe.stages == dmt_stages(["code", "math"], ["general"], 0.25)
        its = items(app.store, mv.id)
        assert len(its) == 100 + n_rep
        by_stage: dict[tuple, int] = {}
        for i in its:
            key = (i.stage, i.domain, i.component.startswith("replay:"))
            by_stage[key] = by_stage.get(key, 0) + 1
        assert by_stage == {
            (0, "code", False): 32,
            (0, "math", False): 40,
            (1, "general", False): 28,
            (1, "code", True): want_rep["code"],
            (1, "math", True): want_rep["math"],
        }
        # No stages clears them: one stage again, no replays
        await pilot.press("s")
        await wait_screen(pilot, app, StagesDialog, what="stages dialog again")
        assert _stage_lines(app.screen) == [
            "specialised = code, math",
            "general = general | replay code=0.25, math=0.25",
        ]
        await pilot.click("#none")
        await _settled(pilot, screen, lambda: screen.resolution.recipe.stages is None, "no stages")
        assert screen.stages is None and screen.resolution.n_items == 100
        assert all(_col(screen, d, "stage") == "" and _col(screen, d, "replayed") == "" for d in _rows(screen))
        assert "stage 1" not in plain(screen.query_one("#m-summary", Static))

    _run(WorkbenchApp(db_path=db), body)


def test_stages_dialog_shows_engine_errors_inline(sample_db, tmp_path):
    from screens.mixtures import StagesDialog

    db = _copy(sample_db, tmp_path)

    async def body(pilot, app):
        screen = await _open(pilot, app)
        await pilot.press("s")
        await wait_screen(pilot, app, StagesDialog, what="stages dialog")
        dialog = app.screen
        err = dialog.query_one("#error", Static)
        line0, line1 = dialog.query_one("#st-0", Input), dialog.query_one("#st-1", Input)
        cases = [
            (("one = math, code", ""), "domain(s) general, tool_use have a share but are in no stage"),
            (("one = math, code, physics", ""), "unknown domain 'physics'"),
            (("one = math, code, general, tool_use", "two = | replay math=lots"), "'lots' is not a fraction"),
            (("one = math, code, general, tool_use", "two = | replay math=2"), "must be a fraction in [0, 1]"),
            (
                ("one = math, code", "two = general, tool_use | replay general=0.5"),  # resolve's error (worker)
                "replay of 'general', which no earlier stage draws",
            ),
            (("math, code", ""), "expected NAME = dom, dom"),
        ]
        for (a, b), want in cases:
            line0.value, line1.value = a, b
            line0.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda want=want: want in plain(err), what=want)
            assert isinstance(app.screen, StagesDialog) and not dialog.busy
        await pilot.press("escape")
        await wait_screen(pilot, app, MixturesScreen, what="cancelled")
        assert screen.stages is None

    _run(WorkbenchApp(db_path=db), body)


def test_stage_lines_round_trip_and_errors():
    from engine.mixtures import MixtureError, Stage
    from screens.mixtures import format_stage, parse_fraction, parse_stages

    stages = parse_stages(["a = math, code", "", "b = general | replay math=1/256, *=25%", "c = tool_use | *=0.5"])
    assert stages == [
        Stage("a", ["math", "code"]),
        Stage("b", ["general"], {"math": 1 / 256, "*": 0.25}),
        Stage("c", ["tool_use"], {"*": 0.5}),
    ]
    assert parse_stages([format_stage(s) for s in stages]) == stages
    assert parse_fraction("0.0039") == 0.0039 and parse_fraction("1/4") == 0.25
    for lines, want in (
        (["a = x", "a = y"], "stage name 'a' is used twice"),
        (["= math"], "stage line 1: expected NAME"),
        (["a = x | replay math"], "expected DOMAIN=FRACTION"),
        (["a = x | replay math=1/0"], "'1/0' is not a fraction"),
    ):
        with pytest.raises(MixtureError, match=want):
            parse_stages(lines)
