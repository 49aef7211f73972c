"""The DuckDB store: one file, a schema version table and forward migrations.

The app process is the one writer. Threads (Textual workers) use `Store.cursor()`, never the shared
connection. Sample ids come from `next_ids` and never change once assigned.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from engine.core.errors import StoreError  # noqa: F401  (a store-level failure meant for the user)


def check_store_file(path: str | Path) -> None:
    """StoreError unless the existing file `path` is a DuckDB database. DuckDB opens an existing .json, .csv or
    .parquet file as an in-memory database with a view of it: work done "in the store" there would be lost at
    exit, reported as a success."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise StoreError(f"cannot open store {path}: {e.strerror or e}") from e
    if head[8:12] != b"DUCK":
        raise StoreError(
            f"cannot open store {path}: not a DuckDB database file (to read data from this file, import it)"
        )


RECLAIM_MIN_BYTES = 8 << 20  # file space past the store's last block worth handing back to the file system


@dataclass(frozen=True)
class Migration:
    """One forward step of the schema: `version` is what the store is at after it ran."""

    version: int
    description: str
    statements: Sequence[str] | Callable[[duckdb.DuckDBPyConnection], None]


# Version 1: the whole foundation schema. Later capabilities add migrations at the end; never edit one
# that has shipped.
_V1 = [
    """CREATE TABLE pools (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        domain VARCHAR NOT NULL DEFAULT 'general',
        format VARCHAR,
        source VARCHAR,
        description VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        meta JSON
    )""",
    """CREATE TABLE imports (
        id INTEGER NOT NULL,
        pool_id INTEGER NOT NULL,
        path VARCHAR NOT NULL,
        format VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        finished_at TIMESTAMP,
        n_records BIGINT,
        n_inserted BIGINT,
        n_duplicates BIGINT,
        n_invalid BIGINT,
        report JSON
    )""",
    # One row per stored sample. messages is canonical OpenAI-style JSON; instruction/response are the
    # first user turn and the last assistant turn, kept for display and search.
    """CREATE TABLE samples (
        id BIGINT NOT NULL,
        pool_id INTEGER NOT NULL,
        import_id INTEGER,
        source_file VARCHAR,
        record_index BIGINT,
        source_line BIGINT,
        messages JSON NOT NULL,
        system VARCHAR,
        tools JSON,
        instruction VARCHAR,
        response VARCHAR,
        n_turns INTEGER,
        domain VARCHAR NOT NULL,
        domain_source VARCHAR NOT NULL DEFAULT 'pool',
        content_hash VARCHAR NOT NULL,
        n_chars INTEGER,
        n_tokens INTEGER,
        excluded BOOLEAN NOT NULL DEFAULT false,
        meta JSON
    )""",
    # Tags live beside samples so that tagging never rewrites sample rows.
    """CREATE TABLE sample_tags (
        sample_id BIGINT NOT NULL,
        tag VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    """CREATE TABLE domain_rules (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        expression VARCHAR NOT NULL,
        domain VARCHAR,
        tag VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    # Long-format scores; NULL value + reason when a score could not be computed.
    """CREATE TABLE metrics (
        metric VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        params_hash VARCHAR NOT NULL,
        params JSON,
        definition VARCHAR,
        version VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    """CREATE TABLE scores (
        sample_id BIGINT NOT NULL,
        metric VARCHAR NOT NULL,
        model VARCHAR NOT NULL DEFAULT '',
        params_hash VARCHAR NOT NULL DEFAULT '',
        value DOUBLE,
        reason VARCHAR,
        version VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    """CREATE TABLE embeddings (
        sample_id BIGINT NOT NULL,
        model VARCHAR NOT NULL,
        text_kind VARCHAR NOT NULL,
        text_hash VARCHAR NOT NULL,
        vector FLOAT[],
        parquet_path VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    """CREATE TABLE clusterings (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        embedding_model VARCHAR,
        text_kind VARCHAR,
        params JSON,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        artefact_path VARCHAR
    )""",
    """CREATE TABLE cluster_assignments (
        clustering_id INTEGER NOT NULL,
        sample_id BIGINT NOT NULL,
        cluster INTEGER NOT NULL,
        probability DOUBLE,
        outlier_score DOUBLE,
        x DOUBLE,
        y DOUBLE
    )""",
    """CREATE TABLE mixtures (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        recipe JSON NOT NULL,
        content_hash VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        note VARCHAR
    )""",
    """CREATE TABLE runs (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        mixture_id INTEGER,
        protocol VARCHAR,
        status VARCHAR NOT NULL DEFAULT 'queued',
        folder VARCHAR,
        config JSON,
        content_hash VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        started_at TIMESTAMP,
        finished_at TIMESTAMP
    )""",
    """CREATE TABLE run_metrics (
        run_id INTEGER NOT NULL,
        step BIGINT,
        name VARCHAR NOT NULL,
        value DOUBLE,
        ts TIMESTAMP
    )""",
    """CREATE TABLE evaluations (
        id INTEGER NOT NULL,
        run_id INTEGER,
        eval_set VARCHAR NOT NULL,
        domain VARCHAR,
        metric VARCHAR NOT NULL,
        value DOUBLE,
        n BIGINT,
        details JSON,
        content_hash VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
    """CREATE TABLE jobs (
        id INTEGER NOT NULL,
        kind VARCHAR NOT NULL,
        spec JSON,
        key VARCHAR,
        state VARCHAR NOT NULL DEFAULT 'queued',
        done BIGINT DEFAULT 0,
        total BIGINT,
        error VARCHAR,
        folder VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        finished_at TIMESTAMP
    )""",
]

# Version 2: saved selections (SuperFiltering top-k, later diversity selections), each item with why it
# was picked.
_V2 = [
    """CREATE TABLE selections (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        params JSON,
        content_hash VARCHAR NOT NULL,
        n BIGINT NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        note VARCHAR
    )""",
    """CREATE TABLE selection_items (
        selection_id INTEGER NOT NULL,
        sample_id BIGINT NOT NULL,
        rank INTEGER,
        grp VARCHAR,
        score DOUBLE,
        why VARCHAR
    )""",
]

# Version 3: mixtures with their resolved items, runs as queued training jobs, interpolation (MDIT) sets,
# evaluation sets (pools.role) and per-item evaluation results.
_V3 = [
    # 'train' (default) or 'eval': eval pools are never drawn into mixtures.
    "ALTER TABLE pools ADD COLUMN role VARCHAR DEFAULT 'train'",
    "UPDATE pools SET role = 'train' WHERE role IS NULL",
    # One row per drawn item of a mixture version, in training order within its stage. kind 'sample' points
    # at samples.id; kind 'mixup' points at an interpolation pair (interp_set_id, pair_index).
    """CREATE TABLE mixture_items (
        mixture_id INTEGER NOT NULL,
        stage INTEGER NOT NULL DEFAULT 0,
        position BIGINT NOT NULL,
        kind VARCHAR NOT NULL DEFAULT 'sample',
        sample_id BIGINT,
        interp_set_id INTEGER,
        pair_index INTEGER,
        domain VARCHAR NOT NULL,
        component VARCHAR,
        n_tokens INTEGER
    )""",
    # runs: what was trained on what, and its place in the queue.
    "ALTER TABLE runs ADD COLUMN base_model VARCHAR",
    "ALTER TABLE runs ADD COLUMN kind VARCHAR DEFAULT 'mixture'",  # mixture | specialist | base
    "ALTER TABLE runs ADD COLUMN parent_run_id INTEGER",  # the mixture run a specialist serves
    "ALTER TABLE runs ADD COLUMN domain VARCHAR",  # a specialist's domain
    "ALTER TABLE runs ADD COLUMN queue_pos INTEGER",
    "ALTER TABLE runs ADD COLUMN pid INTEGER",
    "ALTER TABLE runs ADD COLUMN error VARCHAR",
    "ALTER TABLE runs ADD COLUMN progress JSON",  # last {step, total, loss, eta_s, ...} seen
    """CREATE TABLE interpolation_sets (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        source_a JSON NOT NULL,
        source_b JSON NOT NULL,
        alpha DOUBLE NOT NULL,
        n_pairs INTEGER NOT NULL,
        pairing VARCHAR NOT NULL,
        seed INTEGER NOT NULL,
        params JSON,
        content_hash VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        note VARCHAR
    )""",
    """CREATE TABLE interpolation_pairs (
        set_id INTEGER NOT NULL,
        pair_index INTEGER NOT NULL,
        sample_a BIGINT NOT NULL,
        sample_b BIGINT NOT NULL,
        lam DOUBLE NOT NULL,
        kept BOOLEAN NOT NULL DEFAULT true,
        cluster INTEGER,
        why VARCHAR
    )""",
    # Per-item evaluation results of one evaluations row (re-scorable without regenerating).
    """CREATE TABLE eval_items (
        evaluation_id INTEGER NOT NULL,
        run_id INTEGER,
        sample_id BIGINT NOT NULL,
        domain VARCHAR,
        scorer VARCHAR NOT NULL,
        prompt VARCHAR,
        output VARCHAR,
        extracted VARCHAR,
        correct BOOLEAN,
        score DOUBLE,
        nll DOUBLE,
        details JSON
    )""",
]

# Version 4: preference pairs (LLaMA-Factory `ranking: true`). A preference sample's messages end with the
# chosen reply (what browsing, scoring and SFT see); `rejected` holds the rejected reply as one JSON message
# ({"role": "assistant", "content": ..., optional "tool_calls"}). NULL for every other sample.
_V4 = [
    "ALTER TABLE samples ADD COLUMN rejected JSON",
]

_V5 = [
    # The last bulk action of Browse / the CLI (tag, exclude, set domain) and what its samples held before, so
    # it can be undone; each bulk action replaces what is here.
    "CREATE TABLE bulk_undo (kind VARCHAR NOT NULL, arg VARCHAR, n BIGINT NOT NULL, "
    "made_at TIMESTAMP NOT NULL DEFAULT current_timestamp)",
    "CREATE TABLE bulk_undo_items (sample_id BIGINT NOT NULL, old_domain VARCHAR, old_domain_source VARCHAR, "
    "old_excluded BOOLEAN)",
]

# Version 6: studies (engine/studies): a named grid of runs and the cells launched so far. The grid itself
# follows from template, base and axes; a cell row records what was made for it (its mixture version, its run,
# the evaluation rows read back), so a study survives restarts and an extended grid skips finished cells.
_V6 = [
    """CREATE TABLE studies (
        id INTEGER NOT NULL,
        name VARCHAR NOT NULL,
        template VARCHAR NOT NULL,
        base JSON NOT NULL,
        axes JSON NOT NULL,
        settings JSON NOT NULL,
        eval JSON NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        note VARCHAR
    )""",
    """CREATE TABLE study_cells (
        study_id INTEGER NOT NULL,
        key VARCHAR NOT NULL,
        arm VARCHAR NOT NULL,
        params JSON NOT NULL,
        mixture_id INTEGER,
        run_id INTEGER,
        evaluation_ids JSON,
        launched_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )""",
]

# Version 7: where a pool's data came from (docs/import.md): 'human', 'synthetic', 'mixed' or 'unknown' (default),
# set on import or later; a study can split its cells by it (docs/studies.md).
_V7 = [
    "ALTER TABLE pools ADD COLUMN provenance VARCHAR DEFAULT 'unknown'",
    "UPDATE pools SET provenance = 'unknown' WHERE provenance IS NULL",
]

MIGRATIONS: list[Migration] = [
    Migration(1, "foundation schema", _V1),
    Migration(2, "saved selections", _V2),
    Migration(3, "mixture items, run queue, interpolation sets, eval pools and items", _V3),
    Migration(4, "preference pairs: samples.rejected", _V4),
    Migration(5, "undo of the last bulk action", _V5),
    Migration(6, "studies: grids of runs and their launched cells", _V6),
    Migration(7, "pool provenance (human / synthetic / mixed / unknown)", _V7),
]

SCHEMA_VERSION = MIGRATIONS[-1].version


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the store (0 for an empty file)."""
    has = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'").fetchall()[
        0
    ][0]
    if not has:
        return 0
    v = con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]
    return int(v or 0)


def migrate(con: duckdb.DuckDBPyConnection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every migration newer than the store's version, each in its own transaction."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, description VARCHAR,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    have = current_version(con)
    newest = migrations[-1].version if migrations else 0
    if have > newest:
        raise StoreError(
            f"the store is at schema version {have}, newer than this Workbench knows ({newest}); upgrade Workbench"
        )
    for m in migrations:
        if m.version <= have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            if callable(m.statements):
                m.statements(con)
            else:
                for stmt in m.statements:
                    con.execute(stmt)
            con.execute("INSERT INTO schema_version (version, description) VALUES (?, ?)", [m.version, m.description])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        have = m.version
    return have


class Store:
    """An open Workbench store: a DuckDB connection plus small helpers."""

    def __init__(self, path: str | Path, *, read_only: bool = False, migrations: Sequence[Migration] = MIGRATIONS):
        self.path = Path(path) if str(path) != ":memory:" else None
        if self.path is not None:
            if self.path.is_file() and self.path.stat().st_size:
                check_store_file(self.path)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as e:  # lock held by another process, unreadable file…
            raise StoreError(f"cannot open store {path}: {e}") from e
        self._lock = threading.RLock()
        self._files_dir: Path | None = None
        if not read_only:
            migrate(self.con, migrations)
            self.reclaim_space()  # what an import killed in an earlier session left in the file
        elif current_version(self.con) > (migrations[-1].version if migrations else 0):
            raise StoreError(f"store {path} has a newer schema than this Workbench knows")

    def reclaim_space(self) -> int:
        """Hand back the file space that a failed or killed import left in the store file; the bytes freed.

        DuckDB writes a large import's rows into the file before COMMIT. Rolled back or killed, those blocks are
        free (or past the last block the file's header knows) but the file keeps its size, and neither CHECKPOINT
        nor VACUUM alone shrinks it: a checkpoint with nothing to write does nothing. A catalog change (a table
        created and dropped) gives it something, and it then truncates the file after its last used block. Free
        blocks in the middle of the file are reused by later writes, never returned. Best effort: called on a
        read-write open (for an import killed earlier) and after a failed import; a checkpoint that cannot run now
        (another connection is writing) is left to the next one. Costs one small query when there is nothing to do.
        """
        if self.path is None:
            return 0
        self._drop_stale_temp_files()
        try:
            size = os.path.getsize(self.path)
            with self.write_lock:
                con = self.cursor()
                try:
                    block, total, free = con.execute(
                        "SELECT block_size, total_blocks, free_blocks FROM pragma_database_size() "
                        "WHERE database_name = current_database()"
                    ).fetchall()[0]
                    past_end = size - (total + 1) * block  # the header takes some KB before the first block
                    if past_end < RECLAIM_MIN_BYTES and free * block < RECLAIM_MIN_BYTES:
                        return 0
                    name = f"wb_reclaim_{os.getpid()}_{threading.get_ident()}"
                    con.execute(f"CREATE TABLE IF NOT EXISTS {name} (i INTEGER)")
                    con.execute(f"DROP TABLE {name}")
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
            return max(size - os.path.getsize(self.path), 0)
        except (duckdb.Error, OSError):  # another writer, a store that cannot be written: nothing to do now
            return 0

    def _drop_stale_temp_files(self) -> None:
        """Remove what a killed process left in DuckDB's folder for spilled data (`<store>.tmp`: an import spills
        under its memory limit). DuckDB removes its files at a clean exit only; they are named after the process
        (duckdb_temp_<pid>_...), and those of a process that is gone are dropped."""
        try:
            folder = Path(self.fetchall("SELECT current_setting('temp_directory')")[0][0] or "")
            if not folder.name or not folder.is_dir():
                return
            for f in folder.glob("duckdb_temp_*"):
                pid = f.name.split("_")[2]
                if not pid.isdigit() or int(pid) == os.getpid():
                    continue
                try:
                    os.kill(int(pid), 0)
                    continue  # alive (or another user's): not ours to remove
                except ProcessLookupError:
                    f.unlink(missing_ok=True)
                except OSError:
                    continue
            if not any(folder.iterdir()):
                folder.rmdir()
        except (duckdb.Error, OSError):  # best effort, like reclaim_space
            pass

    @property
    def files_dir(self) -> Path:
        """The folder of every file this store writes besides its .duckdb/.wal (jobs/, embeddings/, clusterings/,
        runs/): `<file name>.d` beside the file, its alone (engine.core.paths); a private temporary folder for
        an in-memory store. Not created here."""
        if self._files_dir is None:
            from engine.core.paths import files_dir_for

            self._files_dir = (
                files_dir_for(self.path) if self.path is not None else Path(tempfile.mkdtemp(prefix="workbench-mem-"))
            )
        return self._files_dir

    # -- connections -------------------------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for the calling thread (DuckDB cursors are per-thread connections to the same db)."""
        return self.con.cursor()

    def fetchall(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        """The rows of one read query, on a fresh cursor that is closed afterwards."""
        con = self.cursor()
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    @property
    def write_lock(self) -> threading.RLock:
        """Serialises multi-statement writes from several threads of the app process."""
        return self._lock

    @contextmanager
    def transaction(self):
        """`with store.transaction() as con:` a fresh cursor inside BEGIN/COMMIT (ROLLBACK on any error),
        holding the app's write lock; the cursor is closed afterwards."""
        with self._lock:
            con = self.cursor()
            try:
                con.execute("BEGIN TRANSACTION")
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                con.close()

    def close(self) -> None:
        """Close the store (checkpointing the WAL into the file)."""
        try:
            self.con.execute("CHECKPOINT")
        except duckdb.Error:
            pass
        self.con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------------
    def version(self) -> int:
        """The schema version of this store."""
        return current_version(self.con)

    def next_id(self, table: str, con: duckdb.DuckDBPyConnection | None = None) -> int:
        """Next integer id for a table with an `id` column (the app is the single writer)."""
        if table not in _ID_TABLES:
            raise ValueError(f"no id column on {table}")
        c = con or self.con
        return int(c.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchall()[0][0])


_ID_TABLES = {
    "selections",
    "interpolation_sets",
    "pools",
    "imports",
    "samples",
    "domain_rules",
    "clusterings",
    "mixtures",
    "runs",
    "evaluations",
    "jobs",
    "studies",
}


def open_store(path: str | Path, *, read_only: bool = False) -> Store:
    """Open (creating and migrating when needed) the store at `path`."""
    return Store(path, read_only=read_only)
