"""Usage errors: dmxedit's own messages, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_in_process


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args",
    [
        ["-q", "-v"],
        ["--concurrency", "2"],
        ["--results", "r.jsonl"],
    ],
)
def test_meaningless_combinations_are_refused(png: Path, args: list[str]) -> None:
    run = run_in_process(["edit", str(png), "-p", "x", "--dry-run", *args])
    assert run.code == 2, run.output


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args",
    [["edit", "a.png", "--bogus"], ["edit"], ["ratios", "--size"], ["nonsense"]],
)
def test_usage_errors_look_like_dmxedits_own_and_exit_2(args: list[str]) -> None:
    run = run_in_process(args)
    assert run.code == 2, run.output
    assert run.stderr.startswith("dmxedit: error: "), run.stderr
    assert "Traceback" not in run.stderr
