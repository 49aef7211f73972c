"""Store: schema creation, forward migrations, version guard, reopen."""

from __future__ import annotations

import duckdb
import pytest

from engine.core.store import MIGRATIONS, SCHEMA_VERSION, Migration, Store, StoreError, current_version, migrate


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def test_new_store_has_all_tables_and_version(tmp_path):
    with Store(tmp_path / "s.duckdb") as s:
        assert s.version() == SCHEMA_VERSION
        names = _tables(s.con)
    for t in [
        "pools",
        "imports",
        "samples",
        "sample_tags",
        "scores",
        "metrics",
        "embeddings",
        "clusterings",
        "cluster_assignments",
        "mixtures",
        "runs",
        "run_metrics",
        "evaluations",
        "jobs",
        "schema_version",
    ]:
        assert t in names, t


def test_reopen_keeps_data_and_does_not_rerun_migrations(tmp_path):
    p = tmp_path / "s.duckdb"
    with Store(p) as s:
        s.con.execute("INSERT INTO pools (id, name) VALUES (1, 'keep')")
    with Store(p) as s:
        assert s.con.execute("SELECT name FROM pools").fetchall() == [("keep",)]
        assert s.con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


def test_forward_migration_applies_only_new_steps(tmp_path):
    p = tmp_path / "s.duckdb"
    with Store(p) as s:
        s.con.execute("INSERT INTO pools (id, name) VALUES (1, 'old')")
    extra = Migration(
        SCHEMA_VERSION + 1, "add pool colour", ["ALTER TABLE pools ADD COLUMN colour VARCHAR DEFAULT 'red'"]
    )
    with Store(p, migrations=[*MIGRATIONS, extra]) as s:
        assert s.version() == SCHEMA_VERSION + 1
        assert s.con.execute("SELECT name, colour FROM pools").fetchall() == [("old", "red")]


def test_failed_migration_rolls_back(tmp_path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    migrate(con)
    bad = Migration(SCHEMA_VERSION + 1, "broken", ["CREATE TABLE half (x INT)", "THIS IS NOT SQL"])
    with pytest.raises(duckdb.Error):
        migrate(con, [*MIGRATIONS, bad])
    assert current_version(con) == SCHEMA_VERSION
    assert "half" not in _tables(con)


def test_newer_store_is_refused(tmp_path):
    p = tmp_path / "s.duckdb"
    newer = Migration(SCHEMA_VERSION + 1, "future", ["CREATE TABLE future (x INT)"])
    Store(p, migrations=[*MIGRATIONS, newer]).close()
    with pytest.raises(StoreError, match="newer"):
        Store(p)


def test_locked_store_gives_clear_error(tmp_path):
    import subprocess
    import sys

    p = tmp_path / "s.duckdb"
    Store(p).close()
    # another process holds the write lock
    code = "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(p)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ok"
        with pytest.raises(StoreError, match="cannot open store"):
            Store(p)
    finally:
        proc.kill()
        proc.wait()


def test_a_file_that_is_no_duckdb_database_is_refused_not_opened_in_memory(tmp_path):
    """DuckDB opens a .json or .csv given as a database as a throwaway in-memory one: work done there would be
    lost at exit. The store refuses it (the app and the CLI both open through Store)."""
    p = tmp_path / "data.json"
    p.write_text('[{"instruction": "a", "output": "b"}]')
    for ro in (False, True):
        with pytest.raises(StoreError, match="not a DuckDB database file"):
            Store(p, read_only=ro)
    assert p.read_text() == '[{"instruction": "a", "output": "b"}]'
    Store(tmp_path / "real.duckdb").close()
    Store(tmp_path / "real.duckdb").close()  # a real store opens again
