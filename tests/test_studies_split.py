"""Growth studies split by the training data's provenance and by base model (issue 18): the cells each axis makes
(no training: runs are only queued), and the reading per provenance and per model with the pace against model
size, from hand-made rows."""

from __future__ import annotations

import json
import math

import pytest

from engine import studies as S
from engine.core.store import Store
from engine.data.ingest import import_file
from engine.data.pools import set_provenance
from engine.mixtures import Component, Recipe, get_mixture, items, save
from engine.studies import reading as RD
from engine.studies.sizes import from_config, model_parameters
from tests.helpers import SAMPLE, import_sample_pools


def _model(folder, hidden: int, layers: int):
    """A model folder with only a config (all a study needs before training: it is resolved and sized)."""
    folder.mkdir()
    cfg = {"model_type": "llama", "hidden_size": hidden, "num_hidden_layers": layers, "vocab_size": 100}
    cfg |= {"num_attention_heads": 2, "intermediate_size": 2 * hidden, "tie_word_embeddings": True}
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.fixture
def store(tmp_path):
    """train_math and train_code (12 each, human) and syn_math (8 other math records, synthetic)."""
    st = Store(tmp_path / "wb.duckdb")
    import_sample_pools(st, tmp_path, ("math", "code"), 12)
    lines = [x for x in (SAMPLE / "math.jsonl").read_text(encoding="utf-8").split("\n") if x.strip()][12:20]
    (tmp_path / "syn.jsonl").write_text("\n".join(lines) + "\n")
    import_file(st, tmp_path / "syn.jsonl", pool="syn_math", domain="math")
    set_provenance(st, "train_math", "human")
    set_provenance(st, "train_code", "human")
    set_provenance(st, "syn_math", "synthetic")
    save(st, "mix", Recipe([Component("m", "domain", "math"), Component("c", "domain", "code")]))
    yield st
    st.close()


def _pools_of(st, mixture_id) -> set[str]:
    ids = [i.sample_id for i in items(st, int(mixture_id))]
    rows = st.fetchall(
        "SELECT DISTINCT p.name FROM samples s JOIN pools p ON p.id = s.pool_id WHERE s.id IN (SELECT unnest(?))", [ids]
    )
    return {r[0] for r in rows}


