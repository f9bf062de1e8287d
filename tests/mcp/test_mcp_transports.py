"""`dmxedit mcp` as a real process, through the SDK's own client: over standard
input/output (spawned as a subprocess) and over streamable HTTP on 127.0.0.1, against
the fake DMXAPI server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fakeserver import EDITS, FakeDMX, make_png
from helpers import KEY, dmxedit_command, ledger_rows, wait_until
from mcp import Client, StdioServerParameters


def _env(server: FakeDMX) -> dict[str, str]:
    return {**os.environ, "DMXAPI_BASE_URL": server.base_url, "DMXAPI_API_KEY": KEY}


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(make_png(40, 30))
    return path


def _edit_and_list(client_target: Any) -> tuple[list[str], Any]:
    async def main() -> tuple[list[str], Any]:
        async with Client(client_target) as client:
            tools = await client.list_tools()
            result = await client.call_tool("edit_image", {"images": ["photo.png"], "prompt": "x"})
            return [t.name for t in tools.tools], result

    return anyio.run(main)


def test_stdio_with_the_sdk_client(server: FakeDMX, tmp_path: Path, photo: Path) -> None:
    command = dmxedit_command()
    params = StdioServerParameters(
        command=command[0], args=[*command[1:], "mcp"], env=_env(server), cwd=str(tmp_path)
    )
    names, result = _edit_and_list(params)
    assert "edit_image" in names and "balance" in names
    assert not result.is_error
    link = next(c for c in result.content if c.type == "resource_link")
    assert link.uri.startswith("file://") and (tmp_path / "output").is_dir()
    assert result.structured_content["ledger_id"] == ledger_rows(tmp_path)[0]["id"]
    assert len(server.posts(EDITS)) == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server(server: FakeDMX, tmp_path: Path, photo: Path) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [*dmxedit_command(), "mcp", "--http", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=_env(server),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        out, _err = proc.communicate(timeout=30)
        assert out == b""  # standard output carries nothing but (on stdio) the protocol


def test_http_with_the_sdk_client(server: FakeDMX, http_server: str, tmp_path: Path) -> None:
    names, result = _edit_and_list(http_server)
    assert "start_batch" in names
    assert not result.is_error
    assert json.dumps(result.structured_content).count(str(tmp_path / "output")) == 1
    assert len(server.posts(EDITS)) == 1


@pytest.mark.slow
def test_stdio_cancel_keeps_the_paid_request(server: FakeDMX, tmp_path: Path, photo: Path) -> None:
    server.default_delay = 1.5
    command = dmxedit_command()
    params = StdioServerParameters(
        command=command[0], args=[*command[1:], "mcp"], env=_env(server), cwd=str(tmp_path)
    )

    async def main() -> None:
        async with Client(params) as client:
            with anyio.move_on_after(0.5):
                await client.call_tool("edit_image", {"images": ["photo.png"], "prompt": "x"})
            answer = await client.call_tool("ratios", {})  # the server lives on
            assert not answer.is_error

    anyio.run(main)  # the client closed: the server waits for the request, then exits
    wait_until(lambda: any(r["status"] == "saved" for r in ledger_rows(tmp_path)))
    assert len(list((tmp_path / "output").iterdir())) == 1
    assert len(server.posts(EDITS)) == 1
