"""The CLI while the app is open: a command that finds the store locked by the app runs in the app, on its store
(workbench/share.py, workbench/cli/remote.py), and prints what it prints alone.

The app runs under Textual's pilot in this process (its store opened from the file, as `workbench` does); the
CLI runs as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import DataTable

from engine.core.store import Store
from engine.data.ingest import import_file
from engine.data.pools import list_pools
from screens.pools import PoolsScreen
from tests.helpers import ROOT, chat_records, run_app, wait_for, wb, write_jsonl
from workbench.app import WorkbenchApp
from workbench.cli.remote import SOCKET_NAME

NOTE = f"workbench: the store is open in the app (pid {os.getpid()}); running this command there"


@pytest.fixture
def db(tmp_path) -> Path:
    """A store with one pool, 'first', of 5 samples."""
    p = tmp_path / "s.duckdb"
    with Store(p) as store:
        import_file(store, write_jsonl(tmp_path / "first.jsonl", chat_records(5)), pool="first")
    return p


def _sock(db: Path) -> Path:
    return db.parent / (db.name + ".d") / SOCKET_NAME


def _env(db: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(db.parent / "cfg"))


def _popen(db: Path, *args: str, **kw) -> subprocess.Popen:
    """The CLI as a subprocess that the test talks to (text pipes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(db),
        **kw,
    )


def _big_file(path: Path, n: int) -> Path:
    """n small alpaca records: an import that runs for seconds."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(
                json.dumps({"instruction": f"question {i} " + "x" * 40, "output": f"answer {i} " + "y" * 60}) + "\n"
            )
    return path


def _read_until(stream, start: str) -> list[str]:
    """Lines of `stream` up to and including the first that starts with `start`."""
    lines = []
    while True:
        line = stream.readline()
        assert line, f"no line starting {start!r}; got {lines}"
        lines.append(line)
        if line.startswith(start):
            return lines


async def _cli(db: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI as wb() runs it (in `cwd`), in a thread: the app's loop runs on meanwhile."""
    if cwd is None:
        return await asyncio.to_thread(wb, db, *args, check=False)
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "workbench", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=_env(db),
        cwd=cwd,
        timeout=120,
    )


def _pool_names(store) -> list[str]:
    return [p.name for p in list_pools(store)]


