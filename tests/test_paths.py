from pathlib import Path

from workbench.paths import resolve_db_path


def test_db_path_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    monkeypatch.delenv("WORKBENCH_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_db_path(None) == tmp_path / "xdg" / "workbench" / "workbench.duckdb"
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path(None) == tmp_path / "env.duckdb"
    assert resolve_db_path(str(tmp_path / "flag.duckdb")) == Path(tmp_path / "flag.duckdb")
