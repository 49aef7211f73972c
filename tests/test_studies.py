"""Studies (engine/studies, `workbench study`): curve fits and the allocation checked by hand, the readings on
hand-made rows, the targeted and quantiles templates' cells (random baseline of the same size from the same
scope, the base-model run) without training, and a 2 x 2 growth study end to end with a tiny model in real
worker processes: queued, reused on re-launch, evaluated, read back, extended without redoing a finished cell,
and continued after the store was closed mid-queue (as when the app is killed)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from engine import studies as S
from engine.core.store import Store
from engine.studies import reading as RD
from tests.helpers import import_sample_pools
from tests.test_targeting import hashing_encoder
from workbench.cli import main

# -- fits and allocation (pure) ----------------------------------------------------------------------------------


def test_fits_recover_known_parameters_and_report_their_error():
    x = np.array([10, 40, 160, 640, 2560, 10000], float)
    pw = S.fit_power(x, 0.8 - 0.5 * x**-0.4)
    assert pw.params == pytest.approx({"c": 0.8, "a": -0.5, "alpha": 0.4}, abs=1e-6)
    assert pw.rmse < 1e-9 and all(v is not None and v < 1e-6 for v in pw.stderr.values())
    ll = S.fit_loglinear(x, 0.1 + 0.05 * np.log(x))
    assert ll.params == pytest.approx({"a": 0.1, "b": 0.05}, abs=1e-12)
    assert S.growth_pace(ll)["per_doubling"] == pytest.approx(0.05 * math.log(2))
    # a loss falling towards its floor: a > 0
    loss = S.fit_power(x, 1.5 + 3.0 * x**-0.7)
    assert loss.params == pytest.approx({"c": 1.5, "a": 3.0, "alpha": 0.7}, rel=1e-5)
    # noise: the fit's error is the noise's size, the parameters near the truth
    rng = np.random.default_rng(0)
    xs = np.repeat(x, 3)
    noisy = S.fit_power(xs, 0.8 - 0.5 * xs**-0.4 + rng.normal(0, 0.005, len(xs)))
    assert 0.002 < noisy.rmse < 0.01 and noisy.params["c"] == pytest.approx(0.8, abs=0.03)
    assert noisy.stderr["c"] > 0
    # as many points as parameters: exact, and says that its error cannot be estimated
    three = S.fit_power(x[:3], 0.8 - 0.5 * x[:3] ** -0.4)
    assert three.stderr == {"c": None, "a": None, "alpha": None} and "cannot be estimated" in three.note
    assert S.fit_power(x[:2], [0.1, 0.2]) is None and S.fit_loglinear([5, 5], [0.1, 0.2]) is None


def test_allocation_by_marginal_gains_is_optimal_on_a_case_solved_by_hand():
    """f_a = ln n, f_b = 3 ln n, budget 400: the Lagrange condition w_d b_d / n_d = lambda gives n_a = 100,
    n_b = 300; the greedy split equals the best of all 399 splits."""
    fa = S.Fit("loglinear", {"a": 0.0, "b": 1.0}, {}, 0.0, None, 0)
    fb = S.Fit("loglinear", {"a": 0.0, "b": 3.0}, {}, 0.0, None, 0)
    got = S.allocate({"a": fa, "b": fb}, 400, step=1)
    assert got.amounts == {"a": 100, "b": 300}
    best = max(range(1, 400), key=lambda n: math.log(n) + 3 * math.log(400 - n))
    assert got.amounts["a"] == best
    # weights move the split the same way (2 ln n vs 3 ln n -> 160 / 240); a loss curve is minimised
    assert S.allocate({"a": fa, "b": fb}, 400, step=1, weights={"a": 2.0}).amounts == {"a": 160, "b": 240}
    loss = S.Fit("power", {"c": 1.0, "a": 2.0, "alpha": 0.5}, {}, 0.0, None, 0)
    got = S.allocate({"a": fa, "l": loss}, 100, step=1, higher_is_better={"l": False})
    assert got.amounts["l"] > 1 and got.amounts["a"] + got.amounts["l"] == 100
    with pytest.raises(S.StudyError, match="below 1 per domain"):
        S.allocate({"a": fa, "b": fb}, 1)


# -- readings (pure) ---------------------------------------------------------------------------------------------


def _row(key, arm, params, scores, per_domain=None, metric="accuracy"):
    return {
        "key": key,
        "arm": arm,
        "params": params,
        "state": "evaluated",
        "run_id": 1,
        "volume": {"n_items": sum((per_domain or {}).values()), "n_tokens": 0, "per_domain": per_domain or {}},
        "scores": {d: {"value": v, "metric": metric, "n": 10} for d, v in scores.items()},
    }


def test_growth_reading_fits_each_domain_against_its_own_volume():
    rows = [_row("base", "base", {}, {"math": 0.05, "code": 0.5})]
    for f in (1 / 16, 1 / 4, 1.0):
        for s in (0, 1):
            n_math, n_code = int(640 * f), int(160 * f)
            noise = 0.01 if s else -0.01
            rows.append(
                _row(
                    f"growth fraction={f} seed={s}",
                    "growth",
                    {"fraction": f, "seed": s},
                    {"math": 0.02 * math.log(n_math) + noise, "code": 0.6 - 0.3 * n_code**-0.5},
                    {"math": n_math, "code": n_code},
                )
            )
    g = RD.read_growth(rows)
    assert [p["x"] for p in g["math"]["points"]] == [40, 160, 640]
    assert g["math"]["points"][0]["sd"] == pytest.approx(math.sqrt(2) * 0.01)
    assert g["math"]["pace"]["per_efold"] == pytest.approx(0.02, abs=1e-9)
    assert g["math"]["base"] == 0.05 and g["math"]["x"] == "items of this domain"
    assert g["code"]["power"]["params"]["c"] == pytest.approx(0.6, abs=1e-4)


def test_selection_readings_put_targeted_beside_random_and_base():
    rows = [_row("base", "base", {}, {"math": 0.1})]
    for b, t, r in ((10, 0.3, 0.2), (20, 0.4, 0.25)):
        rows.append(_row(f"targeted b={b}", "targeted", {"budget": b, "seed": 0}, {"math": t}))
        rows.append(_row(f"random b={b}", "random", {"budget": b, "seed": 0}, {"math": r}))
    t = RD.read_budgets(rows)["math"]
    assert [
        (x["budget"], round(x["targeted_minus_random"], 6), round(x["targeted_minus_base"], 6)) for x in t["budgets"]
    ] == [
        (10, 0.1, 0.2),
        (20, 0.15, 0.3),
    ]
    q_rows = [_row("base", "base", {}, {"math": 0.1}), _row("random seed=0", "random", {"seed": 0}, {"math": 0.2})]
    for q, score in enumerate((0.5, 0.4, 0.3, 0.35)):
        q_rows.append(_row(f"quantile {q}", "quantile", {"quantile": q, "seed": 0}, {"math": score}))
    dist = {str(q): {"chamfer": 0.2 + 0.1 * q, "ot": 0.3 + 0.1 * q} for q in range(4)}
    qr = RD.read_quantiles(q_rows, dist)["math"]
    assert [r["chamfer"] for r in qr["quantiles"]] == pytest.approx([0.2, 0.3, 0.4, 0.5])
    assert qr["spearman_chamfer"] == pytest.approx(-0.8) and qr["random"]["mean"] == 0.2 and qr["base"] == 0.1


def test_ratio_and_protocol_readings():
    rows = [_row("base", "base", {}, {"code": 0.2, "math": 0.1})]
    for r in (0.0, 0.5, 1.0):
        rows.append(
            _row(f"ratio {r}", "ratio", {"ratio": r, "seed": 0}, {"code": 0.2 + 0.4 * r, "math": 0.5 - 0.3 * r})
        )
    rr = RD.read_ratio(rows, ["code", "math"])
    assert rr["code"]["peak_ratio"] == 1.0 and rr["math"]["peak_ratio"] == 0.0
    assert rr["code"]["line"]["slope"] == pytest.approx(0.4) and rr["math"]["line"]["r2"] == pytest.approx(1.0)
    # a loss: lower is better, so its peak is where it is lowest
    nll = [_row(f"ratio {r}", "ratio", {"ratio": r, "seed": 0}, {"code": 2 - r}, metric="nll") for r in (0.0, 1.0)]
    assert RD.read_ratio(nll, ["code", "math"])["code"]["peak_ratio"] == 1.0
    prot = [_row("base", "base", {}, {"math": 0.1})]
    for p, v, c in (("multi_task", 0.3, 0.2), ("sequential", 0.2, 0.4)):
        row = _row(p, "protocol", {"protocol": p, "seed": 0}, {"math": v})
        row["conflict"] = {"rate": c}
        prot.append(row)
    pr = RD.read_protocols(prot)
    assert pr["domains"]["math"]["protocols"]["sequential"]["minus_base"] == pytest.approx(0.1)
    assert pr["conflict"]["sequential"]["mean"] == 0.4


# -- templates on a small store, without training ----------------------------------------------------------------


@pytest.fixture
def small_store(tmp_path):
    st = Store(tmp_path / "wb.duckdb")
    import_sample_pools(st, tmp_path, ("math", "code"), 12)
    yield st
    st.close()


def _items(store, mixture_id):
    from engine.mixtures import items

    return [i.sample_id for i in items(store, int(mixture_id))]


def test_targeted_and_quantile_templates_queue_random_and_base_baselines(small_store):
    from engine.quality.selection import get_selection, selection_ids
    from engine.targeting.target import target
    from engine.training import runs as R

    st = small_store
    target(st, query="math_eval", name="m8", budget=8, encoder=hashing_encoder, model="hashenc")
    study = S.new_study(st, "tg", "targeted", "m8", axes={"budget": [4, 8]}, eval={"sets": ["math_eval"]})
    assert study.axes == {"budget": [4, 8], "seed": [0]}
    plan = S.plan(st, "tg")
    assert [(c.key, c.n_items) for c in plan.cells] == [
        ("base", 0),
        ("targeted budget=4 seed=0", 4),
        ("random budget=4 seed=0", 4),
        ("targeted budget=8 seed=0", 8),
        ("random budget=8 seed=0", 8),
    ]
    assert plan.rate is None and "no time estimate" in plan.notes[0]
    got = S.launch(st, "tg")
    assert [g.what for g in got] == ["new"] * 5
    cell = {g.key: g for g in got}
    # the base model: a kind="base" run, done at once
    base = R.get_run(st, cell["base"].run_id)
    assert base.kind == "base" and base.status == "done"
    # budget k of the targeted selection = its first k
    order = selection_ids(st, "m8")
    assert _items(st, cell["targeted budget=4 seed=0"].mixture_id) and sorted(
        _items(st, cell["targeted budget=4 seed=0"].mixture_id)
    ) == sorted(order[:4])
    # the random baseline: one seeded selection, as large as the largest budget, drawn from the same scope
    rnd = get_selection(st, "m8-random0")
    assert rnd.method == "random" and rnd.n == 8 and rnd.params["seed"] == 0
    r_ids = selection_ids(st, "m8-random0")
    eval_ids = {
        r[0] for r in st.fetchall("SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.role = 'eval'")
    }
    assert not set(r_ids) & eval_ids
    assert sorted(_items(st, cell["random budget=4 seed=0"].mixture_id)) == sorted(r_ids[:4])
    assert sorted(_items(st, cell["random budget=8 seed=0"].mixture_id)) == sorted(r_ids)
    assert [R.get_run(st, g.run_id).status for g in got[1:]] == ["queued"] * 4
    # launching again makes nothing; a second seed adds two cells and a second random selection
    assert [g.what for g in S.launch(st, "tg")] == ["kept"] * 5
    new = S.extend(st, "tg", axes={"seed": [1]})
    assert [c.key for c in new] == [
        "targeted budget=4 seed=1",
        "random budget=4 seed=1",
        "targeted budget=8 seed=1",
        "random budget=8 seed=1",
    ]
    again = S.launch(st, "tg")
    assert [g.what for g in again if g.key in cell] == ["kept"] * 5 and len(R.list_runs(st)) == 9
    assert get_selection(st, "m8-random1").n == 8 and selection_ids(st, "m8-random1") != r_ids
    # quantiles: one run per quantile selection, a random one of the quantiles' size, the same base run
    target(st, query="math_eval", name="mq", budget=3, quantiles=4, encoder=hashing_encoder, model="hashenc")
    S.new_study(st, "qs", "quantiles", "mq")
    q = S.launch(st, "qs")
    assert [g.key for g in q] == [
        "base",
        "quantile quantile=0 seed=0",
        "quantile quantile=1 seed=0",
        "quantile quantile=2 seed=0",
        "quantile quantile=3 seed=0",
        "random seed=0",
    ]
    assert q[0].run_id == base.id and q[0].what == "reused"
    for g in q[1:5]:
        qn = int(g.key.split("=")[1].split()[0])
        assert sorted(_items(st, g.mixture_id)) == sorted(selection_ids(st, f"mq-q{qn}"))
    assert len(_items(st, q[5].mixture_id)) == 3 and get_selection(st, "mq-random0").params["of"] == "mq"
    assert S.read_study(st, "qs")["study"]["base"]["distances"]["0"]["chamfer"] is not None
    # a selection replaced after the study was made: launching refuses rather than mix two selections
    target(st, query="code_eval", name="m8", budget=8, encoder=hashing_encoder, model="hashenc", replace=True)
    with pytest.raises(S.StudyError, match="selection 'm8' was replaced since study 'tg' was made"):
        S.launch(st, "tg")


def test_bad_requests_are_refused_clearly(small_store, tmp_path, capsys):
    from engine.mixtures import Component, Recipe, save
    from engine.targeting.target import target

    st = small_store
    target(st, query="math_eval", name="m8", budget=8, encoder=hashing_encoder, model="hashenc")
    save(st, "two", Recipe([Component("m", "pool", "train_math"), Component("c", "pool", "train_code")]))
    with pytest.raises(S.StudyError, match="exceed the selection 'm8'"):
        S.new_study(st, "x", "targeted", "m8", axes={"budget": [9]})
    with pytest.raises(S.StudyError, match="no distance-quantile selections"):
        S.new_study(st, "x", "quantiles", "m8")
    with pytest.raises(S.StudyError, match="not an eval set: train_math"):
        S.new_study(st, "x", "growth", "two", eval={"sets": ["train_math"]})
    with pytest.raises(S.StudyError, match=r"fraction: 1.5 is outside \(0, 1\]"):
        S.new_study(st, "x", "growth", "two", axes={"fraction": [1.5]})
    with pytest.raises(S.StudyError, match="name them with --general"):
        S.new_study(st, "x", "protocols", "two")
    with pytest.raises(S.StudyError, match="not in two@1"):
        S.new_study(st, "x", "ratio", "two", options={"domains": ["code", "tool_use"]})
    with pytest.raises(S.StudyError, match="has no axis 'budget'"):
        S.new_study(st, "x", "growth", "two", axes={"budget": [3]})
    ok = S.new_study(st, "r", "ratio", "two")
    assert ok.settings["domains"] == ["code", "math"] and ok.settings["total"] == 12
    with pytest.raises(S.StudyError, match="a study named 'r' exists"):
        S.new_study(st, "r", "ratio", "two")
    with pytest.raises(S.StudyError, match="no study 'nope'; studies: r"):
        S.plan(st, "nope")
    db = str(st.path)
    st.close()
    assert main(["study", "new", "g", "--template", "growth", "--db", db]) == 2
    assert "the growth template needs --mixture" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # argparse's usage error
        main(["study", "new", "g", "--template", "growth", "--mixture", "two", "--fractions", "x", "--db", db])
    assert e.value.code == 2
    assert "--fractions: 'x' is not a number" in capsys.readouterr().err
    assert main(["study", "show", "nope", "--db", db]) == 1
    assert capsys.readouterr().err.strip() == "workbench: no study 'nope'; studies: r"
    assert (
        main(["study", "new", "g", "--template", "growth", "--mixture", "two", "--fractions", "1/4,1", "--db", db]) == 0
    )
    out = capsys.readouterr().out
    assert "study g (growth): 2 training run(s) and the base model; fraction: 0.25, 1.0; seed: 0" in out


# -- end to end with a tiny model ---------------------------------------------------------------------------------

FAST = dict(lr=1e-2, batch_size=4, max_len=256, eval_every=0, save_every=0, grad_conflict_every=0, warmup_ratio=0.0)


def _drive(store, until, timeout=180.0):
    from engine.training import runs as R

    end = time.monotonic() + timeout
    while not until():
        R.tick(store)
        assert time.monotonic() < end, [(r.id, r.status, r.error) for r in R.list_runs(store)]
        time.sleep(0.2)


@pytest.mark.slow
def test_a_2x2_growth_study_end_to_end(tmp_path, model_dir, monkeypatch, capsys):
    """fractions 1/2, 1 x seeds 0, 1 of a math + code mixture with a tiny model in real workers: queued, the store
    closed with a cell running (the app killed) and reopened, the queue continued; re-launch reuses every run;
    `workbench study launch --wait` evaluates and reads it back with fits; extended with a volume, only the new
    cells are queued and the finished ones keep their runs and evaluations."""
    from engine.mixtures import Component, Recipe, save
    from engine.training import runs as R

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    db = tmp_path / "wb.duckdb"
    st = Store(db)
    import_sample_pools(st, tmp_path, ("math", "code"), 8)
    save(st, "two", Recipe([Component("m", "pool", "train_math"), Component("c", "pool", "train_code")], budget=16))
    run = {"base_model": str(model_dir), "lora": {"target_modules": "all-linear"}, "train": FAST | {"max_steps": 1}}
    ev = {"sets": ["math_eval", "code_eval"], "max_items": 2, "max_new_tokens": 4, "threads": 1}
    S.new_study(st, "g", "growth", "two", axes={"fraction": [0.5, 1.0], "seed": [0, 1]}, run=run, eval=ev)
    assert [g.what for g in S.launch(st, "g")] == ["new"] * 5
    assert R.tick(st)  # the first cell starts
    st.close()  # the app is killed with a cell running and three queued
    st = Store(db)
    assert [r["state"] for r in S.status(st, "g")] == ["done", "running", "queued", "queued", "queued"]
    _drive(st, lambda: all(r["state"] not in ("queued", "running") for r in S.status(st, "g")))
    runs_before = {r.id: (r.status, r.finished_at) for r in R.list_runs(st)}
    assert [s for s, _ in runs_before.values()] == ["done"] * 5
    assert [g.what for g in S.launch(st, "g")] == ["kept"] * 5
    # a second study of the same grid reuses every run (same mixture versions and settings)
    S.new_study(st, "g2", "growth", "two", axes={"fraction": [0.5, 1.0], "seed": [0, 1]}, run=run)
    assert [g.what for g in S.launch(st, "g2")] == ["reused"] * 5
    st.close()
    # the CLI twin: nothing left to train; evaluates every cell in one worker and prints the reading
    assert main(["study", "launch", "g", "--wait", "--format", "json", "--db", str(db)]) == 0, capsys.readouterr().err
    res = json.loads(capsys.readouterr().out)
    cells = {c["key"]: c for c in res["cells"]}
    assert list(cells) == [
        "base",
        "growth fraction=0.5 seed=0",
        "growth fraction=1 seed=0",
        "growth fraction=0.5 seed=1",
        "growth fraction=1 seed=1",
    ]
    assert {c["state"] for c in cells.values()} == {"evaluated"}
    assert cells["growth fraction=0.5 seed=0"]["volume"]["per_domain"] == {"code": 4, "math": 4}
    assert cells["growth fraction=1 seed=1"]["volume"]["n_items"] == 16
    for c in cells.values():
        assert set(c["scores"]) == {"math", "code"} and all(s["n"] == 2 for s in c["scores"].values())
    growth = res["reading"]["growth"]
    assert [p["x"] for p in growth["math"]["points"]] == [4, 8] and growth["math"]["points"][0]["n"] == 2
    assert growth["math"]["loglinear"] is not None and growth["math"]["base"] is not None
    assert main(["study", "show", "g", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "log-linear:" in out and "growth pace:" in out and "growth fraction=0.5 seed=1" in out
    # the proposed allocation from those fits, saved as a mixture version of ours
    assert (
        main(["study", "allocate", "g", "--budget", "12", "--save", "g-alloc", "--format", "json", "--db", str(db)])
        == 0
    )
    alloc = json.loads(capsys.readouterr().out)
    assert sum(alloc["allocation"]["amounts"].values()) == 12 and alloc["mixture"] == "g-alloc@1"
    assert set(alloc["curves"]) == {"math", "code"}
    # extended with a volume: only its two cells are new; the finished ones keep their runs and evaluations
    st = Store(db)
    new = S.extend(st, "g", axes={"fraction": [0.25]})
    assert [c.key for c in new] == ["growth fraction=0.25 seed=0", "growth fraction=0.25 seed=1"]
    plan = S.plan(st, "g")
    assert [c.key for c in plan.new] == [c.key for c in new] and plan.rate is not None
    assert all(c.estimate_s is not None and c.estimate_s > 0 for c in plan.new)
    launched = {g.key: g for g in S.launch(st, "g")}
    assert sorted(g.what for g in launched.values()) == ["kept"] * 5 + ["new"] * 2
    after = {r.id: (r.status, r.finished_at) for r in R.list_runs(st)}
    assert {k: after[k] for k in runs_before} == runs_before and len(after) == 7
    states = {r["key"]: r["state"] for r in S.status(st, "g")}
    assert [states[k] for k in cells] == ["evaluated"] * 5 and [states[c.key] for c in new] == ["queued"] * 2
    # a cancelled cell is queued again by the next launch (it resumes)
    R.cancel_run(st, launched[new[0].key].run_id)
    assert {g.key: g.what for g in S.launch(st, "g")}[new[0].key] == "resumed"
    for c in new:
        R.cancel_run(st, launched[c.key].run_id)
    st.close()


def test_ratio_and_protocol_cells_draw_their_mixtures_and_runs(small_store):
    from engine.mixtures import Component, Recipe, get_mixture, save
    from engine.training import runs as R

    st = small_store
    save(st, "two", Recipe([Component("m", "pool", "train_math"), Component("c", "pool", "train_code")]))
    S.new_study(st, "r", "ratio", "two", axes={"ratio": [0.25, 1.0]}, options={"total": 8})
    got = {g.key: g for g in S.launch(st, "r")}
    quarter = get_mixture(st, got["ratio ratio=0.25 seed=0"].mixture_id)
    assert quarter.recipe.proportions == {"code": 0.25, "math": 0.75} and quarter.n_items == 8
    assert {d: v["items"] for d, v in quarter.per_domain.items()} == {"code": 2, "math": 6}
    assert set(get_mixture(st, got["ratio ratio=1 seed=0"].mixture_id).per_domain) == {"code"}
    # protocols: the same items three ways; multi-stage = DMT's stages (math specialised, code "general" here)
    S.new_study(st, "p", "protocols", "two", options={"general": ["code"], "replay": 0.5}, run={"train": {"epochs": 2}})
    got = {g.key: g for g in S.launch(st, "p")}
    runs = {k: R.get_run(st, g.run_id) for k, g in got.items()}
    assert [runs[f"protocol protocol={p} seed=0"].protocol for p in ("multi_task", "sequential", "multi_stage")] == [
        "multi_task",
        "sequential",
        "multi_stage",
    ]
    assert runs["protocol protocol=sequential seed=0"].config["order"] == ["math", "code"]
    assert (
        got["protocol protocol=multi_task seed=0"].mixture_id == got["protocol protocol=sequential seed=0"].mixture_id
    )
    staged = get_mixture(st, got["protocol protocol=multi_stage seed=0"].mixture_id)
    assert [(s.domains, s.replay) for s in staged.recipe.stages] == [(["math"], {}), (["code"], {"math": 0.5})]
    assert staged.n_items == 24 + 6  # every item, and half of math's 12 replayed in the second stage
    assert runs["protocol protocol=multi_task seed=0"].config["train"]["epochs"] == 2
    # cross: each domain alone, on the base version's items of it (the Conflict Rate specialist's mixture)
    from engine.mixtures import domain_subset

    S.new_study(st, "x", "cross", "two")
    got = {g.key: g for g in S.launch(st, "x")}
    assert list(got) == ["base", "single domain=code seed=0", "single domain=math seed=0"]
    base_id = S.get_study(st, "x").base["mixture_id"]
    assert got["single domain=math seed=0"].mixture_id == domain_subset(st, base_id, "math").id
    assert get_mixture(st, got["single domain=code seed=0"].mixture_id).per_domain["code"]["items"] == 12
    with pytest.raises(S.StudyError, match="domain\\(s\\) tool_use not in two@1"):
        S.new_study(st, "x2", "cross", "two", axes={"domain": ["tool_use"]})


def test_cross_reading_is_the_change_from_the_base_model():
    rows = [_row("base", "base", {}, {"math": 0.2, "code": 0.3})]
    for t, (m, c) in {"math": (0.5, 0.25), "code": (0.3, 0.6)}.items():
        for s, e in ((0, 0.01), (1, -0.01)):
            rows.append(_row(f"single {t} {s}", "single", {"domain": t, "seed": s}, {"math": m + e, "code": c + e}))
    x = RD.read_cross(rows)
    assert x["trained"] == ["math", "code"] and x["evaluated"] == ["code", "math"]
    assert x["matrix"]["math"]["math"]["minus_base"] == pytest.approx(0.3)
    assert x["matrix"]["math"]["code"]["minus_base"] == pytest.approx(-0.05)
    assert x["matrix"]["code"]["math"]["minus_base"] == pytest.approx(0.1)
    assert x["mean_transfer"] == pytest.approx(0.025)


def test_allocation_from_growth_curves_and_saved_as_our_mixture(small_store):
    """Growth curves math = ln n and code = 3 ln n (seeds 0, 1 with opposite noise): the allocation read from the
    fits splits 400 items 100 / 300 (by hand: w_d b_d / n_d equal); saved, it is a new mixture version whose
    proportions and budget draw exactly that, its note saying it is our proposal."""
    from engine.mixtures import Component, Recipe, get_mixture, save

    rows = []
    for f in (1 / 8, 1 / 4, 1 / 2, 1.0):
        for s, e in ((0, 1e-3), (1, -1e-3)):
            n = {"math": int(96 * f), "code": int(96 * f)}
            rows.append(
                _row(
                    f"g{f}{s}",
                    "growth",
                    {"fraction": f, "seed": s},
                    {d: b * math.log(n[d]) + e for d, b in (("math", 1), ("code", 3))},
                    n,
                )
            )
    curves, higher, chosen = RD.allocation_curves(RD.read_growth(rows))
    assert chosen == {"code": "loglinear", "math": "loglinear"} and higher == {"code": True, "math": True}
    assert S.allocate(curves, 400, step=1).amounts == {"code": 300, "math": 100}
    st = small_store
    save(st, "two", Recipe([Component("m", "pool", "train_math"), Component("c", "pool", "train_code")]))
    study = S.new_study(st, "g", "growth", "two")
    with pytest.raises(S.StudyError, match="no fitted curve"):
        S.allocate_study(st, "g", 10)
    mv = S.save_allocation(st, study, {"math": 9, "code": 3}, ["math: 9", "code: 3"], "g-allocation")
    mv = get_mixture(st, mv.id)
    assert {d: v["items"] for d, v in mv.per_domain.items()} == {"math": 9, "code": 3}
    assert mv.recipe.budget == 12 and mv.note.startswith("proposed allocation (ours")
    S.new_study(st, "r", "ratio", "two")
    with pytest.raises(S.StudyError, match="is a ratio study"):
        S.allocate_study(st, "r", 10)


def test_show_prints_every_templates_reading(capsys):
    """`workbench study show`'s text for each template, from hand-made rows (the JSON is the reading itself)."""
    from workbench.cli.study import _print_reading

    base = _row("base", "base", {}, {"math": 0.1})
    cases = {
        "growth": [base]
        + [
            _row(f"g{f}", "growth", {"fraction": f, "seed": 0}, {"math": 0.1 * f + 0.2}, {"math": int(40 * f)})
            for f in (0.25, 0.5, 1.0)
        ],
        "targeted": [
            base,
            _row("t", "targeted", {"budget": 4, "seed": 0}, {"math": 0.3}),
            _row("r", "random", {"budget": 4, "seed": 0}, {"math": 0.2}),
        ],
        "quantiles": [
            base,
            _row("q", "quantile", {"quantile": 0, "seed": 0}, {"math": 0.3}),
            _row("r", "random", {"seed": 0}, {"math": 0.2}),
        ],
        "ratio": [base] + [_row(f"r{r}", "ratio", {"ratio": r, "seed": 0}, {"math": r}) for r in (0.0, 1.0)],
        "protocols": [
            base,
            _row("p", "protocol", {"protocol": "sequential", "seed": 0}, {"math": 0.3}) | {"conflict": {"rate": 0.25}},
        ],
        "cross": [base, _row("s", "single", {"domain": "math", "seed": 0}, {"math": 0.4})],
    }
    want = {
        "growth": "growth pace: +0.",
        "targeted": "targeted-random",
        "quantiles": "chamfer",
        "ratio": "by share of math: peaks at 1.0",
        "protocols": "Conflict Rate against the base model (ours): sequential 0.2500",
        "cross": "cross-ability matrix",
    }
    for template, rows in cases.items():
        reading = RD.read(
            template, rows, {"distances": {"0": {"chamfer": 0.2, "ot": 0.3}}}, {"domains": ["math", "code"]}
        )
        _print_reading({"cells": rows, "reading": reading})
        out = capsys.readouterr().out
        assert want[template] in out, (template, out)
