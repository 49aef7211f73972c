"""Child process for the embedding-layer features of the MDIT diversity step: `python -m engine.synthesis.worker DIR`.

The app writes DIR/request.json ({"model": spec}) and DIR/texts.jsonl ({"id", "text"} per line) with
`prepare`; the worker loads the model (torch stays out of the app process), writes DIR/ids.npy and
DIR/features.npy (mean-pooled input embeddings, engine.synthesis.interpolation.embedding_layer_features' rule), and
DIR/status.json ({"state": "loading"|"running"|"done"|"failed"|"cancelled", "done", "total", "error"}).
It never opens the DuckDB store. SIGTERM cancels.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _status(folder: Path, **kw) -> None:
    tmp = folder / "status.json.tmp"
    tmp.write_text(json.dumps(kw))
    os.replace(tmp, folder / "status.json")


def prepare(store, ref, folder: Path, *, model: str | None = None) -> int:
    """Write the request and the texts of the set's originals (engine.synthesis.interpolation.originals) into `folder`;
    returns the number of texts."""
    from engine.synthesis.interpolation import _texts, originals

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for f in ("ids.npy", "features.npy", "status.json"):
        (folder / f).unlink(missing_ok=True)
    ids = originals(store, ref)
    texts = _texts(store, ids.tolist())
    with open(folder / "texts.jsonl", "w", encoding="utf-8") as f:
        for i in ids.tolist():
            f.write(json.dumps({"id": int(i), "text": texts.get(int(i), "")}, ensure_ascii=False) + "\n")
    (folder / "request.json").write_text(json.dumps({"model": model, "created": time.time()}))
    return int(len(ids))


def start(folder: Path) -> subprocess.Popen:
    """Start the worker on a prepared folder (no shell; stderr into DIR/worker.stderr)."""
    folder = Path(folder)
    err = open(folder / "worker.stderr", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "engine.synthesis.worker", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=err,
        start_new_session=True,
        cwd=str(Path(__file__).resolve().parent.parent),
    )


def read_status(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def load_result(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ids, features) written by a finished worker."""
    folder = Path(folder)
    st = read_status(folder)
    if st.get("state") != "done":
        raise RuntimeError(f"feature worker did not finish: {st.get('error') or st.get('state') or 'no status'}")
    return np.load(folder / "ids.npy"), np.load(folder / "features.npy")


def run(folder: Path, cancel=None) -> None:
    from engine.core.models import load_causal_lm
    from engine.synthesis.interpolation import mean_pooled

    folder = Path(folder)
    req = json.loads((folder / "request.json").read_text())
    rows = [json.loads(x) for x in (folder / "texts.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    _status(folder, state="loading", done=0, total=len(rows))
    lm, tok, _src = load_causal_lm(req.get("model"), device="cpu")
    W = lm.get_input_embeddings().weight.detach().float().cpu().numpy()
    out = np.zeros((len(rows), W.shape[1]), dtype=np.float32)
    step = 256
    for n in range(0, len(rows), step):
        if cancel is not None and cancel.cancelled:
            _status(folder, state="cancelled", done=n, total=len(rows))
            return
        out[n : n + step] = mean_pooled(W, tok, [r["text"] for r in rows[n : n + step]])
        _status(folder, state="running", done=min(n + step, len(rows)), total=len(rows))
    np.save(folder / "ids.npy", np.array([r["id"] for r in rows], dtype=np.int64))
    np.save(folder / "features.npy", out)
    _status(folder, state="done", done=len(rows), total=len(rows))


def main(argv: list[str] | None = None) -> int:
    from engine.core.jobs import CancelToken

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m engine.synthesis.worker DIR", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    cancel = CancelToken()
    signal.signal(signal.SIGTERM, lambda *_: cancel.cancel())
    try:
        run(folder, cancel)
    except Exception as e:  # noqa: BLE001 - reported to the app through status.json
        _status(folder, state="failed", error=f"{type(e).__name__}: {e}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
