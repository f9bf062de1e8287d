"""Images and prompts from standard input."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeserver import PNG_BYTES
from helpers import run_in_process


@pytest.mark.e2e
def test_standard_input_closed_is_exit_2(png: Path) -> None:
    for args in (["edit", str(png), "-p", "-"], ["edit", "-", "-p", "x"]):
        run = run_in_process([*args, "--dry-run"], input=None)
        assert run.code == 2 and "Standard input is closed" in run.stderr, run.output


@pytest.mark.e2e
def test_image_and_prompt_cannot_both_come_from_standard_input() -> None:
    run = run_in_process(["edit", "-", "-p", "-", "--dry-run"], input=PNG_BYTES)
    assert run.code == 2
    assert "already used for the image" in run.stderr


@pytest.mark.e2e
def test_reading_from_a_terminal_says_what_it_waits_for() -> None:
    run = run_in_process(["edit", "-", "-p", "x", "--dry-run"], input=PNG_BYTES, stdin_isatty=True)
    assert run.code == 0, run.output
    assert "Reading the image from standard input (end it with Ctrl-D)" in run.stderr
    piped = run_in_process(["edit", "-", "-p", "x", "--dry-run"], input=PNG_BYTES)
    assert "Ctrl-D" not in piped.stderr
