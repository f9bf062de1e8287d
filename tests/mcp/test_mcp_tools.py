"""The MCP server's tools through the SDK's own client, connected in-process to the
server (the same handlers the stdio and HTTP transports reach), against the fake
DMXAPI server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from fakeserver import EDITS, GENERATIONS, FakeDMX, Reply, make_png
from helpers import KEY, ledger_rows, wait_until
from mcp import Client

from dmxedit.mcp import server as mcp_server
from dmxedit.mcp.confine import Confinement
from dmxedit.mcp.tools import Session

Run = Callable[[Client], Awaitable[Any]]


def with_client(session: Session, run: Run, **options: Any) -> Any:
    async def main() -> Any:
        async with Client(mcp_server.build(session), **options) as client:
            return await run(client)

    return anyio.run(main)


def call(session: Session, name: str, args: dict[str, Any], **options: Any) -> Any:
    return with_client(session, lambda c: c.call_tool(name, args), **options)


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def image_posts(server: FakeDMX) -> list[Any]:
    return server.posts(EDITS) + server.posts(GENERATIONS)


def test_tools_listed_with_schemas(session: Session) -> None:
    listed = with_client(session, lambda c: c.list_tools())
    names = [t.name for t in listed.tools]
    assert names == [
        "edit_image",
        "generate_image",
        "continue_edit",
        "list_models",
        "ratios",
        "estimate",
        "start_batch",
        "batch_status",
        "history",
        "recover",
        "balance",
    ]
    edit = next(t for t in listed.tools if t.name == "edit_image")
    assert edit.input_schema["required"] == ["images", "prompt"]
    assert "quality" in edit.input_schema["properties"]


def test_edit_image_links_saved_file_with_ledger_id_and_receipt(
    session: Session, server: FakeDMX, tmp_path: Path, pil: Any
) -> None:
    server.result = make_png(1000, 600)
    result = call(session, "edit_image", {"images": ["photo.png"], "prompt": "snow"})
    assert not result.is_error, text(result)
    saved = list((tmp_path / "output").iterdir())
    assert len(saved) == 1
    link = next(c for c in result.content if c.type == "resource_link")
    assert link.uri == saved[0].resolve().as_uri()
    assert link.mime_type == "image/png" and link.size == saved[0].stat().st_size
    data = result.structured_content
    assert data["files"] == [str(saved[0])]
    assert data["ledger_id"] == ledger_rows(tmp_path)[0]["id"]
    assert data["receipt"]["delivered"][0]["width"] == 1000
    thumb = next(c for c in result.content if c.type == "image")
    import base64
    import io

    with pil.open(io.BytesIO(base64.b64decode(thumb.data))) as small:
        assert max(small.size) == 512  # a thumbnail, never the full image


def test_without_pillow_no_thumbnail(session: Session, no_pillow: None) -> None:
    result = call(session, "edit_image", {"images": ["photo.png"], "prompt": "snow"})
    assert not result.is_error, text(result)
    assert [c.type for c in result.content] == ["text", "resource_link"]


def test_inline_full_puts_the_whole_image(session: Session, server: FakeDMX) -> None:
    session.inline_full = True
    result = call(session, "edit_image", {"images": ["photo.png"], "prompt": "snow"})
    image = next(c for c in result.content if c.type == "image")
    import base64

    assert base64.b64decode(image.data) == server.result


@pytest.mark.parametrize("where", ["/etc/hostname", "../outside.png", "link.png"])
def test_images_outside_the_roots_are_refused_before_sending(
    session: Session, server: FakeDMX, tmp_path: Path, where: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside.png").write_bytes(make_png(8, 8))
    (root / "link.png").symlink_to(tmp_path / "outside.png")
    session.confinement = Confinement.of([str(root)], None, tmp_path)
    result = call(session, "edit_image", {"images": [where], "prompt": "snow"})
    assert result.is_error
    assert "outside the server's roots" in text(result)
    assert result.structured_content["error"]["exit_code_name"] == "USAGE"
    assert image_posts(server) == []


def test_mask_outside_the_roots_is_refused(session: Session, server: FakeDMX) -> None:
    args = {"images": ["photo.png"], "prompt": "x", "model": "gpt-image-1", "mask": "/etc/hostname"}
    result = call(session, "edit_image", args)
    assert result.is_error and "mask" in text(result)
    assert image_posts(server) == []


def test_the_clients_roots_narrow_the_servers(
    session: Session, server: FakeDMX, tmp_path: Path
) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "ok.png").write_bytes(make_png(8, 8))

    async def roots(_ctx: Any) -> Any:
        from mcp_types import ListRootsResult, Root

        return ListRootsResult(roots=[Root.model_validate({"uri": inner.as_uri()})])

    refused = call(
        session, "edit_image", {"images": ["photo.png"], "prompt": "x"}, list_roots_callback=roots
    )
    assert refused.is_error and "outside" in text(refused)
    taken = call(
        session,
        "edit_image",
        {"images": ["inner/ok.png"], "prompt": "x"},
        list_roots_callback=roots,
    )
    assert not taken.is_error, text(taken)
    assert len(image_posts(server)) == 1


def test_max_tokens_refuses_before_sending_and_says_what_is_left(
    session: Session, server: FakeDMX
) -> None:
    session.max_tokens = 2000  # nano-banana-2 at 1K: 1210 tokens

    async def twice(client: Client) -> tuple[Any, Any]:
        args = {"images": ["photo.png"], "prompt": "x"}
        return await client.call_tool("edit_image", args), await client.call_tool(
            "edit_image", args
        )

    first, second = with_client(session, twice)
    assert not first.is_error
    assert second.is_error
    assert "790 of its 2,000 left" in text(second)
    assert len(image_posts(server)) == 1


def test_max_tokens_refuses_a_model_whose_tokens_are_unknown(
    session: Session, server: FakeDMX
) -> None:
    session.max_tokens = 100_000
    args = {"images": ["photo.png"], "prompt": "x", "model": "brand-new-model", "api": "images"}
    result = call(session, "edit_image", args)
    assert result.is_error
    assert "no token count for brand-new-model" in text(result)
    assert image_posts(server) == []


def test_errors_carry_message_hint_exit_code_name_and_never_the_key(
    session: Session, server: FakeDMX
) -> None:
    echo = {"error": {"message": f"invalid request from key {KEY}", "type": "bad"}}
    server.script(EDITS, Reply(status=400, json=echo))
    result = call(session, "edit_image", {"images": ["photo.png"], "prompt": "x"})
    assert result.is_error
    dumped = json.dumps(result.structured_content) + text(result)
    assert KEY not in dumped
    assert result.structured_content["error"]["exit_code_name"] == "API"
    assert "exit code 4 API" in text(result)


def test_an_answer_echoing_the_key_is_shown_without_it(session: Session, server: FakeDMX) -> None:
    answer = server.url_result()
    answer["data"][0]["revised_prompt"] = f"made with {KEY}"
    server.script(EDITS, Reply(json=answer))
    result = call(session, "edit_image", {"images": ["photo.png"], "prompt": "x"})
    assert not result.is_error, text(result)
    dumped = json.dumps(result.structured_content) + text(result)
    assert KEY not in dumped and "made with" in dumped


def test_every_result_is_blanked_of_the_secrets() -> None:
    # The engine masks the key in what it reads; the server blanks it (and the system
    # token) once more in whatever it returns, text and structured content alike.
    from dmxedit.mcp.tools import Block, Output

    output = Output([Block("text", text=f"key {KEY}")], {"deep": [{"k": f"x{KEY}y"}]})
    result = mcp_server.to_result(output, [KEY])
    dumped = json.dumps(result.structured_content) + text(result)
    assert KEY not in dumped and dumped.count("[hidden]") == 2


def test_a_missing_key_is_a_tool_error(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    session.env = {k: v for k, v in session.env.items() if k != "DMXAPI_API_KEY"}
    result = call(session, "edit_image", {"images": ["photo.png"], "prompt": "x"})
    assert result.is_error
    assert result.structured_content["error"]["exit_code_name"] == "AUTH"


def test_unknown_arguments_are_a_tool_error(session: Session, server: FakeDMX) -> None:
    result = call(session, "edit_image", {"images": ["photo.png"], "prompt": "x", "output": "/"})
    assert result.is_error and "output" in text(result)
    assert image_posts(server) == []


def test_progress_values_only_grow(
    session: Session, server: FakeDMX, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mcp_server, "TICK", 0.0)  # a notification every poll
    monkeypatch.setattr(mcp_server, "POLL", 0.05)
    server.default_delay = 1.0
    seen: list[float] = []

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    result = with_client(
        session,
        lambda c: c.call_tool(
            "edit_image", {"images": ["photo.png"], "prompt": "x"}, progress_callback=progress
        ),
    )
    assert not result.is_error
    assert len(seen) >= 3
    assert all(b > a for a, b in zip(seen, seen[1:], strict=False))
    assert seen[-1] == 100


def test_calls_run_at_once(session: Session, server: FakeDMX) -> None:
    server.default_delay = 1.0

    async def both(client: Client) -> list[Any]:
        found: list[Any] = []

        async def one() -> None:
            found.append(
                await client.call_tool("edit_image", {"images": ["photo.png"], "prompt": "x"})
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            tg.start_soon(one)
        return found

    results = with_client(session, both)
    assert [r.is_error for r in results] == [False, False]
    assert server.max_active == 2


def test_a_cancelled_call_still_records_and_saves_the_paid_answer(
    session: Session, server: FakeDMX, tmp_path: Path
) -> None:
    server.default_delay = 1.5

    async def cancel(client: Client) -> None:
        with anyio.move_on_after(0.5):
            await client.call_tool("edit_image", {"images": ["photo.png"], "prompt": "x"})

    with_client(session, cancel)
    wait_until(lambda: any(r["status"] == "saved" for r in ledger_rows(tmp_path)))
    wait_until(lambda: not any(t.is_alive() for t in list(mcp_server.RUNNING)))
    assert len(list((tmp_path / "output").iterdir())) == 1
    assert len(image_posts(server)) == 1  # nothing sent again


def test_free_tools_send_nothing_billable(session: Session, server: FakeDMX) -> None:
    async def every(client: Client) -> dict[str, Any]:
        return {
            "list_models": await client.call_tool("list_models", {}),
            "ratios": await client.call_tool("ratios", {"model": "gpt-image-1.5"}),
            "estimate": await client.call_tool("estimate", {"images": ["photo.png"], "size": "4K"}),
            "history": await client.call_tool("history", {}),
            "recover": await client.call_tool("recover", {}),
            "batch_status": await client.call_tool("batch_status", {}),
        }

    found = with_client(session, every)
    for name, result in found.items():
        assert not result.is_error, (name, text(result))
    assert "nano-banana-2" in [m["id"] for m in found["list_models"].structured_content["models"]]
    assert found["estimate"].structured_content["tokens"] == 2000
    assert found["estimate"].structured_content["sent"] is False
    assert image_posts(server) == []


def test_balance_without_account_settings_is_a_tool_error(session: Session) -> None:
    result = call(session, "balance", {})
    assert result.is_error
    assert result.structured_content["error"]["exit_code_name"] == "AUTH"


def test_history_finds_the_edit(session: Session) -> None:
    async def both(client: Client) -> Any:
        await client.call_tool("edit_image", {"images": ["photo.png"], "prompt": "snowy"})
        return await client.call_tool("history", {"grep": "snowy"})

    found = with_client(session, both)
    assert [e["prompt"] for e in found.structured_content["entries"]] == ["snowy"]


def test_start_batch_runs_in_the_background_and_resumes(
    session: Session, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        "\n".join(json.dumps({"images": ["photo.png"], "prompt": f"p{i}"}) for i in range(2)) + "\n"
    )

    def status(handle: str) -> dict[str, Any]:
        found = call(session, "batch_status", {"handle": handle})
        batch: dict[str, Any] = found.structured_content["batches"][0]
        return batch

    started = call(session, "start_batch", {"jobs": "jobs.jsonl"})
    assert not started.is_error, text(started)
    handle = started.structured_content["handle"]
    wait_until(lambda: status(handle)["state"] in ("done", "failed"))
    done = status(handle)
    assert done["state"] == "done" and done["summary"]["ok"] == 2
    assert Path(done["results"]).parent == tmp_path / "output"
    again = call(session, "start_batch", {"jobs": "jobs.jsonl"})
    handle = again.structured_content["handle"]
    wait_until(lambda: status(handle)["state"] in ("done", "failed"))
    assert status(handle)["summary"]["skipped"] == 2  # resumed: nothing paid twice
    assert len(image_posts(server)) == 2


def test_start_batch_refuses_images_outside_the_roots(
    session: Session, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"images": ["/etc/hostname"], "prompt": "p"}) + "\n")
    result = call(session, "start_batch", {"jobs": "jobs.jsonl"})
    assert result.is_error and "outside" in text(result)
    assert image_posts(server) == []
