"""Import into a real DuckDB store: file kinds, canonical columns, bad input, quarantine, dedup, fast path."""

import csv
import gzip
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.core.jobs import Cancelled, CancelToken
from engine.core.store import Store
from engine.data import ingest
from engine.data.formats import content_hash
from engine.data.ingest import ImportFailed, import_dataset_info, import_file, sniff
from tests.helpers import write_json, write_jsonl

ALPACA = [
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
    {"instruction": "Say hi in French.", "output": "Bonjour", "note": "no input key"},
]


def rows(store, pool_id=None, cols="*"):
    where = f"WHERE pool_id = {int(pool_id)}" if pool_id is not None else ""
    return store.con.sql(f"SELECT {cols} FROM samples {where} ORDER BY id").fetchall()


def dicts(store, pool_id=None):
    rel = store.con.sql(f"SELECT * FROM samples {'WHERE pool_id = %d' % pool_id if pool_id else ''} ORDER BY id")
    names = rel.columns
    return [dict(zip(names, r)) for r in rel.fetchall()]


def counts(store):
    return tuple(store.con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("pools", "imports", "samples"))


# -- file kinds and canonical columns -------------------------------------------------------------
@pytest.mark.parametrize("kind", ["jsonl", "json", "jsonl.gz", "json.gz", "parquet", "csv"])
def test_every_file_kind_gives_the_same_samples(store, tmp_path, kind):
    p = tmp_path / f"data.{kind}"
    recs = [dict(r) for r in ALPACA[:2]]
    if kind.startswith("jsonl"):
        write_jsonl(p, recs, gz=kind.endswith(".gz"))
    elif kind.startswith("json"):
        write_json(p, recs, gz=kind.endswith(".gz"))
    elif kind == "parquet":
        pq.write_table(pa.Table.from_pylist(recs), p)
    else:
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["instruction", "input", "output"])
            w.writeheader()
            w.writerows(recs)
    det = sniff(p)
    assert det.format == "alpaca" and det.file_kind == kind.split(".")[0]
    r = import_file(store, p, pool="p")
    assert (r.n_records, r.n_inserted, r.n_duplicates, r.n_invalid) == (2, 2, 0, 0)
    got = rows(store, cols="instruction, response, record_index, source_line, source_file")
    assert [g[:2] for g in got] == [("Add the numbers.\n2 and 3", "5"), ("Name a colour.", "Blue.")]
    assert [g[2] for g in got] == [0, 1]
    assert got[0][4] == str(p.resolve())
    expected_lines = {"jsonl": [1, 2], "json": [2, 7], "parquet": [None, None], "csv": [2, 3]}[kind.split(".")[0]]
    assert [g[3] for g in got] == expected_lines


def test_canonical_columns(store, tmp_path):
    p = write_jsonl(tmp_path / "train.jsonl", ALPACA + [{"instruction": "Hi", "output": "Hello", "system": "Be kind."}])
    r = import_file(store, p, pool="alp", domain="general", description="demo")
    assert r.format == "alpaca" and r.n_inserted == 4 and r.quarantine_path is None
    s = dicts(store)
    assert [x["id"] for x in s] == [1, 2, 3, 4]
    first = s[0]
    assert json.loads(first["messages"]) == [
        {"role": "user", "content": "Add the numbers.\n2 and 3"},
        {"role": "assistant", "content": "5"},
    ]
    assert first["n_turns"] == 2 and first["domain"] == "general" and first["domain_source"] == "pool"
    assert first["n_chars"] == len("Add the numbers.\n2 and 3") + 1
    assert first["n_tokens"] == ingest.token_estimate("Add the numbers.\n2 and 3\n5") == 8
    assert json.loads(first["meta"]) == {"input_split": 16}  # len("Add the numbers.")
    assert first["import_id"] == r.import_id and first["excluded"] is False
    assert json.loads(s[2]["meta"]) == {"note": "no input key"}
    last = s[3]
    assert last["system"] == "Be kind."
    assert json.loads(last["messages"])[0] == {"role": "system", "content": "Be kind."}
    assert last["n_turns"] == 2 and last["n_chars"] == len("Be kind.") + 2 + 5
    # the content hash is md5 over a canonical serialisation of system, tools and messages
    for x in s:
        msgs = json.loads(x["messages"])
        canon = (x["system"] or "") + "\x1e\x1e" + "\x1d".join(m["role"] + "\x1f" + m["content"] for m in msgs)
        assert x["content_hash"] == hashlib.md5(canon.encode()).hexdigest()
        assert x["content_hash"] == content_hash(msgs, x["system"], None)
    pool = store.con.sql("SELECT id, name, domain, format, description FROM pools").fetchall()
    assert pool == [(r.pool_id, "alp", "general", "alpaca", "demo")]
    imp = store.con.sql(
        "SELECT pool_id, n_records, n_inserted, n_duplicates, n_invalid, finished_at IS NOT NULL FROM imports"
    ).fetchall()
    assert imp == [(r.pool_id, 4, 4, 0, 0, True)]


