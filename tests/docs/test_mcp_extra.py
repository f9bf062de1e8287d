"""`dmxedit[mcp]`: a tested range of the MCP SDK, and brought by `dev` so that the
README's `pip install -e '.[dev]' && pytest` runs the MCP server's tests."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def test_the_mcp_extra_pins_a_range_and_dev_brings_it() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras: dict[str, list[str]] = data["project"]["optional-dependencies"]
    sdk = next(item for item in extras["mcp"] if re.match(r"mcp[<>=]", item))
    assert ">=" in sdk and "<" in sdk.split(">=", 1)[1]  # a lower and an upper bound
    assert "dmxedit[mcp]" in extras["dev"]
