"""The curator's walk in the app alone (issue 16): one WorkbenchApp on a fresh, empty store file, driven only by
keys, typing and dialog buttons under Textual's pilot, from importing GSM8K to reading a Conflict Rate.

1. Pools `i`: a GSM8K subset (../shared/datasets/gsm8k_train, written to tmp_path at test time) and a code pool
   (sample_data) as training pools, the math and code eval sets as eval pools (the dialog's "eval set" box for
   one, Pools `e` for the other);
2. Scores `s`: IFD in a child process with a tiny saved model ($WORKBENCH_SCORER);
3. Clusters `e` embeds (a deterministic fake encoder), `k` clusters;
4. Mixtures: the default recipe (every training domain, equal shares) saved as `mc` (ctrl+s, name, enter);
5. Runs `n`: the new-run form (alt+letter fields: base model, max steps, max_len, lr), confirm, the app's queue
   trains it;
6. Results `p`: the specialists of the newest mixture run (nothing is evaluated yet), confirmed and trained;
   `e`: the evaluate form (2 items per set, 8 new tokens); the Conflict Rate is read off the table.

The snapshot is the final Results screen: every model is a tiny random one, so every answer is wrong and every
score, delta and rate is 0.000 whatever the machine (no loss variant, no timings, no ids that vary: the store is
fresh, so runs are 1, 2, 3). Engine reads are for assertions only. Update with `--snapshot-update` and look."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import ROOT, SIZE, plain, settle, wait_for, wait_screen
from workbench.app import WorkbenchApp

SHARED = ROOT.parent / "shared" / "datasets"
if not SHARED.is_dir():  # a checkout beside /work/shared (as the other shared tests)
    SHARED = Path("/work/shared/datasets")
GSM8K = SHARED / "gsm8k_train" / "train.jsonl"
CENTRES = np.random.default_rng(3).normal(size=(2, 16)).astype(np.float32)


def _head(src: Path, dst: Path, n: int) -> Path:
    """The first n records of a JSONL file, written to dst."""
    lines = [x for x in src.read_text(encoding="utf-8").split("\n") if x.strip()][:n]
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst


def _encoder(texts):
    """The sentence encoder's stand-in: code near one centre, the rest near another, noise seeded by the text."""
    out = []
    for t in texts:
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little")
        noise = np.random.default_rng(seed).normal(scale=0.1, size=16).astype(np.float32)
        out.append(CENTRES[int("def " in t)] + noise)
    return np.stack(out)


async def _until(pilot, pred, what: str, show, timeout: float = 30.0) -> None:
    """Let the app run until pred() holds (checked every 0.25 s: the jobs take seconds, and a store query 30
    times a second would take CPU from them); on a timeout say what `show()` holds."""
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}: {show()!r}")
        await pilot.pause(0.25)


async def _import(pilot, app, name: str, *, eval_set: bool = False) -> None:
    """Pools i: type the file name (relative to the working folder; enter detects the format and moves on to
    the pool name, which is the file's), tick "eval set" (tab, tab, space) when asked, enter imports."""
    from textual.widgets import Checkbox, Select

    from screens.import_dialog import ImportDialog

    await pilot.press("1", "i")
    dlg = await wait_screen(pilot, app, ImportDialog, what="import dialog")
    await pilot.press(*name, "enter")
    await wait_for(pilot, lambda: dlg.detection is not None, what=f"{name} detected")
    domain = dlg.query_one("#domain", Select).value  # the detected domain is applied
    assert domain == ("math" if "gsm8k" in name or "math" in name else "code"), domain
    if eval_set:
        await pilot.press("tab", "tab", "space", "shift+tab", "shift+tab")  # back to the pool name
        assert dlg.query_one("#eval-set", Checkbox).value
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen is not dlg, timeout=30, what=f"{name} imported")