def test_a_growth_study_over_two_provenances_and_two_models_makes_its_cells(store, tmp_path):
    st = store
    small, big = _model(tmp_path / "small", 8, 1), _model(tmp_path / "big", 16, 2)
    study = S.new_study(
        st,
        "g",
        "growth",
        "mix",
        axes={"fraction": [0.5, 1.0], "model": [str(small), str(big)], "provenance": ["human", "synthetic"]},
    )
    # each provenance's volume: the base recipe drawn from its pools alone (synthetic has math only)
    assert study.base["provenance"] == {
        "human": {"domains": ["code", "math"], "budget": 24},
        "synthetic": {"domains": ["math"], "budget": 8},
    }
    assert study.settings["model_sizes"] == {str(small): model_parameters(str(small)), str(big): model_parameters(big)}
    assert model_parameters(str(small)) < model_parameters(str(big))
    keys = [c.key for c in S.cells(study.template, study.axes)]
    assert keys[:3] == ["base model=small", "growth model=small provenance=human fraction=0.5 seed=0", keys[2]]
    assert len(keys) == 2 * (1 + 2 * 2) and keys.count("base model=big") == 1
    got = {g.key: g for g in S.launch(st, "g")}
    from engine.training.runs import get_run

    for model in ("small", "big"):
        assert get_run(st, got[f"base model={model}"].run_id).kind == "base"
        assert get_run(st, got[f"base model={model}"].run_id).base_model == str(tmp_path / model)
    h_half = got["growth model=small provenance=human fraction=0.5 seed=0"]
    s_full = got["growth model=big provenance=synthetic fraction=1 seed=0"]
    assert get_run(st, s_full.run_id).base_model == str(big)
    assert _pools_of(st, h_half.mixture_id) == {"train_math", "train_code"}
    assert {d: v["items"] for d, v in get_mixture(st, h_half.mixture_id).per_domain.items()} == {"code": 6, "math": 6}
    assert _pools_of(st, s_full.mixture_id) == {"syn_math"} and get_mixture(st, s_full.mixture_id).n_items == 8
    # the two models train on the same mixture of a cell (saved once, named without the model)
    assert got["growth model=big provenance=human fraction=0.5 seed=0"].mixture_id == h_half.mixture_id
    assert get_mixture(st, h_half.mixture_id).name == "g/growth/provenance=human/fraction=0.5/seed=0"
    # refused clearly
    with pytest.raises(S.StudyError, match="provenance: unknown robots"):
        S.new_study(st, "g2", "growth", "mix", axes={"provenance": ["robots"]})
    with pytest.raises(S.StudyError, match="no sample of mixture mix@1 comes from a pool of provenance 'mixed'"):
        S.new_study(st, "g2", "growth", "mix", axes={"provenance": ["mixed"]})
    with pytest.raises(S.StudyError, match="not both"):
        S.new_study(st, "g2", "growth", "mix", axes={"model": [str(small)]}, run={"base_model": str(big)})
    with pytest.raises(S.StudyError, match="model folder not found"):
        S.new_study(st, "g2", "growth", "mix", axes={"model": [str(tmp_path / "nope")]})
    with pytest.raises(S.StudyError, match="has no axis 'model'"):
        S.new_study(st, "g2", "ratio", "mix", axes={"model": [str(small)]})
    # extended by a seed: the grid gains its cells for every model and provenance
    S.extend(st, "g", axes={"seed": [1]})
    plan = S.plan(st, "g")
    assert len(plan.cells) == 2 * (1 + 2 * 2 * 2)


def _row(key, arm, params, scores, per_domain):
    return {
        "key": key,
        "arm": arm,
        "params": params,
        "state": "evaluated",
        "run_id": 1,
        "volume": {"n_items": sum(per_domain.values()), "n_tokens": 0, "per_domain": per_domain},
        "scores": {d: {"value": v, "metric": "accuracy", "n": 10} for d, v in scores.items()},
    }


def _rows(paces: dict) -> list[dict]:
    """paces: (model, provenance) -> math's score per e-fold of its items (score = 0.1 + b ln n)."""
    rows = []
    for (m, pv), b in paces.items():
        extra = ({"model": m} if m else {}) | ({"provenance": pv} if pv else {})
        base = _row(f"base {m}", "base", {"model": m} if m else {}, {"math": 0.05}, {})
        if base["key"] not in {r["key"] for r in rows}:
            rows.append(base)
        for f in (0.25, 0.5, 1.0):
            n = int(64 * f)
            rows.append(
                _row(
                    f"g {m} {pv} {f}",
                    "growth",
                    extra | {"fraction": f, "seed": 0},
                    {"math": 0.1 + b * math.log(n)},
                    {"math": n},
                )
            )
    return rows