def test_ids_are_dense_and_continue_across_imports_and_pools(store, tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", ALPACA)
    b = write_jsonl(tmp_path / "b.jsonl", [{"prompt": f"p{i}", "completion": "c"} for i in range(5)])
    r1 = import_file(store, a, pool="one")
    r2 = import_file(store, b, pool="two", domain="math")
    assert [x[0] for x in rows(store, cols="id")] == list(range(1, 9))
    assert r2.import_id == r1.import_id + 1 and r2.pool_id == r1.pool_id + 1
    assert {x[0] for x in rows(store, r2.pool_id, "domain")} == {"math"}


def test_tools_and_tool_calls_stored(store, tmp_path):
    rec = {
        "conversations": [
            {"from": "human", "value": "weather?"},
            {"from": "function_call", "value": '{"name": "w", "arguments": {"c": "Paris"}}'},
            {"from": "observation", "value": "20C"},
            {"from": "gpt", "value": "20C"},
        ],
        "tools": '[{"name": "w", "description": "weather"}]',
    }
    p = write_json(tmp_path / "glaive.json", [rec])
    det = sniff(p)
    assert det.format == "sharegpt" and det.suggested_domain == "tool_use"
    import_file(store, p, pool="tools")
    ((msgs, tools, n_turns, instr, resp),) = rows(store, cols="messages, tools, n_turns, instruction, response")
    assert json.loads(tools) == [{"name": "w", "description": "weather"}]
    m = json.loads(msgs)
    assert m[1]["tool_calls"][0]["function"] == {"name": "w", "arguments": '{"c": "Paris"}'}
    assert m[2] == {"role": "tool", "content": "20C"}
    assert (n_turns, instr, resp) == (3, "weather?", "20C")


def test_headerless_csv_with_positional_mapping(store, tmp_path):
    p = tmp_path / "pairs.csv"
    p.write_text('"What is 2+2?",4\n"Capital of France?",Paris\n', encoding="utf-8")
    r = import_file(store, p, pool="csv", mapping={"header": False, "instruction": "0", "output": "1"})
    assert r.format == "mapping" and r.n_inserted == 2
    assert rows(store, cols="instruction, response, source_line") == [
        ("What is 2+2?", "4", 1),
        ("Capital of France?", "Paris", 2),
    ]


def test_mmlu_style_csv_is_detected_as_mcq(store, tmp_path):
    p = tmp_path / "anatomy_dev.csv"
    p.write_text('Which bone?,Hyoid,Femur,Tibia,Ulna,A\n"Multi\nline",a,b,c,d,D\n', encoding="utf-8")
    det = sniff(p)
    assert det.format == "mcq" and "without header" in det.reason
    import_file(store, p, pool="mmlu")
    assert rows(store, cols="response, source_line") == [("A", 1), ("D", 2)]


def test_column_mapping_for_any_keys(store, tmp_path):
    p = write_jsonl(tmp_path / "custom.jsonl", [{"q": "a?", "ctx": "c", "ans": "b", "src": "web"}])
    r = import_file(store, p, pool="m", mapping={"instruction": "q", "input": "ctx", "output": "ans"})
    assert r.format == "mapping"
    ((instr, resp, meta),) = rows(store, cols="instruction, response, meta")
    assert (instr, resp, json.loads(meta)) == ("a?\nc", "b", {"src": "web", "input_split": 2})


def test_format_override(store, tmp_path):
    p = write_jsonl(tmp_path / "x.jsonl", [{"instruction": "a", "output": "b"}])
    assert sniff(p, format="prompt_only").format == "prompt_only"
    import_file(store, p, pool="x", format="prompt_only")
    assert rows(store, cols="n_turns, response, meta") == [(1, "", '{"output":"b"}')]
    with pytest.raises(ValueError, match="unknown format"):
        import_file(store, p, pool="y", format="nope")


def test_json_array_detection_reads_only_the_head(store, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest.detection, "SNIFF_HEAD_BYTES", 300)
    recs = [{"instruction": f"é{i}" * 20, "output": "o"} for i in range(100)]
    p = write_json(tmp_path / "big.json", recs)
    d = sniff(p)
    assert d.format == "alpaca" and 0 < d.n_sampled < 10
    assert import_file(store, p, pool="big").n_inserted == 100


def test_json_lines_in_a_dot_json_file_with_a_long_first_line(store, tmp_path):
    p = write_jsonl(
        tmp_path / "bfcl_like.json", [{"prompt": "x" * 100_000, "completion": "a"}, {"prompt": "y", "completion": "b"}]
    )
    assert sniff(p).file_kind == "jsonl"
    assert import_file(store, p, pool="j").n_inserted == 2


def test_sniff_preview_and_reason(tmp_path):
    p = write_jsonl(tmp_path / "gsm.jsonl", [{"question": f"q{i}", "answer": f"r\n#### {i}"} for i in range(80)])
    d = sniff(p)
    assert d.format == "qa" and d.n_sampled == 50 and d.suggested_domain == "math"
    assert "50/50" in d.reason and len(d.preview) == 5
    assert d.preview[0].meta == {"final_answer": "0"}


def test_domain_user_choice_wins_and_existing_pool_appends(store, tmp_path):
    p = write_jsonl(tmp_path / "gsm.jsonl", [{"question": "q", "answer": "r #### 1"}])
    r = import_file(store, p, pool="g")
    assert store.con.sql("SELECT domain FROM pools").fetchall() == [("general",)]  # suggestion is not applied
    q = write_jsonl(tmp_path / "gsm2.jsonl", [{"question": "q2", "answer": "r #### 2"}])
    r2 = import_file(store, q, pool="g")
    assert r2.pool_id == r.pool_id and store.con.sql("SELECT count(*) FROM pools").fetchall() == [(1,)]
    import_file(store, p, pool="m", domain="math")
    assert store.con.sql("SELECT domain FROM pools WHERE name = 'm'").fetchall() == [("math",)]


def test_folder_import_sorted_with_source_file_per_file(store, tmp_path):
    d = tmp_path / "folder"
    (d / "sub").mkdir(parents=True)
    write_jsonl(d / "b.jsonl", [{"prompt": "b0", "completion": "x"}, {"prompt": "b1", "completion": "x"}])
    write_jsonl(d / "a.jsonl.gz", [{"prompt": "a0", "completion": "x"}], gz=True)
    write_jsonl(d / "sub" / "c.jsonl", [{"prompt": "c0", "completion": "x"}])
    (d / "README.md").write_text("not data")
    r = import_file(store, d, pool="f")
    assert r.n_records == 4 and len(r.files) == 3
    got = rows(store, cols="instruction, source_file, record_index, source_line")
    assert [(g[0], Path(g[1]).name, g[2], g[3]) for g in got] == [
        ("a0", "a.jsonl.gz", 0, 1),
        ("b0", "b.jsonl", 0, 1),
        ("b1", "b.jsonl", 1, 2),
        ("c0", "c.jsonl", 0, 1),
    ]


def test_progress_reports_records(store, tmp_path):
    p = write_jsonl(tmp_path / "p.jsonl", [{"prompt": str(i), "completion": "c"} for i in range(120)])
    seen = []
    import_file(store, p, pool="p", progress=seen.append)
    assert seen and seen[-1].done == 120 and seen[-1].unit == "records"


# -- bad input ---------------------------------------------------------------------------------------
def _fail(store, path, **kw) -> ImportFailed:
    before = counts(store)
    with pytest.raises(ImportFailed) as e:
        import_file(store, path, pool="bad", **kw)
    assert counts(store) == before  # nothing written, no pool row either
    assert not (store.files_dir / "quarantine").exists()
    return e.value


def test_wrong_type_names_file_line_record_field(store, tmp_path):
    recs = [{"instruction": f"i{i}", "input": "", "output": "o"} for i in range(20)]
    recs[16]["output"] = ["not", "a", "string"]
    e = _fail(store, write_jsonl(tmp_path / "train.jsonl", recs))
    assert str(e.issues[0]) == "train.jsonl:17 (record 16) field 'output': expected a string, got list"
    assert "train.jsonl:17 (record 16) field 'output'" in str(e)
    assert len(e.issues) == 1


def test_all_issues_are_listed(store, tmp_path):
    recs = [{"instruction": f"i{i}", "output": "o"} for i in range(10)]
    recs[2]["instruction"] = 5
    del recs[5]["output"]
    recs[7] = ["not", "an", "object"]
    e = _fail(store, write_jsonl(tmp_path / "t.jsonl", recs))
    assert [str(i) for i in e.issues] == [
        "t.jsonl:3 (record 2) field 'instruction': expected a string, got integer",
        "t.jsonl:6 (record 5) field 'output': missing (record has keys: instruction)",
        "t.jsonl:8 (record 7): expected a JSON object, got list",
    ]
    assert "3 invalid records of 10" in str(e)


def test_truncated_jsonl_line(store, tmp_path):
    p = tmp_path / "cut.jsonl"
    p.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "c", "comp', encoding="utf-8")
    e = _fail(store, p)
    assert str(e.issues[0]).startswith("cut.jsonl:2 (record 1): invalid JSON: Unterminated string")


def test_truncated_json_array(store, tmp_path):
    p = tmp_path / "cut.json"
    text = json.dumps(ALPACA, indent=2)
    p.write_text(text[: len(text) - 30], encoding="utf-8")
    e = _fail(store, p)
    iss = e.issues[0]
    assert iss.record_index == 2 and iss.line == 12
    assert str(iss).startswith("cut.json:12 (record 2): truncated JSON")


def test_json_array_missing_field_names_record_start_line(store, tmp_path):
    recs = [dict(r) for r in ALPACA]
    del recs[1]["output"]
    e = _fail(store, write_json(tmp_path / "arr.json", recs))
    assert str(e.issues[0]).startswith("arr.json:7 (record 1) field 'output': missing")


def test_bad_utf8_in_jsonl_names_line_and_byte_offset(store, tmp_path):
    p = tmp_path / "enc.jsonl"
    good = b'{"prompt": "a", "completion": "b"}\n'
    p.write_bytes(good + b'{"prompt": "caf\xe9", "completion": "b"}\n' + good)
    e = _fail(store, p)
    assert str(e.issues[0]) == (f"enc.jsonl:2 (record 1): invalid UTF-8: byte 0xe9 at byte offset {len(good) + 15}")


def test_bad_utf8_in_json_array_and_csv(store, tmp_path):
    p = tmp_path / "enc.json"
    data = b'[\n{"prompt": "a", "completion": "b"},\n{"prompt": "\xff", "completion": "b"}\n]'
    p.write_bytes(data)
    e = _fail(store, p)
    assert e.issues[0].record_index == 1 and e.issues[0].line == 3
    off = data.index(b"\xff")
    assert f"invalid UTF-8 at byte offset {off} (line 3)" in str(e.issues[0])
    c = tmp_path / "enc.csv"
    c.write_bytes(b"prompt,completion\na,b\n\xfe,b\n")
    e = _fail(store, c)
    assert str(e.issues[0]).startswith("enc.csv:3 (record 1): invalid UTF-8: byte 0xfe")


@pytest.mark.parametrize(
    "name,content",
    [
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n  \n"),
        ("empty.json", b""),
        ("ws.json", b"  \n"),
        ("empty.csv", b""),
        ("noarr.json", b"[]"),
    ],
)
def test_empty_files_give_a_clear_error(store, tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    e = _fail(store, p)
    assert "empty" in str(e) or "no records" in str(e)
    assert e.issues[0].file == str(p.resolve())


def test_empty_file_fails_even_with_skip_invalid(store, tmp_path):
    p = tmp_path / "empty.jsonl"
    p.write_bytes(b"")
    with pytest.raises(ImportFailed, match="empty"):
        import_file(store, p, pool="e", skip_invalid=True)


def test_json_object_of_lists_is_rejected_clearly(store, tmp_path):
    p = tmp_path / "splits.json"
    p.write_text(json.dumps({"train": ALPACA, "test": ALPACA}, indent=2))
    e = _fail(store, p)
    assert "JSON object whose values are lists (keys: train, test)" in str(e)
    q = tmp_path / "oneline.json"
    q.write_text(json.dumps({"train": ALPACA}))
    e = _fail(store, q)
    assert "values are lists" in str(e)


def test_parquet_missing_columns(store, tmp_path):
    p = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist([{"instruction": "a", "input": "b", "output": "c"}]), p)
    e = _fail(store, p, mapping={"instruction": "instruction", "output": "answer"})
    assert str(e.issues[0]) == "m.parquet field 'answer': column missing (file has: instruction, input, output)"
    pq.write_table(pa.Table.from_pylist([{"prompt": "a"}]), p)
    e = _fail(store, p, format="prompt_completion")
    assert "field 'completion': column missing" in str(e)


def test_csv_row_with_wrong_field_count(store, tmp_path):
    p = tmp_path / "rows.csv"
    p.write_text("prompt,completion\na,b\nc,d,e\n")
    e = _fail(store, p)
    assert str(e.issues[0]) == "rows.csv:3 (record 1): expected 2 fields, got 3"


def test_undetectable_format(store, tmp_path):
    e = _fail(store, write_jsonl(tmp_path / "x.jsonl", [{"foo": 1}]))
    assert "cannot detect the format" in str(e) and "foo" in str(e)


def test_failed_import_leaves_existing_pool_untouched(store, tmp_path):
    good = write_jsonl(tmp_path / "good.jsonl", ALPACA)
    import_file(store, good, pool="bad")
    before = rows(store)
    recs = [{"instruction": "new", "output": "x"}, {"instruction": "new2", "output": 3}]
    with pytest.raises(ImportFailed):
        import_file(store, write_jsonl(tmp_path / "b.jsonl", recs), pool="bad")
    assert rows(store) == before
    assert counts(store) == (1, 1, 3)


# -- quarantine ----------------------------------------------------------------------------------
def test_skip_invalid_quarantines_and_imports_the_rest(store, tmp_path):
    p = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({"instruction": "ok1", "output": "a"}),
        '{"instruction": "broken',
        json.dumps({"instruction": "ok2", "output": ["x"]}),
        json.dumps({"instruction": "ok3", "output": "c"}),
    ]
    p.write_text("\n".join(lines) + "\n")
    r = import_file(store, p, pool="q", skip_invalid=True)
    assert (r.n_records, r.n_inserted, r.n_invalid, r.n_duplicates) == (4, 2, 2, 0)
    qp = Path(r.quarantine_path)
    assert qp.parent == store.files_dir / "quarantine" and qp.exists()  # the store's own folder
    q = [json.loads(x) for x in qp.read_text().splitlines()]
    assert [(x["line"], x["record_index"], x["field"]) for x in q] == [(2, 1, None), (3, 2, "output")]
    assert q[0]["raw"] == '{"instruction": "broken'
    assert q[1]["raw"] == {"instruction": "ok2", "output": ["x"]}
    assert q[1]["error"] == "mixed.jsonl:3 (record 2) field 'output': expected a string, got list"
    assert [x[0] for x in rows(store, cols="record_index")] == [0, 3]
    rep = json.loads(store.con.sql("SELECT report FROM imports").fetchall()[0][0])
    assert rep["quarantine_path"] == r.quarantine_path and rep["n_issues"] == 2
    assert store.con.sql("SELECT n_invalid FROM imports").fetchall() == [(2,)]


