"""The streamed multipart body."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fakeserver import (
    PNG_BYTES,
    WEBP_BYTES,
    FakeDMX,
    _MultipartParser,
    make_big_png,
    make_png,
)
from helpers import (
    Cli,
    MiB,
    expect,
    sparse_png,
    unit_request,
)

from dmxedit.api import images as images_door
from dmxedit.api.multipart import MultipartBody
from dmxedit.media.images import load_image

if TYPE_CHECKING:
    from dmxedit.api.multipart import MultipartBody
else:
    try:
        from dmxedit.api.multipart import MultipartBody
    except ImportError:  # before the body moved out of dmxedit.transfer
        from dmxedit.transfer import MultipartBody


def _parse(body: MultipartBody) -> list[Any]:
    parser = _MultipartParser(body.boundary.encode(), keep_bytes=True)
    for chunk in body:
        parser.feed(chunk)
    return parser.parts


@pytest.mark.e2e
@pytest.mark.skipif(os.name != "posix", reason="bytes in file names")
def test_an_image_whose_name_is_not_utf8_is_sent_under_a_safe_name(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    with open(raw, "wb") as fh:
        fh.write(PNG_BYTES)
    name = os.fsdecode(raw)
    assert expect(cli("edit", name, "-p", "x", "--dry-run")).code == 0
    expect(cli("edit", name, "-p", "x"))
    (post,) = server.posts()
    assert post.images[0].filename == "image.png"


def test_multipart_body_streams_20_mib_in_bounded_memory(tmp_path: Path) -> None:
    marker = b"--the last bytes of the image--"
    path = sparse_png(tmp_path / "large.png", 20 * MiB, tail=marker)
    image = load_image(str(path))
    body = MultipartBody([("prompt", "make it blue"), ("n", "1")], [image])
    expected = len(body)
    assert expected > 20 * MiB

    total = 0
    chunks = 0
    first = last = b""
    tracemalloc.start()
    try:
        for chunk in body:
            total += len(chunk)
            chunks += 1
            if not first:
                first = chunk[:200]
            last = chunk[-200:]
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total == expected
    assert chunks >= 20  # at most about one 1 MiB chunk at a time
    assert peak < 4 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"
    boundary = body.boundary.encode()
    assert first.startswith(b"--" + boundary + b"\r\n")
    assert last.endswith(marker + b"\r\n--" + boundary + b"--\r\n")


def test_body_is_streamed_in_bounded_chunks_and_matches_its_length(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(make_big_png(5 * 1024 * 1024 + 17))
    small = tmp_path / "small.webp"
    small.write_bytes(WEBP_BYTES)
    request = unit_request([big, small], ratio="5:4", size="4k")
    progress: list[int] = []
    body = MultipartBody(
        images_door.fields(request),
        request.images,
        on_progress=progress.append,
        chunk_size=256 * 1024,
    )
    chunks = list(body)
    assert max(len(c) for c in chunks) <= 256 * 1024  # never the whole body at once
    assert len(chunks) > 20
    assert sum(len(c) for c in chunks) == len(body)
    assert progress == sorted(progress) and progress[-1] == len(body)
    parts = _parse(body)
    assert [(p.name, p.filename, p.content_type) for p in parts[-2:]] == [
        ("image", "big.png", "image/png"),
        ("image", "small.webp", "image/webp"),
    ]
    assert parts[-2].data == big.read_bytes() and parts[-1].data == WEBP_BYTES
    assert [(p.name, p.text) for p in parts[:-2]] == images_door.fields(request)


def test_a_retry_rebuilds_the_body_from_fresh_file_handles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_png(50, 50))
    request = unit_request([image])
    body = MultipartBody(images_door.fields(request), request.images)
    opened: list[Any] = []
    from dmxedit.media import inputs as images_module

    def counting_open(path: Any, mode: str = "r") -> Any:
        handle = open(path, mode)  # noqa: SIM115 - closed by the body, checked below
        opened.append(handle)
        return handle

    monkeypatch.setattr(images_module, "open", counting_open, raising=False)
    first = b"".join(body)
    second = b"".join(body)
    assert first == second and len(first) == len(body)
    assert len(opened) == 2 and opened[0] is not opened[1]
    assert all(h.closed for h in opened)
    assert body.iterations == 2


def test_body_refuses_a_file_that_changed_size(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_png(50, 50))
    request = unit_request([image])
    body = MultipartBody(images_door.fields(request), request.images)
    image.write_bytes(make_png(10, 10))
    with pytest.raises(OSError, match="shrank"):
        b"".join(body)
