"""Child process for the embedding-layer features of the MDIT diversity step: `python -m engine.synthesis.worker DIR`.

The app writes DIR/request.json ({"model": spec, "store": the store's id}) and DIR/texts.jsonl ({"id", "text"} per line) with
`prepare`; the worker loads the model (torch stays out of the app process), writes DIR/ids.npy and
DIR/features.npy (mean-pooled input embeddings, engine.synthesis.interpolation.embedding_layer_features' rule),
and DIR/status.json ({"state": "loading"|"running"|"done"|"failed"|"cancelled", "done", "total", "error"}).
DIR is `features_folder(store, set name)`, in the store's own files folder. It never opens the DuckDB store. SIGTERM or a `cancel` file cancel. The job life cycle is engine.core.jobs'.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.core.jobs import JobFolder, read_jsonl, spawn, worker_main
from engine.core.paths import store_files, store_id

if TYPE_CHECKING:
    from engine.core.store import Store

WORKER = "engine.synthesis.worker"


def features_folder(store: Store, ref) -> Path:
    """The job folder of the feature worker for interpolation set `ref`: `jobs/interp-features-<ref>` in the
    store's own files folder."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(ref)) or "set"
    return store_files(store) / "jobs" / f"interp-features-{safe}"


def prepare(store: Store, ref, folder: Path | None = None, *, model: str | None = None) -> int:
    """Write the request and the texts of the set's originals (engine.synthesis.interpolation.originals) into
    `folder` (default `features_folder`; a folder of another store is refused, engine.core.jobs.JobFolder.claim);
    returns the number of texts."""
    from engine.synthesis.interpolation.features import _texts, originals

    job = JobFolder(folder if folder is not None else features_folder(store, ref))
    job.claim(store, manifest="request.json", chunks=False)
    job.clear("ids.npy", "features.npy", "status.json", "cancel")
    ids = originals(store, ref)
    texts = _texts(store, ids.tolist())
    job.write_input(({"id": int(i), "text": texts.get(int(i), "")} for i in ids.tolist()), name="texts.jsonl")
    job.write_spec({"model": model, "store": store_id(store), "created": time.time()}, name="request.json", indent=None)
    return int(len(ids))


def start(folder: Path) -> subprocess.Popen:
    """Start the worker on a prepared folder (no shell; stderr into DIR/worker.stderr)."""
    return spawn(WORKER, folder)


def read_status(folder: Path) -> dict:
    """The worker's last status report ({} before the first)."""
    return JobFolder(folder).read_status()


def load_result(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ids, features) written by a finished worker."""
    folder = Path(folder)
    st = read_status(folder)
    if st.get("state") != "done":
        raise RuntimeError(f"feature worker did not finish: {st.get('error') or st.get('state') or 'no status'}")
    return np.load(folder / "ids.npy"), np.load(folder / "features.npy")


def run(folder: Path, cancel=None) -> None:
    """Compute the features of a prepared folder (in this process)."""
    from engine.core.models import load_causal_lm
    from engine.synthesis.interpolation import mean_pooled

    job = JobFolder(folder)
    req = job.read_spec("request.json")
    rows = read_jsonl(job.file("texts.jsonl"))
    job.write_status(state="loading", done=0, total=len(rows))
    lm, tok, _src = load_causal_lm(req.get("model"), device="cpu")
    W = lm.get_input_embeddings().weight.detach().float().cpu().numpy()
    out = np.zeros((len(rows), W.shape[1]), dtype=np.float32)
    step = 256
    for n in range(0, len(rows), step):
        if cancel is not None and cancel.cancelled:
            job.write_status(state="cancelled", done=n, total=len(rows))
            return
        out[n : n + step] = mean_pooled(W, tok, [r["text"] for r in rows[n : n + step]])
        job.write_status(state="running", done=min(n + step, len(rows)), total=len(rows))
    np.save(job.file("ids.npy"), np.array([r["id"] for r in rows], dtype=np.int64))
    np.save(job.file("features.npy"), out)
    job.write_status(state="done", done=len(rows), total=len(rows))


def _work(folders: list[Path], cancel) -> None:
    try:
        run(folders[0], cancel)
    except Exception as e:  # noqa: BLE001 - reported to the app through status.json
        JobFolder(folders[0]).write_status(state="failed", error=f"{type(e).__name__}: {e}")
        raise


def main(argv: list[str] | None = None) -> int:
    return worker_main("python -m engine.synthesis.worker DIR", argv, _work)


if __name__ == "__main__":
    sys.exit(main())
