"""The Clusters screen under Textual's pilot over a real store: planted blobs embedded with a deterministic
fake encoder and clustered with PCA + HDBSCAN; the table (clusters and noise), the map, jumps to Browse,
and the embed / assign jobs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

import screens.clusters as clusters_screen
from engine.core.store import Store
from engine.data.ingest import import_file
from engine.data.query import Browser, Filter
from engine.geometry.clusters import cluster, cluster_summary, get_clustering
from engine.geometry.embeddings import embed_samples
from screens.browse import BrowseScreen
from screens.clusters import ClustersScreen, cluster_expression
from tests.helpers import TOPICS, plain, wait_for, wait_screen
from tests.helpers import clusters_store as make_store
from tests.helpers import noisy_blob_encoder as fake_encoder
from tests.helpers import run_app as _run
from tests.helpers import topic_records as records
from workbench.app import WorkbenchApp


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setattr(clusters_screen, "ENCODER", fake_encoder)


async def _confirm(pilot, app, *typed: str) -> None:
    """Wait for a job's scope dialog (screens.scope_dialog), type `typed` (a name) and confirm."""
    from screens.scope_dialog import ScopeDialog

    await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
    await pilot.press(*typed, "enter")


def _rows(screen: ClustersScreen) -> list[list[str]]:
    t = screen.query_one("#c-table", DataTable)
    return [[str(c) for c in t.get_row(rk)] for rk in t.rows]


async def _browse_shows(pilot, app, expr: str, expected: int) -> None:
    """Browse opens filtered by expr and counts `expected` samples."""
    await wait_screen(pilot, app, BrowseScreen, what="browse")
    browse = app.screen
    await wait_for(
        pilot,
        lambda: browse.count == expected and browse.filter is not None and browse.filter.expression == expr,
        what="browse count",
    )


def test_cluster_expression_quotes_odd_names():
    assert cluster_expression("topics", 3) == "cluster.topics = 3"
    assert cluster_expression("by resp", -1) == 'cluster."by resp" = -1'
    assert cluster_expression('a"b\\c', 0) == 'cluster."a\\"b\\\\c" = 0'


@pytest.mark.slow
def test_table_lists_clusters_and_noise_and_map_renders(tmp_path):
    db = make_store(tmp_path)
    with Store(db) as st:
        info = get_clustering(st, "topics")
        summary = cluster_summary(st, "topics", metrics=["ifd"])
    assert info.n_clusters == len(TOPICS) and info.n_noise >= 1  # the planted blobs and the strays

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, ClustersScreen)
        await wait_for(pilot, lambda: len(_rows(screen)) == len(summary), what="cluster rows")
        rows = _rows(screen)
        assert rows[0][0] == "noise" and rows[0][1] == f"{info.n_noise:,}"
        assert [r[0] for r in rows[1:]] == [str(c.cluster) for c in summary[1:]]
        assert all(int(r[1].replace(",", "")) == 30 for r in rows[1:])
        # keywords, the domain mix and the mean ifd column
        kw = {r[0]: r[3] for r in rows}
        assert any("python" in v for v in kw.values()) and any("volcano" in v for v in kw.values())
        py = next(r for r in rows if "python" in r[3])
        assert py[4].startswith("code 100%")
        assert py[5] == f"{next(c for c in summary if str(c.cluster) == py[0]).scores['ifd']:.3f}"
        # the map: every point, one scatter per cluster (+ noise)
        plot = screen.query_one("#c-map", PlotextPlot)
        assert screen.points is not None and len(screen.points["x"]) == info.n_samples
        await wait_for(pilot, lambda: screen.div is not None, what="diversity")
        detail = plain(screen.query_one("#c-detail", Static))
        assert detail.startswith("noise") and "diversity" in detail and "coverage 6/6" in detail
        # moving down highlights a cluster: its representative is shown and the map redraws
        await pilot.press("down")
        await wait_for(pilot, lambda: screen.highlighted == summary[1].cluster, what="highlight")
        detail = plain(screen.query_one("#c-detail", Static))
        assert f"#{summary[1].representative_id}" in detail
        text = plot.render()
        assert text is not None

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_map_title_says_when_points_are_sampled(tmp_path, monkeypatch):
    db = make_store(tmp_path)
    monkeypatch.setattr(clusters_screen, "MAX_MAP_POINTS", 50)
    titles = []

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: screen.points is not None, what="points")
        plt = screen.query_one("#c-map", PlotextPlot).plt
        orig = plt.title
        monkeypatch.setattr(plt, "title", lambda t: (titles.append(t), orig(t)))
        screen._draw_map()
        assert len(screen.points["x"]) == 50 and screen.points["sampled"]

    _run(WorkbenchApp(db_path=db), body)
    assert titles and "50 of 186 points (sampled)" in titles[-1]


