"""Reading and checking input images: the 50 MiB limit, standard input, hashing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from fakeserver import PNG_BYTES
from helpers import HEIGHT, WIDTH, MiB, png_header, sparse_png

from dmxedit.core.catalog import MAX_IMAGE_BYTES
from dmxedit.core.errors import ExitCode, InputError
from dmxedit.media.images import load_image, read_limited


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


def test_images_over_50_mib_are_refused_without_reading_them(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    with huge.open("wb") as fh:
        fh.write(PNG_BYTES[:33])
        fh.truncate(50 * 1024 * 1024 + 1)  # sparse: nothing is really written
    with pytest.raises(InputError, match="50 MiB") as info:
        load_image(str(huge))
    assert info.value.exit_code == ExitCode.USAGE
