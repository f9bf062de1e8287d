"""The model table and token costs."""

from __future__ import annotations

from dmxedit.core import catalog


def test_catalog_table_and_tokens() -> None:
    assert catalog.pixels("5:4", "4K") == (4608, 3712)
    assert catalog.pixels("21:9", "1K") == (1584, 672)
    assert catalog.tokens_for("4K") == 2000 and catalog.tokens_for("1K") == 1210
    assert catalog.tokens_for(None) == 1210
    assert catalog.closest_ratio(1000, 1000) == "1:1"
    assert catalog.closest_ratio(1920, 1080) == "16:9"
    assert catalog.closest_ratio(1080, 1350) == "4:5"
    assert catalog.normalize_size(" 2k ") == "2K" and catalog.normalize_size("3k") is None