@pytest.mark.slow
@pytest.mark.parametrize("key", ["b", "enter"])
def test_browse_opens_the_highlighted_cluster(tmp_path, key):
    db = make_store(tmp_path)

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: len(_rows(screen)) == len(TOPICS) + 1, what="rows")
        await pilot.press("down", "down")
        await wait_for(pilot, lambda: screen.highlighted is not None and screen.highlighted >= 0, what="hl")
        k = screen.highlighted
        await pilot.press(key)
        expr = f"cluster.topics = {k}"
        expected = Browser(app.store, Filter(expression=expr)).count()
        assert expected == 30
        await _browse_shows(pilot, app, expr, expected)

    _run(WorkbenchApp(db_path=db), body)


def test_noise_row_browses_noise(tmp_path):
    db = make_store(tmp_path)

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: len(_rows(screen)) == len(TOPICS) + 1, what="rows")
        assert screen.highlighted == -1
        await pilot.press("b")
        await wait_screen(pilot, app, BrowseScreen, what="browse")
        n = Browser(app.store, Filter(expression="cluster.topics = -1")).count()
        assert n == get_clustering(app.store, "topics").n_noise
        await wait_for(pilot, lambda: app.screen.count == n, what="noise count")

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_empty_state_explains_what_to_do_then_embed_and_cluster_here(tmp_path):
    db = make_store(tmp_path, with_clustering=False, scores=False)

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        empty = screen.query_one("#c-empty")
        await wait_for(pilot, lambda: empty.display, what="empty text")
        assert not screen.query_one("#c-main").display
        assert (
            "workbench embed" in clusters_screen.EMPTY_TEXT and "workbench cluster NAME" in clusters_screen.EMPTY_TEXT
        )
        # e embeds with the (fake) default-model encoder, k clusters into a named clustering
        await pilot.press("e")
        await _confirm(pilot, app)
        await wait_for(
            pilot,
            lambda: screen.job is None and "embedded" in plain(screen.query_one("#c-job")),
            what="embed",
            timeout=30,
        )
        assert "embedded 186 samples" in plain(screen.query_one("#c-job"))
        await pilot.press("k")
        await _confirm(pilot, app, *"mine")
        await wait_for(
            pilot, lambda: screen.clustering == "mine" and len(_rows(screen)) >= 2, what="cluster", timeout=60
        )
        assert not empty.display and screen.query_one("#c-main").display

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_embed_then_assign_new_samples(tmp_path):
    db = make_store(tmp_path)
    extra = tmp_path / "more.jsonl"
    extra.write_text("".join(json.dumps(r) + "\n" for r in records(2, start=500)))

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: len(_rows(screen)) == len(TOPICS) + 1, what="rows")
        import_file(app.store, extra, pool="blobs")
        await pilot.press("e")
        await _confirm(pilot, app)
        await wait_for(pilot, lambda: screen.job is None and screen.n_pending == 12, what="embed", timeout=30)
        assert "n assigns" in plain(screen.query_one("#c-info"))
        await pilot.press("n")
        await wait_for(
            pilot,
            lambda: screen.job is None and "assigned 12" in plain(screen.query_one("#c-job")),
            what="assign",
            timeout=30,
        )
        await wait_for(pilot, lambda: screen.info.n_samples == 186 + 12 and screen.n_pending == 0, what="reload")
        sizes = [int(r[1].replace(",", "")) for r in _rows(screen)[1:]]
        assert sizes == [32] * len(TOPICS)  # each near-copy lands in its topic's cluster

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_map_colours_by_domain(tmp_path):
    db = make_store(tmp_path)

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: screen.points is not None and len(_rows(screen)) > 1, what="map points")
        pts = screen.points
        # domains come aligned with the points: the python cluster is all code
        py = next(r for r in _rows(screen) if "python" in r[3])
        in_py = pts["clusters"] == int(py[0])
        assert set(pts["domains"][in_py].tolist()) == {"code"}
        assert len(set(pts["domains"].tolist())) >= 2
        await pilot.press("d")
        assert screen.colour_by == "domain"
        await pilot.press("d")
        assert screen.colour_by == "cluster"

    _run(WorkbenchApp(db_path=db), body)


