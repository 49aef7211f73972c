"""The RAISE panel (Runs: R) under Textual's pilot over a real store and a job folder written in the engine's
format (spec.json, status.json, episodes.jsonl: what engine.raise_rl.job writes): the jobs table, the detail
(attribution, clusters early / middle / late), the picks per step and the jump to Browse on a step's samples,
the training form's checks."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, Input, Static

from engine.core.store import Store
from screens.browse import BrowseScreen
from screens.raise_screen import NewRaiseDialog, RaiseScreen
from tests.helpers import import_sample_pools, plain, wait_for, wait_screen
from tests.helpers import run_app as _run
from workbench.app import WorkbenchApp


def _job(store, ids: list[int]) -> None:
    from engine.raise_rl.reading import jobs_root

    d = jobs_root(store) / "r1"
    d.mkdir(parents=True)
    spec = {
        "base_model": "tiny",
        "target": "math_eval",
        "pool": len(ids),
        "clustering": "c",
        "settings": {"episodes": 3},
    }
    (d / "spec.json").write_text(json.dumps(spec))
    (d / "status.json").write_text(json.dumps({"status": "stopped", "episode": 2, "episodes": 3, "last_return": 0.25}))
    rows = []
    for ep, ret in ((1, -0.5), (2, 0.25)):
        steps = [
            {"step": k, "samples": ids[2 * k - 2 : 2 * k], "clusters": [ep % 2, k % 2], "val": 1.0} for k in (1, 2, 3)
        ]
        rows.append(
            {
                "episode": ep, "return": ret, "val0": 2.0, "val_final": 2.0 - ret, "policy_loss": 0.1,
                "value_loss": 0.5 / ep, "entropy": 1.0,
                "attribution": {"stage": 0.1, "difficulty": 0.6, "semantics": 0.2, "availability": 0.1},
                "steps": steps,
            }
        )  # fmt: skip
    (d / "episodes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _rows(screen, wid: str) -> list[list[str]]:
    t = screen.query_one(wid, DataTable)
    return [[str(c) for c in t.get_row(rk)] for rk in t.rows]


@pytest.mark.slow
def test_raise_panel_shows_a_job_browses_a_step_and_checks_the_form(tmp_path):
    db = tmp_path / "wb.duckdb"
    with Store(db) as st:
        import_sample_pools(st, tmp_path, ["math"], 8)
        ids = [int(r[0]) for r in st.fetchall("SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id "
                                               "WHERE p.name = 'train_math' ORDER BY s.id")]  # fmt: skip
        _job(st, ids)

    async def body(pilot, app):
        await pilot.press("6")
        await pilot.press("R")
        scr = await wait_screen(pilot, app, RaiseScreen, what="RAISE panel")
        await wait_for(pilot, lambda: _rows(scr, "#x-jobs") == [["r1", "stopped", "2/3", "math_eval", "+0.2500"]])
        await wait_for(pilot, lambda: len(_rows(scr, "#x-steps")) == 3, what="steps")
        detail = plain(scr.query_one("#x-detail", Static))
        assert "difficulty 60%" in detail and "clusters, first episode: early 1x1 1x1" not in detail
        assert "clusters, first episode: early 1x2" in detail and "clusters, last episode: early 0x1 1x1" in detail
        assert _rows(scr, "#x-steps")[1] == ["2", "0 0", f"{ids[2]} {ids[3]}"]
        # the training form refuses bad input, naming the field
        await pilot.press("n")
        dlg = await wait_screen(pilot, app, NewRaiseDialog, what="form")
        assert dlg.query_one("#f-name", Input).value == "r2" and dlg.query_one("#f-target", Input).value == "math_eval"
        assert dlg.query_one("#f-steps", Input).value == "6"  # RaiseSettings().steps
        dlg.query_one("#f-steps", Input).value = "0"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "steps: steps must be >= 1" in plain(dlg.query_one("#error", Static)))
        dlg.query_one("#f-steps", Input).value = "2.5"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "steps: expected a whole number" in plain(dlg.query_one("#error", Static)))
        dlg.query_one("#f-steps", Input).value = "3"
        dlg.query_one("#f-policy_lr", Input).value = "0"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "policy lr: lr must be > 0" in plain(dlg.query_one("#error", Static)))
        dlg.query_one("#f-policy_lr", Input).value = "0.003"
        dlg.query_one("#f-steps", Input).value = "3"
        dlg.query_one("#f-target", Input).value = "nope"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "'nope' is not an eval pool" in plain(dlg.query_one("#error", Static)))
        await pilot.press("escape")
        await wait_screen(pilot, app, RaiseScreen)
        # the second step's samples in Browse
        scr.query_one("#x-steps", DataTable).focus()
        scr.query_one("#x-steps", DataTable).move_cursor(row=1)
        await pilot.press("b")
        await wait_screen(pilot, app, BrowseScreen, what="browse")
        browse = app.screen
        expr = f"id IN ({ids[2]}, {ids[3]})"
        await wait_for(pilot, lambda: browse.count == 2 and browse.filter.expression == expr, what="browse count")

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_raise_panel_trains_cancels_resumes_and_compares(tmp_path, model_dir):
    """The whole panel on a tiny model: n trains a policy in a worker process with knobs from the form and the
    scope picked there, c cancels it at its next step, n with the same name resumes it to the end, and C queues
    the comparison's arms and shows the evaluated ones (the base model at once)."""
    from screens.raise_screen import CompareDialog

    db = tmp_path / "wb.duckdb"
    with Store(db) as st:
        import_sample_pools(st, tmp_path, ["math", "code"], 8)

    def jobs(scr):
        return {r[0]: r for r in _rows(scr, "#x-jobs")}

    async def fill(pilot, app, values: dict[str, str]):
        dlg = await wait_screen(pilot, app, NewRaiseDialog, what="form")
        for k, v in values.items():
            dlg.query_one(f"#f-{k}", Input).value = v
        return dlg

    async def body(pilot, app):
        await pilot.press("6")
        await pilot.press("R")
        scr = await wait_screen(pilot, app, RaiseScreen, what="RAISE panel")
        await pilot.press("n")
        knobs = {"steps": "2", "batch": "2", "candidates": "4", "val_items": "4"}
        dlg = await fill(pilot, app, {"base_model": str(model_dir), "episodes": "40", **knobs})
        # the scope is every training sample (no Browse filter yet): the eval pools stay out of the candidates
        assert "every training sample: 16 samples" in str(dlg.query_one("#f-scope-all").label)
        dlg.query_one("#f-clip", Input).value = "1.5"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "clip: clip must be in (0, 1)" in plain(dlg.query_one("#error", Static)))
        dlg.query_one("#f-clip", Input).value = "0.3"
        await pilot.press("enter")
        await wait_screen(pilot, app, RaiseScreen)
        await wait_for(pilot, lambda: jobs(scr).get("r1", [""] * 3)[2] not in ("", "0/40"), 120, "an episode")
        await pilot.press("c")
        await wait_for(pilot, lambda: scr.job is None, 60, "the worker to stop")
        await wait_for(pilot, lambda: jobs(scr)["r1"][1] == "cancelled", 10, "cancelled")
        done = int(jobs(scr)["r1"][2].split("/")[0])
        assert 1 <= done < 40
        folder = next(j["folder"] for j in scr.jobs if j["name"] == "r1")
        spec = json.loads(open(f"{folder}/spec.json").read())
        assert spec["settings"]["steps"] == 2 and spec["ppo"]["clip"] == 0.3 and spec["pool"] == 16
        # the same name resumes with its own settings (the form's other values are not used)
        await pilot.press("n")
        await fill(pilot, app, {"name": "r1", "episodes": "1"})
        await pilot.press("enter")
        await wait_for(pilot, lambda: scr.job is not None, 30, "the worker")
        await pilot.press("c")
        await wait_for(pilot, lambda: scr.job is None, 60, "the worker to stop again")
        got = int(jobs(scr)["r1"][2].split("/")[0])
        assert got >= done and jobs(scr)["r1"][2].endswith("/40")
        # the comparison: the random and base arms; the base model has nothing to train, so it is evaluated now
        await pilot.press("C")
        cmp = await wait_screen(pilot, app, CompareDialog, what="compare form")
        assert cmp.query_one("#c-sets", Input).value == "math_eval"
        cmp.query_one("#c-arms", Input).value = "random,nope"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "unknown arm" in plain(cmp.query_one("#error", Static)))
        cmp.query_one("#c-arms", Input).value = "random,base"
        await pilot.press("enter")
        await wait_screen(pilot, app, RaiseScreen)
        await wait_for(pilot, lambda: "math_eval" in plain(scr.query_one("#x-compare", Static)), 120, "the table")
        table = plain(scr.query_one("#x-compare", Static))
        assert "not finished yet: random (" in table and "base" in table and "C again" in table

    _run(WorkbenchApp(db_path=db), body)
