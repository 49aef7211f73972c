"""The eval worker's generation (engine.evaluation.generation.generate) gives, under greedy decoding, the text of a
plain batch-1 `model.generate` loop: with end tokens reached at different steps, slots refilled, cache
columns compacted and shifted, for llama (rotary positions) and GPT-2 (learned positions)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from engine.evaluation import generation, worker  # noqa: E402
from tests.tiny_lm import CORPUS, tiny_gpt2, tiny_llama, tiny_tokenizer  # noqa: E402

PROMPTS = [CORPUS[k % 10] * (1 + k % 4) for k in range(9)]  # 5 to 60 tokens


def lively(model):
    """Random weights large enough for varied greedy text (the default init makes a tiny model repeat one
    token, which would hide a wrong position or mask)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model


def loop(model, tok, prompts, max_new_tokens):
    """The baseline: one prompt at a time, the model's own generate, the same end tokens."""
    out = []
    for p in prompts:
        enc = tok(p, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            g = model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                eos_token_id=generation.stop_token_ids(model, tok),
            )
        out.append(g[0, enc["input_ids"].shape[1] :].tolist())
    return out


def with_end_token(model, tok, max_new_tokens):
    """Make a token the model emits an end token (in its generation config, as a chat model's end of turn):
    the one whose first appearance in the rows of a free run falls on the most different steps, so rows end
    at different steps (and those without it at max_new_tokens)."""
    free = loop(model, tok, PROMPTS, max_new_tokens)
    steps: dict[int, set] = {}
    for row in free:
        for t in set(row):
            steps.setdefault(t, set()).add(row.index(t))
    end = max(steps, key=lambda t: (len(steps[t] - {0}), -t))
    model.generation_config.eos_token_id = [tok.eos_token_id, end]
    return end


@pytest.mark.parametrize("make", [pytest.param(tiny_llama, marks=pytest.mark.slow), tiny_gpt2])
def test_batched_greedy_equals_batch1_loop(make, monkeypatch):
    torch.set_num_threads(1)
    tok = tiny_tokenizer()
    model = lively(make(tok))
    end = with_end_token(model, tok, 24)
    want = loop(model, tok, PROMPTS, 24)
    lengths = [len(r) for r in want]
    assert any(r[-1] == end for r in want) and max(lengths) == 24 and min(lengths) < 24  # ends vary
    texts = [tok.decode(r, skip_special_tokens=True) for r in want]
    seen = []
    assert (
        generation.generate(model, tok, PROMPTS, max_new_tokens=24, batch_size=3, on_batch=lambda d, n: seen.append(d))
        == texts
    )
    assert seen == list(range(1, len(PROMPTS) + 1))  # progress as each prompt ends
    monkeypatch.setattr(generation, "SLOT_SLACK", 0)  # compaction and right shifts at nearly every step
    assert generation.generate(model, tok, PROMPTS, max_new_tokens=24, batch_size=2) == texts
    assert generation.generate(model, tok, PROMPTS[:2], max_new_tokens=24, batch_size=8) == texts[:2]


def test_generation_configs_that_change_greedy_use_model_generate():
    tok = tiny_tokenizer()
    model = lively(tiny_llama(tok))
    assert generation.plain_greedy(model)
    model.generation_config.repetition_penalty = 1.3
    assert not generation.plain_greedy(model)
    want = [tok.decode(r, skip_special_tokens=True) for r in loop(model, tok, PROMPTS[:3], 12)]
    assert generation.generate(model, tok, PROMPTS[:3], max_new_tokens=12, batch_size=1) == want


def test_code_answers_stop_once_the_code_the_scorer_runs_is_out():
    from engine.evaluation.code_check import extract_code

    done = "Sure.\n```text\nnotes\n```\nThen:\n```python\ndef f(x):\n    return x\n```"
    later = done + "\n\nThis returns x. Another:\n```python\ndef g():\n    pass\n```"
    assert worker.code_answer_complete(done) and extract_code(done) == extract_code(later)
    for prefix in (done[:-1], done[: done.index("def")], "```text\nnotes\n```", "def f(x): return x"):
        assert not worker.code_answer_complete(prefix)  # the block is open, or no block defines a function
    assert set(worker.ANSWER_COMPLETE) == {"code"}  # gsm8k, math and tool read the whole output


@pytest.mark.parametrize("penalty", [None, 1.3])  # the slot decoder, and model.generate's own criterion
def test_stops_end_a_row_where_the_scorer_stops_reading(penalty):
    torch.set_num_threads(1)
    tok = tiny_tokenizer()
    model = lively(tiny_llama(tok))
    model.generation_config.repetition_penalty = penalty
    full = generation.generate(model, tok, PROMPTS[:4], max_new_tokens=20, batch_size=2)
    cut = full[1][:5]
    stops = [None, lambda text: text.startswith(cut), None, None]
    got = generation.generate(model, tok, PROMPTS[:4], max_new_tokens=20, batch_size=2, stops=stops)
    assert got[0] == full[0] and got[2:] == full[2:]
    assert got[1].startswith(cut) and full[1].startswith(got[1]) and len(got[1]) < len(full[1])


def test_a_sliding_window_cache_uses_model_generate():
    from transformers import MistralConfig, MistralForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(0)
    cfg = MistralConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=8,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = lively(MistralForCausalLM(cfg).eval())
    assert generation.greedy_slots(model, tok, PROMPTS[:2], max_new_tokens=4, slots=2, eos=[]) is None
    want = [tok.decode(r, skip_special_tokens=True) for r in loop(model, tok, PROMPTS[:3], 12)]
    assert generation.generate(model, tok, PROMPTS[:3], max_new_tokens=12, batch_size=1) == want
