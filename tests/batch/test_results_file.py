"""The results file stays valid UTF-8 JSON Lines after any run: a torn tail is cut
under the lock, text a relay cut is kept escaped, and a results path that cannot be a
file is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import FakeDMX
from helpers import Cli, expect, jobs_file

from dmxedit.batch.resultsfile import ResultsLog


@pytest.mark.parametrize("tail", [b'{"id": "j9", "sta', '{"id": "无'.encode()[:-1]])
def test_a_torn_tail_is_cut_before_appending(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "j0", "status": "ok"}\n' + tail)
    log = ResultsLog(path)
    log.lock()
    log.open()
    log.append({"id": "j1", "status": "ok", "note": "\ud83d half"})
    log.close()
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["j0", "j1"]
    assert json.loads(lines[1])["note"] == "\ud83d half"  # exact, and the file is UTF-8


def test_a_file_that_is_all_torn_is_emptied(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "j0"')
    log = ResultsLog(path)
    log.open()
    log.close()
    assert path.read_bytes() == b""


def test_a_results_path_whose_parent_is_a_file_is_exit_2(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, 1)
    (tmp_path / "afile").write_text("x")
    expect(
        cli("batch", str(jobs), "--results", str(tmp_path / "afile" / "r.jsonl")),
        2,
        "Cannot write the results file",
    )
    assert server.posts() == []
