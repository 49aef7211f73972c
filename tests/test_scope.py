"""What every job works on (engine.data.scope): the Browse filter, with excluded samples and eval pools left out
unless asked. Each job kind on a real store with an eval pool (holding copies of training samples) and excluded
training samples: left out by default, in when asked, narrowed by a Browse filter; the screens' counts; the CLI;
and the app's Scores / Clusters jobs starting on the Browse filter and saying so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.core.jobs import JobFolder
from engine.core.store import Store
from engine.data.ingest import import_file
from engine.data.pools import get_pool, set_role
from engine.data.query import Filter
from engine.data.scope import (
    Scope,
    as_scope,
    describe_scope,
    domain_counts,
    left_out_words,
    scope_from_params,
    scope_ids,
    scope_params,
    scope_sql,
)
from engine.quality.scores import MetricDef, metric_values, write_scores
from tests.helpers import blob_records, plain, wait_for, wait_screen, wb
from tests.helpers import noisy_blob_encoder as encoder
from tests.helpers import run_app as _run

BOTH = Scope(include_excluded=True, include_eval=True)


def _write(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def _make(tmp_path: Path) -> tuple[Path, dict[str, set[int]]]:
    """Pools m (math, 20 volcano records; its last two excluded), c (code, 20 python records) and the eval pool
    ev (math: copies of m's first 3 records and 7 of its own). Returns the db and the id sets."""
    db = tmp_path / "wb.duckdb"
    with Store(db) as st:
        import_file(st, _write(tmp_path / "m.jsonl", blob_records(0, 20)), pool="m", domain="math")
        import_file(st, _write(tmp_path / "c.jsonl", blob_records(1, 20)), pool="c", domain="code")
        ev = blob_records(0, 3) + blob_records(0, 7, start=100)
        import_file(st, _write(tmp_path / "ev.jsonl", ev), pool="ev", domain="math")
        set_role(st, "ev", "eval")
        m = get_pool(st, "m").id
        excl = [r[0] for r in st.fetchall("SELECT id FROM samples WHERE pool_id = ? ORDER BY id DESC LIMIT 2", [m])]
        st.con.execute("UPDATE samples SET excluded = true WHERE id = ANY(?)", [excl])
        ids = _ids(st)
    return db, ids


def _ids(st) -> dict[str, set[int]]:
    def q(sql):
        return {r[0] for r in st.fetchall(sql)}

    pools = "SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id WHERE "
    return {
        "train": q(pools + "coalesce(p.role, 'train') = 'train' AND NOT s.excluded"),
        "excluded": q("SELECT id FROM samples WHERE excluded"),
        "eval": q(pools + "p.role = 'eval'"),
        "code": q(pools + "p.name = 'c'"),
    }


@pytest.fixture
def store(tmp_path):
    db, ids = _make(tmp_path)
    with Store(db) as st:
        yield st, ids


# --- the helper


def test_scope_defaults_leave_out_excluded_and_eval_unless_asked(store):
    st, ids = store
    assert len(ids["train"]) == 38 and len(ids["excluded"]) == 2 and len(ids["eval"]) == 10
    assert set(scope_ids(st).tolist()) == ids["train"]
    assert set(scope_ids(st, Filter()).tolist()) == ids["train"]  # Browse's include_excluded=True is not asking
    assert set(scope_ids(st, Scope(include_excluded=True)).tolist()) == ids["train"] | ids["excluded"]
    assert set(scope_ids(st, Scope(include_eval=True)).tolist()) == ids["train"] | ids["eval"]
    assert set(scope_ids(st, BOTH).tolist()) == ids["train"] | ids["excluded"] | ids["eval"]
    ev = get_pool(st, "ev").id
    # naming the eval pool in the filter asks for it; other eval pools would stay out
    assert set(scope_ids(st, Filter(pool_ids=[ev])).tolist()) == ids["eval"]
    assert set(scope_ids(st, Filter(domains=["code"])).tolist()) == ids["code"]
    # a filter that leaves out excluded samples keeps them out even when the scope asks
    assert set(scope_ids(st, Scope(Filter(include_excluded=False), include_excluded=True)).tolist()) == ids["train"]
    # the legacy pool_ids argument narrows a filter's pools
    m, c = get_pool(st, "m").id, get_pool(st, "c").id
    assert as_scope(Filter(pool_ids=[m, c]), pool_ids=[c]).filter.pool_ids == [c]
    w, p = scope_sql(st)
    assert "NOT s.excluded" in w and ev in p


def test_scope_in_words_and_saved(store):
    st, _ids = store
    assert describe_scope(st) == "38 samples: every training sample, not excluded; eval pools left out"
    assert describe_scope(st, Filter(domains=["math"], pool_ids=[get_pool(st, "m").id])) == (
        "18 samples: pool m, domain math, not excluded; eval pools left out"
    )
    assert describe_scope(st, Filter(pool_ids=[get_pool(st, "ev").id])) == "10 samples: pool ev (eval), not excluded"
    assert describe_scope(st, BOTH) == "50 samples: every sample, excluded included; eval pools included"
    f = Filter(domains=["math"], score_ranges={"ifd": (None, 1.0)}, expression="n_tokens > 0", text="lava")
    back = scope_from_params(json.loads(json.dumps(scope_params(Scope(f, include_eval=True)))))
    assert back == Scope(f, include_eval=True)


# --- each job kind


def test_scoring_job_input_follows_the_scope(store, tmp_path):
    from engine.quality.scoring import create_job

    st, ids = store

    def job_ids(name, **kw):
        job = tmp_path / name
        create_job(st, job, model_name="tiny", **kw)
        return {it["sample_id"] for it in JobFolder(job).read_input()}, JobFolder(job).read_spec()

    got, spec = job_ids("j1")
    assert got == ids["train"] and spec["scope"]["include_eval"] is False
    assert job_ids("j2", scope=BOTH)[0] == ids["train"] | ids["excluded"] | ids["eval"]
    assert job_ids("j3", scope=Filter(domains=["code"]))[0] == ids["code"]
    assert job_ids("j4", pool_ids=[get_pool(st, "ev").id])[0] == ids["eval"]  # the eval pool named


def test_heuristics_follow_the_scope(store):
    from engine.quality.heuristics import run_heuristics

    st, ids = store
    run_heuristics(st, names=["h_resp_chars"])
    assert set(metric_values(st, "h_resp_chars")) == ids["train"]
    run_heuristics(st, names=["h_resp_chars"], scope=Filter(domains=["code"]))  # nothing new: code is done
    run_heuristics(st, names=["h_resp_chars"], scope=BOTH)
    assert set(metric_values(st, "h_resp_chars")) == ids["train"] | ids["excluded"] | ids["eval"]


def test_embedding_and_clustering_follow_the_scope(store):
    from engine.geometry.clusters import assign_new, cluster, cluster_summary, get_clustering
    from engine.geometry.embeddings import embed_samples, embedded_ids

    st, ids = store
    r = embed_samples(st, model="fake", encoder=encoder)
    assert r.n_scope == r.n_new == 38
    assert set(embedded_ids(st, model="fake", text_kind="instruction_response", scope=BOTH).tolist()) == ids["train"]
    r = embed_samples(st, model="fake", encoder=encoder, scope=Scope(include_eval=True))
    assert r.n_new == 10  # the eval pool, asked for
    info = cluster(st, "train", model="fake", min_cluster_size=5)
    members = {
        int(i) for (i,) in st.fetchall("SELECT sample_id FROM cluster_assignments WHERE clustering_id = ?", [info.id])
    }
    assert members == ids["train"]
    assert get_clustering(st, "train").params["scope_text"].startswith("38 samples: every training sample")
    info = cluster(st, "with_eval", model="fake", min_cluster_size=5, scope=Scope(include_eval=True))
    assert info.n_samples == 48
    doms = {d for c in cluster_summary(st, "with_eval") for d in c.domains}
    assert "math (eval)" in doms and "math" in doms  # eval members counted apart
    # a Browse filter scopes a clustering, and its later assignments stay in that scope
    info = cluster(st, "code", model="fake", min_cluster_size=5, scope=Filter(domains=["code"]))
    assert info.n_samples == 20
    st.con.execute("UPDATE samples SET excluded = false")  # the two excluded samples come back (embedded? not yet)
    embed_samples(st, model="fake", encoder=encoder)
    assert assign_new(st, "train") == 2  # back in the training scope
    assert assign_new(st, "code") == 0  # math samples: not in the code clustering's scope


def test_dedup_never_excludes_an_eval_copy_unless_asked(store):
    from engine.geometry.dedup import exact_duplicate_groups, keep_one_per_group

    st, ids = store
    assert exact_duplicate_groups(st) == []  # ev's 3 copies of m's samples are out of scope
    groups = exact_duplicate_groups(st, Scope(include_eval=True))
    assert len(groups) == 3 and all(len(set(g.ids) & ids["eval"]) == 1 for g in groups)
    assert exact_duplicate_groups(st, Filter(pool_ids=[get_pool(st, "m").id, get_pool(st, "ev").id])) == groups
    assert keep_one_per_group(st, groups) == 3  # asked for: the eval copies can go


def test_selections_follow_the_scope(store):
    from engine.geometry.embeddings import embed_samples
    from engine.quality.selection import kcenter_select, selection_ids, superfiltering_select

    st, ids = store
    every = sorted(ids["train"] | ids["excluded"] | ids["eval"])
    write_scores(st, MetricDef("ifd", "m"), [(sid, 0.5, None) for sid in every])
    sel = superfiltering_select(st, "sf", rate=1.0, per="all", threshold=2.0)
    assert set(selection_ids(st, "sf")) == ids["train"] and sel.params["filter"] is None
    superfiltering_select(st, "sf_eval", rate=1.0, per="all", threshold=2.0, filter=Scope(include_eval=True))
    assert set(selection_ids(st, "sf_eval")) == ids["train"] | ids["eval"]
    superfiltering_select(st, "sf_code", rate=1.0, per="all", threshold=2.0, filter=Filter(domains=["code"]))
    assert set(selection_ids(st, "sf_code")) == ids["code"]
    embed_samples(st, model="fake", encoder=encoder, scope=BOTH)
    kcenter_select(st, "kc", k=100, model="fake")
    assert set(selection_ids(st, "kc")) == ids["train"]
    kcenter_select(st, "kc_all", k=100, model="fake", filter=BOTH)
    assert set(selection_ids(st, "kc_all")) == set(every)


def test_interpolation_sources_and_neighbours_leave_eval_out(store):
    from engine.geometry.embeddings import embed_samples
    from engine.synthesis.interpolation import InterpolationError, create_set, get_set, preview_pair, resolve_source

    st, ids = store
    a, _doms = resolve_source(st, "domain:math")
    assert set(a.tolist()) == ids["train"] - ids["code"]  # no eval copy, no excluded sample
    with pytest.raises(InterpolationError, match="eval pool"):
        resolve_source(st, "pool:ev")
    # a Browse filter narrows both sources, and is kept with the set
    f = Filter(expression="n_tokens > 0", text="question 1")  # 1, 10..19 of each topic
    s = create_set(st, "mc", "domain:math", "domain:code", n_pairs=5, seed=0, scope=f)
    assert s.params["n_a"] == 9 and s.params["n_b"] == 11  # m's 18 and 19 are excluded
    assert s.params["scope"]["filter"]["text"] == "question 1"
    assert get_set(st, "mc").params["scope"] == scope_params(f)
    embed_samples(st, model="fake", encoder=encoder, scope=BOTH)
    pv = preview_pair(st, "mc", 0, k=100, embedding_model="fake", text_kind="instruction_response")
    assert {n.sample_id for n in pv.nearest} == ids["train"] - {pv.a["sample_id"], pv.b["sample_id"]}


# --- counts on the screens


def test_screen_counts_are_of_training_pools_with_eval_apart(store):
    from engine.mixtures import store_domains
    from engine.quality.scores import domain_summary

    st, ids = store
    write_scores(st, MetricDef("ifd", "m"), [(sid, 0.5, None) for sid in ids["train"] | ids["eval"]])
    assert {r["domain"]: r["n"] for r in domain_summary(st, "ifd")} == {"math": 18, "code": 20}  # Scores
    assert domain_counts(st) == {"code": 20, "math": 18}  # Interpolation's dialog
    assert {d: v["samples"] for d, v in store_domains(st).items()} == domain_counts(st)  # Mixtures: the same
    assert left_out_words(st) == "2 excluded samples left out; eval pools apart: math 10"


# --- the CLI


def test_cli_jobs_take_the_filter_and_say_their_scope(tmp_path):
    db, ids = _make(tmp_path)
    r = wb(db, "score", "--metric", "heuristics", "--domain", "code")
    assert "scope: 20 samples: domain code, not excluded; eval pools left out" in r.stderr
    with Store(db, read_only=True) as st:
        assert set(metric_values(st, "h_resp_chars")) == ids["code"]
    r = wb(db, "score", "--metric", "heuristics", "--pool", "ev")
    assert "scope: 10 samples: pool ev (eval), not excluded" in r.stderr
    r = wb(db, "dedup", "--format", "json")
    assert json.loads(r.stdout) == []
    r = wb(db, "dedup", "--include-eval", "--format", "json")
    assert len(json.loads(r.stdout)) == 3
    r = wb(db, "score", "--metric", "heuristics", "--where", "nonsense ===", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    r = wb(db, "dedup", "--include-excluded")
    assert "scope: 40 samples: every training sample, excluded included; eval pools left out" in r.stderr


# --- the app: jobs start on the Browse filter and say so


def _app_store(tmp_path) -> Path:
    db, _ids = _make(tmp_path)
    return db


async def _browse_filter(pilot, app, pool: str) -> None:
    """Browse one pool and wait until the app keeps that filter."""
    pid = get_pool(app.store, pool).id
    app.open_browse(pool_id=pid)
    await wait_for(
        pilot,
        lambda: app.current_filter is not None and app.current_filter.pool_ids == [pid],
        what="the Browse filter",
    )


def test_clusters_embed_uses_the_browse_filter_and_says_so(tmp_path, monkeypatch):
    from textual.widgets import Button

    import screens.clusters as clusters_screen
    from screens.scope_dialog import ScopeDialog
    from workbench.app import WorkbenchApp

    monkeypatch.setattr(clusters_screen, "ENCODER", encoder)
    db = _app_store(tmp_path)

    async def body(pilot, app):
        await _browse_filter(pilot, app, "c")
        await pilot.press("4")
        screen = app.screen
        await pilot.press("e")
        dlg = await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        browse_choice = str(dlg.query_one("#sd-browse").label)
        assert browse_choice == "the Browse filter: 20 samples: pool c, not excluded; eval pools left out"
        assert "38 samples: every training sample" in str(dlg.query_one("#sd-all").label)
        await pilot.press("enter")  # the Browse filter is the default
        job = screen.query_one("#c-job")
        await wait_for(pilot, lambda: screen.job is None and "embedded" in plain(job), what="embed", timeout=30)
        assert "embedded 20 samples" in plain(job) and "pool c, not excluded" in plain(job)
        assert app.store.fetchall("SELECT count(*) FROM embeddings")[0][0] == 20
        # the switch: every training sample (the rest of the training pools; eval and excluded stay out)
        await pilot.press("e")
        dlg = await wait_screen(pilot, app, ScopeDialog, what="scope dialog again")
        dlg.choose("all")
        await pilot.pause()
        dlg.query_one("#ok", Button).press()
        await wait_for(pilot, lambda: screen.job is None and "embedded 18" in plain(job), what="embed all", timeout=30)
        assert app.store.fetchall("SELECT count(*) FROM embeddings")[0][0] == 38

    _run(WorkbenchApp(db_path=db), body)


def test_scores_s_offers_the_browse_filter_in_words(tmp_path):
    from screens.scope_dialog import ScopeDialog
    from workbench.app import WorkbenchApp

    db = _app_store(tmp_path)

    async def body(pilot, app):
        # before Browse filters anything: only every training sample
        await pilot.press("3")
        await pilot.press("s")
        dlg = await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        assert len(dlg.query("#sd-browse")) == 0 and "38 samples: every training sample" in str(
            dlg.query_one("#sd-all").label
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ScopeDialog), what="closed")
        assert app.screen.job is None  # nothing started
        await _browse_filter(pilot, app, "ev")
        await pilot.press("3")
        await pilot.press("s")
        dlg = await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        assert str(dlg.query_one("#sd-browse").label) == "the Browse filter: 10 samples: pool ev (eval), not excluded"
        await pilot.press("escape")

    _run(WorkbenchApp(db_path=db), body)


@pytest.mark.slow
def test_scores_s_scores_the_browse_filter_only(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from tests.tiny_lm import tiny_llama, tiny_tokenizer
    from workbench.app import WorkbenchApp

    model_dir = tmp_path / "tiny-model"
    tok = tiny_tokenizer()
    tiny_llama(tok).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    monkeypatch.setenv("WORKBENCH_SCORER", str(model_dir))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    db, ids = _make(tmp_path)

    async def body(pilot, app):
        from screens.scope_dialog import ScopeDialog

        await _browse_filter(pilot, app, "c")
        await pilot.press("3")
        screen = app.screen
        await pilot.press("s")
        await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        await pilot.press("enter")
        job = screen.query_one("#s-job")
        await wait_for(pilot, lambda: screen.job is None and "IFD job done" in plain(job), what="done", timeout=120)
        assert "IFD job done · 20 samples: pool c, not excluded; eval pools left out" in plain(job)
        assert set(metric_values(app.store, "ifd")) == ids["code"]

    _run(WorkbenchApp(db_path=db), body)


def test_every_eval_sample_stays_out_of_the_default_scope_at_scale(tmp_path):
    """The eval condition holds on a bigger store too (ids interleaved across pools)."""
    db = tmp_path / "big.duckdb"
    with Store(db) as st:
        recs = blob_records(0, 400)
        import_file(st, _write(tmp_path / "a.jsonl", recs[::2]), pool="a", domain="math")
        import_file(st, _write(tmp_path / "b.jsonl", recs[1::2]), pool="b", domain="math")
        set_role(st, "b", "eval")
        got = scope_ids(st)
        b = get_pool(st, "b").id
        in_b = {r[0] for r in st.fetchall("SELECT id FROM samples WHERE pool_id = ?", [b])}
        assert len(got) == 200 and not (set(got.tolist()) & in_b) and np.all(np.diff(got) > 0)


def test_the_scope_words_are_shown_as_written(tmp_path):
    """A filter with brackets (regex, tags) is shown as typed, not read as markup."""
    from screens.scope_dialog import ScopeDialog
    from workbench.app import WorkbenchApp

    db = _app_store(tmp_path)
    expr = "instruction ~ '[0-9]' and text ~ '[/b]'"

    async def body(pilot, app):
        app.open_browse(expression=expr)
        await wait_for(
            pilot, lambda: app.current_filter is not None and app.current_filter.expression == expr, what="filter"
        )
        await pilot.press("4")
        await pilot.press("e")
        dlg = await wait_screen(pilot, app, ScopeDialog, what="scope dialog")
        assert f"where {expr}, not excluded" in str(dlg.query_one("#sd-browse").label)
        await pilot.press("escape")

    _run(WorkbenchApp(db_path=db), body)
