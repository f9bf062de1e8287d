"""One input image, what preparing it will do (:class:`Plan`, decided from its header)
and what was done (:class:`Preparation`): the data the checks, the preparation and the
request share."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from dmxedit.core.catalog import MAX_IMAGE_BYTES
from dmxedit.core.i18n import T, joined
from dmxedit.media.formats import EXTENSIONS

SOURCE_NAMES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP"}
#: A PNG surely fits when its raw pixels, a filter byte a row and this room do.
PNG_ROOM = 1 << 20
ORIENT_WORDS = {
    2: "mirrored",
    3: T("rotated 180°"),
    4: "flipped",
    5: T("mirrored and rotated 90° counter-clockwise"),
    6: T("rotated 90° clockwise"),
    7: T("mirrored and rotated 90° clockwise"),
    8: T("rotated 90° counter-clockwise"),
}


@dataclass(frozen=True)
class Plan:
    """What preparing one input will do, decided from its header."""

    source: str  # the format's name: "HEIC", "JPEG", ...
    source_type: str  # its content type: "image/heic", "image/jpeg", ...
    width: int  # as stored, before the orientation is applied
    height: int
    mode: str  # Pillow's mode ("RGB", "RGBA", "P", ...)
    target: str  # the content type that will be sent
    sent_width: int
    sent_height: int
    orientation: int = 1
    frames: int = 1
    max_side: int | None = None
    convert: bool = False  # not PNG/JPEG/WebP
    oversize: bool = False  # 50 MiB or more

    @property
    def resized(self) -> bool:
        """Whether preparing it changes its pixel size (--max-side, or to fit 50 MiB)."""
        oriented = oriented_size(self.width, self.height, self.orientation)
        return (self.sent_width, self.sent_height) != oriented

    @property
    def changes(self) -> list[str]:
        """The changes in words, in the order they are made (recorded as they are)."""
        out: list[str] = []
        target = SOURCE_NAMES[self.target]
        if self.convert:
            out.append(T("converted {source} to {target}", source=self.source, target=target))
        if self.frames > 1:
            out.append(T("kept the first of {frames} frames", frames=self.frames))
        if self.orientation != 1:
            out.append(
                T(
                    "applied EXIF orientation {orientation} ({words})",
                    orientation=self.orientation,
                    words=ORIENT_WORDS.get(self.orientation, T("transformed")),
                )
            )
        oriented = oriented_size(self.width, self.height, self.orientation)
        if (self.sent_width, self.sent_height) != oriented:
            why = []
            if self.max_side and max(oriented) > self.max_side:
                why.append(f"--max-side {self.max_side}")
            if self.fit_scale() < 1:
                why.append(T("to fit under 50 MiB"))
            out.append(
                T(
                    "downscaled {width}x{height} to {sent_width}x{sent_height} ({why})",
                    width=oriented[0],
                    height=oriented[1],
                    sent_width=self.sent_width,
                    sent_height=self.sent_height,
                    why=joined(why, ", "),
                )
            )
        if not self.convert:
            if self.oversize:
                out.append(T("re-encoded as {target} to fit under 50 MiB", target=target))
            else:
                out.append(T("re-encoded as {target}", target=target))
        return out

    def fit_scale(self) -> float:
        return _fit_scale(self.width, self.height, self.mode, self.target, self.max_side)


def oriented_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def has_alpha(mode: str, info: Mapping[Any, Any] | None = None) -> bool:
    return "A" in mode or "a" in mode or bool(info and "transparency" in info)


def png_mode(mode: str, alpha: bool) -> str:
    if mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        return mode
    if mode.startswith("I"):  # 32-bit grey ("I") cannot be written as PNG: 16 bits can
        return "I;16"
    return "RGBA" if alpha else "RGB"


def _png_bytes_per_pixel(mode: str, alpha: bool) -> float:
    mode = png_mode(mode, alpha)
    return {"1": 0.125, "L": 1, "P": 1, "LA": 2, "I;16": 2, "I": 2, "RGB": 3, "RGBA": 4}[mode]


def scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    if scale >= 1:
        return width, height
    return max(1, int(width * scale)), max(1, int(height * scale))


def max_side_scale(width: int, height: int, max_side: int | None) -> float:
    if max_side is None or max(width, height) <= max_side:
        return 1.0
    return max_side / max(width, height)


def _png_fits(width: int, height: int, mode: str, alpha: bool) -> bool:
    raw = width * height * _png_bytes_per_pixel(mode, alpha) + height
    return raw + PNG_ROOM < MAX_IMAGE_BYTES


def _fit_scale(width: int, height: int, mode: str, target: str, max_side: int | None) -> float:
    """For a PNG of an image with transparency that would not fit: the scale at which it
    surely does (its raw pixels fit), applied after --max-side's."""
    if target != "image/png":
        return 1.0
    w, h = scaled(width, height, max_side_scale(width, height, max_side))
    if _png_fits(w, h, mode, True):
        return 1.0
    per_pixel = _png_bytes_per_pixel(mode, True)
    return math.sqrt((MAX_IMAGE_BYTES - 2 * PNG_ROOM) / (w * h * per_pixel))


