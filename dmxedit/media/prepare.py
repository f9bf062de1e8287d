"""Input preparation (SPEC 9): what an input needs before it can be sent, and doing it.

The API takes PNG, JPEG and WebP under 50 MiB. With the optional extra
``dmxedit[images]`` (Pillow and pillow-heif) dmxedit also takes HEIC/HEIF, AVIF, GIF
(its first frame), BMP and TIFF, converting them before upload; applies EXIF
orientation; downscales to ``--max-side``; and re-encodes an input over 50 MiB to fit.

Two stages, so that validation stays cheap and nothing is converted before it is needed:

- :func:`plan` runs while the inputs are checked (``images.load_image``): it reads the
  image's header only and says what will change (:class:`Plan`). The formats are told
  apart by their bytes without Pillow, so without the extra such an input is refused
  with a message naming the format and ``pip install 'dmxedit[images]'``.
- :func:`prepare_images` runs just before a request is sent (``pipeline.execute``):
  it decodes each planned image once, transforms it and encodes it straight into a
  temporary file (tracked by the run's :class:`~dmxedit.core.temporaries.Temporaries`, so an
  interrupt removes it), which is what the multipart body then streams.

Pillow is imported only inside the functions that need it, never by this module.

Over 500 lines because its messages are gettext templates (issue #26): each
``T(...)`` names its fields on lines of their own, so a translator sees them.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dmxedit.core.catalog import MAX_IMAGE_BYTES
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.media.formats import EXTENSIONS, describe_other, exif_orientation, heif_kind
from dmxedit.media.inputs import (
    ORIENT_WORDS,
    SOURCE_NAMES,
    InputImage,
    Plan,
    Preparation,
    Refusal,
    has_alpha,
    max_side_scale,
    oriented_size,
    png_mode,
    scaled,
    target_type,
)
from dmxedit.media.inputs import input_record as input_record  # where pipeline, records look

if TYPE_CHECKING:
    from PIL.Image import Image

    from dmxedit.core.events import Events
    from dmxedit.core.temporaries import Temporaries

INSTALL = "pip install 'dmxedit[images]'"
#: Formats converted before upload, with the content type they are recorded under.
CONVERTIBLE = {
    "HEIC": "image/heic",
    "HEIF": "image/heif",
    "AVIF": "image/avif",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
}
#: The smallest --max-side: the model's own outputs are at least 672 pixels on a side.
MIN_MAX_SIDE = 64
JPEG_QUALITY = 95


def check_max_side(value: Any) -> int | None:
    """``--max-side``: None, or a whole number of pixels of at least 64."""
    if value is None:
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if isinstance(value, (bool, float)) or number < MIN_MAX_SIDE:
        raise InputError(
            T(
                "--max-side {value!r} is not a whole number of pixels of at least {min_max_side}.",
                value=value,
                min_max_side=MIN_MAX_SIDE,
            ),
            hint=T(
                "e.g. --max-side 2048 downscales inputs whose long side is over 2048 pixels.",
            ),
        )
    return number


# -- reading the header without Pillow ------------------------------------------------


# -- the plan --------------------------------------------------------------------------


def _pillow(heif: bool) -> Any:
    """``PIL.Image`` (with the HEIF opener registered when ``heif``), or None."""
    try:
        from PIL import Image

        if heif:
            import pillow_heif

            pillow_heif.register_heif_opener()
    except ImportError:
        return None
    return Image


def plan(
    display: str,
    head: bytes,
    size: int,
    content_type: str | None,
    shape: tuple[int, int] | None,
    open_stream: Callable[[], BinaryIO],
    *,
    max_side: int | None = None,
) -> Plan | Refusal | None:
    """What this input needs before upload: None (send it as it is), a :class:`Plan`,
    or, without the extra, a :class:`Refusal`. Raises InputError for an unreadable or
    unsupported image. Reads the header only."""
    source = _source_name(head, content_type)
    if source is None:
        return None  # not an image dmxedit handles: images.py says so
    orientation = _header_orientation(content_type, open_stream)
    oversize = size >= MAX_IMAGE_BYTES
    too_big = bool(max_side and shape and max(shape) > max_side)
    unknown_shape = bool(max_side and shape is None)
    if not _needs_work(content_type, oversize, too_big or unknown_shape, orientation):
        return None
    image = _pillow(heif=source in ("HEIC", "HEIF"))
    if image is None:
        return _refusal(display, source, size, content_type, orientation, oversize, too_big)
    facts = _read(image, display, source, size, content_type, open_stream, orientation)
    oriented = oriented_size(facts.width, facts.height, facts.orientation)
    scale = max_side_scale(*oriented, max_side)
    if not _needs_work(content_type, oversize, scale < 1, facts.orientation):
        return None  # the header gave no shape, and Pillow's says it is small enough
    sent = scaled(*oriented, scale)
    planned = Plan(
        source=source,
        source_type=content_type or CONVERTIBLE[source],
        width=facts.width,
        height=facts.height,
        mode=facts.mode,
        target=target_type(source, facts.mode, *sent, facts.alpha),
        sent_width=sent[0],
        sent_height=sent[1],
        orientation=facts.orientation,
        frames=facts.frames,
        max_side=max_side,
        convert=content_type is None,
        oversize=oversize,
    )
    fit = planned.fit_scale()
    if fit < 1:
        sent = scaled(*sent, fit)
        planned = replace(planned, sent_width=sent[0], sent_height=sent[1])
    return planned


def _header_orientation(content_type: str | None, open_stream: Callable[[], BinaryIO]) -> int:
    """The EXIF orientation in a JPEG's or PNG's header (1 for the other formats)."""
    if content_type not in ("image/jpeg", "image/png"):
        return 1
    with open_stream() as fh:
        return exif_orientation(fh, content_type)


def _needs_work(content_type: str | None, oversize: bool, big: bool, orientation: int) -> bool:
    """An input changes before upload: another format, over 50 MiB, over --max-side (or
    of unknown shape with it), or turned by its EXIF orientation."""
    return not content_type or oversize or big or orientation != 1


def _source_name(head: bytes, content_type: str | None) -> str | None:
    """The input's format as named in messages (``PNG``, ``HEIC``, ...); None when it is
    not an image dmxedit sends or converts."""
    if content_type is not None:
        return SOURCE_NAMES[content_type]
    other = heif_kind(head) or describe_other(head)
    return other if other in CONVERTIBLE else None


@dataclass(frozen=True)
class _Facts:
    """What Pillow read of an input: its pixel size, mode, frames, alpha, orientation."""

    width: int
    height: int
    mode: str
    frames: int
    alpha: bool
    orientation: int


def _read(
    image: Any,
    display: str,
    source: str,
    size: int,
    content_type: str | None,
    open_stream: Callable[[], BinaryIO],
    orientation: int,
) -> _Facts:
    """Open the input with Pillow (``image``) and read its facts; an InputError that says
    why when it cannot. ``orientation`` is the header's (JPEG, PNG)."""
    try:
        with _big_photos(image), open_stream() as fh, image.open(fh) as im:
            if content_type not in ("image/jpeg", "image/png"):
                orientation = int(im.getexif().get(0x0112, 1) or 1)
                orientation = orientation if 1 <= orientation <= 8 else 1
            return _Facts(
                width=im.size[0],
                height=im.size[1],
                mode=im.mode,
                frames=getattr(im, "n_frames", 1) if source == "GIF" else 1,
                alpha=has_alpha(im.mode, im.info),
                orientation=orientation,
            )
    except Exception as exc:  # Pillow raises many kinds for a file it cannot read
        raise _unreadable(exc, image, display, source, size) from None