def test_commands_run_in_the_app_and_print_what_they_print_alone(db, tmp_path):
    extra = write_jsonl(tmp_path / "extra.jsonl", chat_records(7, ask=" Show it."))
    seen: dict[str, subprocess.CompletedProcess] = {}
    app = WorkbenchApp(db_path=db)

    async def body(pilot, app):
        assert stat.S_IMODE(os.stat(_sock(db)).st_mode) == 0o600
        seen["pools"] = await _cli(db, "pools")
        seen["query"] = await _cli(db, "query", "--format", "json", "--limit", "3")
        seen["import"] = await _cli(db, "import", str(extra), "--pool", "extra")
        seen["tag"] = await _cli(db, "tag", "hard", "--pool", "extra", "--where", "n_tokens > 0")
        seen["tagged"] = await _cli(db, "query", "--tag", "hard", "--format", "jsonl", "--limit", "0")
        seen["bad"] = await _cli(db, "query", "--where", "n_tokens >")
        seen["pools after"] = await _cli(db, "pools", "--format", "json")
        # the app's own store has what the CLI wrote, and its Pools screen shows it after the refresh
        assert _pool_names(app.store) == ["first", "extra"]
        assert isinstance(app.screen, PoolsScreen)
        table = app.screen.query_one("#pools-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, what="the new pool on the Pools screen")
        assert [table.get_row_at(i)[0] for i in range(2)] == ["first", "extra"]

    run_app(app, body)
    assert not _sock(db).exists()  # removed when the app closed

    for name, r in seen.items():
        assert r.stderr.splitlines()[0] == NOTE, (name, r.stderr)
    for name in ("pools", "query", "import", "tag", "tagged", "pools after"):
        assert seen[name].returncode == 0, (name, seen[name].stderr)
    assert "first" in seen["pools"].stdout and "extra" not in seen["pools"].stdout
    assert [r["id"] for r in json.loads(seen["query"].stdout)] == [1, 2, 3]
    assert seen["import"].stdout.startswith("imported 7 samples (messages) into pool id 2")
    assert seen["tag"].stdout == "tagged 7 samples with 'hard'\n"
    tagged = [json.loads(line) for line in seen["tagged"].stdout.split("\n") if line]
    assert len(tagged) == 7 and all(r["pool"] == "extra" and r["tags"] == ["hard"] for r in tagged)
    # an error in the command comes back with its exit code and message
    assert seen["bad"].returncode == 1 and seen["bad"].stdout == ""

    # with the app closed the same commands print the same, byte for byte
    alone = {
        "pools after": wb(db, "pools", "--format", "json"),
        "tagged": wb(db, "query", "--tag", "hard", "--format", "jsonl", "--limit", "0"),
        "bad": wb(db, "query", "--where", "n_tokens >", check=False),
    }
    for name, r in alone.items():
        assert NOTE not in r.stderr
        assert (r.returncode, r.stdout) == (seen[name].returncode, seen[name].stdout), name
    assert seen["bad"].stderr.splitlines()[1:] == alone["bad"].stderr.splitlines()
    assert "expected a value" in alone["bad"].stderr


def test_ctrl_c_cancels_the_command_in_the_app(db, tmp_path):
    big = _big_file(tmp_path / "big.jsonl", 200_000)
    mid = _big_file(tmp_path / "mid.jsonl", 50_000)
    out: dict = {}
    app = WorkbenchApp(db_path=db)

    async def body(pilot, app):
        proc = _popen(db, "import", str(big), "--pool", "big")
        out["before"] = await asyncio.to_thread(_read_until, proc.stderr, "import big.jsonl:")  # it is running
        # meanwhile a second command waits for its turn, and says so
        waiting = _popen(db, "pools", "--format", "json")
        out["waiting"] = await asyncio.to_thread(_read_until, waiting.stderr, "workbench: the app is running another")
        proc.send_signal(signal.SIGINT)  # the import takes a CancelToken: it stops at its next checkpoint
        out["import"] = (await asyncio.to_thread(proc.communicate), proc.returncode)
        out["pools"] = (await asyncio.to_thread(waiting.communicate), waiting.returncode)
        out["names"] = _pool_names(app.store)
        # a command without a CancelToken stops at once: KeyboardInterrupt in its thread in the app, its DuckDB
        # statement interrupted; the app goes on
        assert (await _cli(db, "import", str(mid), "--pool", "mid", "-q")).returncode == 0
        proc = _popen(db, "query", "--pool", "mid", "--format", "jsonl", "--limit", "0")
        out["first row"] = await asyncio.to_thread(proc.stdout.readline)
        proc.send_signal(signal.SIGINT)
        out["query"] = (await asyncio.to_thread(proc.communicate), proc.returncode)
        out["after"] = await _cli(db, "pools", "--format", "json")

    run_app(app, body)
    assert out["before"][0] == NOTE + "\n"
    (stdout, stderr), code = out["import"]
    assert code == 130, stderr
    assert stdout == ""
    assert stderr.splitlines()[-1] == "workbench: import cancelled; the store is unchanged"
    assert out["names"] == ["first"]
    (stdout, stderr), code = out["pools"]
    assert code == 0, stderr
    assert [p["name"] for p in json.loads(stdout)] == ["first"]

    assert json.loads(out["first row"])["pool"] == "mid"
    (stdout, stderr), code = out["query"]
    assert code == 130, stderr
    assert stderr.splitlines()[-1] == "workbench: cancelled"
    assert stdout.count("\n") < 50_000 - 1  # stopped before the end
    assert out["after"].returncode == 0, out["after"].stderr
    assert [(p["name"], p["samples"]) for p in json.loads(out["after"].stdout)] == [("first", 5), ("mid", 50_000)]


@pytest.mark.parametrize("quit_key", [True, False], ids=["q", "shutdown"])
def test_closing_the_app_cancels_the_command_it_runs(db, tmp_path, quit_key):
    big = _big_file(tmp_path / "big.jsonl", 200_000)
    procs = []

    async def body(pilot, app):
        proc = _popen(db, "import", str(big), "--pool", "big")
        procs.append(proc)
        await asyncio.to_thread(_read_until, proc.stderr, "import big.jsonl:")
        if quit_key:
            await pilot.press("q")
        # else the test's end closes the app (Textual's own shutdown, no quit action)

    run_app(WorkbenchApp(db_path=db), body)
    stdout, stderr = procs[0].communicate(timeout=120)
    assert procs[0].returncode == 130, stderr
    if quit_key:  # (closed otherwise, Textual puts its streams back first: a line written then can go astray)
        assert stderr.splitlines()[-1] == "workbench: import cancelled; the store is unchanged"
    assert not _sock(db).exists()
    with Store(db, read_only=True) as store:
        assert _pool_names(store) == ["first"]


def test_relative_paths_are_the_callers_and_stdin_is_refused(db, tmp_path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    write_jsonl(work / "rel.jsonl", chat_records(3))
    out: dict = {}
    app = WorkbenchApp(db_path=db)

    async def body(pilot, app):
        assert Path.cwd() != work
        out["import"] = await _cli(db, "import", "rel.jsonl", "--pool", "rel", cwd=work)
        out["export"] = await _cli(db, "export", "out.jsonl", "--pool", "rel", cwd=work)
        out["stdout"] = await _cli(db, "export", "-", "--pool", "rel", "--style", "alpaca")
        out["stdin"] = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "workbench", "--db", str(db), "import", "-", "--pool", "piped"],
            input=(work / "rel.jsonl").read_text(),
            capture_output=True,
            text=True,
            env=_env(db),
        )

    run_app(app, body)
    assert out["import"].returncode == 0, out["import"].stderr
    assert out["import"].stdout.startswith("imported 3 samples")
    assert out["export"].returncode == 0, out["export"].stderr
    assert len((work / "out.jsonl").read_text().split("\n")) == 4  # 3 records
    r = out["stdout"]
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["instruction"] for line in r.stdout.split("\n") if line] == [
        f"What is {i}+{i}?" for i in range(3)
    ]
    assert r.stderr.splitlines()[-1] == "exported 3 samples to <stdout>"
    r = out["stdin"]
    assert r.returncode == 2
    assert "cannot read this command's standard input" in r.stderr
    assert NOTE not in r.stderr
    with Store(db, read_only=True) as store:
        assert _pool_names(store) == ["first", "rel"]


