"""The gemini door's answer reader on its own: each part's kind, streaming and memory."""

from __future__ import annotations

import base64
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakegemini import blocked, inline_answer, no_image, pro_text_quirk
from fakeserver import JPEG_BYTES, PNG_BYTES, make_png
from helpers import unit_request

from dmxedit.api import gemini, jsonbody
from dmxedit.api.gemini_answers import MAX_TEXT, GeminiReader
from dmxedit.api.http import api_message
from dmxedit.core.errors import ApiError


class Sink:
    def __init__(self, log: list[str] | None = None, keep: bool = True) -> None:
        self.data = bytearray()
        self.size = 0
        self.keep = keep
        self.discarded = False
        self.log = log

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.keep:
            self.data += data
        if self.log is not None:
            self.log.append("write")

    def discard(self) -> None:
        self.discarded = True


def _read(body: bytes | Iterator[bytes], chunk: int = 7, **kwargs: Any) -> Any:
    reader: GeminiReader[Sink] = GeminiReader(lambda: Sink(**kwargs), 1 << 30, lambda v: v)
    chunks = (
        body
        if not isinstance(body, bytes)
        else (body[i : i + chunk] for i in range(0, len(body), chunk))
    )
    parsed = reader.read(chunks)
    return reader, reader.answer(parsed, 200, "rid", "gemini-3.1-flash-image")


@pytest.mark.parametrize("chunk", [1, 3, 7, 4096])
def test_every_image_part_is_decoded_whatever_the_chunks(chunk: int) -> None:
    answer_body = inline_answer(PNG_BYTES, text="words")
    answer_body["candidates"][0]["content"]["parts"] += pro_text_quirk(JPEG_BYTES)["candidates"][0][
        "content"
    ]["parts"]
    answer_body["candidates"][0]["content"]["parts"].append(
        {"inline_data": {"mime_type": "image/png", "data": base64.b64encode(b"x" * 10).decode()}}
    )
    _, answer = _read(json.dumps(answer_body).encode(), chunk)
    assert [bytes(i.sink.data) for i in answer.items] == [PNG_BYTES, JPEG_BYTES, b"x" * 10]
    assert [i.signature for i in answer.items] == [
        inline_answer()["candidates"][0]["content"]["parts"][1]["thoughtSignature"],
        "",
        None,
    ]
    assert answer.text == ["words"]


def test_a_megabyte_signature_is_kept_as_received() -> None:
    signature = base64.b64encode(bytes(range(256)) * 3000).decode() * 2  # ~2 MB
    _, answer = _read(json.dumps(inline_answer(signature=signature)).encode(), 65536)
    assert answer.items[0].signature == signature


def test_the_model_words_are_bounded_and_unicode_whole() -> None:
    long = "🎩 " * MAX_TEXT
    body = inline_answer(text=long)
    _, answer = _read(json.dumps(body).encode(), 1000)  # \ud83c\udfa9 escapes
    (words,) = answer.text
    assert words.startswith("🎩 🎩") and "bytes cut]" in words
    assert len(words.encode()) < MAX_TEXT + 100


def test_a_text_that_only_starts_like_data_is_words() -> None:
    _, answer = _read(json.dumps(inline_answer(text="data: none here")).encode())
    assert answer.text == ["data: none here"]


def test_thinking_images_are_not_results() -> None:
    body = inline_answer(PNG_BYTES)
    thought = {
        "inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"t").decode()},
        "thought": True,
    }
    body["candidates"][0]["content"]["parts"].insert(0, thought)
    reader, answer = _read(json.dumps(body).encode())
    assert [bytes(i.sink.data) for i in answer.items] == [PNG_BYTES]
    assert reader.opened[0].discarded


@pytest.mark.parametrize(
    ("body", "reason", "words"),
    [
        (no_image("IMAGE_SAFETY", "Sorry."), "IMAGE_SAFETY", "Sorry."),
        (blocked("OTHER"), "OTHER", None),
    ],
)
def test_no_image_carries_the_reasons(body: dict[str, Any], reason: str, words: str) -> None:
    with pytest.raises(ApiError) as caught:
        _read(json.dumps(body).encode())
    error = caught.value
    assert error.exit_code == 4 and reason in error.message
    assert reason in (error.details.get("finish_reason"), error.details.get("block_reason"))
    if words:
        assert error.details["text"] == [words] and words in error.message


def test_google_error_bodies_give_their_message() -> None:
    body = {"error": {"code": 400, "message": "Bad image.", "status": "INVALID_ARGUMENT"}}
    assert api_message(json.dumps(body).encode()) == "Bad image."
    with pytest.raises(ApiError, match="Bad image."):
        _read(json.dumps(body).encode())


def _streamed_answer(size: int, piece: int = 1 << 16) -> Iterator[bytes]:
    """An answer carrying ``size`` bytes of image, made as it is sent: never held."""
    raw = bytes(range(256)) * (piece // 256 * 3 // 4 * 1)
    raw = raw[: len(raw) - len(raw) % 3]
    yield b'{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"'
    sent = 0
    while sent < size:
        block = raw[: min(len(raw), size - sent)]
        sent += len(block)
        yield base64.b64encode(block)
    yield b'"}}]},"finishReason":"STOP"}]}'


def test_a_big_image_is_decoded_piece_by_piece() -> None:
    log: list[str] = []

    def chunks() -> Iterator[bytes]:
        for chunk in _streamed_answer(4 << 20):
            log.append("chunk")
            yield chunk

    _, answer = _read(chunks(), log=log, keep=False)
    assert answer.items[0].sink.size == 4 << 20
    first_write = log.index("write")
    assert first_write < 5 and log.count("write") > 50
    assert log[-1] == "chunk"  # the body's last pieces came after the first writes


def test_a_25_mb_image_adds_far_less_than_its_size_to_memory() -> None:
    size = 25_000_000
    tracemalloc.start()
    try:
        _, answer = _read(_streamed_answer(size), keep=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.items[0].sink.size == size
    assert peak < size // 4, peak  # the limit is 1.5x; a chunk or two in truth


def test_the_body_never_holds_more_than_a_chunk(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(make_png(4, 4) + b"\0" * (5 << 20))
    request = unit_request([big], model="gemini-3.1-flash-image")
    body = gemini.body(request)
    assert body.images  # the image is read, not copied in
    sizes = [len(chunk) for chunk in body]
    assert sum(sizes) == len(body)
    assert max(sizes) <= 4 * body.chunk_size // 3 + 1024
    text = b"".join(gemini.body(request))
    document = json.loads(text)
    data = document["contents"][0]["parts"][1]["inline_data"]["data"]
    assert base64.b64decode(data) == big.read_bytes()


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 767, 768 * 1024 + 1])
def test_the_body_encoder_is_base64_byte_for_byte(
    size: int, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not fast:
        monkeypatch.setattr(jsonbody, "FAST", None)  # the standard library's
    data = bytes(range(256)) * (size // 256 + 1)
    assert jsonbody.b64encode(data[:size]) == base64.b64encode(data[:size])
