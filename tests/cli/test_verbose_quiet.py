"""-v/--verbose and -q/--quiet on every command that talks to the network (issue 21,
point 12): balance, usage, models, doctor, recover and history show take them, -v shows
each request the command makes, and the two together are a usage error."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeserver import SYSTEM_TOKEN, USER_ID, FakeDMX
from helpers import KEY, Cli, Run, expect

ACCOUNT = {"DMXAPI_SYSTEM_TOKEN": SYSTEM_TOKEN, "DMXAPI_USER_ID": USER_ID}
COMMANDS = [["balance"], ["usage"], ["models"], ["doctor"], ["recover"], ["history", "show", "1"]]


def _run(cli: Cli, png: Path, args: list[str], *flags: str) -> Run:
    expect(cli("edit", str(png), "-p", "x"), 0)  # ledger entry 1, for history show
    run = cli(*args, *flags, env=ACCOUNT)
    assert SYSTEM_TOKEN not in run.stdout + run.stderr and KEY not in run.stderr
    return run


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("flag", ["-v", "--verbose", "-q", "--quiet"])
def test_every_network_command_takes_v_and_q(
    cli: Cli, png: Path, args: list[str], flag: str
) -> None:
    run = _run(cli, png, args, flag)
    assert run.code == 0, run.output
    assert "No such option" not in run.stderr


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_v_and_q_together_are_refused(cli: Cli, png: Path, args: list[str]) -> None:
    expect(_run(cli, png, args, "-v", "-q"), 2, "contradict")


@pytest.mark.parametrize(
    ("args", "request_line"),
    [
        (["balance"], "GET {origin}/api/user/self -> HTTP 200"),
        (["usage"], "GET {origin}/api/log/self?"),
        (["models"], "GET {origin}/v1/models -> HTTP 200"),
        (["doctor"], "GET {origin}/v1/models -> HTTP 200"),
    ],
)
def test_verbose_shows_each_request(
    cli: Cli, server: FakeDMX, png: Path, args: list[str], request_line: str
) -> None:
    line = request_line.format(origin=server.origin)
    verbose = _run(cli, png, args, "-v")
    assert line in verbose.stderr, verbose.output
    plain = _run(cli, png, args)
    assert line not in plain.stderr
    assert verbose.stdout.split()[0] == plain.stdout.split()[0]  # the same data


def test_doctor_verbose_shows_the_balance_request_too(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = _run(cli, png, ["doctor"], "-v")
    assert f"GET {server.origin}/api/user/self -> HTTP 200" in run.stderr


def test_quiet_drops_the_notes(cli: Cli, png: Path) -> None:
    assert "image model" in _run(cli, png, ["models"]).stderr
    assert _run(cli, png, ["models"], "-q").stderr == ""
    assert "dmxedit doctor:" not in _run(cli, png, ["doctor"], "-q").stderr
