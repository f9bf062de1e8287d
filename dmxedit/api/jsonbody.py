"""A JSON body that carries images as base64 text, produced piece by piece.

The gemini door sends its inputs as ``inline_data`` and Seedream as ``data:`` URIs, both
base64 strings inside a JSON body. Encoding them up front would hold every image, and
4/3 of it again, in memory; this body holds the JSON text around them and encodes each
image as it is read, so memory stays at one chunk whatever the images weigh (SPEC 12,
the bounds of section 4). It has a length (Content-Length, not chunked) and reads the
images afresh on every iteration (a retry), like :class:`dmxedit.api.multipart.MultipartBody`.
Nothing here imports requests.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmxedit.api.multipart import StreamedBody
from dmxedit.core.i18n import T
from dmxedit.media.inputs import InputImage


def _fast_encoder() -> Callable[[bytes], bytes] | None:
    """pybase64's encoder (SIMD; the `fast` extra: ~4x the standard library's), if installed."""
    try:
        module = importlib.import_module("pybase64")
    except ImportError:
        return None
    encode: Callable[[bytes], bytes] = module.b64encode
    return encode


FAST = _fast_encoder()


def b64encode(data: bytes) -> bytes:
    """``base64.b64encode``, by pybase64 when it is installed (the same bytes)."""
    return FAST(data) if FAST is not None else base64.b64encode(data)


RAW_CHUNK = 3 * (1 << 18)  # 768 KiB read -> 1 MiB of base64, no padding inside


def encoded_length(size: int) -> int:
    """The length of ``size`` bytes in base64 (padded)."""
    return 4 * ((size + 2) // 3)


@dataclass(frozen=True)
class Encoded:
    """An image to be sent base64-encoded, after ``prefix`` (``data:image/png;base64,``)."""

    image: InputImage
    prefix: str = ""

    def __len__(self) -> int:
        return len(self.prefix.encode()) + encoded_length(self.image.size)


@dataclass(frozen=True)
class Verbatim:
    """A file whose bytes go into the body as they are: text that needs no escaping in a
    JSON string (a ``thoughtSignature``, base64), streamed rather than held."""

    path: Path
    size: int

    def __len__(self) -> int:
        return self.size


class Placeholders:
    """Stand-ins for images in a JSON document: put ``mark(image)`` where the image's
    base64 string goes, dump the document, and :meth:`pieces` splits the text there."""

    def __init__(self) -> None:
        self.token = os.urandom(8).hex()
        self.images: list[Encoded | Verbatim] = []

    def mark(self, image: InputImage, prefix: str = "") -> str:
        self.images.append(Encoded(image, prefix))
        return f"@@dmxedit-{self.token}-{len(self.images) - 1}@@"

    def mark_file(self, path: Path, size: int) -> str:
        """A placeholder for a file's bytes, sent verbatim inside a JSON string."""
        self.images.append(Verbatim(path, size))
        return f"@@dmxedit-{self.token}-{len(self.images) - 1}@@"

    def pieces(self, document: Any) -> list[Piece]:
        text = json.dumps(document, ensure_ascii=False)
        out: list[Piece] = []
        for i, image in enumerate(self.images):
            before, sep, text = text.partition(f"@@dmxedit-{self.token}-{i}@@")
            if not sep:
                raise ValueError("an image placeholder is missing from the document")
            out += [before.encode("utf-8"), image]
        out.append(text.encode("utf-8"))
        return out

    def shown(self, document: Any) -> Any:
        """The document with each image written as what it stands for (``--dry-run``)."""
        text = json.dumps(document, ensure_ascii=False)
        for i, enc in enumerate(self.images):
            if isinstance(enc, Verbatim):
                said = f"<{enc.path.name}, {enc.size} characters>"
            else:
                said = f"{enc.prefix}<base64 of {enc.image.display}, {enc.image.size} bytes>"
            text = text.replace(f"@@dmxedit-{self.token}-{i}@@", json.dumps(said)[1:-1])
        return json.loads(text)


Piece = bytes | Encoded | Verbatim


class JSONBody(StreamedBody):
    """A JSON body produced piece by piece, images base64-encoded as they are read.

    ``on_progress`` gets the bytes counted so far *before* each chunk goes out, so the
    count reaches the total just before the last chunk is sent (as for multipart)."""

    content_type = "application/json"

    def __init__(
        self,
        pieces: Sequence[Piece],
        *,
        chunk_size: int = RAW_CHUNK,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.pieces = list(pieces)
        for piece in self.pieces:
            if isinstance(piece, Encoded) and piece.image.plan is not None:
                raise ValueError(
                    T(
                        "{display} must be prepared before sending",
                        display=piece.image.display,
                    )
                )
        self.chunk_size = chunk_size - chunk_size % 3 or 3
        super().__init__(on_progress)
        self._length = sum(len(p) for p in self.pieces)

    @property
    def images(self) -> list[InputImage]:
        return [p.image for p in self.pieces if isinstance(p, Encoded)]

    def __iter__(self) -> Iterator[bytes]:
        self.iterations += 1
        self.sent = 0
        pending = b""
        for piece in self.pieces:
            if isinstance(piece, bytes):
                pending += piece
                continue
            if isinstance(piece, Verbatim):
                blocks = self._verbatim(piece)
            else:
                pending += piece.prefix.encode()
                blocks = self._encoded(piece.image)
            for block in blocks:
                if pending:
                    block = pending + block
                    pending = b""
                yield self._emit(block)
        yield self._emit(pending)

    def _verbatim(self, piece: Verbatim) -> Iterator[bytes]:
        remaining = piece.size
        with open(piece.path, "rb") as fh:
            while remaining > 0:
                data = fh.read(min(self.chunk_size, remaining))
                if not data:
                    raise OSError(T("{path} shrank while it was being sent", path=piece.path))
                remaining -= len(data)
                yield data

    def _encoded(self, image: InputImage) -> Iterator[bytes]:
        remaining = image.size
        with image.open() as fh:
            while remaining > 0:
                data = fh.read(min(self.chunk_size, remaining))
                if not data:
                    raise OSError(
                        T("{display} shrank while it was being sent", display=image.display)
                    )
                while len(data) % 3 and len(data) < remaining:  # whole 3-byte groups
                    more = fh.read(3 - len(data) % 3)
                    if not more:
                        raise OSError(
                            T("{display} shrank while it was being sent", display=image.display)
                        )
                    data += more
                remaining -= len(data)
                yield b64encode(data)
            if fh.read(1):
                raise OSError(T("{display} grew while it was being sent", display=image.display))


def shell_pieces(pieces: Sequence[Piece], quote: Callable[[str], str]) -> str:
    """A shell command that writes the body to standard output (``--dry-run``'s curl):
    the JSON text with ``printf``, each image with ``base64`` (its line breaks removed)."""
    steps = []
    for piece in pieces:
        if isinstance(piece, bytes):
            if piece:
                steps.append(f"printf '%s' {quote(piece.decode('utf-8'))}")
            continue
        if isinstance(piece, Verbatim):
            steps.append(f"cat {quote(str(piece.path))}")
            continue
        if piece.prefix:
            steps.append(f"printf '%s' {quote(piece.prefix)}")
        source = piece.image.path if piece.image.path is not None else piece.image.display
        steps.append(f"base64 < {quote(str(source))} | tr -d '\\n'")
    return "{ " + "; ".join(steps) + "; }"


__all__ = [
    "Piece",
    "Verbatim",
    "Encoded",
    "JSONBody",
    "Placeholders",
    "encoded_length",
    "shell_pieces",
]
