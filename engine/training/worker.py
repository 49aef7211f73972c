"""Child-process entry point of a training run: `python -m engine.training.worker RUN_FOLDER`.

Writes only to its run folder (metrics.jsonl, status.json, log.txt, checkpoints/, adapter/); never opens the
DuckDB store. SIGTERM or a `cancel` file stop it between steps with a checkpoint; rerunning it on the same
folder resumes from the last checkpoint. Exit codes: 0 done, 130 cancelled, 1 failed (status.json says why).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m engine.training.worker RUN_FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    if not (folder / "config.json").is_file():
        print(f"{folder}: not a run folder (no config.json)", file=sys.stderr)
        return 2
    from engine.core.hardware import set_omp_wait_policy
    from engine.training import train

    set_omp_wait_policy()  # before torch loads: PASSIVE OpenMP waits on a busy CPU
    try:
        status = train(folder)
    except Exception:  # noqa: BLE001 - train() wrote status.json and the traceback to log.txt
        return 1
    return 130 if status.get("status") == "cancelled" else 0


if __name__ == "__main__":
    sys.exit(main())
