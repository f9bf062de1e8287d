"""dmxedit mcp against SPEC 14, the gaps a review of issue #25 found: a batch's masks
confined, the session's cap kept across batches, nothing sent after a cancel, DNS-rebinding
protection on every loopback address, arguments checked against the schemas, start_batch's
concurrency, warnings in the results, secrets kept out of the log, the checked jobs run."""

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


def call(session: Session, name: str, args: dict[str, Any]) -> Any:
    async def main() -> Any:
        async with Client(mcp_server.build(session)) as client:
            return await client.call_tool(name, args)

    return anyio.run(main)


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def image_posts(server: FakeDMX) -> list[Any]:
    return server.posts(EDITS) + server.posts(GENERATIONS)


def one_job(folder: Path) -> None:
    (folder / "jobs.jsonl").write_text(json.dumps({"images": ["photo.png"], "prompt": "p"}) + "\n")


# -- 3. confinement: a jobs file's mask ---------------------------------------------------


@pytest.mark.parametrize("relative", [False, True])
def test_start_batch_refuses_a_mask_outside_the_roots(
    session: Session, server: FakeDMX, tmp_path: Path, relative: bool
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
            {
                "images": ["photo.png"],
                "prompt": "p",
                "model": "gpt-image-1.5",
                "mask": "../secret.png" if relative else str(secret),
            }
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
    from dmxedit.batch.run import run_batch as real_run
    from dmxedit.mcp import batches

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
            return [
                await client.call_tool("start_batch", {"jobs": j}) for j in ("a.jsonl", "b.jsonl")
            ]

    for started in anyio.run(both):
        if not started.is_error:
            handle = started.structured_content["handle"]
            wait_until(lambda h=handle: session.batches[h].state in ("done", "failed"))  # type: ignore[misc]
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
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (port, port, len(body)) + body
            )
            answer = s.recv(200).decode(errors="replace")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    status = int(answer.split()[1])
    assert status in (403, 421), answer


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
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps({"images": ["photo.png"], "prompt": "p"}) + "\n"
    )
    result = call(session, "start_batch", {"jobs": "jobs.jsonl", "concurrency": 5000})
    if not result.is_error:
        handle = result.structured_content["handle"]
        wait_until(lambda: session.batches[handle].state in ("done", "failed"))
    assert result.is_error, text(result)


def test_start_batch_concurrency_has_the_clis_range_in_its_schema(
    session: Session, server: FakeDMX, tmp_path: Path
) -> None:
    from dmxedit.mcp import schemas

    given = schemas.schemas()["start_batch"]["properties"]["concurrency"]["anyOf"]
    assert given[0] == {"type": "integer", "minimum": 1, "maximum": 64}
    assert given[1]["enum"] == ["auto"]
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps({"images": ["photo.png"], "prompt": "p"}) + "\n"
    )
    for wrong in (0, "8", "fast"):
        result = call(session, "start_batch", {"jobs": "jobs.jsonl", "concurrency": wrong})
        assert result.is_error and "concurrency" in text(result), wrong
    result = call(session, "start_batch", {"jobs": "jobs.jsonl", "concurrency": "auto"})
    handle = result.structured_content["handle"]
    wait_until(lambda: session.batches[handle].state in ("done", "failed"))
    assert session.batches[handle].state == "done"
    assert session.batches[handle].planned["concurrency"] == "auto"


def test_a_wrong_argument_is_named_in_a_usage_error(session: Session, server: FakeDMX) -> None:
    result = call(session, "estimate", {"images": ["photo.png"], "count": "3"})
    assert result.structured_content["error"]["exit_code_name"] == "USAGE"
    assert "count: '3' is not of type 'integer'" in text(result)
    result = call(session, "edit_image", {"images": ["photo.png"], "prompt": "x", "api": "door"})
    assert "api: 'door' is not one of ['gemini', 'images']" in text(result)
    assert image_posts(server) == []


def test_a_batch_reserves_its_tokens_and_gets_back_what_was_not_spent(
    session: Session, server: FakeDMX, tmp_path: Path
) -> None:
    """Refused by the API (400: not billed): the reserved tokens go back to the session."""
    session.max_tokens = 3000
    server.script(EDITS, Reply(status=400, json={"error": {"message": "no"}}))
    (tmp_path / "jobs.jsonl").write_text(
        json.dumps({"images": ["photo.png"], "prompt": "p"}) + "\n"
    )
    started = call(session, "start_batch", {"jobs": "jobs.jsonl"})
    assert started.structured_content["tokens_reserved"] == 1210
    handle = started.structured_content["handle"]
    wait_until(lambda: session.batches[handle].state in ("done", "failed"))
    assert session.batches[handle].state == "failed"
    wait_until(lambda: session.spent == 0)
    # and a batch over what is left is refused whole, saying what is left
    session.spent = 2000
    refused = call(session, "start_batch", {"jobs": "jobs.jsonl"})
    assert refused.is_error and "1,000 of its 3,000 left" in text(refused)


