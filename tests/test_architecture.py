"""The house rules, checked on the code itself: the engine's imports run down the curation loop, the engine
never imports the UI, screens hold no SQL, and every user-facing engine error derives from the one root."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import engine
from engine.core.errors import WorkbenchError

ROOT = Path(__file__).resolve().parent.parent
# the loop, bottom to top; a package may import from its own rank or below (quality, synthesis and targeting share
# one; targeting may import quality, nothing else of rank 3 imports across)
RANK = {
    "core": 0,
    "data": 1,
    "geometry": 2,
    "quality": 3,
    "synthesis": 3,
    "targeting": 3,
    "mixtures": 4,
    "training": 5,
    "evaluation": 6,
    "studies": 7,
    "raise_rl": 7,
}
SIBLINGS_APART = {
    ("quality", "synthesis"),
    ("synthesis", "quality"),
    ("targeting", "synthesis"),
    ("synthesis", "targeting"),
    ("quality", "targeting"),
}
UI = ("textual", "workbench", "screens", "rich")


def _engine_files():
    return sorted(p for p in (ROOT / "engine").rglob("*.py") if "__pycache__" not in p.parts)


def _package(path: Path) -> str | None:
    rel = path.relative_to(ROOT / "engine").parts
    return rel[0] if len(rel) > 1 else None


def _imports(path: Path):
    """Every imported module name in the file (module level and inside functions)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "engine":
                for a in node.names:
                    yield node.lineno, f"engine.{a.name}"
            else:
                yield node.lineno, node.module


def test_every_engine_module_lives_in_a_package_of_the_loop():
    loose = [p.name for p in (ROOT / "engine").glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"engine modules outside the loop's packages: {loose}"
    assert {p.name for p in (ROOT / "engine").iterdir() if p.is_dir() and p.name != "__pycache__"} <= set(RANK)


def test_engine_imports_run_downward_and_never_reach_the_ui():
    bad = []
    for path in _engine_files():
        pkg = _package(path)
        for line, mod in _imports(path):
            where = f"{path.relative_to(ROOT)}:{line} imports {mod}"
            if mod.split(".")[0] in UI:
                bad.append(where + " (the engine never imports the UI)")
            parts = mod.split(".")
            if parts[0] == "engine" and len(parts) > 1 and pkg is not None:
                dep = parts[1]
                if dep not in RANK:
                    bad.append(where + " (not a package of the loop)")
                elif RANK[dep] > RANK[pkg] or (pkg, dep) in SIBLINGS_APART:
                    bad.append(where + f" (upward: {pkg} -> {dep})")
    assert bad == [], "\n".join(bad)


SQL = re.compile(r"\b(SELECT\s+.+\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b", re.I)


def test_screens_and_the_app_hold_no_sql():
    bad = []
    for path in sorted((ROOT / "screens").rglob("*.py")) + sorted((ROOT / "workbench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany", "sql"):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}(")
    assert bad == [], "SQL belongs behind engine functions:\n" + "\n".join(bad)


# internal control-flow exceptions, never shown to a person (each with its reason)
INTERNAL = {
    "engine.data.formats.NotFlat": "the fast import path falls back to the Python path",
    "engine.data.ingest._FileProblem": "collected into ImportFailed",
    "engine.evaluation.sandbox_rpc.CodecError": "runs inside the sandbox, stdlib only",
    "engine.evaluation.sandbox_rpc.RemoteError": "runs inside the sandbox, stdlib only",
}


def test_every_engine_error_derives_from_the_one_root():
    found, bad = 0, []
    for info in pkgutil.walk_packages(engine.__path__, "engine."):
        mod = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ != mod.__name__ or not issubclass(cls, BaseException):
                continue
            found += 1
            key = f"{mod.__name__}.{name}"
            if key in INTERNAL:
                continue
            if not issubclass(cls, WorkbenchError):
                bad.append(key)
    assert found > 15
    assert bad == [], f"engine errors outside WorkbenchError: {bad}"


def test_the_cli_maps_errors_by_type(tmp_path, capsys):
    from engine.core.errors import EXIT_STORE
    from workbench.cli import main

    rc = main(["--db", str(tmp_path / "x.duckdb"), "query", "--where", "n_tokens >"])
    assert rc == 1 and "workbench:" in capsys.readouterr().err
    locked = tmp_path / "dir.duckdb"
    locked.mkdir()  # a folder where the store file should be: the store cannot open it
    rc = main(["--db", str(locked), "pools"])
    assert rc in (EXIT_STORE, 1)
