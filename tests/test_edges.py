"""Edge cases at the limits: unpadded and split base64, the 50 MiB input boundary (files
and standard input), and the multipart body's memory while it streams a large image."""

from __future__ import annotations

import base64
import io
import random
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from dmxedit.api.jsonstream import Base64Decoder, JSONStreamError, parse
from dmxedit.core.catalog import MAX_IMAGE_BYTES
from dmxedit.core.errors import InputError
from dmxedit.media.images import load_image, read_limited

if TYPE_CHECKING:
    from dmxedit.api.multipart import MultipartBody
else:
    try:
        from dmxedit.api.multipart import MultipartBody
    except ImportError:  # before the body moved out of dmxedit.transfer
        from dmxedit.transfer import MultipartBody

MiB = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH, HEIGHT = 640, 480


def png_header(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """A PNG signature and IHDR chunk (with its CRC): enough for sniffing and the shape."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def sparse_png(path: Path, size: int, tail: bytes = b"") -> Path:
    """A ``size``-byte file: a PNG header, a hole of zeros (no disk used), then ``tail``."""
    with open(path, "wb") as fh:
        fh.write(png_header())
        fh.truncate(size)
        if tail:
            fh.seek(size - len(tail))
            fh.write(tail)
    assert path.stat().st_size == size
    return path


# -- base64: no padding, pieces, alphabets, line breaks, data: prefix ----------------------------


def decode(pieces: Iterable[bytes]) -> bytes:
    out: list[bytes] = []
    decoder = Base64Decoder(out.append)
    for piece in pieces:
        decoder.feed(piece)
    decoder.close()
    return b"".join(out)


def random_bytes(length: int, seed: int = 0) -> bytes:
    return random.Random(f"{seed}-{length}").randbytes(length)


Encoder = Callable[[bytes], bytes]
ENCODERS: dict[str, Encoder] = {
    "standard": base64.b64encode,
    "urlsafe": base64.urlsafe_b64encode,
}


def unpadded(data: bytes, alphabet: str) -> bytes:
    text = ENCODERS[alphabet](data).rstrip(b"=")
    assert len(text) % 4 != 1  # base64 never leaves one character over
    return text


@pytest.mark.parametrize("alphabet", sorted(ENCODERS))
def test_unpadded_base64_decodes_exactly_for_every_length(alphabet: str) -> None:
    special = b"+/" if alphabet == "standard" else b"-_"
    seen_special = False
    for length in range(301):
        data = random_bytes(length)
        text = unpadded(data, alphabet)
        seen_special = seen_special or any(c in text for c in special)
        assert decode([text]) == data, f"length {length}"
        assert decode([text[i : i + 1] for i in range(len(text))]) == data, f"length {length}"
    assert seen_special  # the alphabet's own characters were exercised


@pytest.mark.parametrize("alphabet", sorted(ENCODERS))
@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 47, 48, 49, 100])
def test_unpadded_base64_split_at_every_position(alphabet: str, length: int) -> None:
    data = random_bytes(length, seed=1)
    text = unpadded(data, alphabet)
    for cut in range(len(text) + 1):
        assert decode([text[:cut], text[cut:]]) == data, f"cut at {cut}"
    for first in range(len(text) + 1):
        for second in range(first, min(len(text), first + 6) + 1):
            pieces = [text[:first], text[first:second], text[second:]]
            assert decode(pieces) == data, f"cuts at {first}, {second}"


@pytest.mark.parametrize("alphabet", sorted(ENCODERS))
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_unpadded_base64_with_line_breaks(alphabet: str, newline: bytes) -> None:
    for length in range(0, 301, 7):
        data = random_bytes(length, seed=2)
        text = unpadded(data, alphabet)
        wrapped = newline.join(text[i : i + 76] for i in range(0, len(text), 76)) + newline
        assert decode([wrapped]) == data, f"length {length}"
        odd = newline.join(text[i : i + 5] for i in range(0, len(text), 5))  # breaks mid-quad
        assert decode([odd]) == data, f"length {length}"
        for cut in range(0, len(odd) + 1, 3):
            assert decode([odd[:cut], odd[cut:]]) == data, f"length {length}, cut at {cut}"


@pytest.mark.parametrize("alphabet", sorted(ENCODERS))
@pytest.mark.parametrize("length", [0, 1, 2, 3, 57, 58, 59])
def test_data_url_prefix_split_across_feeds(alphabet: str, length: int) -> None:
    data = random_bytes(length, seed=3)
    prefix = b"data:image/png;base64,"
    text = prefix + unpadded(data, alphabet)
    assert decode([text]) == data
    for cut in range(len(text) + 1):
        assert decode([text[:cut], text[cut:]]) == data, f"cut at {cut}"
    assert decode([text[i : i + 1] for i in range(len(text))]) == data


def test_unpadded_base64_through_the_json_stream() -> None:
    data = random_bytes(1000, seed=4)
    body = b'{"data": [{"b64_json": "' + unpadded(data, "urlsafe") + b'"}], "created": 1}'

    class Sink:
        def __init__(self) -> None:
            self.out: list[bytes] = []
            self.decoder = Base64Decoder(self.out.append)

        def write(self, piece: bytes) -> None:
            self.decoder.feed(piece)

        def finish(self) -> bytes:
            self.decoder.close()
            return b"".join(self.out)

    def open_sink(path: tuple[str | int, ...]) -> Sink | None:
        return Sink() if path == ("data", 0, "b64_json") else None

    for size in (1, 3, 4, 5, 64, len(body)):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        result: Any = parse(chunks, open_sink)
        assert result == {"data": [{"b64_json": data}], "created": 1}, f"chunks of {size}"


@pytest.mark.parametrize(
    "pieces",
    [
        [b"Q"],
        [b"QUJDR"],
        [b"QUJD", b"R"],
        [b"QUJD\r\n", b"R"],  # 7 characters sent, 5 after cleaning
        [b"QU", b"JD\nRE", b"VG", b"R"],
        [b"data:image/png;base64,QUJDR"],
        [b"data:image/png;ba", b"se64,QUJD", b"R"],
    ],
)
def test_truncated_base64_is_an_error(pieces: list[bytes]) -> None:
    decoder = Base64Decoder(lambda data: None)
    for piece in pieces:
        decoder.feed(piece)  # nothing is wrong yet: more could come
    with pytest.raises(JSONStreamError, match="truncated"):
        decoder.close()


def test_breaks_that_leave_whole_quads_are_not_truncation() -> None:
    assert decode([b"QUJD\n"]) == b"ABC"  # 5 characters sent, 4 after cleaning
    assert decode([b"QU\r\nJD\r\nRA"]) == b"ABCD"


# -- the 50 MiB input limit -------------------------------------------------------------------


def test_limit_is_50_mib() -> None:
    assert MAX_IMAGE_BYTES == 50 * MiB


def test_image_file_of_exactly_50_mib_is_refused(tmp_path: Path) -> None:
    path = sparse_png(tmp_path / "big.png", MAX_IMAGE_BYTES)
    with pytest.raises(InputError) as caught:
        load_image(str(path))
    assert caught.value.exit_code == 2
    assert "big.png" in str(caught.value)
    assert "50 MiB" in str(caught.value)


def test_image_file_one_byte_under_50_mib_is_accepted(tmp_path: Path) -> None:
    path = sparse_png(tmp_path / "almost.png", MAX_IMAGE_BYTES - 1)
    image = load_image(str(path))
    assert image.size == MAX_IMAGE_BYTES - 1
    assert image.content_type == "image/png"
    assert (image.width, image.height) == (WIDTH, HEIGHT)


class ZeroPipe(io.RawIOBase):
    """Standard input as a pipe gives it: a PNG header, then zeros, in short reads."""

    def __init__(self, size: int, piece: int = 64 * 1024) -> None:
        self.head = png_header()
        self.size = size
        self.piece = piece
        self.pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self.piece, self.size - self.pos)
        chunk = self.head[self.pos : self.pos + n]
        view[:n] = chunk + bytes(n - len(chunk))
        self.pos += n
        return n


def stdin_of(size: int) -> io.BufferedReader:
    return io.BufferedReader(ZeroPipe(size))


@pytest.mark.parametrize("size", [MAX_IMAGE_BYTES, MAX_IMAGE_BYTES + 1])
def test_standard_input_of_50_mib_or_more_is_refused(size: int, no_pillow: None) -> None:
    with pytest.raises(InputError) as caught:
        read_limited(stdin_of(size), "standard input")
    assert caught.value.exit_code == 2
    assert "standard input" in str(caught.value)
    assert "dmxedit[images]" in (caught.value.hint or "")


def test_with_the_images_extra_standard_input_may_be_larger_up_to_its_own_cap(
    monkeypatch: pytest.MonkeyPatch, pil: Any
) -> None:
    import dmxedit.media.images as images_mod

    monkeypatch.setattr(images_mod, "PREPARED_STDIN_BYTES", MAX_IMAGE_BYTES + 10)
    assert len(read_limited(stdin_of(MAX_IMAGE_BYTES + 1), "standard input")) > MAX_IMAGE_BYTES
    with pytest.raises(InputError, match="re-encodes images up to"):
        read_limited(stdin_of(MAX_IMAGE_BYTES + 10), "standard input")


def test_standard_input_one_byte_under_50_mib_is_accepted() -> None:
    data = read_limited(stdin_of(MAX_IMAGE_BYTES - 1), "standard input")
    assert len(data) == MAX_IMAGE_BYTES - 1
    assert data.startswith(png_header())
    image = load_image("-", read_stdin=lambda: data)
    assert image.size == MAX_IMAGE_BYTES - 1
    assert (image.content_type, image.width, image.height) == ("image/png", WIDTH, HEIGHT)


def test_standard_input_bytes_of_exactly_50_mib_are_refused_by_load_image() -> None:
    data = png_header() + bytes(MAX_IMAGE_BYTES - len(png_header()))
    with pytest.raises(InputError) as caught:
        load_image("-", read_stdin=lambda: data)
    assert caught.value.exit_code == 2


# -- the multipart body streams a large image in bounded memory -------------------------------


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
