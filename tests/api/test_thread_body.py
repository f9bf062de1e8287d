"""A conversation's body (SPEC 13): the earlier turns' images and signatures are streamed
from their files, so a 10-turn thread with 1 MB signatures and big images costs the memory
of one chunk, and the bytes sent are exactly the files'."""

from __future__ import annotations

import base64
import json
import tracemalloc
from dataclasses import replace
from pathlib import Path

from fakeserver import make_big_png

from dmxedit.api import gemini
from dmxedit.api.request import ImageRequest, Part, Turn, build_request
from dmxedit.core.settings import Settings
from dmxedit.media.images import load_image
from dmxedit.store.signatures import Signatures

FLASH = "gemini-3.1-flash-image"


def _thread(tmp_path: Path, turns: int, image_bytes: int, signature_chars: int) -> list[Turn]:
    signatures = Signatures(tmp_path / "data")
    out = []
    for i in range(turns):
        image = tmp_path / f"turn{i}.png"
        image.write_bytes(make_big_png(image_bytes))
        sha = signatures.put(base64.b64encode(bytes([i])).decode() * (signature_chars // 4))
        path = signatures.path(sha)
        out.append(Turn("user", (Part(text=f"turn {i}"),)))
        model = Part(
            image=load_image(str(image)), signature=path, signature_size=path.stat().st_size
        )
        out.append(Turn("model", (Part(text="done"), model)))
    return out


def _continued(history: list[Turn]) -> ImageRequest:
    settings = Settings(base_url="http://127.0.0.1:9/v1", model=FLASH)
    request = build_request("edit", settings, prompt="make it snow")
    return replace(request, history=tuple(history))


def test_a_ten_turn_thread_is_sent_in_the_memory_of_one_chunk(tmp_path: Path) -> None:
    history = _thread(tmp_path, 10, 8 * 1024 * 1024, 1_000_000)
    request = _continued(history)
    body = gemini.body(request)
    assert len(body) > 10 * (8 * 1024 * 1024 * 4 // 3 + 1_000_000)
    tracemalloc.start()
    try:
        sent = 0
        for chunk in body:
            sent += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == len(body)
    assert peak < 6 * 1024 * 1024, peak  # ~100 MB went out; a chunk or two were held


def test_the_thread_body_is_the_turns_and_signatures_exactly(tmp_path: Path) -> None:
    history = _thread(tmp_path, 2, 3000, 5000)
    request = _continued(history)
    document = json.loads(b"".join(gemini.body(request)))
    contents = document["contents"]
    assert [t["role"] for t in contents] == ["user", "model", "user", "model", "user"]
    part = contents[1]["parts"][1]
    assert part["thoughtSignature"] == history[1].parts[1].signature.read_text()  # type: ignore[union-attr]
    assert base64.b64decode(part["inline_data"]["data"]) == (tmp_path / "turn0.png").read_bytes()
    assert contents[1]["parts"][0] == {"text": "done"}  # the model's words, no signature
    assert contents[-1]["parts"] == [{"text": "make it snow"}]
