"""The `workbench` CLI as a user runs it: real subprocesses of the console script over a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, SAMPLE, wb


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "wb.duckdb"


@pytest.mark.slow
def test_import_query_show_tag_export_round_trip(db, tmp_path):
    r = wb(db, "import", str(SAMPLE / "math.jsonl"), "--domain", "math")
    assert "imported 80 samples (qa)" in r.stdout
    assert "math.jsonl" in r.stderr  # progress goes to stderr
    wb(db, "import", str(SAMPLE / "general.jsonl"), "--pool", "gen")
    pools = json.loads(wb(db, "pools", "--format", "json").stdout)
    assert {(p["name"], p["samples"]) for p in pools} == {("math", 80), ("gen", 100)}
    assert wb(db, "query", "--count").stdout.strip() == "180"
    assert wb(db, "query", "--count", "--domain", "math", "--where", "n_tokens > 40").stdout.strip() != "0"
    rows = json.loads(
        wb(db, "query", "--pool", "gen", "--limit", "3", "--sort", "n_chars:desc", "--format", "json").stdout
    )
    assert len(rows) == 3 and rows[0]["n_chars"] >= rows[1]["n_chars"] >= rows[2]["n_chars"]
    detail = json.loads(wb(db, "show", str(rows[0]["id"]), "--format", "json").stdout)
    assert detail["messages"][0]["role"] == "user" and detail["domain"] == "general"
    r = wb(db, "tag", "long", "--pool", "gen", "--where", "n_chars > 600")
    n_tagged = int(r.stdout.split()[1].replace(",", ""))
    assert wb(db, "query", "--count", "--tag", "long").stdout.strip() == str(n_tagged)
    out = tmp_path / "out" / "gen.jsonl"
    r = wb(
        db,
        "export",
        str(out),
        "--style",
        "sharegpt",
        "--pool",
        "gen",
        "--dataset-info",
        str(tmp_path / "out" / "dataset_info.json"),
    )
    assert out.exists() and len(out.read_text().splitlines()) == 100
    info = json.loads((tmp_path / "out" / "dataset_info.json").read_text())
    (entry,) = info.values()
    assert entry["formatting"] == "sharegpt"
    # the exported file imports again with the same content
    db2 = tmp_path / "again.duckdb"
    assert "imported 100 samples (sharegpt)" in wb(db2, "import", str(out)).stdout


@pytest.mark.slow
def test_bad_input_exit_codes_and_messages(db, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": [1]}\n')
    r = wb(db, "import", str(bad), check=False)
    assert r.returncode == 1
    assert "bad.jsonl:2" in r.stderr and "'output'" in r.stderr
    assert json.loads(wb(db, "pools", "--format", "json").stdout) == []  # all-or-nothing
    r = wb(db, "import", str(bad), "--skip-invalid")
    assert "imported 1 samples" in r.stdout and "quarantined" in r.stdout
    r = wb(db, "query", "--where", "instrction = 'a'", check=False)
    assert r.returncode == 1 and "did you mean 'instruction'" in r.stderr
    assert wb(db, "import", str(tmp_path / "missing.jsonl"), check=False).returncode == 1
    assert wb(db, "frobnicate", check=False).returncode == 2
    r = wb(db, "pool", "delete", "bad", check=False)
    assert r.returncode == 1 and "--yes" in r.stderr


def test_store_held_by_another_process_gives_exit_3(db):
    wb(db, "pools")
    code = "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        r = wb(db, "pools", check=False)
        assert r.returncode == 3 and "cannot open store" in r.stderr
    finally:
        holder.kill()
        holder.wait()


def test_help_does_not_import_torch():
    code = (
        "import sys; from workbench.cli import build_parser; build_parser().format_help(); "
        "print(any(m in sys.modules for m in ('torch', 'transformers', 'duckdb', 'polars')))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT))
    )
    assert r.stdout.strip() == "False"


@pytest.mark.slow
def test_sample_loads_pools_and_eval_sets_marked_as_eval(db):
    """`workbench sample` brings the 4 training pools and the 4 eval sets; the eval sets are marked as eval
    data, so a mixture over every domain never draws them, and a second run imports nothing."""
    wb(db, "sample")
    assert "already present" in wb(db, "sample").stdout
    sets = json.loads(wb(db, "evalset", "list", "--format", "json").stdout)
    assert sorted(s["name"] for s in sets) == ["eval_code", "eval_general", "eval_math", "eval_tool_use"]
    r = wb(db, "mix", "resolve", "-c", "domain:math", "-c", "domain:code", "--budget", "max", "--format", "json")
    res = json.loads(r.stdout)
    avail = {d: v["available"] for d, v in res["per_domain"].items()}
    assert avail == {"math": 80, "code": 80}  # the 30 math and 25 code eval items are not candidates


@pytest.mark.slow
def test_mix_save_warns_on_overlap_with_eval_sets(db, tmp_path):
    """Saving a mixture whose items repeat an eval item (exactly, or nearly) warns on stderr."""
    q1 = "Tom has 3 apples and buys 4 more at the market on a sunny Tuesday. How many apples does he have now?"
    q2 = "A train travels 60 km per hour for 2 hours and then 30 km per hour for 1 hour. How far does it go?"
    q3 = "Sara reads 12 pages a day for a week and then 5 pages on Sunday. How many pages does she read?"
    ev = tmp_path / "ev.jsonl"
    ev.write_text("\n".join(json.dumps({"question": q, "answer": "work\n#### 7"}) for q in (q1, q2, q3)) + "\n")
    tr = tmp_path / "tr.jsonl"
    train = [
        {"instruction": q1, "input": "", "output": "7"},  # exact copy of an eval question
        {"instruction": q2.replace("2 hours", "two hours"), "input": "", "output": "150 km"},  # near copy
        {"instruction": "Name three primary colours.", "input": "", "output": "Red, yellow and blue."},
    ]
    tr.write_text("\n".join(json.dumps(r) for r in train) + "\n")
    wb(db, "import", str(tr), "--pool", "tr", "--domain", "math")
    wb(db, "import", str(ev), "--pool", "ev", "--domain", "math")
    r = wb(db, "mix", "save", "m", "-c", "pool:tr", "--budget", "max")
    assert "warning" not in r.stderr  # no eval sets yet
    wb(db, "evalset", "mark", "ev")
    r = wb(db, "mix", "save", "m2", "-c", "pool:tr", "--budget", "max")
    assert "1 eval item(s) also in the training data (exact)" in r.stderr
    assert "1 eval item(s) near-duplicate a training item" in r.stderr
