"""Pool provenance (issue 18's human vs synthetic): set on import or later, shown, filtered by."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.core.store import Store
from engine.data.filters import compile_expression
from engine.data.ingest import import_file
from engine.data.pools import PoolError, create_pool, get_pool, list_pools, set_provenance
from tests.helpers import plain, run_app, wait_for, wait_screen, wb


def _write(path: Path, n: int, tag: str) -> Path:
    path.write_text(
        "".join(
            json.dumps({"instruction": f"{tag} question {i}", "output": f"{tag} answer {i}"}) + "\n" for i in range(n)
        )
    )
    return path


def _count(store: Store, expr: str) -> int:
    sql, params = compile_expression(expr)
    return int(store.fetchall(f"SELECT count(*) FROM samples s WHERE {sql}", params)[0][0])


def test_provenance_is_unknown_by_default_set_later_and_filtered(tmp_path):
    with Store(tmp_path / "s.duckdb") as s:
        import_file(s, _write(tmp_path / "h.jsonl", 3, "h"), pool="h")
        import_file(s, _write(tmp_path / "g.jsonl", 5, "g"), pool="g")
        assert [p.provenance for p in list_pools(s)] == ["unknown", "unknown"]
        assert set_provenance(s, "h", " Human ") == "h"
        set_provenance(s, get_pool(s, "g").id, "synthetic")
        assert [(p.name, p.provenance) for p in list_pools(s)] == [("h", "human"), ("g", "synthetic")]
        assert _count(s, "provenance = 'human'") == 3
        assert _count(s, "provenance = 'synthetic'") == 5
        assert _count(s, "provenance IN ('human', 'mixed')") == 3
        assert _count(s, "provenance = 'unknown'") == 0
        with pytest.raises(PoolError, match="provenance must be one of human, synthetic, mixed, unknown"):
            set_provenance(s, "h", "robots")
        with pytest.raises(PoolError, match="no pool named 'nope'"):
            set_provenance(s, "nope", "human")
        assert create_pool(s, "m", provenance="mixed") and get_pool(s, "m").provenance == "mixed"
        assert get_pool(s, "h").provenance == "human"  # refused changes changed nothing


@pytest.mark.slow
def test_provenance_from_the_cli(tmp_path):
    db = tmp_path / "s.duckdb"
    src = _write(tmp_path / "h.jsonl", 2, "h")
    wb(db, "import", str(src), "--provenance", "human")
    r = wb(db, "import", str(src), "--pool", "x", "--provenance", "robots", check=False)
    assert r.returncode == 2 and "--provenance: provenance must be one of" in r.stderr
    wb(db, "pool", "set-provenance", "h", "mixed")
    rows = json.loads(wb(db, "pools", "--format", "json").stdout)
    assert [(r["name"], r["provenance"]) for r in rows] == [("h", "mixed")]  # x was never made


@pytest.mark.slow
def test_provenance_in_the_app_import_dialog_pools_column_and_key(tmp_path):
    from textual.widgets import DataTable, Input, Select

    from screens.import_dialog import ImportDialog
    from screens.widgets import InputDialog
    from workbench.app import WorkbenchApp

    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        import_file(s, _write(tmp_path / "h.jsonl", 3, "h"), pool="h")
    syn = _write(tmp_path / "syn.jsonl", 4, "syn")

    async def body(pilot, app):
        store = app.store
        table = app.screen.query_one("#pools-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="pool row")
        await pilot.press("i")
        dlg = await wait_screen(pilot, app, ImportDialog, what="import dialog")
        await pilot.press(*str(syn), "enter")
        await wait_for(pilot, lambda: dlg.detection is not None, what="detected")
        dlg.query_one("#provenance", Select).value = "synthetic"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is not dlg, timeout=20, what="imported")
        await wait_for(pilot, lambda: table.row_count == 2, what="two pools")
        assert [(p.name, p.provenance) for p in list_pools(store)] == [("h", "unknown"), ("syn", "synthetic")]
        col = list(table.columns).index("provenance")
        await wait_for(pilot, lambda: str(table.get_row_at(1)[col]) == "synthetic", what="column")
        table.focus()
        await pilot.press("g", "p")
        d = await wait_screen(pilot, app, InputDialog, what="provenance dialog")
        d.query_one("#value", Input).value = ""
        await pilot.press(*"robots", "enter")
        await pilot.pause()
        assert app.screen is d and "provenance must be one of" in plain(d.query_one("#error"))
        d.query_one("#value", Input).value = ""
        await pilot.press(*"human", "enter")
        await wait_for(pilot, lambda: get_pool(store, "h").provenance == "human", what="h labelled")
        await wait_for(pilot, lambda: str(table.get_row_at(0)[col]) == "human", what="column shows it")

    run_app(WorkbenchApp(db_path=db), body)
