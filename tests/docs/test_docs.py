"""docs/ARCHITECTURE.md stays true: every module it names exists, and every module of
the package is on its map."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def _named() -> set[str]:
    return set(re.findall(r"`(dmxedit/[\w/]+\.py)`", ARCHITECTURE.read_text(encoding="utf-8")))


def test_every_module_the_architecture_names_exists() -> None:
    named = _named()
    assert len(named) > 20
    missing = sorted(n for n in named if not (ROOT / n).is_file())
    assert missing == []


def test_every_module_is_on_the_map() -> None:
    modules = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "dmxedit").rglob("*.py")
        if p.name not in ("__main__.py", "_version.py") and p.parent.name != "__pycache__"
    }
    modules.discard("dmxedit/cli/__init__.py")
    assert sorted(modules - _named()) == []
