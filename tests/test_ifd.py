"""Golden tests: batched IFD equals the batch-1 reference (tests/ifd_reference.py) within 1e-4."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from engine.quality.ifd import IFDParams, Item, score_items, superfiltering_texts  # noqa: E402
from tests.ifd_reference import cherry_reference, superfiltering_reference  # noqa: E402
from tests.tiny_lm import tiny_gpt2, tiny_llama, tiny_tokenizer  # noqa: E402

WORDS = (
    "add numbers apples tree weather city Paris function return list bread sunny capital "
    "explain child book recursion summary tool"
).split()


def _items(n: int, seed: int = 1) -> list[Item]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        instr = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))
        inp = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 15))) if k % 3 == 0 else ""
        resp = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 90)))
        prompt = f"{instr}\n{inp}\n" if inp else f"{instr}\n"
        out.append(Item(k, prompt, resp, instr, inp))
    out.append(Item(n, "instruction only\n", "", "instruction only"))  # empty response
    out.append(Item(n + 1, "x\n", "word", "x"))  # 1-token response
    return out


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("max_length", [1024, 48])
def test_batched_superfiltering_matches_reference(tok, arch, padding_side, max_length):
    model = (tiny_llama if arch == "llama" else tiny_gpt2)(tok)
    items = _items(40)
    params = IFDParams(max_length=max_length, padding_side=padding_side, token_budget=700)
    got = score_items(model, tok, items, params)
    n_checked = 0
    for it, g in zip(items, got):
        try:
            ref = superfiltering_reference(model, tok, it.prompt, it.response, max_length)
        except Exception:  # the papers' code writes 0 here; we store NULL with a reason
            ref = {"ifd": math.nan}
        if it.response == "":
            assert g.values["ifd"] is None and g.reasons["ifd"] == "empty response"
            continue
        if g.values["ifd"] is None:  # truncated away / too short: the reference cannot score it either
            assert math.isnan(ref["ifd"]), (it.sample_id, g.reasons["ifd"], ref)
            assert g.reasons["ifd"]
            continue
        for k in ("loss_direct", "loss_cond", "ifd"):
            assert abs(g.values[k] - ref[k]) < 1e-4, (it.sample_id, k, g.values[k], ref[k])
        n_checked += 1
    assert n_checked >= (30 if max_length == 1024 else 8)


@pytest.mark.slow
@pytest.mark.parametrize("template", ["alpaca", "wiz"])
def test_batched_cherry_matches_reference(tok, template):
    model = tiny_llama(tok)
    items = _items(30, seed=7)
    params = IFDParams(cherry_max_length=256, cherry_template=template, token_budget=900)
    got = score_items(model, tok, items, params, variants=("cherry",))
    n_checked = 0
    for it, g in zip(items, got):
        ref = cherry_reference(model, tok, it, 256, template)
        v = g.values["cherry_ifd"]
        if math.isnan(ref):
            assert v is None and g.reasons["cherry_ifd"]
        else:
            assert v is not None and abs(v - ref) < 1e-4, (it.sample_id, v, ref)
            n_checked += 1
    assert n_checked >= 15


def test_unscorable_samples_get_null_with_reason(tok):
    model = tiny_llama(tok)
    long_prompt = " ".join(["apples"] * 200) + "\n"
    items = [Item(1, long_prompt, "the answer", "x"), Item(2, "q\n", "", "q")]
    got = score_items(model, tok, items, IFDParams(max_length=64))
    for g in got:
        assert g.values["ifd"] is None and g.reasons["ifd"]


def test_superfiltering_texts_from_messages():
    msgs = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "Do X\nwith Y"},
        {"role": "assistant", "content": "Done"},
    ]
    assert superfiltering_texts(msgs) == ("Do X\nwith Y\n", "Done")
    tool = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "w", "arguments": "{}"}}]},
        {"role": "tool", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."},
    ]
    p, r = superfiltering_texts(tool)
    assert r == "It is sunny." and p.startswith("weather?\n") and '"name": "w"' in p


def test_score_items_reports_progress_between_batches(tok):
    """A chunk can take minutes on a CPU: scoring reports the share done between model batches."""
    model = tiny_llama(tok)
    items = _items(30)
    seen: list[float] = []
    plain = score_items(model, tok, items, IFDParams(token_budget=300))
    got = score_items(model, tok, items, IFDParams(token_budget=300), progress=seen.append)
    assert len(seen) >= 3 and seen == sorted(seen) and 0 < seen[0] and seen[-1] < 1
    assert [g.values for g in got] == [p.values for p in plain]  # reporting changes nothing


def test_bf16_scores_agree_with_fp32(tok):
    """The bf16 option (a bf16 model, fp32 log-softmax): same NULLs and reasons, IFD and losses within a stated
    tolerance of fp32 (measured on this tiny model: 3e-4; on SmolLM2 over Alpaca, bench/scoring.py: ~0.015)."""
    items = _items(20)
    params = IFDParams(token_budget=700)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a busy CPU: one thread is many times faster than two spinning
    try:
        fp32 = score_items(tiny_llama(tok), tok, items, params)
        bf16 = score_items(tiny_llama(tok).to(torch.bfloat16), tok, items, params)
    finally:
        torch.set_num_threads(threads)
    diffs = []
    for a, b in zip(fp32, bf16):
        assert a.reasons == b.reasons
        if a.values["ifd"] is None:
            assert b.values["ifd"] is None
            continue
        assert abs(a.values["ifd"] - b.values["ifd"]) < 5e-3, (a.sample_id, a.values, b.values)
        for k in ("loss_cond", "loss_direct"):
            assert abs(a.values[k] - b.values[k]) < 1e-2
        assert a.values["resp_tokens"] == b.values["resp_tokens"]
        diffs.append(abs(a.values["ifd"] - b.values["ifd"]))
    assert len(diffs) >= 16 and max(diffs) > 0  # bf16 really computed (not the fp32 values again)


def test_score_job_in_bf16_with_threads_says_how_it_computes(tmp_path):
    """score_in_process(dtype="bf16", threads=1) (workbench score --dtype bf16 --threads 1): the job's spec keeps
    both, its log names the dtype, the threads and the CPU's bf16 units, and the scores land in the store."""
    import json

    from engine.core.store import Store
    from engine.quality.scores import metric_values
    from engine.quality.scoring import score_in_process

    t = tiny_tokenizer()
    model_dir = tmp_path / "tiny"
    tiny_llama(t).save_pretrained(model_dir)
    t.save_pretrained(model_dir)
    s = Store(tmp_path / "s.duckdb")
    s.con.execute("INSERT INTO pools (id, name, domain) VALUES (1, 'p', 'general')")
    for it in _items(12)[:12]:
        msgs = [{"role": "user", "content": it.prompt[:-1]}, {"role": "assistant", "content": it.response}]
        s.con.execute(
            "INSERT INTO samples (id, pool_id, messages, domain, content_hash, instruction, response)"
            " VALUES (?, 1, ?, 'general', ?, ?, ?)",
            [it.sample_id + 1, json.dumps(msgs), f"h{it.sample_id}", it.prompt, it.response],
        )
    threads = torch.get_num_threads()
    try:
        out = score_in_process(s, model=str(model_dir), dtype="bf16", threads=1, params=IFDParams(max_length=256))
    finally:
        torch.set_num_threads(threads)
    job = Path(out["job_dir"])
    spec = json.loads((job / "spec.json").read_text())
    assert (spec["dtype"], spec["threads"]) == ("bf16", 1)
    log = (job / "log.txt").read_text()
    assert "in bfloat16, 1 torch threads" in log and "CPU cores" in log
    ifd = metric_values(s, "ifd")
    assert out["scored"] == 12 and len(ifd) == 12 and all(v is None or v > 0 for v in ifd.values())
    s.close()
