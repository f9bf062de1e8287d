"""The run context: in-process runs share no state."""

from __future__ import annotations

import json
from pathlib import Path

from fakeserver import FakeDMX
from helpers import Cli


def test_in_process_runs_share_no_state(cli: Cli, server: FakeDMX, png: Path) -> None:
    # --json in one run must not leak into the next (the old module-global state did).
    failing = cli("edit", str(png), "-p", "x", "--json", "--ratio", "7:3")
    assert failing.code == 2 and json.loads(failing.stdout)["error"]["exit_code"] == 2
    plain = cli("edit", str(png), "-p", "x", "--ratio", "7:3")
    assert plain.code == 2 and plain.stdout == ""
