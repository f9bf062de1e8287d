"""`--variants N` (and `--each`) print the saved paths in the jobs' order, whatever order
the jobs finished in (issue 21, point 16); a jobs file's batch prints each as it comes."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from fakeserver import FakeDMX, Recorded, Reply
from helpers import Cli, expect

from dmxedit.batch.summary import BatchSummary
from dmxedit.cli.batch_run import PlainBatchEvents
from dmxedit.cli.context import RunContext


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
