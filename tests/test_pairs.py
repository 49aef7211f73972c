"""Pair runs for the outcome half of the interference matrix, end to end on CPU: a tiny chat model, a
three-domain mixture, its specialists and its three two-domain pair runs (created, reused, sharing the
parent's specialists), trained and evaluated in child processes; the matrix's outcome cells must equal the
pair runs' own per-domain Conflict Rates. Then the same through the Results screen (keys a, m, e) and the CLI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from tests.helpers import SIZE, import_sample_pools, plain, wait_for

ROOT = Path(__file__).resolve().parent.parent
FAST = dict(
    lr=1e-2, batch_size=4, max_len=512, eval_every=0, save_every=0, grad_conflict_every=0, warmup_ratio=0.0, max_steps=2
)
DOMAINS = ("code", "general", "math")
SETS = [f"{d}_eval" for d in DOMAINS]


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # training workers: one torch thread each


def _drive(store, timeout=180.0):
    import time

    from engine.training import runs as R

    end = time.monotonic() + timeout
    while any(r.status not in R.FINISHED for r in R.list_runs(store)):
        R.tick(store)
        assert time.monotonic() < end, [(r.id, r.status, r.error) for r in R.list_runs(store)]
        time.sleep(0.2)
    assert all(r.status in ("done", "cancelled") for r in R.list_runs(store)), [
        (r.id, r.status, r.error) for r in R.list_runs(store)
    ]


def test_domains_subset_pairs_and_errors(tmp_path):
    from engine import mixtures as mx
    from engine.core.store import Store
    from engine.data.ingest import import_file

    store = Store(tmp_path / "wb.duckdb")
    for d, f in (("math", "math"), ("code", "code"), ("general", "general")):
        lines = (ROOT / "sample_data" / "pools" / f"{f}.jsonl").read_text().splitlines()[:6]
        (tmp_path / f"{f}.jsonl").write_text("\n".join(lines) + "\n")
        import_file(store, tmp_path / f"{f}.jsonl", pool=f"train_{d}", domain=d)
    comps = [mx.Component(d[0], "pool", f"train_{d}") for d in DOMAINS]
    parent = mx.save(store, "three", mx.Recipe(comps, {d: 1 / 3 for d in DOMAINS}, budget=12))
    sub = mx.domains_subset(store, parent.id, ["math", "code"])
    assert sub.name == "three/only:code+math" and sorted(sub.per_domain) == ["code", "math"]
    parent_items = [(i.domain, i.sample_id) for i in mx.items(store, parent.id) if i.domain in ("code", "math")]
    assert sorted((i.domain, i.sample_id) for i in mx.items(store, sub.id)) == sorted(parent_items)
    assert mx.domains_subset(store, parent.id, ["code", "math"]).id == sub.id  # order of the names: same
    # one domain through the general function: the same version as domain_subset
    assert mx.domains_subset(store, parent.id, ["math"]).id == mx.domain_subset(store, parent.id, "math").id
    # the subset of a pair subset meets the root's own subset (named after the root)
    assert mx.domain_subset(store, sub.id, "math").id == mx.domain_subset(store, parent.id, "math").id
    with pytest.raises(mx.MixtureError, match="no sample items of domain 'law'"):
        mx.domains_subset(store, parent.id, ["math", "law"])
    with pytest.raises(mx.MixtureError, match="non-empty list"):
        mx.domains_subset(store, parent.id, [])
    store.close()


@pytest.mark.slow
def test_pair_runs_fill_the_outcome_matrix(tmp_path, capsys):
    from engine.core.store import Store
    from engine.evaluation import conflict as cf
    from engine.evaluation import evaluate as ev
    from engine.mixtures import Component, Recipe, get_mixture, save
    from engine.training import runs as R
    from screens.results import ResultsScreen
    from tests.tiny_lm import tiny_chat_model
    from workbench.app import WorkbenchApp
    from workbench.cli import main

    model = tiny_chat_model(tmp_path / "model")
    store = Store(tmp_path / "wb.duckdb")
    import_sample_pools(store, tmp_path, DOMAINS, 6)
    mix = save(
        store,
        "three",
        Recipe([Component(d, "pool", f"train_{d}") for d in DOMAINS], {d: 1 / 3 for d in DOMAINS}, budget=12),
    )
    lora = {"target_modules": "all-linear"}
    run = R.create_run(store, mix.id, base_model=str(model), lora=lora, train=FAST)
    # pair runs first: they queue the specialists they need; the run's own specialists are then the same runs
    pairs = cf.ensure_pair_runs(store, run.id)
    specs = cf.ensure_specialists(store, run.id)
    assert sorted(specs) == list(DOMAINS) and {R.get_run(store, r).kind for r in specs.values()} == {"specialist"}
    assert {R.get_run(store, r).parent_run_id for r in specs.values()} <= set(pairs.values())
    assert sorted(pairs) == [("code", "general"), ("code", "math"), ("general", "math")]
    assert len(set(pairs.values())) == 3 and not set(pairs.values()) & (set(specs.values()) | {run.id})
    for (a, b), rid in pairs.items():
        pr = R.get_run(store, rid)
        assert (pr.kind, pr.protocol, pr.parent_run_id, pr.base_model) == ("mixture", "multi_task", run.id, str(model))
        assert pr.config["lora"] == run.config["lora"] and pr.config["train"] == run.config["train"]
        assert get_mixture(store, pr.mixture_id).name == f"three/only:{a}+{b}"
        assert sorted(cf.run_domains(store, ev.get_run_row(store, rid))) == [a, b]
        # the pair run's specialists are the parent's (same domain data and settings -> same content hash),
        # recorded for the pair run by ensure_pair_runs
        assert cf.specialists(store, rid) == {a: specs[a], b: specs[b]}
        assert cf.ensure_specialists(store, rid) == {a: specs[a], b: specs[b]}
    assert cf.ensure_pair_runs(store, run.id) == pairs  # reused, not duplicated
    assert json.loads((Path(run.folder) / "pairs.json").read_text()) == {f"{a}|{b}": r for (a, b), r in pairs.items()}
    # another run over the same data (another protocol) reuses the same pair runs; cancelled, never trained
    run2 = R.create_run(
        store, mix.id, base_model=str(model), protocol="sequential", order="math,code,general", lora=lora, train=FAST
    )
    assert cf.ensure_pair_runs(store, run2.id) == pairs
    R.cancel_run(store, run2.id)
    assert len(R.list_runs(store)) == 1 + 3 + 3 + 1
    assert cf.ensure_pair_runs(store, run.id, pairs=[("math", "code")]) == {("code", "math"): pairs[("code", "math")]}
    with pytest.raises(cf.ConflictError, match="law"):
        cf.ensure_pair_runs(store, run.id, pairs=[("math", "law")])
    with pytest.raises(cf.ConflictError, match="two different domains"):
        cf.ensure_pair_runs(store, run.id, pairs=[("math", "math")])
    with pytest.raises(cf.ConflictError, match="specialist run"):
        cf.ensure_pair_runs(store, specs["math"])

    # the CLI before anything is evaluated: the pair runs are reused and listed, the missing rates are a note
    db = str(store.path)
    store.close()
    assert main(["--db", db, "conflict", str(run.id), "--make-pairs", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["pair_runs"] == {f"{a}|{b}": r for (a, b), r in pairs.items()} and "no evaluation" in out["note"]
    store = Store(db)
    assert len(R.list_runs(store)) == 8

    _drive(store)
    settings = ev.EvalSettings(max_new_tokens=4, batch_size=4, threads=1)
    ev.evaluate_many(store, [run.id, *specs.values()], SETS, max_items=2, settings=settings, poll_s=0.1)
    # pair runs trained but not evaluated: outcome cells empty, and the matrix says how to fill them
    m = cf.interference_matrix(store, run.id, variant="loss")
    assert m["filled"] == 0 and m["n_cells"] == 6
    assert all(m["outcome"][a][b] is None for a in DOMAINS for b in DOMAINS if a != b)
    assert all(m["outcome"][a][a] is not None for a in DOMAINS)
    for (a, b), rid in pairs.items():
        c = m["cells"][f"{a}|{b}"]
        assert c["run_id"] == rid and c["status"] == "done" and "needs evaluating" in c["how"]

    async def body(pilot, app):
        await pilot.press("7")
        scr = app.screen
        assert isinstance(scr, ResultsScreen)
        t = scr.query_one("#r-table", DataTable)
        await wait_for(pilot, lambda: t.row_count == 12, what="results rows")  # 4 evaluated runs x 3 domains
        await pilot.press("l")  # loss variant: the NLL-only domain (general) gets a rate too
        await wait_for(pilot, lambda: scr.variant == "loss", what="loss variant")
        keys = [str(t.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(t.row_count)]
        t.move_cursor(row=keys.index(f"{run.id}|math"))
        await pilot.press("m")
        d = scr.query_one("#r-detail", DataTable)
        await wait_for(pilot, lambda: scr.detail_kind == "matrix" and d.row_count == 3, what="matrix")
        title = " ".join(plain(scr.query_one("#r-detail-title", Static), width=400).split())
        assert "0/6 filled" in title and "a makes the pair runs" in title
        assert all("needs evaluating" in str(d.get_row_at(i)[-1]) for i in range(3))
        n_runs = len(R.list_runs(store))
        await pilot.press("a")  # the pair runs exist: reused
        await wait_for(
            pilot,
            lambda: any("pair runs (queued or reused" in str(n.message) for n in app._notifications),
            what="pair-runs notice",
        )
        assert len(R.list_runs(store)) == n_runs
        # e: the run, its specialists, its finished pair runs (their specialists are the same) in one worker
        scr.eval_settings, scr.eval_max_items = settings, 2
        t.move_cursor(row=keys.index(f"{run.id}|math"))
        await pilot.press("e")  # the evaluate form, prefilled with the highlighted run and every eval set
        from screens.results_dialogs import EvaluateDialog
        from tests.helpers import wait_screen

        form = await wait_screen(pilot, app, EvaluateDialog, what="evaluate form")
        assert form.query_one("#ev-max").value == "2"
        form.query_one("#ok").press()
        job = scr.query_one("#r-job", Static)
        await wait_for(
            pilot, lambda: "evaluated: 21 result row(s)" in plain(job), timeout=90, what=f"evaluate ({plain(job)!r})"
        )  # 7 runs x 3 eval sets
        await wait_for(pilot, lambda: t.row_count == 21, what="results rows with pair runs")
        t.move_cursor(
            row=[str(t.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(t.row_count)].index(
                f"{run.id}|math"
            )
        )
        await pilot.press("m")
        await wait_for(
            pilot, lambda: "6/6 filled" in plain(scr.query_one("#r-detail-title", Static)), what="filled matrix"
        )
        assert all(str(d.get_row_at(i)[-1]) == "filled" for i in range(3))

    asyncio.run(_pilot(WorkbenchApp(store=store), body))

    m = cf.interference_matrix(store, run.id, variant="loss")
    assert m["filled"] == 6
    for (a, b), rid in pairs.items():
        own = cf.conflict_rate(store, rid, variant="loss")  # the pair run against its (the parent's) specialists
        assert {own.domains[a].reference_run, own.domains[b].reference_run} == {specs[a], specs[b]}
        assert m["outcome"][a][b] == own.domains[a].rate and m["outcome"][b][a] == own.domains[b].rate
        assert m["pair_runs"][f"{a}|{b}"] == rid and m["cells"][f"{a}|{b}"]["how"] == f"filled from run {rid}"
    store.close()
    # the CLI: --make-pairs reuses the recorded pair runs, --matrix shows the filled cells
    assert (
        main(["--db", db, "conflict", str(run.id), "--make-pairs", "--matrix", "--variant", "loss", "--format", "json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["pair_runs"] == {f"{a}|{b}": r for (a, b), r in pairs.items()}
    assert out["matrix"]["filled"] == 6 and out["matrix"]["outcome"] == m["outcome"]
    assert main(["--db", db, "conflict", str(run.id), "--matrix", "--variant", "loss"]) == 0
    cap = capsys.readouterr()
    assert "interference matrix" in cap.out and "filled: 6 of 6 off-diagonal outcome cells" in cap.err
    assert main(["--db", db, "conflict", str(run.id), "--make-pairs", "--pairs", "math"]) == 2
    assert "a+b" in capsys.readouterr().err


async def _pilot(app, body):
    async with app.run_test(size=SIZE) as pilot:
        await body(pilot, app)
