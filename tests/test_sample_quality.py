"""On the bundled sample data, deliberately weak samples rank visibly worse with the real SmolLM2 IFD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from engine.core.models import ModelError, load_causal_lm  # noqa: E402
from engine.core.store import Store  # noqa: E402
from engine.data.ingest import import_file  # noqa: E402
from engine.quality.ifd import IFDParams, score_items  # noqa: E402
from engine.quality.scoring import item_from_row  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "sample_data"


@pytest.mark.slow
def test_unrelated_answers_have_higher_ifd(tmp_path):
    try:
        model, tok, _ = load_causal_lm("smollm2", device="cpu")
    except ModelError as e:
        pytest.skip(str(e))
    manifest = json.loads((SAMPLE / "weak_manifest.json").read_text())["files"]
    s = Store(tmp_path / "s.duckdb")
    weak, clean = [], []
    for name in ("pools/general.jsonl", "pools/math.jsonl"):
        r = import_file(s, SAMPLE / name, pool=Path(name).stem, domain="general")
        flagged = {e["index"]: e["kind"] for e in manifest[name]}
        rows = s.con.execute(
            "SELECT id, record_index, messages, meta FROM samples WHERE import_id = ? ORDER BY record_index",
            [r.import_id],
        ).fetchall()
        unrelated = [row for row in rows if flagged.get(row[1]) == "unrelated_answer"]
        ok = [row for row in rows if row[1] not in flagged][: 4 * max(1, len(unrelated))]
        weak += [item_from_row(i, m, meta) for i, _, m, meta in unrelated]
        clean += [item_from_row(i, m, meta) for i, _, m, meta in ok]
    assert len(weak) >= 3
    got = {g.sample_id: g.values["ifd"] for g in score_items(model, tok, weak + clean, IFDParams())}
    w = [got[it.sample_id] for it in weak]
    c = [got[it.sample_id] for it in clean]
    mean_w, mean_c = sum(w) / len(w), sum(c) / len(c)
    # an answer about something else is barely helped by its instruction: IFD near or above 1
    assert mean_w > mean_c + 0.05, (w, c)
    print("unrelated", [round(v, 3) for v in w], "clean mean", round(mean_c, 3))
    assert min(w) > sorted(c)[len(c) // 2]  # every unrelated answer is above the clean median
    s.close()
