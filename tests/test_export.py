"""Export to JSONL/Parquet in each style, dataset_info entries, and import -> export -> import round trips."""

import json

import pyarrow.parquet as pq
import pytest

from engine.data.export import ExportError, export
from engine.data.ingest import import_dataset_info, import_file
from tests.helpers import write_jsonl

CHAT = [  # no tools: every style can carry these
    {"instruction": "Add.", "input": "2 and 3", "output": "5"},
    {"instruction": "Again?", "output": "Yes.", "system": "Be short.", "history": [["Hi", "Hello"], ["And?", "Sure"]]},
    {"instruction": "Prompt only", "output": None},
    {"instruction": 'Unicode «é» 日本 "q" \\', "output": "ok\n\ttabs"},
]
TOOLS = [
    {
        "conversations": [
            {"from": "human", "value": "weather?"},
            {"from": "function_call", "value": '{"name": "w", "arguments": {"city": "Paris", "n": 1.5}}'},
            {"from": "observation", "value": "20C"},
            {"from": "gpt", "value": "It is 20C."},
        ],
        "system": "tool bot",
        "tools": '[{"name": "w", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]',
    },
    {
        "conversations": [
            {"from": "human", "value": "two calls"},
            {
                "from": "function_call",
                "value": '[{"name": "a", "arguments": {}}, {"name": "b", "arguments": {"x": [1]}}]',
            },
            {"from": "observation", "value": "done"},
        ]
    },
]
OPENAI = [
    {
        "messages": [
            {"role": "user", "content": "calc"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"type": "function", "function": {"name": "calc", "arguments": '{"e": "1+1"}'}}],
            },
            {"role": "tool", "content": "2"},
            {"role": "assistant", "content": "2"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "calc", "parameters": {"type": "object", "properties": {}}}}
        ],
    },
]


@pytest.fixture
def pools(store, tmp_path):
    ids = {}
    for name, recs in (("chat", CHAT), ("tools", TOOLS), ("openai", OPENAI)):
        ids[name] = import_file(store, write_jsonl(tmp_path / f"{name}.jsonl", recs), pool=name).pool_id
    return ids


def hashes(store, pool_id):
    return sorted(r[0] for r in store.con.sql(f"SELECT content_hash FROM samples WHERE pool_id = {pool_id}").fetchall())


def _filter(pool_ids):
    query = pytest.importorskip("engine.data.query")
    return query.Filter(pool_ids=pool_ids)


@pytest.mark.parametrize("style", ["messages", "sharegpt", "alpaca"])
@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_round_trip_gives_the_same_content_hashes(store, tmp_path, pools, style, ext):
    names = ["chat"] if style == "alpaca" else ["chat", "tools", "openai"]
    for name in names:
        out = tmp_path / "out" / f"{name}_{style}.{ext}"
        res = export(
            store, out, filter=_filter([pools[name]]), style=style, dataset_info=tmp_path / "out" / "dataset_info.json"
        )
        assert res.n == len(hashes(store, pools[name])) and out.exists()
        again = import_dataset_info(store, res.dataset_info_path, names=[f"{name}_{style}"])[0]
        assert again.n_invalid == 0 and again.n_duplicates == 0
        assert hashes(store, again.pool_id) == hashes(store, pools[name]), (name, style, ext)


def test_plain_reimport_without_dataset_info_also_round_trips(store, tmp_path, pools):
    for style in ("messages", "sharegpt"):
        out = export(store, tmp_path / f"all_{style}.jsonl", style=style, filter=_filter(list(pools.values())))
        r = import_file(store, out.path, pool=f"re_{style}")
        assert r.format == style and r.n_inserted == out.n == 7
        before = sorted(hashes(store, pools["chat"]) + hashes(store, pools["tools"]) + hashes(store, pools["openai"]))
        assert sorted(hashes(store, r.pool_id)) == before


