"""Fixtures shared by the tests; plain helpers live in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.store import Store
from tests.helpers import evaluated_runs, insert_eval, insert_run


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    """The app reads $XDG_CONFIG_HOME/workbench/keymap.toml: keep the developer's own file out of every test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def store(tmp_path):
    """A fresh Workbench store in a real DuckDB file under tmp_path."""
    s = Store(tmp_path / "t.duckdb")
    yield s
    s.close()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny random chat model (llama with a ChatML template) saved once per test module."""
    from tests.tiny_lm import tiny_chat_model

    return tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def stored(store, tmp_path):
    """Mixture run 1 (math and code, folder runs/1-mix naming specialist 3 for code), math specialist run 2,
    code specialist run 3 (of another parent), base run 4, and their evaluations."""
    with store.transaction() as con:
        evaluated_runs(con, tmp_path / "runs" / "1-mix")
    return store


@pytest.fixture
def partial_store(store):
    """Run 1 (mixture of math and code), a specialist for math only (run 2); the run matches the specialist on
    math and fails every code item."""
    with store.transaction() as con:
        con.execute("INSERT INTO mixtures (id, name, version, recipe, content_hash) VALUES (1, 'mix', 1, '{}', 'h')")
        for pos, (sid, dom) in enumerate([(1, "math"), (11, "code")]):
            con.execute(
                "INSERT INTO mixture_items (mixture_id, position, kind, sample_id, domain) VALUES "
                "(1, ?, 'sample', ?, ?)",
                [pos, sid, dom],
            )
        insert_run(con, 1, "mix", "mixture", mixture=1)
        insert_run(con, 2, "spec-math", "specialist", parent=1, domain="math")
        insert_eval(con, 1, 1, "math", [(100, True, 1.0, "7"), (101, False, 2.0, "3"), (102, True, 1.0, "2")])
        insert_eval(con, 2, 1, "code", [(200, False, 3.0, "x"), (201, False, 3.0, "y"), (202, False, 3.0, "z")])
        insert_eval(con, 3, 2, "math", [(100, True, 1.0, "7"), (101, False, 2.0, "3"), (102, True, 1.0, "2")])
    return store
