"""The Studies area (screens/studies.py, key 0) under Textual's pilot and a study's report (engine/studies/report.py,
`workbench study report`), on a real store whose growth study was launched by the engine and whose cells were
then given states and evaluations by hand (tests/helpers.py insert_eval): no training, no evaluation worker.

The study "g": mixture "two" (8 math + 8 code samples, budget 16) at fractions 1/4, 1/2, 1 x seeds 0, 1, then
extended with 1/8 (launched) and seed 2 (not launched). Cell states: the base model and four cells evaluated,
one done but not evaluated, one running, one failed, one queued, four new. Scores: math = 0.1 + 0.05 ln x and
code = 0.6 - 0.3 x^-0.5 (x = the cell's items of the domain), seed 1 shifted by +0.01. The app's run queue is
stopped (WorkbenchApp.tick_runs does nothing) so that the queued cell stays queued."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable

from engine import studies as S
from engine.core.store import Store
from tests.helpers import SIZE, import_sample_pools, insert_eval, plain, screen_snapshot, wait_for, wait_screen
from tests.helpers import run_app as _run
from workbench.app import WorkbenchApp
from workbench.cli import main

EVALUATED = [(0.25, 0), (0.5, 0), (1.0, 0), (0.25, 1)]  # fraction, seed
STATES = {(0.5, 1): "done", (1.0, 1): "running", (0.125, 0): "failed", (0.125, 1): "queued"}


def key(f: float, s: int) -> str:
    return f"growth fraction={f:g} seed={s}"


def score(dom: str, x: int, seed: int) -> float:
    v = 0.1 + 0.05 * math.log(x) if dom == "math" else 0.6 - 0.3 * x**-0.5
    return round(v + 0.01 * seed, 6)


def _evaluate(st: Store, study, cell_key: str, run_id: int, per_domain: dict[str, int], seed: int) -> dict:
    """Evaluation rows of a run on math_eval and code_eval (4 items each, done), recorded as the cell's."""
    ids, scores = [], {}
    with st.transaction() as con:
        for dom in ("math", "code"):
            eid = int(con.execute("SELECT coalesce(max(id), 0) + 1 FROM evaluations").fetchone()[0])
            insert_eval(con, eid, run_id, dom, [(i, i % 2 == 0, 1.0, "x") for i in range(4)], details={"state": "done"})
            v = score(dom, per_domain.get(dom, 16), seed) if per_domain else 0.05 if dom == "math" else 0.2
            con.execute("UPDATE evaluations SET eval_set = ?, value = ? WHERE id = ?", [f"{dom}_eval", v, eid])
            ids.append(eid)
            scores[dom] = v
    from engine.studies import records as rec

    rec.set_cell_evaluations(st, study.id, cell_key, ids)
    return scores


def build(folder: Path) -> tuple[Path, dict]:
    """The store described above; returns its path and the scores given per cell key."""
    from engine.mixtures import Component, Recipe, save

    db = folder / "wb.duckdb"
    given: dict[str, dict] = {}
    with Store(db) as st:
        import_sample_pools(st, folder, ("math", "code"), 8)
        save(st, "two", Recipe([Component("m", "pool", "train_math"), Component("c", "pool", "train_code")], budget=16))
        ev = {"sets": ["math_eval", "code_eval"], "max_items": 4}
        S.new_study(st, "g", "growth", "two", axes={"fraction": [0.25, 0.5, 1.0], "seed": [0, 1]}, eval=ev)
        S.launch(st, "g")
        S.extend(st, "g", axes={"fraction": [0.125]})
        cells = {c.key: c for c in S.launch(st, "g")}
        S.extend(st, "g", axes={"seed": [2]})
        study = S.get_study(st, "g")
        vols = {r["key"]: r["volume"]["per_domain"] for r in S.collect(st, "g")[1]}
        with st.transaction() as con:
            for (f, s), state in STATES.items():
                con.execute(
                    "UPDATE runs SET status = ?, error = ? WHERE id = ?",
                    [state, "CUDA out of memory" if state == "failed" else None, cells[key(f, s)].run_id],
                )
            for f, s in EVALUATED:
                con.execute("UPDATE runs SET status = 'done' WHERE id = ?", [cells[key(f, s)].run_id])
        given["base"] = _evaluate(st, study, "base", cells["base"].run_id, {}, 0)
        for f, s in EVALUATED:
            given[key(f, s)] = _evaluate(st, study, key(f, s), cells[key(f, s)].run_id, vols[key(f, s)], s)
    return db, given


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build(tmp_path_factory.mktemp("study"))


