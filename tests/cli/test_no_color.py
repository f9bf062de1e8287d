"""``NO_COLOR`` on a terminal: no colour when it is set, colour when it is not (issue 21,
point 19: a seeded bug that inverted it, forcing colour on, went unseen because every
test runs with NO_COLOR set)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fakeserver import EDITS, FakeDMX, Reply
from helpers import Cli, Run, expect

SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colours(text: str) -> list[str]:
    """The SGR sequences in ``text`` that set a colour (bold or italic are no colour)."""
    found = []
    for params in SGR.findall(text):
        codes = [int(c) for c in params.split(";") if c]
        if any(30 <= c <= 38 or 40 <= c <= 48 or 90 <= c <= 97 or 100 <= c <= 107 for c in codes):
            found.append(params)
    return found


def failing_on_a_terminal(cli: Cli, server: FakeDMX, png: Path, env: dict[str, str]) -> Run:
    server.script(EDITS, Reply(status=400, json={"error": {"message": "refused"}}))
    return expect(cli("edit", str(png), "-p", "x", stderr_isatty=True, env=env), 4)


@pytest.mark.parametrize("value", ["1", "yes"])
def test_no_color_set_means_no_colour_on_a_terminal(
    cli: Cli, server: FakeDMX, png: Path, value: str
) -> None:
    run = failing_on_a_terminal(cli, server, png, {"NO_COLOR": value, "TERM": "xterm-256color"})
    assert "refused" in run.stderr and "╭" in run.stderr  # the terminal's error panel
    assert colours(run.stderr) == [], repr(run.stderr[:300])


def test_without_no_color_a_terminal_gets_colour(
    cli: Cli, server: FakeDMX, png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR")
    run = failing_on_a_terminal(cli, server, png, {"TERM": "xterm-256color"})
    assert colours(run.stderr) != [], repr(run.stderr[:300])


def test_a_batch_failure_on_a_terminal_follows_no_color(
    cli: Cli, server: FakeDMX, png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.script(EDITS, Reply(status=400, json={"error": {"message": "refused"}}))
    args = ("edit", "--each", str(png), "-p", "x")
    plain = expect(cli(*args, stderr_isatty=True, env={"TERM": "xterm-256color"}), 7)
    assert "failed" in plain.stderr and colours(plain.stderr) == []
    monkeypatch.delenv("NO_COLOR")
    server.script(EDITS, Reply(status=400, json={"error": {"message": "refused"}}))
    coloured = expect(cli(*args, stderr_isatty=True, env={"TERM": "xterm-256color"}), 7)
    assert colours(coloured.stderr) != []
