"""`--variants N` as a user sees it (issue 21, point 16): a second Ctrl-C prints the
abandoned results' URLs as a single edit does and never speaks of a results file there
is none of; `recover` names the files by variant; the saved paths come out in variant
order, whatever order the jobs finished in."""

from __future__ import annotations

import io
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    PNG_BYTES,
    Run,
    close_pipes,
    expect,
    partial_files,
    start,
    wait_until,
)
from fakeserver import EDITS, FakeDMX, Recorded, Reply

from dmxedit.batch.run import BatchSummary
from dmxedit.cli.batch_run import PlainBatchEvents
from dmxedit.cli.context import RunContext

Cli = Callable[..., Run]


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


@pytest.mark.e2e
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


def test_the_saved_paths_come_out_in_variant_order(cli: Cli, server: FakeDMX, png: Path) -> None:
    # The first request to arrive is answered only once the others' results are being
    # downloaded: its job finishes last.
    count = 4
    seen = {"posts": 0, "gets": 0}
    turn = threading.Condition()

    def first_last(recorded: Recorded) -> Reply | None:
        with turn:
            if recorded.method != "POST":
                seen["gets"] += 1
                turn.notify_all()
                return None
            seen["posts"] += 1
            if seen["posts"] == 1:
                turn.wait_for(lambda: seen["gets"] >= count - 1, timeout=30)
        return None

    server.on_request = first_last
    run = expect(cli("edit", str(png), "-p", "x", "--variants", str(count)))
    shown = [Path(p).name.rsplit("_", 1)[1] for p in run.stdout.split()]
    assert shown == [f"v{n}.png" for n in range(1, count + 1)], run.output


def _record(line: int, variant: int) -> dict[str, object]:
    return {
        "id": f"h-v{variant}",
        "line": line,
        "variant": variant,
        "status": "ok",
        "files": [f"out_{line}_v{variant}.png"],
        "urls": [],
    }


def test_held_paths_go_out_sorted_by_line_then_variant_when_the_batch_ends() -> None:
    ctx = RunContext.in_memory()
    events = PlainBatchEvents(ctx, quiet=True, print_files=True)
    events.ordered = True
    events.plan(BatchSummary(total=4, to_send=4))
    for line, variant in ((2, 1), (1, 2), (2, 2), (1, 1)):
        events.job_started("x")
        events.job_finished(_record(line, variant))
    assert ctx.output() == b""  # held until the batch ends
    events.close()
    assert ctx.output().decode().split() == [
        "out_1_v1.png",
        "out_1_v2.png",
        "out_2_v1.png",
        "out_2_v2.png",
    ]


def test_a_jobs_file_batch_prints_each_path_as_its_job_finishes() -> None:
    ctx = RunContext.in_memory()
    events = PlainBatchEvents(ctx, quiet=True, print_files=True)
    events.plan(BatchSummary(total=2, to_send=2))
    events.job_started("x")
    events.job_finished(_record(2, 0))
    assert ctx.output().decode().split() == ["out_2_v0.png"]  # at once: resumable batches
    assert isinstance(ctx.stderr, io.StringIO)
