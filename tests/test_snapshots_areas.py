"""SVG snapshots of the Runs, Results and Interpolation screens (pytest-textual-snapshot), at 120x36.

Deterministic by construction: fixed rows written straight into a `wb.duckdb` in the working folder (finished
runs only, so no ETA or durations are on screen; no timestamps are shown), seeded embeddings and pairs,
notifications cleared. Update the baselines with `pytest tests/test_snapshots_areas.py --snapshot-update` and
look at them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import DataTable

from engine.core.store import Store
from tests.helpers import SIZE, evaluated_runs, interpolation_store, screen_snapshot, settle, until
from workbench.app import WorkbenchApp


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Relative paths from tmp_path."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def runs_db(tmp_path) -> Path:
    """Runs 1-4 with evaluations (mixture, two specialists, base), run 1 with its config, final progress and
    curves (train loss, eval loss per domain, gradient cosines), and a failed run 5."""
    db = tmp_path / "wb.duckdb"
    config = {
        "mixture": "mix v2",
        "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"},
        "train": {"lr": 0.0002, "max_len": 1024, "packing": "packed", "batch_size": 4, "grad_accum": 2},
    }
    with Store(db) as s, s.transaction() as con:
        evaluated_runs(con, Path("runs") / "1-mix")
        con.execute(
            "UPDATE runs SET config = ?, progress = ? WHERE id = 1",
            [json.dumps(config), json.dumps({"step": 40, "total": 40, "loss": 0.4125})],
        )
        con.execute(
            "UPDATE runs SET progress = ? WHERE id IN (2, 3)", [json.dumps({"step": 20, "total": 20, "loss": 0.5})]
        )
        for step in range(1, 41):
            con.execute(
                "INSERT INTO run_metrics (run_id, step, name, value) VALUES (1, ?, 'loss', ?)",
                [step, 2.0 / (1 + step / 8)],
            )
            if step % 8 == 0:
                for dom, off in (("math", 0.1), ("code", 0.25)):
                    con.execute(
                        "INSERT INTO run_metrics (run_id, step, name, value) VALUES (1, ?, ?, ?)",
                        [step, f"eval_loss/{dom}", 2.2 / (1 + step / 10) + off],
                    )
            if step % 4 == 0:
                con.execute(
                    "INSERT INTO run_metrics (run_id, step, name, value) VALUES (1, ?, 'gradcos/code|math', ?)",
                    [step, 0.3 if step % 12 else -0.2],
                )
        con.execute(
            "INSERT INTO runs (id, name, status, kind, protocol, base_model, progress, error) VALUES "
            "(5, 'ghost', 'failed', 'mixture', 'multi_task', 'tiny', ?, ?)",
            [json.dumps({"step": 3, "total": 40}), "RuntimeError: CUDA out of memory\n  at step 3"],
        )
    return db


def test_runs_screen(snap_compare, runs_db):
    """The runs table (conflict rate of the mixture run), run 1's detail, gradient conflict and curves."""

    async def before(pilot):
        await settle(pilot)
        await pilot.press("6")
        screen = pilot.app.screen
        table = screen.query_one("#r-runs", DataTable)
        await until(pilot, lambda: table.row_count == 5)
        table.move_cursor(row=0)
        await until(
            pilot,
            lambda: screen.selected == 1
            and str(table.get_cell("1", "conflict")) != "-"
            and screen.series.get("loss")
            and screen.conflict,
        )
        await settle(pilot)

    assert snap_compare(WorkbenchApp(db_path=runs_db), terminal_size=SIZE, run_before=before)


def test_results_screen(snap_compare, runs_db):
    """Per-domain results of every run with the Conflict Rate columns and the knobs."""

    assert screen_snapshot(
        snap_compare, runs_db, "7", lambda screen: screen.query_one("#r-table", DataTable).row_count == 5
    )


@pytest.mark.slow
def test_interpolation_screen(snap_compare, tmp_path):
    """The set "mc" (math x code, 12 seeded pairs): the sets, the pairs, the first pair's preview, coverage."""
    db = interpolation_store(tmp_path, with_set=True)

    assert screen_snapshot(
        snap_compare,
        db,
        "8",
        lambda screen: screen.query_one("#i-pairs", DataTable).row_count == 12,
        lambda screen: screen.preview is not None and screen.coverage is not None,
    )