@pytest.fixture
def study_db(built, tmp_path):
    """A copy of the built store (its file and its folder of run folders) for one test."""
    db, given = built
    for p in db.parent.iterdir():
        if p.name.startswith("wb.duckdb"):
            dst = tmp_path / p.name
            shutil.copytree(p, dst) if p.is_dir() else shutil.copy2(p, dst)
    return tmp_path / "wb.duckdb", given


@pytest.fixture
def no_queue(monkeypatch):
    """The app's run queue stands still (no worker starts for the queued cell)."""
    monkeypatch.setattr(WorkbenchApp, "tick_runs", lambda self: None)


def test_the_built_study_has_every_state(study_db):
    db, _given = study_db
    with Store(db) as st:
        states = {r["key"]: r["state"] for r in S.status(st, "g")}
    assert states["base"] == "evaluated" and states[key(1.0, 0)] == "evaluated"
    assert [states[key(f, s)] for (f, s) in STATES] == ["done", "running", "failed", "queued"]
    assert states[key(0.125, 2)] == "planned" and len(states) == 13


def _pace(dom: str, xs_seeds: list[tuple[int, int]]) -> float:
    """The log-linear slope per doubling of the given points, by numpy (the expected growth pace)."""
    import numpy as np

    x = np.array([x for x, _ in xs_seeds], float)
    y = np.array([score(dom, x, s) for x, s in xs_seeds])
    return float(np.polyfit(np.log(x), y, 1)[0] * math.log(2))


# every evaluated growth cell as (items of the domain, seed): 16 * fraction / 2 domains
POINTS = [(int(16 * f / 2), s) for f, s in EVALUATED]


def _row(grid: DataTable, cell_key: str) -> list[str]:
    return [str(c) for c in grid.get_row(cell_key)]


