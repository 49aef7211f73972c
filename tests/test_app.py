"""The Textual app: the action registry, and the real app under `App.run_test()` over a real DuckDB store.

No mocks: stores are built by importing small JSONL files written here with engine.ingest.import_file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench import actions as registry
from workbench.actions import ACTIONS, Action, bindings_for, check_keymap, load_keymap

# -- the action registry ----------------------------------------------------------------------------------


def test_action_ids_are_unique():
    ids = [a.id for a in ACTIONS]
    assert len(ids) == len(set(ids))


def test_no_key_conflict_between_contexts_live_at_once():
    for a in ACTIONS:
        for b in ACTIONS:
            if a.id >= b.id or not registry.active_together(a.context, b.context):
                continue
            clash = set(a.keys) & set(b.keys)
            assert not clash, f"{a.id} and {b.id} share {clash}"


def test_every_context_has_bindings_with_ids_and_descriptions():
    for ctx in registry.contexts():
        bs = bindings_for(ctx)
        assert bs, ctx
        for b in bs:
            assert b.id and b.description and b.action
    assert {b.id for b in bindings_for("global")} >= {"app.help", "app.quit", "app.palette", "app.mode_pools"}


def test_keymap_overrides_default_key(tmp_path):
    p = tmp_path / "keymap.toml"
    p.write_text('[keys]\n"pools.import" = "ctrl+o"\nbrowse.tag = "T"\n')
    res = load_keymap(p)
    assert res.warnings == []
    assert res.overrides == {"pools.import": "ctrl+o", "browse.tag": "T"}
    registry.apply_keymap(res.overrides)
    try:
        assert registry.get("pools.import").key == "ctrl+o"
        assert registry.get("pools.rename").key == "r"
    finally:
        registry.apply_keymap({})
    assert registry.get("pools.import").key == "i"


def test_bad_keymap_is_reported_not_raised(tmp_path):
    p = tmp_path / "keymap.toml"
    p.write_text('[keys]\n"no.such" = "x"\n"pools.rename" = "d"\n"pools.delete" = 3\n"browse.tag" = "ctrl+t"\n'
                 '[colors]\nx = 1\n')
    res = load_keymap(p)
    text = "\n".join(res.warnings)
    assert "unknown action id 'no.such'" in text
    assert "pools.rename" in text and "conflicts with pools.delete" in text
    assert "pools.delete" in text and "non-empty string" in text
    assert "unknown section [colors]" in text
    assert res.overrides == {"browse.tag": "ctrl+t"}
    # A global key may not be taken by a screen action either.
    assert check_keymap({"browse.tag": "q"}).overrides == {}
    # Broken TOML is a warning too.
    p.write_text("[keys\n")
    res = load_keymap(p)
    assert res.overrides == {} and "cannot read keymap" in res.warnings[0]
    assert load_keymap(tmp_path / "missing.toml").warnings == []


def test_keymap_template_lists_every_action():
    t = registry.keymap_template()
    for a in ACTIONS:
        assert f'"{a.id}"' in t
    assert isinstance(Action("x.y", "a", "d").textual_action, str)
