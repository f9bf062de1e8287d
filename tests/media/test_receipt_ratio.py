"""The receipt compares the ratio when a size is asked too (issue 21, point 19): asked
16:9 at 4K and delivered 4096x4096 (a 4K size, of another ratio) is a mismatch. A seeded
bug that checked only that the pixels were one of the size's went unseen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import EDITS, FakeDMX, Reply
from helpers import Cli, expect, png_header

from dmxedit.media import receipt


@pytest.mark.parametrize(
    ("ratio", "size", "got", "expected"),
    [
        ("16:9", "4K", (4096, 4096), ["asked 4K 16:9 (5504x3072), got 4096x4096"]),
        ("1:1", "2K", (2752, 1536), ["asked 2K 1:1 (2048x2048), got 2752x1536"]),
        ("9:16", "1K", (1376, 768), ["asked 1K 9:16 (768x1376), got 1376x768"]),  # turned
        ("16:9", "4K", (5504, 3072), []),
    ],
)
def test_ratio_and_size_together_must_give_the_tables_pixels(
    ratio: str, size: str, got: tuple[int, int], expected: list[str]
) -> None:
    delivered = {"format": "png", "width": got[0], "height": got[1]}
    assert receipt.mismatches(receipt.expect("nano-banana-2", ratio, size), delivered) == expected


def test_a_square_4k_image_for_a_16_9_4k_request_is_warned_about(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(json=server.url_result(png_header(4096, 4096))))
    run = expect(
        cli("edit", str(png), "-p", "x", "-r", "16:9", "-s", "4K", "--json"),
        0,
        "asked 4K 16:9 (5504x3072), got 4096x4096",
    )
    assert json.loads(run.stdout)["mismatch"] == ["asked 4K 16:9 (5504x3072), got 4096x4096"]
