"""Reading and checking input images: type from the bytes, size, shape."""

from __future__ import annotations

import io
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dmxedit.core.catalog import MAX_IMAGE_BYTES, MAX_IMAGES
from dmxedit.core.errors import InputError, all_problems

if TYPE_CHECKING:
    from dmxedit.media.prepare import Plan, Preparation

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
    from dmxedit.media.prepare import heif_kind

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


def _check_bytes(display: str, head: bytes, size: int) -> str:
    if size == 0:
        raise InputError(f"Image {display!r} is empty.", hint="Give a PNG, JPEG or WebP file.")
    return _check_type(display, head, size)


def _check_type(display: str, head: bytes, size: int) -> str:
    if size >= MAX_IMAGE_BYTES:
        raise InputError(
            f"Image {display!r} is {size / 1024 / 1024:.1f} MiB; "
            "the API takes images under 50 MiB.",
            hint="Shrink or recompress it first.",
        )
    content_type = sniff(head)
    if content_type is None:
        other = describe_other(head)
        what = f"a {other} file" if other else "not a PNG, JPEG or WebP image"
        raise InputError(
            f"Image {display!r} is {what}.",
            hint="The API takes PNG, JPEG and WebP; convert it first "
            "(the type is read from the file's bytes, not its name).",
        )
    return content_type


def printable(name: str) -> str:
    """A path as text that can be printed: bytes that are not UTF-8 become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _safe_filename(name: str, content_type: str) -> str:
    """The file name for the multipart part: the real one when it is valid UTF-8 text
    without control characters, else a neutral ``image.<ext>``."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name (surrogate escapes)
        return f"image.{EXTENSIONS[content_type]}"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return f"image.{EXTENSIONS[content_type]}"
    return name


def _planned(
    image: InputImage, head: bytes, max_side: int | None, opener: Callable[[], BinaryIO]
) -> InputImage:
    """The image with what preparing it will do (``prepare.plan``), or refused."""
    from dmxedit.media import prepare

    content_type = sniff(head)
    shape = (image.width, image.height) if image.width and image.height else None
    planned = prepare.plan(
        image.display, head, image.size, content_type, shape, opener, max_side=max_side
    )
    if planned is None:
        if content_type is None or image.size >= MAX_IMAGE_BYTES:
            _check_type(image.display, head, image.size)  # raises the usual refusal
        return image
    if isinstance(planned, prepare.Refusal):
        if planned.warn_only:
            return replace(image, warning=planned.message + " " + planned.hint)
        raise InputError(planned.message, hint=planned.hint)
    ext = EXTENSIONS[planned.target]
    stem = image.filename.rsplit(".", 1)[0] if "." in image.filename else image.filename
    return replace(
        image,
        content_type=planned.target,
        filename=f"{stem or 'image'}.{ext}",
        width=planned.sent_width,
        height=planned.sent_height,
        plan=planned,
    )


def _quick_type(head: bytes) -> str:
    """The content type to start from: sniffed, or PNG for a format to be converted."""
    return sniff(head) or "image/png"


def load_image(
    arg: str, read_stdin: Callable[[], bytes] | None = None, *, max_side: int | None = None
) -> InputImage:
    """Check one image argument (a path, or ``-`` for standard input); ``max_side``
    (``--max-side``) plans a downscale of a larger image."""
    if arg == "-":
        if read_stdin is None:
            raise InputError("Image '-' (standard input) is not available here.")
        data = read_stdin()
        if not data:
            _check_bytes("-", data, 0)
        content_type = _quick_type(data[:64])
        shape = dimensions(io.BytesIO(data), content_type) if sniff(data[:64]) else None
        image = InputImage(
            display="-",
            filename=f"stdin.{EXTENSIONS[content_type]}",
            content_type=content_type,
            size=len(data),
            width=shape[0] if shape else None,
            height=shape[1] if shape else None,
            data=data,
        )
        return _planned(image, data[:64], max_side, lambda: io.BytesIO(data))
    path = Path(arg).expanduser()
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"Image {arg!r} does not exist.", hint="Check the path.") from None
    except OSError as exc:
        raise InputError(f"Image {arg!r} cannot be read: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"Image {arg!r} is a folder, not a file.")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"Image {arg!r} is not a regular file.", hint="Use '-' for a pipe.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            if info.st_size == 0:
                _check_bytes(arg, head, 0)
            content_type = _quick_type(head)
            shape = dimensions(fh, content_type) if sniff(head) else None
        image = InputImage(
            display=printable(arg),
            filename=_safe_filename(path.name, content_type),
            content_type=content_type,
            size=info.st_size,
            width=shape[0] if shape else None,
            height=shape[1] if shape else None,
            path=path,
        )
        return _planned(image, head, max_side, lambda: open(path, "rb"))
    except OSError as exc:
        raise InputError(f"Image {arg!r} cannot be read: {exc.strerror or exc}.") from None


def load_images(
    args: list[str],
    read_stdin: Callable[[], bytes] | None = None,
    *,
    max_side: int | None = None,
) -> list[InputImage]:
    """Check 1-16 image arguments, in order; at most one may be ``-``."""
    if not args:
        raise InputError("No image given.", hint="Name 1 to 16 PNG, JPEG or WebP files.")
    if len(args) > MAX_IMAGES:
        raise InputError(
            f"{len(args)} images given; the API takes at most {MAX_IMAGES}.",
            hint="Split the work into several edits.",
        )
    if args.count("-") > 1:
        raise InputError("Standard input ('-') can be given only once.")
    loaded: list[InputImage] = []
    problems: list[InputError] = []
    for arg in args:  # every bad image is named, not only the first
        try:
            loaded.append(load_image(arg, read_stdin, max_side=max_side))
        except InputError as exc:
            problems.append(exc)
    if problems:
        raise all_problems(problems)
    return loaded


#: How much of standard input is read when the ``images`` extra can re-encode an image
#: over the API's limit (the bytes are held in memory, as any image from a pipe is).
PREPARED_STDIN_BYTES = 256 * 1024 * 1024


def _pillow_installed() -> bool:
    """Whether Pillow can be imported, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec("PIL") is not None
    except (ImportError, ValueError):  # blocked (sys.modules["PIL"] = None) or broken
        return False


def read_limited(stream: BinaryIO, what: str) -> bytes:
    """Read an image from a stream, refusing more than the API's limit, or, with the
    ``images`` extra installed (which re-encodes a larger image to fit), more than
    :data:`PREPARED_STDIN_BYTES`."""
    can_prepare = _pillow_installed()
    cap = max(PREPARED_STDIN_BYTES, MAX_IMAGE_BYTES) if can_prepare else MAX_IMAGE_BYTES
    data = stream.read(cap)
    if len(data) >= cap:
        limit = f"{cap // (1024 * 1024)} MiB"
        if can_prepare:
            raise InputError(
                f"The image on {what} is {limit} or more; dmxedit re-encodes images up to "
                f"{limit} to fit the API's 50 MiB."
            )
        raise InputError(
            f"The image on {what} is {limit} or more; the API takes less.",
            hint="pip install 'dmxedit[images]' re-encodes a larger image to fit.",
        )
    return data
