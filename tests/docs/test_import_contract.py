"""The house's import contract (docs/ARCHITECTURE.md): the layers and the absence of
cycles are import-linter's contracts in pyproject.toml; what import-linter does not
check is checked here: no module uses another module's private names, and below the
CLI, dmxedit's own modules are imported at the top of a module, not inside functions."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dmxedit"


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_the_layer_and_cycle_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint).exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[dev]'")
    proc = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "BROKEN" not in proc.stdout


def private_uses(path: Path) -> list[str]:
    """``from dmxedit.x import _name`` and ``module._name`` where module is one of
    dmxedit's modules imported by name: another module's private names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    found: list[str] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dmxedit"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if _private(alias.name) and node.module != here:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {target}")
                aliases[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dmxedit") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    found = [hit for path in _modules() for hit in private_uses(path)]
    assert found == []


def test_the_private_name_check_sees_both_forms(tmp_path: Path) -> None:
    probe = PACKAGE / "_probe_private_names.py"
    probe.write_text(
        "from dmxedit.api.client import _session\n"
        "from dmxedit.batch import resultsfile as rf\n"
        "x = rf._APPEND_FLAGS\n",
        encoding="utf-8",
    )
    try:
        hits = private_uses(probe)
    finally:
        probe.unlink()
    assert len(hits) == 2


def imports_inside_functions(path: Path) -> list[str]:
    """dmxedit's own modules imported inside a function of ``path``."""
    found: list[str] = []

    class Visitor(ast.NodeVisitor):
        depth = 0

        def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
            self.depth += 1
            self.generic_visit(node)
            self.depth -= 1

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if self.depth and (node.module or "").startswith("dmxedit"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module}")

        def visit_Import(self, node: ast.Import) -> None:
            names = [a.name for a in node.names if a.name.startswith("dmxedit")]
            if self.depth and names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: import {names[0]}")

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_below_the_cli_dmxedit_imports_its_own_modules_at_the_top() -> None:
    """Imports inside functions are for heavy third-party modules (requests, sqlite3,
    rich, Pillow, filelock); the CLI imports the engine a command needs when it runs
    (so --help, --version, ratios and config stay light: tests/e2e/test_startup.py), and
    the package's lazy public names load on first use (dmxedit/__init__.py)."""
    found = [
        hit
        for path in _modules()
        if not path.relative_to(PACKAGE).as_posix().startswith("cli/")
        and path != PACKAGE / "__init__.py"
        for hit in imports_inside_functions(path)
    ]
    assert found == []


def test_the_inner_import_check_sees_one(tmp_path: Path) -> None:
    probe = PACKAGE / "_probe_inner_import.py"
    probe.write_text(
        "def f() -> None:\n    from dmxedit.core import errors\n    import json\n",
        encoding="utf-8",
    )
    try:
        hits = imports_inside_functions(probe)
    finally:
        probe.unlink()
    assert len(hits) == 1 and "dmxedit.core" in hits[0]


def test_no_sqlite_connection_is_left_to_the_collector() -> None:
    # `with sqlite3.connect(...)` commits but does not close: Python 3.13 then warns of
    # an unclosed database when the collector finds it, failing whatever test runs then
    # (CI failed on 3.13 twice). A connection is closed where it is opened.
    root = Path(__file__).resolve().parents[2]
    found = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("dmxedit", "tests", "benchmarks", "scripts")
        for path in sorted((root / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "with sqlite3.connect(" in line and path.name != "test_import_contract.py"
    ]
    assert found == [], found
