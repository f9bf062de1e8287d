"""Each model's request on the images door (SPEC 12; DMXAPI.md "Other image models on the
images door"): endpoint, Bearer key, multipart or JSON, the fields in their order, and how
--ratio/--size become the size sent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from fakeserver import make_png

from dmxedit.api import images as door
from dmxedit.api.jsonbody import JSONBody
from dmxedit.api.multipart import BytesBody, MultipartBody
from dmxedit.api.request import ImageRequest, build_request
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings
from dmxedit.media.images import load_images

GPT2, GPT15, QWEN = "gpt-image-2", "gpt-image-1.5", "qwen-image-edit"
SD45, SD40 = "doubao-seedream-4-5-251128", "doubao-seedream-4-0-250828"


def request(kind: str, model: str, images: Sequence[Path] = (), **kw: Any) -> ImageRequest:
    options = ImageOptions(**kw.pop("options", {}))
    return build_request(
        kind,  # type: ignore[arg-type]
        Settings(base_url="http://h/v1", model=model, **kw),
        prompt="a cat",
        images=load_images([str(p) for p in images]) if images else (),
        options=options,
        mask=None,
    )


@pytest.fixture
def pic(tmp_path: Path) -> Path:
    path = tmp_path / "pic.png"
    path.write_bytes(make_png(64, 48))
    return path


def test_gpt_image_2_edit_is_multipart_with_its_fields_and_no_response_format(pic: Path) -> None:
    edit = request(
        "edit",
        GPT2,
        [pic],
        ratio="16:9",
        size="4k",
        response_format="url",
        options={
            "quality": "high",
            "background": "opaque",
            "image_format": "webp",
            "compression": 80,
            "moderation": "low",
            "count": 2,
        },
    )
    assert door.url(edit) == "http://h/v1/images/edits"
    assert door.auth_value("sk-x") == "Bearer sk-x" and door.AUTH_HEADER == "Authorization"
    assert door.fields(edit) == [
        ("prompt", "a cat"),
        ("n", "2"),
        ("model", GPT2),
        ("size", "3840x2160"),
        ("quality", "high"),
        ("background", "opaque"),
        ("output_format", "webp"),
        ("output_compression", "80"),
        ("moderation", "low"),
    ]
    assert isinstance(door.body(edit), MultipartBody)
    assert edit.response_format == "b64_json" and edit.inline_answer  # answers inline
    assert edit.count == 2


@pytest.mark.parametrize(
    ("model", "ratio", "size", "sent"),
    [
        (GPT2, "1:1", None, "1024x1024"),  # --ratio alone: the model's ratio tier, 1K
        (GPT2, "3:2", None, "1536x1024"),
        (GPT2, "2:3", "1K", "1024x1536"),
        (GPT2, "1:1", "2K", "2048x2048"),
        (GPT2, "16:9", "2K", "2048x1152"),
        (GPT2, "16:9", "4K", "3840x2160"),
        (GPT2, "9:16", "4K", "2160x3840"),
        (GPT2, None, "1024x1536", "1024x1536"),
        (GPT2, None, "3008x1008", "3008x1008"),  # by the rule: 16s, 3:1 (almost), pixels
        (GPT2, None, "auto", "auto"),
        (GPT15, "3:2", None, "1536x1024"),
        (GPT15, None, "1024x1536", "1024x1536"),
        (GPT15, None, "auto", "auto"),
        (SD45, "16:9", None, "2848x1600"),  # 4.5's ratio tier is 2K
        (SD45, "21:9", "4K", "6240x2656"),
        (SD45, None, "2K", "2K"),  # a bare tier goes as the tier
        (SD45, None, "2560x1440", "2560x1440"),
        (SD40, "16:9", None, "1280x720"),
        (SD40, "4:3", "1K", "1152x864"),
        (SD40, "3:4", "2K", "1728x2304"),
        (SD40, None, "1k", "1K"),
        (QWEN, None, "1024x768", "1024x768"),
    ],
)
def test_ratio_and_size_map_to_the_models_size(
    pic: Path, model: str, ratio: str | None, size: str | None, sent: str
) -> None:
    made = request("edit", model, [pic], ratio=ratio, size=size)
    wire = dict(door.wire(made))
    assert wire["size"] == sent
    assert "aspect_ratio" not in wire  # pixel models get the size only


def test_no_size_sends_no_size(pic: Path) -> None:
    for model in (GPT2, GPT15, SD45, QWEN):
        assert "size" not in dict(door.wire(request("edit", model, [pic])))


def test_gpt_image_generation_is_json_without_response_format() -> None:
    made = request("generate", GPT15, size="1536x1024", options={"background": "transparent"})
    assert door.url(made) == "http://h/v1/images/generations"
    body = door.body(made)
    assert isinstance(body, BytesBody)
    assert json.loads(b"".join(body)) == {
        "prompt": "a cat",
        "n": 1,
        "model": GPT15,
        "size": "1536x1024",
        "background": "transparent",
    }


def test_seedream_edit_posts_json_to_generations_with_data_uris(tmp_path: Path) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(make_png(40, 30))
    second.write_bytes(make_png(30, 40, filler=7))
    made = request("edit", SD45, [first, second], size="4K", options={"count": 3})
    assert door.url(made) == "http://h/v1/images/generations"
    assert [k for k, _ in door.wire(made)] == [
        "prompt",
        "model",
        "size",
        "sequential_image_generation",
        "sequential_image_generation_options",
        "watermark",
        "response_format",
    ]
    body = door.body(made)
    assert isinstance(body, JSONBody)
    sent = json.loads(b"".join(body))
    import base64

    assert sent["image"] == [
        "data:image/png;base64," + base64.b64encode(first.read_bytes()).decode(),
        "data:image/png;base64," + base64.b64encode(second.read_bytes()).decode(),
    ]
    assert sent["sequential_image_generation"] == "auto"
    assert sent["sequential_image_generation_options"] == {"max_images": 3}
    assert sent["watermark"] is False and sent["size"] == "4K" and "n" not in sent
    assert sent["response_format"] == "url"


def test_seedream_one_image_asks_no_series_and_keeps_the_format(pic: Path) -> None:
    made = request("generate", SD40, size="2K", response_format="b64_json")
    wire = dict(door.wire(made))
    assert "sequential_image_generation" not in wire and wire["watermark"] is False
    assert wire["response_format"] == "b64_json"


def test_qwen_edit_is_multipart_with_one_image(pic: Path) -> None:
    made = request("edit", QWEN, [pic])
    assert door.url(made) == "http://h/v1/images/edits"
    assert isinstance(door.body(made), MultipartBody)
    assert door.fields(made) == [
        ("prompt", "a cat"),
        ("n", "1"),
        ("model", QWEN),
        ("response_format", "url"),
    ]


def test_a_model_not_in_the_table_sends_any_ratio_and_size_as_given() -> None:
    made = request("generate", "flux-kontext-x", ratio="7:3", size="3K", options={"count": 2})
    assert dict(door.wire(made)) == {
        "prompt": "a cat",
        "n": 2,
        "model": "flux-kontext-x",
        "aspect_ratio": "7:3",
        "size": "3K",
        "response_format": "url",
    }


def test_the_ledger_options_keep_what_was_sent(pic: Path) -> None:
    made = request("edit", GPT2, [pic], ratio="3:2", options={"image_format": "jpeg"})
    options = made.options()
    assert options["sent_size"] == "1536x1024" and options["image_format"] == "jpeg"
