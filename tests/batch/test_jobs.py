"""Jobs files: lines, encodings, checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeserver import FakeDMX
from helpers import Cli, expect


@pytest.mark.e2e
def test_a_jobs_file_that_is_not_utf8_names_the_line_and_a_bom_is_accepted(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(b'{"prompt": "one"}\n{"prompt": "caf\xe9"}\n')
    run = cli("batch", str(jobs))
    assert run.code == 2 and "line 2: not UTF-8" in run.stderr, run.output
    assert server.requests == []
    jobs.write_bytes(b'\xef\xbb\xbf{"prompt": "one"}\n{"prompt": "two"}\n')
    expect(cli("batch", str(jobs)))
    assert len(server.posts()) == 2