def test_style_shapes(store, tmp_path, pools):
    f = _filter([pools["chat"]])
    export(store, tmp_path / "a.jsonl", filter=f, style="alpaca")
    a = [json.loads(x) for x in (tmp_path / "a.jsonl").read_text().splitlines()]
    empty = {"system": "", "history": [], "tools": ""}  # every key the dataset_info entry declares, always
    assert a[0] == {"instruction": "Add.", "input": "2 and 3", "output": "5", **empty}  # the split is kept
    assert a[1] == {
        "instruction": "Again?",
        "input": "",
        "output": "Yes.",
        "system": "Be short.",
        "history": [["Hi", "Hello"], ["And?", "Sure"]],
        "tools": "",
    }
    assert a[2] == {"instruction": "Prompt only", "input": "", "output": None, **empty}
    export(store, tmp_path / "s.jsonl", filter=_filter([pools["tools"]]), style="sharegpt")
    s = json.loads((tmp_path / "s.jsonl").read_text().splitlines()[0])
    assert [t["from"] for t in s["conversations"]] == ["human", "function_call", "observation", "gpt"]
    assert json.loads(s["conversations"][1]["value"]) == {"name": "w", "arguments": {"city": "Paris", "n": 1.5}}
    w = {"name": "w", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
    assert s["system"] == "tool bot" and json.loads(s["tools"]) == [w]
    export(store, tmp_path / "m.jsonl", filter=_filter([pools["openai"]]), style="messages")
    m = json.loads((tmp_path / "m.jsonl").read_text())
    calc = {"type": "function", "function": {"name": "calc", "parameters": {"type": "object", "properties": {}}}}
    assert json.loads(m["tools"]) == [calc]  # JSON text
    assert m["messages"][1]["tool_calls"][0]["function"] == {"name": "calc", "arguments": '{"e": "1+1"}'}
    # written for a LLaMA-Factory entry, tool calls become function_call turns it can read
    export(store, tmp_path / "lf.jsonl", filter=_filter([pools["openai"]]), dataset_info=tmp_path)
    lf = json.loads((tmp_path / "lf.jsonl").read_text())
    assert [x["role"] for x in lf["messages"]] == ["user", "function_call", "tool", "assistant"]
    assert json.loads(lf["messages"][1]["content"]) == {"name": "calc", "arguments": {"e": "1+1"}}


def test_parquet_has_native_nested_columns(store, tmp_path, pools):
    export(store, tmp_path / "m.parquet", style="messages")
    t = pq.read_table(tmp_path / "m.parquet")
    assert t.num_rows == 7 and str(t.schema.field("messages").type).startswith("list<")
    assert str(t.schema.field("tools").type) == "string"


def test_alpaca_refuses_tool_samples_and_leaves_no_file(store, tmp_path, pools):
    out = tmp_path / "x.jsonl"
    with pytest.raises(ExportError, match="tool calls"):
        export(store, out, style="alpaca")
    assert not out.exists() and not list(tmp_path.glob("x.jsonl*"))


def test_excluded_samples_are_skipped_unless_asked(store, tmp_path, pools):
    store.con.execute("UPDATE samples SET excluded = true WHERE id = 1")
    assert export(store, tmp_path / "a.jsonl").n == 6
    assert export(store, tmp_path / "b.jsonl", include_excluded=True).n == 7
    # the Filter's own include_excluded does not override the export default
    assert export(store, tmp_path / "c.jsonl", filter=_filter([pools["chat"]])).n == 3


def test_dataset_info_merge_and_refuse_same_name(store, tmp_path, pools):
    info = tmp_path / "lf" / "dataset_info.json"
    info.parent.mkdir()
    info.write_text(json.dumps({"theirs": {"file_name": "theirs.json"}}))
    r = export(store, tmp_path / "lf" / "data" / "mine.jsonl", style="sharegpt", dataset_info=info)
    got = json.loads(info.read_text())
    assert got["theirs"] == {"file_name": "theirs.json"}
    assert got["mine"] == {
        "file_name": "data/mine.jsonl",
        "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
    }
    assert r.dataset_info_path == str(info)
    with pytest.raises(ExportError, match="already has an entry 'mine'"):
        export(store, tmp_path / "lf" / "data" / "mine.jsonl", style="messages", dataset_info=info)
    assert json.loads(info.read_text())["mine"]["formatting"] == "sharegpt"
    export(
        store,
        tmp_path / "lf" / "data" / "mine.jsonl",
        style="alpaca",
        dataset_info=info,
        overwrite=True,
        filter=_filter([pools["chat"]]),
    )
    assert json.loads(info.read_text())["mine"]["formatting"] == "alpaca"
    export(store, tmp_path / "lf" / "other.parquet", dataset_info=tmp_path / "lf", dataset_name="renamed")
    assert json.loads(info.read_text())["renamed"]["file_name"] == "other.parquet"


def test_progress_and_bad_arguments(store, tmp_path, pools):
    seen = []
    export(store, tmp_path / "p.jsonl", progress=seen.append)
    assert seen[-1].done == seen[-1].total == 7
    with pytest.raises(ExportError, match="unknown style"):
        export(store, tmp_path / "p.jsonl", style="chatml")
    with pytest.raises(ExportError, match="unknown file format"):
        export(store, tmp_path / "p.csv", file_format="csv")


def test_tools_without_properties_get_an_empty_one_for_llamafactory(store, tmp_path):
    """LLaMA-Factory's default tool prompt reads parameters.properties of every tool (KeyError otherwise)."""
    rec = {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        "tools": [
            {"type": "function", "function": {"name": "now"}},
            {"name": "ping", "parameters": {"type": "object", "required": []}},
        ],
    }
    pid = import_file(store, write_jsonl(tmp_path / "t.jsonl", [rec]), pool="t").pool_id
    f = _filter([pid])
    export(store, tmp_path / "plain.jsonl", filter=f, style="messages")
    assert json.loads(json.loads((tmp_path / "plain.jsonl").read_text())["tools"]) == rec["tools"]  # untouched
    export(store, tmp_path / "s.jsonl", filter=f, style="sharegpt")
    got = json.loads(json.loads((tmp_path / "s.jsonl").read_text())["tools"])
    assert got == [
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
        {"name": "ping", "parameters": {"type": "object", "required": [], "properties": {}}},
    ]


def test_ranking_export_round_trips_preference_pairs(store, tmp_path):
    pairs = [
        {"instruction": "Prime?", "input": "below 10", "chosen": "7", "rejected": "9"},
        {"instruction": "Capital?", "input": "", "chosen": "Paris", "rejected": "Lyon", "system": "Be short."},
    ]
    write_jsonl(tmp_path / "p.jsonl", pairs)
    cols = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected", "system": "system"}
    (tmp_path / "dataset_info.json").write_text(
        json.dumps({"p": {"file_name": "p.jsonl", "ranking": True, "columns": cols}})
    )
    pid = import_dataset_info(store, tmp_path / "dataset_info.json")[0].pool_id
    for style in ("alpaca", "sharegpt", "messages"):
        out = tmp_path / "out" / f"p_{style}.jsonl"
        res = export(store, out, filter=_filter([pid]), style=style, ranking=True, dataset_info=out.parent)
        again = import_dataset_info(store, res.dataset_info_path, names=[f"p_{style}"])[0]
        assert hashes(store, again.pool_id) == hashes(store, pid), style
    a = [json.loads(x) for x in (tmp_path / "out" / "p_alpaca.jsonl").read_text().split("\n") if x]
    assert a[0] == {
        "instruction": "Prime?",
        "input": "below 10",
        "chosen": "7",
        "rejected": "9",
        "system": "",
        "history": [],
        "tools": "",
    }
    # without ranking a pair is written as its chosen conversation
    export(store, tmp_path / "sft.jsonl", filter=_filter([pid]), style="alpaca")
    assert json.loads((tmp_path / "sft.jsonl").read_text().split("\n")[0])["output"] == "7"


def test_special_files_are_written_in_place_and_folders_refused(store, tmp_path, pools):
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    res = export(store, fifo, style="sharegpt")
    reader.join(10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still the pipe, not replaced by a regular file
    assert len([x for x in got[0].split("\n") if x]) == res.n == 7
    assert not list(tmp_path.glob("pipe.part"))
    with pytest.raises(ExportError, match="is a folder"):
        export(store, tmp_path, style="sharegpt")


def test_cli_export_ranking_and_the_no_reply_note(tmp_path):
    from tests.helpers import wb

    db = tmp_path / "s.duckdb"
    write_jsonl(tmp_path / "p.jsonl", [{"instruction": "Prime?", "chosen": "7", "rejected": "9"}])
    write_jsonl(tmp_path / "q.jsonl", [{"instruction": "Only a prompt", "output": None}, *CHAT[:1]])
    cols = {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"}
    (tmp_path / "dataset_info.json").write_text(
        json.dumps({"p": {"file_name": "p.jsonl", "ranking": True, "columns": cols}})
    )
    wb(db, "import", str(tmp_path / "dataset_info.json"))
    wb(db, "import", str(tmp_path / "q.jsonl"), "--pool", "q")
    out = tmp_path / "lf"
    r = wb(
        db,
        "export",
        str(out / "pairs.jsonl"),
        "--pool",
        "p",
        "--ranking",
        "--style",
        "alpaca",
        "--dataset-info",
        str(out),
    )
    assert json.loads((out / "dataset_info.json").read_text())["pairs"]["ranking"] is True, r.stdout
    rec = json.loads((out / "pairs.jsonl").read_text())
    assert (rec["chosen"], rec["rejected"]) == ("7", "9")
    r = wb(db, "export", str(out / "q.jsonl"), "--pool", "q", "--style", "sharegpt", "--dataset-info", str(out))
    assert "1 records end without an assistant reply" in r.stderr
    r = wb(db, "export", str(out / "bad.jsonl"), "--pool", "q", "--ranking", check=False)
    assert r.returncode == 1 and "not a preference pair" in r.stderr and "Traceback" not in r.stderr
    assert not (out / "bad.jsonl").exists()
