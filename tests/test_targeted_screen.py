"""The Targeted area (screens/targeted.py, key 9) under Textual's pilot over a real store, the engine read-back
it shows (engine/targeting/listing.py) and the `selection.NAME` filter field it opens Browse with.

The store: 8 Alpaca records of each of the six planted topics (python ones in domain code) and an eval pool of
4 python questions, the query set. A deterministic topic encoder stands in for the sentence-transformers model
(the topic words counted, plus noise seeded by the text), so the picks are the python samples."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import DataTable

import screens.targeted as targeted_screen
from engine.core.store import Store
from tests.helpers import SIZE, TOPICS, blob_records, plain, screen_snapshot, topic_records, wait_for, wait_screen
from tests.helpers import run_app as _run
from workbench.app import WorkbenchApp


def topic_encoder(texts):
    """Topic k's words counted in dimension k, then 10 dimensions of noise seeded by the text."""
    X = np.zeros((len(texts), 16), np.float32)
    for r, t in enumerate(texts):
        low = t.lower()
        for k, words in enumerate(TOPICS):
            X[r, k] = sum(low.count(w) for w in words)
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little"))
        X[r, 6:] = rng.normal(scale=0.3, size=10)
    return X


def make_store(tmp_path: Path, *, selection: str | None = None) -> Path:
    """Pool "blobs" (48 samples) and the eval pool "q_python" (4); with `selection`, a targeted selection of
    budget 10 for q_python under that name (EMBED with the topic encoder, round-robin)."""
    from engine.data.ingest import import_file
    from engine.evaluation import evaluate as ev

    db = tmp_path / "wb.duckdb"
    (tmp_path / "blobs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in topic_records(8)))
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(r) + "\n" for r in blob_records(1, 4, start=100)))
    with Store(db) as st:
        import_file(st, tmp_path / "blobs.jsonl", pool="blobs", domain="general")
        st.con.execute("UPDATE samples SET domain = 'code' WHERE instruction LIKE 'python%'")
        import_file(st, tmp_path / "q.jsonl", pool="q_python", domain="code")
        ev.set_role(st, "q_python", "eval")
        if selection:
            from engine.targeting.target import target

            target(st, query="q_python", name=selection, budget=10, encoder=topic_encoder, model="topicenc")
    return db


def test_listing_reads_the_picks_back_and_browse_filters_a_selection(tmp_path):
    """Each pick's query item and similarity come back from its why line; `selection.NAME` filters the samples
    of a selection (rank comparisons: a smaller budget), quoted names too; an unknown name is refused clearly."""
    from engine.data.filters import FilterError
    from engine.data.query import Browser, Filter
    from engine.quality.selection import selection_ids
    from engine.targeting.listing import list_targeted, parse_why, targeted_detail

    assert parse_why("round-robin turn of query 3 (a (b).jsonl record 2): similarity -0.0125") == (
        3,
        "a (b).jsonl record 2",
        -0.0125,
    )
    assert parse_why("ifd 0.9 < 1.0: rank 1 of 3 in domain math") is None
    db = make_store(tmp_path, selection="py 10")
    with Store(db) as st:
        assert [s.name for s in list_targeted(st)] == ["py 10"]
        det = targeted_detail(st, "py 10", limit=3)
        ids = selection_ids(st, "py 10")
        assert [p.sample_id for p in det.picks] == ids[:3] and len(det.similarities) == 10
        q_ids = [r[0] for r in st.fetchall("SELECT id FROM samples WHERE pool_id = 2 ORDER BY id")]
        first = det.picks[0]
        assert first.label == f"sample {q_ids[0]}" and first.query == 0 and first.query_text.startswith("python")
        assert first.similarity == pytest.approx(first.score, abs=1e-4)  # round-robin's score is the similarity
        assert sum(c for _i, _l, c in det.per_query) == 10 and sum(det.counts) == 10
        doms = [p.domain for p in targeted_detail(st, "py 10").picks]
        assert doms.count("code") == 8  # the 8 python samples first, then the closest others
        assert Browser(st, Filter(expression='selection."py 10" IS NOT NULL')).count() == 10
        assert Browser(st, Filter(expression='selection."py 10" <= 4')).count() == 4
        assert Browser(st, Filter(expression='NOT selection."py 10" IS NOT NULL')).count() == 48 - 10 + 4
        with pytest.raises(FilterError, match="unknown selection 'py10'.*did you mean"):
            Browser(st, Filter(expression="selection.py10 = 1")).count()


