"""An image that was paid for but not saved (exit 6) points at `dmxedit recover`, the
fix, whenever the ledger kept what recover needs (issue 21, point 9)."""

from __future__ import annotations

import json
from pathlib import Path

from fakeserver import PNG_BYTES, FakeDMX, Reply
from helpers import Cli, expect

from dmxedit.api.client import DOWNLOAD_ATTEMPTS

EDITS = "/v1/images/edits"


def _failing_download(server: FakeDMX) -> str:
    url = server.add_file("r.png", PNG_BYTES)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/r.png", *[Reply(status=500)] * DOWNLOAD_ATTEMPTS)
    return url


def test_a_failed_download_names_recover_and_the_ledger_entry(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    url = _failing_download(server)
    run = expect(cli("edit", str(png), "-p", "x"), 6, "dmxedit recover", "ledger entry 1")
    assert run.stdout.strip() == url
    hint = next(line for line in run.stderr.splitlines() if "hint:" in line)
    assert hint.index("dmxedit recover") < hint.index("yourself")  # the fix comes first
    # and recover does fetch it
    recovered = expect(cli("recover"), 0)
    assert Path(recovered.stdout.strip()).read_bytes() == PNG_BYTES


def test_json_carries_the_hint_and_the_entry(cli: Cli, server: FakeDMX, png: Path) -> None:
    _failing_download(server)
    run = cli("edit", str(png), "-p", "x", "--json")
    assert run.code == 6, run.output
    error = json.loads(run.stdout)["error"]
    assert "dmxedit recover" in error["hint"] and error["ledger_id"] == 1


def test_without_the_ledger_recover_is_not_offered(cli: Cli, server: FakeDMX, png: Path) -> None:
    _failing_download(server)
    run = expect(cli("edit", str(png), "-p", "x", env={"DMXEDIT_NO_HISTORY": "1"}), 6)
    assert "recover" not in run.stderr
    assert "yourself" in run.stderr