def _stale_socket(path: Path) -> None:
    """A socket file nothing listens on (what an app that crashed leaves)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()


def _hold_lock(db: Path) -> subprocess.Popen:
    """Another process that has the store open (and answers no socket)."""
    code = "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ok"
    return proc


def test_a_stale_socket_is_passed_over_and_replaced(db):
    _stale_socket(_sock(db))
    # no app, no lock: the command opens the store itself
    r = wb(db, "pools", "--format", "json")
    assert [p["name"] for p in json.loads(r.stdout)] == ["first"]
    assert NOTE not in r.stderr
    # another process has the store and nobody answers on the socket: the lock error names that process
    holder = _hold_lock(db)
    try:
        r = wb(db, "pools", check=False)
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 3
    assert f"it is open in another process (pid {holder.pid}: " in r.stderr
    assert "running this command there" not in r.stderr
    # an app replaces the stale socket with its own
    out = {}

    async def body(pilot, app):
        out["pools"] = await _cli(db, "pools", "--format", "json")

    run_app(WorkbenchApp(db_path=db), body)
    assert out["pools"].returncode == 0, out["pools"].stderr
    assert out["pools"].stderr.splitlines()[0] == NOTE
    assert not _sock(db).exists()


def test_without_an_app_the_lock_error_names_the_process(db):
    holder = _hold_lock(db)
    try:
        r = wb(db, "tag", "x", "--pool", "first", check=False)
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 3
    line = r.stderr.splitlines()[0]
    assert line.startswith(f"workbench: cannot open store {db}: it is open in another process (pid {holder.pid}: ")
    assert "duckdb.connect" in line
    assert "wait for that process to end" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_gets_no_answer(tmp_path):
    # a store in a folder everyone may enter; the socket opened to everyone: the peer's credentials still count
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="wb-share-"))
    try:
        folder.chmod(0o755)
        db = folder / "s.duckdb"
        Store(db).close()
        out = {}

        async def body(pilot, app):
            sock = _sock(db)
            sock.parent.chmod(0o755)
            sock.chmod(0o666)
            code = (
                "import os,socket,sys; os.setgid(65534); os.setuid(65534); "
                "s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10); "
                "print(repr(s.recv(100)))"
            )
            out["other"] = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-c", code, str(sock)], capture_output=True, text=True, timeout=60
            )
            out["mine"] = await _cli(db, "pools", "--format", "json")

        run_app(WorkbenchApp(db_path=db), body)
        assert out["other"].returncode == 0, out["other"].stderr
        assert out["other"].stdout.strip() == "b''"  # closed without a word
        assert out["mine"].returncode == 0 and out["mine"].stderr.splitlines()[0] == NOTE
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def _text_args(parser, where: str = "workbench"):
    """(command, dest) of every argument of the CLI that takes text (options with choices and flags aside)."""
    import argparse

    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _text_args(sub, f"{where} {name}")
        elif a.nargs != 0 and a.choices is None and a.type in (None, str) and a.dest != "help":
            yield where, a.dest


def test_every_text_argument_is_classed_for_path_rebasing():
    """A command sent to the app has its relative paths made the caller's: every text argument of every
    command is a path, maybe a path, or not a path, so a new argument cannot be left out unnoticed."""
    from workbench import cli, share

    classes = (share.PATH_ARGS, share.MAYBE_PATH_ARGS, share.NOT_PATH_ARGS)
    seen = list(_text_args(cli.build_parser()))
    assert len(seen) > 100
    unclassed = sorted({f"{cmd}: {dest}" for cmd, dest in seen if sum(dest in c for c in classes) != 1})
    assert unclassed == []


def test_rebase_paths_makes_the_callers_files_absolute(tmp_path, monkeypatch):
    import argparse

    from workbench.share import rebase_paths

    work = tmp_path / "caller"
    work.mkdir()
    (work / "queries.jsonl").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(query="queries.jsonl", model="smollm2", path="out.jsonl", pool="p", db="x.duckdb")
    rebase_paths(args, str(work))
    assert args.query == str(work / "queries.jsonl")  # a file of the caller's
    assert args.model == "smollm2"  # no such file there: a model name
    assert args.path == str(work / "out.jsonl")  # always a path (an output may not exist yet)
    assert (args.pool, args.db) == ("p", "x.duckdb")
    other = argparse.Namespace(query="eval_math")
    rebase_paths(other, str(work))
    assert other.query == "eval_math"  # a pool name


@pytest.mark.slow
def test_train_wait_through_the_app_while_it_ticks_the_queue(tmp_path, monkeypatch):
    """`workbench train` (foreground) sent to the open app: the command and the app both tick the run queue; the
    run trains once, ends done, and each of its metric lines is in the store once."""
    from engine.mixtures import Component, Recipe, save
    from tests.helpers import import_sample_pools
    from tests.tiny_lm import tiny_chat_model

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    model = tiny_chat_model(tmp_path / "model")
    db = tmp_path / "t.duckdb"
    with Store(db) as store:
        import_sample_pools(store, tmp_path, ("math", "code"), 8)
        save(
            store,
            "two",
            Recipe([Component("m", "pool", "train_math"), Component("c", "pool", "train_code")], {}, budget=16),
        )
    out: dict = {}
    sets = ("lr=0.01", "batch_size=4", "max_len=256", "eval_every=0", "save_every=0", "max_steps=3")

    args = ["train", "two", "--base-model", str(model), "--lora-targets", "all-linear"]

    async def body(pilot, app):
        out["train"] = await _cli(db, *args, *[x for s in sets for x in ("--set", s)])
        # a long one, stopped by Ctrl-C in the caller's terminal once it trains: the run is cancelled
        proc = _popen(db, *args, *[x for s in sets for x in ("--set", s)], "--set", "max_steps=5000")
        out["progress"] = await asyncio.to_thread(_read_until, proc.stderr, "run 2: step")
        proc.send_signal(signal.SIGINT)
        out["cancel"] = (await asyncio.to_thread(proc.communicate, timeout=60), proc.returncode)

    run_app(WorkbenchApp(db_path=db), body)
    r = out["train"]
    assert r.returncode == 0, r.stderr
    assert NOTE in r.stderr and r.stdout.startswith("run 1 done")
    (stdout, stderr), code = out["cancel"]
    assert code == 130, stderr
    assert "cancelling run 2" in stderr and stdout.startswith("run 2 cancelled")
    with Store(db, read_only=True) as store:
        assert store.fetchall("SELECT id, status FROM runs ORDER BY id") == [(1, "done"), (2, "cancelled")]
        n, steps = store.fetchall(
            "SELECT count(*), count(DISTINCT step) FROM run_metrics WHERE name = 'loss' AND run_id = 1"
        )[0]
        assert n == steps == 3
