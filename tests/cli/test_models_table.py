"""`dmxedit models --long` and `--known` (SPEC section 12): what dmxedit's model table
knows of each model the key can use, and of the table's models the key's list lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import FakeDMX, model_entry
from helpers import Cli, expect

from dmxedit.core.modelfacts import facts, inputs_words, listing, options_words
from dmxedit.core.modeltable import MODELS, model_for

pytestmark = pytest.mark.e2e
TABLE_IDS = [m.id for m in MODELS]


def _blocks(stdout: str) -> dict[str, list[str]]:
    """``--long``/``--known`` text: each model's first line and its indented facts."""
    blocks: dict[str, list[str]] = {}
    current: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("  "):
            current.append(line.strip())
        else:
            current = blocks.setdefault(line.split()[0], [line])
    return blocks


def test_models_without_long_is_one_model_a_line_with_its_door(cli: Cli, server: FakeDMX) -> None:
    # SPEC 12: whether dmxedit knows each model, its door, inputs, ratios, sizes, options
    server.models.append(model_entry("gemini-3.1-flash-image", "google", "image-generation"))
    server.models.append(model_entry("my-image-model", "x", "image-generation"))
    run = expect(cli("models"), 0, "--long adds the details of each")
    rows = {line.split()[0]: line for line in run.stdout.splitlines()}
    assert rows["gemini-3.1-flash-image"].split(None, 1)[1] == (
        "gemini door  0-14 inputs; 14 ratios; 1K/2K/4K; --search"
    )
    assert "images door  0-16 (warn > 14) inputs; 10 ratios; 1K/2K/4K" in rows["nano-banana-2"]
    assert "unknown to dmxedit" in rows["my-image-model"]


def test_long_shows_the_table_beside_the_keys_list(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("models", "--long"), 0, f"dmxedit knows {len(MODELS)} models")
    blocks = _blocks(run.stdout)
    banana = blocks["nano-banana-2"]
    assert banana[0] == "nano-banana-2  (in your key's list)"
    assert "inputs   0-16 (warn > 14)" in banana
    assert "ratios   1:1 2:3 3:2 3:4 4:3 4:5 5:4 9:16 16:9 21:9" in banana
    assert "tokens   1210 (1K), 1210 (2K), 2000 (4K)" in banana
    # an alias in the key's list is known as the table's model
    pro = blocks["gemini-3-pro-image-preview"]
    assert "known as gemini-3-pro-image" in pro[0]
    assert any(line.startswith("door     gemini door") for line in pro)
    assert "options  --search" in pro
    # in the key's list, not in the table
    (hunyuan,) = blocks["hunyuan-t2i"]
    assert "not in dmxedit's table" in hunyuan and "--api gemini" in hunyuan
    # in the table, not in the key's list
    gpt = blocks["gpt-image-2"]
    assert "NOT in your key's list" in gpt[0]
    assert "tokens   unknown (DMXAPI documents none)" in gpt
    assert any("--quality low/medium/high/auto" in line for line in gpt)
    assert any("-n/--count 1-10" in line for line in gpt)
    assert any("multiples of 16" in line for line in gpt)
    assert "inputs   1" in blocks["qwen-image-edit"]
    assert "ratios   none (takes no --ratio)" in blocks["qwen-image-edit"]
    assert set(TABLE_IDS) <= set(blocks)
    assert [m for m in server.requests if m.method != "GET"] == []


def test_long_json_carries_the_same_facts(cli: Cli, server: FakeDMX) -> None:
    rows = {r["id"]: r for r in json.loads(expect(cli("models", "--long", "--json")).stdout)}
    banana = rows["nano-banana-2"]
    assert banana["owned_by"] == "vertex-ai" and banana["image"] is True
    assert banana["known"] is True and banana["listed"] is True
    assert banana["table"]["door"] == "images" and banana["table"]["inputs"]["max"] == 16
    assert rows["hunyuan-t2i"]["known"] is False and rows["hunyuan-t2i"]["table"] is None
    assert rows["gemini-3-pro-image-preview"]["table"]["id"] == "gemini-3-pro-image"
    gpt15 = rows["gpt-image-1.5"]
    assert gpt15["listed"] is False and gpt15["known"] is True
    assert gpt15["table"]["options"]["--background"] == "auto/opaque/transparent"
    assert gpt15["table"]["tokens"] is None
    seedream = rows["doubao-seedream-4-5-251128"]["table"]
    assert seedream["tiers"] == ["2K", "4K"] and seedream["options"] == {"-n/--count": "1-15"}
    flash = rows["gemini-3.1-flash-image"]["table"]
    assert "8:1" in flash["ratios"] and flash["tokens"] == {"1K": 1120, "2K": 1120, "4K": 2000}


def test_known_needs_no_key_and_sends_nothing(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("models", "--known", key=None))
    assert list(_blocks(run.stdout)) == TABLE_IDS
    assert server.requests == []
    data = json.loads(expect(cli("models", "--known", "--json", key=None)).stdout)
    assert [m["id"] for m in data] == TABLE_IDS
    assert data[0] == facts(MODELS[0])
    assert data[0]["pick"] and data[0]["sizes"] == "1K, 2K, 4K"
    assert server.requests == []


def test_without_a_key_the_error_points_at_known(cli: Cli, server: FakeDMX) -> None:
    expect(cli("models", key=None), 3, "dmxedit config set api-key", "dmxedit models --known")
    assert server.requests == []


def test_a_configured_model_outside_the_table_is_warned_with_the_nearest(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    assert "not in dmxedit's table" not in expect(cli("models")).stderr
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text('model = "gpt-image-3"\n')
    config.chmod(0o600)
    expect(cli("models"), 0, "gpt-image-3, is not in dmxedit's table", "Did you mean gpt-image-2?")


# -- the words (units) -----------------------------------------------------------------------


def test_inputs_and_options_in_words() -> None:
    words = {m.id: (inputs_words(m), options_words(m)) for m in MODELS}
    assert words["nano-banana-2"] == ("0-16 (warn > 14)", "none besides the prompt")
    assert words["gemini-3-pro-image"] == ("0-11", "--search")
    assert words["qwen-image-edit"][0] == "1"
    assert words["doubao-seedream-4-0-250828"][1] == "-n/--count 1-15"
    assert "--background auto/opaque/transparent" in words["gpt-image-1.5"][1]
    assert "--mask," in words["gpt-image-2"][1]


def test_listing_marks_known_listed_and_missing() -> None:
    rows = {r["id"]: r for r in listing([{"id": "nano-banana-2"}, {"id": "flux-kontext"}])}
    assert rows["nano-banana-2"]["known"] and rows["nano-banana-2"]["listed"]
    assert not rows["flux-kontext"]["known"] and rows["flux-kontext"]["listed"]
    assert set(rows) == {"flux-kontext", *TABLE_IDS}
    assert not any(rows[m]["listed"] for m in TABLE_IDS if m != "nano-banana-2")
    # an alias listed does not make the model's own id usable
    aliased = {r["id"]: r for r in listing([{"id": "gpt-image-2-ssvip"}])}
    assert aliased["gpt-image-2-ssvip"]["table"]["id"] == "gpt-image-2"
    assert aliased["gpt-image-2"]["listed"] is False
    assert model_for("gpt-image-2-ssvip") is model_for("gpt-image-2")
