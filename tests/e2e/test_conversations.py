"""Conversations (SPEC 13): `edit --continue` sends the whole thread with the model's
signatures byte-exact, checks every file first, keeps a thread on its site, and the
fake server refuses a model turn whose signature is missing or altered, as DMXAPI does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fakegemini
import pytest
from fakeserver import FakeDMX, make_png
from helpers import Cli, ledger_rows

FLASH = "gemini-3.1-flash-image"
pytestmark = pytest.mark.e2e


def _body(server: FakeDMX, index: int = -1) -> dict[str, Any]:
    post = server.posts()[index]
    document = getattr(post, "gemini", None)
    assert isinstance(document, dict), post.body
    return document


def _three_turns(cli: Cli, png: Path, tmp_path: Path, *first: str) -> None:
    out = str(tmp_path / "out")
    run = cli("edit", str(png), "-p", "add a hat", "-m", FLASH, "-o", out, *first)
    assert run.code == 0, run.output
    for prompt in ("make it night", "add snow"):
        run = cli("edit", "--continue", "@last", "-p", prompt, "-o", out, "--json")
        assert run.code == 0, run.output


def test_continue_sends_the_whole_thread_with_signatures_byte_exact(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    server.signature_size = 1_000_000  # type: ignore[attr-defined]  # as DMXAPI's examples
    _three_turns(cli, png, tmp_path)
    posts = server.posts()
    assert len(posts) == 3
    contents = _body(server)["contents"]
    assert [turn["role"] for turn in contents] == ["user", "model", "user", "model", "user"]
    texts = [
        p["text"]
        for turn in contents
        if turn["role"] == "user"
        for p in turn["parts"]
        if "text" in p
    ]
    assert texts == ["add a hat", "make it night", "add snow"]
    issued = list(server.signatures)  # type: ignore[attr-defined]
    sent = [
        p["thoughtSignature"]
        for turn in contents
        if turn["role"] == "model"
        for p in turn["parts"]
        if "inline_data" in p
    ]
    assert sent == issued[:2] and len(sent[0]) == 1_000_000  # exactly what was issued
    # the model's words go back too, in their place before its image
    assert [list(p) for p in contents[1]["parts"]] == [
        ["text"],
        ["inline_data", "thoughtSignature"],
    ]
    # the input image, then each turn's image: their bytes as saved
    images = posts[-1].parts
    assert [p.crc32 for p in images][:1] == [posts[0].parts[0].crc32]
    assert len(images) == 3  # photo.png, turn 1's image, turn 2's image
    rows = ledger_rows(tmp_path)
    assert [r["parent"] for r in rows] == [None, rows[0]["id"], rows[1]["id"]]
    last = json.loads(cli("history", "show", str(rows[2]["id"]), "--json").stdout)
    assert [t["prompt"] for t in last["thread"]] == ["add a hat", "make it night", "add snow"]


def test_a_continued_turn_takes_the_parents_model_and_options(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    run = cli(
        "edit", str(png), "-p", "a", "-m", FLASH, "--ratio", "8:1", "--size", "2k", "--search"
    )
    assert run.code == 0, run.output
    run = cli("edit", "--continue", "@last", "-p", "b", "--json")
    assert run.code == 0, run.output
    body = _body(server)
    assert server.posts()[-1].path == f"/v1beta/models/{FLASH}:generateContent"
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "8:1", "imageSize": "2K"}
    assert "tools" in body
    assert json.loads(run.stdout)["parent"] == ledger_rows(tmp_path)[0]["id"]
    # a flag still wins over the parent's value
    assert cli("edit", "--continue", "@last", "-p", "c", "--size", "1K").code == 0
    assert _body(server)["generationConfig"]["imageConfig"]["imageSize"] == "1K"


def test_history_show_prints_the_thread(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    _three_turns(cli, png, tmp_path)
    third = ledger_rows(tmp_path)[2]["id"]
    shown = cli("history", "show", str(third)).stdout
    assert "thread (oldest first):" in shown
    thread = shown.split("thread (oldest first):")[1]
    assert thread.index("add a hat") < thread.index("make it night") < thread.index("add snow")
    assert thread.count("model: ") == 3 and thread.count("image: ") == 3


def test_a_changed_or_missing_turn_image_is_exit_2_naming_file_and_entry(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    _three_turns(cli, png, tmp_path)
    rows = ledger_rows(tmp_path)
    first_image = Path(json.loads(rows[0]["files"])[0]["path"])
    first_image.write_bytes(make_png(9, 9))
    run = cli("edit", "--continue", "@last", "-p", "more")
    assert run.code == 2, run.output
    assert str(first_image) in run.stderr and f"ledger entry {rows[0]['id']}" in run.stderr
    first_image.unlink()
    run = cli("edit", "--continue", "@last", "-p", "more")
    assert run.code == 2 and "missing" in run.stderr
    png.write_bytes(make_png(50, 50))  # the user's own input changed too
    assert cli("edit", "--continue", f"@{rows[0]['id']}", "-p", "x").code == 2
    assert len(server.posts()) == 3  # nothing sent


def test_a_changed_signature_file_is_exit_2_before_sending(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    _three_turns(cli, png, tmp_path)
    folder = tmp_path / "data" / "signatures"
    files = sorted(folder.glob("*.sig"))
    assert files and all(oct(f.stat().st_mode & 0o777) == "0o600" for f in files)
    files[0].write_text("tampered")
    run = cli("edit", "--continue", "@last", "-p", "more")
    assert run.code == 2 and "signature" in run.stderr, run.output
    assert len(server.posts()) == 3


def test_the_fake_refuses_a_missing_or_altered_signature_as_dmxapi_does(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    # the check dmxedit's own tests rely on: it must catch what DMXAPI catches
    _three_turns(cli, png, tmp_path)
    post = server.posts()[-1]
    document = post.gemini  # type: ignore[attr-defined]
    model_part = document["contents"][1]["parts"][-1]
    assert fakegemini.signature_problems(server, post) == []
    saved = model_part.pop("thoughtSignature")
    assert fakegemini.signature_problems(server, post) == [
        "Image part is missing a thought_signature"
    ]
    model_part["thoughtSignature"] = saved[:-1] + ("B" if saved[-1] != "B" else "C")
    assert fakegemini.signature_problems(server, post) == ["Corrupted thought signature."]


def test_a_thread_is_never_sent_to_another_site(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    _three_turns(cli, png, tmp_path)
    with FakeDMX() as other:
        run = cli("edit", "--continue", "@last", "-p", "x", "--base-url", other.base_url)
        assert run.code == 2, run.output
        assert server.base_url in run.stderr and other.posts() == []


def test_continue_with_an_images_door_model_says_to_give_the_result_as_an_input(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    _three_turns(cli, png, tmp_path)
    run = cli("edit", "--continue", "@last", "-p", "x", "-m", "nano-banana-2")
    assert run.code == 2, run.output
    assert "images door" in run.stderr and "dmxedit edit @" in run.stderr
    # an entry made through the images door starts no thread
    assert cli("edit", str(png), "-p", "x", "-m", "nano-banana-2").code == 0
    run = cli("edit", "--continue", "@last", "-p", "y")
    assert run.code == 2 and "images door" in run.stderr and "input image" in run.stderr
    assert len(server.posts()) == 4


def test_the_new_turns_images_count_against_the_models_limit_and_the_thread_warns(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    many = []
    for i in range(11):
        path = tmp_path / f"i{i}.png"
        path.write_bytes(make_png(10 + i, 10))
        many.append(str(path))
    assert cli("edit", *many, "-p", "a", "-m", "gemini-3-pro-image").code == 0
    run = cli("edit", "--continue", "@last", "-p", "b", many[0])
    assert run.code == 0, run.output
    assert "thread holds 13 images" in run.stderr
    run = cli("edit", "--continue", "@last", "-p", "c", *many, many[0])
    assert run.code == 2 and "at most 11" in run.stderr


def test_a_converted_input_is_sent_again_as_the_model_saw_it(
    cli: Cli, server: FakeDMX, tmp_path: Path, pil: object
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(make_png(400, 300))
    assert cli("edit", str(big), "-p", "a", "-m", FLASH, "--max-side", "100").code == 0
    kept = list((tmp_path / "data" / "sent").iterdir())
    assert len(kept) == 1 and oct(kept[0].stat().st_mode & 0o777) == "0o600"
    assert cli("edit", "--continue", "@last", "-p", "b").code == 0
    first, again = server.posts()[0].parts[0], server.posts()[-1].parts[0]
    assert (again.size, again.crc32) == (first.size, first.crc32)  # not the 400x300 original
    kept[0].unlink()
    run = cli("edit", "--continue", "@last", "-p", "c")
    assert run.code == 2 and "converted before it was sent" in run.stderr, run.output


def test_a_failed_entry_says_to_continue_the_turn_before_it(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    assert cli("edit", str(png), "-p", "a", "-m", FLASH).code == 0
    server.script(fakegemini.path(FLASH), fakegemini.google_error(400, "no"))
    assert cli("edit", "--continue", "@1", "-p", "b").code == 4
    run = cli("edit", "--continue", "@2", "-p", "c")
    assert run.code == 2 and "--continue @1" in run.stderr, run.output