async def _walk(pilot) -> None:
    from textual.widgets import DataTable

    from engine.data.pools import list_pools
    from engine.evaluation import conflict as cf
    from engine.geometry.clusters import get_clustering
    from engine.mixtures import list_versions
    from engine.quality.scores import metric_values
    from engine.training import runs as R
    from screens.results_dialogs import EvaluateDialog
    from screens.run_form import NewRunDialog
    from screens.scope_dialog import ScopeDialog
    from screens.widgets import ConfirmDialog

    app = pilot.app
    await wait_for(pilot, lambda: app.store is not None and "samples" in app.store_status, what="store")
    store = app.store

    def runs():
        return R.list_runs(store)

    # 1. Pools: two training pools, two eval sets (one ticked in the dialog, one marked with e afterwards)
    await _import(pilot, app, "gsm8k.jsonl")
    await _import(pilot, app, "code.jsonl")
    await _import(pilot, app, "math_eval.jsonl", eval_set=True)
    await _import(pilot, app, "code_eval.jsonl")
    pools = app.screen
    table = pools.query_one("#pools-table", DataTable)
    await wait_for(pilot, lambda: table.row_count == 4, what="four pools")
    await pilot.press("G", "e")  # the last row, code_eval: an eval set
    await wait_for(pilot, lambda: [p.role for p in list_pools(store)][-1] == "eval", what="code_eval marked")
    got = [(p.name, p.domain, p.n_samples, p.role) for p in list_pools(store)]
    assert got == [
        ("gsm8k", "math", 16, "train"),
        ("code", "code", 8, "train"),
        ("math_eval", "math", 4, "eval"),
        ("code_eval", "code", 4, "eval"),
    ]
    await wait_for(pilot, lambda: str(table.get_row_at(3)[2]) == "eval set", what="role shown")

    # 2. Scores: s, the scope (every training sample: the eval sets are left out), IFD in a child process
    await pilot.press("3")
    scores = app.screen
    await pilot.press("s")
    dlg = await wait_screen(pilot, app, ScopeDialog, what="ifd scope")
    assert "24 samples: every training sample" in str(dlg.query_one("RadioButton").label)
    await pilot.press("enter")
    await _until(
        pilot,
        lambda: scores.job is None and "IFD job done" in plain(scores.query_one("#s-job")),
        "ifd",
        lambda: plain(scores.query_one("#s-job")),
        timeout=90,
    )
    assert len(metric_values(store, "ifd")) == 24

    # 3. Clusters: e embeds, k clusters (named in the scope dialog)
    await pilot.press("4")
    clusters = app.screen
    await pilot.press("e")
    await wait_screen(pilot, app, ScopeDialog, what="embed scope")
    await pilot.press("enter")
    await _until(
        pilot,
        lambda: clusters.job is None and "embedded 24 samples" in plain(clusters.query_one("#c-job")),
        "embed",
        lambda: plain(clusters.query_one("#c-job")),
    )
    await pilot.press("k")
    await wait_screen(pilot, app, ScopeDialog, what="cluster scope")
    await pilot.press(*"topics", "enter")
    await _until(pilot, lambda: clusters.clustering == "topics", "cluster", lambda: plain(clusters.query_one("#c-job")))
    info = get_clustering(store, "topics")
    assert info.n_samples == 24 and info.n_clusters == 2  # math and code

    # 4. Mixtures: the default recipe (math and code, equal shares), ctrl+s asks for a name, enter saves
    await pilot.press("5")
    mixtures = app.screen
    await wait_for(pilot, lambda: mixtures.resolution is not None, what="resolution")
    await pilot.press("ctrl+s", *"mc", "enter")
    await wait_for(pilot, lambda: len(mixtures.saved) == 1, what="saved")
    (mv,) = list_versions(store)
    assert mv.label == "mc@1" and {d: v["items"] for d, v in mv.per_domain.items()} == {"math": 8, "code": 8}

    # 5. Runs: n, the form (a model folder relative to the working folder), the summary, the queue trains it
    await pilot.press("6")
    runs_screen = app.screen
    await pilot.press("n")
    await wait_screen(pilot, app, NewRunDialog, what="new-run form")
    await pilot.press("alt+b", *"chat-model")  # base model
    await pilot.press("alt+s", "2")  # max steps
    await pilot.press("alt+x", "end", "ctrl+u", *"512")  # max_len: the tiny model's positions
    await pilot.press("alt+l", "end", "ctrl+u", *"0.01")  # lr
    await pilot.press("enter")
    confirm = await wait_screen(pilot, app, ConfirmDialog, what="queue summary")
    assert "mc@1 (16 items) · multi_task" in plain(confirm.query_one("#message"))
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen is runs_screen, what="form closed")
    await _until(
        pilot,
        lambda: runs() and runs()[0].status in R.FINISHED,
        "run trained",
        lambda: [(r.id, r.status, r.error) for r in runs()],
        timeout=90,
    )
    (run,) = runs()
    assert run.status == "done" and run.base_model == str(Path.cwd() / "chat-model"), (run.status, run.error)

    # 6. Results: p (nothing evaluated yet: the newest mixture run), the plan confirmed, the specialists trained;
    # e, the form (the mixture run first; 2 items per set, 8 new tokens); the Conflict Rate on screen
    await pilot.press("7")
    results = app.screen
    await pilot.press("p")
    plan = await wait_screen(pilot, app, ConfirmDialog, what="specialists plan")
    assert "2 new run(s) will be queued" in plain(plan.query_one("#message"))
    await pilot.press("enter")
    await _until(
        pilot,
        lambda: len(runs()) == 3 and all(r.status in R.FINISHED for r in runs()),
        "specialists trained",
        lambda: [(r.id, r.kind, r.status, r.error) for r in runs()],
        timeout=90,
    )
    assert {(r.kind, r.domain, r.status) for r in runs()[1:]} == {
        ("specialist", "math", "done"),
        ("specialist", "code", "done"),
    }
    await pilot.press("e")
    form = await wait_screen(pilot, app, EvaluateDialog, what="evaluate form")
    assert form.query_one("#ev-run").value == run.id
    await pilot.press("tab", "tab", "2", "tab", "end", "ctrl+u", "8", "enter")
    await _until(
        pilot,
        lambda: "evaluated: 6 result row(s)" in plain(results.query_one("#r-job")),
        "evaluated",
        lambda: plain(results.query_one("#r-job")),
        timeout=90,
    )
    t = results.query_one("#r-table", DataTable)
    await wait_for(pilot, lambda: t.row_count == 6, what="results rows")  # 3 runs x 2 domains
    acc = cf.conflict_rate(store, run.id)
    for d in ("math", "code"):
        row = next(
            [str(c) for c in t.get_row_at(i)]
            for i in range(t.row_count)
            if str(t.get_row_at(i)[1]).startswith(f"{run.id} ") and str(t.get_row_at(i)[5]) == d
        )
        assert row[2] == "mix" and row[13] == "2"  # 2 items compared with the domain's specialist
        assert row[10] == f"{acc.domains[d].rate:.3f}"  # joint Conflict Rate
    await pilot.press("G")  # the mixture run's last domain: its pooled rates under the table
    await wait_for(pilot, lambda: "pooled: joint conflict" in plain(results.query_one("#r-info")), what="pooled")
    await settle(pilot)


