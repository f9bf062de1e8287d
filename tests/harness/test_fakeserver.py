"""The fake server itself: its multipart parser and its scripting must be right, or the
end-to-end tests prove nothing."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest
import requests
from fakeserver import (
    EDITS,
    GENERATIONS,
    PNG_BYTES,
    FakeDMX,
    Reply,
    _MultipartParser,
    make_big_png,
    make_png,
)


def _body(boundary: bytes, parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = b""
    for name, filename, data in parts:
        out += b"--" + boundary + b"\r\n"
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: image/png\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


@pytest.mark.parametrize("piece", [1, 7, 64, 4096])
def test_parser_splits_parts_whatever_the_read_size(piece: int) -> None:
    boundary = b"xyzzy"
    image = bytes(random.Random(1).getrandbits(8) for _ in range(3000)) + b"\r\n--xyz"
    body = _body(boundary, [("prompt", None, b"make it snow"), ("image", "a.png", image)])
    parser = _MultipartParser(boundary, keep_bytes=True)
    for at in range(0, len(body), piece):
        parser.feed(body[at : at + piece])
    assert [(p.name, p.filename) for p in parser.parts] == [("prompt", None), ("image", "a.png")]
    assert parser.parts[0].data == b"make it snow"
    assert parser.parts[1].data == image
    assert parser.parts[1].size == len(image)
    assert parser.parts[1].content_type == "image/png"


def test_parser_can_drop_file_bytes_but_keeps_fields_and_hashes() -> None:
    body = _body(b"b", [("n", None, b"1"), ("image", "a.png", b"\x89PNG data")])
    parser = _MultipartParser(b"b", keep_bytes=False)
    parser.feed(body)
    assert parser.parts[0].data == b"1"
    assert parser.parts[1].data is None
    assert parser.parts[1].size == len(b"\x89PNG data")


def test_scripted_replies_then_default(server: FakeDMX) -> None:
    server.script(EDITS, Reply(status=503, json={"error": {"message": "busy"}}))
    first = requests.post(
        server.base_url + "/images/edits", files={"prompt": (None, "x")}, timeout=5
    )
    second = requests.post(
        server.base_url + "/images/edits", files={"prompt": (None, "x")}, timeout=5
    )
    assert first.status_code == 503
    assert second.status_code == 200
    url = second.json()["data"][0]["url"]
    assert requests.get(url, timeout=5).content.startswith(b"\x89PNG")
    assert [r.fields["prompt"] for r in server.posts()] == ["x", "x"]
    assert len(server.gets()) == 1


def test_chunked_request_bodies_are_decoded(server: FakeDMX) -> None:
    def gen() -> object:
        yield b'{"prompt": '
        yield b'"hi"}'

    response = requests.post(
        server.base_url + "/images/generations",
        data=gen(),  # type: ignore[arg-type]
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 200
    assert server.posts()[0].headers["transfer-encoding"] == "chunked"
    assert server.posts()[0].json == {"prompt": "hi"}


def test_dropped_connection_is_seen_by_the_client(server: FakeDMX) -> None:
    server.script(EDITS, Reply(drop=True))
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(server.base_url + "/images/edits", files={"prompt": (None, "x")}, timeout=5)


def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_only_image_posts_count_as_running(server: FakeDMX) -> None:
    url = server.add_file("slow.png", PNG_BYTES)
    server.script("/files/slow.png", Reply(delay=0.8))
    server.script(EDITS, Reply(delay=0.4))
    server.script(GENERATIONS, Reply(delay=0.4))
    seen: list[int] = []

    def get() -> None:
        seen.append(requests.get(url, timeout=5).status_code)

    def post(path: str) -> None:
        seen.append(requests.post(server.base_url + path, json={"p": "x"}, timeout=5).status_code)

    download = threading.Thread(target=get)
    download.start()
    _until(lambda: len(server.gets()) == 1)  # the GET is in its delay now
    assert requests.post(server.base_url + "/chat/completions", timeout=5).status_code == 404
    assert (server.active, server.max_active) == (0, 0)
    posts = [
        threading.Thread(target=post, args=(p,)) for p in ("/images/edits", "/images/generations")
    ]
    for thread in posts:
        thread.start()
    _until(lambda: len(server.posts(EDITS)) + len(server.posts(GENERATIONS)) == 2)
    assert server.active == 2  # both image POSTs, not the download running beside them
    for thread in [download, *posts]:
        thread.join(5)
    assert sorted(seen) == [200, 200, 200]
    assert (server.active, server.max_active) == (0, 2)


def test_an_image_post_stops_counting_before_its_reply_completes(server: FakeDMX) -> None:
    # A client that has its answer may at once send the next request: the one it got
    # must not still be counted, or a batch at --concurrency N shows N + 1.
    with requests.Session() as session:
        for _ in range(30):
            answer = session.post(server.base_url + "/images/edits", json={}, timeout=5)
            assert answer.status_code == 200
            assert server.active == 0
            url = answer.json()["data"][0]["url"]
            assert session.get(url, timeout=5).status_code == 200
    assert server.max_active == 1


def test_a_stalled_reply_does_not_count_while_it_lingers(server: FakeDMX) -> None:
    server.script(EDITS, Reply(body=b"x" * 1000, truncate_to=10, stall=30))
    with requests.post(server.base_url + "/images/edits", stream=True, timeout=5) as answer:
        assert answer.status_code == 200
        _until(lambda: server.active == 0)
    assert server.max_active == 1


def test_made_images_are_pngs_of_the_asked_size() -> None:
    assert make_png(3, 2)[16:24] == b"\x00\x00\x00\x03\x00\x00\x00\x02"
    big = make_big_png(100_000)
    assert big.startswith(b"\x89PNG\r\n\x1a\n") and abs(len(big) - 100_000) < 64