def test_quarantine_for_memory_store_goes_to_tmp(tmp_path):
    s = Store(":memory:")
    p = write_jsonl(tmp_path / "m.jsonl", [{"prompt": "a", "completion": "b"}, {"prompt": 1, "completion": "b"}])
    r = import_file(s, p, pool="m", skip_invalid=True)
    assert r.n_inserted == 1 and Path(r.quarantine_path).exists()
    Path(r.quarantine_path).unlink()
    s.close()


def test_truncated_array_with_skip_invalid_keeps_records_before_the_cut(store, tmp_path):
    p = tmp_path / "cut.json"
    text = json.dumps(ALPACA, indent=2)
    p.write_text(text[: len(text) - 30])
    r = import_file(store, p, pool="c", skip_invalid=True)
    assert (r.n_inserted, r.n_invalid) == (2, 1)


# -- duplicates ----------------------------------------------------------------------------------
def test_duplicates_within_file_and_against_the_pool(store, tmp_path):
    recs = ALPACA + [dict(ALPACA[0]), dict(ALPACA[1])]
    r = import_file(store, write_jsonl(tmp_path / "d.jsonl", recs), pool="d")
    assert (r.n_records, r.n_inserted, r.n_duplicates) == (5, 3, 2)
    assert [x[0] for x in rows(store, cols="record_index")] == [0, 1, 2]  # first occurrence kept
    # same content with different JSON spacing / key order / escapes is still a duplicate
    again = tmp_path / "again.json"
    again.write_text(
        '[{"output": "5", "input": "2 and 3", "instruction": "Add the numbers."},'
        ' {"instruction": "New one", "output": "x"}]'
    )
    r2 = import_file(store, again, pool="d")
    assert (r2.n_records, r2.n_inserted, r2.n_duplicates) == (2, 1, 1)
    assert store.con.sql("SELECT n_duplicates FROM imports ORDER BY id").fetchall() == [(2,), (1,)]
    # another pool may hold the same sample
    r3 = import_file(store, again, pool="other")
    assert r3.n_inserted == 2