# -- keep one per duplicate group (u) ----------------------------------------------------------------------


def _add_copies(db: Path, tmp_path: Path) -> None:
    """A second pool with exact copies of the first 4 volcano and 3 python samples (the hash groups span
    pools; the importer keeps one copy per pool)."""
    copies = records(4, topics=[0]) + records(3, topics=[1])
    src = tmp_path / "copies.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in copies))
    with Store(db) as st:
        import_file(st, src, pool="copies", domain="general")
        embed_samples(st, model="fakeenc", encoder=fake_encoder)


@pytest.mark.slow
def test_dedup_dialog_counts_then_excludes_one_per_group(tmp_path):
    from engine.geometry.dedup import exact_duplicate_groups, semantic_duplicate_groups
    from screens.clusters import DedupDialog

    db = make_store(tmp_path)
    _add_copies(db, tmp_path)
    with Store(db) as st:
        exact = exact_duplicate_groups(st)
        semantic = semantic_duplicate_groups(st, model="fakeenc", threshold=0.9)
    assert len(exact) == 7 and sum(len(g.ids) - 1 for g in exact) == 7
    n_sem = sum(len(g.ids) - 1 for g in semantic)
    assert len(semantic) >= 6 and n_sem > 7  # the tight blobs are near-duplicates at 0.9

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: len(_rows(screen)) == len(TOPICS) + 1, what="rows")
        await pilot.press("u")
        await wait_screen(pilot, app, DedupDialog, what="dialog")
        dlg = app.screen
        result = dlg.query_one("#d-result", Static)
        # opens on exact (hash) groups and counts them at once
        await wait_for(pilot, lambda: "groups" in plain(result), what="exact count")
        assert "7 groups" in plain(result) and "7 samples would be excluded" in plain(result)
        assert "Nothing is deleted" in plain(dlg.query_one("#d-note", Static))
        # semantic: a bad threshold is named, a good one counts the same groups as the engine
        dlg.query_one("#d-method").value = "semantic"
        await pilot.pause()
        th = dlg.query_one("#d-threshold")
        assert not th.disabled and th.value == "0.95"
        assert dlg.query_one("#apply").disabled  # settings changed: count first
        th.value = "1.5"
        await pilot.click("#find")
        await wait_for(pilot, lambda: "outside (0, 1]" in plain(dlg.query_one("#error", Static)), what="error")
        th.value = "0.9"
        th.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "samples would be excluded" in plain(result) and not dlg.busy, what="semantic")
        assert f"{len(semantic)} groups" in plain(result) and f"{n_sem} samples would be excluded" in plain(result)
        # back to exact and apply
        dlg.query_one("#d-method").value = "hash"
        await pilot.pause()
        await pilot.click("#find")
        await wait_for(
            pilot,
            lambda: "7 samples would be excluded" in plain(result) and not dlg.query_one("#apply").disabled,
            what="exact again",
        )
        await pilot.click("#apply")
        await wait_for(pilot, lambda: not isinstance(app.screen, DedupDialog), what="closed")
        await wait_for(
            pilot, lambda: "excluded 7 samples from 7 groups" in plain(screen.query_one("#c-job")), what="job text"
        )
        st = app.store
        n_ex = st.con.execute("SELECT count(*) FROM samples WHERE excluded").fetchall()[0][0]
        tagged = st.con.execute("SELECT count(*) FROM sample_tags WHERE tag = 'duplicate'").fetchall()[0][0]
        assert n_ex == 7 and tagged == 7
        assert st.con.execute("SELECT count(*) FROM samples").fetchall()[0][0] == 186 + 7  # nothing deleted
        assert exact_duplicate_groups(st) == []  # one left per group

    _run(WorkbenchApp(db_path=db), body)


