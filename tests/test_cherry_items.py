"""Cherry IFD gets Alpaca's instruction and input separately for imported records (meta.input_split)."""

import json

import pytest

from engine.data import ingest
from engine.data.ingest import import_file
from engine.quality.ifd import CHERRY_PROMPT_INPUT, CHERRY_PROMPT_NO_INPUT, cherry_texts, superfiltering_texts
from engine.quality.scoring import item_from_row

RECS = [
    {
        "instruction": "Translate to French.\nKeep the tone.",
        "input": "Good morning,\nfriend!",
        "output": "Bonjour, l'ami !",
    },
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
    {"instruction": "Sum: e\u0301 👍🏽", "input": "1 2", "output": "3", "history": [["hi", "hello"]]},
]


@pytest.mark.parametrize("fast", [True, False])
def test_item_from_row_gives_cherry_the_alpaca_instruction_and_input(store, tmp_path, monkeypatch, fast):
    p = tmp_path / "a.jsonl"
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECS[:2]), encoding="utf-8")
    monkeypatch.setattr(ingest.fastpath, "FAST_PATH_MIN_BYTES", 0)
    monkeypatch.setattr(ingest.fastpath, "FAST_PATH", fast)
    assert import_file(store, p, pool="a").fast_path is fast
    rows = store.con.execute("SELECT id, messages, meta FROM samples ORDER BY id").fetchall()
    items = [item_from_row(*r) for r in rows]

    it = items[0]
    assert (it.instruction, it.input) == (RECS[0]["instruction"], RECS[0]["input"])
    assert it.prompt == RECS[0]["instruction"] + "\n" + RECS[0]["input"] + "\n"  # Superfiltering unchanged
    instruct, whole, _ = cherry_texts(it, "alpaca")
    assert instruct == CHERRY_PROMPT_INPUT.format_map(RECS[0]) and "### Input:\nGood morning,\nfriend!\n\n" in instruct
    assert whole == instruct + RECS[0]["output"]

    it = items[1]
    assert (it.instruction, it.input) == ("Name a colour.", "")
    assert cherry_texts(it, "alpaca")[0] == CHERRY_PROMPT_NO_INPUT.format_map(RECS[1])


def test_item_from_row_with_history_and_bad_or_legacy_meta(store, tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text(json.dumps(RECS[2], ensure_ascii=False) + "\n", encoding="utf-8")
    import_file(store, p, pool="h")
    ((sid, msgs, meta),) = store.con.execute("SELECT id, messages, meta FROM samples").fetchall()
    it = item_from_row(sid, msgs, meta)
    # earlier turns stay in front of the instruction (as without a split); the last turn is split
    assert (it.instruction, it.input) == ("hi\nhello\nSum: e\u0301 👍🏽", "1 2")
    assert it.prompt == superfiltering_texts(json.loads(msgs))[0] == "hi\nhello\nSum: e\u0301 👍🏽\n1 2\n"

    two = [{"role": "user", "content": "a\nb"}, {"role": "assistant", "content": "r"}]
    assert (item_from_row(1, two, {"input_split": 1}).instruction, item_from_row(1, two, {"input_split": 1}).input) == (
        "a",
        "b",
    )
    for bad in ({"input_split": 2}, {"input_split": "1"}, {"input_split": True}, {"input_split": -1}, "[1]", None):
        it = item_from_row(1, two, bad)
        assert (it.instruction, it.input) == ("a\nb", "")  # does not fit: the whole turn is the instruction
    legacy = {"source_fields": {"instruction": "A", "input": "B"}, "input_split": 1}
    assert (item_from_row(1, two, json.dumps(legacy)).instruction, item_from_row(1, two, legacy).input) == ("A", "B")
