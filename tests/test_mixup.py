"""engine.synthesis.mixup on a tiny random Llama: the loss is lam*CE_a + (1-lam)*CE_b, lam=1 is the plain loss on a."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from engine.synthesis.mixup import (  # noqa: E402
    MixupError,
    mixed_embeddings,
    mixup_collate,
    mixup_loss,
    mixup_terms,
    plain_loss,
)
from tests.tiny_lm import tiny_gpt2, tiny_llama, tiny_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return tiny_llama(tok)


def _example(tok, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """ids = prompt + answer + eos; labels -100 on the prompt (as the trainer masks non-assistant tokens)."""
    p = tok(prompt, add_special_tokens=False)["input_ids"]
    a = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return p + a, [-100] * len(p) + a


def _pair(tok):
    a = _example(tok, "What is the capital of France?", " Paris is the capital.")
    b = _example(tok, "Write a function that adds two numbers.", " def add(a, b):\n    return a + b")
    assert len(a[0]) != len(b[0])  # exercise the length alignment
    return a, b


def test_collate_aligns_lengths(tok):
    (ia, la), (ib, lb) = _pair(tok)
    batch = mixup_collate([(ia, la, ib, lb, 0.3), (ib[:4], lb[:4], ia[:2], la[:2], 1.0)], tok.pad_token_id)
    T = max(len(ia), len(ib))
    for key in ("input_ids_a", "input_ids_b", "labels_a", "labels_b", "attention_mask"):
        assert batch[key].shape == (2, T)
    assert batch["lam"].tolist() == pytest.approx([0.3, 1.0])
    assert batch["input_ids_a"][0, : len(ia)].tolist() == ia
    assert batch["input_ids_a"][0, len(ia) :].eq(tok.pad_token_id).all()
    assert batch["labels_a"][0, len(ia) :].eq(-100).all()
    assert batch["labels_b"][0, : len(lb)].tolist() == lb
    assert batch["attention_mask"][0].sum() == T  # either side real -> attended
    assert batch["attention_mask"][1].tolist() == [1] * 4 + [0] * (T - 4)
    assert batch["labels_b"][1, 2:].eq(-100).all()


@pytest.mark.parametrize("lam", [0.0, 0.27, 0.5, 0.83])
def test_mixup_loss_equals_weighted_ce(tok, model, lam):
    """Exact check against the model's own (transformers) loss on the mixed embeddings, per side."""
    (ia, la), (ib, lb) = _pair(tok)
    batch = mixup_collate([(ia, la, ib, lb, lam)], tok.pad_token_id)
    with torch.no_grad():
        E = model.get_input_embeddings().weight
        H = lam * E[batch["input_ids_a"]] + (1 - lam) * E[batch["input_ids_b"]]
        ce_a = model(inputs_embeds=H, attention_mask=batch["attention_mask"], labels=batch["labels_a"]).loss
        ce_b = model(inputs_embeds=H, attention_mask=batch["attention_mask"], labels=batch["labels_b"]).loss
        got = mixup_loss(model, batch)
    expected = lam * ce_a + (1 - lam) * ce_b
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    assert ce_a.item() != pytest.approx(ce_b.item(), abs=1e-3)  # the two sides really differ


