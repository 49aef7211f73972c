"""The Textual app: the action registry, and the real app under `App.run_test()` over a real DuckDB store.

No mocks: stores are built by importing small JSONL files written here with engine.data.ingest.import_file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench import actions as registry
from workbench.actions import ACTIONS, Action, bindings_for, check_keymap, load_keymap

# -- the action registry ----------------------------------------------------------------------------------


def test_action_ids_are_unique():
    ids = [a.id for a in ACTIONS]
    assert len(ids) == len(set(ids))


def test_no_key_conflict_between_contexts_live_at_once():
    for a in ACTIONS:
        for b in ACTIONS:
            if a.id >= b.id or not registry.active_together(a.context, b.context):
                continue
            clash = set(a.keys) & set(b.keys)
            assert not clash, f"{a.id} and {b.id} share {clash}"


def test_every_context_has_bindings_with_ids_and_descriptions():
    for ctx in registry.contexts():
        bs = bindings_for(ctx)
        assert bs, ctx
        for b in bs:
            assert b.id and b.description and b.action
    assert {b.id for b in bindings_for("global")} >= {"app.help", "app.quit", "app.palette", "app.mode_pools"}


def test_keymap_overrides_default_key(tmp_path):
    p = tmp_path / "keymap.toml"
    p.write_text('[keys]\n"pools.import" = "ctrl+o"\nbrowse.tag = "ctrl+g"\n')
    res = load_keymap(p)
    assert res.warnings == []
    assert res.overrides == {"pools.import": "ctrl+o", "browse.tag": "ctrl+g"}
    registry.apply_keymap(res.overrides)
    try:
        assert registry.get("pools.import").key == "ctrl+o"
        assert registry.get("pools.rename").key == "r"
    finally:
        registry.apply_keymap({})
    assert registry.get("pools.import").key == "i"


def test_bad_keymap_is_reported_not_raised(tmp_path):
    p = tmp_path / "keymap.toml"
    p.write_text(
        '[keys]\n"no.such" = "x"\n"pools.rename" = "d"\n"pools.delete" = 3\n"browse.tag" = "ctrl+t"\n[colors]\nx = 1\n'
    )
    res = load_keymap(p)
    text = "\n".join(res.warnings)
    assert "unknown action id 'no.such'" in text
    assert "pools.rename" in text and "conflicts with pools.delete" in text
    assert "pools.delete" in text and "non-empty string" in text
    assert "unknown section [colors]" in text
    assert res.overrides == {"browse.tag": "ctrl+t"}
    # A global key may not be taken by a screen action either.
    assert check_keymap({"browse.tag": "q"}).overrides == {}
    # Broken TOML is a warning too.
    p.write_text("[keys\n")
    res = load_keymap(p)
    assert res.overrides == {} and "cannot read keymap" in res.warnings[0]
    assert load_keymap(tmp_path / "missing.toml").warnings == []


def test_keymap_template_lists_every_action():
    t = registry.keymap_template()
    for a in ACTIONS:
        assert f'"{a.id}"' in t
    assert isinstance(Action("x.y", "a", "d").textual_action, str)


# -- the app over a real store ----------------------------------------------------------------------------

import asyncio  # noqa: E402

from textual.command import CommandPalette  # noqa: E402
from textual.widgets import Button, DataTable, Input, OptionList, Select, Static  # noqa: E402

from engine.core.store import Store  # noqa: E402
from engine.data.ingest import import_file  # noqa: E402
from engine.data.pools import list_pools  # noqa: E402
from engine.data.query import Browser, Filter, get_sample  # noqa: E402
from screens.browse import BrowseScreen, DetailPane  # noqa: E402
from screens.help import HelpScreen  # noqa: E402
from screens.import_dialog import ImportDialog  # noqa: E402
from screens.pools import PoolsScreen  # noqa: E402
from screens.sample_table import PAGE_SIZE, SampleTable  # noqa: E402
from screens.widgets import ConfirmDialog, InputDialog  # noqa: E402
from tests.helpers import (  # noqa: E402
    SIZE,
    chat_records,
    plain,
    run_app,  # noqa: E402
    wait_for,
    wait_screen,
    write_jsonl,
)
from workbench.app import WorkbenchApp  # noqa: E402


def write_alpaca(path: Path, n: int) -> Path:
    with path.open("w") as f:
        for i in range(n):
            f.write(
                json.dumps(
                    {
                        "instruction": f"Write a haiku about topic {i}",
                        "input": "" if i % 2 else f"context {i}",
                        "output": f"Haiku {i}\nline two\nline three" + (" and more words" * (i % 7)),
                    }
                )
                + "\n"
            )
    return path


def write_chat(path: Path, n: int) -> Path:
    return write_jsonl(path, chat_records(n))


def write_bad(path: Path) -> Path:
    with path.open("w") as f:
        for i in range(10):
            rec = {"instruction": f"q{i}", "input": "", "output": f"a{i}"}
            if i in (3, 7):
                rec["output"] = [1, 2]
            f.write(json.dumps(rec) + "\n")
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    """A store with two pools: 'haiku' (450 alpaca records, general) and 'chat' (20 messages, math)."""
    p = tmp_path / "wb.duckdb"
    with Store(p) as s:
        import_file(s, write_alpaca(tmp_path / "haiku.jsonl", 450), pool="haiku")
        import_file(s, write_chat(tmp_path / "chat.jsonl", 20), pool="chat", domain="math")
    return p


def run(coro_fn, app: WorkbenchApp) -> None:
    run_app(app, coro_fn)


async def open_browse(pilot, app) -> tuple[BrowseScreen, SampleTable]:
    await pilot.press("2")
    screen = app.screen
    assert isinstance(screen, BrowseScreen)
    await wait_for(pilot, lambda: screen.filter is not None and not screen.querying, what="query")
    table = screen.query_one(SampleTable)
    await wait_for(pilot, table.all_visible_loaded, what="rows")
    return screen, table


def status_text(screen) -> str:
    return plain(screen.query_one("#browse-status", Static))


def test_app_opens_on_pools_with_store_status(db):
    async def body(pilot, app):
        assert app.current_mode == "pools"
        screen = app.screen
        assert isinstance(screen, PoolsScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="pool rows")
        assert app.store_status == "wb.duckdb · 2 pools · 470 samples"
        names = [table.get_row_at(i)[0] for i in range(2)]
        assert names == ["haiku", "chat"]
        assert "math 20" in table.get_row_at(1)[table.get_column_index("domains")]
        assert str(table.get_row_at(1)[table.get_column_index("role")]) == "train"

    run(body, WorkbenchApp(db_path=db))


def test_import_via_dialog(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_alpaca(tmp_path / "fresh.jsonl", 30)
    db = tmp_path / "wb.duckdb"

    async def body(pilot, app):
        await pilot.press("i")
        dlg = app.screen
        assert isinstance(dlg, ImportDialog)
        await pilot.press(*"fresh.jsonl")
        await wait_for(pilot, lambda: dlg.detection is not None, what="detection")
        detected = plain(dlg.query_one("#detected", Static))
        assert "alpaca" in detected and "instruction" in detected
        assert "user: Write a haiku about topic 0" in plain(dlg.query_one("#preview", Static))
        assert dlg.query_one("#pool", Input).value == "fresh"
        # A custom domain.
        dlg.query_one("#domain", Select).value = "__custom__"
        await pilot.pause()
        dlg.query_one("#custom-domain", Input).value = "poetry"
        button = dlg.query_one("#import", Button)
        button.active_effect_duration = 0
        assert not button.disabled
        await pilot.click("#import")
        await wait_for(pilot, lambda: app.screen is not dlg, what="dialog closes")
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="pool row")
        assert table.get_row_at(0)[0] == "fresh" and table.get_row_at(0)[1] == "poetry"
        await wait_for(pilot, lambda: "30 samples" in app.store_status, what="status")

    run(body, WorkbenchApp(db_path=db))
    with Store(db) as s:
        [p] = list_pools(s)
        assert (p.name, p.n_samples, p.domain) == ("fresh", 30, "poetry")


@pytest.mark.slow
def test_import_dialog_path_check_and_failure_lists_every_issue(tmp_path):
    bad = write_bad(tmp_path / "bad.jsonl")
    db = tmp_path / "wb.duckdb"

    async def body(pilot, app):
        await pilot.press("i")
        dlg = app.screen
        path = dlg.query_one("#path", Input)
        path.value = str(tmp_path / "nope.jsonl")
        await wait_for(pilot, lambda: "no such file" in plain(dlg.query_one("#path-status", Static)))
        assert dlg.query_one("#import", Button).disabled
        path.value = str(bad)
        await wait_for(pilot, lambda: dlg.detection is not None, what="detection")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not dlg.importing and dlg.query_one("#errors").has_class("-show"), what="errors")
        lines = [str(line.text) for line in dlg.query_one("#errors").lines]
        text = "\n".join(lines)
        assert "bad.jsonl:4 (record 3) field 'output'" in text
        assert "bad.jsonl:8 (record 7) field 'output'" in text
        assert "nothing was imported" in plain(dlg.query_one("#import-status", Static))
        assert app.screen is dlg  # the dialog stays, nothing is lost
        # Retry with skip-invalid: imports the 8 good records.
        dlg.query_one("#skip").value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is not dlg, what="dialog closes")

    run(body, WorkbenchApp(db_path=db))
    with Store(db) as s:
        [p] = list_pools(s)
        assert p.n_samples == 8


def test_import_can_be_cancelled(tmp_path):
    big = write_alpaca(tmp_path / "big.jsonl", 50_000)
    db = tmp_path / "wb.duckdb"

    async def body(pilot, app):
        await pilot.press("i")
        dlg = app.screen
        dlg.query_one("#path", Input).value = str(big)
        await wait_for(pilot, lambda: dlg.detection is not None, what="detection")
        # Start, then escape at once: the first escape cancels the running job and the dialog stays.
        dlg.action_run_import()
        assert dlg.importing
        await pilot.press("escape")
        assert app.screen is dlg
        await wait_for(pilot, lambda: not dlg.importing, timeout=60, what="import stops")
        assert app.screen is dlg
        assert "cancelled: nothing was imported" in plain(dlg.query_one("#import-status", Static))
        assert dlg.query_one("#cancel", Button).label.plain == "Close"
        await pilot.press("escape")  # now it closes
        assert app.screen is not dlg

    run(body, WorkbenchApp(db_path=db))
    with Store(db) as s:
        assert list_pools(s) == []


def test_browse_renders_moves_and_pages(db):
    async def body(pilot, app):
        screen, table = await open_browse(pilot, app)
        assert table.count == 470 and screen.scope_count == 470
        assert "row 1 · 470 of 470 samples · all pools" in status_text(screen)
        assert table.row_at(0)["instruction"].startswith("Write a haiku about topic 0")
        # Only the first page is in memory.
        assert table.row_at(PAGE_SIZE + 5) is None
        await pilot.press("j", "j", "down")
        assert table.cursor == 3
        await pilot.press("k")
        assert table.cursor == 2
        await pilot.press("ctrl+d")
        assert table.cursor == 2 + table.body_height
        await pilot.press("G")
        assert table.cursor == 469
        await wait_for(pilot, table.all_visible_loaded, what="last page")
        assert table.row_at(469)["pool"] == "chat"
        assert table.row_at(300) is not None or table.row_at(469) is not None
        assert "row 470 · 470 of 470" in status_text(screen)
        await pilot.press("g")
        assert table.cursor == 0 and int(table.scroll_y) == 0
        # Scroll (no cursor move) into the second page: its rows load from the store.
        table.scroll_to(y=PAGE_SIZE + 10, animate=False, immediate=True)
        await wait_for(pilot, table.all_visible_loaded, what="second page")
        assert table.row_at(PAGE_SIZE + 10)["id"] == PAGE_SIZE + 11

    run(body, WorkbenchApp(db_path=db))


def test_browse_from_pools_enter_filters_to_pool(db):
    async def body(pilot, app):
        pools = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: pools.row_count == 2)
        pools.focus()
        await pilot.press("down", "enter")
        screen = app.screen
        assert isinstance(screen, BrowseScreen)
        await wait_for(pilot, lambda: screen.count == 20 and not screen.querying, what="pool filter")
        assert "20 of 20 samples · pool chat" in status_text(screen)

    run(body, WorkbenchApp(db_path=db))


@pytest.mark.slow
def test_filter_text_expression_and_errors(db):
    async def body(pilot, app):
        screen, table = await open_browse(pilot, app)
        await pilot.press("slash")
        assert app.focused.id == "f-text"
        await pilot.press(*"topic 1", "enter")
        await wait_for(pilot, lambda: screen.filter.text == "topic 1" and not screen.querying)
        # "topic 1", "topic 1x", "topic 1xx": 1 + 10 + 100 of the 450 haiku.
        assert screen.count == 111
        assert "111 of 470 samples" in status_text(screen)
        assert app.focused is table
        # An expression narrows further.
        screen.query_one("#f-expr", Input).focus()
        await pilot.press(*"n_turns = 2 and id < 50", "enter")
        await wait_for(pilot, lambda: screen.filter.expression and not screen.querying)
        assert screen.count == 11  # topic 1 and topic 10..19 have ids 2, 11..20
        # A bad expression: shown inline with its position; the last good filter stays.
        screen.query_one("#f-expr", Input).value = "n_tokens > and"
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.filter_error, what="error")
        assert "filter error" in screen.filter_error and "^" in screen.filter_error
        assert screen.query_one("#f-error").has_class("-show")
        assert screen.count == 11 and table.count == 11
        screen.query_one("#f-expr", Input).value = "no_such_field = 1"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "no_such_field" in screen.filter_error, what="field error")
        # Bulk actions refuse to run while the filter is broken.
        await pilot.press("escape", "t")
        assert not isinstance(app.screen, InputDialog)
        # Clearing everything brings every sample back.
        await pilot.press("c")
        await wait_for(pilot, lambda: screen.count == 470 and not screen.filter_error, what="cleared")

    run(body, WorkbenchApp(db_path=db))


def test_detail_pane_shows_the_conversation(db):
    async def body(pilot, app):
        screen, table = await open_browse(pilot, app)
        await pilot.press("G")
        await wait_for(pilot, lambda: table.cursor_row is not None)
        await pilot.press("enter")
        pane = screen.query_one(DetailPane)
        assert pane.has_class("-show")
        body_w = screen.query_one("#detail-body", Static)
        await wait_for(pilot, lambda: "#470" in plain(body_w), what="detail")
        text = plain(body_w)
        for needle in (
            "pool chat",
            "domain math",
            "chat.jsonl:20",
            "system",
            "You are terse.",
            "user",
            "What is 19+19?",
            "assistant",
            "38",
            "print(19 + 19)",
        ):
            assert needle in text, needle
        # Moving the cursor follows in the pane.
        await pilot.press("k")
        await wait_for(pilot, lambda: "#469" in plain(body_w), what="detail follows")
        await pilot.press("enter")
        assert not pane.has_class("-show")

    run(body, WorkbenchApp(db_path=db))


@pytest.mark.slow
def test_bulk_tag_applies_to_exactly_the_filtered_samples(db):
    async def body(pilot, app):
        screen, table = await open_browse(pilot, app)
        screen.query_one("#f-expr", Input).value = "n_chars > 60 and pool = 'haiku'"
        screen.query_one("#f-expr", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.filter.expression and not screen.querying)
        n = screen.count
        assert 0 < n < 450
        table.focus()
        await pilot.press("t")
        dlg = app.screen
        assert isinstance(dlg, InputDialog)
        assert f"all {n:,} samples matching" in plain(dlg.query_one("#note", Static))
        await pilot.press(*"long", "enter")
        await wait_for(
            pilot, lambda: any("Tagged 'long'" in str(m.message) for m in app._notifications), what="notification"
        )
        assert any(f"{n:,} samples" in str(m.message) for m in app._notifications)
        # Exclude them too, through the confirm dialog that names the count.
        await pilot.press("x")
        dlg = app.screen
        assert isinstance(dlg, ConfirmDialog)
        assert f"{n:,} samples" in plain(dlg.query_one("#message", Static))
        dlg.query_one("#confirm", Button).active_effect_duration = 0
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: any("Excluded" in str(m.message) for m in app._notifications))
        # And set their domain.
        await pilot.press("m")
        dlg = app.screen
        assert isinstance(dlg, InputDialog)
        dlg.query_one("#value", Input).value = "poetry"
        dlg.query_one("#value", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("Domain set to poetry" in str(m.message) for m in app._notifications))
        await wait_for(pilot, lambda: not screen.querying and table.all_visible_loaded())
        row = table.row_at(0)
        assert row["tags"] == ["long"] and row["excluded"] and row["domain"] == "poetry"

    run(body, WorkbenchApp(db_path=db))
    with Store(db) as s:
        expected = set(Browser(s, Filter(expression="n_chars > 60 and pool = 'haiku'")).ids())
        tagged = set(Browser(s, Filter(tags=["long"])).ids())
        assert tagged == expected
        assert set(Browser(s, Filter(expression="excluded")).ids()) == expected
        assert set(Browser(s, Filter(domains=["poetry"])).ids()) == expected
        assert get_sample(s, min(expected)).tags == ["long"]


def test_sort_by_column(db):
    async def body(pilot, app):
        screen, table = await open_browse(pilot, app)
        await pilot.press("s")
        dlg = app.screen
        ol = dlg.query_one(OptionList)
        ids = [ol.get_option_at_index(i).id for i in range(ol.option_count)]
        assert "tags" not in ids and "n_chars" in ids
        ol.highlighted = ids.index("n_chars")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: screen.sort == [("n_chars", False)] and not screen.querying and table.all_visible_loaded()
        )
        first = table.row_at(0)["n_chars"]
        await pilot.press("S")
        await wait_for(
            pilot, lambda: screen.sort == [("n_chars", True)] and not screen.querying and table.all_visible_loaded()
        )
        assert table.row_at(0)["n_chars"] > first
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: screen.sort[0][0] == "n_tokens")
        assert "sort n_tokens" in status_text(screen)

    run(body, WorkbenchApp(db_path=db))


def test_f1_help_for_the_focused_widget(db):
    async def body(pilot, app):
        await pilot.press("f1")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        title = str(help_screen.query_one("#help-title").render())
        assert title == "Help — Pools"  # the user's words, not widget class names
        md = help_screen.query_one("#help-text").source
        assert "One row per pool" in md
        local = plain(help_screen.query_one("#keys-local", Static))
        assert "Import a data file into a pool" in local and "Delete the selected pool" in local
        glob = plain(help_screen.query_one("#keys-global", Static))
        assert "Quit Workbench" in glob and "q / ctrl+q" in glob and "Go to Browse" in glob
        await pilot.press("f1")
        assert isinstance(app.screen, PoolsScreen)
        # On Browse with the filter text focused: the filter bar's help and the Browse keys.
        screen, _ = await open_browse(pilot, app)
        await pilot.press("slash", "f1")
        help_screen = app.screen
        title = str(help_screen.query_one("#help-title").render())
        assert title.startswith("Help — Browse · ") and "the “search instruction / response / system” field" in title
        assert "#" not in title and "Input" not in title
        assert "where" in help_screen.query_one("#help-text").source
        local = plain(help_screen.query_one("#keys-local", Static))
        # Only the keys live in a text input: letters type, so `t` (tag) is not listed there.
        assert "Back to the sample table" in local and "Tag (or untag)" not in local
        await pilot.press("escape")
        assert app.screen is screen

    run(body, WorkbenchApp(db_path=db))


def _palette_prompts(app) -> list[str]:
    ol = app.screen.query_one(OptionList)
    return [str(ol.get_option_at_index(i).prompt).split("\n")[0] for i in range(ol.option_count)]


@pytest.mark.slow
def test_palette_lists_actions_of_the_context_and_runs_them(db):
    async def body(pilot, app):
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await wait_for(pilot, lambda: "Pools: Import" in _palette_prompts(app), what="palette")
        prompts = _palette_prompts(app)
        assert "Go to Browse" in prompts and "Quit" in prompts and "Help" in prompts
        assert not any(p.startswith("Browse: ") for p in prompts)
        await pilot.press(*"browse pool chat")
        await wait_for(pilot, lambda: _palette_prompts(app)[:1] == ["Browse pool chat"], what="search")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen) and app.screen.count == 20)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: "Browse: Tag" in _palette_prompts(app), what="browse palette")
        prompts = _palette_prompts(app)
        assert "Table: Detail" in prompts and "Sort by tokens" in prompts
        assert not any(p.startswith("Pools: ") for p in prompts)
        await pilot.press(*"go to results", "enter")
        await wait_for(pilot, lambda: app.current_mode == "results")

    run(body, WorkbenchApp(db_path=db))


@pytest.mark.slow
def test_number_keys_switch_modes(db):
    async def body(pilot, app):
        modes = ["browse", "scores", "clusters", "mixtures", "runs", "results", "interpolation", "pools"]
        for key, mode in zip("23456781", modes):
            await pilot.press(key)
            assert app.current_mode == mode
            assert type(app.screen).__name__.lower().startswith(mode)
        assert isinstance(app.screen, PoolsScreen)

    run(body, WorkbenchApp(db_path=db))


def test_pool_rename_domain_and_delete(db):
    async def body(pilot, app):
        table = app.screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        await pilot.press("r")
        dlg = app.screen
        assert isinstance(dlg, InputDialog)
        dlg.query_one("#value", Input).value = "chat"  # taken: refused in place
        await pilot.press("enter")
        assert app.screen is dlg and "exists" in plain(dlg.query_one("#error", Static))
        dlg.query_one("#value", Input).value = "poems"
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.row_count == 2 and table.get_row_at(0)[0] == "poems")
        await pilot.press("D")
        dlg = app.screen
        dlg.query_one("#choice", Select).value = "code"
        dlg.query_one("#ok", Button).active_effect_duration = 0
        await pilot.click("#ok")
        await wait_for(pilot, lambda: table.get_row_at(0)[1] == "code")
        await pilot.press("d")
        dlg = app.screen
        assert isinstance(dlg, ConfirmDialog)
        assert "its 450 samples" in plain(dlg.query_one("#message", Static))
        dlg.query_one("#confirm", Button).active_effect_duration = 0
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: table.row_count == 1 and "20 samples" in app.store_status)
        assert any("Deleted pool poems (450 samples)" in str(n.message) for n in app._notifications)

    run(body, WorkbenchApp(db_path=db))
    with Store(db) as s:
        assert [p.name for p in list_pools(s)] == ["chat"]


def test_keymap_file_changes_keys_and_reports_problems(db, tmp_path):
    km = tmp_path / "keymap.toml"
    km.write_text('[keys]\n"pools.import" = "ctrl+o"\n"nope" = "x"\n')

    async def body(pilot, app):
        assert any("unknown action id 'nope'" in str(n.message) for n in app._notifications)
        await pilot.press("i")
        assert isinstance(app.screen, PoolsScreen)
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, ImportDialog)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: "Pools: Import" in _palette_prompts(app))
        ol = app.screen.query_one(OptionList)
        i = _palette_prompts(app).index("Pools: Import")
        assert "key ctrl+o" in str(ol.get_option_at_index(i).prompt)

    try:
        run(body, WorkbenchApp(db_path=db, keymap_path=km))
    finally:
        registry.apply_keymap({})


def test_app_uses_an_open_store_without_closing_it(db):
    store = Store(db)
    try:

        async def body(pilot, app):
            assert app.store is store

        run(body, WorkbenchApp(store=store))
        assert store.con.execute("SELECT count(*) FROM samples").fetchone()[0] == 470
    finally:
        store.close()


def test_app_import_path_stays_light():
    """First paint: importing the app must not pull duckdb, numpy, polars, torch… (the engine loads in workers)."""
    import subprocess
    import sys

    code = (
        "import sys, workbench.app\n"
        "print(','.join(m for m in ('duckdb', 'numpy', 'polars', 'pandas', 'torch', 'transformers', 'pyarrow')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.stdout.strip() == ""


def test_score_columns_range_filter_and_sort(db):
    from engine.quality.scores import MetricDef, write_scores

    with Store(db) as s:
        # ifd = id / 1000 for the first 300 samples; sample 5 has no value (with a reason).
        rows = [(i, i / 1000, None) for i in range(1, 301) if i != 5] + [(5, None, "empty response")]
        write_scores(s, MetricDef("ifd", model="tiny", definition="test"), rows)

    async def body(pilot, app):
        screen, table = await open_browse(pilot, app)
        assert [c.key for c in table.columns][-1] == "score.ifd"
        assert screen.query_one("#f-score").display
        assert table.row_at(0)["score.ifd"] == pytest.approx(0.001)
        screen.query_one("#f-metric", Select).value = "ifd"
        screen.query_one("#f-min", Input).value = "0.1"
        screen.query_one("#f-max", Input).value = "0.2"
        screen.query_one("#f-max", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.filter.score_ranges and not screen.querying)
        assert screen.count == 101  # ids 100..200
        # A bad bound is an inline error, not a crash.
        screen.query_one("#f-min", Input).value = "lots"
        screen.query_one("#f-min", Input).focus()
        await pilot.press("enter")
        assert "score bounds must be numbers" in screen.filter_error
        screen.query_one("#f-min", Input).value = ""
        screen.query_one("#f-max", Input).value = ""
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: not screen.filter.score_ranges and not screen.querying and not screen.filter_error
        )
        # Sort by the score, descending: the highest first.
        screen._sort_to("score.ifd", True)
        await wait_for(
            pilot, lambda: screen.sort == [("score.ifd", True)] and not screen.querying and table.all_visible_loaded()
        )
        assert table.row_at(0)["id"] == 300
        # The detail pane shows the scores.
        table.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "ifd=0.3" in plain(screen.query_one("#detail-body", Static)))

    run(body, WorkbenchApp(db_path=db))


def test_store_that_cannot_open_is_reported(tmp_path):
    bad = tmp_path / "not-a-db.duckdb"
    bad.write_text("this is not a duckdb file")

    async def main():
        app = WorkbenchApp(db_path=bad)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.store_error is not None, what="error")
            assert app.store_status == "store not open"
            assert "Cannot open the store" in plain(app.screen.query_one("#pools-empty", Static))
            await pilot.press("i")  # no dialog without a store, no crash
            assert isinstance(app.screen, PoolsScreen)
            await pilot.press("2", "f1")
            assert isinstance(app.screen, HelpScreen)

    asyncio.run(main())


def test_f1_inside_the_import_dialog(db):
    async def body(pilot, app):
        await pilot.press("i")
        dlg = app.screen
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        title = str(app.screen.query_one("#help-title").render())
        assert "Input" not in title and "#" not in title and "field" in title, title
        assert "Type a path" in app.screen.query_one("#help-text").source
        assert "Start the import" in plain(app.screen.query_one("#keys-local", Static))
        await pilot.press("escape")
        assert app.screen is dlg

    run(body, WorkbenchApp(db_path=db))


def test_import_dialog_column_mapping(tmp_path, monkeypatch):
    """A CSV with columns no format knows imports through a typed column mapping."""
    monkeypatch.chdir(tmp_path)
    with (tmp_path / "odd.csv").open("w") as f:
        f.write("ask,reply,persona\n")
        for i in range(12):
            f.write(f"What is {i} squared?,{i * i},tutor\n")
    db = tmp_path / "wb.duckdb"

    async def body(pilot, app):
        await pilot.press("i")
        dlg = app.screen
        await pilot.press(*"odd.csv")
        await wait_for(pilot, lambda: "odd.csv" in dlg._path_value(), what="path")
        dlg.query_one("#format", Select).value = "mapping"
        await wait_for(pilot, lambda: dlg.query_one("#mapping-row").display, what="mapping row")
        await wait_for(
            pilot,
            lambda: "type the column mapping" in plain(dlg.query_one("#detected", Static)),
            what="mapping asked for",
        )
        dlg.query_one("#mapping", Input).value = "instruction=ask, output"
        await wait_for(pilot, lambda: "role=column" in plain(dlg.query_one("#detected", Static)), what="bad")
        dlg.query_one("#mapping", Input).value = "instruction=ask, output=reply, system=persona"
        await wait_for(
            pilot, lambda: dlg.detection is not None and dlg.detection.format == "mapping", what="mapping detection"
        )
        assert "user: What is 0 squared?" in plain(dlg.query_one("#preview", Static))
        button = dlg.query_one("#import", Button)
        button.active_effect_duration = 0
        # the pool name comes from the (debounced) path handler: the button enables once it is there
        await wait_for(pilot, lambda: not button.disabled, what="import enabled")
        await pilot.press("ctrl+s")  # the dialog's Import key (the taller dialog can push the button off-screen)
        await wait_for(pilot, lambda: app.screen is not dlg, timeout=30, what="dialog closes")

    run(body, WorkbenchApp(db_path=db))
    with Store(db) as s:
        [p] = list_pools(s)
        assert p.n_samples == 12
        msgs, system = s.con.execute("SELECT messages, system FROM samples ORDER BY id LIMIT 1").fetchall()[0]
        assert json.loads(msgs)[-1] == {"role": "assistant", "content": "0"} and system == "tutor"


def test_pools_table_moves_with_the_sample_table_keys(db, tmp_path):
    """j / G / end / g / home move the Pools cursor, so d deletes the pool under it (not the first one)."""

    async def body(pilot, app):
        table = app.screen.query_one("#pools-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="pool rows")
        table.focus()
        for key, row in (("j", 1), ("g", 0), ("G", 1), ("home", 0), ("end", 1), ("k", 0)):
            await pilot.press(key)
            assert table.cursor_row == row, key
        await pilot.press("G", "d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        assert "its 20 samples" in plain(app.screen.query_one("#message", Static))  # chat, not haiku (450)

    run(body, WorkbenchApp(db_path=db))


def test_a_screen_key_wins_over_a_table_move(tmp_path):
    """On Clusters, k stays "new clustering" even with the table focused (j still moves)."""
    from screens.clusters import ClustersScreen
    from screens.widgets import NavTable

    async def body(pilot, app):
        await pilot.press("4")
        await wait_for(pilot, lambda: isinstance(app.screen, ClustersScreen), what="clusters")
        table = app.screen.query_one(NavTable)
        assert "k" not in table._bindings.key_to_bindings and "j" in table._bindings.key_to_bindings

    run(body, WorkbenchApp(db_path=tmp_path / "c.duckdb"))


def test_export_the_browse_filter_from_the_app(db, tmp_path):
    """o on Browse exports exactly the filtered samples, with a LLaMA-Factory entry when a folder is given."""
    from screens.export_dialog import ExportDialog

    out = tmp_path / "lf"

    async def body(pilot, app):
        screen, _ = await open_browse(pilot, app)
        screen.query_one("#f-text", Input).value = "haiku"
        await pilot.press("slash", "enter")
        await wait_for(pilot, lambda: not screen.querying and screen.count < 470, what="filtered")
        n = screen.count
        await pilot.press("escape", "o")
        dlg = await wait_screen(pilot, app, ExportDialog, what="export form")
        dlg.query_one("#ex-path", Input).value = str(out / "h.jsonl")
        dlg.query_one("#ex-info", Input).value = str(out)
        dlg.query_one("#ok").press()
        await wait_for(pilot, lambda: (out / "dataset_info.json").exists(), what="exported")
        lines = [x for x in (out / "h.jsonl").read_text().split("\n") if x]
        assert len(lines) == n and all("conversations" in json.loads(x) for x in lines)
        assert json.loads((out / "dataset_info.json").read_text())["h"]["formatting"] == "sharegpt"

    run(body, WorkbenchApp(db_path=db))


def test_row_actions_and_undo_in_browse(db):
    """X excludes only the sample under the cursor; x on the filter, then u undoes that bulk action."""

    async def body(pilot, app):
        screen, table = await open_browse(pilot, app)
        table.focus()
        await pilot.press("j", "j")
        rid = table.cursor_row["id"]
        await pilot.press("X")
        dlg = await wait_screen(pilot, app, ConfirmDialog, what="exclude row")
        assert f"sample {rid}" in plain(dlg.query_one("#message", Static))
        dlg.query_one("#confirm").press()
        await wait_for(pilot, lambda: app.store.fetchall("SELECT count(*) FROM samples WHERE excluded")[0][0] == 1)
        assert app.store.fetchall("SELECT id FROM samples WHERE excluded") == [(rid,)]
        await wait_for(pilot, lambda: isinstance(app.screen, type(screen)) and not screen.querying, what="back")
        await pilot.press("x")  # the whole filter: every sample
        dlg = await wait_screen(pilot, app, ConfirmDialog, what="exclude all")
        dlg.query_one("#confirm").press()
        await wait_for(pilot, lambda: app.store.fetchall("SELECT count(*) FROM samples WHERE excluded")[0][0] == 470)
        await wait_for(pilot, lambda: isinstance(app.screen, type(screen)), what="back")
        await pilot.press("u")
        dlg = await wait_screen(pilot, app, ConfirmDialog, what="undo")
        assert "excluded 469 samples" in plain(dlg.query_one("#message", Static))
        dlg.query_one("#confirm").press()
        await wait_for(pilot, lambda: app.store.fetchall("SELECT count(*) FROM samples WHERE excluded")[0][0] == 1)
        assert app.store.fetchall("SELECT id FROM samples WHERE excluded") == [(rid,)]  # as before the bulk action

    run(body, WorkbenchApp(db_path=db))
