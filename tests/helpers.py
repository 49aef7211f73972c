"""Helpers shared by the tests (not a test module): the pilot loop, planted-blob encoders and records,
the CLI as a subprocess, JSONL files, hand-made pool and sample rows, training records and stored runs with evaluations."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "pools"

# The terminal size every pilot and snapshot test runs at.
SIZE = (120, 36)


# --- the app under Textual's pilot


async def wait_for(pilot, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until predicate() holds (workers are threads: give them real time)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - widgets not mounted yet
            pass
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.03)


async def wait_screen(pilot, app, cls, what: str = "screen", timeout: float = 10.0):
    """Wait until `cls` is the active screen and mounted, and its on_mount focus has landed; return it.

    `isinstance(app.screen, cls)` alone turns true at push time: keys typed then can reach a widget that
    on_mount focuses a moment later (a Select instead of the Input the test filled in)."""
    await wait_for(pilot, lambda: isinstance(app.screen, cls) and app.screen.is_mounted, timeout=timeout, what=what)
    await pilot.pause()
    await pilot.pause()
    return app.screen


def run_app(app, body, *, notifications: bool = False) -> None:
    """Run the app under the pilot, wait for its store to open, then `await body(pilot, app)`."""

    async def main():
        async with app.run_test(size=SIZE, notifications=notifications) as pilot:
            await wait_for(pilot, lambda: app.store is not None and "samples" in app.store_status, what="store")
            await body(pilot, app)

    asyncio.run(main())


def plain(widget, width: int = 200) -> str:
    """The text a Static shows (its content rendered through a plain Rich console)."""
    from rich.console import Console

    content = widget.content
    if isinstance(content, str):
        return content
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(content)
    return console.export_text()


# --- the CLI as a user runs it


def wb(db: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`python -m workbench --db DB ARGS...` in a subprocess (no user config); asserts exit 0 when check."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(db.parent / "cfg"))
    r = subprocess.run(
        [sys.executable, "-m", "workbench", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


# --- files


def _write(path: Path, text: str, gz: bool) -> Path:
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path: Path, recs, *, gz: bool = False) -> Path:
    """recs as JSON Lines at path (gzipped when gz); returns path."""
    return _write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), gz)


def write_json(path: Path, recs, *, gz: bool = False) -> Path:
    """recs as one indented JSON document at path (gzipped when gz); returns path."""
    return _write(path, json.dumps(recs, indent=2, ensure_ascii=False), gz)


def chat_records(n: int, ask: str = "") -> list[dict]:
    """n terse chat records (system, user, assistant): "What is i+i?" plus ask, answered in bold with code."""
    return [
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": f"What is {i}+{i}?{ask}"},
                {"role": "assistant", "content": f"**{2 * i}**\n\n```python\nprint({i} + {i})\n```"},
            ]
        }
        for i in range(n)
    ]


def import_sample_pools(store, folder: Path, domains, n: int) -> None:
    """Per domain D: the first n records of sample_data/pools/D.jsonl (copied to folder) as pool train_D, and
    sample_data/eval/D_eval.jsonl as the eval pool D_eval."""
    from engine.data.ingest import import_file
    from engine.evaluation import evaluate as ev

    for d in domains:
        lines = [x for x in (SAMPLE / f"{d}.jsonl").read_text(encoding="utf-8").split("\n") if x.strip()][:n]
        (folder / f"{d}.jsonl").write_text("\n".join(lines) + "\n")
        import_file(store, folder / f"{d}.jsonl", pool=f"train_{d}", domain=d)
        import_file(store, ROOT / "sample_data" / "eval" / f"{d}_eval.jsonl", pool=f"{d}_eval", domain=d)
        ev.set_role(store, f"{d}_eval", "eval")


# --- hand-made rows


def insert_pool(con, pid, name, domain="general") -> None:
    """A pool row."""
    con.execute("INSERT INTO pools (id, name, domain) VALUES (?, ?, ?)", [pid, name, domain])


def insert_sample(
    con,
    sid,
    pool_id,
    instruction,
    response="ok",
    *,
    domain="general",
    system=None,
    tools=None,
    tags=(),
    excluded=False,
    source_file="data.jsonl",
    record_index=None,
    source_line=None,
    meta=None,
    n_tokens=None,
    domain_source="pool",
) -> None:
    """A one-turn sample row (with its tags); n_tokens defaults to the id, record_index to id - 1."""
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": instruction},
        {"role": "assistant", "content": response},
    ]
    con.execute(
        "INSERT INTO samples (id, pool_id, messages, system, tools, instruction, response, n_turns, domain,"
        " domain_source, content_hash, n_chars, n_tokens, excluded, source_file, record_index, source_line, meta)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 2, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            sid,
            pool_id,
            json.dumps(msgs),
            system,
            json.dumps(tools) if tools is not None else None,
            instruction,
            response,
            domain,
            domain_source,
            f"h{sid}",
            len(instruction or "") + len(response or ""),
            n_tokens if n_tokens is not None else sid,
            excluded,
            source_file,
            record_index if record_index is not None else sid - 1,
            source_line,
            json.dumps(meta) if meta is not None else None,
        ],
    )
    for t in tags:
        con.execute("INSERT INTO sample_tags (sample_id, tag) VALUES (?, ?)", [sid, t])


# --- planted blobs: six topics, each a Gaussian blob around a fixed centre in 384 dimensions

TOPICS = [
    ("volcano", "lava", "magma"),
    ("python", "function", "loop"),
    ("violin", "orchestra", "melody"),
    ("soccer", "goal", "referee"),
    ("bread", "yeast", "oven"),
    ("planet", "orbit", "telescope"),
]
DIM = 384
CENTERS = np.random.default_rng(7).normal(size=(len(TOPICS), DIM)).astype(np.float32)
N_NOISE = 6  # stray records in clusters_store: HDBSCAN noise


def _text_rng(t: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little"))


def blob_encoder(texts):
    """Blob centre of the topic whose first word starts the text, plus small noise seeded by the text."""
    out = []
    for t in texts:
        k = next(i for i, w in enumerate(TOPICS) if t.startswith(w[0]))
        out.append(CENTERS[k] + _text_rng(t).normal(scale=0.25, size=DIM).astype(np.float32))
    return np.stack(out)


def noisy_blob_encoder(texts):
    """As blob_encoder; texts of no topic (e.g. "stray ...") get a far-off random vector (HDBSCAN noise)."""
    out = []
    for t in texts:
        rng = _text_rng(t)
        k = next((i for i, w in enumerate(TOPICS) if t.startswith(w[0])), None)
        if k is None:
            out.append(rng.normal(scale=3.0, size=DIM).astype(np.float32))
        else:
            out.append(CENTERS[k] + rng.normal(scale=0.25, size=DIM).astype(np.float32))
    return np.stack(out)


def blob_records(k: int, n: int, start: int = 0) -> list[dict]:
    """n Alpaca records of topic k."""
    a, b, c = TOPICS[k]
    return [
        {"instruction": f"{a} question {i}: tell me about the {b} and the {c}", "input": "", "output": f"answer {i}"}
        for i in range(start, start + n)
    ]


def topic_records(n: int, start: int = 0, topics=range(len(TOPICS))) -> list[dict]:
    """n Alpaca records of each topic."""
    return [r for k in topics for r in blob_records(k, n, start)]


def clusters_store(tmp_path: Path, *, n: int = 30, with_clustering: bool = True, scores: bool = True) -> Path:
    """A store of n records per topic plus N_NOISE strays (pool "blobs"; python ones in domain code), with IFD
    test scores and, when with_clustering, embeddings ("fakeenc") and a clustering "topics"."""
    from engine.core.store import Store
    from engine.data.ingest import import_file
    from engine.geometry.clusters import cluster
    from engine.geometry.embeddings import embed_samples
    from engine.quality.scores import MetricDef, write_scores

    db = tmp_path / "wb.duckdb"
    recs = topic_records(n) + [
        {"instruction": f"stray thought {i} about nothing", "input": "", "output": "hm"} for i in range(N_NOISE)
    ]
    src = tmp_path / "blobs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    with Store(db) as st:
        import_file(st, src, pool="blobs", domain="general")
        st.con.execute("UPDATE samples SET domain = 'code' WHERE instruction LIKE 'python%'")
        if scores:
            ids = [r[0] for r in st.con.execute("SELECT id FROM samples ORDER BY id").fetchall()]
            write_scores(
                st, MetricDef("ifd", "m", definition="test ifd"), [(sid, (sid % 10) / 10, None) for sid in ids]
            )
        if with_clustering:
            embed_samples(st, model="fakeenc", encoder=noisy_blob_encoder)
            cluster(st, "topics", model="fakeenc", min_cluster_size=10)
    return db


VEC_DIM = 8


def vec_encoder(texts):
    """`vec[a,b,...]` in the text gives the vector (padded to 8 dimensions); otherwise noise seeded by the text."""
    out = []
    for t in texts:
        m = re.search(r"vec\[([^\]]+)\]", t)
        if m:
            v = np.zeros(VEC_DIM, np.float32)
            xs = [float(x) for x in m.group(1).split(",")]
            v[: len(xs)] = xs
        else:
            v = _text_rng(t).normal(size=VEC_DIM).astype(np.float32)
        out.append(v)
    return np.stack(out)


# --- training and evaluation


def training_records(n: int = 16) -> list[dict]:
    """n training records of a mixture, alternating math (stage 0) and code (stage 1)."""
    out = []
    for i in range(n):
        math = i % 2 == 0
        q = f"Tom has {i} apples and buys 5 more." if math else f"Write a function number {i} that adds two numbers."
        a = f"3 + 5 = 8, so {i + 5}" if math else "def add(a, b):\n    return a + b"
        out.append(
            {
                "kind": "sample",
                "stage": 0 if math else 1,
                "domain": "math" if math else "code",
                "sample_id": i,
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                "system": None,
                "tools": None,
            }
        )
    return out


def insert_run(con, rid, name, kind, *, parent=None, domain=None, mixture=None, folder=None, base="tiny") -> None:
    """A finished run row."""
    con.execute(
        "INSERT INTO runs (id, name, status, kind, parent_run_id, domain, mixture_id, folder, base_model, "
        "protocol) VALUES (?, ?, 'done', ?, ?, ?, ?, ?, ?, 'multi_task')",
        [rid, name, kind, parent, domain, mixture, folder, base],
    )


def insert_eval(con, eid, rid, domain, rows, *, details=None, prompt="q{sid}") -> None:
    """An evaluation of run rid with its items: rows of (sample_id, correct, nll, output)."""
    con.execute(
        "INSERT INTO evaluations (id, run_id, eval_set, domain, metric, value, n, details) VALUES "
        "(?, ?, 'ev', ?, 'accuracy', NULL, ?, ?)",
        [eid, rid, domain, len(rows), json.dumps(details) if details is not None else None],
    )
    for sid, correct, nll, out in rows:
        con.execute(
            "INSERT INTO eval_items (evaluation_id, run_id, sample_id, domain, scorer, prompt, output, "
            "extracted, correct, nll) VALUES (?, ?, ?, ?, 'gsm8k', ?, ?, ?, ?, ?)",
            [eid, rid, sid, domain, prompt.format(sid=sid), out, out, correct, nll],
        )


def evaluated_runs(con, folder: Path | str) -> None:
    """Mixture run 1 (math and code; its folder names specialist 3 for code), math specialist run 2, code
    specialist run 3 (of another parent), base run 4, and their evaluations; con is in a transaction."""
    con.execute("INSERT INTO mixtures (id, name, version, recipe, content_hash) VALUES (1, 'mix', 2, '{}', 'h')")
    for pos, (sid, dom) in enumerate([(1, "math"), (2, "math"), (11, "code"), (12, "code")]):
        con.execute(
            "INSERT INTO mixture_items (mixture_id, position, kind, sample_id, domain) VALUES (1, ?, 'sample', ?, ?)",
            [pos, sid, dom],
        )
    insert_run(con, 1, "mix", "mixture", mixture=1, folder=str(folder))
    insert_run(con, 2, "spec-math", "specialist", parent=1, domain="math")
    insert_run(con, 3, "spec-code", "specialist", parent=99, domain="code")  # reused from another parent
    insert_run(con, 4, "base", "base")
    insert_eval(con, 1, 1, "math", [(100, True, 1.0, "7"), (101, False, 2.0, "3"), (102, False, 2.0, "0")])
    insert_eval(con, 2, 1, "code", [(200, False, 1.0, "x"), (201, True, 1.0, "y")])
    insert_eval(con, 3, 2, "math", [(100, True, 1.0, "7"), (101, True, 1.5, "4"), (102, False, 1.0, "1")])
    insert_eval(con, 4, 3, "code", [(200, True, 1.0, "ok"), (201, True, 1.0, "ok")])
    insert_eval(con, 5, 4, "math", [(100, False, 3.0, "1"), (101, False, 3.0, "1"), (102, False, 3.0, "1")])
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "specialists.json").write_text(json.dumps({"code": 3}))


def interpolation_store(tmp_path: Path, *, with_set: bool = False) -> Path:
    """Pools m (math), c (code) and g (general) of 15 blob records each, embedded ("fakeenc") and clustered
    ("topics"); with_set adds the interpolation set "mc" (math x code, 12 pairs, seed 1)."""
    from engine.core.store import Store
    from engine.data.ingest import import_file
    from engine.geometry.clusters import cluster
    from engine.geometry.embeddings import embed_samples
    from engine.synthesis.interpolation import create_set

    db = tmp_path / "wb.duckdb"
    with Store(db) as st:
        for name, dom, k in (("m", "math", 0), ("c", "code", 1), ("g", "general", 2)):
            p = tmp_path / f"{name}.jsonl"
            p.write_text("".join(json.dumps(r) + "\n" for r in blob_records(k, 15)))
            import_file(st, p, pool=name, domain=dom)
        embed_samples(st, model="fakeenc", encoder=blob_encoder)
        cluster(st, "topics", model="fakeenc", min_cluster_size=5)
        if with_set:
            create_set(st, "mc", "domain:math", "domain:code", n_pairs=12, seed=1)
    return db


# --- snapshots


async def until(pilot, predicate, timeout: float = 15.0) -> None:
    await wait_for(pilot, predicate, timeout=timeout)


async def settle(pilot) -> None:
    """Wait for the store, the screen's data (Browse's pages, Mixtures' counts) and idle workers; stop cursors
    blinking and clear notifications, so a snapshot shows a steady screen."""
    from textual.widgets import Input

    app = pilot.app
    await until(pilot, lambda: app.store is not None and "samples" in app.store_status)
    screen = app.screen
    if type(screen).__name__ == "BrowseScreen":
        from screens.sample_table import SampleTable

        table = screen.query_one(SampleTable)
        await until(pilot, lambda: screen.filter is not None and not screen.querying and table.all_visible_loaded())
    if type(screen).__name__ == "MixturesScreen":  # its counts come from a worker
        await until(
            pilot,
            lambda: screen.resolution is not None
            and not any(w.group == "m-resolve" and w.is_running for w in app.workers),
        )
    for w in app.screen.query(Input):
        w.cursor_blink = False
    await pilot.pause(0.2)
    app.clear_notifications()
    await pilot.pause()


def screen_snapshot(snap_compare, db: Path, key: str, *ready) -> bool:
    """Snapshot the app on db once key has opened a screen and each ready(screen) has held in turn, settled."""
    from workbench.app import WorkbenchApp

    async def before(pilot):
        await settle(pilot)
        await pilot.press(key)
        screen = pilot.app.screen
        for r in ready:
            await until(pilot, lambda r=r: r(screen))
        await settle(pilot)

    return snap_compare(WorkbenchApp(db_path=db), terminal_size=SIZE, run_before=before)
