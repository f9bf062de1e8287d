"""The API key goes only where it must, and is never printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeserver import EDITS, PNG_BYTES, FakeDMX, Reply
from helpers import (
    KEY,
    Cli,
    expect,
)

check = expect


@pytest.mark.e2e
def test_key_is_not_sent_to_the_download_host(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    # The result lives on "another host" (localhost instead of 127.0.0.1).
    url = server.add_file("r.png", PNG_BYTES).replace("127.0.0.1", "localhost")
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    check(cli("edit", str(png), "-p", "x"), 0)
    assert server.posts()[0].headers["authorization"] == f"Bearer {KEY}"
    (get,) = server.gets()
    assert "authorization" not in get.headers
    assert KEY not in str(get.headers)


@pytest.mark.e2e
def test_redirect_from_the_post_is_not_followed(cli: Cli, server: FakeDMX, png: Path) -> None:
    elsewhere = FakeDMX().start()
    try:
        server.script(
            EDITS, Reply(status=307, headers={"Location": elsewhere.base_url + "/images/edits"})
        )
        run = cli("edit", str(png), "-p", "x")
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()
    assert run.code == 3, run.output
    assert "307" in run.stderr and KEY not in run.stdout + run.stderr
    assert len(server.posts()) == 1


@pytest.mark.e2e
def test_key_never_printed_verbose_dry_run_or_errors(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=401, json={"error": {"message": f"bad key {KEY[:6]}"}}))
    runs = [
        cli("edit", str(png), "-p", "x", "-v"),
        cli("edit", str(png), "-p", "x", "-v"),
        cli("edit", str(png), "-p", "x", "--dry-run", "-v"),
        cli("generate", "-p", "x", "--dry-run", "--json"),
        cli("config", "list", "--json"),
        cli("edit", str(png), "-p", "x", "--json", env={"DMXEDIT_DEBUG": "1"}),
    ]
    for run in runs:
        assert KEY not in run.stdout + run.stderr, run.output
        assert KEY[3:-4] not in run.stdout + run.stderr
