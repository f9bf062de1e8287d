"""`dmxedit doctor` looks at the proxy result downloads go through, not only the API's
(issue 21, point 13): NO_PROXY may exempt the API's host while ALL_PROXY (a SOCKS proxy,
without PySocks) would carry every download from the storage hosts, which then fails
after the image is paid for."""

from __future__ import annotations

import sys
import types

import pytest
from fakeserver import FakeDMX
from helpers import Cli, Run, expect

SOCKS = "socks5://127.0.0.1:1080"  # nothing listens there; nothing is sent through it


def _proxy_line(run: Run) -> tuple[str, str]:
    for line in run.stdout.splitlines():
        state, _, rest = line.partition("  ")
        if rest.strip().startswith("proxy "):
            return state.strip(), rest.strip()[len("proxy") :].strip()
    raise AssertionError(run.output)


def test_socks_for_downloads_without_pysocks_is_said(
    cli: Cli, server: FakeDMX, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "socks", None)  # PySocks not importable
    run = expect(cli("doctor", env={"all_proxy": SOCKS, "NO_PROXY": "127.0.0.1"}), 0)
    state, rest = _proxy_line(run)
    assert state == "warn", run.output
    assert "NO_PROXY excludes 127.0.0.1: direct connection" in rest
    assert "downloaded from other hosts" in rest and f"all_proxy ({SOCKS})" in rest
    assert "SOCKS support is not installed" in rest and "paid for" in rest
    assert "pip install 'requests[socks]'" in rest and "b64_json" in rest
    assert [r.path for r in server.requests if "result-host" in r.path] == []


def test_with_pysocks_the_download_proxy_is_named(
    cli: Cli, server: FakeDMX, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "socks", types.ModuleType("socks"))
    run = expect(cli("doctor", env={"ALL_PROXY": SOCKS, "NO_PROXY": "127.0.0.1"}), 0)
    state, rest = _proxy_line(run)
    assert state == "ok", run.output
    assert f"Result downloads from other hosts go through {SOCKS} (from ALL_PROXY)" in rest


def test_one_proxy_for_everything_is_said_once(
    cli: Cli, server: FakeDMX, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = expect(cli("doctor", env={"ALL_PROXY": server.origin, "NO_PROXY": ""}), 0)
    state, rest = _proxy_line(run)  # the fake server plays the proxy too
    assert state == "ok" and f"Through {server.origin} (from ALL_PROXY)." == rest


def test_no_proxy_at_all_is_a_direct_connection(cli: Cli, server: FakeDMX) -> None:
    state, rest = _proxy_line(expect(cli("doctor"), 0))
    assert state == "ok" and "Result downloads" not in rest
