"""Import every dataset in ../shared/datasets (see its SOURCES.md) with the record counts stated there.

n_records (records read) must equal SOURCES.md's count. n_duplicates is what the files really hold:
records whose system + tools + messages are identical to an earlier record of the same pool (checked
independently below for several datasets). Skipped when the folder is missing.
"""

import csv
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from engine.core.store import Store
from engine.data.ingest import import_file, sniff

ROOT = Path(__file__).resolve().parents[2] / "shared" / "datasets"
if not ROOT.is_dir():
    ROOT = Path("/work/shared/datasets")
if not ROOT.is_dir():
    pytest.skip("shared/datasets not found", allow_module_level=True)

pytestmark = [pytest.mark.shared, pytest.mark.slow]

# folder: (records per SOURCES.md, format, duplicates observed, suggested domain)
EXPECTED = {
    "gsm8k_train": (7_473, "qa", 0, "math"),
    "math": (4_392, "problem_solution", 0, "math"),
    "mbpp_prompt_train": (474, "mbpp", 0, "code"),
    "code_alpaca_2k": (2_016, "alpaca", 0, "code"),
    "gpteacher_codegen": (4_532, "alpaca", 0, "code"),
    "alpaca_5000": (5_000, "alpaca", 0, None),
    "cherry_alpaca_ifd": (3_111, "alpaca", 0, None),
    "alpaca_gpt4_en_demo": (999, "alpaca", 14, None),  # 14 exact repeats in the demo file
    "alpaca_zh_demo": (1_000, "alpaca", 8, None),  # 8 exact repeats
    "self_instruct_seed_tasks": (175, "self_instruct", 0, None),
    "t0_train_50k": (55_185, "prompt_completion", 1_153, None),  # same prompt+completion in several templates
    "gpteacher_roleplay": (1_923, "alpaca", 0, None),
    "wizardlm_testset": (216, "prompt_only", 1, None),  # one instruction appears twice
    "lima_testset": (263, "prompt_only", 0, None),
    "mmlu_dev_val": (285 + 1_503, "mcq", 4, None),  # 4 rows repeated across dev/val files
    "bfcl_v4_nonlive": (1_390, "bfcl", 0, "tool_use"),
    "gorilla_openfunctions_v1_test": (112, "openfunctions", 0, "tool_use"),
    "gorilla_apibench_torchhub_train": (837, "apibench", 0, "tool_use"),
    "glaive_toolcall_en_demo": (300, "sharegpt", 35, "tool_use"),  # 35 exact repeats
    "gpteacher_toolformer": (7_673, "alpaca", 0, "tool_use"),
}


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("shared") / "shared.duckdb")
    yield s
    s.close()


@pytest.fixture(scope="module")
def content_store(tmp_path_factory):
    """Its own store with the pools the content checks read (tests may run in any worker and order)."""
    s = Store(tmp_path_factory.mktemp("content") / "content.duckdb")
    for folder in (
        "t0_train_50k",
        "mmlu_dev_val",
        "bfcl_v4_nonlive",
        "glaive_toolcall_en_demo",
        "gsm8k_train",
        "lima_testset",
        "math",
        "mbpp_prompt_train",
    ):
        for p in _paths(folder):
            import_file(s, p, pool=folder)
    yield s
    s.close()


def _paths(folder: str) -> list[Path]:
    d = ROOT / folder
    if folder == "bfcl_v4_nonlive":  # question files only; possible_answer/ holds answers, not samples
        return sorted(d.glob("BFCL_v4_*.json"))
    return [d]


