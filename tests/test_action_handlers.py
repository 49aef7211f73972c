"""Every registered action reaches a handler: the Textual node holding a context's bindings (the app, a screen,
a dialog, a widget) defines the `action_<name>` method its binding runs."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import screens
from workbench import actions as registry
from workbench.app import WorkbenchApp


def _binding_holders() -> dict[str, list[type]]:
    """Action id -> the classes (of the app and every screens module) whose own BINDINGS hold it."""
    modules = [importlib.import_module(f"screens.{m.name}") for m in pkgutil.iter_modules(screens.__path__)]
    classes = {WorkbenchApp}
    for mod in modules:
        classes.update(c for _, c in inspect.getmembers(mod, inspect.isclass) if c.__module__ == mod.__name__)
    out: dict[str, list[type]] = {}
    for cls in classes:
        for b in cls.__dict__.get("BINDINGS", []):
            bid = getattr(b, "id", None)
            if bid:
                out.setdefault(bid, []).append(cls)
    return out


HOLDERS = _binding_holders()


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out


def _method(action: str, node: type) -> tuple[type, str]:
    """The class and method name a Textual action string dispatches to when run on node."""
    target, name = node, action.split("(", 1)[0]
    if name.startswith("app."):
        target, name = WorkbenchApp, name[len("app.") :]
    return target, f"action_{name}"


def test_every_context_is_held_by_a_node():
    held = {a.context for a in registry.ACTIONS if a.id in HOLDERS}
    assert set(registry.contexts()) == held, set(registry.contexts()) - held


@pytest.mark.parametrize("action", registry.ACTIONS, ids=lambda a: a.id)
def test_action_has_a_handler(action):
    holders = HOLDERS.get(action.id)
    assert holders, f"{action.id}: no class has a binding with this id (context {action.context!r})"
    for holder in holders:
        for cls in _subclasses(holder):  # a dialog's subclasses inherit its bindings
            target, method = _method(action.textual_action, cls)
            assert callable(getattr(target, method, None)), (
                f"{action.id}: {target.__module__}.{target.__qualname__} has no {method}"
            )


def test_mode_actions_name_registered_modes():
    for action in registry.ACTIONS:
        if action.textual_action.startswith("switch_mode("):
            mode = action.textual_action.split("'")[1]
            assert mode in WorkbenchApp.MODES, (action.id, mode)
