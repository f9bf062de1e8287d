"""The fake server plays each images-door model (tests/fakemodels.py): it answers in the
model's shape and refuses (400) a request the real service would refuse, so drift in what
dmxedit sends fails a test."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import fakemodels
import pytest
from fakemodels import jpeg_of, png_of, webp_of
from fakeserver import EDITS, GENERATIONS, FakeDMX

from dmxedit.media.formats import dimensions, sniff


def post_json(server: FakeDMX, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.origin + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk-x"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def shape_of(data: bytes) -> tuple[str, tuple[int, int] | None]:
    import io

    kind = sniff(data[:64]) or "?"
    return kind, dimensions(io.BytesIO(data), kind)


def test_image_makers_have_the_shape_asked() -> None:
    assert shape_of(png_of(1536, 1024)) == ("image/png", (1536, 1024))
    assert shape_of(jpeg_of(3840, 2160)) == ("image/jpeg", (3840, 2160))
    assert shape_of(webp_of(2048, 1152)) == ("image/webp", (2048, 1152))


@pytest.mark.parametrize(
    ("fmt", "kind"), [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")]
)
def test_gpt_image_answers_n_b64_images_of_the_format_and_size(
    server: FakeDMX, fmt: str, kind: str
) -> None:
    body = {
        "prompt": "x",
        "n": 2,
        "model": "gpt-image-2",
        "size": "2048x1152",
        "output_format": fmt,
    }
    status, answer = post_json(server, GENERATIONS, body)
    assert status == 200 and len(answer["data"]) == 2
    data = base64.b64decode(answer["data"][0]["b64_json"])
    assert shape_of(data) == (kind, (2048, 1152))


@pytest.mark.parametrize(
    "extra",
    [
        {"aspect_ratio": "1:1"},
        {"response_format": "url"},
        {"size": "1000x1000"},
        {"output_compression": 50},  # with png
        {"n": 11},
        {"background": "transparent"},  # gpt-image-2 has no transparent background
    ],
)
def test_gpt_image_refuses_what_the_service_refuses(server: FakeDMX, extra: dict[str, Any]) -> None:
    status, answer = post_json(
        server, GENERATIONS, {"prompt": "x", "model": "gpt-image-2", **extra}
    )
    assert status == 400 and answer["error"]["message"]


def test_seedream_answers_urls_up_to_max_images_and_reads_the_data_uris(server: FakeDMX) -> None:
    fakemodels.SEEN.clear()
    picture = png_of(40, 30)
    body = {
        "prompt": "x",
        "model": "doubao-seedream-4-0-250828",
        "size": "1280x720",
        "image": ["data:image/png;base64," + base64.b64encode(picture).decode()],
        "sequential_image_generation": "auto",
        "sequential_image_generation_options": {"max_images": 3},
        "watermark": False,
        "response_format": "url",
    }
    status, answer = post_json(server, GENERATIONS, body)
    assert status == 200 and len(answer["data"]) == 3
    assert set(answer["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "output_tokens",
    }
    assert fakemodels.SEEN[-1] == [picture]
    with urllib.request.urlopen(answer["data"][0]["url"], timeout=10) as got:
        assert shape_of(got.read()) == ("image/jpeg", (1280, 720))
    for wrong in ({"watermark": True}, {"n": 1}, {"image": ["http://x/a.png", 5]},
                  {"sequential_image_generation_options": {"max_images": 15}}):  # fmt: skip
        assert post_json(server, GENERATIONS, {**body, **wrong})[0] == 400
    assert post_json(server, EDITS, body)[0] == 400  # generations only


def test_qwen_answers_with_its_usage_and_refuses_generate(server: FakeDMX) -> None:
    status, _ = post_json(server, GENERATIONS, {"prompt": "x", "model": "qwen-image-edit"})
    assert status == 400


def test_other_models_get_the_usual_answer(server: FakeDMX) -> None:
    status, answer = post_json(server, GENERATIONS, {"prompt": "x", "model": "nano-banana-2"})
    assert status == 200 and answer["data"][0]["url"]
