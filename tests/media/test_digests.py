"""The inputs' SHA-256 come from a thread of their own (media/digests.py), not from
the upload's thread."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from fakeserver import make_png

from dmxedit.media import digests
from dmxedit.media.images import load_images


def test_each_input_is_hashed_in_order_on_another_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.png"
        path.write_bytes(make_png(8 + i, 8) + bytes(i * 3_000_000))  # several chunks
        paths.append(path)
    images = load_images([str(p) for p in paths])
    threads: set[str] = set()
    real = digests._sha256

    def spy(image: object) -> str | None:
        threads.add(threading.current_thread().name)
        return real(image)  # type: ignore[arg-type]

    monkeypatch.setattr(digests, "_sha256", spy)
    found = digests.Digests(images).start().result()
    assert found == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert threads == {"dmxedit-sha256"}


def test_a_file_that_cannot_be_read_is_none(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(make_png(8, 8))
    images = load_images([str(path)])
    path.unlink()
    assert digests.Digests(images).start().result() == [None]


def test_result_without_start_hashes_in_place(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(make_png(8, 8))
    images = load_images([str(path)])
    assert digests.Digests(images).result() == [hashlib.sha256(path.read_bytes()).hexdigest()]
