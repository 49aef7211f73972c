"""Integration: batched IFD equals the batch-1 reference on the real SmolLM2-135M (offline wheel)."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")

from engine.core.models import ModelError, load_causal_lm  # noqa: E402
from engine.quality.ifd import IFDParams, Item, score_items  # noqa: E402
from tests.ifd_reference import cherry_reference, superfiltering_reference  # noqa: E402

SAMPLES = [
    ("Give three tips for staying healthy.", "", "1. Eat a balanced diet. 2. Exercise regularly. 3. Sleep well."),
    ("What is the capital of France?", "", "The capital of France is Paris."),
    ("Translate to French.", "Good morning, friend.", "Bonjour, mon ami."),
    ("Write a Python function that squares a number.", "", "def square(x):\n    return x * x"),
    ("Tom has 3 apples and buys 5 more. How many apples does he have?", "", "He has 3 + 5 = 8 apples.\n#### 8"),
    ("What is the capital of France?", "", "Bananas are rich in potassium and grow in tropical climates."),
]


@pytest.mark.slow
def test_smollm2_batched_equals_reference():
    try:
        model, tok, src = load_causal_lm("smollm2", device="cpu")
    except ModelError as e:
        pytest.skip(str(e))
    items = [Item(k, f"{i}\n{x}\n" if x else f"{i}\n", o, i, x) for k, (i, x, o) in enumerate(SAMPLES)]
    got = score_items(model, tok, items, IFDParams(), variants=("superfiltering", "cherry"))
    for it, g in zip(items, got):
        ref = superfiltering_reference(model, tok, it.prompt, it.response, 1024)
        assert abs(g.values["ifd"] - ref["ifd"]) < 1e-4
        assert abs(g.values["ppl_cond"] - ref["ppl_cond"]) < 1e-3 * ref["ppl_cond"]
        cref = cherry_reference(model, tok, it, 512, "alpaca")
        assert not math.isnan(cref) and abs(g.values["cherry_ifd"] - cref) < 1e-4
    # the mismatched answer (last) must look worse than the matched one to the same question (second)
    assert got[5].values["ifd"] > got[1].values["ifd"]