# -- cancel ----------------------------------------------------------------------------------------
def test_cancel_rolls_back(store, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest.staging, "CHUNK_ROWS", 10)
    p = write_jsonl(tmp_path / "c.jsonl", [{"prompt": str(i), "completion": "c"} for i in range(100)])
    tok = CancelToken()

    def on_progress(pr):
        if pr.done >= 20:
            tok.cancel()

    with pytest.raises(Cancelled):
        import_file(store, p, pool="c", progress=on_progress, cancel=tok)
    assert counts(store) == (0, 0, 0)
    tok2 = CancelToken()
    tok2.cancel()
    with pytest.raises(Cancelled):
        import_file(store, p, pool="c", cancel=tok2)
    assert counts(store) == (0, 0, 0)


# -- DuckDB fast path vs Python path --------------------------------------------------------------
def _mixed_flat_records(n):
    out = []
    for i in range(n):
        r = {"instruction": f'Task {i % 997} «é» "q" \\ \t\u2028 日本 e\u0301 👍🏽', "output": f"Answer {i}\nline2"}
        if i % 4 == 0:
            r["instruction"] += "\nsecond line\n"
        if i % 3 == 0:
            r["input"] = f"input {i}" + ("\n🙂" if i % 2 else "")
        elif i % 3 == 1:
            r["input"] = ""
        elif i % 6 == 5:
            r["input"] = None
        if i % 17 == 0:
            r["input_split"] = "an original field"
        if i % 5 == 0:
            r["system"] = "You are helpful." if i % 10 else ""
        if i % 7 == 0:
            r["extra"] = {"k": [1, 2.5, None, True], "s": "x"}
            r["id"] = i
        if i % 11 == 0:
            r["history"] = []
        if i % 13 == 0:
            r["output"] = None
        out.append(r)
    return out + [dict(r) for r in out[: n // 20]]  # some exact duplicates


@pytest.mark.parametrize("gz", [False, True])
def test_fast_path_and_python_path_give_identical_rows(tmp_path, monkeypatch, gz):
    recs = _mixed_flat_records(3000)
    p = write_jsonl(tmp_path / ("flat.jsonl.gz" if gz else "flat.jsonl"), recs, gz=gz)
    monkeypatch.setattr(ingest.fastpath, "FAST_PATH_MIN_BYTES", 0)
    results = {}
    for fast in (True, False):
        monkeypatch.setattr(ingest.fastpath, "FAST_PATH", fast)
        s = Store(tmp_path / f"{fast}.duckdb")
        r = import_file(s, p, pool="flat")
        assert r.fast_path is fast
        results[fast] = (
            r.n_records,
            r.n_inserted,
            r.n_duplicates,
            s.con.sql("SELECT * EXCLUDE (import_id) FROM samples ORDER BY id").fetchall(),
        )
        _check_input_split(s, recs, "instruction", "input")
        s.close()
    assert results[True] == results[False]
    assert results[True][0] == 3150 and results[True][2] >= 150


def _check_input_split(store, recs, ik, nk):
    """meta.input_split recovers the record's instruction and input exactly; absent without an input."""
    n_split = 0
    for ri, msgs, meta in store.con.execute("SELECT record_index, messages, meta FROM samples").fetchall():
        rec, meta = recs[ri], json.loads(meta) if meta else {}
        user = next(m["content"] for m in json.loads(msgs) if m["role"] == "user")
        if rec.get(nk):
            n = meta["input_split"]
            assert (user[:n], user[n + 1 :]) == (rec[ik], rec[nk]) and user[n] == "\n"
            assert list(meta)[-1] == "input_split"
            n_split += 1
        else:
            assert meta.get("input_split") == rec.get("input_split")  # absent, or the record's own field
    assert n_split > 0


@pytest.mark.parametrize("fmt", ["dolly", "mapping"])
def test_fast_path_and_python_path_store_the_same_input_split(tmp_path, monkeypatch, fmt):
    ik, nk, ok = ("instruction", "context", "response") if fmt == "dolly" else ("q", "ctx", "a")
    recs = [
        {
            ik: f"Do {i} é" + ("\nthen more\n" if i % 4 == 0 else ""),
            nk: ("ctx 🙂\n" + str(i)) if i % 3 else "",
            ok: f"done {i}",
            **({"category": "c"} if i % 5 == 0 else {}),
        }
        for i in range(500)
    ]
    p = write_jsonl(tmp_path / f"{fmt}.jsonl", recs)
    mapping = {"prompt": "q", "query": "ctx", "response": "a"} if fmt == "mapping" else None
    monkeypatch.setattr(ingest.fastpath, "FAST_PATH_MIN_BYTES", 0)
    results = {}
    for fast in (True, False):
        monkeypatch.setattr(ingest.fastpath, "FAST_PATH", fast)
        s = Store(tmp_path / f"{fmt}{fast}.duckdb")
        r = import_file(s, p, pool="x", mapping=mapping)
        assert r.fast_path is fast and r.format == fmt
        results[fast] = s.con.sql("SELECT * EXCLUDE (import_id) FROM samples ORDER BY id").fetchall()
        _check_input_split(s, recs, ik, nk)
        s.close()
    assert results[True] == results[False]


def test_fast_path_falls_back_and_reports_like_the_python_path(store, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest.fastpath, "FAST_PATH_MIN_BYTES", 0)
    recs = _mixed_flat_records(50)
    recs[30]["output"] = {"not": "text"}
    p = tmp_path / "bad.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in recs]
    lines.insert(10, "")  # a blank line: line numbers no longer equal record numbers
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportFailed) as e:
        import_file(store, p, pool="b")
    assert str(e.value.issues[0]) == "bad.jsonl:32 (record 30) field 'output': expected a string, got object"
    del recs[30]["output"]
    recs[30]["output"] = "fine"
    lines = [json.dumps(r, ensure_ascii=False) for r in recs]
    lines.insert(10, "")
    p.write_text("\n".join(lines) + "\n")
    r = import_file(store, p, pool="b")
    assert not r.fast_path and (r.n_records, r.n_duplicates) == (52, 2)
    assert rows(store, cols="source_line")[-1] == (51,)


# -- LLaMA-Factory dataset_info.json --------------------------------------------------------------
def test_dataset_info_import(store, tmp_path):
    d = tmp_path / "lf"
    d.mkdir()
    write_json(d / "alpaca_demo.json", [{"q": "hi", "extra": "", "a": "hello", "sys": "s", "hist": [["h1", "r1"]]}])
    write_jsonl(
        d / "chat.jsonl",
        [
            {
                "msgs": [
                    {"role": "user", "content": "u"},
                    {"role": "assistant", "content": "a"},
                    {"role": "function_call", "content": '{"name": "f", "arguments": {}}'},
                    {"role": "observation", "content": "obs"},
                ],
                "fns": '[{"name": "f"}]',
            }
        ],
    )
    write_json(d / "glaive.json", [{"conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]}])
    info = {
        "alpaca_demo": {
            "file_name": "alpaca_demo.json",
            "columns": {"prompt": "q", "query": "extra", "response": "a", "system": "sys", "history": "hist"},
        },
        "chat": {
            "file_name": "chat.jsonl",
            "formatting": "sharegpt",
            "columns": {"messages": "msgs", "tools": "fns"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
                "function_tag": "function_call",
                "observation_tag": "observation",
            },
        },
        "glaive": {"file_name": "glaive.json", "formatting": "sharegpt"},
        "hub_only": {"hf_hub_url": "someone/data"},
    }
    (d / "dataset_info.json").write_text(json.dumps(info))
    res = import_dataset_info(store, d / "dataset_info.json", domain="general")
    assert [r.pool for r in res] == ["alpaca_demo", "chat", "glaive"]
    assert [r.format for r in res] == ["alpaca", "sharegpt", "sharegpt"]
    pools = dict(store.con.sql("SELECT name, id FROM pools").fetchall())
    ((m, system),) = rows(store, pools["alpaca_demo"], "messages, system")
    assert system == "s" and [x["role"] for x in json.loads(m)] == ["system", "user", "assistant", "user", "assistant"]
    ((m, tools),) = rows(store, pools["chat"], "messages, tools")
    assert [x["role"] for x in json.loads(m)] == ["user", "assistant", "assistant", "tool"]
    assert json.loads(tools) == [{"name": "f"}]
    # names= picks entries; a missing or hub-only entry is an error and nothing is imported
    before = counts(store)
    with pytest.raises(ImportFailed, match="entry 'hub_only': hub dataset, not downloaded: someone/data"):
        import_dataset_info(store, d / "dataset_info.json", names=["glaive", "hub_only"])
    assert counts(store) == before


def test_dataset_info_named_entries_are_all_or_nothing(store, tmp_path):
    write_jsonl(tmp_path / "ok.jsonl", [{"instruction": "a", "output": "b"}])
    write_jsonl(tmp_path / "bad.jsonl", [{"instruction": "a", "output": 1}])
    info = {"ok": {"file_name": "ok.jsonl"}, "bad": {"file_name": "bad.jsonl"}}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    with pytest.raises(ImportFailed, match=r"entry 'bad': .*bad.jsonl:1 \(record 0\) field 'output'"):
        import_dataset_info(store, tmp_path / "dataset_info.json", names=["ok", "bad"])
    assert counts(store) == (0, 0, 0)
    res = import_dataset_info(store, tmp_path / "dataset_info.json", names=["ok"])
    assert [r.n_inserted for r in res] == [1]


def test_lone_surrogate_escape_is_reported(store, tmp_path):
    p = tmp_path / "sur.jsonl"
    p.write_text('{"prompt": "ok", "completion": "a"}\n{"prompt": "bad \\ud800", "completion": "a"}\n')
    e = _fail(store, p)
    assert str(e.issues[0]) == (
        "sur.jsonl:2 (record 1) field 'user turn': text contains an unpaired surrogate (an invalid \\u escape "
        "such as \\ud800)"
    )
    r = import_file(store, p, pool="s", skip_invalid=True)
    assert (r.n_inserted, r.n_invalid) == (1, 1)


def test_folder_with_a_bad_file_and_skip_invalid(store, tmp_path):
    d = tmp_path / "mixed"
    d.mkdir()
    write_jsonl(d / "a.jsonl", [{"prompt": "a", "completion": "b"}])
    (d / "b.jsonl").write_bytes(b"")
    with pytest.raises(ImportFailed, match="b.jsonl: file is empty"):
        import_file(store, d, pool="m")
    r = import_file(store, d, pool="m", skip_invalid=True)
    assert (r.n_records, r.n_inserted) == (1, 1)
    rep = json.loads(store.con.sql("SELECT report FROM imports").fetchall()[0][0])
    assert rep["issues"][0]["error"] == "b.jsonl: file is empty (no records)"


def test_tsv_dolly_and_parquet_messages(store, tmp_path):
    t = tmp_path / "d.tsv"
    t.write_text("instruction\tcontext\tresponse\tcategory\nSum up\tlong text\tshort\tsummarization\n")
    r = import_file(store, t, pool="dolly")
    assert r.format == "dolly"
    assert rows(store, r.pool_id, "instruction, response, meta") == [
        ("Sum up\nlong text", "short", '{"category":"summarization","input_split":6}')
    ]
    p = tmp_path / "m.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [
                {
                    "messages": [
                        {"role": "user", "content": "hi", "name": None},
                        {"role": "assistant", "content": "yo", "name": None},
                    ]
                },
                {
                    "messages": [
                        {"role": "system", "content": "s", "name": None},
                        {"role": "user", "content": "q", "name": "bob"},
                    ]
                },
            ]
        ),
        p,
    )
    r = import_file(store, p, pool="msgs")
    assert r.format == "messages"
    got = rows(store, r.pool_id, "messages, system, n_turns, response")
    assert json.loads(got[0][0]) == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    assert json.loads(got[1][0])[1] == {"role": "user", "content": "q", "name": "bob"}
    assert got[1][1:] == ("s", 1, "")


def test_import_from_a_worker_thread(store, tmp_path):
    import threading

    p = write_jsonl(tmp_path / "t.jsonl", ALPACA)
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("r", import_file(store, p, pool="thread")))
    th.start()
    th.join()
    assert out["r"].n_inserted == 3 and counts(store) == (1, 1, 3)


