"""Proxies from the environment (issue 15): the proxy requests will use is named, and a
SOCKS proxy without PySocks is a clear configuration error (exit 3) before anything is
sent, never a traceback or a vague "the transfer failed".

PySocks is blocked in-process (``sys.modules["socks"] = None``), so the tests mean the
same whether or not it is installed here.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import requests.adapters
from fakeserver import FakeDMX
from helpers import KEY, Cli, expect

from dmxedit.api.client import Client
from dmxedit.api.proxies import SOCKS_INSTALL, check_proxy, masked, proxy_for
from dmxedit.api.request import build_request
from dmxedit.api.retry import Policy
from dmxedit.core.errors import ConfigError, SaveError
from dmxedit.core.settings import resolve

SOCKS = "socks5h://127.0.0.1:9"  # nothing listens there: the tests must not need it


@pytest.fixture
def no_socks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PySocks cannot be imported; no proxy is bypassed unless a test says so."""
    monkeypatch.setitem(sys.modules, "socks", None)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for name in ("all_proxy", "ALL_PROXY", "https_proxy", "HTTPS_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    yield


class _Unused:
    """A sink the tests expect never to be opened."""

    def __init__(self) -> None:
        raise AssertionError("a sink was opened: something was sent or downloaded")

    def write(self, data: bytes) -> None: ...

    def discard(self) -> None: ...


def _unbypassed(server: FakeDMX) -> dict[str, str]:
    # conftest bypasses proxies for 127.0.0.1; these tests need the proxy to apply
    return {"NO_PROXY": "", "no_proxy": ""}


@pytest.mark.parametrize("variable", ["ALL_PROXY", "HTTP_PROXY", "all_proxy", "http_proxy"])
def test_a_socks_proxy_without_pysocks_stops_an_edit_before_sending(
    cli: Cli, server: FakeDMX, png: Path, no_socks: None, variable: str
) -> None:
    env = {**_unbypassed(server), variable: SOCKS}  # the fake server is http://
    run = expect(
        cli("edit", str(png), "-p", "x", env=env),
        3,
        f"The proxy in {variable} ({SOCKS}) is a SOCKS proxy",
        SOCKS_INSTALL,
        f"unset {variable}",
    )
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert server.requests == []
    assert not (Path.cwd() / "output").exists()  # checked before any folder is made


def test_generate_and_json_say_which_variable(cli: Cli, server: FakeDMX, no_socks: None) -> None:
    env = {**_unbypassed(server), "ALL_PROXY": SOCKS}
    run = expect(cli("generate", "-p", "x", "--json", env=env), 3)
    error = json.loads(run.stdout)["error"]
    assert error["exit_code"] == 3 and error["type"] == "ConfigError"
    assert error["proxy_source"] == "ALL_PROXY" and error["proxy"] == SOCKS
    assert SOCKS_INSTALL in error["hint"]
    assert server.requests == []


def test_a_batch_stops_before_its_first_job(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, no_socks: None
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"images": [png.name], "prompt": "a"}) + "\n" + json.dumps({"prompt": "b"})
    )
    env = {**_unbypassed(server), "HTTPS_PROXY": SOCKS, "HTTP_PROXY": SOCKS}
    expect(cli("batch", str(jobs), env=env), 3, "SOCKS proxy", SOCKS_INSTALL)
    assert server.requests == []


def test_no_proxy_for_the_host_means_no_error(
    cli: Cli, server: FakeDMX, png: Path, no_socks: None
) -> None:
    env = {"ALL_PROXY": SOCKS, "NO_PROXY": "127.0.0.1"}
    expect(cli("edit", str(png), "-p", "x", env=env))
    assert len(server.posts()) == 1


def test_with_pysocks_the_proxy_is_usable(monkeypatch: pytest.MonkeyPatch, no_socks: None) -> None:
    monkeypatch.setitem(sys.modules, "socks", types.ModuleType("socks"))
    monkeypatch.setenv("ALL_PROXY", SOCKS)
    proxy = proxy_for("https://www.dmxapi.cn/v1/images/edits")
    assert proxy is not None and proxy.usable and proxy.source == "ALL_PROXY"
    assert check_proxy("https://www.dmxapi.cn/v1") == proxy


