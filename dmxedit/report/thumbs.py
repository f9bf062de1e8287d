"""The downscaled thumbnails ``dmxedit report --embed`` puts into the page as ``data:``
URIs (Pillow, the ``images`` extra, imported only here and only then)."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterable

from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T

#: The longest side of an embedded thumbnail, in pixels.
THUMBNAIL_SIDE = 512
IMAGES_HINT = "pip install 'dmxedit[images]'"


def require_pillow() -> None:
    """Pillow is there (the ``images`` extra), or an InputError naming the extra."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        raise InputError(
            T("--embed needs Pillow to make the thumbnails, and it is not installed."),
            hint=T(
                "Install the images extra: {command} (or leave out --embed: the page then links "
                "the images beside it).",
                command=IMAGES_HINT,
            ),
        ) from None


def thumbnails(paths: Iterable[str], side: int = THUMBNAIL_SIDE) -> dict[str, str | None]:
    """A ``data:`` URI of each image downscaled to ``side`` pixels at most (None for a
    file that is missing or cannot be read), made on a few threads."""
    require_pillow()
    try:  # HEIC/HEIF inputs, when pillow-heif is there too
        from pillow_heif import register_heif_opener

        register_heif_opener()
    except ImportError:
        pass
    from concurrent.futures import ThreadPoolExecutor

    unique = list(dict.fromkeys(paths))
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2))) as pool:
        made = list(pool.map(lambda p: _thumbnail(p, side), unique))
    return dict(zip(unique, made, strict=True))


def _thumbnail(path: str, side: int) -> str | None:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            image.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced scale
            image.seek(0)
            picture = ImageOps.exif_transpose(image)
            picture.thumbnail((side, side))
            alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
            out = io.BytesIO()
            if alpha:
                picture.convert("RGBA").save(out, "PNG", optimize=True)
                kind = "image/png"
            else:
                picture.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
                kind = "image/jpeg"
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    return f"data:{kind};base64," + base64.b64encode(out.getvalue()).decode("ascii")


__all__ = ["IMAGES_HINT", "THUMBNAIL_SIDE", "require_pillow", "thumbnails"]