def test_the_reading_gives_curves_per_provenance_and_per_model_and_pace_against_size():
    ln2 = math.log(2)
    rows = _rows(
        {("/m/a", "human"): 0.02, ("/m/a", "synthetic"): 0.01, ("/m/b", "human"): 0.05, ("/m/b", "synthetic"): 0.03}
    )
    sizes = {"/m/a": 10**6, "/m/b": 10**8}
    r = RD.read("growth", rows, {}, {"model_sizes": sizes})
    assert [(s["model_label"], s["provenance"]) for s in r["series"]] == [
        ("a", "human"),
        ("a", "synthetic"),
        ("b", "human"),
        ("b", "synthetic"),
    ]
    assert r["growth"]["math"]["pace"]["per_efold"] == pytest.approx(0.02)  # the first series
    assert [p["pace"] for p in r["paces"]["math"]] == pytest.approx([0.02 * ln2, 0.01 * ln2, 0.05 * ln2, 0.03 * ln2])
    human = next(m for m in r["model_size"] if m["provenance"] == "human")
    # pace per doubling against log10(parameters): (0.05 - 0.02) ln 2 over 2 decades
    assert human["basis"] == "log10 parameters" and human["slope"] == pytest.approx(0.03 * ln2 / 2)
    assert [x["params"] for x in human["by_model"]] == [10**6, 10**8]
    comp = {c["model"]: c for c in r["provenance"]}
    assert comp["b"]["paces"] == pytest.approx({"human": 0.05 * ln2, "synthetic": 0.03 * ln2})
    assert comp["a"]["largest"]["human"] == {"x": 64.0, "mean": pytest.approx(0.1 + 0.02 * math.log(64))}
    # sizes unknown: read in the order given (per step up); one model has no provenance comparison
    r = RD.read("growth", _rows({("/m/a", None): 0.02, ("/m/b", None): 0.05, ("/m/c", None): 0.08}), {}, {})
    only = r["model_size"][0]
    assert only["basis"] == "order given" and only["slope"] == pytest.approx(0.03 * ln2) and "unknown" in only["note"]
    assert "provenance" not in r
    # provenance only: curves per provenance, no model sensitivity
    r = RD.read("growth", _rows({(None, "human"): 0.04, (None, "synthetic"): 0.01}), {}, {})
    assert "model_size" not in r and r["provenance"][0]["paces"] == pytest.approx(
        {"human": 0.04 * ln2, "synthetic": 0.01 * ln2}
    )


def test_show_prints_the_split(capsys):
    from workbench.cli.study import _print_reading

    rows = _rows(
        {("/m/a", "human"): 0.02, ("/m/a", "synthetic"): 0.01, ("/m/b", "human"): 0.05, ("/m/b", "synthetic"): 0.03}
    )
    _print_reading(
        {"cells": rows, "reading": RD.read("growth", rows, {}, {"model_sizes": {"/m/a": 10**6, "/m/b": 10**8}})}
    )
    out = capsys.readouterr().out
    assert "(the curves above: model a human; the other series below" in out
    assert (
        "math (human data): pace by model size: a [1M] 0.0139, b [100M] 0.0347; change of pace +0.0104 per 10x parameters"
        in out
    )
    assert "math (accuracy) · model b by provenance: human pace 0.0347" in out
    assert "model b synthetic · math:" in out


def test_model_size_from_config():
    cfg = {"hidden_size": 4, "num_hidden_layers": 2, "vocab_size": 10, "num_attention_heads": 2, "intermediate_size": 8}
    # per layer: attention 4*4*2 + 4*4*2 = 64, gated MLP 3*4*8 = 96; tied embeddings 40
    assert from_config(cfg) == 2 * (64 + 96) + 40
    assert from_config(cfg | {"tie_word_embeddings": False}) == 2 * (64 + 96) + 80
    assert from_config({"vocab_size": 10}) is None


def test_models_given_relative_to_the_callers_folder_are_rebased_part_by_part(tmp_path):
    """`--models a,hub/id` sent to the app: each part that is a folder where the command was typed is made
    absolute (the app runs in another folder), a hub id stays as it is."""
    import argparse

    from workbench.share import rebase_paths

    (tmp_path / "a").mkdir()
    args = argparse.Namespace(models="a, Qwen/Qwen2.5-0.5B")
    rebase_paths(args, str(tmp_path))
    assert args.models == f"{tmp_path / 'a'},Qwen/Qwen2.5-0.5B"