@pytest.mark.slow
def test_targeted_area_form_job_cancel_resume_and_browse(tmp_path, monkeypatch):
    """9 opens the area (empty: it says what to do); n's form filled with keys starts a job whose picks come
    with their query item, their histogram and the per-item counts; a second job is cancelled mid-way (n then
    offers its request again) and r resumes it from the cached vectors; b opens Browse on every pick of the highlighted selection."""
    from engine.data.query import Browser, Filter
    from engine.quality.selection import list_selections
    from screens.browse import BrowseScreen
    from screens.targeted import TargetDialog, selection_expression

    db = make_store(tmp_path)
    monkeypatch.setattr(targeted_screen, "ENCODER", topic_encoder)

    async def fill(pilot, app, model: str, budget: str, name: str) -> None:
        await pilot.press("n")
        await wait_screen(pilot, app, TargetDialog, what="form")
        # query, representation (kept), model, algorithm (kept), budget (selected on focus: replaced), name
        await pilot.press(*"q_pyt", "right", "tab", "tab", *model, "tab", "tab", *budget, "tab", *name, "enter")

    async def body(pilot, app):
        await pilot.press("9")
        screen = app.screen
        await wait_for(pilot, lambda: screen.query_one("#t-empty").display, what="empty text")
        job = screen.query_one("#t-job")
        await fill(pilot, app, "topicenc", "10", "py10")
        await wait_for(pilot, lambda: screen.job is None and "selection py10" in plain(job), timeout=30, what="job")
        picks = screen.query_one("#t-picks", DataTable)
        await wait_for(pilot, lambda: screen.detail is not None and picks.row_count == 10, what="picks")
        row = [str(c) for c in picks.get_row_at(0)]
        assert row[0] == "1" and row[2] == "code" and row[4].startswith("sample ") and "python question 10" in row[4]
        assert [str(picks.get_row_at(i)[2]) for i in range(10)].count("code") == 8
        assert sum(screen.detail.counts) == 10
        drawn = screen.query_one("#t-hist").plt.build()
        assert "10 picks" in drawn and "█" in drawn
        assert "4/4 pulled some" in plain(screen.query_one("#t-queries"))
        assert "budget     10: Chamfer" in plain(screen.query_one("#t-dist"))

        # a second job on a fresh model (its vectors must be computed): cancelled while encoding, then resumed
        gate, calls = threading.Event(), []

        def gated(texts):
            calls.append(len(texts))
            gate.wait(20)
            return topic_encoder(texts)

        monkeypatch.setattr(targeted_screen, "ENCODER", gated)
        await fill(pilot, app, "slowenc", "5", "slow5")
        await wait_for(pilot, lambda: calls, timeout=20, what="encoding")
        await pilot.press("c")
        gate.set()
        await wait_for(pilot, lambda: screen.job is None and "cancelled" in plain(job), timeout=30, what="cancel")
        assert "r resumes" in plain(job)
        assert "slow5" not in {s.name for s in list_selections(app.store)}
        await pilot.press("n")  # the form starts from the cancelled request
        form = await wait_screen(pilot, app, TargetDialog, what="form again")
        assert [form.query_one(f"#t-{k}").value for k in ("query", "model", "budget", "name")] == [
            "q_python",
            "slowenc",
            "5",
            "slow5",
        ]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="form closed")
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.job is None and "selection slow5" in plain(job), timeout=30, what="resume")
        # the 48 candidates are one embedding chunk (64 at least), written before the cancel took effect
        assert "0 vectors computed now" in plain(job)
        lst = screen.query_one("#t-list", DataTable)
        await wait_for(pilot, lambda: lst.row_count == 2 and screen.selected == "slow5", what="list")

        await pilot.press("b")
        await wait_screen(pilot, app, BrowseScreen, what="browse")
        browse = app.screen
        expr = selection_expression("slow5")
        expected = Browser(app.store, Filter(expression=expr)).count()
        assert expected == 5
        await wait_for(
            pilot,
            lambda: browse.filter is not None and browse.filter.expression == expr and browse.count == expected,
            what="browse count",
        )

    _run(WorkbenchApp(db_path=db), body)


def test_targeted_screen_snapshot(snap_compare, tmp_path, monkeypatch):
    """The selection "py10": its request, picks, histogram, per-item counts and distances against random."""
    monkeypatch.chdir(tmp_path)
    db = make_store(tmp_path, selection="py10")
    assert SIZE == (120, 36)
    assert screen_snapshot(
        snap_compare,
        db,
        "9",
        lambda screen: screen.detail is not None
        and screen.query_one("#t-picks", DataTable).row_count == 10
        and "budget" in plain(screen.query_one("#t-dist")),
    )