@pytest.mark.slow
@pytest.mark.shared
def test_curator_walk(snap_compare, tmp_path, monkeypatch):
    if not GSM8K.is_file():
        pytest.skip("../shared/datasets/gsm8k_train is not here")
    import screens.clusters as clusters_screen
    from tests.tiny_lm import tiny_chat_model, tiny_llama, tiny_tokenizer

    monkeypatch.chdir(tmp_path)  # the files are typed by name
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # training and eval workers: one torch thread each
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setattr(clusters_screen, "ENCODER", _encoder)
    tiny_chat_model(tmp_path / "chat-model")
    tok = tiny_tokenizer()
    tiny_llama(tok).save_pretrained(tmp_path / "scorer")
    tok.save_pretrained(tmp_path / "scorer")
    monkeypatch.setenv("WORKBENCH_SCORER", str(tmp_path / "scorer"))
    _head(GSM8K, tmp_path / "gsm8k.jsonl", 16)
    _head(ROOT / "sample_data" / "pools" / "code.jsonl", tmp_path / "code.jsonl", 8)
    for d in ("math", "code"):
        _head(ROOT / "sample_data" / "eval" / f"{d}_eval.jsonl", tmp_path / f"{d}_eval.jsonl", 4)
    db = tmp_path / "wb.duckdb"
    assert not db.exists()

    assert snap_compare(WorkbenchApp(db_path=db), terminal_size=SIZE, run_before=_walk)


