"""SVG snapshots of each screen (pytest-textual-snapshot), at a fixed 120x36 terminal.

Deterministic by construction: the store file is always `wb.duckdb`, the data files are written in the
working folder (so the detail pane shows relative paths), notifications are cleared, input cursors do not
blink. Update the baselines with `pytest tests/test_snapshots.py --snapshot-update` and look at them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from engine.core.store import Store
from engine.data.ingest import import_file
from screens.import_dialog import ImportDialog
from tests.helpers import SIZE, chat_records, clusters_store, screen_snapshot, settle, until, write_jsonl
from workbench.app import WorkbenchApp


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Relative paths from tmp_path."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def db(tmp_path) -> Path:
    haiku = (
        {"instruction": f"Write a haiku about topic {i}", "input": "", "output": f"Haiku {i}\nline two\nline three"}
        for i in range(300)
    )
    write_jsonl(tmp_path / "haiku.jsonl", haiku)
    write_jsonl(tmp_path / "chat.jsonl", chat_records(12, " Show the code."))
    p = tmp_path / "wb.duckdb"
    with Store(p) as s:
        import_file(s, Path("haiku.jsonl"), pool="haiku")
        import_file(s, Path("chat.jsonl"), pool="chat", domain="math")
    return p


def test_pools_screen(snap_compare, db):
    async def before(pilot):
        await settle(pilot)
        await until(pilot, lambda: pilot.app.screen.query_one(DataTable).row_count == 2)

    assert snap_compare(WorkbenchApp(db_path=db), terminal_size=SIZE, run_before=before)


def test_browse_screen(snap_compare, db):
    async def before(pilot):
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("j", "j")
        await settle(pilot)

    assert snap_compare(WorkbenchApp(db_path=db), terminal_size=SIZE, run_before=before)


@pytest.mark.slow
def test_browse_detail_pane(snap_compare, db):
    async def before(pilot):
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("G", "enter")
        screen = pilot.app.screen
        await until(pilot, lambda: "#312" in str(screen.query_one("#detail-body").content.renderables[0]))
        await settle(pilot)

    assert snap_compare(WorkbenchApp(db_path=db), terminal_size=SIZE, run_before=before)


@pytest.mark.slow
def test_browse_filter_error(snap_compare, db):
    async def before(pilot):
        await pilot.press("2")
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#f-text", Input).value = "topic 2"
        expr = screen.query_one("#f-expr", Input)
        expr.value = "n_tokens > 5 and colour = 'red'"
        expr.focus()
        await pilot.press("enter")
        await until(pilot, lambda: screen.filter_error)
        await settle(pilot)

    assert snap_compare(WorkbenchApp(db_path=db), terminal_size=SIZE, run_before=before)


def test_import_dialog(snap_compare, db):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("i")
        dlg = pilot.app.screen
        assert isinstance(dlg, ImportDialog)
        await pilot.press(*"chat.jsonl")
        await until(pilot, lambda: dlg.detection is not None)
        await settle(pilot)

    assert snap_compare(WorkbenchApp(db_path=db), terminal_size=SIZE, run_before=before)


def test_help_screen(snap_compare, db):
    async def before(pilot):
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause(0.2)

    assert snap_compare(WorkbenchApp(db_path=db), terminal_size=SIZE, run_before=before)


@pytest.mark.slow
def test_mixtures_screen(snap_compare, db):
    assert screen_snapshot(snap_compare, db, "5")


def test_scores_screen(snap_compare, db):
    from engine.quality.scores import MetricDef, write_scores

    with Store(db) as s:
        rows = s.con.execute("SELECT id, n_chars FROM samples ORDER BY id").fetchall()
        write_scores(
            s,
            MetricDef("ifd", "tiny", definition="Superfiltering IFD (test values)"),
            [(i, ((i * 37) % 100) / 80, None) for i, _n in rows],
        )

    assert screen_snapshot(
        snap_compare, db, "3", lambda screen: screen.query_one("#s-examples", DataTable).row_count == 10
    )


@pytest.mark.slow
def test_clusters_screen(snap_compare, tmp_path):
    """Planted blobs (fake encoder) clustered with PCA + HDBSCAN: table with noise, map, detail, diversity."""
    db = clusters_store(tmp_path)

    async def before(pilot):
        await settle(pilot)
        await pilot.press("4")
        screen = pilot.app.screen
        await until(pilot, lambda: screen.query_one("#c-table", DataTable).row_count == 7 and screen.div is not None)
        await pilot.press("down", "down")
        await until(pilot, lambda: screen.highlighted is not None and screen.highlighted >= 0)
        await settle(pilot)

    assert snap_compare(WorkbenchApp(db_path=db), terminal_size=SIZE, run_before=before)