def test_which_proxy_applies(monkeypatch: pytest.MonkeyPatch, no_socks: None) -> None:
    url = "https://www.dmxapi.cn/v1"
    assert proxy_for(url) is None
    monkeypatch.setenv("HTTP_PROXY", "http://plain:3128")
    assert proxy_for(url) is None  # an https URL does not take HTTP_PROXY
    monkeypatch.setenv("ALL_PROXY", "http://all:3128")
    everything = proxy_for(url)
    assert everything is not None and everything.source == "ALL_PROXY"
    monkeypatch.setenv("HTTPS_PROXY", "http://upper:3128")
    monkeypatch.setenv("https_proxy", "http://lower:3128")
    chosen = proxy_for(url)
    assert chosen is not None and (chosen.url, chosen.source) == (
        "http://lower:3128",
        "https_proxy",
    )
    assert chosen.usable
    monkeypatch.setenv("NO_PROXY", ".dmxapi.cn")
    assert proxy_for(url) is None


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("ftp://proxy:21", "the scheme ftp://"),
        ("http://:8080", "not a valid address"),
        ("http://proxy:port", "not a valid address"),
    ],
)
def test_a_proxy_requests_cannot_use_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, no_socks: None, value: str, words: str
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", value)
    with pytest.raises(ConfigError) as caught:
        check_proxy("https://www.dmxapi.cn/v1")
    assert words in caught.value.message and "HTTPS_PROXY" in caught.value.message
    assert caught.value.exit_code == 3


def test_a_proxy_password_is_never_shown(
    cli: Cli, server: FakeDMX, png: Path, no_socks: None
) -> None:
    secret = "socks5://user:hunter2@127.0.0.1:9"
    assert masked(secret) == "socks5://user:***@127.0.0.1:9"
    assert masked("http://proxy:3128") == "http://proxy:3128"
    run = expect(
        cli("edit", str(png), "-p", "x", env={**_unbypassed(server), "ALL_PROXY": secret}), 3
    )
    assert "hunter2" not in run.stdout + run.stderr
    assert "user:***@127.0.0.1:9" in run.stderr


def test_the_client_maps_requests_own_socks_failure(
    server: FakeDMX, monkeypatch: pytest.MonkeyPatch, no_socks: None
) -> None:
    """A client made without the pipeline's check still names the proxy: requests'
    own "Missing dependencies for SOCKS support" becomes the same ConfigError."""

    def missing(*args: object, **kwargs: object) -> None:
        raise requests.exceptions.InvalidSchema("Missing dependencies for SOCKS support.")

    monkeypatch.setattr(requests.adapters, "SOCKSProxyManager", missing)
    monkeypatch.setenv("ALL_PROXY", SOCKS)
    monkeypatch.setenv("DMXAPI_BASE_URL", server.base_url)
    monkeypatch.setenv("NO_PROXY", "")
    request = build_request("generate", resolve(), prompt="x", params=(), images=[])
    client = Client(api_key=KEY, policy=Policy(retries=0))
    with pytest.raises(ConfigError) as caught:
        client.send(request, _Unused)
    assert "ALL_PROXY" in caught.value.message and SOCKS_INSTALL in (caught.value.hint or "")
    assert server.requests == []


def test_a_result_download_through_an_unusable_proxy_keeps_the_url(
    monkeypatch: pytest.MonkeyPatch, no_socks: None
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", SOCKS)
    url = "https://mj-cn.scdn.app/files/gemini/result.png"
    with pytest.raises(SaveError) as caught:
        Client(api_key="").download(url, _Unused)
    assert caught.value.urls == [url] and caught.value.exit_code == 6
    assert "cannot be downloaded" in caught.value.message
    assert "HTTPS_PROXY" in caught.value.message