# -- the dead ends the walk met, each on its own (quick: no models) -------------------------------------------


def _run(db: Path, body) -> None:
    from tests.helpers import run_app

    run_app(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_import_dialog_applies_the_detected_domain_and_marks_an_eval_set(tmp_path, monkeypatch):
    """The detected domain was never applied (a Select says Changed on mount, which read as the person's
    choice); "eval set" marks the imported pool as evaluation data."""
    from engine.data.pools import list_pools

    monkeypatch.chdir(tmp_path)
    _head(ROOT / "sample_data" / "eval" / "math_eval.jsonl", tmp_path / "math_eval.jsonl", 3)
    _head(ROOT / "sample_data" / "pools" / "code.jsonl", tmp_path / "code.jsonl", 3)

    async def body(pilot, app):
        await _import(pilot, app, "math_eval.jsonl", eval_set=True)
        await _import(pilot, app, "code.jsonl")
        assert [(p.name, p.domain, p.role) for p in list_pools(app.store)] == [
            ("math_eval", "math", "eval"),
            ("code", "code", "train"),
        ]

    _run(tmp_path / "wb.duckdb", body)


def test_pools_e_marks_an_eval_set_and_asks_when_a_mixture_drew_from_it(tmp_path):
    from engine import mixtures as mx
    from engine.core.store import Store
    from engine.data.ingest import import_file
    from engine.data.pools import get_pool
    from screens.widgets import ConfirmDialog
    from tests.helpers import write_jsonl

    db = tmp_path / "wb.duckdb"
    with Store(db) as s:
        recs = [{"instruction": f"q {i}", "input": "", "output": f"a {i}"} for i in range(4)]
        import_file(s, write_jsonl(tmp_path / "m.jsonl", recs), pool="m", domain="math")
        mx.save(s, "mix", mx.Recipe([mx.Component("m", "pool", "m")], {"math": 1.0}))

    async def body(pilot, app):
        table = app.screen.query_one("#pools-table")
        await wait_for(pilot, lambda: table.row_count == 1, what="pool row")
        await pilot.press("e")  # the mixture drew from it: refused, then asked
        dlg = await wait_screen(pilot, app, ConfirmDialog, what="mark anyway?")
        assert "drawn into saved mixtures (mix v1)" in plain(dlg.query_one("#message"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: get_pool(app.store, "m").role == "eval", what="marked")
        await wait_for(pilot, lambda: str(table.get_row_at(0)[2]) == "eval set", what="role shown")
        await pilot.press("e")  # back to training data, nothing to ask
        await wait_for(pilot, lambda: get_pool(app.store, "m").role == "train", what="unmarked")

    _run(db, body)


@pytest.mark.slow
def test_mixtures_name_then_enter_saves_and_gives_the_keys_back(tmp_path):
    """ctrl+s without a name focuses the name field; enter there saves, and the focus leaves the field (area
    keys typed after a save went into the name)."""
    from engine.core.store import Store
    from engine.data.ingest import import_file
    from tests.helpers import write_jsonl

    db = tmp_path / "wb.duckdb"
    with Store(db) as s:
        for d in ("math", "code"):
            recs = [{"instruction": f"{d} q {i}", "input": "", "output": f"a {i}"} for i in range(4)]
            import_file(s, write_jsonl(tmp_path / f"{d}.jsonl", recs), pool=d, domain=d)

    async def body(pilot, app):
        await pilot.press("5")
        screen = app.screen
        await wait_for(pilot, lambda: screen.resolution is not None, what="resolution")
        await pilot.press("ctrl+s")
        assert app.focused.id == "m-name"
        await pilot.press(*"mc", "enter")
        await wait_for(pilot, lambda: len(screen.saved) == 1, what="saved")
        assert app.focused.id == "m-domains" and screen.query_one("#m-name").value == "mc"
        await pilot.press("6")
        await wait_for(pilot, lambda: app.current_mode == "runs", what="runs area")

    _run(db, body)


def test_results_before_any_evaluation(tmp_path):
    """With nothing evaluated the Results table is empty: p (and a) work on the newest mixture run, saying which,
    and the evaluate form starts on the newest finished mixture run, not on a specialist that finished after it."""
    from textual.widgets import Select

    from engine import mixtures as mx
    from engine.core.store import Store
    from engine.data.ingest import import_file
    from screens.results_dialogs import EvaluateDialog
    from screens.widgets import ConfirmDialog
    from tests.helpers import insert_run, write_jsonl

    db = tmp_path / "wb.duckdb"
    with Store(db) as s:
        for d in ("math", "code"):
            recs = [{"instruction": f"{d} q {i}", "input": "", "output": f"a {i}"} for i in range(4)]
            import_file(s, write_jsonl(tmp_path / f"{d}.jsonl", recs), pool=d, domain=d)
        comps = [mx.Component("m", "domain", "math"), mx.Component("c", "domain", "code")]
        mv = mx.save(s, "mc", mx.Recipe(comps, {"math": 0.5, "code": 0.5}))
        with s.transaction() as con:
            insert_run(con, 1, "mc-run", "mixture", mixture=mv.id, folder=str(tmp_path / "r1"))
            insert_run(con, 2, "other-spec", "specialist", parent=1, domain="math")
            con.execute("INSERT INTO pools (id, name, domain, role) VALUES (9, 'ev', 'math', 'eval')")

    async def body(pilot, app):
        await pilot.press("7")
        await pilot.press("p")
        dlg = await wait_screen(pilot, app, ConfirmDialog, what="specialists plan")
        assert plain(dlg.query_one("Label")) == "Make the specialists of run 1 (mc-run)?"
        assert "1 new run(s) will be queued" in plain(dlg.query_one("#message"))  # code (math has run 2)
        await pilot.press("escape")  # nothing queued
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="closed")
        await pilot.press("e")
        form = await wait_screen(pilot, app, EvaluateDialog, what="evaluate form")
        assert form.query_one("#ev-run", Select).value == 1

    _run(db, body)
    with Store(db) as s:
        assert s.fetchall("SELECT count(*) FROM runs") == [(2,)]


def test_a_relative_base_model_folder_is_kept_absolute(tmp_path, monkeypatch):
    """Training workers run in another folder: a model folder typed relative to the person's was read there as
    a hub id ("cannot load base model 'chat-model': We couldn't connect to huggingface.co")."""
    from engine.core.store import Store
    from engine.training import runs as R
    from tests.helpers import training_records

    monkeypatch.chdir(tmp_path)
    (tmp_path / "chat-model").mkdir()
    (tmp_path / "chat-model" / "config.json").write_text("{}")
    with Store(tmp_path / "wb.duckdb") as s:
        run = R.create_run(s, records=training_records(4), base_model="chat-model")
        assert run.base_model == str(tmp_path / "chat-model")
        assert R.create_run(s, base_model="some-org/some-model", kind="base").base_model == "some-org/some-model"
