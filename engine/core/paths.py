"""Where the engine keeps its files when the caller does not say: $WORKBENCH_HOME, else the XDG data folder.

The app and the CLI (workbench.paths) build on this; child processes inherit the environment, so they
agree on it without being told.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "WORKBENCH_HOME"


def data_dir() -> Path:
    """Folder for the store, run folders and cached models: $WORKBENCH_HOME, else $XDG_DATA_HOME/workbench."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "workbench"
