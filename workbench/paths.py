"""Where Workbench keeps its files (XDG conventions, overridable by env vars and flags)."""

from __future__ import annotations

import os
from pathlib import Path

from engine.core.paths import HOME_ENV, data_dir  # noqa: F401  (the engine owns the data folder convention)

DB_ENV = "WORKBENCH_DB"


def config_dir() -> Path:
    """Folder for user config (keymap.toml): $XDG_CONFIG_HOME/workbench."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "workbench"


def default_db_path() -> Path:
    """The DuckDB file: $WORKBENCH_DB, else <data_dir>/workbench.duckdb."""
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV]).expanduser()
    return data_dir() / "workbench.duckdb"


def resolve_db_path(cli_value: str | os.PathLike | None) -> Path:
    """`--db PATH` wins over the environment, which wins over the XDG default."""
    return Path(cli_value).expanduser() if cli_value else default_db_path()


def sample_data_dir() -> Path:
    """The bundled sample data folder (next to the packages in a source checkout)."""
    return Path(__file__).resolve().parent.parent / "sample_data"
