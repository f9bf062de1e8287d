"""File names that are not UTF-8 (bytes a Linux file system allows, Python's surrogate
escapes): inputs, `--each`, `--variants`, `-o`, batch jobs, the ledger, `--json`, the
report and `recover` work with the file as the file system names it; a prompt that is not
text is a clear exit 2. Never a traceback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from fakeserver import EDITS, PNG_BYTES, FakeDMX, Reply, make_png
from helpers import Cli, expect


def _raw_name(folder: Path, raw: bytes) -> Path:
    """A path under ``folder`` whose last part is ``raw`` (bytes that are not UTF-8)."""
    return Path(os.fsdecode(os.path.join(os.fsencode(folder), raw)))


@pytest.fixture
def latin1(tmp_path: Path) -> Path:
    """An image named ``café.png`` in Latin-1: the byte 0xE9 is not UTF-8."""
    if os.name != "posix" or sys.platform == "darwin":
        pytest.skip("only POSIX file systems other than APFS keep names that are not UTF-8")
    path = _raw_name(tmp_path, b"caf\xe9.png")
    try:
        path.write_bytes(make_png(12, 8))
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    return path


def test_each_with_one_such_name_runs_every_job(
    cli: Cli, server: FakeDMX, tmp_path: Path, latin1: Path, png: Path
) -> None:
    run = expect(cli("edit", "--each", str(latin1), str(png), "-p", "x"))
    assert len(server.posts(EDITS)) == 2
    assert len(run.stdout.splitlines()) == 2
    listed = json.loads(expect(cli("history", "--json")).stdout)
    assert len(listed) == 2 and all(e["status"] == "saved" for e in listed)


def test_variants_of_such_an_image_and_its_stem_in_the_name(
    cli: Cli, server: FakeDMX, latin1: Path
) -> None:
    run = expect(cli("edit", str(latin1), "-p", "x", "--variants", "2", "--name", "{stem}-{i}"))
    assert len(server.posts(EDITS)) == 2
    assert len(run.stdout_bytes.splitlines()) == 2


def test_an_output_folder_so_named_keeps_its_name_everywhere(
    cli: Cli, server: FakeDMX, tmp_path: Path, latin1: Path
) -> None:
    folder = _raw_name(tmp_path, b"out\xff")
    run = expect(cli("edit", str(latin1), "-p", "x", "-o", str(folder), "--save-metadata"))
    (saved,) = [p for p in folder.iterdir() if p.suffix == ".png"]
    # Standard output (a pipe) carries the path's own bytes.
    assert run.stdout_bytes == os.fsencode(saved) + b"\n"
    # --json is valid UTF-8 and reads back to the exact name.
    run = expect(cli("edit", str(latin1), "-p", "x", "-o", str(folder), "--json"))
    run.stdout_bytes.decode("utf-8")
    (second,) = json.loads(run.stdout)["files"]
    assert Path(second).parent == folder and Path(second).exists()
    # The ledger keeps the folder and the files exactly.
    entry = json.loads(expect(cli("history", "show", "1", "--json")).stdout)
    assert entry["output"] == str(folder.resolve())
    assert entry["files"][0]["path"] == str(saved.resolve())
    found = json.loads(expect(cli("history", "--file", str(saved), "--json")).stdout)
    assert found["id"] == 1
    # On a terminal the undecodable byte is shown escaped, not sent raw.
    shown = expect(cli("history", "show", "1", stdout_isatty=True))
    assert "out\\xff" in shown.stdout


def test_recover_downloads_into_the_folder_as_named(
    cli: Cli, server: FakeDMX, tmp_path: Path, latin1: Path
) -> None:
    folder = _raw_name(tmp_path, b"r\xe9sultats")
    url = server.add_file("later.png", PNG_BYTES)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/later.png", *[Reply(status=503)] * 4)
    expect(cli("edit", str(latin1), "-p", "x", "-o", str(folder)), 6)
    run = expect(cli("recover"))
    (saved,) = run.stdout_bytes.splitlines()
    assert os.path.dirname(saved) == os.fsencode(folder.resolve())
    assert Path(os.fsdecode(saved)).read_bytes() == PNG_BYTES


def test_a_jobs_file_may_name_such_a_file_and_its_results_stay_utf8(
    cli: Cli, server: FakeDMX, tmp_path: Path, latin1: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    name = latin1.name  # "caf\udce9.png": written in JSON as a \udce9 escape
    jobs.write_text(json.dumps({"images": [name], "prompt": "x"}) + "\n", encoding="utf-8")
    expect(cli("batch", str(jobs)))
    text = (tmp_path / "jobs.results.jsonl").read_bytes().decode("utf-8")  # strict
    (line,) = [json.loads(x) for x in text.splitlines() if '"ok"' in x]
    assert line["status"] == "ok"
    expect(cli("batch", str(jobs)))  # the same job id on a re-run: skipped, not sent again
    assert len(server.posts(EDITS)) == 1


def test_the_report_links_such_files_by_their_bytes(
    cli: Cli, server: FakeDMX, tmp_path: Path, latin1: Path
) -> None:
    folder = _raw_name(tmp_path, b"out\xe9")
    expect(cli("edit", str(latin1), "-p", "x", "-o", str(folder)))
    expect(cli("report", "--history", "-o", str(tmp_path / "page.html")))
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert 'href="out%E9/' in page


@pytest.mark.parametrize(
    "args",
    [
        ["-p", os.fsdecode(b"make it \xff")],
        ["-p", "x", "--param", os.fsdecode(b"style=\xe9")],
        ["-p", "x", "-m", os.fsdecode(b"model\xe9")],
    ],
    ids=["prompt", "param", "model"],
)
def test_text_that_is_not_utf8_is_exit_2_before_sending(
    cli: Cli, server: FakeDMX, png: Path, args: list[str]
) -> None:
    if os.name != "posix":
        pytest.skip("command lines are text on Windows")
    run = expect(cli("edit", str(png), *args), 2, "not UTF-8 text")
    assert server.requests == []
    assert "Traceback" not in run.stderr


def test_history_grep_for_bytes_that_are_not_utf8_is_exit_2(cli: Cli) -> None:
    if os.name != "posix":
        pytest.skip("command lines are text on Windows")
    expect(cli("history", "--grep", os.fsdecode(b"caf\xe9")), 2, "not UTF-8 text")


def test_a_jobs_file_so_named_and_its_results_file(
    cli: Cli, server: FakeDMX, tmp_path: Path, latin1: Path
) -> None:
    jobs = _raw_name(tmp_path, b"jobs\xe9.jsonl")
    jobs.write_text(json.dumps({"images": [latin1.name], "prompt": "x"}) + "\n", "utf-8")
    expect(cli("batch", str(jobs)))
    results = _raw_name(tmp_path, b"jobs\xe9.results.jsonl")
    assert results.exists()
    status = expect(cli("batch", str(jobs), "--status"))
    assert b"1 done" in status.stdout_bytes
    expect(cli("report", str(results)))
