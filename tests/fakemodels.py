"""The fake server's answers as each model of the images door gives them (SPEC 12,
DMXAPI.md "Other image models on the images door").

:func:`answer` is asked first for every image POST (``FakeDMX.default_reply``): for the
gpt-image, Seedream and qwen models it checks the request as the real service would
(a field the model does not take, a bad value, a mask without alpha: HTTP 400, so a test
catches the drift) and answers in the model's shape, with images of the pixel size and
format asked; for any other model it returns None (the fake's usual answer).

- gpt-image-2 / gpt-image-1.5: multipart edits or JSON generations; no ``aspect_ratio``
  nor ``response_format``; ``n`` images as ``b64_json`` in ``output_format`` (PNG, JPEG,
  WebP bytes) of the ``size`` asked (1024x1024 for ``auto`` or none).
- Seedream 4.5 / 4.0: JSON on ``/images/generations`` only, inputs as ``data:`` URIs in
  ``image`` (decoded, kept in :data:`SEEN`), ``watermark: false``; up to ``max_images``
  images with ``sequential_image_generation: "auto"``; ``url`` answers (JPEG files on the
  fake) with the 4.5 page's ``usage``, or ``b64_json``.
- qwen-image-edit: multipart edits only, exactly one ``image``; a ``url`` answer with
  ``usage {height, width, image_count}`` of the ``size`` asked (else the input's).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
import time
import zlib
from typing import Any

from fakeserver import EDITS, GENERATIONS, FakeDMX, Recorded, Reply

GPT = ("gpt-image-2", "gpt-image-2-ssvip", "gpt-image-1.5")
SEEDREAM = {"doubao-seedream-4-5-251128": 3_686_400, "doubao-seedream-4-0-250828": 921_600}
QWEN = "qwen-image-edit"
SEEDREAM_TIERS = {"1K": (1024, 1024), "2K": (2048, 2048), "4K": (4096, 4096)}
GPT_15_SIZES = ("1024x1024", "1536x1024", "1024x1536")
#: The decoded ``data:`` URI inputs of each Seedream request, in order (tests read them).
SEEN: list[list[bytes]] = []


def png_of(width: int, height: int, *, alpha: bool = False) -> bytes:
    """A PNG of ``width`` x ``height``: its header (the shape) and an empty end."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    iend = b"IEND"
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + ihdr
        + struct.pack(">I", zlib.crc32(ihdr))
        + struct.pack(">I", 0)
        + iend
        + struct.pack(">I", zlib.crc32(iend))
    )


def jpeg_of(width: int, height: int) -> bytes:
    """A baseline JPEG's frame header of ``width`` x ``height``."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", height, width)
    sof += b"\x03\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def webp_of(width: int, height: int) -> bytes:
    """A lossless WebP (VP8L) header of ``width`` x ``height``."""
    vp8l = b"\x2f" + struct.pack("<I", (width - 1) | ((height - 1) << 14)) + b"\x00" * 8
    riff = b"WEBPVP8L" + struct.pack("<I", len(vp8l)) + vp8l
    return b"RIFF" + struct.pack("<I", len(riff)) + riff


MAKERS = {"png": png_of, "jpeg": jpeg_of, "webp": webp_of}


def _bad(message: str) -> Reply:
    return Reply(status=400, json={"error": {"message": message, "type": "invalid_request_error"}})


def _png_shape(data: bytes | None) -> tuple[int, int, int] | None:
    """(width, height, colour type) of a PNG's bytes; None when they are not a PNG."""
    if not data or not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height, data[25]


def _fields(recorded: Recorded) -> dict[str, Any] | None:
    """The request's fields: the multipart form's or the JSON body's (None: neither)."""
    if recorded.parts:
        return dict(recorded.fields)
    try:
        body = json.loads(recorded.body or b"")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def answer(fake: FakeDMX, recorded: Recorded) -> Reply | None:
    """The model's own answer to an image POST; None for a model this module does not play."""
    fields = _fields(recorded)
    model = str((fields or {}).get("model", ""))
    if fields is None or not (model in GPT or model in SEEDREAM or model == QWEN):
        return None
    if model in GPT:
        return _gpt(recorded, fields, model)
    if model in SEEDREAM:
        return _seedream(fake, recorded, fields, SEEDREAM[model])
    return _qwen(fake, recorded, fields)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _wxh(value: Any) -> tuple[int, int] | None:
    match = re.fullmatch(r"([0-9]+)x([0-9]+)", str(value))
    return (int(match.group(1)), int(match.group(2))) if match else None


def _gpt_size(model: str, size: Any) -> tuple[int, int] | str:
    if size in (None, "auto"):
        return (1024, 1024)
    shape = _wxh(size)
    if model == "gpt-image-1.5":
        return shape if shape and size in GPT_15_SIZES else f"size {size} is not supported"
    if shape is None:
        return f"size {size} is not WxH"
    w, h = shape
    if w % 16 or h % 16 or max(w, h) > 3840 or max(w, h) > 3 * min(w, h):
        return f"size {size} breaks the size rules"
    if not 655_360 <= w * h <= 8_294_400:
        return f"size {size} has too few or too many pixels"
    return shape


