"""The receipt of a saved image: what was delivered (read from its bytes) against what
was asked.

A relay may answer a 4K request with a 1K image, or send JPEG bytes when PNG was asked
for. The image is paid and saved either way (the exit code stays 0); the difference is
a warning and is recorded with the result, its metadata, the ledger and a batch's
results line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from dmxedit.core.catalog import DEFAULT_MODEL
from dmxedit.core.modelspec import Model, Pixels, parse_pixels, wxh
from dmxedit.core.modeltable import model_for
from dmxedit.media.formats import dimensions

FORMAT_NAMES = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
_FORMAT_ALIASES = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}
#: Where a request asks for a format: --param fields, and --image-format (image_format).
_FORMAT_PARAMS = ("output_format", "format", "mime_type", "image_format")
_RATIO_TOLERANCE = 0.02  # on a log scale: 1376x768 is 16:9, 1024x1024 is not


def delivered(path: str, content_type: str) -> dict[str, Any]:
    """``{"format", "width", "height"}`` of the image in the file at ``path`` (width and
    height None when its header does not say)."""
    size: tuple[int, int] | None = None
    try:
        with open(path, "rb") as fh:
            size = dimensions(fh, content_type)
    except OSError:
        size = None
    return {
        "format": FORMAT_NAMES.get(content_type, content_type),
        "width": size[0] if size else None,
        "height": size[1] if size else None,
    }


def _spec(model: str) -> Model | None:
    return model_for(model or DEFAULT_MODEL)


def _promised(spec: Model, ratio: str | None, size: str | None) -> Pixels | None:
    """The pixels the model's table promises for what was asked (None: no one size)."""
    if size is not None and size not in spec.tiers:
        return parse_pixels(size)  # WxH (auto: None)
    if ratio is None:
        return None
    return spec.pixels(ratio, size or spec.ratio_tier or (spec.tiers or ("1K",))[0])


def asked(model: str, ratio: str | None, size: str | None) -> str:
    """What was asked, in words: "4K 16:9 (5504x3072)"."""
    words = " ".join(w for w in (size, ratio) if w)
    spec = _spec(model)
    shape = _promised(spec, ratio, size) if spec is not None and size else None
    if shape is not None and wxh(shape) != size:
        return f"{words} ({wxh(shape)})"
    return words


def mismatches(
    model: str,
    ratio: str | None,
    size: str | None,
    params: Sequence[tuple[str, Any]] | Mapping[str, Any],
    got: Mapping[str, Any],
) -> list[str]:
    """What differs between the request and one delivered image, as sentences; empty
    when it matches or when nothing can be compared (a model without a size table)."""
    out: list[str] = []
    wanted = _wanted_format(params)
    if wanted and got.get("format") != wanted:
        out.append(f"asked for {wanted.upper()}, got {str(got.get('format')).upper()}")
    width, height = got.get("width"), got.get("height")
    spec = _spec(model)
    if spec is None or not width or not height:
        return out
    table_ratio = ratio if ratio in spec.ratios else None
    table_size = size if size in spec.tiers or (size and parse_pixels(size)) else None
    ok = _shape_fits(spec, width, height, table_ratio, table_size)
    if ok is False:
        out.append(f"asked {asked(model, table_ratio, table_size)}, got {width}x{height}")
    return out


def _wanted_format(params: Sequence[tuple[str, Any]] | Mapping[str, Any]) -> str | None:
    """The output format a request's parameters asked for, if any."""
    pairs = params.items() if isinstance(params, Mapping) else params
    return next(
        (
            _FORMAT_ALIASES[str(v).lower()]
            for k, v in pairs
            if k in _FORMAT_PARAMS and str(v).lower() in _FORMAT_ALIASES
        ),
        None,
    )


def _shape_fits(
    spec: Model, width: int, height: int, ratio: str | None, size: str | None
) -> bool | None:
    """Whether a delivered pixel size is the model's table's for the ratio and size asked
    (None: neither was asked, or ``auto``: nothing to compare)."""
    promised = _promised(spec, ratio, size)
    if promised is not None and (size or spec.size_field == "pixels"):
        return (width, height) == promised
    if size and spec.size_field == "tier":
        return (width, height) in spec.tier_sizes(size)
    if size:
        return None  # a bare tier or auto on a pixel model: the model picks the shape
    if ratio:
        w, h = (int(x) for x in ratio.split(":"))
        return abs(math.log(width / height) - math.log(w / h)) <= _RATIO_TOLERANCE
    return None


class _Saved(Protocol):
    path: Path | None
    delivered: dict[str, Any]


def receipt(
    model: str,
    ratio: str | None,
    size: str | None,
    params: Sequence[tuple[str, Any]] | Mapping[str, Any],
    saved: Sequence[_Saved],
    warn: Callable[[str], None],
) -> tuple[list[dict[str, Any]], list[str]]:
    """What each saved image delivered, and what differs from the request (each
    difference named by file when there are several, and warned about): the one receipt
    of a request, a batch job's download again and ``recover``."""
    delivered: list[dict[str, Any]] = []
    found: list[str] = []
    for image in saved:
        delivered.append(dict(image.delivered))
        where = str(image.path) if image.path is not None else "the image"
        for problem in mismatches(model, ratio, size, params, image.delivered):
            found.append(problem if len(saved) == 1 else f"{where}: {problem}")
            warn(f"{where}: {problem}. It was saved as delivered (and billed).")
    return delivered, found