def test_lam_one_is_plain_loss_on_a_and_zero_on_b(tok, model):
    (ia, la), (ib, lb) = _pair(tok)
    with torch.no_grad():
        plain_a = model(input_ids=torch.tensor([ia]), labels=torch.tensor([la])).loss
        plain_b = model(input_ids=torch.tensor([ib]), labels=torch.tensor([lb])).loss
        one = mixup_loss(model, mixup_collate([(ia, la, ib, lb, 1.0)], tok.pad_token_id))
        zero = mixup_loss(model, mixup_collate([(ia, la, ib, lb, 0.0)], tok.pad_token_id))
        ours_a = plain_loss(model, torch.tensor([ia]), torch.tensor([la]))
    torch.testing.assert_close(one, plain_a, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(zero, plain_b, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours_a, plain_a, rtol=1e-6, atol=1e-6)


def test_lam_one_batch_is_plain_batch_loss(tok, model):
    """A whole batch at lam=1 gives transformers' token-mean loss over the padded a batch."""
    (ia, la), (ib, lb) = _pair(tok)
    c = _example(tok, "Explain recursion to a child.", " A list of ideas.")
    exs = [(ia, la, ib, lb, 1.0), (c[0], c[1], ia, la, 1.0)]
    batch = mixup_collate(exs, tok.pad_token_id)
    T = batch["input_ids_a"].shape[1]
    ids = torch.full((2, T), tok.pad_token_id)
    labels = torch.full((2, T), -100)
    mask = torch.zeros((2, T), dtype=torch.long)
    for i, (x, y) in enumerate([(ia, la), (c[0], c[1])]):
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
    with torch.no_grad():
        plain = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        got = mixup_loss(model, batch)
    torch.testing.assert_close(got, plain, rtol=1e-5, atol=1e-6)


def test_lam_one_is_the_trainers_plain_loss(tok, model):
    """The trainer's own plain loss (engine.training: padded collate + token_losses) on the a samples."""
    from engine.training import Example, collate_rows, token_losses

    (ia, la), (ib, lb) = _pair(tok)
    c = _example(tok, "Explain recursion to a child.", " A list of ideas.")
    exs = [Example(ia, la, "math"), Example(c[0], c[1], "code")]
    plain = collate_rows(exs, [[0], [1]], tok.pad_token_id, packed=False)
    plain.pop("n_tokens")
    with torch.no_grad():
        want = token_losses(model, plain)
        got = mixup_loss(model, mixup_collate([(ia, la, ib, lb, 1.0), (c[0], c[1], ia, la, 1.0)], tok.pad_token_id))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_per_example_lambdas_weight_token_sums(tok, model):
    (ia, la), (ib, lb) = _pair(tok)
    lams = [0.2, 0.9]
    exs = [(ia, la, ib, lb, lams[0]), (ib, lb, ia, la, lams[1])]
    batch = mixup_collate(exs, tok.pad_token_id)
    with torch.no_grad():
        terms = mixup_terms(model, batch)
        sa = sb = 0.0
        na = nb = 0
        for xa, ya, xb, yb, lam in exs:  # each example alone
            one = mixup_collate([(xa, ya, xb, yb, lam)], tok.pad_token_id)
            H = mixed_embeddings(model, one)
            n_a = sum(v != -100 for v in ya[1:])
            n_b = sum(v != -100 for v in yb[1:])
            sa += lam * model(inputs_embeds=H, attention_mask=one["attention_mask"], labels=one["labels_a"]).loss * n_a
            sb += (
                (1 - lam)
                * model(inputs_embeds=H, attention_mask=one["attention_mask"], labels=one["labels_b"]).loss
                * n_b
            )
            na, nb = na + n_a, nb + n_b
    assert (terms.n_a, terms.n_b) == (na, nb)
    torch.testing.assert_close(terms.loss, sa / na + sb / nb, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_gradient_reaches_both_sides_embeddings(tok):
    m = tiny_gpt2(tok)
    (ia, la), (ib, lb) = _pair(tok)
    only_a = sorted(set(ia) - set(ib))[0]
    only_b = sorted(set(ib) - set(ia))[0]
    loss = mixup_loss(m, mixup_collate([(ia, la, ib, lb, 0.6)], tok.pad_token_id))
    assert torch.isfinite(loss)
    loss.backward()
    g = m.get_input_embeddings().weight.grad
    assert g[only_a].abs().sum() > 0 and g[only_b].abs().sum() > 0


def test_bad_examples_are_named(tok):
    (ia, la), (ib, lb) = _pair(tok)
    with pytest.raises(MixupError, match="lam must be in"):
        mixup_collate([(ia, la, ib, lb, 1.5)], 0)
    with pytest.raises(MixupError, match="example 0: ids_a has"):
        mixup_collate([(ia, la[:-1], ib, lb, 0.5)], 0)
    with pytest.raises(MixupError, match="at least one example"):
        mixup_collate([], 0)
    with pytest.raises(MixupError, match="no label positions"):
        mixup_loss(tiny_llama(tok), mixup_collate([(ia, [-100] * len(ia), ib, [-100] * len(ib), 0.5)], 0))


# -- end to end: a mixture with normal samples plus an interpolation set, trained by the real trainer ----------


@pytest.mark.slow
def test_mixture_with_an_interpolation_set_trains_in_the_worker(tmp_path):
    """Two runs through `engine.training.runs` + the worker subprocess on a tiny chat llama; their mixtures hold the same
    samples and the same pairs (index pairing) with different lambdas (alpha 0.5 vs 5). The losses agree exactly
    before the first mixup micro-batch and differ at it: the mixup records were trained with their lam."""
    import json
    import math
    import time
    from pathlib import Path

    from engine import mixtures as mx
    from engine.core.store import Store
    from engine.data.ingest import import_file
    from engine.synthesis.interpolation import create_set, pairs
    from engine.training import TrainSettings, build_plan, read_records, tokenize_records
    from engine.training import runs as R
    from tests.tiny_lm import tiny_chat_model

    model_dir = tiny_chat_model(tmp_path / "model")
    train = dict(
        lr=1e-2,
        batch_size=4,
        max_len=96,
        eval_every=0,
        save_every=0,
        grad_conflict_every=0,
        warmup_ratio=0.0,
        max_steps=6,
        packing="grouped",
    )
    with Store(tmp_path / "wb.duckdb") as st:
        for dom, q, a in (
            ("math", "Tom has {i} apples and buys 5 more.", "3 + 5 = 8, so {i}"),
            ("code", "Write a function number {i} that adds two numbers.", "def add(a, b): return a + b"),
        ):
            p = tmp_path / f"{dom}.jsonl"
            p.write_text(
                "".join(
                    json.dumps({"instruction": q.format(i=i), "input": "", "output": a.format(i=i)}) + "\n"
                    for i in range(8)
                )
            )
            import_file(st, p, pool=dom, domain=dom)
        create_set(st, "mc", "domain:math", "domain:code", alpha=0.5, n_pairs=8, pairing="index", seed=0)
        create_set(st, "mc5", "domain:math", "domain:code", alpha=5.0, n_pairs=8, pairing="index", seed=0)
        p1, p5 = pairs(st, "mc"), pairs(st, "mc5")
        assert [(p.sample_a, p.sample_b) for p in p1] == [(p.sample_a, p.sample_b) for p in p5]
        assert all(abs(x.lam - y.lam) > 1e-3 for x, y in zip(p1, p5))
        runs = []
        for name, sset in (("m05", "mc"), ("m5", "mc5")):
            mx.save(
                st,
                name,
                mx.Recipe(
                    [
                        mx.Component("math", "domain", "math"),
                        mx.Component("code", "domain", "code"),
                        mx.Component(sset, "interpolation", sset),
                    ],
                    {"math": 1, "code": 1, "mixup": 1},
                    budget=24,
                ),
            )
            runs.append(
                R.create_run(st, name, base_model=str(model_dir), lora={"target_modules": "all-linear"}, train=train)
            )
        lines = [json.loads(x) for x in (Path(runs[0].folder) / "data.jsonl").read_text().splitlines()]
        mix = [r for r in lines if r["kind"] == "mixup"]
        assert len(lines) == 24 and len(mix) == 8
        assert sorted(r["lam"] for r in mix) == pytest.approx(sorted(p.lam for p in p1))
        end = time.monotonic() + 150
        while not all(R.get_run(st, r.id).status in ("done", "failed") for r in runs):
            R.tick(st)
            assert time.monotonic() < end, [(r.id, R.get_run(st, r.id).status) for r in runs]
            time.sleep(0.3)
        R.tick(st)
        done = [R.get_run(st, r.id) for r in runs]
        assert [r.status for r in done] == ["done", "done"], [r.error for r in done]
        losses = [dict((s, v) for s, _n, v in R.run_metrics(st, r.id, "loss")) for r in done]
    assert all(len(x) == 6 and all(math.isfinite(v) and v > 0 for v in x.values()) for x in losses)
    log = (Path(done[0].folder) / "log.txt").read_text()
    assert "24 records -> 24 examples" in log
    # where the plan puts the first mixup micro-batch (the plan depends only on the examples and settings)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    s = TrainSettings(**train)
    ex, _ = tokenize_records(tok, read_records(Path(done[0].folder)), s.max_len)
    plan, _phase, _total = build_plan(ex, "multi_task", None, s)
    first = next(i for i, (kind, _rows) in enumerate(plan) if kind == "mixup") + 1  # its step
    assert first <= 6, "no mixup micro-batch in the 6 trained steps"
    for step in range(1, first):
        assert losses[0][step] == pytest.approx(losses[1][step], abs=1e-6)
    assert abs(losses[0][first] - losses[1][first]) > 1e-4
