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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.core.modelspec import Fit, Pixels, fit, wxh
from dmxedit.core.modeltable import model_for
from dmxedit.media.formats import dimensions

FORMAT_NAMES = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
_FORMAT_ALIASES = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}
_FORMAT_PARAMS = ("output_format", "format", "mime_type")
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


@dataclass(frozen=True)
class Expected:
    """What a request's model promises to deliver (SPEC 12, receipts): exact pixels (a
    table's or a WxH asked), else one of a tier's sizes, else a ratio's shape; and the
    format, when one was asked. Nothing to compare for ``auto`` or a model not in the
    table (only the format)."""

    words: str = ""  # what was asked, in words: "4K 16:9"
    pixels: Pixels | None = None
    sizes: frozenset[Pixels] = frozenset()
    ratio: str | None = None
    format: str | None = None


def expect(
    model: str,
    ratio: str | None,
    size: str | None,
    params: Sequence[tuple[str, str]] | Mapping[str, Any] = (),
    *,
    image_format: str | None = None,
    shape: Fit | None = None,
) -> Expected:
    """The expectation of a request of ``model`` (its ``fit`` when the caller has it,
    else the model table's fit of ``ratio`` and ``size``, as a ledger entry stored them)."""
    wanted = _FORMAT_ALIASES.get(str(image_format).lower()) if image_format else None
    wanted = wanted or _wanted_format(params)
    words = " ".join(w for w in (size, ratio) if w)
    spec = model_for(model) if model else None
    if spec is None:
        return Expected(words, format=wanted)
    if shape is None:
        try:
            shape = fit(spec, ratio, size)
        except InputError:  # a stored request the table no longer takes: the format only
            return Expected(words, format=wanted)
    if shape.pixels is not None:
        return Expected(words, pixels=shape.pixels, format=wanted)
    if size in spec.tiers and ratio is None and spec.size_field == "tier":
        return Expected(words, sizes=frozenset(spec.tier_sizes(size)), format=wanted)
    if ratio is not None and size != "auto":
        return Expected(words, ratio=ratio, format=wanted)
    return Expected(words, format=wanted)


def asked(expected: Expected) -> str:
    """What was asked, in words: "4K 16:9 (5504x3072)"."""
    if expected.pixels is None or wxh(expected.pixels) == expected.words:
        return expected.words
    return f"{expected.words} ({wxh(expected.pixels)})".strip()


def mismatches(expected: Expected, got: Mapping[str, Any]) -> list[str]:
    """What differs between the request and one delivered image, as sentences; empty
    when it matches or when nothing can be compared."""
    out: list[str] = []
    wanted = expected.format
    if wanted and got.get("format") != wanted:
        out.append(
            T(
                "asked for {wanted}, got {got}",
                wanted=wanted.upper(),
                got=str(got.get("format")).upper(),
            )
        )
    width, height = got.get("width"), got.get("height")
    if not width or not height:
        return out
    if _shape_fits(width, height, expected) is False:
        out.append(
            T(
                "asked {asked}, got {width}x{height}",
                asked=asked(expected),
                width=width,
                height=height,
            )
        )
    return out


def _wanted_format(params: Sequence[tuple[str, str]] | Mapping[str, Any]) -> str | None:
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


def _shape_fits(width: int, height: int, expected: Expected) -> bool | None:
    """Whether a delivered pixel size is what was promised (None: nothing to compare)."""
    if expected.pixels is not None:
        return (width, height) == expected.pixels
    if expected.sizes:
        return (width, height) in expected.sizes
    if expected.ratio:
        w, h = (int(x) for x in expected.ratio.split(":"))
        return abs(math.log(width / height) - math.log(w / h)) <= _RATIO_TOLERANCE
    return None


class _Saved(Protocol):
    path: Path | None
    delivered: dict[str, Any]


def receipt(
    expected: Expected,
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
        where = str(image.path) if image.path is not None else T("the image")
        for problem in mismatches(expected, image.delivered):
            found.append(
                problem
                if len(saved) == 1
                else T("{where}: {problem}", where=where, problem=problem)
            )
            warn(
                T(
                    "{where}: {problem}. It was saved as delivered (and billed).",
                    where=where,
                    problem=problem,
                )
            )
    return delivered, found