def test_a_batch_of_unknown_tokens_under_a_cap_is_refused(
    session: Session, server: FakeDMX, tmp_path: Path
) -> None:
    session.max_tokens = 100_000
    job = {"images": ["photo.png"], "prompt": "p", "model": "gpt-image-1.5"}
    (tmp_path / "jobs.jsonl").write_text(json.dumps(job) + "\n")
    result = call(session, "start_batch", {"jobs": "jobs.jsonl"})
    assert result.is_error and "does not document" in text(result)
    assert session.batches == {}
    assert image_posts(server) == []


def test_start_batch_runs_the_lines_it_checked(
    session: Session, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jobs file changed after its check (to name a file outside the roots): the batch
    runs the lines that were checked, from its private copy."""
    from dmxedit.mcp import batches

    root = tmp_path / "root"
    root.mkdir()
    (root / "photo.png").write_bytes(make_png(40, 30))
    (tmp_path / "secret.png").write_bytes(make_png(40, 30))
    jobs = root / "jobs.jsonl"
    jobs.write_text(json.dumps({"images": ["photo.png"], "prompt": "p"}) + "\n")
    session.confinement = Confinement.of([str(root)], None, tmp_path)
    from dmxedit.batch.run import run_batch as real_run

    def changed_meanwhile(*args: Any, **kwargs: Any) -> Any:
        jobs.write_text(json.dumps({"images": ["../secret.png"], "prompt": "p"}) + "\n")
        return real_run(*args, **kwargs)

    monkeypatch.setattr(batches, "run_batch", changed_meanwhile)
    result = call(session, "start_batch", {"jobs": "jobs.jsonl"})
    handle = result.structured_content["handle"]
    wait_until(lambda: session.batches[handle].state in ("done", "failed"))
    sent = [p.filename for r in image_posts(server) for p in r.parts if p.filename]
    assert sent == ["photo.png"]
    line = json.loads(Path(session.batches[handle].results).read_text().splitlines()[-1])
    assert line["jobs_file"] == str(jobs.resolve())  # the file given, not the copy


def test_engine_warnings_are_in_the_result(session: Session, server: FakeDMX) -> None:
    """nano-banana-2 documents 16 inputs, one page of the docs 14: 15 images are warned of."""
    result = call(session, "edit_image", {"images": ["photo.png"] * 15, "prompt": "x"})
    assert not result.is_error, text(result)
    said = result.structured_content["warnings"]
    assert any("one page of the provider's documentation says 14" in w for w in said)
    assert "Warning: 15 images" in text(result)


def test_batch_warnings_are_shown_by_batch_status(session: Session) -> None:
    from dmxedit.mcp import batches

    run = batches.Background("batch-x", "jobs.jsonl", "jobs.results.jsonl", state="done")
    batches._Events(run, {}).warn("2 jobs went out last time without a result")
    session.batches[run.handle] = run
    result = call(session, "batch_status", {})
    assert "warning: 2 jobs went out" in text(result)
    assert result.structured_content["batches"][0]["warnings"] == [
        "2 jobs went out last time without a result"
    ]


def test_the_log_never_shows_the_key(
    session: Session, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError(f"a bug that says {KEY}")

    monkeypatch.setitem(mcp_server.TOOLS, "balance", ("broken", broken))
    result = call(session, "balance", {})
    assert result.structured_content["error"]["exit_code_name"] == "INTERNAL"
    assert "a bug that says [hidden]" in caplog.text and "RuntimeError" in caplog.text
    assert KEY not in caplog.text and KEY not in text(result)


def test_http_allows_its_own_host_only() -> None:
    from mcp.server.transport_security import TransportSecurityMiddleware

    guard = TransportSecurityMiddleware(mcp_server.guarded("127.0.0.2", 8765))
    assert guard._validate_host("127.0.0.2:8765")
    assert guard._validate_origin("http://127.0.0.2:8765")
    for host in ("evil.example:8765", "127.0.0.2:8766", "127.0.0.1:8765"):
        assert not guard._validate_host(host)
    six = TransportSecurityMiddleware(mcp_server.guarded("::1", 9000))
    assert six._validate_host("[::1]:9000") and not six._validate_host("localhost:9000")
