"""continue_edit (SPEC 13 through SPEC 14): an agent's next turn carries the thread of
the ledger entry it names, with the model's signatures, and a thread's files stay
confined to the roots and the output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from fakeserver import FakeDMX, make_png
from helpers import KEY
from mcp import Client

from dmxedit.mcp import server as mcp_server
from dmxedit.mcp.tools import Session

FLASH = "gemini-3.1-flash-image"


def call(session: Session, name: str, args: dict[str, Any]) -> Any:
    async def main() -> Any:
        async with Client(mcp_server.build(session)) as client:
            return await client.call_tool(name, args)

    return anyio.run(main)


def test_continue_edit_sends_the_thread_of_the_entry_named(
    session: Session, server: FakeDMX
) -> None:
    first = call(session, "edit_image", {"images": ["photo.png"], "prompt": "a", "model": FLASH})
    assert not first.is_error, first.content
    entry = first.structured_content["ledger_id"]
    second = call(session, "continue_edit", {"continue": entry, "prompt": "b"})
    assert not second.is_error, second.content
    assert second.structured_content["parent"] == entry
    contents = server.posts()[-1].gemini["contents"]  # type: ignore[attr-defined]
    assert [t["role"] for t in contents] == ["user", "model", "user"]
    assert "thoughtSignature" in contents[1]["parts"][-1]
    third = call(session, "continue_edit", {"continue": "@last", "prompt": "c"})
    assert not third.is_error and third.structured_content["parent"] != entry


def test_continue_edit_refuses_a_thread_whose_files_are_outside_the_roots(
    session: Session, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-outside.png"
    outside.write_bytes(make_png(20, 20))
    from helpers import run_in_process, server_env

    made = run_in_process(
        ["edit", str(outside), "-p", "a", "-m", FLASH, "-o", str(tmp_path / "output")],
        env=server_env(server, KEY, None),
    )
    assert made.code == 0, made.output
    posts = len(server.posts())
    result = call(session, "continue_edit", {"continue": "@last", "prompt": "b"})
    assert result.is_error and "outside the server's roots" in str(result.content)
    assert len(server.posts()) == posts  # nothing sent
