"""The CLI as a Unix tool, run as a user runs it (real subprocesses, real pipes, real signals, a real store):
a closed pipe ends it quietly, `-` is stdin/stdout, links and FIFOs are written in place, Ctrl-C exits 130 with
the store untouched, cut output says so on stderr, every action shows in --help, store paths fail with exit 3
and read-only commands create no store."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers import ROOT, wb, write_jsonl


def _env(db: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(db.parent / "cfg"))


def _cmd(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "workbench", "--db", str(db), *args]


def wb_bytes(db: Path, *args: str, stdin: bytes = b"", cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`workbench --db DB ARGS...` with `stdin` on its standard input; stdout as bytes, stderr as text."""
    r = subprocess.run(_cmd(db, *args), input=stdin, capture_output=True, env=_env(db), cwd=cwd, timeout=120)
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


def alpaca(n: int, pad: int = 0) -> list[dict]:
    return [
        {"instruction": f"Question {i}? " + "word " * pad, "output": f"Answer {i}. " + "more " * pad} for i in range(n)
    ]


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "wb.duckdb"


@pytest.fixture
def store30(db, tmp_path) -> Path:
    """A store with one pool `p` of 30 samples."""
    wb(db, "import", str(write_jsonl(tmp_path / "p.jsonl", alpaca(30))), "-q")
    return db


def _pools(db: Path) -> list[dict]:
    return json.loads(wb(db, "pools", "--format", "json").stdout)