def _gpt(recorded: Recorded, fields: dict[str, Any], model: str) -> Reply:
    for name in ("aspect_ratio", "response_format"):
        if name in fields:
            return _bad(f"Unknown parameter: '{name}' is not supported with {model}.")
    image_format = str(fields.get("output_format", "png"))
    if image_format not in MAKERS:
        return _bad(f"Invalid output_format {image_format!r}.")
    if "output_compression" in fields and image_format == "png":
        return _bad("output_compression is only supported for jpeg and webp.")
    backgrounds = (
        ("auto", "opaque", "transparent") if model == "gpt-image-1.5" else ("auto", "opaque")
    )
    checks = {
        "quality": ("low", "medium", "high", "auto"),
        "background": backgrounds,
        "moderation": ("auto", "low"),
    }
    for name, allowed in checks.items():
        if name in fields and fields[name] not in allowed:
            return _bad(f"Invalid {name} {fields[name]!r}.")
    n = _int(fields.get("n", 1))
    if n is None or not 1 <= n <= 10:
        return _bad(f"n must be 1-10, not {fields.get('n')!r}.")
    shape = _gpt_size(model, fields.get("size"))
    if isinstance(shape, str):
        return _bad(shape)
    problem = _mask_problem(recorded)
    if problem:
        return _bad(problem)
    data = MAKERS[image_format](*shape)
    items = [{"b64_json": base64.b64encode(data).decode("ascii")} for _ in range(n)]
    usage = {"input_tokens": 50, "output_tokens": 1056 * n, "total_tokens": 50 + 1056 * n}
    return Reply(json={"created": int(time.time()), "data": items, "usage": usage})


def _mask_problem(recorded: Recorded) -> str | None:
    masks = [p for p in recorded.parts if p.name == "mask"]
    if not masks:
        return None
    if recorded.path != EDITS or len(masks) > 1:
        return "mask goes with one edit"
    mask = _png_shape(masks[0].data)
    if mask is None or mask[2] not in (4, 6):
        return "Invalid mask: it must be a PNG with an alpha channel."
    first = _png_shape(recorded.images[0].data) if recorded.images else None
    if first is not None and first[:2] != mask[:2]:
        return "Invalid mask: it must be the size of the first image."
    return None


def _seedream_inputs(fields: dict[str, Any]) -> list[bytes] | str:
    given = fields.get("image", [])
    given = [given] if isinstance(given, str) else given
    if not isinstance(given, list):
        return "image must be a string or a list"
    inputs = []
    for item in given:
        match = re.fullmatch(r"data:image/(png|jpeg|webp);base64,([A-Za-z0-9+/=]*)", str(item))
        if match is None:
            return "image must be a URL or a data:image/<format>;base64, URI"
        try:
            inputs.append(base64.b64decode(match.group(2), validate=True))
        except binascii.Error:
            return "image holds invalid base64"
    return inputs


def _seedream_size(size: Any, min_pixels: int) -> tuple[int, int] | str:
    if size is None:
        return SEEDREAM_TIERS["2K"]
    if size in SEEDREAM_TIERS:
        return SEEDREAM_TIERS[size]
    shape = _wxh(size)
    if shape is None:
        return f"size {size!r} is neither a tier nor WxH"
    w, h = shape
    if not min_pixels <= w * h <= 16_777_216 or max(w, h) > 16 * min(w, h):
        return f"size {size} is out of range"
    return shape


def _seedream(fake: FakeDMX, recorded: Recorded, fields: dict[str, Any], least: int) -> Reply:
    if recorded.path != GENERATIONS or recorded.parts:
        return _bad("Seedream takes JSON on /v1/images/generations only.")
    for name in ("aspect_ratio", "n", "mask"):
        if name in fields:
            return _bad(f"Unknown parameter: '{name}'.")
    if fields.get("watermark") is not False:
        return _bad("watermark must be false on this channel")
    inputs = _seedream_inputs(fields)
    if isinstance(inputs, str):
        return _bad(inputs)
    if len(inputs) > 14:
        return _bad("at most 14 reference images")
    shape = _seedream_size(fields.get("size"), least)
    if isinstance(shape, str):
        return _bad(shape)
    count: int | None = 1
    if fields.get("sequential_image_generation") == "auto":
        count = _int((fields.get("sequential_image_generation_options") or {}).get("max_images"))
    if count is None or not 1 <= count <= 15 or len(inputs) + count > 15:
        return _bad("max_images must be 1-15, with the inputs at most 15")
    SEEN.append(inputs)
    data = jpeg_of(*shape)
    if fields.get("response_format", "url") == "b64_json":
        items = [{"b64_json": base64.b64encode(data).decode("ascii"), "size": "x"}] * count
    else:
        stamp = fake._next()
        items = [
            {"url": fake.add_file(f"seedream-{stamp}_{i}.jpeg", data, "image/jpeg"), "size": "x"}
            for i in range(count)
        ]
    for item in items:
        item["size"] = f"{shape[0]}x{shape[1]}"
    tokens = 16464 * count
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": tokens}
    usage["output_tokens"] = tokens
    return Reply(json={"data": items, "created": int(time.time()), "usage": usage})


def _qwen(fake: FakeDMX, recorded: Recorded, fields: dict[str, Any]) -> Reply:
    if recorded.path != EDITS or not recorded.parts:
        return _bad("qwen-image-edit edits: multipart on /v1/images/edits.")
    if len(recorded.images) != 1:
        return _bad(f"qwen-image-edit takes one image, not {len(recorded.images)}.")
    if "aspect_ratio" in fields or "mask" in [p.name for p in recorded.parts]:
        return _bad("Unknown parameter.")
    first = _png_shape(recorded.images[0].data)
    shape = _wxh(fields["size"]) if "size" in fields else (first[:2] if first else (1024, 1024))
    if shape is None:
        return _bad(f"size {fields['size']!r} is not WxH")
    url = fake.add_file(f"qwen-{fake._next()}.png", png_of(*shape))
    usage = {"height": shape[1], "width": shape[0], "image_count": 1}
    body = {"data": [{"url": url}], "created": int(time.time()), "extra": {}, "usage": usage}
    return Reply(json=body)
