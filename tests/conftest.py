import pytest

from engine.core.store import Store


@pytest.fixture
def store(tmp_path):
    """A fresh Workbench store in a real DuckDB file under tmp_path."""
    s = Store(tmp_path / "t.duckdb")
    yield s
    s.close()
