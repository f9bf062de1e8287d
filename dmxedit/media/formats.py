"""What an image is, from its bytes: the format, its extension, its pixel size."""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

#: The content types the API takes, with the extension a saved file gets.
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}

_OTHER_FORMATS = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"%PDF", "PDF"),
    (b"<svg", "SVG"),
    (b"<?xml", "XML/SVG"),
)


def sniff(head: bytes) -> str | None:
    """The content type of image bytes (PNG, JPEG or WebP) from their first bytes."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def describe_other(head: bytes) -> str | None:
    """A name for a known but unsupported format (GIF, HEIC, ...), for error messages."""
    for magic, name in _OTHER_FORMATS:
        if head.startswith(magic):
            return name
    return heif_kind(head)


def dimensions(stream: BinaryIO, content_type: str) -> tuple[int, int] | None:
    """(width, height) read from the image's header, or None when it can't be found."""
    stream.seek(0)
    head = stream.read(64)
    try:
        if content_type == "image/png" and len(head) >= 24 and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return (w, h) if w and h else None
        if content_type == "image/webp":
            return _webp_dimensions(head)
        if content_type == "image/jpeg":
            return _jpeg_dimensions(stream)
    except (struct.error, OSError, ValueError):
        return None
    return None


def png_alpha(stream: BinaryIO) -> bool:
    """Whether a PNG has transparency: an alpha channel (colour type 4 or 6) or a
    ``tRNS`` chunk before its image data."""
    stream.seek(0)
    head = stream.read(33)
    if len(head) < 26 or head[12:16] != b"IHDR":
        return False
    if head[25] in (4, 6):
        return True
    stream.seek(8)
    while True:
        chunk = stream.read(8)
        if len(chunk) < 8:
            return False
        length, kind = struct.unpack(">I4s", chunk)
        if kind == b"tRNS":
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        stream.seek(length + 4, io.SEEK_CUR)


def _webp_dimensions(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_dimensions(stream: BinaryIO) -> tuple[int, int] | None:
    stream.seek(2)
    for _ in range(1000):
        byte = stream.read(1)
        while byte == b"\xff":
            byte = stream.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue
        if marker == 0xD9:
            return None
        length_bytes = stream.read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if marker in _SOF:
            data = stream.read(5)
            if len(data) < 5:
                return None
            h, w = struct.unpack(">HH", data[1:5])
            return (w, h) if w and h else None
        stream.seek(length - 2, io.SEEK_CUR)
    return None


def heif_kind(head: bytes) -> str | None:
    """HEIC, HEIF or AVIF from an ISO BMFF ``ftyp`` box (major and compatible brands)."""
    if head[4:8] != b"ftyp" or len(head) < 12:
        return None
    size = int.from_bytes(head[0:4], "big")
    brands = [head[8:12]] + [head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)]
    if any(b in (b"avif", b"avis") for b in brands):
        return "AVIF"
    if any(
        b in (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs")
        for b in brands
    ):
        return "HEIC"
    if any(b in (b"mif1", b"msf1", b"miaf") for b in brands):
        return "HEIF"
    return None


def _tiff_orientation(data: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 in a TIFF structure (EXIF's), else 1."""
    if data[:2] == b"II":
        order = "<"
    elif data[:2] == b"MM":
        order = ">"
    else:
        return 1
    try:
        (offset,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        for i in range(min(count, 512)):
            entry = data[offset + 2 + 12 * i : offset + 14 + 12 * i]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag == 0x0112 and kind == 3:
                (value,) = struct.unpack(order + "H", entry[8:10])
                return value if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1


def exif_orientation(stream: BinaryIO, content_type: str) -> int:
    """The EXIF orientation of a JPEG (APP1) or PNG (eXIf) from its header; 1 if none."""
    try:
        if content_type == "image/jpeg":
            return _jpeg_orientation(stream)
        if content_type == "image/png":
            return _png_orientation(stream)
    except (OSError, struct.error, ValueError):
        return 1
    return 1


def _jpeg_orientation(stream: BinaryIO) -> int:
    stream.seek(2)
    for _ in range(64):  # the APP segments come first
        marker = stream.read(2)
        if len(marker) < 2 or marker[0] != 0xFF or marker[1] in (0xDA, 0xD9):
            return 1
        (length,) = struct.unpack(">H", stream.read(2))
        if marker[1] == 0xE1:
            data = stream.read(length - 2)
            if data.startswith(b"Exif\x00\x00"):
                return _tiff_orientation(data[6:])
            continue
        if 0xC0 <= marker[1] <= 0xCF and marker[1] not in (0xC4, 0xC8, 0xCC):
            return 1  # a frame header: no EXIF before it
        stream.seek(length - 2, os.SEEK_CUR)
    return 1


def _png_orientation(stream: BinaryIO) -> int:
    stream.seek(8)
    for _ in range(256):
        head = stream.read(8)
        if len(head) < 8:
            return 1
        length, kind = struct.unpack(">I4s", head)
        if kind in (b"IDAT", b"IEND"):
            return 1  # eXIf must come before the image data
        if kind == b"eXIf":
            return _tiff_orientation(stream.read(length))
        stream.seek(length + 4, os.SEEK_CUR)
    return 1


def printable(name: str) -> str:
    """A path as text that can be printed: bytes that are not UTF-8 become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
