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
from tests.test_app import SIZE, plain, wait_for
from tests.test_conflict import stored  # noqa: F401 - fixture: runs 1 (mixture), 2/3 (specialists), 4 (base)
from workbench.app import WorkbenchApp


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def run(body, app):
    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await body(pilot, app)

    asyncio.run(main())


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def row_of(table: DataTable, run_id: int, domain: str) -> list[str]:
    return next(r for r in cells(table) if r[1].startswith(f"{run_id} ") and r[5] == domain)


def test_table_drill_compare_matrix_and_knobs(stored):  # noqa: F811
    async def body(pilot, app):
        await pilot.press("7")
        scr = app.screen
        assert isinstance(scr, ResultsScreen)
        t = scr.query_one("#r-table", DataTable)
        await wait_for(pilot, lambda: t.row_count == 5, what="results rows")
        math = row_of(t, 1, "math")
        assert math[3] == "mix v2" and math[4] == "multi_task" and math[10] == "0.333" and math[7] == "0.333"
        assert math[8] == "-0.333" and math[9] == "+0.333"  # delta vs specialist, vs base
        assert "our definition" in plain(scr.query_one("#r-knobs", Static))
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
        assert mrow[2:4] == ["0.333", "0.667"] and mrow[6:8] == ["0", "1"]
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

    run(body, WorkbenchApp(store=stored))