# -- issue 15: hostile input never ends in a traceback; what fails names file and line ---------------
def _strict_json(text):
    """json.loads that refuses NaN and Infinity (not JSON) and keeps integers of any length as text."""

    def refuse(c):
        raise ValueError(f"not JSON: {c}")

    return json.loads(text, parse_constant=refuse, parse_int=str)


@pytest.mark.parametrize("skip", [False, True])
def test_corrupt_and_truncated_gzip_are_named_not_raised(store, tmp_path, skip):
    data = gzip.compress(("".join(json.dumps(r) + "\n" for r in ALPACA * 200)).encode(), mtime=0)
    bad = bytearray(data)
    bad[len(bad) // 3] ^= 0x5A  # zlib.error: invalid data in the middle of the stream
    for name, body in (
        ("flip.jsonl.gz", bytes(bad)),
        ("cut.jsonl.gz", data[: len(data) // 2]),
        ("x.json.gz", bytes(bad)),
    ):
        p = tmp_path / name
        p.write_bytes(body)
        try:
            r = import_file(store, p, pool=f"g{skip}", skip_invalid=skip)
        except ImportFailed as e:
            assert name in str(e) and ("gzip" in str(e) or "invalid" in str(e)), e
        else:  # only with --skip-invalid: what was read before the damage, and the damage as an invalid record
            assert skip and r.n_invalid >= 1 and r.n_inserted >= 1


def test_deep_nesting_is_an_invalid_record_with_its_line(store, tmp_path):
    deep = "[" * 6000 + "]" * 6000
    ok = json.dumps(ALPACA[0])
    p = tmp_path / "deep.jsonl"
    p.write_text(f'{ok}\n{{"instruction": "q", "output": "a", "x": {deep}}}\n{json.dumps(ALPACA[1])}\n')
    e = _fail(store, p)
    assert str(e.issues[0]).startswith("deep.jsonl:2 (record 1): nested too deeply")
    r = import_file(store, p, pool="d", skip_invalid=True)  # quarantined, the rest imported
    assert (r.n_records, r.n_inserted, r.n_invalid) == (3, 2, 1)
    (q,) = [json.loads(x) for x in Path(r.quarantine_path).read_text().splitlines()]
    assert q["line"] == 2 and "nested too deeply" in q["message"]
    # in a JSON array the deep record is skipped over and the records after it are read
    a = tmp_path / "deep.json"
    a.write_text(f'[{ok},\n{{"x": {deep}}},\n{json.dumps(ALPACA[2])}]')
    r = import_file(store, a, pool="a", skip_invalid=True)
    assert (r.n_records, r.n_inserted, r.n_invalid) == (3, 2, 1)
    # alone in the file: the format cannot be detected, and the message says why and where
    one = tmp_path / "one.jsonl"
    one.write_text(f'{{"instruction": "q", "output": "a", "x": {deep}}}\n')
    with pytest.raises(ImportFailed) as e:
        import_file(store, one, pool="o", skip_invalid=True)
    assert str(e.value.issues[0]).startswith("one.jsonl:1: no valid record to detect the format from: nested too deep")


def test_a_5000_digit_integer_is_kept_as_it_is(store, tmp_path):
    big = "9" * 5000
    p = tmp_path / "big.jsonl"
    p.write_text(f'{{"instruction": "q", "output": "a", "n": {big}, "m": [-{big}, 1]}}\n')
    r = import_file(store, p, pool="b")
    assert r.n_inserted == 1
    meta = _strict_json(rows(store, r.pool_id, "meta")[0][0])
    assert meta == {"n": big, "m": ["-" + big, "1"]}  # the digits, as they were
    q = tmp_path / "big.json"
    q.write_text(f'[{{"instruction": "q2", "output": "a", "n": {big}}}, {json.dumps(ALPACA[0])}]')
    assert import_file(store, q, pool="b").n_inserted == 2
    f = tmp_path / "field.jsonl"
    f.write_text(f'{json.dumps(ALPACA[0])}\n{{"instruction": {big}, "output": "a"}}\n')
    e = _fail(store, f)
    assert str(e.issues[0]) == "field.jsonl:2 (record 1) field 'instruction': expected a string, got integer"


def test_nan_and_infinity_are_stored_as_null(store, tmp_path):
    p = tmp_path / "nan.jsonl"
    p.write_text('{"instruction": "q", "output": "a", "x": NaN, "y": [Infinity, -Infinity, 1e400, 1.5]}\n')
    r = import_file(store, p, pool="n")
    assert _strict_json(rows(store, r.pool_id, "meta")[0][0]) == {"x": None, "y": [None, None, None, 1.5]}
    t = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"instruction": ["q2"], "output": ["a"], "score": [float("nan")]}), t)
    r = import_file(store, t, pool="n")
    assert _strict_json(rows(store, r.pool_id, "meta")[-1][0]) == {"score": None}