def test_the_report_has_the_series_tables_and_figure(tmp_path):
    from engine.studies import report as RP

    rows = _rows({("/m/a", "human"): 0.02, ("/m/a", "synthetic"): 0.01, ("/m/b", "human"): 0.05})
    settings = {"model_sizes": {"/m/a": 10**6, "/m/b": None}}
    study = {
        "name": "g",
        "template": "growth",
        "base": {"mixture": "mix@1", "budget": 64, "unit": "samples", "per_domain": {"math": 64}},
        "axes": {"model": ["/m/a", "/m/b"], "provenance": ["human", "synthetic"], "fraction": [0.25, 0.5, 1.0]},
        "settings": settings,
        "eval": {"sets": ["math_eval"]},
    }
    rep = RP.build({"study": study, "cells": rows, "reading": RD.read("growth", rows, {}, settings)})
    md = RP.to_markdown(rep, {f.name: f"{f.name}.svg" for f in rep.figures})
    assert "| base models | /m/a (1M); /m/b (unknown) |" in md
    assert "The curves and tables of this section are those of model a, human data." in md
    assert "## Growth per series (base model, data provenance)" in md and "![growth per series]" in md
    # b has no synthetic series: the comparison of a's, and the slope against the order given (b's size unknown)
    assert "| a | math | accuracy | human: 0.0139; synthetic: 0.0069 |" in md
    assert "| math | human | a (1M): 0.0139; b (unknown): 0.0347 | 0.0208 | order given |" in md
    fig = next(f for f in rep.figures if f.name == "growth-series")
    from engine.studies.figures import draw

    paths = draw(fig, tmp_path)
    assert [p.name for p in paths] == ["growth-series.png", "growth-series.svg"]
    assert "model b, human data" in (tmp_path / "growth-series.svg").read_text()


def test_the_studies_area_reads_the_split():
    """The Studies area's reading text and grid labels for a study over two models and two provenances."""
    from rich.console import Console

    from screens.studies import reading_text, short_key

    rows = _rows({("/m/a", "human"): 0.02, ("/m/a", "synthetic"): 0.01, ("/m/b", "human"): 0.05})
    reading = RD.read("growth", rows, {}, {"model_sizes": {"/m/a": 10**6, "/m/b": 10**8}})
    console = Console(width=200, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(reading_text("growth", reading))
    text = console.export_text()
    assert "curves: a human (the first of 3 series)" in text
    assert "math pace by series a human +0.0139 · a synthetic +0.0069 · b human +0.0347" in text
    assert "math human pace vs model size +0.0104 per 10× parameters" in text
    assert "math a by provenance human +0.0139 · synthetic +0.0069" in text
    assert short_key(rows[0]) == "base model a"
    assert short_key(rows[1]) == "a human f=0.25 s=0"


@pytest.mark.slow
def test_the_new_study_form_takes_models_and_provenances(store, tmp_path, monkeypatch):
    """The Studies area's form: several base models (comma separated) and provenances make those axes; the plan
    shows the cells of each (nothing is trained: the app's queue stands still)."""
    from screens.studies_dialogs import StudyDialog
    from screens.widgets import ConfirmDialog
    from tests.helpers import plain, run_app, wait_screen
    from workbench.app import WorkbenchApp

    monkeypatch.setattr(WorkbenchApp, "tick_runs", lambda self: None)
    small, big = _model(tmp_path / "small", 8, 1), _model(tmp_path / "big", 16, 2)
    db = store.path
    store.close()

    async def body(pilot, app):
        from screens.studies import StudiesScreen

        await pilot.press("0")
        await wait_screen(pilot, app, StudiesScreen, what="area")
        await pilot.press("n")
        await wait_screen(pilot, app, StudyDialog, what="form")
        await pilot.press(*"gp", "alt+v", *"1/2,1", "alt+u", *"human,synthetic", "alt+m", *f"{small},{big}", "enter")
        confirm = await wait_screen(pilot, app, ConfirmDialog, what="plan")
        st = S.get_study(app.store, "gp")
        assert st.axes["model"] == [str(small), str(big)] and st.axes["provenance"] == ["human", "synthetic"]
        assert "8 new run(s) to queue of the 8 in the grid" in plain(confirm.query_one("#message"))

    run_app(WorkbenchApp(db_path=db), body)
