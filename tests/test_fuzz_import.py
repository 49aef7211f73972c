"""Every file of a generated fuzz corpus (tests/fuzz/make_corpus.py: bad encodings, truncations, wrong types, deep
nesting, huge numbers and strings, corrupt gzip and Parquet, ragged CSV, link loops, empty files, NUL bytes, U+2028)
through `workbench import`, all-or-nothing and with --skip-invalid: exit 0, 1 or 3 only, never a traceback, a
message naming the file (and the line where the corpus knows it), the store unchanged by a failed import, no empty
pool from a successful one, and only valid JSON stored.

The bulk runs through the CLI's own entry point, many imports to a process (tests/fuzz/driver.py); a sample runs
as a user runs it, one real `workbench` process per import, some of them from standard input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.core.store import Store
from engine.data.ingest import import_file
from tests.fuzz.driver import snapshot
from tests.fuzz.make_corpus import make_corpus
from tests.helpers import ROOT, wb, write_jsonl

CHUNKS = 3  # driver processes, spread over the xdist workers


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("corpus")
    cases = [c.__dict__ for c in make_corpus(out)]
    manifest = out / "manifest.json"
    manifest.write_text(json.dumps(cases))
    return manifest, cases


def _problems(case: dict, mode: str, code, stderr: str, tb, before: dict, after: dict) -> list[str]:
    """What is wrong with one import run of one case ([] when nothing is)."""
    why = []
    if tb:
        why.append("uncaught: " + tb.strip().splitlines()[-1][:300])
    if code not in (0, 1, 3):
        why.append(f"exit {code}")
    if "Traceback" in stderr:
        why.append("a traceback on stderr")
    if code in (1, 3):
        if before != after:
            why.append(f"the store changed: {before} -> {after}")
        if not stderr.startswith("workbench: "):
            why.append("no 'workbench: ' message")
        if case["name"] not in stderr:
            why.append(f"the message does not name {case['name']}")
        if case["line"] is not None and f"{case['name']}:{case['line']}" not in stderr:
            why.append(f"the message does not name line {case['line']}")
        if case["ok"] is True:
            why.append("a valid file failed")
    if code == 0:
        if case["ok"] is False and mode == "default":
            why.append("a bad file imported")
        if Path(case["path"]).name != "dataset_info.json" and after["counts"]["samples"] <= before["counts"]["samples"]:
            why.append("exit 0 without a sample stored")
    return why


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_corpus_file_imports_or_fails_cleanly(corpus, tmp_path, chunk):
    manifest, cases = corpus
    indices = list(range(chunk, len(cases), CHUNKS))
    out = tmp_path / "out.json"
    r = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.driver", str(manifest), str(tmp_path / "wb.duckdb"), str(out)]
        + [str(i) for i in indices],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "cfg")),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(out.read_text())
    runs = got["results"]
    assert len(runs) == 2 * len(indices)
    failures = []
    for run in runs:
        case = cases[run["index"]]
        why = _problems(case, run["mode"], run["code"], run["stderr"], run["traceback"], run["before"], run["after"])
        if why:
            failures.append(
                f"{case['group']}/{Path(case['path']).name} [{run['mode']}] exit {run['code']}: "
                f"{'; '.join(why)} | {run['stderr'].strip()[:300]}"
            )
    assert not failures, f"{len(failures)} of {len(runs)} runs:\n" + "\n".join(failures[:40])
    assert got["invalid_json"] == []
    codes = Counter((run["mode"], run["code"]) for run in runs)
    assert codes[("default", 0)] and codes[("default", 1)] and codes[("skip", 0)], codes  # both outcomes, both modes


def test_the_corpus_covers_every_kind_of_bad_input(corpus):
    _, cases = corpus
    groups = Counter(c["group"] for c in cases)
    for group in (
        "valid",
        "truncated",
        "encoding",
        "types",
        "deep",
        "numbers",
        "strings",
        "gzip",
        "csv",
        "parquet",
        "empty",
        "json",
        "links",
        "folders",
        "dataset_info",
        "mutated",
        "random",
    ):
        assert groups[group] >= 1, group
    assert len(cases) >= 300 and groups["truncated"] >= 60
    kinds = Counter(Path(c["path"]).name.split(".", 1)[-1] for c in cases if c["group"] == "truncated")
    assert set(kinds) == {"jsonl", "json", "csv", "tsv", "parquet", "jsonl.gz", "json.gz", "csv.gz"}


# A sample as a user runs it: one real process per import (file, mode), and standard input.
SAMPLE = [
    "gzip/flip{mid}.jsonl.gz",
    "deep/only-record.jsonl",
    "numbers/bigint-only-record.jsonl",
    "links/loop-a.jsonl",
    "folders/badsub",
    "parquet/corrupt{pmid}.parquet",
]


def _sample_case(cases: list[dict], pattern: str) -> dict:
    group, name = pattern.split("/")
    if "{" in name:  # an offset in the middle of the file: the one case of its group whose name has it
        head = name.split("{")[0]
        tail = name.split("}")[1]
        found = [
            c
            for c in cases
            if c["group"] == group and Path(c["path"]).name.startswith(head) and Path(c["path"]).name.endswith(tail)
        ]
        return found[len(found) // 2]
    return next(c for c in cases if c["group"] == group and Path(c["path"]).name == name)


@pytest.mark.slow
@pytest.mark.parametrize("pattern", SAMPLE)
def test_a_sample_through_the_real_cli(corpus, tmp_path, pattern):
    _, cases = corpus
    case = _sample_case(cases, pattern)
    db = tmp_path / "wb.duckdb"
    with Store(db) as store:  # a store with a pool in it already
        import_file(store, write_jsonl(tmp_path / "base.jsonl", [{"instruction": "b", "output": "p"}]), pool="base")
    for mode, extra in (("default", []), ("skip", ["--skip-invalid"])):
        before = snapshot(db)
        r = wb(db, "import", case["path"], "--pool", f"p{mode}", "-q", *extra, check=False)
        after = snapshot(db)
        why = _problems(case, mode, r.returncode, r.stderr, None, before, after)
        assert not why, (mode, why, r.stderr)


@pytest.mark.slow
@pytest.mark.parametrize(
    "pattern, expect, skip_code",
    [
        ("deep/only-record.jsonl", "<stdin>:1", 1),  # no valid record: fails in both modes
        ("types/alpaca-output-3.jsonl", "<stdin>:2", 0),  # with --skip-invalid the first record is kept
    ],
)
def test_standard_input_is_named_stdin_in_errors_and_in_the_store(corpus, tmp_path, pattern, expect, skip_code):
    _, cases = corpus
    case = _sample_case(cases, pattern)
    db = tmp_path / "wb.duckdb"
    data = Path(case["path"]).read_bytes()
    env_cmd = [sys.executable, "-m", "workbench", "--db", str(db), "-q", "import", "-", "--pool", "s"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    r = subprocess.run(env_cmd, input=data, capture_output=True, env=env, timeout=120)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 1 and "<stdin>" in err and expect in err, err
    assert "workbench-stdin" not in err and "Traceback" not in err
    # with --skip-invalid what can be read is kept, and recorded as coming from <stdin>, not a temporary file
    r = subprocess.run(env_cmd + ["--skip-invalid"], input=data, capture_output=True, env=env, timeout=120)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == skip_code and "Traceback" not in err and "workbench-stdin" not in err, err
    if skip_code == 0:
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        try:
            sources = con.execute(
                "SELECT DISTINCT p.source, s.source_file, i.path FROM samples s JOIN pools p ON p.id = s.pool_id "
                "JOIN imports i ON i.id = s.import_id"
            ).fetchall()
        finally:
            con.close()
        assert sources == [("<stdin>", "<stdin>", "<stdin>")]