def _unreadable(exc: Exception, image: Any, display: str, source: str, size: int) -> InputError:
    """The error for an input Pillow could not read."""
    if isinstance(exc, image.DecompressionBombError):
        return InputError(
            T(
                "Image {display!r} has too many pixels to decode safely (more than {value:,}).",
                display=display,
                value=2 * (image.MAX_IMAGE_PIXELS or 0),
            ),
            hint=T("Downscale it first with an image editor."),
        )
    if size >= MAX_IMAGE_BYTES:
        return InputError(
            T(
                "Image {display!r} is {mib:.1f} MiB; the API takes images "
                "under 50 MiB, and it cannot be read to re-encode it ({why}).",
                display=display,
                mib=size / 1024 / 1024,
                why=_why(exc),
            ),
            hint=T("Shrink or recompress it first."),
        )
    return InputError(
        T(
            "Image {display!r} looks like a {source} file but cannot be read: {why}.",
            display=display,
            source=source,
            why=_why(exc),
        ),
        hint=T("Check that the file is complete; open it in an image viewer."),
    )


def _refusal(
    display: str,
    source: str,
    size: int,
    content_type: str | None,
    orientation: int,
    oversize: bool,
    too_big: bool,
) -> Refusal:
    if content_type is None:
        return Refusal(
            T(
                "Image {display!r} is a {source} file; the API takes PNG, JPEG and WebP.",
                display=display,
                source=source,
            ),
            T(
                "dmxedit converts it before upload with the optional extra: "
                "{install} (or convert it yourself; the type is read from the "
                "file's bytes, not its name).",
                install=INSTALL,
            ),
        )
    if oversize:
        return Refusal(
            T(
                "Image {display!r} is {mib:.1f} MiB; the API takes images under 50 MiB.",
                display=display,
                mib=size / 1024 / 1024,
            ),
            T(
                "Shrink or recompress it first, or {install} and dmxedit re-encodes it to fit.",
                install=INSTALL,
            ),
        )
    if too_big:
        return Refusal(
            T(
                "--max-side needs the optional extra to downscale {display!r}.",
                display=display,
            ),
            T("{install}, or leave --max-side out.", install=INSTALL),
        )
    return Refusal(
        T(
            "{display} has EXIF orientation {orientation} ({words}); it is "
            "sent as it is, and the model may see it the wrong way round.",
            display=display,
            orientation=orientation,
            words=ORIENT_WORDS.get(orientation, T("transformed")),
        ),
        T(
            "{install} and dmxedit rotates it before upload (or rotate it yourself).",
            install=INSTALL,
        ),
        warn_only=True,
    )