def target_type(source: str, mode: str, width: int, height: int, alpha: bool) -> str:
    """PNG, unless the source is a JPEG (it stays one) or a picture without
    transparency whose PNG might not fit (then JPEG)."""
    if source == "JPEG":
        return "image/jpeg"
    if _png_fits(width, height, mode, alpha) or alpha:
        return "image/png"
    return "image/jpeg"


@dataclass(frozen=True)
class Refusal:
    """An input that needs the extra, refused without it (or sent as is, ``warn_only``)."""

    message: str
    hint: str
    warn_only: bool = False


@dataclass(frozen=True)
class Preparation:
    """What was done to an input: the original's facts and the changes made."""

    source_path: Path | None  # the user's file (None for standard input)
    source_type: str
    source_bytes: int
    source_sha256: str
    source_width: int
    source_height: int
    changes: tuple[str, ...]
    sent_sha256: str


@dataclass(frozen=True)
class InputImage:
    """One validated input image: where its bytes are, what they are, how big."""

    display: str  # what the user named ("photo.png", "-")
    filename: str  # the file name sent in the multipart part
    content_type: str
    size: int
    width: int | None
    height: int | None
    path: Path | None = None
    data: bytes | None = None  # the bytes, for an image read from standard input
    #: What must change before upload (``prepare.Plan``; content type, size and shape
    #: are then those planned for the upload, ``size`` the original's bytes).
    plan: Plan | None = None
    #: Something to tell the user before sending it (an orientation dmxedit cannot apply).
    warning: str | None = None
    #: On the image actually sent after preparation: the original's facts, the changes.
    prepared: Preparation | None = None

    def open(self) -> BinaryIO:
        """A fresh handle on the bytes: every upload attempt reads them anew."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def input_record(image: InputImage, sent_sha256: str | None = None) -> dict[str, Any]:
    """One input as ``--json``, the metadata sidecar and the ledger record it: the
    original's path, size, SHA-256 and shape, what was sent, and the changes made."""
    prepared = image.prepared
    if prepared is None:
        return {
            "path": image.display,
            "bytes": image.size,
            "content_type": image.content_type,
            "sha256": sent_sha256,
            "width": image.width,
            "height": image.height,
            "sent_bytes": image.size,
            "sent_content_type": image.content_type,
            "sent_sha256": sent_sha256,
            "sent_width": image.width,
            "sent_height": image.height,
            "changes": [],
        }
    return {
        "path": image.display,
        "bytes": prepared.source_bytes,
        "content_type": prepared.source_type,
        "sha256": prepared.source_sha256,
        "width": prepared.source_width,
        "height": prepared.source_height,
        "sent_bytes": image.size,
        "sent_content_type": image.content_type,
        "sent_sha256": prepared.sent_sha256,
        "sent_width": image.width,
        "sent_height": image.height,
        "changes": list(prepared.changes),
    }
