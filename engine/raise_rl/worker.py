"""The RAISE policy-training worker: `python -m engine.raise_rl.worker FOLDER` trains the policy of a prepared job
folder (engine.raise_rl.job.train_policy), resuming after its last finished episode. Started and cancelled through
engine.core.jobs (spawn; the `cancel` file or SIGTERM stop it at its next step, exit 130)."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.core.errors import Cancelled
from engine.core.jobs import CancelToken, worker_main

MODULE = "engine.raise_rl.worker"


def _work(folders: list[Path], cancel: CancelToken) -> None:
    from engine.raise_rl.job import train_policy

    if train_policy(folders[0], cancel=cancel)["status"] == "cancelled":
        raise Cancelled()


def main(argv: list[str] | None = None) -> int:
    return worker_main(f"python -m {MODULE} FOLDER", argv, _work)


if __name__ == "__main__":
    sys.exit(main())
