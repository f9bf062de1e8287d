"""`dmxedit mcp`'s command line: the transport's address, and the extra it needs."""

from __future__ import annotations

import sys

import pytest
from helpers import expect

from dmxedit.cli.mcp import parse_http
from dmxedit.core.errors import InputError


@pytest.mark.parametrize("address", ["10.0.0.1:8765", "0.0.0.0:8765", "example.com:80"])
def test_http_other_than_loopback_is_exit_2(cli, address: str) -> None:  # type: ignore[no-untyped-def]
    expect(cli("mcp", "--http", address), 2, "loopback only")


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:http", ":80"])
def test_http_needs_host_and_port(address: str) -> None:
    with pytest.raises(InputError):
        parse_http(address)


@pytest.mark.parametrize(
    ("address", "host"),
    [("127.0.0.1:8765", "127.0.0.1"), ("[::1]:8765", "::1"), ("localhost:8765", "localhost")],
)
def test_loopback_addresses_are_taken(address: str, host: str) -> None:
    assert parse_http(address) == (host, 8765)


def test_without_the_extra_exit_2_names_it(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "mcp", None)  # `import mcp` raises ImportError
    run = expect(cli("mcp"), 2, "pip install 'dmxedit[mcp]'")
    assert run.stdout == ""
