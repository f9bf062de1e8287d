"""Receipts against each model's own table (SPEC 12 "Receipts"): the mapped or given WxH
for pixel-size models, the tier table for tier models, only the format for ``auto``."""

from __future__ import annotations

from dmxedit.media.receipt import asked, mismatches


def got(width: int, height: int, fmt: str = "png") -> dict[str, object]:
    return {"format": fmt, "width": width, "height": height}


def test_a_pixel_model_is_held_to_its_mapped_size() -> None:
    assert mismatches("gpt-image-2", "3:2", "1K", (), got(1536, 1024)) == []
    assert mismatches("gpt-image-2", "3:2", "1K", (), got(1024, 1024)) == [
        "asked 1K 3:2 (1536x1024), got 1024x1024"
    ]
    assert mismatches("gpt-image-1.5", "2:3", None, (), got(1024, 1536)) == []
    assert mismatches("gpt-image-2", None, "2048x1152", (), got(2048, 1152)) == []
    assert mismatches("qwen-image-edit", None, "1024x1024", (), got(1024, 768)) == [
        "asked 1024x1024, got 1024x768"
    ]


def test_auto_and_a_bare_tier_compare_only_the_format() -> None:
    assert mismatches("gpt-image-2", None, "auto", (), got(1024, 1536)) == []
    assert mismatches("doubao-seedream-4-5-251128", None, "2K", (), got(2000, 1000)) == []
    assert mismatches("gpt-image-2", None, "auto", (("image_format", "jpeg"),), got(9, 9)) == [
        "asked for JPEG, got PNG"
    ]


def test_tier_models_use_their_own_ratio_table() -> None:
    flash = "gemini-3.1-flash-image"
    assert mismatches(flash, "8:1", "1K", (), got(3072, 384)) == []
    assert mismatches(flash, "8:1", "1K", (), got(1024, 1024)) == [
        "asked 1K 8:1 (3072x384), got 1024x1024"
    ]
    assert asked("doubao-seedream-4-0-250828", "16:9", "2K") == "2K 16:9 (2848x1600)"
    assert mismatches("nano-banana-2", "16:9", "2K", (), got(2752, 1536)) == []
    assert mismatches("some-unknown-model", "16:9", "2K", (), got(5, 5)) == []
