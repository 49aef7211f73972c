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


# -- the files of one store ----------------------------------------------------------------------------------
#
# Everything a store writes besides its own DuckDB file (and DuckDB's `.wal` / `.tmp` beside it) lives in ONE
# folder that belongs to that store alone: `<db file name>.d` next to it, e.g. /x/pools.duckdb ->
# /x/pools.duckdb.d/ holding jobs/, embeddings/, clusterings/ and runs/. The name is the whole file name plus
# ".d", so /x/a.duckdb and /x/a.db get different folders and DuckDB's own `<db>.wal` / `<db>.tmp` never clash
# with it. Two stores in one folder therefore never see each other's files.
#
# Older versions shared `jobs/`, `embeddings/`, `clusterings/` and `runs/` between every store of a folder
# (the "legacy" layout). What they recorded stays readable: a recorded relative artifact path is looked up in
# the store's own folder first and in the old shared folder second (read only); absolute run folders are used
# as recorded. Nothing in the shared folders is ever moved or deleted (another store may own it).

FILES_SUFFIX = ".d"


def files_dir_for(db_path: str | os.PathLike) -> Path:
    """The files folder of the store file `db_path`: `<name>.d` beside it (absolute, symlinks resolved, so two
    paths to one store file name one folder)."""
    p = Path(db_path).expanduser().resolve()
    return p.with_name(p.name + FILES_SUFFIX)


def store_files(store) -> Path:
    """The one folder of everything `store` writes besides its .duckdb/.wal (see `files_dir_for`); an
    in-memory store gets a private temporary folder. Not created here: writers create what they need."""
    return store.files_dir


def store_id(store) -> str:
    """Which store a job manifest belongs to: the store file's absolute path (symlinks resolved)."""
    if store.path is None:
        return f"memory:{store.files_dir}"
    return str(Path(store.path).expanduser().resolve())


def legacy_dir(store) -> Path | None:
    """The folder older versions shared between every store in it (the store file's folder); None in memory."""
    return Path(store.path).expanduser().parent if store.path is not None else None


def is_own(store, path: str | os.PathLike) -> bool:
    """Is `path` inside the store's own files folder (the only place cleanup may delete anything)?"""
    own = store_files(store).resolve()
    p = Path(path).resolve()
    return p == own or own in p.parents


def resolve_artifact(store, recorded: str | os.PathLike) -> Path:
    """The file of a recorded artifact path (embeddings.parquet_path, clusterings.artefact_path): an absolute
    path as recorded; a relative one under the store's own folder when it is there, else under the folder older
    versions shared (read only: it may belong to another store), else (missing everywhere) under its own folder."""
    rec = Path(recorded)
    if rec.is_absolute():
        return rec
    own = store_files(store) / rec
    if own.exists():
        return own
    old = legacy_dir(store)
    if old is not None and (old / rec).exists():
        return old / rec
    return own