# -- map region (r) ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_map_region_moves_with_keys_and_jumps_to_browse(tmp_path):
    from engine.geometry.clusters import map_points
    from screens.clusters import RegionScreen

    db = make_store(tmp_path)

    def inside(st, region):
        _ids, labels, x, y = map_points(st, "topics")
        x0, x1, y0, y1 = region
        return int(((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)).sum()), labels, x, y

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: len(_rows(screen)) == len(TOPICS) + 1, what="rows")
        await pilot.press("down")
        await wait_for(pilot, lambda: screen.highlighted is not None and screen.highlighted >= 0, what="hl")
        k = screen.highlighted
        await pilot.press("r")
        await wait_screen(pilot, app, RegionScreen, what="region editor")
        reg = app.screen
        await pilot.pause()
        # starts on the highlighted cluster: every member inside, the count exact over all points
        n, labels, x, y = inside(app.store, reg.rect)
        x0, x1, y0, y1 = reg.rect
        m = labels == k
        assert ((x[m] >= x0) & (x[m] <= x1) & (y[m] >= y0) & (y[m] <= y1)).all()
        assert reg.n_inside == n >= 30
        # arrows move by one step, shift+right widens, a = whole map
        await pilot.press("left")
        assert reg.rect[0] == pytest.approx(x0 - reg.sx, abs=2 * 10**-reg.decimals)
        await pilot.press("shift+right")
        assert reg.rect[1] - reg.rect[0] == pytest.approx(x1 - x0 + reg.sx, abs=3 * 10**-reg.decimals)
        await pilot.press("a")
        assert reg.n_inside == 186
        # typed ranges: a bad value is named, good ones set the region (rounded outwards)
        await pilot.press("t")
        assert app.focused is reg.query_one("#r-x0")
        reg.query_one("#r-x1").value = "abc"
        await pilot.press("enter")
        assert "x to: 'abc' is not a number" in plain(reg.query_one("#error", Static))
        mid = float(np.median(x))
        reg.query_one("#r-x0").value = f"{float(x.min()) - 1:.3f}"
        reg.query_one("#r-x1").value = f"{mid:.6f}"
        reg.query_one("#r-y0").value = f"{float(y.min()) - 1:.3f}"
        reg.query_one("#r-y1").value = f"{float(y.max()) + 1:.3f}"
        reg.query_one("#r-x1").focus()
        await pilot.press("enter")
        assert app.focused is reg.query_one("#r-map")
        expected, *_ = inside(app.store, reg.rect)
        assert reg.n_inside == expected and 0 < expected < 186
        expr = reg.expression()
        assert expr.startswith("map.topics.x BETWEEN ") and " AND map.topics.y BETWEEN " in expr
        # enter opens Browse filtered to the region, with the same count
        await pilot.press("enter")
        assert Browser(app.store, Filter(expression=expr)).count() == expected
        await _browse_shows(pilot, app, expr, expected)

    _run(WorkbenchApp(db_path=db), body)


def test_region_expression_quotes_odd_names_and_compiles(tmp_path):
    from engine.data.filters import compile_expression
    from screens.clusters import region_expression

    e = region_expression('by "resp"', -0.25, 0.5, 0, 1, decimals=2)
    assert e == 'map."by \\"resp\\"".x BETWEEN -0.25 AND 0.50 AND map."by \\"resp\\"".y BETWEEN 0.00 AND 1.00'
    sql, params = compile_expression(e, clusterings=['by "resp"'])
    assert params == ['by "resp"', -0.25, 0.5, 'by "resp"', 0.0, 1.0]


