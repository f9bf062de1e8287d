"""What dmxedit says, and how (issue 21, point 17): every standard error line off a
terminal starts with ``dmxedit:``; the --retry-server-errors line says its piece once;
`history show` does not call a saved entry "may have been billed"; `-v` shows settings as
`config list` does; a batch that succeeded says so last, on a terminal too; `history`
says when nothing matches; the progress bar's speed is in the units of its sizes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fakeserver import EDITS, FakeDMX, Reply
from helpers import Cli, Run, expect

from dmxedit.api.retry import DOWNLOAD_ATTEMPTS
from dmxedit.batch import runner as runner_module
from dmxedit.cli import ui


def prefixed(run: Run) -> Run:
    """Each line on stderr starts with "dmxedit:" (an error's detail lines with two
    spaces, under their first line)."""
    stray = [
        line
        for line in run.stderr.splitlines()
        if line and not line.startswith(("dmxedit: ", "dmxedit doctor: ", "  "))
    ]
    assert stray == [], run.output
    return run


def jobs_file(tmp_path: Path, *ids: str) -> Path:
    from fakeserver import make_png

    (tmp_path / "a.png").write_bytes(make_png(12, 10))
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        "".join(json.dumps({"id": i, "images": ["a.png"], "prompt": f"p-{i}"}) + "\n" for i in ids)
    )
    return path


# -- the dmxedit: prefix -------------------------------------------------------------------


def test_a_failed_job_and_the_closing_lines_are_prefixed(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, "good", "bad")

    def refuse_bad(recorded: Any) -> Reply | None:
        if recorded.method == "POST" and recorded.fields.get("prompt") == "p-bad":
            return Reply(status=400, json={"error": {"message": "refused"}})
        return None

    server.on_request = refuse_bad
    run = prefixed(expect(cli("batch", str(jobs)), 7))
    assert "dmxedit: job bad (line 2) failed:" in run.stderr


def test_the_stopping_warning_of_a_first_ctrl_c_is_prefixed(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = jobs_file(tmp_path, "a", "b")
    joined: list[int] = []
    join = runner_module.Runner.join

    def interrupted_once(threads: Any) -> None:
        if not joined:  # Ctrl-C while the jobs run: the running ones finish
            joined.append(1)
            raise KeyboardInterrupt
        join(threads)

    monkeypatch.setattr(runner_module.Runner, "join", staticmethod(interrupted_once))
    run = prefixed(expect(cli("batch", str(jobs)), 130))
    assert "dmxedit: warning: Stopping:" in run.stderr
    assert "dmxedit: error: Interrupted: the running jobs finished" in run.stderr


def test_notes_of_config_history_and_recover_are_prefixed(cli: Cli, server: FakeDMX) -> None:
    for args in (
        ("config", "set", "model", "nano-banana-2"),
        ("config", "unset", "model"),
        ("config", "unset", "model"),
        ("config", "get", "ratio"),
        ("recover",),
    ):
        prefixed(expect(cli(*args)))
    run = prefixed(expect(cli("config", "set", "model", "nano-banana-2")))
    assert run.stderr.startswith("dmxedit: model = nano-banana-2 (saved to ")


def test_the_interrupted_line_off_a_terminal_has_no_blank_line_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from helpers import run_in_process

    from dmxedit.cli import config

    def ctrl_c(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(config, "_show", ctrl_c)
    run = run_in_process(["config", "set", "model", "x"])
    assert run.code == 130
    assert prefixed(run).stderr == "dmxedit: interrupted; no partial file left behind.\n"


# -- --retry-server-errors ---------------------------------------------------------------------


def test_the_retry_server_errors_line_says_it_once(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}))
    run = prefixed(expect(cli("edit", str(png), "-p", "x", "--retry-server-errors")))
    retry = [line for line in run.stderr.splitlines() if "attempt 1 failed" in line]
    assert len(retry) == 1, run.output
    assert retry[0].count("--retry-server-errors") == 1, retry[0]
    assert retry[0].count("billed") == 1, retry[0]
    assert "It was sent again" not in retry[0]  # not before it is


def test_without_a_resend_the_error_does_not_say_it_was_sent_again(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}))
    run = expect(
        cli("edit", str(png), "-p", "x", "--retry-server-errors", "--retries", "0"),
        5,
        "It may have been billed.",
    )
    assert "sent again" not in run.stderr


def test_after_resends_the_error_says_every_attempt_may_have_been_billed(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    boom = Reply(status=500, json={"error": {"message": "boom"}})
    server.script(EDITS, boom, boom)
    run = expect(
        cli("edit", str(png), "-p", "x", "--retry-server-errors", "--retries", "1"),
        5,
        "It was sent again because of --retry-server-errors; every attempt may have been billed.",
    )
    assert run.stderr.count("It was sent again") == 1


# -- history and -v ----------------------------------------------------------------------------


def test_history_show_does_not_call_a_saved_entry_may_be_billed(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    expect(cli("edit", str(png), "-p", "x"))
    shown = expect(cli("history", "show", "1")).stdout
    assert "status         saved" in shown
    assert "may_be_billed" not in shown, shown
    assert json.loads(expect(cli("history", "show", "1", "--json")).stdout)["may_be_billed"] is None
    # A request that went out and failed still says it may have been billed.
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}))
    expect(cli("edit", str(png), "-p", "y"), 5)
    assert "may_be_billed  True" in expect(cli("history", "show", "2")).stdout


def test_history_says_when_nothing_matches(cli: Cli, server: FakeDMX, png: Path) -> None:
    expect(cli("edit", str(png), "-p", "fine"))
    run = prefixed(expect(cli("history", "--failed")))
    assert run.stdout == ""
    assert "dmxedit: No failed or interrupted request in the ledger." in run.stderr
    run = expect(cli("history", "--grep", "nowhere", "--since", "3d"))
    assert "No request in the ledger since 3d and with 'nowhere' in the prompt." in run.stderr
    assert expect(cli("history", "--failed", "--json")).stdout.strip() == "[]"  # data only


def test_verbose_shows_settings_as_config_list_does(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = expect(cli("edit", str(png), "-p", "x", "-v"))
    assert "setting history = on (default)" in run.stderr
    assert "setting ratio = - (default)" in run.stderr
    assert "True" not in run.stderr and "None" not in run.stderr
    listed = expect(cli("config", "list")).stdout
    assert re.search(r"^history +on ", listed, re.M), listed  # aligned to the longest key


# -- batches -----------------------------------------------------------------------------------


def test_a_successful_batch_on_a_terminal_ends_with_a_summary(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, "a", "b")
    run = expect(cli("batch", str(jobs), stderr_isatty=True))
    last = run.stderr.strip().splitlines()[-1]
    assert "2 jobs done in" in last and "jobs.results.jsonl" in last, run.output
    again = expect(cli("batch", str(jobs), stderr_isatty=True))
    assert "Nothing to do: 2 jobs done before" in again.stderr.strip().splitlines()[-1]


def test_a_successful_batch_off_a_terminal_ends_with_the_same_summary(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    run = prefixed(expect(cli("edit", str(png), "-p", "x", "--variants", "2")))
    assert run.stderr.strip().splitlines()[-1].startswith("dmxedit: 2 jobs done in ")
    assert expect(cli("edit", str(png), "-p", "x", "--variants", "2", "-q")).stderr == ""


def test_default_batch_file_names_carry_the_job_id(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, "boot-1", "shoes/red 2")
    run = expect(cli("batch", str(jobs)))
    names = sorted(Path(p).name for p in run.stdout.split())
    assert len(names) == 2
    assert names[0].startswith("edited_") and names[0].endswith("_boot-1_1.png"), names
    assert names[1].endswith("_shoes_red_2_1.png"), names  # no path separator, no space


def test_recover_names_a_batch_job_by_its_id(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    jobs = jobs_file(tmp_path, "boot-1")
    url = server.add_file("late.png", server.result)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/late.png", *[Reply(status=500)] * DOWNLOAD_ATTEMPTS)
    expect(cli("batch", str(jobs)), 7)  # paid, not saved
    run = expect(cli("recover"))
    assert Path(run.stdout.strip()).name.endswith("_boot-1_1.png"), run.output


# -- progress units ----------------------------------------------------------------------------


def test_the_speed_is_in_the_units_of_the_sizes() -> None:
    assert ui.speed(1.5 * 1024 * 1024) == "1.5 MiB/s"
    assert ui.speed(2048) == "2.0 KiB/s"
    assert ui.speed(None) == "?"


def test_the_byte_bar_shows_sizes_and_speed_in_binary_units() -> None:
    from rich.console import Console
    from rich.progress import Progress

    columns = ui.byte_columns()
    progress = Progress(*columns, console=Console(width=120))
    progress.add_task("x", total=8 * 1024 * 1024, completed=4 * 1024 * 1024)
    task = progress.tasks[0]
    task.finished_speed = 3 * 1024 * 1024
    text = " ".join(str(column.render(task)) for column in columns[1:3])
    assert text == "4.0/8.0 MiB 3.0 MiB/s", text
