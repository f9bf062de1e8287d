"""`dmxedit ratios --model M` (SPEC section 12): that model's table from the model table,
tokens or "unknown", a pixel model's WxH rule and `auto`, qwen's "no ratio"; without
--model it stays nano-banana-2's."""

from __future__ import annotations

import json
from pathlib import Path

from fakeserver import make_png
from helpers import Cli, expect, probe_imports


def _rows(stdout: str) -> dict[str, list[str]]:
    return {
        line.split()[0]: line.split()[1:]
        for line in stdout.splitlines()[1:]
        if line and ":" in line.split()[0]
    }


def test_without_model_it_is_nano_banana_2s_table(cli: Cli) -> None:
    plain = expect(cli("ratios")).stdout
    assert plain == expect(cli("ratios", "--model", "nano-banana-2")).stdout
    assert plain.splitlines()[0].split() == [
        "ratio", "1K", "(tokens", "1210)", "2K", "(tokens", "1210)", "4K", "(tokens", "2000)"
    ]  # fmt: skip
    assert "also takes" not in plain


def test_the_flash_table_has_its_fourteen_ratios_and_tokens(cli: Cli) -> None:
    run = expect(cli("ratios", "-m", "gemini-3.1-flash-image"))
    rows = _rows(run.stdout)
    assert len(rows) == 14
    assert rows["8:1"] == ["3072x384", "6144x768", "12288x1536"]
    assert rows["1:4"] == ["512x2048", "1024x4096", "2048x8192"]
    assert "(tokens 1120)" in run.stdout.splitlines()[0]


def test_a_pixel_model_shows_its_rule_auto_and_unknown_tokens(cli: Cli) -> None:
    run = expect(cli("ratios", "--model", "gpt-image-2"))
    rows = _rows(run.stdout)
    assert rows["16:9"] == ["-", "2048x1152", "3840x2160"]
    assert rows["1:1"] == ["1024x1024", "2048x2048", "-"]
    assert "tokens unknown" in run.stdout.splitlines()[0]
    assert "--size auto" in run.stdout
    assert "multiples of 16, long side <= 3840, ratio <= 3:1" in run.stdout
    assert "--ratio alone means 1K" in run.stdout


def test_seedream_at_one_size_and_as_json(cli: Cli) -> None:
    run = expect(cli("ratios", "-m", "doubao-seedream-4-5-251128", "--size", "4k"))
    assert _rows(run.stdout)["21:9"] == ["6240x2656"]
    assert "--size 2K/4K alone" in run.stdout
    data = json.loads(expect(cli("ratios", "-m", "doubao-seedream-4-5-251128", "--json")).stdout)
    assert data["model"] == "doubao-seedream-4-5-251128" and data["door"] == "images"
    row = next(r for r in data["ratios"] if r["ratio"] == "16:9")
    assert row["sizes"]["2K"] == {"width": 2848, "height": 1600, "tokens": None}
    assert "3,686,400-16,777,216 pixels" in data["rule"]
    expect(cli("ratios", "-m", "doubao-seedream-4-5-251128", "--size", "1K"), 2, "no 1K size")


def test_gpt_image_2_json_has_nulls_where_nothing_is_documented(cli: Cli) -> None:
    data = json.loads(expect(cli("ratios", "-m", "gpt-image-2", "--json")).stdout)
    row = next(r for r in data["ratios"] if r["ratio"] == "9:16")
    assert row["sizes"] == {
        "1K": None,
        "2K": None,
        "4K": {"width": 2160, "height": 3840, "tokens": None},
    }
    assert data["auto"] is True


def test_qwen_takes_no_ratio(cli: Cli) -> None:
    run = expect(cli("ratios", "-m", "qwen-image-edit"))
    assert run.stdout.splitlines()[0] == "qwen-image-edit takes no --ratio."
    assert "any WxH" in run.stdout
    data = json.loads(expect(cli("ratios", "-m", "qwen-image-edit", "--json")).stdout)
    assert data["ratios"] == [] and data["rule"] == "any WxH"


def test_for_an_image_marks_the_models_own_closest_ratio(cli: Cli, tmp_path: Path) -> None:
    image = tmp_path / "banner.png"
    image.write_bytes(make_png(800, 100))
    run = expect(cli("ratios", "-m", "gemini-3.1-flash-image", "--for", str(image)))
    assert [r for r, cells in _rows(run.stdout).items() if cells[0] == "*"] == ["8:1"]
    run = expect(cli("ratios", "--for", str(image)))  # nano-banana-2 goes to 21:9
    assert [r for r, cells in _rows(run.stdout).items() if cells[0] == "*"] == ["21:9"]


def test_an_unknown_model_is_exit_2_with_the_nearest(cli: Cli) -> None:
    run = expect(cli("ratios", "-m", "gemini-3.1-flash-imge"), 2, "no table for the model")
    assert "Did you mean gemini-3.1-flash-image?" in run.stderr
    assert "dmxedit models --known" in run.stderr and run.stdout == ""


def test_an_alias_shows_its_models_table(cli: Cli) -> None:
    run = expect(cli("ratios", "-m", "gemini-3-pro-image-preview", "--json"))
    assert json.loads(run.stdout)["model"] == "gemini-3-pro-image"


def test_ratios_with_a_model_stays_light() -> None:
    result = probe_imports("ratios", "--model", "gpt-image-2", "--json")
    assert result["code"] == 0
    assert result["heavy"] == []
