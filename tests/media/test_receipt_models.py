"""Receipts against each model's own table (SPEC 12): the WxH a pixel model was sent,
the table's pixels of a tier model, a tier's sizes, a ratio's shape, and for ``auto``
only the format (gpt-image's --image-format); the same measure after `recover`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakemodels import jpeg_of
from fakeserver import GENERATIONS, FakeDMX, Reply
from helpers import Cli, expect

from dmxedit.media import receipt

GPT2, GPT15, QWEN = "gpt-image-2", "gpt-image-1.5", "qwen-image-edit"
SD45, SD40 = "doubao-seedream-4-5-251128", "doubao-seedream-4-0-250828"


def got(width: int, height: int, fmt: str = "png") -> dict[str, object]:
    return {"format": fmt, "width": width, "height": height}


@pytest.mark.parametrize(
    ("model", "ratio", "size", "image_format", "delivered", "said"),
    [
        (GPT2, "16:9", "4K", None, got(3840, 2160), []),
        (GPT2, "16:9", "4K", None, got(4096, 4096), ["asked 4K 16:9 (3840x2160), got 4096x4096"]),
        (GPT2, "3:2", None, None, got(1536, 1024), []),  # --ratio alone: 1K
        (GPT2, "3:2", None, None, got(1024, 1024), ["asked 3:2 (1536x1024), got 1024x1024"]),
        (GPT2, None, "2048x1152", None, got(2048, 1152), []),
        (GPT2, None, "2048x1152", None, got(2048, 1136), ["asked 2048x1152, got 2048x1136"]),
        (GPT2, None, "auto", None, got(1234, 777), []),  # auto: only the format
        (GPT2, None, "auto", "jpeg", got(1024, 1024), ["asked for JPEG, got PNG"]),
        (GPT2, None, None, "webp", got(1024, 1024, "webp"), []),
        (GPT15, None, "1024x1536", None, got(1536, 1024), ["asked 1024x1536, got 1536x1024"]),
        (SD45, "16:9", None, None, got(2848, 1600, "jpeg"), []),
        (SD45, "16:9", "4K", None, got(2848, 1600, "jpeg"), ["asked 4K 16:9 (5504x3040), got 2848x1600"]),  # noqa: E501
        (SD45, None, "2K", None, got(1234, 2345, "jpeg"), []),  # a bare tier: the model's shape
        (SD40, None, "1920x1080", None, got(1920, 1080, "jpeg"), []),
        (QWEN, None, "1024x768", None, got(768, 1024), ["asked 1024x768, got 768x1024"]),
        (QWEN, None, None, None, got(333, 222), []),
        ("nano-banana-2", None, "2K", None, got(1024, 1024), ["asked 2K, got 1024x1024"]),
        ("nano-banana-2", "16:9", None, None, got(1376, 768), []),
        ("gemini-3.1-flash-image", "1:8", "1K", None, got(384, 3072), []),
        ("gemini-3.1-flash-image", "1:8", "1K", None, got(1024, 1024), ["asked 1K 1:8 (384x3072), got 1024x1024"]),  # noqa: E501
        ("some-new-model", "16:9", "4K", None, got(1, 1), []),  # not in the table: nothing
    ],
)  # fmt: skip
def test_each_model_is_measured_by_its_own_table(
    model: str,
    ratio: str | None,
    size: str | None,
    image_format: str | None,
    delivered: dict[str, object],
    said: list[str],
) -> None:
    expected = receipt.expect(model, ratio, size, image_format=image_format)
    assert receipt.mismatches(expected, delivered) == said


def test_a_gpt_image_answer_of_another_size_is_warned_about(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    import base64

    wrong = base64.b64encode(jpeg_of(1024, 1024)).decode()
    server.script(GENERATIONS, Reply(json={"data": [{"b64_json": wrong}]}))
    run = expect(
        cli("generate", "-p", "x", "-m", GPT2, "-r", "16:9", "-s", "2K", "--json"),
        0,
        "asked 2K 16:9 (2048x1152), got 1024x1024",
    )
    assert "asked 2K 16:9 (2048x1152), got 1024x1024" in json.loads(run.stdout)["mismatch"]


def test_gpt_image_format_is_checked_against_image_format(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("generate", "-p", "x", "-m", GPT2, "--image-format", "webp", "--json"), 0)
    out = json.loads(run.stdout)
    assert out["mismatch"] == [] and out["files"][0].endswith(".webp")


def test_recover_measures_with_the_models_table(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    url = server.add_file("late.jpeg", jpeg_of(2048, 2048), "image/jpeg")
    server.script(GENERATIONS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/late.jpeg", Reply(status=404))
    assert cli("edit", str(png), "-p", "x", "-m", SD45, "-r", "16:9").code == 6
    expect(cli("recover"), 0, "asked 16:9 (2848x1600), got 2048x2048")
