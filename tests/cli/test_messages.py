"""What dmxedit says on standard error: plain lines, counts in words, warnings, verbose output."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fakeserver import EDITS, PNG_BYTES, FakeDMX, Reply
from helpers import KEY, Cli, expect


def test_messages_count_in_words_not_with_s_in_brackets(cli) -> None:  # type: ignore[no-untyped-def]
    one = expect(cli("balance", "extra"), 2, "Unexpected extra argument: extra.")
    two = expect(cli("ratios", "a", "b"), 2, "Unexpected extra arguments: a b.")
    bare = expect(cli("report"), 2, "Name the results files")
    for run in (one, two, bare):
        assert "(s)" not in run.stderr, run.stderr


def test_batch_lines_on_stderr_are_written_whole(tmp_path: Path) -> None:
    """Job threads write notes, warnings and failures at once: each line must go out in
    one write, or two of them run into each other ("...443 bytes)dmxedit: job ...")."""
    from dmxedit.cli.batch_run import PlainBatchEvents
    from dmxedit.cli.context import RunContext

    class Writes(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        def write(self, text: str) -> int:
            self.calls.append(text)
            return super().write(text)

    err = Writes()
    ctx = RunContext(stdin=None, stdout=io.StringIO(), stdout_bytes=io.BytesIO(), stderr=err)
    events = PlainBatchEvents(ctx, quiet=False, print_files=False)
    events.note("a note")
    events.warn("a warning")
    events.total = 1
    events.job_finished({"id": "j", "line": 1, "status": "failed", "error": "boom"})
    lines = [c for c in err.calls if c]
    assert lines[:3] == [
        "dmxedit: a note\n",
        "dmxedit: warning: a warning\n",
        "dmxedit: job j (line 1) failed: boom\n",
    ]


def test_warnings_are_named_alike_with_and_without_quiet(cli, server, png: Path) -> None:  # type: ignore[no-untyped-def]
    args = ("edit", str(png), "-p", "x", "-r", "16:9", "-s", "4K")
    for run in (expect(cli(*args)), expect(cli(*args, "-q"))):
        (line,) = [x for x in run.stderr.splitlines() if "asked 4K 16:9" in x]
        assert line.startswith("dmxedit: warning: "), run.stderr


@pytest.mark.e2e
def test_errors_off_a_terminal_are_plain_lines(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=400, json={"error": {"message": "bad prompt"}}))
    run = cli("edit", str(png), "-p", "x")
    assert run.code == 4
    assert "dmxedit: error: The API refused the request (HTTP 400: bad prompt)." in run.stderr
    assert "  HTTP status: 400" in run.stderr
    assert not any(c in run.stderr for c in "╭╮╰╯│─")


@pytest.mark.e2e
def test_verbose_shows_settings_request_answer_and_timings(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(
        EDITS,
        Reply(status=429, headers={"Retry-After": "0"}),
        Reply(json=server.url_result(PNG_BYTES), headers={"X-Rixapi-Request-Id": "rid-77"}),
    )
    run = expect(cli("edit", str(png), "-p", "snow", "--ratio", "auto", "-v"))
    err = run.stderr
    assert f"setting base-url = {server.base_url} (env)" in err
    assert "setting api-key = sk-…abcd (env)" in err and KEY not in err
    assert "--ratio auto picked 4:3" in err and "(40x30)" in err
    assert "field prompt = 'snow'" in err and "part image:" in err and "image/png" in err
    assert "answer: HTTP 429" in err and "answer: HTTP 200, request id rid-77" in err
    assert "trying again in" in err  # the retry decision
    assert "timings: upload" in err and "download" in err
    quiet = expect(cli("edit", str(png), "-p", "snow"))
    assert "setting base-url" not in quiet.stderr
