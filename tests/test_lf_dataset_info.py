"""LLaMA-Factory dataset_info.json imported entry by entry: the report, column defaults, preference pairs,
KTO labels, pre-training text, and LLaMA-Factory's own demo files from ../shared."""

import json
from pathlib import Path

import pytest

from engine.data import ingest
from engine.data.formats import preference_pair
from engine.data.ingest import ImportFailed, import_dataset_info
from tests.helpers import wb, write_json, write_jsonl

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/datasets")

ROLE_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
CALL = json.dumps({"name": "add", "arguments": {"a": 2, "b": 3}})

INFO = {
    "alpaca_hub": {"hf_hub_url": "someone/alpaca", "ms_hub_url": "someone/alpaca-ms"},
    "ms_only": {"ms_hub_url": "modelscope/only"},
    "om_only": {"om_hub_url": "openmind/only", "formatting": "sharegpt"},
    "scripted": {"script_url": "my_script"},
    "cloud": {"cloud_file_name": "s3://bucket/data.json"},
    "nowhere": {"formatting": "alpaca"},
    "wiki_txt": {"file_name": "wiki.txt"},
    "wiki_pt": {"file_name": "wiki.txt", "columns": {"prompt": "text"}},
    "c4": {"file_name": "c4.jsonl", "columns": {"prompt": "text"}},
    "plain": {"file_name": "plain.json"},
    "with_system": {
        "file_name": "plain.json",
        "columns": {"prompt": "instruction", "query": "input", "response": "output", "system": "system"},
    },
    "tools": {
        "file_name": "tools.json",
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "tools": "tools"},
    },
    "pref_alpaca": {
        "file_name": "pref_alpaca.jsonl",
        "ranking": True,
        "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected"},
    },
    "pref_sharegpt": {
        "file_name": "pref_sharegpt.json",
        "ranking": True,
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
    },
    "kto": {
        "file_name": "kto.json",
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "kto_tag": "label"},
        "tags": ROLE_TAGS,
    },
    "missing": {"file_name": "not_there.json"},
    "bad": {"file_name": "bad.jsonl"},
    "pictures": {"file_name": "plain.json", "formatting": "sharegpt", "columns": {"messages": "m", "images": "images"}},
    "arrow": {"file_name": "data.arrow"},
    "shards": {"file_name": "shards", "num_samples": 1},
}

SKIPPED = {  # entry: (kind, words of the reason)
    "alpaca_hub": ("hub", "hub dataset, not downloaded: someone/alpaca"),
    "ms_only": ("hub", "hub dataset, not downloaded: modelscope/only"),
    "om_only": ("hub", "hub dataset, not downloaded: openmind/only"),
    "scripted": ("script", "loading script, not run: my_script"),
    "cloud": ("cloud", "cloud file, not downloaded: s3://bucket/data.json"),
    "nowhere": ("no_source", "no file_name"),
    "wiki_txt": ("pretraining_text", "pre-training text (.txt) is not instruction data"),
    "missing": ("missing_file", "file not found: "),
    "bad": ("records", "bad.jsonl:2 (record 1) field 'output': expected a string, got integer"),
    "pictures": ("multimodal", "multimodal (images column)"),
    "arrow": ("file_type", "Arrow files are not read"),
}

IMPORTED = {  # entry: (format, samples)
    "wiki_pt": ("alpaca", 2),
    "c4": ("alpaca", 2),
    "plain": ("alpaca", 2),
    "with_system": ("alpaca", 2),
    "tools": ("sharegpt", 1),
    "pref_alpaca": ("alpaca_ranking", 3),
    "pref_sharegpt": ("sharegpt_ranking", 2),
    "kto": ("sharegpt", 3),
    "shards": ("alpaca", 2),
}


