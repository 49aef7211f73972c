"""Child-process entry point of a scoring job: `python -m engine.quality.worker JOBDIR`.

Writes only to its job folder (chunks, progress.json, log.txt); never opens the DuckDB store.
SIGTERM/SIGINT cancel at the next batch; a kill -9 loses at most the chunk in flight.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from engine.core.jobs import Cancelled, CancelToken
from engine.quality.scoring import run_job


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m engine.quality.worker JOBDIR", file=sys.stderr)
        return 2
    cancel = CancelToken()
    signal.signal(signal.SIGTERM, lambda *_: cancel.cancel())
    signal.signal(signal.SIGINT, lambda *_: cancel.cancel())
    try:
        run_job(Path(argv[0]), cancel=cancel)
    except Cancelled:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