@pytest.mark.slow
def test_studies_area_grid_curves_and_drill_down(study_db, no_queue):
    """0 opens the area on study g: the list's counts, the grid's states (done / running / queued / failed /
    new, evaluated or not) and scores, the growth curves with each domain's pace; enter on an evaluated cell
    opens Results on its run, on a cell without evaluation its run in Runs, v its run in Runs."""
    from screens.results import ResultsScreen
    from screens.runs import RunsScreen
    from screens.studies import StudiesScreen
    from screens.studies_dialogs import AllocationDialog, ExtendDialog

    db, given = study_db

    async def body(pilot, app):
        await pilot.press("0")
        screen = app.screen
        assert isinstance(screen, StudiesScreen)
        grid = screen.query_one("#s-grid", DataTable)
        await wait_for(pilot, lambda: screen.result is not None and grid.row_count == 13, what="grid")
        lst = screen.query_one("#s-list", DataTable)
        assert [str(c) for c in lst.get_row("g")] == ["g", "growth", "two@1", "13", "4", "1", "1", "6", "1", "5/13"]
        assert _row(grid, "base") == ["base model", "done", "✓", "1", "-", "0.200", "0.050"]
        runs = {c["key"]: c["run_id"] for c in screen.result["cells"]}
        f = key(0.5, 0)
        assert _row(grid, f) == [
            "f=0.5 s=0",
            "done",
            "✓",
            str(runs[f]),
            "8",
            f"{given[f]['code']:.3f}",
            f"{given[f]['math']:.3f}",
        ]
        want = {(0.5, 1): ("done", "-"), (1.0, 1): ("running", "-"), (0.125, 0): ("failed", "-")}
        want |= {(0.125, 1): ("queued", "-"), (0.125, 2): ("new", "-"), (1.0, 2): ("new", "-")}
        for (fr, s), (state, ev) in want.items():
            assert _row(grid, key(fr, s))[1:3] == [state, ev], (fr, s)
        drawn = screen.query_one("#s-plot").render().plain  # as the widget draws it, at its size
        assert f"math pace {_pace('math', POINTS):+.3f}/2x" in drawn
        assert f"code pace {_pace('code', POINTS):+.3f}/2x" in drawn and "⠉" in drawn
        assert f"math pace {_pace('math', POINTS):+.4f}" in plain(screen.query_one("#s-reading"))

        # a: the proposed allocation of the base mixture's 16 items by those curves, with its reasoning
        await pilot.press("a")
        alloc = await wait_screen(pilot, app, AllocationDialog, what="allocation")
        shown = plain(alloc.query_one("#al-text"))
        assert "split of 16 items" in shown and "marginal gains" in shown
        await pilot.press("escape")
        # x: one more volume; the grid gains its three cells (seeds 0, 1, 2), new
        await wait_for(pilot, lambda: app.screen is screen, what="back from allocation")
        await pilot.press("x")
        await wait_screen(pilot, app, ExtendDialog, what="extend")
        await pilot.press(*"1/16", "enter")
        await wait_for(pilot, lambda: grid.row_count == 16, what="extended grid")
        assert _row(grid, key(0.0625, 1))[:2] == ["f=0.0625 s=1", "new"]

        # drill-down: an evaluated cell -> Results on its run
        grid.focus()
        grid.move_cursor(row=grid.get_row_index(f))
        await pilot.press("enter")
        await wait_screen(pilot, app, ResultsScreen, what="results")
        results = app.screen
        table = results.query_one("#r-table", DataTable)

        def on_run(t: DataTable, prefix: str) -> bool:
            return t.row_count > 0 and str(t.coordinate_to_cell_key((t.cursor_row, 0)).row_key.value).startswith(prefix)

        await wait_for(pilot, lambda: on_run(table, f"{runs[f]}|"), what="results cursor")
        # a done cell without evaluation -> Runs on its run; v on any cell -> Runs
        for cell_key, press in ((key(0.5, 1), "enter"), (key(1.0, 0), "v")):
            await pilot.press("0")
            await wait_for(pilot, lambda: app.screen is screen, what="back")
            grid.move_cursor(row=grid.get_row_index(cell_key))
            await pilot.press(press)
            await wait_screen(pilot, app, RunsScreen, what="runs")
            rs = app.screen
            await wait_for(pilot, lambda rs=rs, k=cell_key: rs.selected == runs[k], what=f"run of {cell_key}")

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_new_study_form_by_keys_ends_in_the_plan_and_launches(study_db, no_queue):
    """n: the form filled with keys only (alt+letter to each field; F1 explains it); Plan saves the study and the
    confirmation states the plan's count of new runs; Launch queues them."""
    from screens.help import HelpScreen
    from screens.studies_dialogs import StudyDialog
    from screens.widgets import ConfirmDialog

    db, _ = study_db

    async def body(pilot, app):
        await pilot.press("0")
        screen = app.screen
        await wait_for(pilot, lambda: screen.result is not None, what="area")
        await pilot.press("n")
        form = await wait_screen(pilot, app, StudyDialog, what="form")
        assert form.query_one("#sd-template").value == "growth" and form.query_one("#sd-base").value == "two@1"
        await pilot.press("f1")
        helpscr = await wait_screen(pilot, app, HelpScreen, what="help")
        assert "New study" in str(helpscr.query_one("#help-title").render())
        await pilot.press("escape")
        await wait_screen(pilot, app, StudyDialog, what="form again")
        await pilot.press(*"g2", "alt+v", *"1/2,1", "alt+x", "1", "alt+s")
        await pilot.press("ctrl+a", "ctrl+k", *"0,1", "enter")
        confirm = await wait_screen(pilot, app, ConfirmDialog, what="plan")
        plan = S.plan(app.store, "g2").to_dict()
        assert plan["n_new"] == 4 and [c["key"] for c in plan["cells"]][1:] == [
            key(0.5, 0),
            key(1.0, 0),
            key(0.5, 1),
            key(1.0, 1),
        ]
        text = plain(confirm.query_one("#message"))
        assert "4 new run(s) to queue of the 4 in the grid" in text and f"{key(0.5, 1)} · 8 items" in text
        st = S.get_study(app.store, "g2")
        assert st.settings["train"]["max_steps"] == 1 and st.eval["sets"] == ["math_eval", "code_eval"]
        await pilot.press("enter")  # Launch
        await wait_for(
            pilot,
            lambda: [r["state"] for r in S.status(app.store, "g2")] == ["done"] + ["queued"] * 4,
            what="launched",
        )

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_t_in_the_targeted_area_opens_the_form_prefilled(study_db, no_queue):
    """t on a targeted selection: the Studies area's form with template targeted and that selection as base;
    its plan has each budget's targeted cell and a random cell of the same size (and the base model)."""
    from engine.targeting.target import target
    from screens.studies_dialogs import StudyDialog
    from screens.widgets import ConfirmDialog
    from tests.test_targeting import hashing_encoder

    db, _ = study_db
    with Store(db) as st:
        target(st, query="math_eval", name="m8", budget=8, encoder=hashing_encoder, model="hashenc")

    async def body(pilot, app):
        await pilot.press("9")
        tscreen = app.screen
        await wait_for(pilot, lambda: tscreen.selected == "m8" and tscreen.detail is not None, what="targeted")
        await pilot.press("t")
        form = await wait_screen(pilot, app, StudyDialog, what="form")
        assert (form.query_one("#sd-template").value, form.query_one("#sd-base").value) == ("targeted", "m8")
        await pilot.press(*"m8 vs random", "enter")
        confirm = await wait_screen(pilot, app, ConfirmDialog, what="plan")
        text = plain(confirm.query_one("#message"))
        assert "8 new run(s) to queue of the 8 in the grid, and the base model" in text
        assert "targeted budget=1 seed=0 · 1 items" in text and "random budget=4 seed=0 · 4 items" in text
        await pilot.press("escape")  # not launched: the study stays, its cells new
        await wait_for(pilot, lambda: app.screen.MODE == "studies", what="studies")
        assert {r["state"] for r in S.status(app.store, "m8 vs random")} == {"planned"}

    _run(WorkbenchApp(db_path=db), body)


