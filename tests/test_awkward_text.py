"""Awkward text through every job kind (issue 16): line and paragraph separators (U+2028/2029, U+0085 and the
other characters str.splitlines() splits on), NUL, RTL marks and overrides, zero-width joiners, emoji, combining
marks, CJK, CR/LF and a 1 MB line go in through import, then through heuristics, embeddings (a fake encoder),
clustering, dedup, export and re-import here, and through the worker subprocesses (IFD/perplexity scoring, the
interpolation features worker, training and evaluation) on the tiny model. Each job must finish, and the text
that comes back (what the workers read, the scores' sample ids, the eval prompts, the run's data.jsonl, the
exported records) must be exactly the store's. A lone surrogate ("\\ud800" in JSON: Python's json accepts it,
UTF-8 and DuckDB cannot hold it) is a per-record import error naming file, line and field, quarantined with
skip_invalid, so no later job meets it."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from engine.core.jobs import JobFolder, read_jsonl
from engine.core.store import Store
from engine.data.ingest import ImportFailed, import_file
from engine.data.query import Filter
from tests.helpers import vec_encoder, wb, write_jsonl

_UNIT = "lorem ipsum dolor sit amet \u2028 consectetur\u2029 adipiscing \u0085 elit \u4e2d\u6587 \U0001f600 \x00 "
MB_LINE = _UNIT * (1_000_000 // len(_UNIT.encode()) + 1)  # one 1 MB line, separators and all in it

AWKWARD = {
    "separators": "line\u2028separator, paragraph\u2029separator",
    "splitlines": "next line\u0085(NEL), \x1c\x1d\x1e file/group/record separators, \x0b vtab, \x0c form feed",
    "nul": "NUL\x00inside and \x01\x7f controls",
    "rtl": "Hebrew \u05e9\u05dc\u05d5\u05dd \u200f RLM \u200e LRM \u202e override\u202c \u2066isolate\u2069 "
    "Arabic \u0645\u0631\u062d\u0628\u0627",
    "zwj": "family \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466, zwsp\u200b zwnj\u200c "
    "word\u2060joiner bom\ufeffinside",
    "emoji": "emoji \U0001f600\U0001f680 flag \U0001f1e9\U0001f1ea skin \U0001f44d\U0001f3fd keycap 1\ufe0f\u20e3 "
    "astral \U0001d538\U0001d539",
    "combining": "e\u0301 (decomposed) vs \u00e9, Z\u0336\u0334a\u0337\u0338l\u0321g\u0322o, Hangul jamo \u1100\u1161",
    "cjk": "\u4e2d\u6587\u6c49\u5b57\u3001\u65e5\u672c\u8a9e\u306e\u304b\u306a\u3001\ud55c\uad6d\uc5b4 "
    "fullwidth \uff21\uff22\uff23",
    "newlines": "windows\r\nline, old mac\rline, unix\nline, tab\there, quotes \" ' ` and back\\slash \\n \\u2028",
    "markup": "<|im_end|> </s> <eos> {{ jinja }} {% raw %} ### Response: #### 7",
    "big": MB_LINE,
}


def _records(tag: str, names=tuple(AWKWARD)) -> list[dict]:
    """One chat record per awkward text, its text in the user turn and the reply (a system turn on every third)."""
    out = []
    for i, name in enumerate(names):
        text = AWKWARD[name]
        msgs = [
            {"role": "user", "content": f"[{tag}] {name}: {text}"},
            {"role": "assistant", "content": f"reply to {name} ({tag}): {text}"},
        ]
        if i % 3 == 0:
            msgs.insert(0, {"role": "system", "content": f"system {name}: {text}"})
        out.append({"messages": msgs})
    return out


SMALL = tuple(n for n in AWKWARD if n != "big")
# what each pool holds: the 1 MB line only in aw_math (and its copy aw_dup) and the eval pool, since every
# tokenizer pass over it takes seconds on the tiny model's small vocabulary
POOLS = {"aw_math": ("math", tuple(AWKWARD)), "aw_code": ("code", SMALL), "aw_dup": ("general", tuple(AWKWARD))}


def _pool_records(pool: str) -> list[dict]:
    """What pool was imported from (aw_dup: exact copies of aw_math)."""
    return _records("aw_math" if pool == "aw_dup" else pool, POOLS[pool][1])


def _eval_records() -> list[dict]:
    """The eval pool: awkward replies (NLL items) and one GSM8K-style item whose answer is generated."""
    recs = _records("eval")
    recs.append(
        {
            "messages": [
                {"role": "user", "content": f"How many? {AWKWARD['rtl']} \u2028 {AWKWARD['zwj']}"},
                {"role": "assistant", "content": "3 + 4 = 7\n#### 7"},
            ]
        }
    )
    return recs


@pytest.fixture(scope="module")
def base_db(tmp_path_factory) -> Path:
    """A store with the corpus in pools aw_math, aw_code (own texts) and aw_dup (exact copies of aw_math), and
    the eval pool aw_eval."""
    from engine.evaluation import evaluate as ev

    folder = tmp_path_factory.mktemp("awkward")
    db = folder / "base.duckdb"
    with Store(db) as st:
        for pool, (dom, _names) in POOLS.items():
            import_file(st, write_jsonl(folder / f"{pool}.jsonl", _pool_records(pool)), pool=pool, domain=dom)
        import_file(st, write_jsonl(folder / "aw_eval.jsonl", _eval_records()), pool="aw_eval", domain="general")
        ev.set_role(st, "aw_eval", "eval")
    return db


@pytest.fixture
def db(base_db, tmp_path) -> Path:
    """A copy of the corpus store of its own (tests write scores, embeddings, runs)."""
    out = tmp_path / "wb.duckdb"
    shutil.copy(base_db, out)
    return out


def _stored(st: Store, pool: str | None = None) -> dict[int, tuple[list, str | None]]:
    """sample id -> (messages, system) as the store holds them."""
    where, params = ("WHERE pool_id = (SELECT id FROM pools WHERE name = ?)", [pool]) if pool else ("", [])
    rows = st.fetchall(f"SELECT id, messages, system FROM samples {where} ORDER BY id", params)
    return {r[0]: (json.loads(r[1]), r[2]) for r in rows}


def _train_ids(st: Store) -> list[int]:
    return [
        r[0]
        for r in st.fetchall(
            "SELECT s.id FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.role <> 'eval' ORDER BY s.id"
        )
    ]


def _texts_in(recs: list[dict]) -> list[str]:
    """Every message content of some records, in order."""
    return [m["content"] for r in recs for m in r["messages"]]


# --- import


def test_import_keeps_every_character(db, tmp_path):
    with Store(db) as st:
        for pool in POOLS:
            want = _pool_records(pool)
            got = _stored(st, pool)
            assert len(got) == len(want)
            for (msgs, system), rec in zip(got.values(), want):
                assert msgs == rec["messages"]  # every content string equal, character for character
                sys_turn = next((m["content"] for m in rec["messages"] if m["role"] == "system"), None)
                assert system == sys_turn
        big = f"[aw_math] big: {MB_LINE}"
        assert st.fetchall("SELECT count(*) FROM samples WHERE instruction = ?", [big])[0][0] == 2  # math and dup


def test_lone_surrogate_is_a_per_record_import_error_and_skip_invalid_quarantines_it(tmp_path):
    good = {"messages": [{"role": "user", "content": "fine \u2028 text"}, {"role": "assistant", "content": "ok"}]}
    lines = [
        json.dumps(good, ensure_ascii=False),
        '{"messages": [{"role": "user", "content": "lone \\ud800 high"}, {"role": "assistant", "content": "x"}]}',
        '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "lone \\udfff low"}]}',
        '{"messages": [{"role": "user", "content": "a pair \\ud83d\\ude00 is fine"}, '
        '{"role": "assistant", "content": "ok"}]}',
    ]
    src = tmp_path / "surrogates.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dbp = tmp_path / "s.duckdb"
    with Store(dbp) as st:
        with pytest.raises(ImportFailed) as ei:
            import_file(st, src, pool="s")
        assert [(i.line, i.record_index) for i in ei.value.issues] == [(2, 1), (3, 2)]
        assert "surrogates.jsonl:2" in str(ei.value) and "surrogate" in str(ei.value)
        assert st.fetchall("SELECT count(*) FROM samples")[0][0] == 0
        r = import_file(st, src, pool="s", skip_invalid=True)
        assert (r.n_inserted, r.n_invalid) == (2, 2)
        quarantined = read_jsonl(Path(r.quarantine_path))
        assert [q["line"] for q in quarantined] == [2, 3]
        assert [m[0]["content"] for m, _s in _stored(st).values()] == ["fine \u2028 text", "a pair \U0001f600 is fine"]
    # later jobs never meet the surrogate: export writes what was imported
    out = tmp_path / "out.jsonl"
    wb(dbp, "export", str(out), "--style", "messages")
    assert [r["messages"][0]["content"] for r in read_jsonl(out)] == ["fine \u2028 text", "a pair \U0001f600 is fine"]
    # the CLI: one line naming file and line, exit 1, no traceback
    res = wb(tmp_path / "cli.duckdb", "import", str(src), "--pool", "s", check=False)
    assert res.returncode == 1 and "surrogates.jsonl:2" in res.stderr and "Traceback" not in res.stderr


def test_lone_surrogate_error_names_the_field(tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text(
        '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "lone \\ud800"}]}\n',
        encoding="utf-8",
    )
    with Store(tmp_path / "s.duckdb") as st, pytest.raises(ImportFailed) as ei:
        import_file(st, src, pool="s")
    issue = ei.value.issues[0]
    assert issue.line == 1 and issue.field and "field" in str(issue)


def test_browse_detail_renders_every_sample_and_clips_the_1mb_one(db):
    """The detail pane's view of each sample renders (NUL, overrides, ZWJ...); a 1 MB turn is cut to
    DETAIL_CHARS with a note saying how much is left out and where to read it (laying it all out froze the app)."""
    import io

    from rich.console import Console

    from engine.data.query import get_sample
    from screens.browse import DETAIL_CHARS, render_sample

    with Store(db) as st:
        for sid in _stored(st, "aw_math"):
            d = get_sample(st, sid)
            out = io.StringIO()
            Console(width=100, file=out, color_system=None).print(render_sample(d))
            text = out.getvalue()
            assert f"#{sid}" in text
            if "big" in d.messages[-1]["content"][:40]:
                hidden = len(d.messages[-1]["content"]) - DETAIL_CHARS
                assert f"… {hidden:,} more characters not shown" in text and f"workbench show {sid}" in text
                assert len(text) < 10 * DETAIL_CHARS
            else:
                assert "not shown" not in text


# --- jobs in this process: heuristics, embeddings, clustering, dedup


def test_heuristics_embeddings_clusters_and_dedup_take_every_sample(db):
    from engine.geometry.clusters import cluster
    from engine.geometry.dedup import (
        exact_duplicate_groups,
        near_duplicate_groups_minhash,
        semantic_duplicate_groups,
    )
    from engine.geometry.embeddings import embed_samples, load_embeddings, sample_text
    from engine.quality.heuristics.job import run_heuristics

    with Store(db) as st:
        train = _train_ids(st)
        written = run_heuristics(st)
        assert written and all(n == len(train) for n in written.values())
        scored = {r[0] for r in st.fetchall("SELECT DISTINCT sample_id FROM scores")}
        assert scored == set(train)

        seen: list[str] = []

        def enc(texts):
            seen.extend(texts)
            return vec_encoder(texts)

        r = embed_samples(st, model="fakeenc", encoder=enc, batch_size=4)
        assert r.n_new == len(train)  # (eval pools are left out)
        stored = _stored(st)
        want = {sample_text("instruction_response", *stored[sid]) for sid in train}
        assert set(seen) == want and len(seen) == len(want)  # the texts the encoder got, exactly, once each
        ids, X = load_embeddings(st, model="fakeenc", text_kind="instruction_response")
        assert len(ids) == r.n_new and np.isfinite(X).all()

        info = cluster(st, "aw", model="fakeenc", min_cluster_size=2, min_samples=1)
        assert info.n_samples == len(train)

        math = list(_stored(st, "aw_math"))
        dup = list(_stored(st, "aw_dup"))
        pairs = sorted(zip(math, dup))
        exact = exact_duplicate_groups(st)
        assert sorted(tuple(g.ids) for g in exact) == pairs
        sem = semantic_duplicate_groups(st, model="fakeenc", threshold=0.999)
        assert sorted(tuple(g.ids) for g in sem) == pairs
        mh = near_duplicate_groups_minhash(st, threshold=0.9)
        assert sorted(tuple(g.ids) for g in mh) == pairs


# --- export and re-import


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_export_and_reimport_give_back_the_same_text(db, tmp_path, suffix):
    from engine.data.export import export

    with Store(db) as st:
        pool_id = st.fetchall("SELECT id FROM pools WHERE name = 'aw_code'")[0][0]
        want = _stored(st, "aw_code")
        out = tmp_path / f"out.{suffix}"
        res = export(st, out, filter=Filter(pool_ids=[pool_id]), style="messages")
        assert res.n == len(want)
        if suffix == "jsonl":
            assert out.read_bytes().count(b"\n") == len(want)  # one line per record: separators stay escaped or raw
            got = read_jsonl(out)
        else:
            import pyarrow.parquet as pq

            got = pq.read_table(out).to_pylist()
        assert [r["messages"] for r in got] == [m for m, _s in want.values()]
        import_file(st, out, pool="again", domain="code")
        assert [m for m, _s in _stored(st, "again").values()] == [m for m, _s in want.values()]
        # the other styles keep the text too
        alp = tmp_path / "alpaca.jsonl"
        export(st, alp, filter=Filter(pool_ids=[pool_id]), style="alpaca")
        assert [r["output"] for r in read_jsonl(alp)] == [m[-1]["content"] for m, _s in want.values()]
        sg = tmp_path / "sharegpt.jsonl"
        export(st, sg, filter=Filter(pool_ids=[pool_id]), style="sharegpt")
        assert [r["conversations"][-1]["value"] for r in read_jsonl(sg)] == [
            m[-1]["content"] for m, _s in want.values()
        ]


def test_cli_export_to_stdout_and_query_keep_the_text(db):
    with Store(db) as st:
        want = [m for m, _s in _stored(st, "aw_math").values()]
    r = wb(db, "export", "-", "--pool", "aw_math", "--style", "messages")
    got = [json.loads(x) for x in r.stdout.split("\n") if x.strip()]
    assert [g["messages"] for g in got] == want
    q = wb(db, "query", "--pool", "aw_math", "--format", "jsonl", "--limit", "0")
    rows = [json.loads(x) for x in q.stdout.split("\n") if x.strip()]
    assert len(rows) == len(want)


# --- the worker subprocesses on the tiny model


def _wait(proc, folder: Path, timeout: float = 240) -> None:
    assert proc.wait(timeout=timeout) == 0, JobFolder(folder).stderr_tail(3000)


@pytest.mark.slow
def test_workers_score_interpolate_train_and_evaluate_the_corpus(db, model_dir, tmp_path):
    """The four model workers run at once (each its own subprocess) over the corpus."""
    from engine import mixtures as mx
    from engine.evaluation import evaluate as ev
    from engine.quality import scoring
    from engine.quality.ifd import superfiltering_texts
    from engine.synthesis import worker as interp_worker
    from engine.synthesis.interpolation import create_set, originals
    from engine.synthesis.interpolation.features import _texts
    from engine.training import runs as R

    with Store(db) as st:
        stored = _stored(st)
        pools = {name: pid for pid, name in st.fetchall("SELECT id, name FROM pools")}
        math, code = list(_stored(st, "aw_math")), list(_stored(st, "aw_code"))
        big_id = math[list(AWKWARD).index("big")]
        # IFD (superfiltering) and perplexities of aw_math and aw_code
        score_dir = tmp_path / "score"
        n = scoring.create_job(
            st,
            score_dir,
            model=str(model_dir),
            pool_ids=[pools["aw_math"], pools["aw_code"]],
            chunk=4,
            device="cpu",
            model_name="tiny",
        )
        assert n == len(math) + len(code)
        p_score = scoring.start_worker(score_dir)
        # interpolation features
        create_set(st, "awmix", "domain:math", "domain:code", n_pairs=len(math), seed=1)  # every math sample
        feat_dir = tmp_path / "features"
        n_feat = interp_worker.prepare(st, "awmix", feat_dir, model=str(model_dir))
        p_feat = interp_worker.start(feat_dir)
        # training on a mixture of both domains
        mx.save(
            st,
            "awm",
            mx.Recipe([mx.Component(d, "domain", d) for d in ("math", "code")], {}, budget=None),  # all of both
        )
        run = R.create_run(
            st,
            "awm",
            base_model=str(model_dir),
            lora={"target_modules": "all-linear"},
            train={"max_steps": 2, "batch_size": 4, "max_len": 64, "eval_per_domain": 0, "save_every": 100},
        )
        assert R.tick(st) == [f"run {run.id} started"]
        # evaluation of the base model on the eval pool (blocks until its worker is done)
        base = R.create_run(st, kind="base", base_model=str(model_dir))
        summaries = ev.evaluate(st, base.id, ["aw_eval"], max_new_tokens=6, batch_size=4, device="cpu")
        assert summaries and all(s.details.get("state") == "done" for s in summaries)

        _wait(p_score, score_dir)
        scoring.ingest_job(st, score_dir)
        _wait(p_feat, feat_dir)
        end = time.monotonic() + 240
        while R.get_run(st, run.id).status not in R.FINISHED:
            assert time.monotonic() < end, R.get_run(st, run.id)
            R.tick(st)
            time.sleep(0.2)

        # scoring: the worker read the store's texts and scored every training sample
        job = JobFolder(score_dir)
        items = {it["sample_id"]: it for it in job.read_input()}
        for sid, it in items.items():
            msgs, system = stored[sid]
            assert (it["prompt"], it["response"]) == superfiltering_texts(msgs, system)
        assert sorted(job.done_keys("sample_id")) == math + code
        ifd = {r[0] for r in st.fetchall("SELECT DISTINCT sample_id FROM scores")}
        assert ifd == set(math + code)
        # features: the worker's texts are the store's, and it embedded every original of the set
        ids, X = interp_worker.load_result(feat_dir)
        assert len(ids) == n_feat and sorted(ids.tolist()) == sorted(originals(st, "awmix").tolist())
        assert big_id in ids.tolist()
        texts = _texts(st, ids.tolist())
        assert {r["id"]: r["text"] for r in read_jsonl(feat_dir / "texts.jsonl")} == texts
        assert np.isfinite(X).all()
        # training: data.jsonl holds the store's messages, and the run finished
        done = R.get_run(st, run.id)
        assert done.status == "done", done.error
        data = read_jsonl(Path(done.folder) / "data.jsonl")
        assert sorted(rec["sample_id"] for rec in data) == math + code
        for rec in data:
            assert (rec["messages"], rec["system"]) == stored[rec["sample_id"]]
        # evaluation: every item came back, its prompt holds the store's user turn
        rows = st.fetchall(
            "SELECT sample_id, prompt, output, details FROM eval_items WHERE run_id = ? ORDER BY sample_id", [base.id]
        )
        eval_ids = list(_stored(st, "aw_eval"))
        assert [r[0] for r in rows] == eval_ids
        for sid, prompt, _output, details in rows:
            user = next(m["content"] for m in reversed(stored[sid][0]) if m["role"] == "user")
            assert user in prompt and json.loads(details)["question"] == user
        assert rows[-1][2] is not None  # the GSM8K item generated an answer
