"""Training runs end to end: real DuckDB stores, real worker subprocesses (`python -m engine.training.worker`) on a
tiny random llama, the queue (one running run at a time), metrics ingested into run_metrics, cancel and resume,
a killed worker detected as failed, runs from saved mixtures, and the `workbench train` / `workbench runs` CLI."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from engine.core.store import Store
from engine.training import runs as R
from tests.helpers import training_records as records
from tests.helpers import write_jsonl
from workbench.cli import main

FAST = dict(
    lr=1e-2,
    batch_size=4,
    max_len=128,
    eval_every=3,
    eval_per_domain=2,
    save_every=3,
    grad_conflict_every=2,
    warmup_ratio=0.0,
    max_steps=6,
)
LORA = dict(target_modules="all-linear")


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "wb.duckdb")
    yield s
    s.close()


def drive(store, until, timeout=90.0):
    """Tick the queue until until() holds; check that never more than one run is running."""
    end = time.monotonic() + timeout
    while True:
        R.tick(store)
        assert sum(r.status == "running" for r in R.list_runs(store)) <= 1
        if until():
            return
        assert time.monotonic() < end, [(r.id, r.status, r.error) for r in R.list_runs(store)]
        time.sleep(0.2)


@pytest.mark.slow
def test_each_protocol_runs_in_a_worker_one_after_another(store, model_dir):
    train = FAST | dict(max_steps=None, packing="grouped", batch_size=2)  # 6 + 6 examples after the eval hold-out
    a = R.create_run(
        store, records=records(16), base_model=str(model_dir), protocol="multi_task", lora=LORA, train=train
    )
    b = R.create_run(
        store,
        records=records(16),
        base_model=str(model_dir),
        protocol="sequential",
        order="code,math",
        lora=LORA,
        train=train,
    )
    c = R.create_run(
        store, records=records(16), base_model=str(model_dir), protocol="multi_stage", lora=LORA, train=train
    )
    assert [r.status for r in R.list_runs(store)] == ["queued"] * 3
    assert [r.id for r in R.queue(store)] == [a.id, b.id, c.id]
    assert R.tick(store) == [f"run {a.id} started"]
    assert R.get_run(store, b.id).status == "queued"
    drive(store, lambda: all(r.status in R.FINISHED for r in R.list_runs(store)))
    runs = {r.id: r for r in R.list_runs(store)}
    for r in runs.values():
        assert r.status == "done", r.error
        assert r.progress["step"] == 6 and r.progress["total"] == 6 and r.progress["eta_s"] == 0
        assert (Path(r.folder) / "adapter" / "adapter_config.json").is_file()
        losses = R.run_metrics(store, r.id, ["loss"])
        assert [s for s, _n, _v in losses] == [1, 2, 3, 4, 5, 6]
        ev = R.run_metrics(store, r.id, ["eval_loss/"])
        assert {n for _s, n, _v in ev} == {"eval_loss/math", "eval_loss/code"}
        assert {s for s, _n, _v in ev} == {0, 3, 6}
        gc = R.grad_conflict(store, r.id)
        assert list(gc) == [("code", "math")] and gc[("code", "math")]["n"] == 3
        assert 0 <= gc[("code", "math")]["share"] <= 1
    # one after another: each started after the previous one finished
    assert runs[a.id].finished_at <= runs[b.id].started_at and runs[b.id].finished_at <= runs[c.id].started_at
    # the sequential run trained code first, then math
    log = (Path(runs[b.id].folder) / "metrics.jsonl").read_text().splitlines()
    phases = [json.loads(x)["phase"] for x in log if '"phase"' in x]
    assert phases == ["code"] * 3 + ["math"] * 3
    stage_phases = [
        json.loads(x)["phase"]
        for x in (Path(runs[c.id].folder) / "metrics.jsonl").read_text().splitlines()
        if '"phase"' in x
    ]
    assert stage_phases == ["stage 0"] * 3 + ["stage 1"] * 3
    # the trained adapter changes the model
    import torch

    model, tok = R.load_trained(runs[a.id], device="cpu")
    base, _ = R.load_trained(R.create_run(store, kind="base", base_model=str(model_dir)), device="cpu")
    ids = torch.tensor([tok("Tom has 3 apples")["input_ids"]])
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits, base(ids).logits)


@pytest.mark.slow
def test_cancel_then_resume_in_the_worker(store, model_dir):
    STEPS = 10
    run = R.create_run(
        store,
        records=records(16),
        base_model=str(model_dir),
        lora=LORA,
        train=FAST | dict(max_steps=STEPS, save_every=500, grad_conflict_every=0, eval_every=0),
    )
    hold = Path(run.folder) / "hold"
    hold.write_text("3")  # the worker waits before step 3: the cancel lands there, however fast the steps are

    def held() -> bool:
        try:
            return bool(json.loads((Path(run.folder) / "status.json").read_text()).get("held"))
        except (OSError, ValueError):
            return False

    drive(store, held)
    R.cancel_run(store, run.id)
    drive(store, lambda: R.get_run(store, run.id).status in R.FINISHED)
    got = R.get_run(store, run.id)
    assert got.status == "cancelled" and got.error is None
    assert got.progress["step"] == 3
    with pytest.raises(R.RunError, match="already cancelled"):
        R.cancel_run(store, run.id)
    hold.unlink()
    R.resume_run(store, run.id)
    assert R.get_run(store, run.id).status == "queued"
    assert R.tick(store) == [f"run {run.id} started"]
    # as in a new app session: the worker is not our child any more; it is followed through its pid
    proc = R._procs.pop(run.id)
    drive(store, lambda: R.get_run(store, run.id).status in R.FINISHED)
    proc.wait(timeout=10)
    got = R.get_run(store, run.id)
    assert got.status == "done", got.error
    steps = [s for s, _n, _v in R.run_metrics(store, run.id, ["loss"])]
    assert steps == list(range(1, STEPS + 1))  # resumed steps replace nothing twice
    with pytest.raises(R.RunError, match="only failed or cancelled"):
        R.resume_run(store, run.id)


@pytest.mark.slow
def test_a_killed_worker_is_failed_with_the_log_tail(store, model_dir):
    run = R.create_run(
        store, records=records(8), base_model=str(model_dir), lora=LORA, train=FAST | dict(max_steps=500)
    )
    R.tick(store)
    got = R.get_run(store, run.id)
    assert got.status == "running" and got.pid
    drive(store, lambda: "loading" in (Path(got.folder) / "log.txt").read_text())
    os.kill(got.pid, signal.SIGKILL)
    t0 = time.monotonic()
    drive(store, lambda: R.get_run(store, run.id).status != "running", timeout=10)
    assert time.monotonic() - t0 < 5
    got = R.get_run(store, run.id)
    assert got.status == "failed" and "died without a final status" in got.error
    assert "loading" in got.error  # the log's tail
    # a queued run behind it starts; killed before it wrote anything, it is failed too
    nxt = R.create_run(store, records=records(8), base_model=str(model_dir), lora=LORA, train=FAST)
    assert R.tick(store) == [f"run {nxt.id} started"]
    os.kill(R.get_run(store, nxt.id).pid, signal.SIGKILL)
    drive(store, lambda: R.get_run(store, nxt.id).status != "running", timeout=10)
    assert R.get_run(store, nxt.id).status == "failed"


def test_dead_pid_of_another_process_is_failed(store, model_dir):
    """A run left 'running' by an app that exited (pid no longer alive, not our child) is failed on the next tick."""
    run = R.create_run(store, records=records(4), base_model=str(model_dir), lora=LORA, train=FAST)
    (Path(run.folder) / "log.txt").write_text("12:00:00 loading\nTraceback: out of memory\n")
    with store.transaction() as con:
        con.execute("UPDATE runs SET status = 'running', pid = 2147483000 WHERE id = ?", [run.id])
    assert R.tick(store)[0] == f"run {run.id} failed (process died)"
    got = R.get_run(store, run.id)
    assert got.status == "failed" and "out of memory" in got.error


def test_runs_from_a_mixture_reuse_base_runs_and_bad_requests(tmp_path, store, model_dir):
    from engine import mixtures as mx
    from engine.data.ingest import import_file

    for dom in ("math", "code"):
        recs = [{"instruction": f"{dom} q {i}", "input": "", "output": f"{dom} a {i}"} for i in range(10)]
        import_file(store, write_jsonl(tmp_path / f"{dom}.jsonl", recs), pool=dom, domain=dom)
    mv = mx.save(
        store,
        "mix",
        mx.Recipe([mx.Component(d, "domain", d) for d in ("math", "code")], {"math": 0.5, "code": 0.5}, budget=12),
    )
    run = R.create_run(
        store, "mix", base_model=str(model_dir), protocol="sequential", order=["math", "code"], train=FAST
    )
    assert run.mixture_id == mv.id and run.name == "mix@1-sequential" and run.status == "queued"
    lines = (Path(run.folder) / "data.jsonl").read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["messages"][0]["role"] == "user"
    assert run.config["data"]["per_domain"] == {"math": 6, "code": 6}
    assert (
        R.create_run(
            store,
            mv.id,
            base_model=str(model_dir),
            protocol="sequential",
            order=["math", "code"],
            train=FAST,
            reuse=True,
        ).id
        == run.id
    )
    other = R.create_run(store, mv.id, base_model=str(model_dir), protocol="multi_task", train=FAST, reuse=True)
    assert other.id != run.id and other.content_hash != run.content_hash
    base = R.create_run(store, kind="base", base_model=str(model_dir))
    assert base.status == "done" and base.finished_at is not None and base.mixture_id is None
    with pytest.raises(R.RunError, match="only failed or cancelled"):
        R.resume_run(store, run.id)
    with pytest.raises(R.RunError, match="not in the data: poetry"):
        R.create_run(store, "mix", base_model=str(model_dir), protocol="sequential", order="poetry")
    with pytest.raises(R.RunError, match="protocol must be one of"):
        R.create_run(store, "mix", base_model=str(model_dir), protocol="round_robin")
    with pytest.raises(R.RunError, match="for the sequential protocol"):
        R.create_run(store, "mix", base_model=str(model_dir), order="math")
    with pytest.raises(R.RunError, match="lora r must be"):
        R.create_run(store, "mix", base_model=str(model_dir), lora={"r": 0})
    with pytest.raises(R.RunError, match="unknown TrainSettings field"):
        R.create_run(store, "mix", base_model=str(model_dir), train={"learning_rate": 1})
    with pytest.raises(mx.MixtureError, match="no mixture 'nope'"):
        R.create_run(store, "nope", base_model=str(model_dir))
    with pytest.raises(R.RunError, match="model folder not found"):
        R.create_run(store, "mix", base_model="/no/such/model")
    with pytest.raises(R.RunError, match="no run 999"):
        R.get_run(store, 999)
    # queued runs are cancelled at once and stay in the history
    R.cancel_run(store, other.id)
    assert R.get_run(store, other.id).status == "cancelled"
    assert [r.id for r in R.list_runs(store)] == [run.id, other.id, base.id]


@pytest.mark.slow
def test_cli_train_foreground_and_runs_commands(tmp_path, model_dir, capsys):
    from engine import mixtures as mx
    from engine.data.ingest import import_file

    db = tmp_path / "cli.duckdb"
    with Store(db) as s:
        p = tmp_path / "math.jsonl"
        p.write_text(
            "".join(json.dumps({"instruction": f"q {i}", "input": "", "output": f"a {i}"}) + "\n" for i in range(8))
        )
        import_file(s, p, pool="math", domain="math")
        mx.save(s, "m", mx.Recipe([mx.Component("math", "domain", "math")], {"math": 1.0}, budget=None))
    base = ["--db", str(db)]
    assert (
        main(
            base
            + [
                "train",
                "m@1",
                "--base-model",
                str(model_dir),
                "--max-steps",
                "3",
                "--lora-targets",
                "q_proj,v_proj",
                "--lr",
                "0.01",
                "--set",
                "eval_per_domain=2",
                "-q",
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    assert "run 1 done" in out.out
    assert main(base + ["train", "m", "--base-model", str(model_dir), "--queue", "--lora-r", "4"]) == 0
    assert capsys.readouterr().out.strip() == "2"
    assert main(base + ["runs", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"], r["step"]) for r in rows] == [(1, "done", 3), (2, "queued", None)]
    assert main(base + ["runs", "show", "1"]) == 0
    shown = capsys.readouterr().out
    assert "eval_loss/math" in shown and "lora: r=8" in shown and "q_proj" in shown
    assert main(base + ["runs", "cancel", "2"]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert main(base + ["runs", "resume", "1"]) == 1
    assert "only failed or cancelled" in capsys.readouterr().err
    assert main(base + ["train", "m", "--protocol", "sequential", "--order", "code", "--queue"]) == 1
    assert "not in the data: code" in capsys.readouterr().err
    assert main(base + ["runs"]) == 0
    table = capsys.readouterr().out
    assert "done" in table and "cancelled" in table and "3/3" in table


def test_concurrent_ticks_ingest_each_metric_line_once(store, tmp_path):
    """The app ticks the queue and a CLI command served by the app (`workbench runs wait`) ticks it too, in
    threads of one process: each metric line is ingested once."""
    import threading

    from engine.training import runs as R
    from tests.helpers import insert_run

    folder = tmp_path / "runs" / "1-r"
    folder.mkdir(parents=True)
    lines = [json.dumps({"step": i, "loss": 1.0 / (i + 1), "lr": 1e-4, "ts": 0}) for i in range(1, 1001)]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with store.transaction() as con:
        insert_run(con, 1, "r", "mixture", folder=str(folder))
        con.execute("UPDATE runs SET status = 'running' WHERE id = 1")
    gate = threading.Barrier(3)

    def ticker():
        gate.wait()
        R.tick(store)

    threads = [threading.Thread(target=ticker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.fetchall("SELECT count(*), count(DISTINCT step) FROM run_metrics WHERE name = 'loss'") == [
        (1000, 1000)
    ]