@pytest.mark.parametrize("fmt", ["bigint", "nan"])
def test_fast_path_and_python_path_agree_on_big_and_non_finite_numbers(tmp_path, monkeypatch, fmt):
    value = "9" * 5000 if fmt == "bigint" else "NaN"
    p = tmp_path / "n.jsonl"
    p.write_text("".join(f'{{"instruction": "q{i}", "output": "a", "v": {value}, "i": {i}}}\n' for i in range(50)))
    got = {}
    for fast in (0, 1 << 40):
        monkeypatch.setattr(ingest.fastpath, "FAST_PATH_MIN_BYTES", fast)
        s = Store(tmp_path / f"{fast}.duckdb")
        r = import_file(s, p, pool="p")
        got[fast] = (r.fast_path, rows(s, cols="instruction, meta, content_hash"))
        s.close()
    assert got[1 << 40][0] is False
    assert got[0][1] == got[1 << 40][1]
    for _, meta, _ in got[0][1]:
        _strict_json(meta)


def test_unreadable_first_records_name_the_line(store, tmp_path):
    p = tmp_path / "garbage.jsonl"
    p.write_text("\n\nnot json\n{broken\n")
    e = _fail(store, p)
    assert str(e.issues[0]) == (
        "garbage.jsonl:3: no valid record to detect the format from "
        "(2 unreadable records; the first: invalid JSON: Expecting value (column 1))"
    )
    q = tmp_path / "cut.json"
    q.write_text('[{"instruction": "a", "out')
    e = _fail(store, q)
    assert str(e.issues[0]).startswith("cut.json:1: no valid record to detect the format from: truncated JSON")


