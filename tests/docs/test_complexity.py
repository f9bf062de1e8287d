"""The architecture's limits (docs/ARCHITECTURE.md): no function above cyclomatic
complexity 15 (as radon measures it: ``radon cc -s -n C dmxedit``), and no module above
500 lines without a line "Over 500 lines because ..." in its docstring saying why.
``too_complex`` reports every function over the limit with its number."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from radon.complexity import cc_visit
from radon.visitors import Function

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dmxedit"
MAX_COMPLEXITY = 15
MAX_LINES = 500
REASON = "Over 500 lines because "


def too_complex(source: str) -> list[str]:
    """Each function (or method) of ``source`` above the limit, as "name (complexity)"."""
    over = []
    for block in cc_visit(source):
        if not isinstance(block, Function) or block.complexity <= MAX_COMPLEXITY:
            continue
        name = f"{block.classname}.{block.name}" if block.classname else block.name
        over.append(f"{name} ({block.complexity})")
    return over


def too_long(source: str) -> bool:
    """Over the line limit without a reason at the top of the module."""
    if len(source.splitlines()) <= MAX_LINES:
        return False
    doc = ast.get_docstring(ast.parse(source)) or ""
    return not any(line.strip().startswith(REASON) for line in doc.splitlines())


def _modules() -> list[str]:
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("module", _modules())
def test_no_function_is_above_complexity_15(module: str) -> None:
    source = (PACKAGE / module).read_text(encoding="utf-8")
    assert too_complex(source) == [], f"dmxedit/{module}"


@pytest.mark.parametrize("module", _modules())
def test_no_module_is_above_500_lines_without_a_reason(module: str) -> None:
    source = (PACKAGE / module).read_text(encoding="utf-8")
    assert not too_long(source), f"dmxedit/{module}: split it, or say why at its top"


def _branches(n: int) -> str:
    body = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(n))
    return f"def f(x):\n{body}    return -1\n"


def test_the_measure_is_radons() -> None:
    assert too_complex(_branches(14)) == []  # 15: at the limit
    assert too_complex(_branches(15)) == ["f (16)"]
    method = "class K:\n" + "".join("    " + line + "\n" for line in _branches(15).splitlines())
    assert too_complex(method) == ["K.f (16)"]
    two = _branches(15) + _branches(3).replace("f(", "g(") + _branches(20).replace("f(", "h(")
    assert too_complex(two) == ["f (16)", "h (21)"]


def test_a_long_module_needs_its_reason_at_the_top() -> None:
    body = "x = 1\n" * MAX_LINES
    assert not too_long(body)
    assert too_long('"""A module."""\n' + body)
    assert not too_long('"""A module.\n\nOver 500 lines because it is one parser."""\n' + body)
    assert too_long('"""A module."""\n# Over 500 lines because of a comment\n' + body)
