"""`--variants N` interrupted twice (issue 21, point 16): the abandoned results' URLs are
printed as a single edit prints them, nothing speaks of a results file there is none of,
and `recover` names the files by variant."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from fakeserver import EDITS, PNG_BYTES, FakeDMX, Reply
from helpers import Cli, close_pipes, expect, partial_files, start, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def slow_results(server: FakeDMX, count: int) -> list[str]:
    """``count`` answers whose downloads take long enough to interrupt them."""
    big = PNG_BYTES + os.urandom(2 * 1024 * 1024)
    urls = [server.add_file(f"slow{i}.png", big) for i in range(count)]
    server.script(EDITS, *[Reply(json={"data": [{"url": url}]}) for url in urls])
    for i in range(count):
        server.script(
            f"/files/slow{i}.png", Reply(body=big, chunked=True, chunk_size=8192, chunk_pause=0.05)
        )
    return urls


def test_a_second_ctrl_c_prints_the_urls_and_recover_names_the_files_by_variant(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    urls = slow_results(server, 3)
    output = tmp_path / "output"
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as sink:
        proc = start(server, tmp_path, "edit", str(png), "-p", "x", "--variants", "3", stderr=sink)
    try:
        # Each variant's answer arrived: its download has begun.
        wait_until(lambda: output.exists() and len(partial_files(output)) == 3)
        proc.send_signal(signal.SIGINT)
        wait_until(lambda: "Ctrl-C again" in err.read_text())
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        close_pipes(proc)
    text = err.read_text()
    assert proc.returncode == 130, text
    # As a single edit: the paid results' URLs on standard output, named on stderr.
    assert sorted(out.decode().split()) == sorted(urls), text
    assert "3 result URLs they had received are printed and kept in the ledger" in text
    # No results file was kept: nothing may say one holds anything.
    assert "in the results file" not in text
    assert "No results file was kept" in text
    assert "`dmxedit recover` downloads the paid results that were not saved" in text

    run = expect(cli("recover"))
    names = sorted(Path(p).name for p in run.stdout.split())
    assert len(names) == 3, run.output
    assert sorted(n.rsplit("_", 1)[1] for n in names) == ["v1.png", "v2.png", "v3.png"], names
