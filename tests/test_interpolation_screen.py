"""The Interpolation screen under Textual's pilot over a real store (planted topic blobs embedded with a
deterministic fake encoder and clustered): create a set in the dialog, the pairs table, the pair preview with
its nearest real samples, the coverage map, the diversity step (sentence features in a worker; embedding-layer
features in a real child process), the pairs export and delete."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, Select, Static

import screens.interpolation as interp_screen
from engine.core.store import Store
from engine.geometry.clusters import cluster
from engine.synthesis.interpolation import get_set, pairs, preview_pair
from screens.interpolation import CreateSetDialog, DiversityDialog, InterpolationScreen
from tests.helpers import interpolation_store as make_store
from tests.helpers import plain, wait_for, wait_screen
from tests.helpers import run_app as _run
from workbench.app import WorkbenchApp


def _rows(screen, wid: str) -> list[list[str]]:
    t = screen.query_one(wid, DataTable)
    return [[str(c) for c in t.get_row(rk)] for rk in t.rows]


@pytest.mark.slow
def test_create_set_in_the_dialog_then_pairs_preview_and_map(tmp_path):
    db = make_store(tmp_path)

    async def body(pilot, app):
        await pilot.press("8")
        screen = app.screen
        assert isinstance(screen, InterpolationScreen)
        await wait_for(pilot, lambda: screen.query_one("#i-empty").display, what="empty state")
        assert not screen.query_one("#i-main").display
        await pilot.press("n")
        await wait_screen(pilot, app, CreateSetDialog, what="dialog")
        dlg = app.screen
        assert "math (15)" in plain(dlg.query_one("#hint", Static))
        # the sources start from real values (the two largest domains), not grey placeholders that look like them
        a, b = (dlg.query_one(f"#f-{k}", Input).value for k in ("a", "b"))
        assert a.startswith("domain:") and b.startswith("domain:") and a != b
        assert dlg.query_one("#f-name", Input).value == f"{a[7:]}-{b[7:]}"
        for key, val in (
            ("name", "mc"),
            ("a", "domain:math"),
            ("b", "domain:code"),
            ("alpha", "0.4"),
            ("pairs", "abc"),
        ):
            dlg.query_one(f"#f-{key}", Input).value = val
        await pilot.click("#ok")
        await wait_for(pilot, lambda: "positive integer" in plain(dlg.query_one("#error", Static)), what="error")
        dlg.query_one("#f-pairs", Input).value = "10"
        dlg.query_one("#f-seed", Input).value = "3"
        dlg.query_one("#f-pairing", Select).value = "nearest"
        dlg.query_one("#f-seed", Input).focus()
        await pilot.press("enter")  # enter in a field submits too
        await wait_for(pilot, lambda: len(_rows(screen, "#i-pairs")) == 10, what="pairs rows")
        assert not screen.query_one("#i-empty").display
        sets = _rows(screen, "#i-sets")
        assert sets == [["mc", "domain:math", "domain:code", "0.4", "10", "10", "nearest"]]
        want = pairs(app.store, "mc")
        assert [r[0] for r in _rows(screen, "#i-pairs")] == [str(p.pair_index) for p in want]
        assert _rows(screen, "#i-pairs")[0][1] == f"{want[0].lam:.2f}"
        assert get_set(app.store, "mc").seed == 3
        # the preview of the first pair: both samples, lam, nearest real samples
        await wait_for(pilot, lambda: screen.preview is not None and screen.preview.pair_index == 0, what="preview")
        text = plain(screen.query_one("#i-preview", Static))
        pv = preview_pair(app.store, "mc", 0, k=4)
        assert f"lam {pv.lam:.3f}" in text and f"A #{pv.a['sample_id']} (math)" in text
        assert f"#{pv.nearest[0].sample_id}" in text and "nearest real samples to the mix (fakeenc" in text
        # moving down previews pair 1 and highlights it on the map
        screen.query_one("#i-pairs", DataTable).focus()
        await pilot.press("down")
        await wait_for(pilot, lambda: screen.preview is not None and screen.preview.pair_index == 1, what="pair 1")
        assert f"lam {want[1].lam:.3f}" in plain(screen.query_one("#i-preview", Static))
        # the coverage map of the only clustering
        await wait_for(pilot, lambda: screen.coverage is not None, what="coverage")
        assert screen.coverage.n_mixes == 10 and screen.clustering == "topics"
        assert f"{screen.coverage.covered_originals}/{screen.coverage.n_clusters} clusters" in plain(
            screen.query_one("#i-cov", Static)
        )

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_diversity_step_export_and_delete(tmp_path):
    db = make_store(tmp_path, with_set=True)
    out = tmp_path / "pairs.csv"

    async def body(pilot, app):
        await pilot.press("8")
        screen = app.screen
        await wait_for(pilot, lambda: len(_rows(screen, "#i-pairs")) == 12, what="pairs")
        assert "no diversity step yet" in plain(screen.query_one("#i-info", Static))
        await pilot.press("s")
        await wait_screen(pilot, app, DiversityDialog, what="dialog")
        dlg = app.screen
        assert dlg.query_one("#f-features", Select).value == "sentence"
        dlg.query_one("#f-budget", Input).value = "5"
        dlg.query_one("#f-k", Input).value = "3"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "kept 5 of 12" in plain(screen.query_one("#i-job", Static)), what="select")
        await wait_for(pilot, lambda: sum(r[2] == "yes" for r in _rows(screen, "#i-pairs")) == 5, what="kept")
        assert "diversity: budget 5, k 3, sentence" in plain(screen.query_one("#i-info", Static))
        assert [r[2] == "yes" for r in _rows(screen, "#i-pairs")] == [p.kept for p in pairs(app.store, "mc")]
        assert _rows(screen, "#i-sets")[0][5] == "5"
        # export: the dialog explains why there is no text export; the table is written
        await pilot.press("o")
        await pilot.pause(0.2)
        inp = app.screen.query_one("#value", Input)
        inp.value = str(tmp_path / "pairs.txt")
        await pilot.press("enter")
        assert "csv, .parquet or .jsonl" in plain(app.screen.query_one("#error", Static))
        inp.value = str(out)
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: out.exists() and "wrote 12 pairs" in plain(screen.query_one("#i-job")), what="export"
        )
        assert out.read_text().splitlines()[0].startswith('"pair_index","sample_a","sample_b","lam"')
        # delete
        await pilot.press("d")
        await pilot.pause(0.2)
        await pilot.click("#confirm")
        await wait_for(pilot, lambda: screen.query_one("#i-empty").display, what="deleted")

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_embedding_layer_features_run_in_a_child_process(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from tests.tiny_lm import tiny_llama, tiny_tokenizer

    tok = tiny_tokenizer()
    folder = tmp_path / "tiny"
    tiny_llama(tok).save_pretrained(folder)
    tok.save_pretrained(folder)
    monkeypatch.setattr(interp_screen, "FEATURE_MODEL", str(folder))
    db = make_store(tmp_path, with_set=True)

    async def body(pilot, app):
        await pilot.press("8")
        screen = app.screen
        await wait_for(pilot, lambda: len(_rows(screen, "#i-pairs")) == 12, what="pairs")
        await pilot.press("s")
        await wait_screen(pilot, app, DiversityDialog, what="dialog")
        dlg = app.screen
        dlg.query_one("#f-features", Select).value = "embedding_layer"
        dlg.query_one("#f-budget", Input).value = "4"
        dlg.query_one("#f-budget", Input).focus()
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "kept 4 of 12" in plain(screen.query_one("#i-job", Static)), what="select", timeout=90
        )
        assert screen.job is None
        assert get_set(app.store, "mc").params["diversity"]["features"] == "embedding_layer"
        await wait_for(pilot, lambda: sum(r[2] == "yes" for r in _rows(screen, "#i-pairs")) == 4, what="kept")

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_engine_errors_are_shown_and_the_map_clustering_can_be_picked(tmp_path):
    db = make_store(tmp_path, with_set=True)
    with Store(db) as st:
        cluster(st, "other", model="fakeenc", min_cluster_size=8)

    async def body(pilot, app):
        await pilot.press("8")
        screen = app.screen
        await wait_for(pilot, lambda: screen.coverage is not None, what="coverage")
        assert screen.clustering == "other"  # the newest clustering by default
        await pilot.press("m")
        await pilot.pause(0.2)
        await pilot.press("up", "enter")  # the ChoiceDialog: pick "topics"
        await wait_for(
            pilot, lambda: screen.coverage is not None and screen.coverage.clustering == "topics", what="map of topics"
        )
        assert "coverage on topics" in plain(screen.query_one("#i-cov", Static))
        # same task on both sides: the engine refuses, the screen says why, nothing is created
        await pilot.press("n")
        await wait_screen(pilot, app, CreateSetDialog, what="dialog")
        dlg = app.screen
        for key, val in (("name", "cc"), ("a", "domain:code"), ("b", "domain:code")):
            dlg.query_one(f"#f-{key}", Input).value = val
        dlg.query_one("#f-name", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "create failed" in plain(screen.query_one("#i-job", Static)), what="error")
        assert "same task" in plain(screen.query_one("#i-job", Static))
        assert any("same task" in n.message for n in app._notifications)
        assert [r[0] for r in _rows(screen, "#i-sets")] == ["mc"]

    _run(WorkbenchApp(db_path=db), body)


def test_pairs_table_shows_the_first_pairs_of_a_large_set(tmp_path, monkeypatch):
    monkeypatch.setattr(interp_screen, "MAX_PAIR_ROWS", 5)
    db = make_store(tmp_path, with_set=True)

    async def body(pilot, app):
        await pilot.press("8")
        screen = app.screen
        await wait_for(pilot, lambda: len(_rows(screen, "#i-pairs")) == 5, what="pairs")
        await wait_for(pilot, lambda: "first 5 pairs" in plain(screen.query_one("#i-info", Static)), what="info")
        assert [r[0] for r in _rows(screen, "#i-pairs")] == ["0", "1", "2", "3", "4"]

    _run(WorkbenchApp(db_path=db), body)
