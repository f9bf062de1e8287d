"""Gaps of SPEC 12 found in review of issue 23: --param cannot overwrite the body a door
builds, any size for a model not in the table, --ratio auto within the tier, data: URIs in
any case and inside a text part's words, doctor's warning, `dmxedit models` facts, and a
new model being one entry of the table."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import fakegemini
import pytest
from fakemodels import png_of
from fakeserver import GENERATIONS, FakeDMX, Reply
from helpers import Cli

pytestmark = pytest.mark.e2e
PRO = "gemini-3-pro-image"


def _image(tmp_path: Path, w: int, h: int, name: str = "in.png") -> Path:
    path = tmp_path / name
    path.write_bytes(png_of(w, h))
    return path


# 1. --param may not clobber or crash the body a door builds (exit 2, never exit 1)
@pytest.mark.parametrize("param", ["contents=oops", "generationConfig=x", "tools=x"])
def test_param_cannot_clobber_the_gemini_body(
    cli: Cli, server: FakeDMX, tmp_path: Path, param: str
) -> None:
    src = _image(tmp_path, 64, 64)
    run = cli(
        "edit",
        str(src),
        "-p",
        "x",
        "-m",
        "gemini-3.1-flash-image",
        "--ratio",
        "8:1",
        "--search",
        "--param",
        param,
        "--dry-run",
    )
    assert run.code == 2, run.output  # main: exit 1 "internal error" or 0 with ratio/tools lost


def test_param_cannot_duplicate_an_option_field(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    src = _image(tmp_path, 64, 64)
    run = cli(
        "edit",
        str(src),
        "-p",
        "x",
        "-m",
        "gpt-image-2",
        "--quality",
        "high",
        "--param",
        "quality=low",
        "--dry-run",
    )
    assert run.code == 2, run.output  # main: sends quality=high AND quality=low


def test_param_cannot_turn_seedream_watermark_on(cli: Cli, server: FakeDMX) -> None:
    run = cli(
        "generate",
        "-p",
        "x",
        "-m",
        "doubao-seedream-4-5-251128",
        "--param",
        "watermark=true",
        "--dry-run",
    )
    assert run.code == 2 and "watermark false" in run.stderr, run.output


def test_param_problems_are_named_all_at_once(cli: Cli, server: FakeDMX) -> None:
    run = cli(
        "generate",
        "-p",
        "x",
        "-m",
        "gpt-image-2",
        "--param",
        "quality=low",
        "--param",
        "output_format=png",
        "--param",
        "oops",
        "--dry-run",
    )
    assert run.code == 2, run.output
    for said in ("3 problems", "use --quality", "use --image-format", "'oops' is not KEY=VALUE"):
        assert said in run.stderr, run.output


def test_param_stays_free_for_a_field_the_model_does_not_take(cli: Cli, server: FakeDMX) -> None:
    # nano-banana-2 takes no --quality: --param is how a field the table lacks is sent
    run = cli("generate", "-p", "x", "--param", "quality=high", "--dry-run")
    assert run.code == 0, run.output
    assert '"quality": "high"' in run.stdout


# 2. SPEC 1: a model not in the table gets any size sent as given
def test_an_unknown_model_takes_any_size(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    src = _image(tmp_path, 64, 64)
    run = cli(
        "edit",
        str(src),
        "-p",
        "x",
        "-m",
        "my-gemini",
        "--api",
        "gemini",
        "--size",
        "512",
        "--dry-run",
    )
    assert run.code == 0, run.output  # main: exit 2 "--size '512' is not a size"
    assert '"imageSize": "512"' in run.stdout


def test_a_known_model_refuses_a_size_it_does_not_take(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    src = _image(tmp_path, 64, 64)
    run = cli(
        "edit", str(src), "-p", "x", "-m", "gemini-3.1-flash-image", "--size", "512", "--dry-run"
    )
    assert run.code == 2 and "is not a size" in run.stderr, run.output
    set_it = cli("config", "set", "size", "512")
    assert set_it.code == 0, set_it.output  # kept as given: the model's table decides
    bad = cli("config", "set", "size", "2K\x1b[31m")
    assert bad.code == 2 and "is not a size" in bad.stderr, bad.output


# 3. --ratio auto picks a ratio the model makes at the size in use
@pytest.mark.parametrize(
    ("shape", "extra", "sent"),
    [
        ((1920, 1080), [], "1536x1024"),  # 1K: 16:9 is not made; 3:2 is the closest made
        ((1024, 1024), ["--size", "4K"], "3840x2160"),  # 4K: only 16:9 and 9:16 exist
    ],
)
def test_ratio_auto_on_gpt_image_2(
    cli: Cli, server: FakeDMX, tmp_path: Path, shape: tuple[int, int], extra: list[str], sent: str
) -> None:
    src = _image(tmp_path, *shape)
    run = cli(
        "edit", str(src), "-p", "x", "-m", "gpt-image-2", "--ratio", "auto", *extra, "--dry-run"
    )
    assert run.code == 0, run.output  # main: exit 2 "has no documented size for 16:9 1K"
    assert sent in run.stdout


# 4. A data: URI is recognised case-insensitively, so it must be decoded likewise
def test_an_upper_case_data_uri_in_a_text_part_is_saved(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    data = base64.b64encode(png_of(32, 32)).decode()
    answer = {
        "candidates": [
            {
                "content": {"parts": [{"text": "DATA:IMAGE/PNG;BASE64," + data}]},
                "finishReason": "STOP",
            }
        ]
    }
    server.script(fakegemini.path(PRO), Reply(json=answer))
    run = cli("generate", "-p", "x", "-m", PRO, "-o", str(tmp_path / "o"), "--json")
    assert run.code == 0, run.output  # main: exit 4 "b64_json is not valid base64": paid image lost


# 5. Pro's data: URI inside markdown (relays do this, DMXAPI.md) is still an image
def test_a_markdown_data_uri_in_a_text_part_is_saved(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    data = base64.b64encode(png_of(32, 32)).decode()
    text = "Here you go:\n\n![image](data:image/png;base64," + data + ")"
    answer = {"candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}]}
    server.script(fakegemini.path(PRO), Reply(json=answer))
    run = cli("generate", "-p", "x", "-m", PRO, "-o", str(tmp_path / "o"), "--json")
    assert run.code == 0, run.output  # main: exit 4 "no image", base64 echoed in the message
    result = json.loads(run.stdout)
    (saved,) = result["files"]
    assert Path(saved).read_bytes() == png_of(32, 32)
    assert "Here you go" in json.dumps(result) and data[:40] not in run.stdout + run.stderr


def test_two_data_uris_in_one_text_part_are_two_images(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    one, two = png_of(32, 32), png_of(16, 8)
    text = (
        "first ![a](data:image/png;base64," + base64.b64encode(one).decode() + ") then"
        " ![b](DATA:image/png;base64," + base64.b64encode(two).decode() + ")\nend"
    )
    answer = {"candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}]}
    server.script(fakegemini.path(PRO), Reply(json=answer))
    run = cli("generate", "-p", "x", "-m", PRO, "-o", str(tmp_path / "o"), "--json")
    assert run.code == 0, run.output
    files = json.loads(run.stdout)["files"]
    assert [Path(f).read_bytes() for f in files] == [one, two]


def test_words_that_mention_data_image_stay_words(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    data = base64.b64encode(png_of(32, 32)).decode()
    parts = [
        {"text": "a data:image/ URI, or data:image/png;charset=x is words"},
        {"inlineData": {"mimeType": "image/png", "data": data}},
    ]
    answer = {"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]}
    server.script(fakegemini.path(PRO), Reply(json=answer))
    run = cli("generate", "-p", "x", "-m", PRO, "-o", str(tmp_path / "o"), "--json")
    assert run.code == 0, run.output
    assert "charset=x is words" in run.stdout


def test_an_upper_case_data_uri_in_a_url_is_saved(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    data = base64.b64encode(png_of(32, 32)).decode()
    server.script(GENERATIONS, Reply(json={"data": [{"url": "DATA:IMAGE/PNG;BASE64," + data}]}))
    run = cli(
        "generate",
        "-p",
        "x",
        "-m",
        "doubao-seedream-4-0-250828",
        "-o",
        str(tmp_path / "o"),
        "--json",
    )
    assert run.code == 0, run.output
    (saved,) = json.loads(run.stdout)["files"]
    assert Path(saved).read_bytes() == png_of(32, 32)


# 6. doctor warns (not fails) about a model the key's list lacks (issue 23 point 5)
def test_doctor_warns_about_a_model_not_in_the_keys_list(cli: Cli, server: FakeDMX) -> None:
    run = cli("doctor", "--json", "-m", "gemini-3.1-flash-image")
    checks = {c["name"]: c for c in json.loads(run.stdout)}
    assert checks["model"]["status"] == "warn", checks["model"]  # main: "fail", exit 2


# 7. `dmxedit models --json` says, for each model, whether dmxedit knows it and its door
def test_models_json_says_known_and_door(cli: Cli, server: FakeDMX) -> None:
    run = cli("models", "--json")
    assert run.code == 0, run.output
    rows = {m["id"]: m for m in json.loads(run.stdout)}
    assert "known" in rows["nano-banana-2"], rows["nano-banana-2"]  # main: only with --long


# 8. Adding a model that goes through a known door is one entry of the table
def test_a_new_model_entry_is_checked_and_sent_with_no_other_change(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dmxedit.core import modeltable
    from dmxedit.core.modelspec import Choice, Model

    new = Model(
        id="gemini-9-image",
        name="Test",
        door="gemini",
        pick="a test",
        inputs=2,
        inputs_as="inline_data",
        tiers=("1K",),
        ratios={"1:1": ((1024, 1024),)},
        options={"search": Choice()},
        takes_format=False,
        search_tool={"google_search": {"mine": {}}},
    )
    monkeypatch.setattr(modeltable, "MODELS", (*modeltable.MODELS, new))
    monkeypatch.setitem(modeltable._BY_ID, new.id, new)
    srcs = [str(_image(tmp_path, 64, 64, f"{i}.png")) for i in range(3)]
    wrong = cli(
        "edit", *srcs, "-p", "x", "-m", new.id, "--ratio", "16:9", "--quality", "high", "--dry-run"
    )
    assert wrong.code == 2, wrong.output
    for said in ("3 images: gemini-9-image takes at most 2", "Ratio 16:9", "--quality"):
        assert said in wrong.stderr, wrong.output
    run = cli(
        "edit",
        srcs[0],
        "-p",
        "x",
        "-m",
        new.id,
        "--ratio",
        "1:1",
        "--size",
        "1K",
        "--search",
        "--dry-run",
        "--json",
    )
    assert run.code == 0, run.output
    sent = json.loads(run.stdout)
    shown = json.dumps(sent)
    assert "/v1beta/models/gemini-9-image:generateContent" in shown
    assert '"imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"}' in shown
    assert '"tools": [{"google_search": {"mine": {}}}]' in shown


# Smaller ones: --mask with a downscaled image, Seedream's smallest input, --format url
def test_a_mask_with_a_downscaled_image_is_refused_clearly(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    src = _image(tmp_path, 128, 96)
    mask = tmp_path / "mask.png"
    mask.write_bytes(png_of(128, 96, alpha=True))
    run = cli(
        "edit",
        str(src),
        "-p",
        "x",
        "-m",
        "gpt-image-2",
        "--mask",
        str(mask),
        "--max-side",
        "64",
        "--dry-run",
    )
    assert run.code == 2 and "--mask cannot go with" in run.stderr, run.output
    assert "128x96 to 64x48" in run.stderr and "must be the size" not in run.stderr


def test_seedream_refuses_an_input_of_14_pixels_a_side(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    small = _image(tmp_path, 14, 300, "small.png")
    run = cli("edit", str(small), "-p", "x", "-m", "doubao-seedream-4-0-250828", "--dry-run")
    assert run.code == 2 and "at least 15 pixels a side (14x300 given)" in run.stderr, run.output
    ok = cli(
        "edit",
        str(_image(tmp_path, 15, 15)),
        "-p",
        "x",
        "-m",
        "doubao-seedream-4-0-250828",
        "--dry-run",
    )
    assert ok.code == 0, ok.output


def test_format_url_given_for_an_inline_model_says_it_does_not_apply(
    cli: Cli, server: FakeDMX
) -> None:
    run = cli("generate", "-p", "x", "-m", "gpt-image-2", "--format", "url", "--dry-run")
    assert run.code == 0 and "--format url does not apply to gpt-image-2" in run.stderr
    assert cli("config", "set", "format", "url").code == 0
    quiet = cli("generate", "-p", "x", "-m", PRO, "--dry-run")
    assert quiet.code == 0 and "does not apply" not in quiet.stderr, quiet.output
    said = cli("generate", "-p", "x", "-m", PRO, "--format", "url", "--dry-run")
    assert "--format url does not apply to gemini-3-pro-image" in said.stderr


def test_an_unknown_model_keeps_param_for_an_option_not_given(cli: Cli, server: FakeDMX) -> None:
    free = cli("generate", "-p", "x", "-m", "my-model", "--param", "quality=low", "--dry-run")
    assert free.code == 0 and '"quality": "low"' in free.stdout, free.output
    both = cli(
        "generate",
        "-p",
        "x",
        "-m",
        "my-model",
        "--quality",
        "high",
        "--param",
        "quality=low",
        "--dry-run",
    )
    assert both.code == 2 and "use --quality" in both.stderr, both.output