def test_a_closed_pipe_ends_the_command_quietly(db, tmp_path):
    """`workbench query ... | head -1`: the reader takes one line and closes the pipe; workbench stops without a
    traceback, with the status of a Unix tool stopped by SIGPIPE. The rows are far more than a pipe buffer holds,
    so the write after the close must fail."""
    wb(db, "import", str(write_jsonl(tmp_path / "big.jsonl", alpaca(3000, pad=30))), "-q")
    for args in (["query", "--format", "jsonl", "--limit", "0"], ["export", "-", "-q"]):
        p = subprocess.Popen(_cmd(db, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(db))
        first = p.stdout.readline()
        p.stdout.close()  # what `head -1` does once it has its line
        err = p.stderr.read().decode()
        assert p.wait(timeout=60) == 141, (args, err)
        assert json.loads(first)
        assert err == "", args  # not a traceback, not even a message


def test_query_says_on_stderr_when_rows_were_cut(store30):
    db = store30
    r = wb(db, "query", "--format", "json")  # the default limit
    assert len(json.loads(r.stdout)) == 20  # stdout stays clean JSON
    assert "20 of 30 matching samples shown" in r.stderr and "--limit 0" in r.stderr
    r = wb(db, "query", "--format", "json", "--limit", "0")
    assert len(json.loads(r.stdout)) == 30 and "shown" not in r.stderr
    r = wb(db, "query", "--format", "jsonl", "--limit", "5", "--offset", "25")  # the last rows: nothing cut
    assert [json.loads(x)["id"] for x in r.stdout.split("\n") if x] == [26, 27, 28, 29, 30]
    assert "shown" not in r.stderr
    r = wb(db, "query", "--format", "jsonl", "--limit", "5", "--offset", "10")
    assert len(r.stdout.split("\n")) == 6 and "5 of 30 matching samples shown (rows 11-15)" in r.stderr
    assert wb(db, "query", "--limit", "-1", check=False).returncode == 2
    helptext = " ".join(wb(db, "query", "--help").stdout.split())
    assert "default 20; 0: all" in helptext


def test_export_dash_writes_stdout_and_pipes_into_import_dash(store30, tmp_path):
    db = store30
    r = wb_bytes(db, "export", "-", "--style", "alpaca", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().split("\n")
    assert lines[-1] == "" and [json.loads(x)["output"] for x in lines[:-1]] == [f"Answer {i}. " for i in range(30)]
    assert "exported 30 samples to <stdout>" in r.stderr  # the summary leaves stdout to the data
    assert not (tmp_path / "-").exists()
    # export - | import -: a real pipe between two workbench processes
    db2 = tmp_path / "two.duckdb"
    src = subprocess.Popen(_cmd(db, "export", "-", "-q"), stdout=subprocess.PIPE, env=_env(db))
    dst = subprocess.run(
        _cmd(db2, "import", "-", "--pool", "piped"), stdin=src.stdout, capture_output=True, text=True, env=_env(db2)
    )
    src.stdout.close()
    assert src.wait(timeout=60) == 0 and dst.returncode == 0, dst.stderr
    assert "imported 30 samples" in dst.stdout
    assert [(p["name"], p["samples"]) for p in _pools(db2)] == [("piped", 30)]
    # dataset_info points at a file: refused with -, before anything is written
    r = wb_bytes(db, "export", "-", "--dataset-info", str(tmp_path / "dataset_info.json"))
    assert r.returncode == 2 and "--dataset-info" in r.stderr and "<stdout>" in r.stderr and r.stdout == b""
    assert not (tmp_path / "dataset_info.json").exists()


@pytest.mark.slow
def test_import_dash_reads_stdin_and_names_it_in_errors(db, tmp_path):
    text = "".join(json.dumps(r) + "\n" for r in alpaca(12)).encode()
    r = wb_bytes(db, "import", "-", "--pool", "plain", stdin=text)
    assert r.returncode == 0 and b"imported 12 samples (alpaca)" in r.stdout, r.stderr
    r = wb_bytes(db, "import", "-", "--pool", "kind", "--format", "jsonl", stdin=text)  # the file kind, given
    assert r.returncode == 0, r.stderr
    r = wb_bytes(db, "import", "-", "--pool", "zipped", stdin=gzip.compress(text))
    assert r.returncode == 0, r.stderr
    array = json.dumps([{"question": "1+1?", "answer": "2"}, {"question": "2+2?", "answer": "4"}]).encode()
    r = wb_bytes(db, "import", "-", "--pool", "array", stdin=array)
    assert r.returncode == 0 and b"imported 2 samples (qa)" in r.stdout, r.stderr
    r = wb_bytes(db, "import", "-", "--pool", "table", stdin=b"instruction,output\nHi?,Hello.\nBye?,Bye.\n")
    assert r.returncode == 0 and b"imported 2 samples" in r.stdout, r.stderr
    assert {p["name"]: p["samples"] for p in _pools(db)} == {
        "plain": 12,
        "kind": 12,
        "zipped": 12,
        "array": 2,
        "table": 2,
    }
    # a bad record: named <stdin>, line and field, never the temporary file it was spooled to
    bad = b'{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": [1]}\n'
    r = wb_bytes(db, "import", "-", "--pool", "bad", stdin=bad)
    assert r.returncode == 1 and "<stdin>:2" in r.stderr and "'output'" in r.stderr, r.stderr
    assert "workbench-stdin" not in r.stderr and "Traceback" not in r.stderr
    r = wb_bytes(db, "import", "-", stdin=text)
    assert r.returncode == 2 and "--pool" in r.stderr
    # --format takes a file kind only for -; an unknown format is a usage error, not a traceback
    path = str(write_jsonl(tmp_path / "x.jsonl", alpaca(2)))
    for fmt in ("jsonl", "nonsense"):
        r = wb_bytes(db, "import", path, "--format", fmt)
        assert r.returncode == 2 and "--format" in r.stderr and "Traceback" not in r.stderr
    assert "bad" not in {p["name"] for p in _pools(db)}


def test_links_and_fifos_are_written_in_place_not_replaced(store30, tmp_path):
    """A FIFO (what /dev/stdout is on a pipe) and a symlink (what /dev/stdout itself is) get the bytes written
    through; neither is replaced by a new file."""
    db = store30
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = wb(db, "export", str(fifo), "-q", check=False)
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert len(got[0].decode().split("\n")) == 31 and r.stdout == ""  # the summary went to stderr
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    r = wb(db, "export", str(link), "-q")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert len(real.read_text().split("\n")) == 31 and "old" not in real.read_text()


@pytest.mark.parametrize("path", ["fast", "python"])
def test_ctrl_c_mid_import_exits_130_and_writes_nothing(db, tmp_path, path):
    """A real SIGINT to a real `workbench import` once it reports progress (so it is mid-import): exit 130, one
    clean message, and no pool or sample in the store. "fast": a flat JSON Lines file large enough for the DuckDB
    fast path (Ctrl-C lands in a DuckDB statement); "python": chat records, read in Python chunk by chunk."""
    from engine.data.ingest.fastpath import FAST_PATH_MIN_BYTES
    from engine.data.ingest.staging import CHUNK_ROWS

    wb(db, "import", str(write_jsonl(tmp_path / "kept.jsonl", alpaca(3))), "-q")  # the store exists, one pool
    big = tmp_path / "big.jsonl"
    if path == "fast":
        recs = alpaca(2 * FAST_PATH_MIN_BYTES // 150, pad=10)  # ~2x the threshold
    else:
        recs = [
            {"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": "ok"}]}
            for i in range(CHUNK_ROWS + 30_000)
        ]
    write_jsonl(big, recs)
    if path == "fast":
        assert big.stat().st_size > FAST_PATH_MIN_BYTES
    p = subprocess.Popen(
        _cmd(db, "import", str(big), "--pool", "big"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(db),
    )
    first = p.stderr.readline()  # the first progress line: the import is under way
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert ("with DuckDB" in first) == (path == "fast"), first
    assert p.returncode == 130, (out, err)
    others = [x for x in err.strip().split("\n") if not x.startswith("import big.jsonl: ")]  # all but progress
    assert others == ["workbench: import cancelled; the store is unchanged"], err
    assert out == ""
    assert [(x["name"], x["samples"]) for x in _pools(db)] == [("kept", 3)]
    assert wb(db, "query", "--count").stdout.strip() == "3"


def test_export_over_a_dataset_info_entry_needs_overwrite(store30, tmp_path):
    db = store30
    info = tmp_path / "out" / "dataset_info.json"
    wb(db, "export", str(tmp_path / "out" / "p.jsonl"), "--dataset-info", str(info), "-q")
    r = wb(
        db,
        "export",
        str(tmp_path / "out" / "p.jsonl"),
        "--dataset-info",
        str(info),
        "-q",
        "--where",
        "id <= 3",
        check=False,
    )
    assert r.returncode == 1 and "already has an entry 'p'" in r.stderr and "--overwrite" in r.stderr
    assert "overwrite=True" not in r.stderr
    assert len((tmp_path / "out" / "p.jsonl").read_text().split("\n")) == 31  # untouched
    wb(
        db,
        "export",
        str(tmp_path / "out" / "p.jsonl"),
        "--dataset-info",
        str(info),
        "-q",
        "--where",
        "id <= 3",
        "--overwrite",
    )
    assert len((tmp_path / "out" / "p.jsonl").read_text().split("\n")) == 4
    wb(db, "export", str(tmp_path / "out" / "q.jsonl"), "--dataset-info", str(info), "--dataset-name", "mine", "-q")
    assert sorted(json.loads(info.read_text())) == ["mine", "p"]
    helptext = wb(db, "export", "--help").stdout
    assert "--overwrite" in helptext and "--dataset-name" in helptext


def _actions(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, its action names, aliases left out) for every command of the CLI that takes an ACTION."""
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            names = {id(sub): name for name, sub in reversed(a.choices.items())}  # an alias shares its parser
            if path:
                yield path, sorted(names.values())
            for name, sub in a.choices.items():
                yield from _actions(sub, (*path, name))


def test_help_lists_every_action_of_a_command(db):
    """`workbench pool --help` (and every command with actions) lists each action with a line of help."""
    from workbench.cli import build_parser

    commands = dict(_actions(build_parser()))
    assert {("pool",), ("rules",), ("runs",)} <= set(commands)
    for path, actions in commands.items():
        out = wb(db, *path, "--help").stdout
        for action in actions:  # "    name  help", or "    name (alias)" with the help on the next line
            assert re.search(rf"^    {re.escape(action)}(?: \([^)]*\))?(?: +\S|\n {{8,}}\S)", out, re.M), (
                path,
                action,
                out,
            )


def test_impossible_store_paths_exit_3_and_read_only_commands_create_no_store(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for db in (afile / "wb.duckdb", tmp_path):  # under a file; a folder
        for args in (["pools"], ["tag", "x"], ["query", "--count"]):
            r = wb(db, *args, check=False)
            assert r.returncode == 3 and "cannot open store" in r.stderr and "Traceback" not in r.stderr, (db, args)
    db = tmp_path / "new" / "wb.duckdb"
    assert json.loads(wb(db, "pools", "--format", "json").stdout) == []
    assert "no store at" in wb(db, "pools").stderr
    assert wb(db, "query", "--count").stdout.strip() == "0"
    assert wb(db, "show", "1", check=False).returncode == 1
    assert wb(db, "rules", "list", "--format", "json").stdout.strip() == "[]"
    assert wb_bytes(db, "export", "-").stdout == b""
    assert not (tmp_path / "new").exists()
    wb(db, "tag", "x")  # a command that writes makes the store
    assert db.exists()
