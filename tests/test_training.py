"""The trainer (engine/training/__init__.py) in process, on a tiny random llama with a ChatML template: assistant-only
labels, packing without attention across examples, the protocols' plans, loss going down, exact resume after a
cancel, per-domain eval loss, gradient-conflict cosines and mixup records."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from engine import training as T
from tests.helpers import training_records as records

FAST = dict(
    lr=1e-2,
    batch_size=4,
    max_len=128,
    eval_every=4,
    eval_per_domain=2,
    save_every=4,
    grad_conflict_every=3,
    warmup_ratio=0.0,
)


@pytest.fixture(scope="module")
def tok(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


def make_folder(
    tmp_path: Path, model_dir: Path, recs: list[dict], *, protocol="multi_task", order=None, lora=None, **train
) -> Path:
    folder = tmp_path / "run"
    folder.mkdir(parents=True)
    cfg = T.config_dict(
        base_model=str(model_dir),
        protocol=protocol,
        order=order,
        lora=lora or T.LoraSettings(target_modules="all-linear", dropout=0.1),
        train=T.TrainSettings(**{**FAST, **train}),
    )
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return folder


def metric_lines(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines() if x.strip()]


# -- tokenisation ------------------------------------------------------------------------------------------


def test_labels_cover_exactly_the_assistant_turns_with_system_tools_and_tool_calls(tok):
    rec = {
        "messages": [
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris is the capital."},
            {"role": "user", "content": "Call the weather tool for Berlin"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Berlin"}'}}
                ],
            },
            {"role": "tool", "content": '{"temp": 3}'},
            {"role": "assistant", "content": "It is 3 degrees."},
        ],
        "system": "Be brief.",
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
    }
    ids, labels = T.tokenize_conversation(tok, rec, 512)
    text = tok.decode(ids)
    assert "Be brief." in text and "Tools:" in text and "get_weather" in text
    learned = tok.decode([i for i, lab in zip(ids, labels) if lab != -100])
    assert learned == (
        'Paris is the capital.<|im_end|><tool_call>[{"type": "function", "function": {"name": '
        '"get_weather", "arguments": "{\\"city\\": \\"Berlin\\"}"}}]</tool_call><|im_end|>'
        "It is 3 degrees.<|im_end|>"
    )
    # user, system, tool result and the role headers are never learned
    for t, lab in zip(ids, labels):
        if lab == -100:
            continue
        assert t == lab


def test_smollm2_template_adds_its_default_system_prompt_and_labels_only_the_reply():
    from transformers import AutoTokenizer

    from engine.core.models import local_folder, resolve

    try:
        path = local_folder(resolve("smollm2"))
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"SmolLM2 not available here: {e}")
    tok = AutoTokenizer.from_pretrained(path)
    rec = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]}
    ids, labels = T.tokenize_conversation(tok, rec, 512)
    assert "You are a helpful AI assistant named SmolLM" in tok.decode(ids)
    assert tok.decode([i for i, lab in zip(ids, labels) if lab != -100]) == "Hello! How can I help?<|im_end|>"


def test_no_chat_template_and_unknown_kind_are_clear_errors(tok, model_dir):
    from tests.tiny_lm import tiny_tokenizer

    with pytest.raises(T.TrainingError, match="no chat template"):
        T.tokenize_conversation(tiny_tokenizer(), records(1)[0], 64)
    with pytest.raises(T.TrainingError, match="unknown kind 'dpo'"):
        T.tokenize_records(tok, [{"kind": "dpo", "messages": []}], 64)
    with pytest.raises(T.TrainingError, match="packing must be one of"):
        T.TrainSettings(packing="zip").validate()
    with pytest.raises(T.TrainingError, match="unknown TrainSettings field"):
        T.settings_from_dict(T.TrainSettings, {"learning_rate": 1})


def test_truncation_keeps_max_len_and_drops_examples_without_labels(tok):
    long = {"messages": [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]}
    exs, stats = T.tokenize_records(tok, [long] + records(2), 96)
    assert stats["skipped_no_labels"] == 1 and len(exs) == 2
    assert all(len(e.ids) <= 96 for e in exs) and stats["truncated"] == 1


# -- packing and plans -----------------------------------------------------------------------------------------


def test_packed_rows_do_not_attend_across_examples(tok, model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    exs, _ = T.tokenize_records(tok, records(3), 128)
    packed = T.collate_rows(exs, [[0, 1, 2]], tok.pad_token_id, packed=True)
    assert packed["position_ids"][0, : len(exs[0].ids)].tolist() == list(range(len(exs[0].ids)))
    assert packed["position_ids"][0, len(exs[0].ids)] == 0
    with torch.no_grad():
        joint = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits[0]
        k = 0
        for e in exs:
            alone = model(input_ids=torch.tensor([e.ids])).logits[0]
            assert torch.allclose(joint[k : k + len(e.ids)], alone, atol=1e-5)
            k += len(e.ids)
        # the same loss either way (the first token of each example is never a target)
        sep = T.collate_rows(exs, [[0], [1], [2]], tok.pad_token_id, packed=False)
        a = T.token_losses(model, packed)
        b = T.token_losses(model, sep)
    assert torch.allclose(a, b, atol=1e-5)


def test_plans_follow_the_protocols(tok):
    exs, _ = T.tokenize_records(tok, records(16), 128)
    s = T.TrainSettings(batch_size=2, packing="grouped", epochs=1)
    plan, names, steps = T.build_plan(exs, "sequential", ["code", "math"], s)
    doms = [exs[rows[0][0]].domain for _k, rows in plan]
    assert doms == ["code"] * 4 + ["math"] * 4 and names[0] == "code" and steps == 8
    plan, names, _ = T.build_plan(exs, "multi_stage", None, s)
    assert [exs[rows[0][0]].stage for _k, rows in plan] == [0] * 4 + [1] * 4
    p1, _, _ = T.build_plan(exs, "multi_task", None, s)
    p2, _, _ = T.build_plan(exs, "multi_task", None, s)
    assert p1 == p2  # seeded
    assert {i for _k, rows in p1 for r in rows for i in r} == set(range(16))
    assert len({exs[rows[0][0]].domain for _k, rows in p1[:4]}) == 2  # domains interleaved
    with pytest.raises(T.TrainingError, match="not in the data: poetry"):
        T.build_plan(exs, "sequential", ["poetry"], s)
    # max_steps beyond the data: more passes per phase, sequential stays domain by domain
    plan, names, steps = T.build_plan(exs, "sequential", ["math", "code"], T.TrainSettings(batch_size=2, max_steps=16))
    assert steps == 16 and names == ["math"] * 8 + ["code"] * 8
    assert sorted(i for _k, rows in plan[:8] for r in rows for i in r) == sorted(
        2 * [i for i, e in enumerate(exs) if e.domain == "math"]
    )
    # packing fits several examples per row
    packed, _, _ = T.build_plan(exs, "multi_task", None, T.TrainSettings(batch_size=1, max_len=128, packing="packed"))
    assert len(packed) < 16 and all(sum(len(exs[i].ids) for i in r) <= 128 for _k, rows in packed for r in rows)
    # a token budget per micro-batch: rows x longest row stays within it
    budget, _, _ = T.build_plan(exs, "multi_task", None, T.TrainSettings(packing="grouped", batch_tokens=200))
    assert all(len(rows) * max(len(exs[r[0]].ids) for r in rows) <= 200 for _k, rows in budget)
    assert sorted(i for _k, rows in budget for r in rows for i in r) == list(range(16))


# -- training ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_loss_goes_down_and_eval_and_gradcos_are_logged(tmp_path, model_dir):
    folder = make_folder(tmp_path, model_dir, records(16), max_steps=40, save_every=0, packing="packed")
    st = T.train(folder)
    assert st["status"] == "done" and st["step"] == 40
    lines = metric_lines(folder)
    losses = [x["loss"] for x in lines if "loss" in x]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, losses
    evals = [x for x in lines if "eval_loss/math" in x]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 40
    assert evals[-1]["eval_loss/math"] < evals[0]["eval_loss/math"]
    cos = [x["gradcos/code|math"] for x in lines if "gradcos/code|math" in x]
    assert len(cos) == 13 and all(-1 <= c <= 1 for c in cos)
    assert (folder / "adapter" / "adapter_config.json").is_file()
    # every phase without steps is named (status.json's activity, shown on screen; and the log)
    log = (folder / "log.txt").read_text()
    for phase in ("loading the base model", "tokenising the training data", "held-out loss", "saving the adapter"):
        assert f"phase: {phase}" in log, phase
    st = json.loads((folder / "status.json").read_text())
    assert st["activity"] is None
    # the eval loss says where its items come from
    assert set(st["eval_sources"]) == {"math", "code"}
    assert all(v.endswith(("held out", "from the training data")) for v in st["eval_sources"].values())


def test_eval_items_are_held_out_when_the_domain_is_big_enough():
    from engine.training.data import Example, split_eval

    ex = [Example([1, 2], [1, 2], "big" if i < 40 else "small") for i in range(44)]
    train, evals, how = split_eval(ex, T.TrainSettings(eval_per_domain=4))
    assert how == {"big": "4 held out", "small": "4 from the training data"}
    assert len(train) == 40 and not any(e is t for t in train for e in evals["big"])  # held out: not trained on
    assert all(any(e is t for t in train) for e in evals["small"])


def test_run_status_line_names_a_phase_without_steps():
    from types import SimpleNamespace

    from screens.runs import run_status_line

    run = SimpleNamespace(id=3, status="running", progress={"step": 3, "total": 3, "eta_s": 0})
    assert "ETA" in run_status_line(run)
    run.progress["activity"] = "saving the adapter"
    line = run_status_line(run)
    assert "saving the adapter" in line and "ETA" not in line


def _final_adapter(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter" / "adapter_model.safetensors"))


@pytest.mark.slow
def test_cancel_then_resume_continues_exactly(tmp_path, model_dir):
    import torch

    ref = make_folder(tmp_path / "a", model_dir, records(16), max_steps=12, grad_accum=2, packing="grouped")
    T.train(ref)
    folder = make_folder(tmp_path / "b", model_dir, records(16), max_steps=12, grad_accum=2, packing="grouped")

    (folder / "hold").write_text("5")  # the trainer waits before step 5 until the cancel comes

    def cancel_when_held():
        end = time.time() + 120
        while time.time() < end:
            try:
                if json.loads((folder / "status.json").read_text()).get("held"):
                    (folder / "cancel").write_text("now")
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.01)

    th = threading.Thread(target=cancel_when_held)
    th.start()
    st = T.train(folder)
    th.join()
    assert st["status"] == "cancelled" and st["step"] == 5
    assert T.checkpoints(folder)[-1][0] == st["step"]
    assert not (folder / "adapter").exists()
    (folder / "cancel").unlink()
    (folder / "hold").unlink()
    st2 = T.train(folder)
    assert st2["status"] == "done" and st2["step"] == 12
    lines = metric_lines(folder)
    assert any(x.get("event") == "resume" and x["step"] == st["step"] for x in lines)
    a, b = _final_adapter(ref), _final_adapter(folder)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    ref_loss = [x["loss"] for x in metric_lines(ref) if "loss" in x]
    resumed = {x["step"]: x["loss"] for x in lines if "loss" in x}  # later lines replace repeated steps
    assert [resumed[s] for s in range(1, 13)] == pytest.approx(ref_loss, abs=1e-5)


def test_mixup_records_train_through_engine_mixup(tmp_path, model_dir):
    pytest.importorskip("engine.synthesis.mixup")
    recs = records(8)
    for i in range(4):
        a, b = records(8)[2 * i], records(8)[2 * i + 1]
        recs.append(
            {
                "kind": "mixup",
                "stage": 0,
                "domain": "mixup",
                "set_id": 1,
                "pair_index": i,
                "lam": 0.3,
                "a": {k: a[k] for k in ("messages", "system", "tools")} | {"domain": "math"},
                "b": {k: b[k] for k in ("messages", "system", "tools")} | {"domain": "code"},
            }
        )
    folder = make_folder(
        tmp_path, model_dir, recs, max_steps=6, batch_size=2, packing="grouped", save_every=0, grad_conflict_every=0
    )
    st = T.train(folder)
    assert st["status"] == "done"
    losses = [x["loss"] for x in metric_lines(folder) if "loss" in x]
    assert len(losses) == 6 and all(x == x and x > 0 for x in losses)


def test_bad_target_modules_fail_with_a_clear_status(tmp_path, model_dir):
    folder = make_folder(
        tmp_path, model_dir, records(4), lora=T.LoraSettings(target_modules=["nope_proj"]), max_steps=2
    )
    with pytest.raises(T.TrainingError, match="nope_proj"):
        T.train(folder)
    st = json.loads((folder / "status.json").read_text())
    assert st["status"] == "failed" and "nope_proj" in st["error"]
    assert "failed" in (folder / "log.txt").read_text()


def test_restart_without_checkpoint_says_so_in_the_metrics(tmp_path, model_dir):
    folder = make_folder(
        tmp_path, model_dir, records(4), max_steps=2, save_every=0, eval_every=0, grad_conflict_every=0
    )
    (folder / "metrics.jsonl").write_text('{"step": 1, "ts": 0, "loss": 9.0}\n')  # a first attempt that died
    assert T.train(folder)["status"] == "done"
    lines = metric_lines(folder)
    assert lines[1]["event"] == "resume" and lines[1]["step"] == -1
    assert [x["step"] for x in lines[2:] if "loss" in x] == [1, 2]


@pytest.mark.slow
def test_gradient_checkpointing_trains_the_same_as_without(tmp_path, model_dir):
    import torch

    def folder(name, **kw):
        lora = T.LoraSettings(target_modules="all-linear", dropout=0.0)
        return make_folder(
            tmp_path / name,
            model_dir,
            records(8),
            max_steps=3,
            save_every=0,
            eval_every=0,
            grad_conflict_every=0,
            lora=lora,
            **kw,
        )

    a = folder("a")
    b = folder("b", gradient_checkpointing=True)
    T.train(a)
    T.train(b)
    wa, wb = _final_adapter(a), _final_adapter(b)
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


@pytest.mark.slow
def test_bf16_autocast_on_cpu_trains_close_to_fp32(tmp_path, model_dir):
    """--bf16 true on a CPU: autocast (fp32 weights and loss, bf16 matmuls); the same seed gives a finite loss curve
    close to fp32's, and the log says how the run computes."""
    import math

    def run(name, bf16):
        lora = T.LoraSettings(target_modules="all-linear", dropout=0.1)
        f = make_folder(
            tmp_path / name,
            model_dir,
            records(16),
            max_steps=6,
            save_every=0,
            eval_every=3,
            grad_conflict_every=3,
            lora=lora,
            device="cpu",
            bf16=bf16,
            packing="grouped",
        )
        T.train(f)
        lines = metric_lines(f)
        return f, [x["loss"] for x in lines if "loss" in x], [x for x in lines if any("eval_loss" in k for k in x)]

    fa, la, ea = run("fp32", "false")
    fb, lb, eb = run("bf16", "true")
    assert "(fp32)" in (fa / "log.txt").read_text()
    from engine.core.hardware import bf16_fast

    log = (fb / "log.txt").read_text()
    assert "frozen Linear weights kept in bf16" in log
    # the CPU's bf16 units named, or (a CPU without them) the warning that bf16 is emulated
    assert ("bf16 autocast (" in log) if bf16_fast("cpu") else ("bf16 autocast; warning" in log)
    assert len(lb) == len(la) == 6 and all(math.isfinite(x) for x in lb)
    assert la != lb  # bf16 really ran (not the fp32 path)
    assert max(abs(x - y) for x, y in zip(la, lb)) < 0.01, (la, lb)  # measured 7e-4 on losses of ~5.7
    assert len(eb) == len(ea) >= 2  # eval losses under autocast too
