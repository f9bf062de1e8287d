"""The one guard around a request's paid steps: an exception nobody foresaw, injected at
every step after the send, never loses the paid result, always says "may have been
billed" where the API may have done the work, and a batch re-run never pays twice."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fakeserver import EDITS, GENERATIONS, FakeDMX
from helpers import Cli, expect, jobs_file, last_lines, ledger_rows, partial_files

import dmxedit.api.answers as answers_module
import dmxedit.api.client as client_module
import dmxedit.engine.aftersave as aftersave_module
from dmxedit.batch.resultsfile import ResultsLog
from dmxedit.cli.context import RunContext
from dmxedit.store.ledger import Ledger
from dmxedit.store.results import Saver


class Weird(BaseException):
    """Not an Exception at all: the guard must survive it too."""


def boom(kind: type[BaseException] = RuntimeError) -> Any:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise kind("injected")

    return fail


@pytest.mark.parametrize("kind", [RuntimeError, RecursionError, Weird])
def test_an_unforeseen_exception_reading_the_answer_says_may_have_been_billed(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: type
) -> None:
    monkeypatch.setattr(answers_module, "parse", boom(kind))
    run = expect(cli("generate", "-p", "x", "--json"), 4, "may have done the work")
    error = json.loads(run.stdout)["error"]
    assert error["may_be_billed"] is True and kind.__name__ in error["message"]
    (entry,) = ledger_rows(tmp_path)
    assert (entry["status"], entry["may_be_billed"], entry["exit_code"]) == ("failed", 1, 4)
    assert len(server.posts()) == 1


def test_a_batch_job_whose_answer_cannot_be_read_is_held_back_on_a_rerun(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = jobs_file(tmp_path, 2)
    with monkeypatch.context() as patch:
        patch.setattr(answers_module, "parse", boom(RecursionError))
        expect(cli("batch", str(jobs)), 7)
    final = last_lines(jobs.with_name("jobs.results.jsonl"))
    assert all(r["may_be_billed"] is True and r["exit_code"] == 4 for r in final.values())
    run = expect(cli("batch", str(jobs)), 7, "may have been billed")
    assert len(server.posts()) == 2  # held back: never paid twice
    assert "hold back 2 jobs" in run.stderr


@pytest.mark.parametrize("kind", [RuntimeError, OSError, Weird])
def test_an_unforeseen_exception_while_saving_keeps_the_image_and_its_url(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: type
) -> None:
    monkeypatch.setattr(Saver, "finish", boom(kind))
    run = expect(cli("generate", "-p", "x", "-o", str(tmp_path / "out")), 6, "kept at")
    kept, url = run.stdout.split()
    assert url.startswith(server.origin) and Path(kept).read_bytes()[:4] == b"\x89PNG"
    (entry,) = ledger_rows(tmp_path)
    assert entry["status"] == "failed" and entry["may_be_billed"] == 1
    assert entry["unsaved_urls"] is None  # rescued: it counts as saved (SPEC 7)
    assert json.loads(entry["files"])[0]["path"] == str(Path(kept).resolve())
    assert partial_files(tmp_path / "out") == []
    expect(cli("recover"), 0, "Nothing to recover")
    assert len(server.posts()) == 1


@pytest.mark.parametrize("kind", [RuntimeError, Weird])
def test_an_unforeseen_exception_downloading_prints_the_url_for_recover(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: type
) -> None:
    real = client_module.Client.download
    monkeypatch.setattr(client_module.Client, "download", boom(kind))
    run = expect(cli("generate", "-p", "x", "-o", str(tmp_path / "out")), 6)
    (url,) = run.stdout.split()
    assert url.startswith(server.origin)
    (entry,) = ledger_rows(tmp_path)
    assert entry["may_be_billed"] == 1 and json.loads(entry["unsaved_urls"]) == [url]
    monkeypatch.setattr(client_module.Client, "download", real)
    again = expect(cli("recover"))
    assert Path(again.stdout.strip()).is_file() and len(server.posts()) == 1


def test_b64_bytes_that_cannot_be_saved_go_to_the_rescue_folder(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.mode = "b64"
    monkeypatch.setattr(Saver, "finish", boom(RuntimeError))
    run = expect(cli("generate", "-p", "x", "-o", str(tmp_path / "out")), 6, "kept at")
    (kept,) = run.stdout.split()
    assert Path(kept).read_bytes()[:4] == b"\x89PNG"


def test_a_batch_rerun_only_downloads_a_job_whose_save_failed(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = jobs_file(tmp_path, 2)
    real = Saver.finish
    with monkeypatch.context() as patch:
        patch.setattr(Saver, "finish", boom(KeyError))
        run = expect(cli("batch", str(jobs)), 7, "download 2 paid results")
    assert len([u for u in run.stdout.split() if u.startswith(server.origin)]) == 2
    final = last_lines(jobs.with_name("jobs.results.jsonl"))
    assert all(r["exit_code"] == 6 and r["urls"] for r in final.values())
    monkeypatch.setattr(Saver, "finish", real)
    gets = len(server.gets())
    expect(cli("batch", str(jobs)))
    assert len(server.posts()) == 2 and len(server.gets()) == gets + 2


def test_a_failing_ledger_never_stands_between_the_answer_and_the_file(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Ledger.update
    calls: list[str] = []

    def update(self: Ledger, entry_id: int, **fields: Any) -> None:
        calls.append(str(fields.get("status")))
        if fields.get("status") in ("sent", "answered", "saved"):
            raise sqlite3.OperationalError("database is locked")
        real(self, entry_id, **fields)

    monkeypatch.setattr(Ledger, "update", update)
    run = expect(
        cli("generate", "-p", "x", "-o", str(tmp_path / "out")),
        0,
        "The ledger could not record the answer",
        "database is locked",
    )
    (path,) = run.stdout.split()
    assert Path(path).is_file()
    assert server.origin in run.stderr  # the URL is said where it could not be recorded
    assert calls == ["sent", "answered", "saved"]


def test_a_failing_ledger_after_a_failed_save_still_prints_the_url(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def update(self: Ledger, entry_id: int, **fields: Any) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(Ledger, "update", update)
    monkeypatch.setattr(Saver, "finish", boom(RuntimeError))
    run = expect(cli("generate", "-p", "x", "--json"), 6)
    error = json.loads(run.stdout)["error"]
    assert error["urls"] and error["may_be_billed"] is True
    assert any("malformed" in w for w in error["warnings"])


def test_a_ledger_that_cannot_begin_stops_before_sending(
    cli: Cli, server: FakeDMX, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Ledger, "create", boom(sqlite3.OperationalError))
    expect(cli("generate", "-p", "x"), 3, "nothing was sent")
    assert server.posts() == []


@pytest.mark.parametrize("step", ["sent", "answered"])
def test_a_results_file_that_fails_mid_job_stops_the_batch_and_keeps_the_result(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    jobs = jobs_file(tmp_path, 3)
    real = ResultsLog.append

    def append(self: ResultsLog, record: Any) -> None:
        if record.get("status") == step:
            raise OSError(28, "No space left on device")
        real(self, record)

    with monkeypatch.context() as patch:
        patch.setattr(ResultsLog, "append", append)
        run = expect(
            cli("batch", str(jobs), "--concurrency", "1"), 7, "No space left", "did not run"
        )
    assert len(server.posts()) == 1  # no new job started after the failure
    (path,) = run.stdout.split()
    assert Path(path).is_file()  # the paid result is saved all the same
    expect(cli("batch", str(jobs)))
    assert len(server.posts()) == 3  # the saved job is not sent again


def test_an_unforeseen_exception_in_the_receipt_is_a_warning(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aftersave_module, "receipt", boom(ZeroDivisionError))
    run = expect(cli("generate", "-p", "x"), 0, "ZeroDivisionError")
    assert Path(run.stdout.strip()).is_file()
    assert ledger_rows(tmp_path)[0]["status"] == "saved"


def test_standard_output_that_fails_after_saving_puts_the_path_on_stderr(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RunContext, "emit_lines", boom(OSError))
    run = expect(cli("generate", "-p", "x", "-o", str(tmp_path / "out")), 6)
    (saved,) = list((tmp_path / "out").iterdir())
    assert str(saved) in run.stderr and "Standard output could not be written" in run.stderr


def test_a_batch_whose_stdout_fails_stops_naming_the_jobs_not_run(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = jobs_file(tmp_path, 3)
    with monkeypatch.context() as patch:
        patch.setattr(RunContext, "emit_lines", boom(OSError))
        run = expect(cli("batch", str(jobs), "--concurrency", "1"), 7, "did not run: j1, j2")
    (saved,) = [line.split(": ", 2)[2] for line in run.stderr.splitlines() if "result:" in line]
    assert Path(saved).is_file()
    expect(cli("batch", str(jobs)))
    assert len(server.posts()) == 3


def test_a_worker_that_dies_stops_the_batch_naming_the_jobs_not_run(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dmxedit.batch import runner as runner_module

    jobs = jobs_file(tmp_path, 3)
    monkeypatch.setattr(runner_module.Runner, "run_one", boom(Weird))
    run = expect(cli("batch", str(jobs), "--concurrency", "1"), 1, "did not run", "Weird")
    assert "j0" in run.stderr and server.posts() == []


def test_the_guard_covers_generations_and_edits_alike(
    cli: Cli, server: FakeDMX, png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers_module, "parse", boom(MemoryError))
    expect(cli("edit", str(png), "-p", "x"), 4, "MemoryError", "may have done the work")
    assert [p.path for p in server.posts()] == [EDITS]
    assert GENERATIONS not in [p.path for p in server.posts()]


def test_recover_whose_stdout_fails_puts_the_paths_on_stderr(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = client_module.Client.download
    monkeypatch.setattr(client_module.Client, "download", boom(RuntimeError))
    expect(cli("generate", "-p", "x", "-o", str(tmp_path / "out")), 6)
    monkeypatch.setattr(client_module.Client, "download", real)
    monkeypatch.setattr(RunContext, "emit_lines", boom(OSError))
    run = expect(cli("recover"), 6, "Standard output could not be written")
    (saved,) = list((tmp_path / "out").iterdir())
    assert str(saved) in run.stderr
    assert ledger_rows(tmp_path)[0]["status"] == "saved"
