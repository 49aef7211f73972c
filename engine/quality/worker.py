"""Child-process entry point of a scoring job: `python -m engine.quality.worker JOBDIR`.

Writes only to its job folder (chunks, progress.json, log.txt); never opens the DuckDB store.
SIGTERM/SIGINT or a `cancel` file cancel at the next batch; a kill -9 loses at most the chunk in flight.
"""

from __future__ import annotations

import sys

from engine.core.jobs import worker_main
from engine.quality.scoring import run_job


def main(argv: list[str] | None = None) -> int:
    return worker_main(
        "python -m engine.quality.worker JOBDIR", argv, lambda folders, cancel: run_job(folders[0], cancel=cancel)
    )


if __name__ == "__main__":
    sys.exit(main())
