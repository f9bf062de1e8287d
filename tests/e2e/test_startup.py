"""Fast start (issue 3, point 6): the commands that never talk to the API must not import
requests or the transfer machinery. Timings live in benchmarks/; this checks the cause."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PROBE, probe_imports


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["edit", "--help"],
        ["ratios"],
        ["ratios", "--json", "--size", "4K"],
        ["config", "list"],
        ["config", "path"],
        ["mcp", "--help"],  # the MCP SDK only inside the command (dmxedit[mcp])
    ],
)
def test_light_commands_import_no_http_machinery(args: list[str]) -> None:
    result = probe_imports(*args)
    assert result["code"] == 0
    assert result["heavy"] == []


def test_the_probe_would_see_http_imports(png: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The probe is only worth something if it notices the imports when they happen: a
    # command that really sends (to a closed port here) must show them.
    monkeypatch.setenv("DMXAPI_API_KEY", "sk-probe0000")
    result = probe_imports("edit", str(png), "-p", "x", "--base-url", "http://127.0.0.1:9/v1")
    assert result["code"] == 5
    heavy = result["heavy"]
    assert isinstance(heavy, list)
    assert "requests" in heavy and "dmxedit.api.client" in heavy


def test_the_root_help_imports_no_command_module() -> None:
    # `dmxedit --help` (and a bare `dmxedit`) list the commands from tree.SUMMARIES:
    # importing every command's module to read its help was a third of its start.
    probe = PROBE.replace(
        "sys.stdout.flush()",
        'heavy += sorted(n for n in sys.modules if n.startswith("dmxedit.cli.") and n not in '
        '("dmxedit.cli.app", "dmxedit.cli.tree", "dmxedit.cli.context"))\nsys.stdout.flush()',
    )
    assert probe != PROBE
    proc = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(["--help"])],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    result = json.loads(proc.stdout[proc.stdout.rindex("PROBE") + len("PROBE") :])
    assert result == {"code": 0, "heavy": []}


def test_a_dry_run_loads_no_http_machinery(png: Path) -> None:
    """--dry-run sends nothing: it checks and prints without importing requests."""
    result = probe_imports("edit", str(png), "-p", "x", "--dry-run")
    assert result["code"] == 0
    heavy = [str(name) for name in result["heavy"]]  # type: ignore[attr-defined]
    assert not [n for n in heavy if n.split(".")[0] in ("requests", "urllib3")], heavy
    assert "dmxedit.api.client" not in heavy and "dmxedit.engine.pipeline" not in heavy