def lf_folder(d: Path) -> Path:
    """A dataset_info.json covering every kind of entry, with small data files beside it; its path."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "wiki.txt").write_text("First article line.\n\nSecond article, after a blank line.\n", encoding="utf-8")
    write_jsonl(d / "c4.jsonl", [{"text": "A web page.", "url": "u1"}, {"text": "Another page.", "url": "u2"}])
    write_json(
        d / "plain.json",
        [
            {"instruction": "Add.", "input": "2 and 3", "output": "5", "system": "Be terse."},
            {"instruction": "Greet.", "input": "", "output": "Hi.", "history": [["a", "b"]]},
        ],
    )
    write_json(
        d / "tools.json",
        [
            {
                "conversations": [
                    {"from": "human", "value": "Add 2 and 3."},
                    {"from": "function_call", "value": CALL},
                    {"from": "observation", "value": "5"},
                    {"from": "gpt", "value": "It is 5."},
                ],
                "tools": json.dumps([{"name": "add", "parameters": {"type": "object"}}]),
            }
        ],
    )
    write_jsonl(
        d / "pref_alpaca.jsonl",
        [
            {"instruction": "Capital of France?", "input": "", "chosen": "Paris.", "rejected": "Lyon."},
            {"instruction": "Capital of France?", "input": "", "chosen": "Paris.", "rejected": "Nice."},
            {"instruction": "Sum", "input": "2 and 2", "chosen": "4", "rejected": "5", "source": "x"},
        ],
    )
    write_json(
        d / "pref_sharegpt.json",
        [
            {
                "conversations": [
                    {"from": "human", "value": "Hi"},
                    {"from": "gpt", "value": "Hello"},
                    {"from": "human", "value": "Add 2 and 3"},
                ],
                "chosen": {"from": "function_call", "value": CALL},
                "rejected": {"from": "gpt", "value": "6"},
            },
            {
                "conversations": [{"from": "human", "value": "Add 2 and 3"}],
                "chosen": {"from": "gpt", "value": "5"},
                "rejected": {"from": "function_call", "value": CALL},
            },
        ],
    )
    kto = [
        ("Good question", "A helpful answer.", True),
        ("Bad question", "A rude answer.", False),
        ("Another", "Fine answer.", True),
    ]
    write_json(
        d / "kto.json",
        [
            {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}], "label": ok}
            for q, a, ok in kto
        ],
    )
    write_jsonl(d / "bad.jsonl", [{"instruction": "ok", "output": "fine"}, {"instruction": "no", "output": 7}])
    (d / "data.arrow").write_bytes(b"ARROW1")
    (d / "shards").mkdir()
    write_jsonl(d / "shards" / "a.jsonl", [{"instruction": "one", "output": "1"}])
    write_jsonl(d / "shards" / "b.jsonl", [{"instruction": "two", "output": "2"}])
    (d / "dataset_info.json").write_text(json.dumps(INFO, indent=2))
    return d / "dataset_info.json"


def pool_rows(store, name, cols="messages, rejected, excluded, meta, system"):
    return store.fetchall(
        f"SELECT {cols} FROM samples WHERE pool_id = (SELECT id FROM pools WHERE name = ?) ORDER BY id", [name]
    )


def test_whole_file_imports_every_entry_it_can_and_reports_the_rest(store, tmp_path):
    rep = import_dataset_info(store, lf_folder(tmp_path / "lf"))
    assert rep.entries == list(INFO)
    assert {s.name: s.kind for s in rep.skipped} == {n: k for n, (k, _) in SKIPPED.items()}
    for s in rep.skipped:
        assert SKIPPED[s.name][1] in s.reason, (s.name, s.reason)
    assert {r.pool: (r.format, r.n_inserted) for r in rep.imported} == IMPORTED
    assert rep.skipped_by_kind() == {
        "hub": 3,
        "script": 1,
        "cloud": 1,
        "no_source": 1,
        "pretraining_text": 1,
        "missing_file": 1,
        "records": 1,
        "multimodal": 1,
        "file_type": 1,
    }
    pools = [r[0] for r in store.fetchall("SELECT name FROM pools ORDER BY id")]
    assert pools == list(IMPORTED)  # a skipped entry leaves no pool, not even the bad one's good record
    lines = rep.lines()
    assert len(lines) == len(INFO) + 1 and lines[-1].startswith(f"{len(IMPORTED)} of {len(INFO)} entries imported")
    for name, line in zip(INFO, lines):
        assert line.startswith(f"{name}: " + ("imported" if name in IMPORTED else "skipped: "))


def test_column_defaults_follow_llamafactory(store, tmp_path):
    import_dataset_info(store, lf_folder(tmp_path / "lf"))
    # no columns: prompt=instruction, query=input, response=output; system and history only when declared
    (m1, _, _, meta1, sys1), (m2, _, _, meta2, _) = pool_rows(store, "plain")
    assert [(x["role"], x["content"]) for x in json.loads(m1)] == [("user", "Add.\n2 and 3"), ("assistant", "5")]
    assert sys1 is None and json.loads(meta1)["system"] == "Be terse."
    assert [x["role"] for x in json.loads(m2)] == ["user", "assistant"] and json.loads(meta2)["history"] == [["a", "b"]]
    ((m, _, _, _, system), _) = pool_rows(store, "with_system")
    assert system == "Be terse." and json.loads(m)[0] == {"role": "system", "content": "Be terse."}
    # columns {"prompt": "text"}: prompt-only, from a .txt (blank lines are not records) or a JSON Lines file
    wiki = pool_rows(store, "wiki_pt", "messages, source_line, response")
    assert [(json.loads(m), line, r) for m, line, r in wiki] == [
        ([{"role": "user", "content": "First article line."}], 1, ""),
        ([{"role": "user", "content": "Second article, after a blank line."}], 3, ""),
    ]
    c4 = pool_rows(store, "c4", "messages, meta")
    assert [json.loads(m) for m, _ in c4] == [
        [{"role": "user", "content": "A web page."}],
        [{"role": "user", "content": "Another page."}],
    ]
    assert json.loads(c4[0][1]) == {"url": "u1"}
    # a folder entry reads each of its files
    assert [json.loads(m)[0]["content"] for (m,) in pool_rows(store, "shards", "messages")] == ["one", "two"]
    ((m, tools),) = pool_rows(store, "tools", "messages, tools")
    assert [x["role"] for x in json.loads(m)] == ["user", "assistant", "tool", "assistant"]
    assert json.loads(m)[1]["tool_calls"][0]["function"]["name"] == "add" and json.loads(tools)[0]["name"] == "add"


def test_preference_pairs_keep_chosen_and_rejected(store, tmp_path):
    rep = import_dataset_info(store, lf_folder(tmp_path / "lf"))
    notes = {r.pool: r.notes for r in rep}
    assert notes["pref_alpaca"] == ["3 preference pairs (chosen reply last in messages, rejected kept)"]
    rows = pool_rows(store, "pref_alpaca", "messages, rejected, response, meta")
    # same prompt and chosen reply, another rejected one: a different pair, both kept
    assert [(json.loads(m)[-1]["content"], json.loads(r)) for m, r, _, _ in rows] == [
        ("Paris.", {"role": "assistant", "content": "Lyon."}),
        ("Paris.", {"role": "assistant", "content": "Nice."}),
        ("4", {"role": "assistant", "content": "5"}),
    ]
    m, r, response, meta = rows[2]
    prompt, chosen, rejected = preference_pair(json.loads(m), json.loads(r))
    assert prompt == [{"role": "user", "content": "Sum\n2 and 2"}] and response == chosen["content"] == "4"
    assert json.loads(meta) == {"source": "x", "input_split": 3}  # chosen/rejected are not left in meta
    (m1, r1), (m2, r2) = pool_rows(store, "pref_sharegpt", "messages, rejected")
    assert [x["role"] for x in json.loads(m1)] == ["user", "assistant", "user", "assistant"]
    assert json.loads(m1)[-1]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 2, "b": 3}'}
    assert json.loads(r1) == {"role": "assistant", "content": "6"}
    assert json.loads(m2)[-1] == {"role": "assistant", "content": "5"}
    rej = json.loads(r2)  # a rejected function_call turn keeps its tool call
    assert rej["role"] == "assistant" and rej["tool_calls"][0]["function"]["name"] == "add"
    # ordinary samples have no rejected reply
    assert {r for (r,) in pool_rows(store, "plain", "rejected")} == {None}


def test_kto_false_replies_are_excluded_and_tagged(store, tmp_path):
    rep = import_dataset_info(store, lf_folder(tmp_path / "lf"))
    assert {r.pool: r.notes for r in rep}["kto"] == [
        "KTO 'label': 2 desired (tag kto:desired), 1 undesired (excluded, tag kto:undesired)"
    ]
    got = store.fetchall(
        "SELECT s.instruction, s.excluded, list(t.tag ORDER BY t.tag) FROM samples s JOIN sample_tags t ON t.sample_id"
        " = s.id WHERE s.pool_id = (SELECT id FROM pools WHERE name = 'kto') GROUP BY s.id, s.instruction, s.excluded ORDER BY s.id"
    )
    assert got == [
        ("Good question", False, ["kto:desired"]),
        ("Bad question", True, ["kto:undesired"]),
        ("Another", False, ["kto:desired"]),
    ]


@pytest.mark.parametrize("fast", [False, True])
def test_kto_labels_must_be_booleans_on_either_path(store, tmp_path, monkeypatch, fast):
    """An alpaca KTO file in JSON Lines may take the DuckDB fast path: labels are checked on both."""
    monkeypatch.setattr(ingest.fastpath, "FAST_PATH_MIN_BYTES", 0)
    monkeypatch.setattr(ingest.fastpath, "FAST_PATH", fast)
    recs = [{"instruction": f"q{i}", "output": f"a{i}", "ok": i % 2 == 0} for i in range(4)]
    write_jsonl(tmp_path / "kto.jsonl", recs)
    write_jsonl(tmp_path / "kto_bad.jsonl", recs[:2] + [{"instruction": "q", "output": "a", "ok": "yes"}])
    info = {
        "good": {"file_name": "kto.jsonl", "columns": {"prompt": "instruction", "response": "output", "kto_tag": "ok"}},
        "bad": {
            "file_name": "kto_bad.jsonl",
            "columns": {"prompt": "instruction", "response": "output", "kto_tag": "ok"},
        },
    }
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    rep = import_dataset_info(store, tmp_path / "dataset_info.json")
    assert [(r.pool, r.n_inserted, r.fast_path) for r in rep] == [("good", 4, fast)]
    (skip,) = rep.skipped
    assert (
        skip.name == "bad" and "kto_bad.jsonl:3 (record 2) field 'ok': KTO label: expected true or false" in skip.reason
    )
    assert store.fetchall("SELECT instruction FROM samples WHERE excluded ORDER BY id") == [("q1",), ("q3",)]
    # with skip_invalid the bad record is quarantined and the rest imported
    rep = import_dataset_info(store, tmp_path / "dataset_info.json", names=["bad"], skip_invalid=True)
    assert [(r.n_records, r.n_inserted, r.n_invalid) for r in rep] == [(3, 2, 1)] and rep[0].quarantine_path


def test_preference_files_never_take_the_fast_path(store, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest.fastpath, "FAST_PATH_MIN_BYTES", 0)
    info = lf_folder(tmp_path / "lf")
    (r,) = import_dataset_info(store, info, names=["pref_alpaca"])
    assert not r.fast_path and r.format == "alpaca_ranking"
    assert store.fetchall("SELECT count(*) FROM samples WHERE rejected IS NOT NULL") == [(3,)]


def test_named_entries_are_all_or_nothing(store, tmp_path):
    info = lf_folder(tmp_path / "lf")
    for names, words in [
        (["plain", "alpaca_hub"], "entry 'alpaca_hub': hub dataset, not downloaded: someone/alpaca"),
        (["plain", "wiki_txt"], "entry 'wiki_txt': pre-training text"),
        (["plain", "nope"], "entry 'nope': no such entry"),
        (["plain", "bad"], "entry 'bad': 1 invalid record of 2, nothing imported: bad.jsonl:2 (record 1) field"),
    ]:
        with pytest.raises(ImportFailed, match=words.replace("(", r"\(").replace(")", r"\)")):
            import_dataset_info(store, info, names=names)
        assert store.fetchall("SELECT count(*) FROM pools") == [(0,)]
    rep = import_dataset_info(store, info, names=["kto", "pref_sharegpt"])
    assert [r.pool for r in rep] == ["kto", "pref_sharegpt"] and rep.skipped == []


def test_reimport_counts_duplicates_and_a_plain_file_detects_preference_pairs(store, tmp_path):
    info = lf_folder(tmp_path / "lf")
    import_dataset_info(store, info)
    again = import_dataset_info(store, info.parent)  # its folder (LLaMA-Factory's dataset_dir) works too
    assert len(again) == len(IMPORTED) and all(r.n_inserted == 0 and r.n_duplicates == r.n_records for r in again)
    # the same preference file imported without its entry is recognised by its chosen/rejected keys
    r = ingest.import_file(store, tmp_path / "lf" / "pref_sharegpt.json", pool="direct")
    assert r.format == "sharegpt_ranking" and r.n_inserted == 2
    r = ingest.import_file(store, tmp_path / "lf" / "pref_alpaca.jsonl", pool="direct2")
    assert r.format == "alpaca_ranking" and r.n_inserted == 3


def test_preference_record_errors_name_the_field(store, tmp_path):
    write_json(
        tmp_path / "p.json",
        [
            {
                "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
                "chosen": {"from": "gpt", "value": "c"},
                "rejected": {"from": "gpt", "value": "r"},
            },
            {
                "conversations": [{"from": "human", "value": "q"}],
                "chosen": {"from": "human", "value": "c"},
                "rejected": {"from": "gpt", "value": "r"},
            },
            {"conversations": [{"from": "human", "value": "q"}], "chosen": {"from": "gpt", "value": "c"}},
        ],
    )
    entry = {"file_name": "p.json", "ranking": True, "formatting": "sharegpt"}
    (tmp_path / "dataset_info.json").write_text(json.dumps({"p": entry}))
    with pytest.raises(ImportFailed) as e:
        import_dataset_info(store, tmp_path / "dataset_info.json", names=["p"])
    assert [str(i) for i in e.value.issues] == [
        "p.json:2 (record 0) field 'conversations': a preference prompt must end with a user or observation turn"
        " (the replies are in 'chosen' and 'rejected')",
        "p.json:22 (record 1) field 'chosen.from': expected gpt or function_call, got 'human'",
        "p.json:38 (record 2) field 'rejected': missing (record has keys: conversations, chosen)",
    ]


def test_cli_prints_one_line_per_entry(tmp_path):
    info = lf_folder(tmp_path / "lf")
    db = tmp_path / "w.duckdb"
    out = wb(db, "import", str(info), "-q").stdout.splitlines()
    assert len(out) == len(INFO) + 1
    assert "alpaca_hub: skipped: hub dataset, not downloaded: someone/alpaca" in out
    assert any(x.startswith("kto: imported 3 samples (sharegpt) into pool kto") and "1 undesired" in x for x in out)
    assert out[-1].startswith(f"{len(IMPORTED)} of {len(INFO)} entries imported, {len(SKIPPED)} skipped (hub 3,")
    r = wb(db, "import", str(info), "--name", "alpaca_hub", check=False)
    assert r.returncode == 1 and "entry 'alpaca_hub': hub dataset, not downloaded: someone/alpaca" in r.stderr


@pytest.mark.shared
def test_llamafactory_demo_files_from_shared(store, tmp_path):
    alpaca = SHARED / "alpaca_gpt4_en_demo" / "alpaca_en_demo.json"
    glaive = SHARED / "glaive_toolcall_en_demo" / "glaive_toolcall_en_demo.json"
    if not (alpaca.is_file() and glaive.is_file()):
        pytest.skip("../shared/datasets not present")
    info = {  # LLaMA-Factory's own entries for these files, pointing at ../shared
        "alpaca_en_demo": {"file_name": str(alpaca)},
        "glaive_toolcall_en_demo": {
            "file_name": str(glaive),
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "tools": "tools"},
        },
    }
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    rep = import_dataset_info(store, tmp_path / "dataset_info.json")
    # records, samples stored, records whose content repeats an earlier one (stored once)
    got = {r.pool: (r.format, r.n_records, r.n_inserted, r.n_duplicates, r.n_invalid) for r in rep}
    assert got == {
        "alpaca_en_demo": ("alpaca", 999, 985, 14, 0),
        "glaive_toolcall_en_demo": ("sharegpt", 300, 265, 35, 0),
    }
    assert rep.skipped == []
    n_tools, n_calls = store.fetchall(
        "SELECT count(*) FILTER (WHERE tools IS NOT NULL), count(*) FILTER (WHERE CAST(messages AS VARCHAR) LIKE"
        " '%tool_calls%') FROM samples WHERE pool_id = ?",
        [rep[1].pool_id],
    )[0]
    assert n_tools > 0 and n_calls > 0
