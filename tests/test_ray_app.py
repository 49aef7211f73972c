"""Jobs on Ray from the app: the scope dialog's "runs on" choice (and its message without Ray), and the job
panel's line of the pool's workers read from a Ray job's progress.json (written by hand: no Ray needed). The one
run of a real scoring job on a local Ray is slow and skipped unless ray is installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.core.jobs import JobFolder
from engine.core.ray_jobs import RAY_MISSING, describe_pool, ray_missing, setup_env, setup_from_env
from engine.core.store import Store
from engine.data.ingest import import_file
from screens.scope_dialog import ScopeDialog
from tests.helpers import plain, wait_for, wait_screen
from tests.helpers import run_app as _run
from workbench.app import WorkbenchApp

ROOT = Path(__file__).resolve().parent.parent
POOL = {
    "address": "local",
    "actors": 2,
    "gpus_per_actor": 0.0,
    "nodes": 1,
    "workers": [
        {"worker": "10.0.0.7:4411", "chunks": 3, "items": 192, "rate": 12.5},
        {"worker": "10.0.0.8:5120", "chunks": 2, "items": 128, "rate": 9.25},
    ],
}


def _store(tmp_path: Path, n: int = 12) -> Path:
    p, src = tmp_path / "wb.duckdb", tmp_path / "mix.jsonl"
    src.write_text(
        "".join(
            json.dumps({"instruction": f"Explain item {i}", "output": f"Item {i} is this"}) + "\n" for i in range(n)
        )
    )
    with Store(p) as s:
        import_file(s, src, pool="mix")
    return p


def test_describe_pool_and_the_setup_through_the_environment():
    line = describe_pool(POOL, "samples")
    assert line.startswith("Ray: 2 workers on 1 node · 21.8 samples/s")
    assert "10.0.0.7:4411 12.5/s 3 ch 192" in line and "10.0.0.8:5120 9.2/s 2 ch 128" in line
    assert describe_pool(POOL | {"workers": []}).endswith("· starting")
    assert describe_pool(None) == ""
    from engine.core.ray_jobs import RayError, RaySetup

    assert setup_from_env({}) is None and setup_env(None) == {}
    back = setup_from_env(setup_env(RaySetup(address="ray://head:10001", actors=3)))
    assert (back.address, back.actors) == ("ray://head:10001", 3)
    with pytest.raises(RayError, match="WORKBENCH_RAY"):
        setup_from_env({"WORKBENCH_RAY": "[1"})


def test_job_panel_shows_the_workers_of_a_ray_job(tmp_path):
    """A scoring job whose progress.json (written here) carries the Ray pool: the panel's second line names
    each worker with its rate, chunks and items; c cancels (the child process ends) as for a local job."""
    from engine.quality.scoring import create_job, jobs_root

    db = _store(tmp_path)

    async def body(pilot, app):
        await pilot.press("3")
        screen = app.screen
        job_dir = jobs_root(app.store) / "score-tiny-superfiltering"
        n = create_job(app.store, job_dir, model_name="tiny")
        JobFolder(job_dir).write_progress(state="running", done=5, total=n, rate=21.75, eta_s=3.2, ray=POOL)
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            screen._ifd_started((job_dir, proc, n, "every training sample · on Ray"))
            status = screen.query_one("#s-job")
            await wait_for(pilot, lambda: "Ray: 2 workers" in plain(status), timeout=10, what="workers line")
            text = plain(status)
            assert f"5/{n}" in text and "ETA 3s" in text
            assert "21.8 samples/s" in text and "10.0.0.7:4411 12.5/s 3 ch 192" in text
            assert "10.0.0.8:5120 9.2/s 2 ch 128" in text
            assert screen.panel.has_class("with-workers")
            await pilot.press("c")
            await wait_for(pilot, lambda: proc.poll() is not None, timeout=10, what="process ended by c")
            await wait_for(pilot, lambda: screen.job is None, timeout=10, what="job over")
            assert "Ray:" not in plain(status) and not screen.panel.has_class("with-workers")
        finally:
            proc.kill()
            proc.wait()

    _run(WorkbenchApp(db_path=db), body)


def test_runs_on_ray_says_how_to_install_it_without_ray(tmp_path, monkeypatch):
    """Without Ray (its import blocked here), the choice says so; picking it keeps the dialog open with the
    message, and this machine still works."""
    monkeypatch.setitem(sys.modules, "ray", None)
    assert ray_missing() == RAY_MISSING
    db = _store(tmp_path)

    async def body(pilot, app):
        await pilot.press("3")
        await pilot.press("s")
        dlg = await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        assert "Ray is not installed: pip install -e '.[ray]'" in plain(dlg.query_one("#sd-ray-note"))
        assert "not installed" in str(dlg.query_one("#sd-on-ray").label)
        dlg.place_on("ray")
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: "Ray is not installed" in plain(dlg.query_one("#error")), what="error")
        assert app.screen is dlg
        dlg.query_one("#sd-ray-actors").value = "0"  # not reached: the missing Ray is said first
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ScopeDialog), what="dialog closed")

    _run(WorkbenchApp(db_path=db), body)


def test_actors_must_be_a_whole_number(tmp_path):
    if ray_missing():
        pytest.skip("ray is not installed")
    db = _store(tmp_path)

    async def body(pilot, app):
        await pilot.press("3")
        await pilot.press("s")
        dlg = await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        assert not dlg.query("#sd-ray-note")
        dlg.place_on("ray")
        dlg.query_one("#sd-ray-actors").value = "two"
        await pilot.pause()
        await pilot.click("#ok")
        await wait_for(pilot, lambda: "not a whole number" in plain(dlg.query_one("#error")), what="error")
        await pilot.press("escape")

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_scoring_on_ray_from_the_app(tmp_path, monkeypatch):
    """s, runs on Ray (a local Ray, 1 actor): the panel shows the pool, the job ends done, every sample scored."""
    if ray_missing():
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    pytest.importorskip("torch")
    from engine.quality.scores import metric_values
    from tests.tiny_lm import tiny_llama, tiny_tokenizer

    model_dir = tmp_path / "tiny-model"
    tok = tiny_tokenizer()
    tiny_llama(tok).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    monkeypatch.setenv("WORKBENCH_SCORER", str(model_dir))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    db = _store(tmp_path, n=20)
    seen: list[str] = []
    dirs: list[Path] = []

    async def body(pilot, app):
        await pilot.press("3")
        screen = app.screen
        await pilot.press("s")
        dlg = await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        dlg.place_on("ray")
        dlg.query_one("#sd-ray-actors").value = "1"
        await pilot.pause()
        await pilot.click("#ok")
        status = screen.query_one("#s-job")

        def over() -> bool:
            if screen.job is not None and screen.job.workers:
                seen.append(screen.job.workers)
            return screen.job is None and "IFD job" in plain(status)

        await wait_for(pilot, over, timeout=240, what="IFD job on Ray over")
        assert "IFD job done" in plain(status), plain(status)
        assert seen and seen[0].startswith("Ray: 1 worker on 1 node")
        assert len(metric_values(app.store, "ifd")) == 20
        assert app.job_place["on"] == "ray"  # remembered for the next job of the session
        from engine.quality.scoring import jobs_root

        dirs.extend(jobs_root(app.store).iterdir())

    _run(WorkbenchApp(db_path=db), body)
    ray = JobFolder(dirs[0]).read_progress()["ray"]
    assert ray["actors"] == 1 and ray["workers"][0]["items"] == 20 and ray["workers"][0]["rate"] > 0


@pytest.mark.slow
def test_embedding_on_ray_from_the_app(tmp_path, monkeypatch):
    """e, runs on Ray (a local Ray in the app's worker thread): the workers line, then every sample embedded."""
    if ray_missing():
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    import screens.clusters as clusters_screen
    from tests.helpers import blob_encoder, topic_records, write_jsonl

    monkeypatch.setattr(clusters_screen, "ENCODER", blob_encoder)  # picklable: Ray's actors import tests.helpers
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    db, src = tmp_path / "wb.duckdb", tmp_path / "topics.jsonl"
    write_jsonl(src, topic_records(2))
    with Store(db) as s:
        n = import_file(s, src, pool="topics").n_inserted
    seen: list[str] = []

    async def body(pilot, app):
        from engine.geometry.embeddings import embedded_ids

        await pilot.press("4")
        screen = app.screen
        await pilot.press("e")
        dlg = await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        dlg.place_on("ray")
        dlg.query_one("#sd-ray-actors").value = "1"
        await pilot.pause()
        await pilot.click("#ok")
        status = screen.query_one("#c-job")

        def over() -> bool:
            if screen.job is not None and screen.job.workers:
                seen.append(screen.job.workers)
            return screen.job is None and "embed" in plain(status)

        await wait_for(pilot, over, timeout=180, what="embed on Ray over")
        assert f"embedded {n} samples" in plain(status) and "on Ray" in plain(status), plain(status)
        assert seen[0].startswith("Ray: 1 worker on 1 node")
        assert len(embedded_ids(app.store, model="all-MiniLM-L6-v2", text_kind="instruction_response")) == n

    _run(WorkbenchApp(db_path=db), body)
