"""``-o -`` is refused when standard OUTPUT is a terminal, and only then (issue 21,
point 19: a seeded bug that looked at standard input's terminal instead went unseen)."""

from __future__ import annotations

from pathlib import Path

from fakeserver import FakeDMX
from helpers import Cli, expect


def test_o_dash_is_refused_when_stdout_is_a_terminal_even_if_stdin_is_not(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    run = expect(
        cli("edit", str(png), "-p", "x", "-o", "-", stdout_isatty=True, stdin_isatty=False),
        2,
        "standard output, which is a terminal",
    )
    assert run.stdout_bytes == b""
    assert server.posts() == []


def test_o_dash_writes_the_image_when_stdout_is_not_a_terminal_even_if_stdin_is(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    run = expect(
        cli("edit", str(png), "-p", "x", "-o", "-", stdout_isatty=False, stdin_isatty=True)
    )
    assert run.stdout_bytes == server.result
    assert len(server.posts()) == 1