def test_skip_invalid_with_no_valid_record_fails_and_makes_no_pool(store, tmp_path):
    p = write_jsonl(tmp_path / "allbad.jsonl", [{"instruction": 1, "output": "a"}, {"instruction": [], "output": "b"}])
    e = _fail(store, p, skip_invalid=True)  # _fail: nothing written, no quarantine report left behind
    assert str(e).startswith("no valid record: all 2 invalid")
    assert "allbad.jsonl:1 (record 0) field 'instruction'" in str(e)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.jsonl").write_text("nope\n")
    (folder / "b.csv").write_text("")
    e = _fail(store, folder, skip_invalid=True)
    assert [i.name for i in e.issues] == ["a.jsonl", "b.csv"]


def test_link_loops_and_dangling_links_say_so(store, tmp_path):
    from engine.core.errors import InputError

    (tmp_path / "a.jsonl").symlink_to("b.jsonl")
    (tmp_path / "b.jsonl").symlink_to("a.jsonl")
    (tmp_path / "gone.jsonl").symlink_to("nowhere.jsonl")
    with pytest.raises(InputError, match="a.jsonl: a symbolic link loop"):
        import_file(store, tmp_path / "a.jsonl", pool="l")
    with pytest.raises(InputError, match="gone.jsonl: a link to nowhere.jsonl, which does not exist"):
        import_file(store, tmp_path / "gone.jsonl", pool="l")
    with pytest.raises(FileNotFoundError):
        import_file(store, tmp_path / "missing.jsonl", pool="l")
    # inside a folder: a file problem of its own, named by its path in the folder
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    write_jsonl(folder / "ok.jsonl", ALPACA)
    (folder / "sub" / "loop.jsonl").symlink_to("loop.jsonl")
    e = _fail(store, folder)
    assert str(e.issues[0]) == "sub/loop.jsonl: a symbolic link loop (the link leads back to itself)"
    r = import_file(store, folder, pool="l", skip_invalid=True)
    assert r.n_inserted == 3 and counts(store) == (1, 1, 3)


def test_folder_import_names_files_by_their_path_in_the_folder(store, tmp_path):
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    write_jsonl(folder / "a.jsonl", ALPACA[:1])
    write_jsonl(folder / "sub" / "c.jsonl", ALPACA[1:] + [{"instruction": 3, "output": "x"}])
    e = _fail(store, folder)
    assert str(e.issues[0]) == "sub/c.jsonl:3 (record 2) field 'instruction': expected a string, got integer"
    assert e.issues[0].file == str((folder / "sub" / "c.jsonl").resolve())  # the report keeps the whole path


def test_utf16_files_are_refused_as_a_whole(store, tmp_path):
    text = "".join(json.dumps(r) + "\n" for r in ALPACA)
    for name, enc in (("bom.jsonl", "utf-16"), ("le.jsonl", "utf-16-le"), ("be.csv", "utf-16-be")):
        p = tmp_path / name
        p.write_bytes(text.encode(enc))
        e = _fail(store, p, skip_invalid=True)
        assert "UTF-16" in str(e) and "reads UTF-8" in str(e) and len(e.issues) == 1


def test_data_after_a_json_array_is_not_dropped_quietly(store, tmp_path):
    p = tmp_path / "two.json"
    p.write_text(json.dumps(ALPACA[:1]) + "\n" + json.dumps(ALPACA[1:]))
    e = _fail(store, p)
    assert str(e.issues[0]) == "two.json:2 (record 1): invalid JSON: more data after the array closes"


def test_source_name_is_what_the_store_and_messages_call_the_file(store, tmp_path):
    p = write_jsonl(tmp_path / "spool.jsonl", ALPACA + [{"instruction": "bad", "output": 1}])
    e = _fail(store, p, source_name="<stdin>")
    assert str(e.issues[0]).startswith("<stdin>:4 (record 3)") and e.issues[0].file == "<stdin>"
    r = import_file(store, p, pool="s", skip_invalid=True, source_name="<stdin>")
    assert r.files == ["<stdin>"]
    assert set(rows(store, r.pool_id, "source_file")) == {("<stdin>",)}
    assert store.con.sql("SELECT source FROM pools").fetchall() == [("<stdin>",)]
    assert store.con.sql("SELECT path FROM imports").fetchall() == [("<stdin>",)]
    (q,) = [json.loads(x) for x in Path(r.quarantine_path).read_text().splitlines()]
    assert q["file"] == "<stdin>" and q["error"].startswith("<stdin>:4")


def test_a_quarantine_that_cannot_be_written_is_a_store_error(store, tmp_path):
    from engine.core.errors import EXIT_STORE, StoreError

    good = write_jsonl(tmp_path / "good.jsonl", ALPACA)
    import_file(store, good, pool="keep")
    store.files_dir.mkdir(parents=True, exist_ok=True)
    (store.files_dir / "quarantine").write_text("a file where the quarantine folder goes")
    before = rows(store)
    p = write_jsonl(
        tmp_path / "mixed.jsonl", [{"instruction": "new", "output": "x"}, {"instruction": 1, "output": "y"}]
    )
    with pytest.raises(StoreError) as e:
        import_file(store, p, pool="keep", skip_invalid=True)
    assert e.value.exit_code == EXIT_STORE
    assert "import into keep failed, nothing imported" in str(e.value) and "quarantine" in str(e.value)
    assert rows(store) == before and counts(store) == (1, 1, 3)