def test_every_folder_is_covered():
    folders = {p.name for p in ROOT.iterdir() if p.is_dir()}
    assert folders == set(EXPECTED)


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_import_shared_dataset(shared_store, folder):
    n_expected, fmt, n_dup, domain = EXPECTED[folder]
    paths = _paths(folder)
    det = sniff(paths[0])
    assert det.format == fmt, det.reason
    assert det.suggested_domain == domain
    results = [import_file(shared_store, p, pool=folder) for p in paths]
    assert {r.format for r in results} == {fmt}
    n_records = sum(r.n_records for r in results)
    n_inserted = sum(r.n_inserted for r in results)
    n_dups = sum(r.n_duplicates for r in results)
    assert sum(r.n_invalid for r in results) == 0
    assert n_records == n_expected
    assert n_inserted + n_dups == n_expected
    assert n_dups == n_dup
    pool_id = results[0].pool_id
    stored, bad = shared_store.con.sql(
        f"SELECT count(*), count(*) FILTER (WHERE instruction = '' OR n_turns < 1 OR n_tokens < 1) "
        f"FROM samples WHERE pool_id = {pool_id}"
    ).fetchall()[0]
    assert stored == n_inserted and bad == 0


def test_folder_imports_record_their_files(content_store):
    files = content_store.con.sql(
        "SELECT count(DISTINCT source_file) FROM samples s JOIN pools p ON p.id = s.pool_id "
        "WHERE p.name = 't0_train_50k'"
    ).fetchall()[0][0]
    assert files == 283
    mmlu = content_store.con.sql(
        "SELECT count(DISTINCT source_file) FROM samples s JOIN pools p ON p.id = s.pool_id "
        "WHERE p.name = 'mmlu_dev_val'"
    ).fetchall()[0][0]
    assert mmlu == 114


def test_duplicate_counts_match_an_independent_count():
    def dups(keys):
        return sum(c - 1 for c in Counter(keys).values())

    t0 = []
    for f in sorted((ROOT / "t0_train_50k").glob("*.gz")):
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            t0 += [(r["prompt"], r["completion"]) for r in map(json.loads, fh)]
    assert dups(t0) == EXPECTED["t0_train_50k"][2]
    rows = []
    for f in sorted((ROOT / "mmlu_dev_val").rglob("*.csv")):
        with open(f, newline="", encoding="utf-8") as fh:
            rows += [tuple(r) for r in csv.reader(fh) if r]
    assert dups(rows) == EXPECTED["mmlu_dev_val"][2]
    for folder in ("glaive_toolcall_en_demo", "alpaca_gpt4_en_demo", "alpaca_zh_demo"):
        (f,) = (ROOT / folder).glob("*.json")
        recs = json.loads(f.read_text(encoding="utf-8"))
        assert dups(json.dumps(r, sort_keys=True) for r in recs) == EXPECTED[folder][2]


def test_samples_look_right(content_store):
    def one(pool, cols):
        return content_store.con.sql(
            f"SELECT {cols} FROM samples s JOIN pools p ON p.id = s.pool_id WHERE p.name = '{pool}' "
            "ORDER BY s.id LIMIT 1"
        ).fetchall()[0]

    (final,) = one("gsm8k_train", "json_extract_string(s.meta, '$.final_answer')")
    assert final == "72"
    level, typ = one("math", "json_extract_string(s.meta, '$.level'), json_extract_string(s.meta, '$.type')")
    assert (level, typ) == ("Level 3", "Algebra")
    instr, tests = one("mbpp_prompt_train", "s.instruction, json_extract(s.meta, '$.test_list')")
    assert instr.startswith("You are an expert Python programmer") and "assert min_cost(" in instr
    assert len(json.loads(tests)) == 3
    n_turns, resp = one("lima_testset", "s.n_turns, s.response")
    assert (n_turns, resp) == (1, "")
    msgs, tools = one("glaive_toolcall_en_demo", "s.messages, s.tools")
    roles = [m["role"] for m in json.loads(msgs)]
    assert "tool" in roles and json.loads(tools)[0]["name"] == "search_recipes"
    msgs, tools = one("bfcl_v4_nonlive", "s.messages, s.tools")
    assert json.loads(msgs)[0]["role"] == "user" and json.loads(tools)
    (resp,) = one("t0_train_50k", "s.response")
    assert resp.endswith("<|endoftext|>")  # completions are kept verbatim
