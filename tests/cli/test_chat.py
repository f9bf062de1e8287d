"""`dmxedit chat` (SPEC 13) from a pipe: one turn per line, each saved path on stdout,
each turn continuing the one before; /undo, /image, /ratio, /size; --json per turn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeDMX, make_png
from helpers import Cli, ledger_rows

FLASH = "gemini-3.1-flash-image"
pytestmark = pytest.mark.e2e


def _contents(server: FakeDMX, index: int) -> list[dict[str, Any]]:
    document = server.posts()[index].gemini  # type: ignore[attr-defined]
    contents: list[dict[str, Any]] = document["contents"]
    return contents


def _prompts(contents: list[dict[str, Any]]) -> list[str]:
    return [
        p["text"]
        for turn in contents
        if turn["role"] == "user"
        for p in turn["parts"]
        if "text" in p
    ]


def test_each_line_is_a_turn_and_each_path_goes_to_stdout(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    run = cli("chat", str(png), "-m", FLASH, input=b"add a hat\nmake it night\n")
    assert run.code == 0, run.output
    paths = run.stdout.splitlines()
    assert len(paths) == 2 and all(Path(p).is_file() for p in paths)
    assert _prompts(_contents(server, 0)) == ["add a hat"]
    assert _prompts(_contents(server, 1)) == ["add a hat", "make it night"]
    assert len(server.posts()[1].parts) == 2  # photo.png and the first turn's image
    rows = ledger_rows(tmp_path)
    assert rows[1]["parent"] == rows[0]["id"]


def test_chat_picks_a_gemini_model_when_none_is_given(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = cli("chat", str(png), input=b"add a hat\n")
    assert run.code == 0, run.output
    assert server.posts()[0].path == f"/v1beta/models/{FLASH}:generateContent"
    run = cli("chat", str(png), "-m", "nano-banana-2", input=b"add a hat\nmore\n")
    assert run.code == 2 and "images door" in run.stderr, run.output
    run = cli("chat", "-m", "some-model", "--api", "images", input=b"a\n")
    assert run.code == 2 and "gemini-door model" in run.stderr
    assert len(server.posts()) == 1  # refused before its first turn


def test_undo_drops_the_last_turn_from_the_context(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    run = cli("chat", str(png), "-m", FLASH, input=b"a\nb\n/undo\nc\n")
    assert run.code == 0, run.output
    assert _prompts(_contents(server, 2)) == ["a", "c"]
    assert len(ledger_rows(tmp_path)) == 3  # the ledger keeps the undone turn


def test_image_ratio_and_size_change_the_next_turns(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    extra = tmp_path / "extra.png"
    extra.write_bytes(make_png(12, 12))
    lines = f"a\n/image {extra}\n/ratio 4:1\n/size 2k\nb\n/help\n/history\n/quit\nnever\n"
    run = cli("chat", str(png), "-m", FLASH, input=lines.encode())
    assert run.code == 0, run.output
    assert len(server.posts()) == 2  # /quit ends it
    second = server.posts()[1]
    assert second.gemini["generationConfig"]["imageConfig"] == {  # type: ignore[attr-defined]
        "aspectRatio": "4:1",
        "imageSize": "2K",
    }
    last_turn = _contents(server, 1)[-1]["parts"]
    assert [list(p) for p in last_turn] == [["text"], ["inline_data"]]  # the /image input
    assert "/undo" in run.stderr and "1. [" in run.stderr  # /help and /history said


def test_json_prints_one_object_per_turn(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = cli("chat", str(png), "-m", FLASH, "--json", input=b"a\nb\n")
    assert run.code == 0, run.output
    decoder = json.JSONDecoder()
    text, objects = run.stdout.strip(), []
    while text:
        obj, end = decoder.raw_decode(text)
        objects.append(obj)
        text = text[end:].strip()
    assert len(objects) == 2 and objects[1]["parent"] == objects[0]["ledger_id"]
    lines = run.stdout.splitlines()
    assert [json.loads(line)["ledger_id"] for line in lines] == [o["ledger_id"] for o in objects]


def test_a_failed_turn_from_a_pipe_ends_the_run_with_its_exit_code(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    run = cli("chat", str(png), "-m", FLASH, "--ratio", "7:3", input=b"a\nb\n")
    assert run.code == 2 and "7:3" in run.stderr
    assert server.posts() == []


def test_chat_needs_the_ledger(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = cli("chat", str(png), env={"DMXEDIT_NO_HISTORY": "1"}, input=b"a\n")
    assert run.code == 2 and "ledger" in run.stderr
    assert server.posts() == []


def test_chat_continue_resumes_a_thread(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    assert cli("edit", str(png), "-p", "first", "-m", FLASH).code == 0
    run = cli("chat", "--continue", "@last", input=b"second\n")
    assert run.code == 0, run.output
    assert _prompts(_contents(server, 1)) == ["first", "second"]


def test_chat_continue_keeps_the_parents_model(cli: Cli, server: FakeDMX, png: Path) -> None:
    assert cli("edit", str(png), "-p", "a", "-m", "gemini-3-pro-image").code == 0
    run = cli("chat", "--continue", "@last", input=b"b\n")
    assert run.code == 0, run.output
    assert server.posts()[-1].path.endswith("/gemini-3-pro-image:generateContent")


def test_undo_of_the_first_turn_edits_the_chats_images_again(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    run = cli("chat", str(png), "-m", FLASH, input=b"add a hat\n/undo\nmake it night\n")
    assert run.code == 0, run.output
    rows = ledger_rows(tmp_path)
    assert rows[1]["kind"] == "edit" and rows[1]["parent"] is None
    assert png.name in rows[1]["inputs"]


def test_a_missing_image_is_refused_when_it_is_added(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = cli("chat", str(png), "-m", FLASH, input=b"/image nope.png\nadd a hat\n")
    assert run.code == 0, run.output
    assert "Not added" in run.stderr and "nope.png" in run.stderr
    assert len(server.posts()) == 1


def test_ratio_none_leaves_the_shape_to_the_model_even_after_a_turn(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    lines = b"a\n/ratio none\n/size none\nb\n"
    run = cli("chat", str(png), "-m", FLASH, "--ratio", "4:1", "--size", "2K", input=lines)
    assert run.code == 0, run.output
    first = server.posts()[0].gemini["generationConfig"]  # type: ignore[attr-defined]
    second = server.posts()[1].gemini["generationConfig"]  # type: ignore[attr-defined]
    assert first["imageConfig"] == {"aspectRatio": "4:1", "imageSize": "2K"}
    assert "imageConfig" not in second