# -- the store's disk: full, and the space a failed or killed import takes --------------------------
def _limited(limit: int):
    """preexec_fn: files this process writes stop at `limit` bytes (EFBIG, as a full disk stops them)."""
    import resource
    import signal

    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


def _store_rows(db: Path) -> tuple:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return (
            con.execute("SELECT list(name ORDER BY id) FROM pools").fetchall()[0][0],
            con.execute("SELECT count(*) FROM samples").fetchall()[0][0],
            con.execute("SELECT count(*) FROM imports").fetchall()[0][0],
        )
    finally:
        con.close()


@pytest.mark.parametrize("n, room", [(5_000, 64 << 10), pytest.param(200_000, 6 << 20, marks=pytest.mark.slow)])
def test_a_full_disk_is_a_store_error_naming_the_cause(tmp_path, n, room):
    """A real write limit on the `workbench import` process: with a few rows the WAL write of COMMIT fails (whose
    ROLLBACK used to hide it), with many the INSERT's own writes to the store file do. Exit 3, the cause, no
    traceback, the store as it was."""
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT, wb

    db = tmp_path / "wb.duckdb"
    wb(db, "import", str(write_jsonl(tmp_path / "small.jsonl", ALPACA)), "-q")
    big = write_jsonl(tmp_path / "big.jsonl", [{"instruction": f"Q{i} " * 3, "output": f"A{i} " * 3} for i in range(n)])
    r = subprocess.run(
        [sys.executable, "-m", "workbench", "--db", str(db), "-q", "import", str(big)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "cfg")),
        preexec_fn=_limited(db.stat().st_size + room),
        timeout=120,
    )
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("workbench: import into big failed, nothing imported") and "File too large" in r.stderr
    assert "Traceback" not in r.stderr and "rollback" not in r.stderr.lower()
    assert "hint: free some disk space" in r.stderr
    if n == 5_000:  # the rows fit in memory: the WAL write of COMMIT is what fails
        assert "Failed to commit" in r.stderr
    assert _store_rows(db) == (["small"], 3, 1)


def test_an_import_bounds_duckdbs_memory_and_puts_the_limit_back(tmp_path, monkeypatch):
    """While an import runs DuckDB's memory limit is IMPORT_MEMORY_LIMIT (it spills the rest to disk instead of
    holding a large import in memory until COMMIT); after it, whether it worked or failed, the store's own limit is
    back. An in-memory store keeps its limit (it has nowhere to spill)."""
    from engine.data.ingest import pipeline

    monkeypatch.setattr(ingest.fastpath, "FAST_PATH_MIN_BYTES", 0)  # both paths: fast, then Python
    limit = lambda st: st.fetchall("SELECT current_setting('memory_limit')")[0][0]  # noqa: E731
    for path in (tmp_path / "wb.duckdb", ":memory:"):
        s = Store(path)
        s.con.execute("SET memory_limit = '3GiB'")
        seen = []
        good = write_jsonl(tmp_path / "good.jsonl", ALPACA)
        chat = write_jsonl(tmp_path / "chat.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
        for f in (good, chat):
            import_file(s, f, pool=f.stem, progress=lambda p, s=s, seen=seen: seen.append(pipeline._bytes(limit(s))))
        with pytest.raises(ImportFailed):
            import_file(s, write_jsonl(tmp_path / "bad.jsonl", [{"instruction": 1, "output": "x"}]), pool="b")
        want = pipeline.IMPORT_MEMORY_LIMIT if path != ":memory:" else 3 << 30
        assert seen and set(seen) == {want}
        assert limit(s) == "3.0 GiB"
        s.close()


@pytest.mark.slow
def test_the_space_of_a_failed_or_killed_import_is_given_back(tmp_path):
    """DuckDB writes a big import's rows into the file before COMMIT. Rolled back (here: cancelled after the
    INSERT), the file shrinks back at once; killed (SIGKILL at the same point), the next read-write open of the store
    gives it back."""
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    recs = [
        {"instruction": f"Question {i}: what is {i} plus {i}?", "output": f"It is {2 * i}."} for i in range(250_000)
    ]
    big = write_jsonl(tmp_path / "big.jsonl", recs)
    db = tmp_path / "wb.duckdb"
    s = Store(db)
    import_file(s, write_jsonl(tmp_path / "small.jsonl", ALPACA), pool="small")
    s.con.execute("CHECKPOINT")
    start = os.path.getsize(db)
    tok, seen = CancelToken(), {}

    def at_done(p):  # the rows are written, COMMIT not yet: cancel (rolled back), noting the file's size now
        if p.message == "done":
            seen["size"] = os.path.getsize(db)
            tok.cancel()

    with pytest.raises(Cancelled):
        import_file(s, big, pool="big", progress=at_done, cancel=tok)
    assert seen["size"] > start + (16 << 20)  # the uncommitted rows were in the file
    assert os.path.getsize(db) < start + (1 << 20)  # and their space is back
    assert counts(s) == (1, 1, 3)
    s.close()

    killer = (  # a low memory limit: DuckDB spills to <store>.tmp, which the kill leaves behind
        "import os, signal, sys\n"
        "from engine.core.store import Store\n"
        "from engine.data.ingest import import_file, pipeline\n"
        "pipeline.IMPORT_MEMORY_LIMIT = 64 << 20\n"
        "def at_done(p):\n"
        "    if p.message == 'done':\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "import_file(Store(sys.argv[1]), sys.argv[2], pool='big', progress=at_done)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", killer, str(db), str(big)],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == -9, r.stderr
    killed = os.path.getsize(db)
    assert killed > start + (16 << 20)  # killed before COMMIT: the rows' blocks stay in the file
    spilled = Path(f"{db}.tmp")
    assert any(spilled.glob("duckdb_temp_*"))  # and DuckDB's spill files stay in its folder
    with Store(db, read_only=True) as ro:  # a read-only open cannot write: the file stays as it is
        assert counts(ro) == (1, 1, 3)
    assert os.path.getsize(db) == killed
    s = Store(db)  # the next read-write open gives the space back
    assert os.path.getsize(db) < start + (1 << 20)
    assert not any(spilled.glob("duckdb_temp_*"))
    assert counts(s) == (1, 1, 3)
    with pytest.raises(ImportFailed):  # a failed import after that leaves it small
        import_file(s, write_jsonl(tmp_path / "bad.jsonl", [{"instruction": 1, "output": "x"}]), pool="b")
    assert os.path.getsize(db) < start + (1 << 20)
    assert counts(s) == (1, 1, 3)
    s.close()
