"""Review of issue #25 (dmxedit mcp): cases that show a gap against SPEC 14.

Each test states what SPEC 14 / the issue asks; a failing test is a gap.
Run: pytest -n 0 -q tests/mcp/test_mcp_review25.py
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from fakeserver import EDITS, GENERATIONS, FakeDMX, Reply, make_png
from helpers import KEY, dmxedit_command, wait_until
from mcp import Client

from dmxedit.mcp import server as mcp_server
from dmxedit.mcp.confine import Confinement
from dmxedit.mcp.tools import Session


@pytest.fixture
def session(server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("DMXAPI_BASE_URL", server.base_url)
    monkeypatch.setenv("DMXAPI_API_KEY", KEY)
    (tmp_path / "photo.png").write_bytes(make_png(40, 30))
    return Session(Confinement.of([], None, tmp_path), dict(os.environ))


def call(session: Session, name: str, args: dict[str, Any]) -> Any:
    async def main() -> Any:
        async with Client(mcp_server.build(session)) as client:
            return await client.call_tool(name, args)

    return anyio.run(main)


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def image_posts(server: FakeDMX) -> list[Any]:
    return server.posts(EDITS) + server.posts(GENERATIONS)


# -- 3. confinement: a jobs file's mask ---------------------------------------------------


def test_start_batch_refuses_a_mask_outside_the_roots(
    session: Session, server: FakeDMX, tmp_path: Path
) -> None:
    """SPEC 14: input images only from under the roots; a path outside is a tool error
    and nothing is sent. A job's ``mask`` is an input file read and uploaded too."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "photo.png").write_bytes(make_png(40, 30))
    from PIL import Image

    secret = tmp_path / "secret.png"  # outside the root: an RGBA PNG, a valid mask
    Image.new("RGBA", (40, 30), (0, 0, 0, 0)).save(secret)
    (root / "jobs.jsonl").write_text(
        json.dumps(
            {"images": ["photo.png"], "prompt": "p", "model": "gpt-image-1.5", "mask": str(secret)}
        )
        + "\n"
    )
    session.confinement = Confinement.of([str(root)], None, tmp_path)
    result = call(session, "start_batch", {"jobs": "jobs.jsonl"})
    if not result.is_error:
        handle = result.structured_content["handle"]
        wait_until(lambda: session.batches[handle].state in ("done", "failed"))
    sent = [[(p.name, p.filename) for p in r.parts] for r in image_posts(server)]
    assert result.is_error and "outside" in text(result), (text(result), sent)
    assert image_posts(server) == []


# -- 3. --max-tokens for the session: two batches -----------------------------------------