# -- doing it --------------------------------------------------------------------------


def _sha256(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def _mib(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.0f} KiB"


_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}  # orientation -> Image.Transpose


@contextmanager
def _held(temporaries: Temporaries, suffix: str) -> Iterator[tuple[int, str]]:
    import tempfile  # only when an input is prepared: ratios --for stays light

    fd, name = tempfile.mkstemp(prefix="dmxedit-upload-", suffix=suffix)
    temporaries.track(name)
    try:
        yield fd, name
    except BaseException:
        discard(name, temporaries)
        raise


def discard(name: str, temporaries: Temporaries) -> None:
    """Remove one prepared file (after its request, or when preparing it failed)."""
    temporaries.untrack(name)
    try:
        os.unlink(name)
    except OSError:
        pass


def _why(exc: BaseException) -> str:
    """Pillow's reason, as words for the message: never the repr of a Python object."""
    text = str(exc).strip().rstrip(".")
    if not text or text.startswith("cannot identify image file") or "<_io." in text:
        return T("Pillow does not recognise its data")
    return text


@contextmanager
def _big_photos(image_mod: Any) -> Iterator[None]:
    """No Python warning on standard error while Pillow reads or changes an image: not
    for a photo over its first pixel limit (89 MP: a 100 MP camera makes such photos; its
    error at twice that still stands), nor its "Corrupt EXIF data" and other warnings
    (the user gets dmxedit's own sentences, not Python's warning lines)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _decode(image_mod: Any, img: InputImage, planned: Plan, box: tuple[int, int]) -> Image:
    """Decode once, at the smallest scale the JPEG decoder offers above ``box``."""
    with _big_photos(image_mod), img.open() as fh:
        im = image_mod.open(fh)
        if planned.source == "JPEG" and box != (planned.width, planned.height):
            im.draft(None, box)  # DCT scaling: decodes 1/2, 1/4 or 1/8 of the pixels
        im.load()
    return im  # type: ignore[no-any-return]


def _encode(im: Image, target: str, fd: int, icc: Any) -> int:
    extra: dict[str, Any] = {"icc_profile": icc} if icc else {}
    with os.fdopen(fd, "wb", closefd=False) as out:
        if target == "image/jpeg":
            im.save(out, "JPEG", quality=JPEG_QUALITY, **extra)
        else:
            im.save(out, "PNG", compress_level=6, **extra)
        out.flush()
        return os.fstat(fd).st_size


def prepare_image(img: InputImage, temporaries: Temporaries) -> InputImage:
    """Decode, orient, downscale and encode one planned input into a tracked temporary
    file; returns the image that is sent instead."""

    planned = img.plan
    assert isinstance(planned, Plan)
    image_mod = _pillow(heif=planned.source in ("HEIC", "HEIF"))
    if image_mod is None:  # the extra went away since the plan was made
        raise InputError(
            T(
                "Preparing {display!r} needs the optional extra: {install}.",
                display=img.display,
                install=INSTALL,
            )
        )
    with img.open() as fh:
        source_sha256 = _sha256(fh)
    orientation = planned.orientation
    sent = (planned.sent_width, planned.sent_height)
    box = oriented_size(*sent, orientation)  # the size wanted, in the file's own orientation
    try:
        with _big_photos(image_mod):
            im = _decode(image_mod, img, planned, box)
            icc = im.info.get("icc_profile")
            if im.size != box:
                im = im.resize(box, image_mod.Resampling.LANCZOS, reducing_gap=3.0)
            im = _convert(im, planned.target)
            if orientation != 1:
                im = im.transpose(image_mod.Transpose(_TRANSPOSE[orientation]))
    except InputError:
        raise
    except Exception as exc:  # corrupt data past the header, an unsupported variant
        raise InputError(
            T(
                "Image {display!r} ({source}) could not be decoded: {why}.",
                display=img.display,
                source=planned.source,
                why=_why(exc),
            ),
            hint=T("Check that the file is complete; open it in an image viewer."),
        ) from None
    changes = planned.changes
    ext = EXTENSIONS[planned.target]
    with _held(temporaries, "." + ext) as (fd, name):
        try:
            size = _encode(im, planned.target, fd, icc)
            for _ in range(4):  # a JPEG of noise can still be too big: smaller until it fits
                if size < MAX_IMAGE_BYTES:
                    break
                scale = math.sqrt(MAX_IMAGE_BYTES * 0.85 / size)
                im = im.resize(scaled(*im.size, scale), image_mod.Resampling.LANCZOS)
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                size = _encode(im, planned.target, fd, icc)
                changes = [
                    *changes,
                    T(
                        "downscaled to {width}x{height} to fit under 50 MiB",
                        width=im.size[0],
                        height=im.size[1],
                    ),
                ]
            if size >= MAX_IMAGE_BYTES:
                raise InputError(
                    T(
                        "Image {display!r} could not be made to fit under 50 MiB.",
                        display=img.display,
                    )
                )
        finally:
            os.close(fd)
        with open(name, "rb") as fh:
            sent_sha256 = _sha256(fh)
    width, height = im.size
    del im
    stem = Path(img.filename).stem or "image"
    return InputImage(
        display=img.display,
        filename=f"{stem}.{ext}",
        content_type=planned.target,
        size=size,
        width=width,
        height=height,
        path=Path(name),
        prepared=Preparation(
            source_path=img.path,
            source_type=planned.source_type,
            source_bytes=img.size,
            source_sha256=source_sha256,
            source_width=planned.width,
            source_height=planned.height,
            changes=tuple(changes),
            sent_sha256=sent_sha256,
        ),
    )


def _convert(im: Image, target: str) -> Image:
    """The mode the target format can hold, converting only when needed."""
    mode = im.mode
    if target == "image/jpeg":
        if mode in ("L", "RGB", "CMYK"):
            return im
        if mode.startswith("I"):  # 16-bit grey: scale to 8 bits, not clip
            im = (im if mode == "I" else im.convert("I")).point(lambda v: v / 256)
            return im.convert("L")
        return im.convert("RGB")
    alpha = has_alpha(mode, im.info)
    wanted = png_mode(mode, alpha)
    return im if wanted == mode else im.convert(wanted)


def prepare_images(
    images: Sequence[InputImage], temporaries: Temporaries, events: Events
) -> tuple[list[InputImage], list[str]]:
    """The inputs with every planned one prepared, and the temporary files made (the
    caller removes them with :func:`discard` once the request is over)."""
    made: list[str] = []
    out: list[InputImage] = []
    try:
        for img in images:
            if not isinstance(img.plan, Plan):
                out.append(img)
                continue
            sent = prepare_image(img, temporaries)
            assert sent.path is not None and sent.prepared is not None
            made.append(str(sent.path))
            out.append(sent)
            events.note(
                T(
                    "{display}: {changes}; sending {width}x{height}, {mib} (was {was})",
                    display=img.display,
                    changes=", ".join(sent.prepared.changes),
                    width=sent.width,
                    height=sent.height,
                    mib=_mib(sent.size),
                    was=_mib(sent.prepared.source_bytes),
                )
            )
    except BaseException:
        for name in made:
            discard(name, temporaries)
        raise
    return out, made