def test_studies_area_snapshot(snap_compare, study_db, no_queue, monkeypatch, tmp_path):
    """Study g: the list, the grid with every state, the growth curves and their fits."""
    monkeypatch.chdir(tmp_path)
    db, _ = study_db
    assert SIZE == (120, 36)
    assert screen_snapshot(
        snap_compare,
        db,
        "0",
        lambda screen: screen.result is not None and screen.query_one("#s-grid", DataTable).row_count == 13,
    )


# -- the report ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_report_has_its_figures_and_tables(study_db, tmp_path, capsys):
    """`workbench study report g --out DIR`: growth.png and growth.svg (read back: an image, an SVG naming each
    domain's pace), report.md and report.html with the cells' scores as given, each domain's pace and fits,
    the plan's cells; a folder that is a file is refused clearly."""
    import xml.etree.ElementTree as ET

    from matplotlib.image import imread

    db, given = study_db
    out = tmp_path / "rep"
    assert main(["study", "report", "g", "--out", str(out), "--format", "json", "--db", str(db)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert sorted(Path(f).name for f in res["files"]) == ["growth.png", "growth.svg", "report.html", "report.md"]
    img = imread(out / "growth.png")
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 400 and img.std() > 0.05
    svg = ET.parse(out / "growth.svg").getroot()
    texts = " ".join(t.text or "" for t in svg.iter() if t.tag.endswith("text"))
    assert svg.tag.endswith("svg") and f"math: pace {_pace('math', POINTS):+.3g} per doubling" in texts
    md = (out / "report.md").read_text()
    f = key(0.5, 0)
    with Store(db) as st:
        run_id = next(c["run_id"] for c in S.read_study(st, "g")["cells"] if c["key"] == f)
    cells = next(line for line in md.splitlines() if line.startswith(f"| {f} |")).strip("| ").split(" | ")
    assert cells == [f, "growth", "evaluated", str(run_id), "8", f"{given[f]['code']:.4f}", f"{given[f]['math']:.4f}"]
    assert f"| math | accuracy | {_pace('math', POINTS):.4f} |" in md
    assert "| log-linear | " in md and "| power law | " in md and "![growth curves](growth.png)" in md
    assert f"| {key(0.125, 2)} | new | - |" in md and "| base | done |" in md
    html_page = (out / "report.html").read_text()
    assert '<img src="growth.svg"' in html_page and f"<td>{f}</td>" in html_page
    (tmp_path / "afile").write_text("x")
    assert main(["study", "report", "g", "--out", str(tmp_path / "afile"), "--db", str(db)]) == 1
    assert "exists and is not a folder" in capsys.readouterr().err


def test_every_templates_reading_draws_in_the_terminal():
    """The area's plot and text for each template from hand-made rows (tests/test_studies.py's): curves for
    growth, targeted, quantiles and ratio (built twice at the widget's size, as redraws do), the protocols table
    with Conflict Rate and the cross-ability matrix as tables."""
    from rich.console import Console
    from textual_plotext.plot import Plot

    from engine.studies import reading as RD
    from screens.studies import draw_reading, reading_text
    from tests.test_studies import _row

    base = _row("base", "base", {}, {"math": 0.1, "code": 0.3})
    cases = {
        "growth": [base]
        + [
            _row(
                f"g{f}", "growth", {"fraction": f, "seed": 0}, {"math": 0.1 + 0.05 * math.log(40 * f)}, {"math": 40 * f}
            )
            for f in (0.25, 0.5, 1.0)
        ],
        "targeted": [
            base,
            _row("t", "targeted", {"budget": 4, "seed": 0}, {"math": 0.3}),
            _row("r", "random", {"budget": 4, "seed": 0}, {"math": 0.2}),
            _row("t8", "targeted", {"budget": 8, "seed": 0}, {"math": 0.4}),
            _row("r8", "random", {"budget": 8, "seed": 0}, {"math": 0.25}),
        ],
        "quantiles": [base, _row("r", "random", {"seed": 0}, {"math": 0.2})]
        + [_row(f"q{q}", "quantile", {"quantile": q, "seed": 0}, {"math": 0.4 - 0.1 * q}) for q in range(3)],
        "ratio": [base] + [_row(f"r{r}", "ratio", {"ratio": r, "seed": 0}, {"math": r}) for r in (0.0, 0.5, 1.0)],
        "protocols": [base]
        + [
            _row(p, "protocol", {"protocol": p, "seed": 0}, {"math": v}) | {"conflict": {"rate": c}}
            for p, v, c in (("multi_task", 0.3, 0.25), ("sequential", 0.2, 0.5))
        ],
        "cross": [
            base,
            _row("m", "single", {"domain": "math", "seed": 0}, {"math": 0.4, "code": 0.2}),
            _row("c", "single", {"domain": "code", "seed": 0}, {"math": 0.15, "code": 0.5}),
        ],
    }
    want_plot = {
        "growth": f"math pace {0.05 * math.log(2):+.3f}/2x",
        "targeted": "math random",
        "quantiles": "score vs quantile distance",
        "ratio": "math (peak 1)",
    }
    want_text = {
        "growth": f"math pace {0.05 * math.log(2):+.4f}",
        "targeted": "targeted − random at budgets 4: +0.100, 8: +0.150",
        "quantiles": "random 0.200",
        "ratio": "math peaks at 1.0",
        "protocols": "Conflict Rate",
        "cross": "mean change of the other domains: -0.0250",  # (0.2 - 0.3 + 0.15 - 0.1) / 2
    }
    console = Console(width=60, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    for template, rows in cases.items():
        reading = RD.read(template, rows, {"distances": {str(q): {"chamfer": 0.2 + 0.1 * q} for q in range(3)}}, {})
        plt = Plot()
        drawn = draw_reading(plt, template, reading)
        assert drawn == (template in want_plot), template
        if drawn:
            for _ in range(2):
                plt.plotsize(54, 18)
                built = re.sub(r"\x1b\[[0-9;]*m", "", plt.build())
            assert want_plot[template] in built, (template, built)
        console.print(reading_text(template, reading))
        text = console.export_text()
        assert want_text[template] in text, (template, text)
        if template == "protocols":  # each protocol's Conflict Rate in its row
            assert re.search(r"sequential .*0\.500", text) and re.search(r"multi_task .*0\.250", text), text