def test_two_batches_cannot_pass_the_session_cap(
    session: Session, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC 14: --max-tokens caps the estimated tokens of the whole session. nano-banana-2
    at 1K is 1210 tokens: a cap of 3000 allows two edits in all, not two per batch.
    start_batch hands run_batch session.left() and counts the batch's tokens only when
    its plan is made (after every line is checked): a second start_batch in between
    gets the whole budget again. The check of a long jobs file (its images read) takes
    a moment; the wrapper below makes that moment certain."""
    from dmxedit.mcp import batches

    real_run = batches.run_batch

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)  # checking a long jobs file
        return real_run(*args, **kwargs)

    monkeypatch.setattr(batches, "run_batch", slow_check)
    session.max_tokens = 3000
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(
                json.dumps({"images": ["photo.png"], "prompt": f"{name}{i}"}) + "\n"
                for i in range(2)
            )
        )
    async def both() -> list[Any]:
        async with Client(mcp_server.build(session)) as client:
            # one after the other: start_batch returns at once, as SPEC 14 asks
            return [await client.call_tool("start_batch", {"jobs": j}) for j in ("a.jsonl", "b.jsonl")]

    for started in anyio.run(both):
        if not started.is_error:
            handle = started.structured_content["handle"]
            wait_until(lambda h=handle: session.batches[h].state in ("done", "failed"))
    assert len(image_posts(server)) <= 2, (len(image_posts(server)), session.spent)


# -- 2. cancel: nothing sent after the cancel ---------------------------------------------


def test_a_call_cancelled_before_its_request_went_out_sends_nothing(
    session: Session, server: FakeDMX
) -> None:
    """SPEC 14: a cancelled call returns at once; only 'a request that already went out'
    goes on. Here the first attempt is answered 429 (not billed) with Retry-After 2 s;
    the client cancels during that wait: the retry must not be sent for a cancelled call."""
    busy = Reply(status=429, json={"error": {"message": "busy"}}, headers={"Retry-After": "2"})
    server.script(EDITS, busy)

    async def cancel() -> None:
        async with Client(mcp_server.build(session)) as client:
            with anyio.move_on_after(0.7):
                await client.call_tool("edit_image", {"images": ["photo.png"], "prompt": "x"})

    anyio.run(cancel)
    time.sleep(3.5)
    wait_until(lambda: not any(t.is_alive() for t in list(mcp_server.RUNNING)))
    assert len(server.posts(EDITS)) == 1  # the 429'd attempt only: no paid retry


# -- 1/3. --http on a loopback address other than 127.0.0.1 --------------------------------


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2"])
def test_http_on_any_loopback_keeps_dns_rebinding_protection(
    server: FakeDMX, tmp_path: Path, host: str
) -> None:
    """--http takes any loopback address; the SDK turns its DNS-rebinding protection on
    only for 127.0.0.1/localhost/::1. A page whose name resolves to 127.0.0.2 could then
    drive the server (and spend the key): a foreign Host header must be refused."""
    port = _free_port(host)
    env = {**os.environ, "DMXAPI_BASE_URL": server.base_url, "DMXAPI_API_KEY": KEY}
    proc = subprocess.Popen(
        [*dmxedit_command(), "mcp", "--http", f"{host}:{port}"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex((host, port)) == 0

        wait_until(listening)
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "evil", "version": "1"},
                },
            }
        ).encode()
        with socket.create_connection((host, port)) as s:
            s.sendall(
                b"POST /mcp HTTP/1.1\r\nHost: evil.example:%d\r\n"
                b"Origin: http://evil.example:%d\r\n"
                b"Content-Type: application/json\r\n"
                b"Accept: application/json, text/event-stream\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (port, port, len(body))
                + body
            )
            answer = s.recv(200).decode(errors="replace")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    status = int(answer.split()[1])
    assert status in (403, 421), answer


# -- 1. every CLI image option of `dmxedit edit` in edit_image ------------------------------


def test_every_option_of_the_edit_command_is_in_edit_image_or_excused() -> None:
    """Issue 25.1: 'a test fails if a CLI image option is missing from the tool schema'.
    The existing test compares with cli.options.SHARED only; the edit command itself
    also has --variants (N candidates: an image option), which edit_image lacks and
    nothing excuses."""
    import typer

    from dmxedit.cli.app import app
    from dmxedit.mcp import schemas

    command = typer.main.get_command(app).commands["edit"]  # type: ignore[attr-defined]
    given = {p.name for p in command.params}
    properties = set(schemas.edit_image()["properties"])
    # Not image options (the command's output mode, the prompt's source, batch flags):
    not_image = {"prompt_file", "dry_run", "json_out", "quiet", "verbose"}
    not_image |= {"concurrency", "results", "resend_unknown", "each"}
    missing = given - properties - set(schemas.NOT_FOR_AGENTS) - not_image
    assert missing == set()


# -- 3. errors: a wrong argument type is the caller's error, not a bug ----------------------


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("estimate", {"images": ["photo.png"], "count": "3", "model": "gpt-image-1.5"}),
        ("edit_image", {"images": ["photo.png"], "prompt": "x", "timeout": "soon"}),
    ],
)
def test_arguments_against_the_schema_are_usage_errors(
    session: Session, server: FakeDMX, name: str, args: dict[str, Any]
) -> None:
    """SPEC 14: errors carry the CLI's message and exit code name. The SDK's low-level
    server does not validate arguments against inputSchema; a string where the schema
    says integer reaches the engine and comes back as INTERNAL 'a bug in dmxedit' (with
    a traceback on stderr) instead of a USAGE error."""
    result = call(session, name, args)
    assert result.is_error
    assert result.structured_content["error"]["exit_code_name"] == "USAGE", text(result)
    assert image_posts(server) == []


def test_start_batch_concurrency_is_checked_like_the_cli(
    session: Session, server: FakeDMX, tmp_path: Path
) -> None:
    """`dmxedit batch --concurrency` takes 1-64; start_batch passes any integer on."""
    (tmp_path / "jobs.jsonl").write_text(json.dumps({"images": ["photo.png"], "prompt": "p"}) + "\n")
    result = call(session, "start_batch", {"jobs": "jobs.jsonl", "concurrency": 5000})
    if not result.is_error:
        handle = result.structured_content["handle"]
        wait_until(lambda: session.batches[handle].state in ("done", "failed"))
    assert result.is_error, text(result)
