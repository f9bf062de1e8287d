"""The default model's table and token costs, from the model table (the one source of
ratios, sizes and tokens: ``core/catalog`` keeps sites, endpoints and limits only)."""

from __future__ import annotations

from dmxedit.core import catalog
from dmxedit.core.modelspec import closest, normalize_size
from dmxedit.core.modeltable import model_for


def test_default_model_table_and_tokens() -> None:
    spec = model_for(catalog.DEFAULT_MODEL)
    assert spec is not None
    assert spec.pixels("5:4", "4K") == (4608, 3712)
    assert spec.pixels("21:9", "1K") == (1584, 672)
    assert spec.tokens_for("4K") == 2000 and spec.tokens_for("1K") == 1210
    assert spec.tokens_for(None) == 1210
    ratios = list(spec.ratios)
    assert closest(ratios, 1000, 1000) == "1:1"
    assert closest(ratios, 1920, 1080) == "16:9"
    assert closest(ratios, 1080, 1350) == "4:5"
    assert normalize_size(" 2k ") == "2K" and normalize_size("3k") is None


def test_catalog_has_no_second_model_table() -> None:
    """Ratios, sizes and tokens live in the model table alone."""
    for gone in ("RATIOS", "TOKENS", "SIZES", "tokens_for", "pixels", "closest_ratio"):
        assert not hasattr(catalog, gone), gone
