"""The architecture issue's size limits: no function above cyclomatic complexity 15 (ruff's
C901, run as CI runs it) and no module above 500 lines without a reason written at its
top (a line "Over 500 lines because ..." in the first paragraph of its docstring).

The modules other developers are splitting right now are checked apart, as expected
failures (``BEING_SPLIT``); once their work is merged they join the strict checks."""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_COMPLEXITY = 15
MAX_LINES = 500
REASON = "Over 500 lines because"
#: Modules being changed by other developers while these limits came in (the api
#: package, the pipeline's records, the saving and the results file).
BEING_SPLIT = (
    "dmxedit/api/",
    "dmxedit/engine/records.py",
    "dmxedit/store/results.py",
    "dmxedit/batch/resultsfile.py",
)
SPLITTING = "other developers' modules are being split"
_C901 = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):\d+: C901 (?P<what>.*)$")


def _being_split(path: str) -> bool:
    return path.startswith(BEING_SPLIT)


@functools.cache
def too_complex(root: Path = ROOT) -> list[tuple[str, str]]:
    """(path, "line: message") of every function of ``root``/dmxedit/ over MAX_COMPLEXITY."""
    pytest.importorskip("ruff")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "C901",
            "--config",
            f"lint.mccabe.max-complexity={MAX_COMPLEXITY}",
            "--output-format",
            "concise",
            "--no-cache",
            "dmxedit",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = [m for m in map(_C901.match, proc.stdout.splitlines()) if m]
    assert proc.returncode in (0, 1) and (proc.returncode == 0 or found), proc.stderr
    return [(m["path"].replace("\\", "/"), f"{m['path']}:{m['line']}: {m['what']}") for m in found]


def too_long(root: Path = ROOT) -> list[tuple[str, str]]:
    """(path, message) of every module of ``root``/dmxedit/ over MAX_LINES lines whose
    docstring's first paragraph does not say why."""
    out = []
    for file in sorted((root / "dmxedit").rglob("*.py")):
        text = file.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines <= MAX_LINES:
            continue
        first = (ast.get_docstring(ast.parse(text)) or "").split("\n\n")[0]
        if any(line.strip().startswith(REASON) for line in first.splitlines()):
            continue
        path = file.relative_to(root).as_posix()
        out.append((path, f"{path}: {lines} lines, and no '{REASON} ...' at its top"))
    return out


def test_no_function_is_over_complexity_15() -> None:
    found = [what for path, what in too_complex() if not _being_split(path)]
    assert not found, "\n".join(found)


def test_no_module_is_over_500_lines_without_a_reason() -> None:
    found = [what for path, what in too_long() if not _being_split(path)]
    assert not found, "\n".join(found)


@pytest.mark.xfail(strict=False, reason=SPLITTING)
def test_no_function_is_over_complexity_15_in_the_modules_being_split() -> None:
    found = [what for path, what in too_complex() if _being_split(path)]
    assert not found, "\n".join(found)


@pytest.mark.xfail(strict=False, reason=SPLITTING)
def test_no_module_is_over_500_lines_in_the_modules_being_split() -> None:
    found = [what for path, what in too_long() if _being_split(path)]
    assert not found, "\n".join(found)


def test_the_checks_see_a_function_too_complex_and_a_module_too_long(tmp_path: Path) -> None:
    """The two checks find what they look for (so their passing means something)."""
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(MAX_COMPLEXITY))
    source = f'"""A module."""\n\n\ndef tangled(x: int) -> int:\n{branches}\n    return -1\n'
    source += "\n" * (MAX_LINES - source.count("\n") + 1)
    (tmp_path / "dmxedit").mkdir()
    module = tmp_path / "dmxedit" / "tangled.py"
    module.write_text(source, encoding="utf-8")
    assert [p for p, _ in too_complex(tmp_path)] == ["dmxedit/tangled.py"]
    assert [p for p, _ in too_long(tmp_path)] == ["dmxedit/tangled.py"]
    module.write_text(
        source.replace('"""A module."""', f'"""A module.\n{REASON} it is a test."""'),
        encoding="utf-8",
    )
    assert too_long(tmp_path) == []
