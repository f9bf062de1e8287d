"""What each model refuses before anything is sent (SPEC 12): options it does not take
(naming the models that do), bad values, sizes against its rule, ratios not in its table,
input counts and limits, --api, --count, --mask; all problems at once, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakemodels import png_of
from fakeserver import FakeDMX, make_png
from helpers import Cli, expect, png_header, sparse_png

from dmxedit.api.request import build_request
from dmxedit.core.errors import InputError
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings
from dmxedit.media.images import load_images

GPT2, GPT15, QWEN = "gpt-image-2", "gpt-image-1.5", "qwen-image-edit"
SD45, SD40 = "doubao-seedream-4-5-251128", "doubao-seedream-4-0-250828"


def problems(kind: str, model: str, images: list[Path] = (), **kw: Any) -> list[str]:  # type: ignore[assignment]
    """Every problem build_request names (it must refuse)."""
    options = ImageOptions(**kw.pop("options", {}))
    with pytest.raises(InputError) as caught:
        build_request(
            kind,  # type: ignore[arg-type]
            Settings(base_url="http://h/v1", model=model, **kw),
            prompt="a cat",
            images=load_images([str(p) for p in images]) if images else (),
            options=options,
        )
    error = caught.value
    assert error.exit_code == 2
    said: list[str] = error.details.get("problems") or [error.message]
    return [s + " | " + (error.hint or "") if len(said) == 1 else s for s in said]


@pytest.fixture
def pic(tmp_path: Path) -> Path:
    path = tmp_path / "pic.png"
    path.write_bytes(make_png(64, 48))
    return path


def pics(tmp_path: Path, n: int) -> list[Path]:
    out = []
    for i in range(n):
        path = tmp_path / f"in{i}.png"
        path.write_bytes(make_png(16, 16, filler=i))
        out.append(path)
    return out


def one(found: list[str], *words: str) -> None:
    assert any(all(w in line for w in words) for line in found), found


def test_an_option_the_model_does_not_take_names_the_models_that_do(pic: Path) -> None:
    found = problems("edit", "nano-banana-2", [pic], options={"quality": "high", "count": 2})
    one(found, "nano-banana-2 takes no --quality", "gpt-image-2, gpt-image-1.5")
    one(found, "takes no --count", "gpt-image-2", SD45, SD40)
    found = problems("generate", SD45, options={"image_format": "png", "search": True})
    one(found, "takes no --image-format", "gpt-image-2")
    one(found, "takes no --search", "gemini-3.1-flash-image")


@pytest.mark.parametrize(
    ("model", "options", "words"),
    [
        (GPT2, {"quality": "ultra"}, "--quality 'ultra' is not one of low, medium, high, auto"),
        (GPT2, {"background": "transparent"}, "--background 'transparent' is not one of auto"),
        (GPT2, {"moderation": "none"}, "--moderation 'none'"),
        (GPT2, {"image_format": "gif"}, "--image-format 'gif'"),
        (GPT2, {"count": 11}, "--count 11 is not 1-10"),
        (SD45, {"count": 16}, "--count 16 is not 1-15"),
        (GPT15, {"image_format": "jpeg", "compression": 101}, "--compression 101 is not 0-100"),
        (GPT2, {"compression": 50}, "--compression goes with --image-format jpeg or webp"),
        (GPT2, {"image_format": "png", "compression": 50}, "--compression goes with"),
    ],
)
def test_bad_values(model: str, options: dict[str, Any], words: str) -> None:
    one(problems("generate", model, options=options), words)


@pytest.mark.parametrize(
    ("model", "ratio", "size", "words"),
    [
        (GPT2, None, "1000x1000", "multiples of 16"),
        (GPT2, None, "4096x1024", "long side must be at most 3840"),
        (GPT2, None, "3200x1024", "at most 3 times"),
        (GPT2, None, "512x512", "at least 655,360 pixels"),
        (GPT2, None, "3840x2176", "at most 8,294,400 pixels"),
        (GPT2, None, "2K", "needs a --ratio"),  # a tier without a ratio
        (GPT2, "16:9", None, "no documented size for 16:9 1K"),
        (GPT2, "16:9", "1K", "2048x1152"),  # the refusal lists the table
        (GPT2, "4:5", "2K", "Ratio 4:5 is not one that gpt-image-2 makes"),
        (GPT2, "3:2", "1536x1024", "already gives the shape"),
        (GPT2, "1:1", "auto", "goes without --ratio"),
        (GPT15, None, "2048x2048", "takes no --size 2048x2048"),
        (GPT15, "16:9", None, "Ratio 16:9 is not one that gpt-image-1.5 makes"),
        (GPT15, "1:1", "2K", "takes no --size 2K"),
        (SD45, None, "1K", "takes no --size 1K"),
        (SD45, None, "1280x720", "at least 3,686,400 pixels"),
        (SD40, None, "800x800", "at least 921,600 pixels"),
        (SD40, None, "4096x4097", "at most 16,777,216 pixels"),
        (SD40, None, "17000x1000", "at most 16 times"),
        (SD45, "5:4", "2K", "Ratio 5:4 is not one"),
        (SD45, None, "auto", "takes no --size auto"),
        (QWEN, "1:1", None, "qwen-image-edit takes no --ratio"),
        (QWEN, None, "2K", "takes no --size 2K"),
        ("nano-banana-2", None, "1024x1024", "takes no --size 1024x1024"),
        ("nano-banana-2", "1:4", None, "Ratio 1:4 is not one that nano-banana-2 makes"),
    ],
)
def test_sizes_and_ratios_against_each_models_rule(
    pic: Path, model: str, ratio: str | None, size: str | None, words: str
) -> None:
    one(problems("edit", model, [pic], ratio=ratio, size=size), words)


def test_input_counts_per_model(tmp_path: Path) -> None:
    one(problems("edit", QWEN, pics(tmp_path, 2)), "edits exactly 1 image; 2 given")
    one(problems("edit", "gemini-3-pro-image", pics(tmp_path, 12)), "takes at most 11")
    one(problems("edit", SD45, pics(tmp_path, 15)), "15 images", "at most 14")
    found = problems("edit", SD40, pics(tmp_path, 10), options={"count": 6})
    one(found, "10 inputs + --count 6 is 16")
    # 9 + 6 = 15 is allowed
    build_request(
        "edit",
        Settings(base_url="http://h/v1", model=SD40),
        prompt="x",
        images=load_images([str(p) for p in pics(tmp_path, 9)]),
        options=ImageOptions(count=6),
    )


def test_seedream_inputs_over_30_mib_or_6000_pixels(tmp_path: Path) -> None:
    big = sparse_png(tmp_path / "big.png", 31 * 1024 * 1024)
    wide = tmp_path / "wide.png"
    wide.write_bytes(png_header(6001, 100))
    found = problems("edit", SD45, [big, wide])
    one(found, "big.png", "up to 30 MiB")
    one(found, "wide.png", "up to 6000 pixels a side", "6001x100")
    assert len(found) == 2


def test_qwen_does_not_generate_and_the_api_door_is_checked() -> None:
    one(problems("generate", QWEN), "qwen-image-edit only edits")
    one(problems("generate", GPT2, options={"api": "gemini"}), "goes through the images door")
    one(problems("generate", "my-model", options={"api": "fax"}), "--api 'fax' is not one of")
    # a model not in the table through the gemini door: no images-door options
    one(
        problems("generate", "my-model", options={"api": "gemini", "quality": "high"}),
        "the gemini door takes no --quality",
    )


def test_a_mask_goes_with_edit() -> None:
    one(problems("generate", GPT2, options={"mask": "m.png"}), "--mask goes with edit")


def test_every_problem_at_once(pic: Path) -> None:
    found = problems(
        "edit", GPT15, [pic], ratio="16:9", options={"quality": "x", "moderation": "y"}
    )
    assert len(found) == 3, found


# -- through the CLI: exit 2, nothing sent ------------------------------------------


def test_cli_refuses_before_sending(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = expect(
        cli("edit", str(png), "-p", "x", "-m", GPT2, "--size", "1000x1000", "--quality", "max"),
        2,
        "multiples of 16",
        "--quality 'max'",
    )
    assert "nothing was sent" in run.stderr
    expect(cli("generate", "-p", "x", "-m", QWEN), 2, "only edits")
    expect(cli("generate", "-p", "x", "--compression", "5", "-m", GPT2), 2, "--compression")
    expect(cli("generate", "-p", "x", "-n", "2"), 2, "takes no --count")
    assert server.requests == []


def test_cli_checks_the_mask(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    image = tmp_path / "img.png"
    image.write_bytes(png_of(64, 48))
    good = tmp_path / "mask.png"
    good.write_bytes(png_of(64, 48, alpha=True))
    opaque = tmp_path / "opaque.png"
    opaque.write_bytes(png_of(64, 48))
    small = tmp_path / "small.png"
    small.write_bytes(png_of(32, 24, alpha=True))
    jpeg = tmp_path / "mask.jpg"
    from fakemodels import jpeg_of

    jpeg.write_bytes(jpeg_of(64, 48))
    edit = ("edit", str(image), "-p", "x", "-m", GPT2)
    expect(cli(*edit, "--mask", str(opaque)), 2, "has no alpha channel")
    expect(cli(*edit, "--mask", str(small)), 2, "is 32x24; it must be the size of the first")
    expect(cli(*edit, "--mask", str(jpeg)), 2, "is not a PNG")
    expect(cli("generate", "-p", "x", "-m", GPT2, "--mask", str(good)), 2, "No such option: --mask")
    expect(cli(*edit, "-m", "nano-banana-2", "--mask", str(good)), 2, "takes no --mask")
    assert server.requests == []
    ok = expect(cli(*edit, "--mask", str(good)), 0)
    (post,) = server.posts()
    assert [p.name for p in post.parts if p.filename] == ["image", "mask"]
    assert post.parts[-1].data == good.read_bytes()
    assert ok.stdout.strip().endswith(".png")
