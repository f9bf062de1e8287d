"""The JSON body whose images are base64-encoded as they are read (api/jsonbody): its
length is what it yields, a retry reads the files again, memory stays one chunk, and
--dry-run's shell pipeline writes the same bytes."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakeserver import make_big_png, make_png

from dmxedit.api.jsonbody import JSONBody, Placeholders, encoded_length, shell_pieces
from dmxedit.media.images import load_images


def body_of(paths: list[Path], chunk: int = 3 * 1024) -> tuple[JSONBody, dict[str, Any]]:
    images = load_images([str(p) for p in paths])
    marks = Placeholders()
    document = {
        "prompt": "猫",
        "image": [marks.mark(img, "data:image/png;base64,") for img in images],
    }
    return JSONBody(marks.pieces(document), chunk_size=chunk), document


def test_encoded_length() -> None:
    for n in range(0, 10):
        assert encoded_length(n) == len(base64.b64encode(b"x" * n))


@pytest.mark.parametrize("size", [100, 3071, 3072, 3073, 50_000])
def test_length_equals_the_bytes_it_yields_and_they_are_the_json(tmp_path: Path, size: int) -> None:
    first = tmp_path / "a.png"
    first.write_bytes(make_big_png(size))
    second = tmp_path / "b.png"
    second.write_bytes(make_png(9, 7))
    body, _ = body_of([first, second])
    sent = b"".join(body)
    assert len(sent) == len(body)
    document = json.loads(sent)
    assert document["prompt"] == "猫"
    assert document["image"] == [
        "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()
        for p in (first, second)
    ]


def test_memory_stays_one_chunk(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(make_big_png(200_000))
    body, _ = body_of([path], chunk=3 * 1024)
    sizes = [len(piece) for piece in body]
    # no piece holds more than one chunk of base64 plus the JSON text before it
    assert max(sizes) <= 4 * 1024 + 100
    assert len(sizes) > 60


def test_a_retry_reads_the_files_again(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(make_png(20, 20))
    body, _ = body_of([path])
    first = b"".join(body)
    second = b"".join(body)
    assert first == second and body.iterations == 2
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, other bytes: read afresh
    third = b"".join(body)
    assert third != first and len(third) == len(body)


def test_progress_counts_to_the_total(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(make_big_png(20_000))
    body, _ = body_of([path])
    seen: list[int] = []
    body.on_progress = seen.append
    sent = b"".join(body)
    assert seen[-1] == len(sent) == len(body) and seen == sorted(seen)


def test_a_file_that_grows_or_shrinks_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(make_big_png(10_000))
    body, _ = body_of([path])
    with open(path, "ab") as fh:
        fh.write(b"more")
    with pytest.raises(OSError, match="grew"):
        b"".join(body)
    path.write_bytes(make_png(4, 4))
    with pytest.raises(OSError, match="shrank"):
        b"".join(body)


def test_shown_names_each_image() -> None:
    marks = Placeholders()
    _png(Path.cwd() / "s.png")
    (image,) = load_images(["s.png"])
    shown = marks.shown({"image": [marks.mark(image, "data:image/png;base64,")]})
    assert shown == {"image": [f"data:image/png;base64,<base64 of s.png, {image.size} bytes>"]}


def _png(path: Path) -> Path:
    path.write_bytes(make_png(5, 5))
    return path


def test_the_shell_pipeline_writes_the_same_bytes(tmp_path: Path) -> None:
    first = _png(tmp_path / "it's one.png")
    second = tmp_path / "b.png"
    second.write_bytes(make_big_png(70_000))  # base64 wraps its lines: they are removed
    images = load_images([str(first), str(second)])
    marks = Placeholders()
    document = {
        "p": 'it\'s "q" 猫 $HOME `x`',
        "image": [marks.mark(i, "data:image/png;base64,") for i in images],
    }
    pieces = marks.pieces(document)
    command = shell_pieces(pieces, shlex.quote)
    proc = subprocess.run(["bash", "-c", command], capture_output=True, cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"".join(JSONBody(pieces))
