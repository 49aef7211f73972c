"""Child-process entry point of a scoring job: `python -m engine.quality.worker JOBDIR`.

Writes only to its job folder (chunks, progress.json, log.txt); never opens the DuckDB store.
With $WORKBENCH_RAY set (engine.core.ray_jobs.setup_env) the chunks run on Ray.
SIGTERM/SIGINT or a `cancel` file cancel at the next batch; a kill -9 loses at most the chunk in flight.
"""

from __future__ import annotations

import sys

from engine.core.hardware import set_omp_wait_policy
from engine.core.jobs import worker_main
from engine.core.ray_jobs import setup_from_env
from engine.quality.scoring import run_job


def main(argv: list[str] | None = None) -> int:
    set_omp_wait_policy()  # before torch loads: PASSIVE OpenMP waits on a busy CPU

    def run(folders, cancel):
        ray = setup_from_env()  # $WORKBENCH_RAY (the app's "runs on: Ray"): the chunks run on a Ray actor pool
        return run_job(folders[0], cancel=cancel, on="ray" if ray else "local", ray=ray)

    return worker_main("python -m engine.quality.worker JOBDIR", argv, run)


if __name__ == "__main__":
    sys.exit(main())
