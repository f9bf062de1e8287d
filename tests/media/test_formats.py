"""Image formats from the bytes."""

from __future__ import annotations

from pathlib import Path

from fakeserver import JPEG_BYTES, PNG_BYTES, WEBP_BYTES

from dmxedit.media.formats import sniff
from dmxedit.media.images import load_image


def test_types_are_sniffed_from_bytes_never_names(tmp_path: Path) -> None:
    assert sniff(PNG_BYTES) == "image/png" and sniff(JPEG_BYTES) == "image/jpeg"
    assert sniff(WEBP_BYTES) == "image/webp" and sniff(b"GIF89a") is None
    fake = tmp_path / "photo.jpg"
    fake.write_bytes(WEBP_BYTES)
    image = load_image(str(fake))
    assert image.content_type == "image/webp" and (image.width, image.height) == (3, 2)
    jpeg = tmp_path / "x.png"
    jpeg.write_bytes(JPEG_BYTES)
    assert (load_image(str(jpeg)).width, load_image(str(jpeg)).height) == (2, 1)