@pytest.mark.slow
def test_info_line_says_when_hdbscan_was_fitted_on_a_sample(tmp_path):
    db = make_store(tmp_path)
    with Store(db) as st:
        cluster(st, "part", model="fakeenc", min_cluster_size=10, fit_sample=100)

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: screen.info is not None and screen.info.name == "part", what="newest")
        info = plain(screen.query_one("#c-info"))
        assert "HDBSCAN fitted on 100, 86 placed by approximate_predict" in info

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_dedup_semantic_without_embeddings_says_what_to_do(tmp_path):
    from screens.clusters import DedupDialog

    db = make_store(tmp_path, with_clustering=False, scores=False)

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one("#c-empty").display, what="empty")
        await pilot.press("u")
        await wait_screen(pilot, app, DedupDialog, what="dialog")
        dlg = app.screen
        await wait_for(pilot, lambda: "no duplicate groups" in plain(dlg.query_one("#d-result", Static)), what="count")
        assert dlg.query_one("#apply").disabled  # nothing to apply
        assert "every training sample" in str(dlg.query_one("#d-scope-all").label)
        dlg.query_one("#d-method").value = "semantic"
        await pilot.pause()
        await pilot.click("#find")
        await wait_for(pilot, lambda: "workbench embed" in plain(dlg.query_one("#error", Static)), what="error")
        assert dlg.query_one("#apply").disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DedupDialog), what="closed")
        assert app.store.con.execute("SELECT count(*) FROM samples WHERE excluded").fetchall()[0][0] == 0

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_cancelled_embed_says_how_many_samples_it_kept_and_e_resumes(tmp_path, monkeypatch):
    """c during the second chunk: the first chunk (or two) is kept, the panel states how many; e resumes."""
    import re
    import threading

    db = make_store(tmp_path, with_clustering=False, scores=False)
    release = threading.Event()
    calls = []

    def slow_after_first_chunk(texts):
        calls.append(len(texts))
        if len(calls) > 1:  # the first chunk's one batch is quick; later batches wait for the test
            release.wait(20)
        return fake_encoder(texts)

    monkeypatch.setattr(clusters_screen, "ENCODER", slow_after_first_chunk)

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one("#c-empty").display, what="empty text")
        await pilot.press("e")
        await _confirm(pilot, app)
        await wait_for(pilot, lambda: len(calls) >= 2, what="second chunk", timeout=30)
        await pilot.press("c")
        release.set()
        job = screen.query_one("#c-job")
        await wait_for(pilot, lambda: screen.job is None and "cancelled" in plain(job), what="cancel", timeout=30)
        m = re.search(r"embed cancelled: kept (\d+) of 186 samples embedded; e resumes", plain(job))
        assert m, plain(job)
        kept = int(m.group(1))
        n = app.store.fetchall("SELECT count(*) FROM embeddings")[0][0]
        assert 0 < kept == n < 186
        await pilot.press("e")
        await _confirm(pilot, app)
        await wait_for(pilot, lambda: screen.job is None and "embedded" in plain(job), what="resume", timeout=30)
        assert f"embedded {186 - kept} samples" in plain(job)

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.parametrize("method, k, expected", [("kcenter", "7", 7), ("cluster_balanced", "2", None)])
def test_diversity_selection_from_the_clusters_screen(tmp_path, method, k, expected):
    """v: pick the method, name it in the scope dialog, say how many: the selection is saved as the CLI's
    `workbench select` would save it (k-center: k samples; balanced: N per cluster of the picked clustering)."""
    from engine.quality.selection import get_selection
    from screens.widgets import ChoiceDialog, FieldsDialog

    db = make_store(tmp_path)
    with Store(db) as st:
        n_clusters = get_clustering(st, "topics").n_clusters

    async def body(pilot, app):
        await pilot.press("4")
        screen = app.screen
        await wait_for(pilot, lambda: len(_rows(screen)) > 1, what="cluster rows")
        await pilot.press("v")
        dlg = await wait_screen(pilot, app, ChoiceDialog, what="method")
        dlg.dismiss(method)
        await _confirm(pilot, app, *"div")
        form = await wait_screen(pilot, app, FieldsDialog, what="how many")
        form.query_one("#fd-k").value = k
        form.query_one("#ok").press()
        await wait_for(pilot, lambda: "selection div" in plain(screen.query_one("#c-job")), timeout=30, what="saved")
        sel = get_selection(app.store, "div")
        assert sel.n == (expected if expected is not None else 2 * n_clusters)

    _run(WorkbenchApp(db_path=db), body)
