"""Reading and checking input images: type from the bytes, size, shape."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dmxedit.core.catalog import MAX_IMAGE_BYTES, MAX_IMAGES
from dmxedit.core.errors import InputError, all_problems
from dmxedit.core.i18n import T
from dmxedit.media import prepare
from dmxedit.media.formats import (
    EXTENSIONS,
    describe_other,
    dimensions,
    png_alpha,
    printable,
    sniff,
)
from dmxedit.media.inputs import InputImage, Refusal

if TYPE_CHECKING:
    pass


def _check_bytes(display: str, head: bytes, size: int) -> str:
    if size == 0:
        raise InputError(
            T("Image {display!r} is empty.", display=display),
            hint=T("Give a PNG, JPEG or WebP file."),
        )
    return _check_type(display, head, size)


def _check_type(display: str, head: bytes, size: int) -> str:
    if size >= MAX_IMAGE_BYTES:
        raise InputError(
            T(
                "Image {display!r} is {mib:.1f} MiB; the API takes images under 50 MiB.",
                display=display,
                mib=size / 1024 / 1024,
            ),
            hint=T("Shrink or recompress it first."),
        )
    content_type = sniff(head)
    if content_type is None:
        other = describe_other(head)
        what = T("a {other} file", other=other) if other else T("not a PNG, JPEG or WebP image")
        raise InputError(
            T("Image {display!r} is {what}.", display=display, what=what),
            hint=T(
                "The API takes PNG, JPEG and WebP; convert it first (the type "
                "is read from the file's bytes, not its name).",
            ),
        )
    return content_type


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

    content_type = sniff(head)
    shape = (image.width, image.height) if image.width and image.height else None
    planned = prepare.plan(
        image.display, head, image.size, content_type, shape, opener, max_side=max_side
    )
    if planned is None:
        if content_type is None or image.size >= MAX_IMAGE_BYTES:
            _check_type(image.display, head, image.size)  # raises the usual refusal
        return image
    if isinstance(planned, Refusal):
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
            raise InputError(T("Image '-' (standard input) is not available here."))
        return _from_stdin(read_stdin(), max_side)
    path = Path(arg).expanduser()
    info = _regular_file(arg, path)
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
        raise InputError(
            T(
                "Image {arg!r} cannot be read: {strerror}.",
                arg=arg,
                strerror=exc.strerror or exc,
            )
        ) from None


def load_mask(arg: str, first: InputImage | None) -> InputImage:
    """``--mask FILE`` checked (SPEC 12): a PNG with an alpha channel (transparent where
    the image is to change), the same pixel size as the first image, under the limit."""
    if arg == "-":
        raise InputError(T("--mask cannot be '-' (standard input); give a PNG file."))
    mask = load_image(arg)
    if mask.content_type != "image/png" or mask.plan is not None:
        raise InputError(
            T(
                "--mask {arg!r} is not a PNG; a mask is a PNG whose "
                "transparent areas mark what to change.",
                arg=arg,
            )
        )
    with mask.open() as fh:
        alpha = png_alpha(fh)
    if not alpha:
        raise InputError(
            T(
                "--mask {arg!r} has no alpha channel; its transparent areas mark what to change.",
                arg=arg,
            ),
            hint=T("Save it as a PNG with transparency (RGBA)."),
        )
    if first is None:
        raise InputError(T("--mask needs an image to edit."))
    if (mask.width, mask.height) != (first.width, first.height):
        raise InputError(
            T(
                "--mask {arg!r} is {width}x{height}; it must be the size of "
                "the first image, {display!r} ({first_width}x{first_height}).",
                arg=arg,
                width=mask.width,
                height=mask.height,
                display=first.display,
                first_width=first.width,
                first_height=first.height,
            )
        )
    return mask


def _from_stdin(data: bytes, max_side: int | None) -> InputImage:
    """The image read from standard input, checked."""
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


def _regular_file(arg: str, path: Path) -> os.stat_result:
    """The image file's status; InputError when it is missing, a folder or not a file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(
            T("Image {arg!r} does not exist.", arg=arg), hint=T("Check the path.")
        ) from None
    except OSError as exc:
        raise InputError(
            T(
                "Image {arg!r} cannot be read: {strerror}.",
                arg=arg,
                strerror=exc.strerror or exc,
            )
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(T("Image {arg!r} is a folder, not a file.", arg=arg))
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            T("Image {arg!r} is not a regular file.", arg=arg), hint=T("Use '-' for a pipe.")
        )
    return info


def load_images(
    args: list[str],
    read_stdin: Callable[[], bytes] | None = None,
    *,
    max_side: int | None = None,
) -> list[InputImage]:
    """Check 1-16 image arguments, in order; at most one may be ``-``."""
    if not args:
        raise InputError(T("No image given."), hint=T("Name 1 to 16 PNG, JPEG or WebP files."))
    if len(args) > MAX_IMAGES:
        raise InputError(
            T(
                "{count} images given; the API takes at most {max_images}.",
                count=len(args),
                max_images=MAX_IMAGES,
            ),
            hint=T("Split the work into several edits."),
        )
    if args.count("-") > 1:
        raise InputError(T("Standard input ('-') can be given only once."))
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
                T(
                    "The image on {what} is {limit} or more; dmxedit re-encodes "
                    "images up to {limit} to fit the API's 50 MiB.",
                    what=what,
                    limit=limit,
                )
            )
        raise InputError(
            T(
                "The image on {what} is {limit} or more; the API takes less.",
                what=what,
                limit=limit,
            ),
            hint=T(
                "pip install 'dmxedit[images]' re-encodes a larger image to fit.",
            ),
        )
    return data
