"""A base URL on a DMXAPI site without /v1 is refused before anything is sent (exit 2,
naming the URL to use); on another host it is a warning (issue 21, point 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeserver import FakeDMX
from helpers import Cli, expect

from dmxedit import edit_image
from dmxedit.core.errors import InputError
from dmxedit.core.settings import v1_fix


# http://www.dmxapi.cn through the fake server as a proxy: were anything sent, the fake
# server would see it, and no real host is ever reached.
def _via_fake(server: FakeDMX, base_url: str) -> dict[str, str]:
    return {"DMXAPI_BASE_URL": base_url, "HTTP_PROXY": server.origin, "NO_PROXY": ""}


@pytest.mark.parametrize(
    ("url", "fixed"),
    [
        ("https://www.dmxapi.cn", "https://www.dmxapi.cn/v1"),
        ("https://www.dmxapi.cn/", "https://www.dmxapi.cn/v1"),
        ("https://www.dmxapi.com/v1/images/edits", "https://www.dmxapi.com/v1"),
        ("https://ssvip.dmxapi.com/api", "https://ssvip.dmxapi.com/v1"),
        ("https://relay.example/openai", "https://relay.example/openai/v1"),
        ("https://relay.example/v1/images/generations", "https://relay.example/v1"),
        ("https://www.dmxapi.cn/v1", None),
        ("http://127.0.0.1:8080/v1/", None),
    ],
)
def test_the_fixed_url(url: str, fixed: str | None) -> None:
    assert v1_fix(url) == fixed


def test_edit_refuses_a_dmxapi_site_without_v1_and_sends_nothing(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    run = cli("edit", str(png), "-p", "x", env=_via_fake(server, "http://www.dmxapi.cn"))
    expect(run, 2, "does not end in /v1", "DMXAPI_BASE_URL=http://www.dmxapi.cn/v1")
    assert server.requests == []


def test_the_flag_names_the_flag_to_use(cli: Cli, server: FakeDMX) -> None:
    run = cli("generate", "-p", "x", "--base-url", "http://www.dmxapi.com/v1/images/generations")
    expect(run, 2, "--base-url http://www.dmxapi.com/v1")
    assert server.requests == []


def test_a_dry_run_refuses_it_too(cli: Cli, png: Path) -> None:
    run = cli("edit", str(png), "-p", "x", "--dry-run", "--base-url", "https://www.dmxapi.cn")
    expect(run, 2, "--base-url https://www.dmxapi.cn/v1")
    assert "curl" not in run.stdout


def test_config_set_refuses_it_and_keeps_the_file(cli: Cli, tmp_path: Path) -> None:
    expect(cli("config", "set", "base-url", "https://www.dmxapi.cn/v1"), 0)
    run = cli("config", "set", "base-url", "https://www.dmxapi.cn")
    expect(run, 2, "dmxedit config set base-url https://www.dmxapi.cn/v1")
    got = cli("config", "get", "base-url", env={"DMXAPI_BASE_URL": ""})
    assert got.stdout.strip() == "https://www.dmxapi.cn/v1"


def test_a_stored_one_is_refused_with_the_command_that_fixes_it(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text('base-url = "https://www.dmxapi.cn"\n', encoding="utf-8")
    run = cli("edit", str(png), "-p", "x", env={"DMXAPI_BASE_URL": ""})
    expect(run, 2, "Run: dmxedit config set base-url https://www.dmxapi.cn/v1")
    assert server.requests == []


def test_another_host_without_v1_is_a_warning_and_is_sent(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    run = cli("edit", str(png), "-p", "x", env={"DMXAPI_BASE_URL": server.origin})
    assert "warning: The base URL" in run.stderr, run.output
    assert f"use {server.origin}/v1" in run.stderr
    assert server.requests  # a relay may serve other paths: it is the user's call


def test_the_library_refuses_it(
    server: FakeDMX, png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _via_fake(server, "").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match="does not end in /v1") as caught:
        edit_image([png], "x", base_url="http://www.dmxapi.cn", api_key="sk-x")
    assert caught.value.exit_code == 2
    assert server.requests == []
