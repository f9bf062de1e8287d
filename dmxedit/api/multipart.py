"""The streamed ``multipart/form-data`` body of an edit, and the small body of a generation.

Neither holds the images in memory: a body has a length (so requests sends
Content-Length, not chunked) and an iterator that opens the images afresh on every
attempt. Nothing here imports requests, so ``--dry-run`` stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

from dmxedit.core import interrupts
from dmxedit.core.i18n import T
from dmxedit.media.inputs import InputImage

CHUNK = 1 << 20  # 1 MiB: large sends keep the upload near curl's speed


def _quote(value: str) -> str:
    # What browsers do (WHATWG multipart/form-data): escape quote, CR and LF.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class StreamedBody:
    """What every streamed request body shares: its length (so requests sends
    Content-Length, not chunked), the bytes counted out, and ``on_progress``, told the
    count *before* each chunk goes out (it reaches the total just before the last one)."""

    _length = 0

    def __init__(self, on_progress: Callable[[int], None] | None = None) -> None:
        self.on_progress = on_progress
        self.sent = 0
        self.iterations = 0

    def __len__(self) -> int:
        return self._length

    def _emit(self, chunk: bytes) -> bytes:
        interrupts.check()  # a Ctrl-C the garbage collector swallowed still stops the upload
        self.sent += len(chunk)
        if self.on_progress is not None:
            self.on_progress(self.sent)
        return chunk


class MultipartBody(StreamedBody):
    """A ``multipart/form-data`` body produced piece by piece.

    It has a length (so requests sends Content-Length, not chunked) and an iterator
    that opens the images afresh: iterating again (a retry) sends the same bytes from
    new file handles. The whole body is never in memory; at most one chunk is.
    ``on_progress`` gets the bytes counted so far *before* each chunk goes out, so the
    count reaches the total just before the last chunk is sent.
    """

    def __init__(
        self,
        fields: Sequence[tuple[str, str]],
        images: Sequence[InputImage],
        *,
        files: Sequence[tuple[str, InputImage]] = (),
        boundary: str | None = None,
        chunk_size: int = CHUNK,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.boundary = boundary or f"dmxedit-{os.urandom(16).hex()}"
        self.images = list(images)
        self._parts = [("image", img) for img in self.images] + list(files)
        for _, img in self._parts:
            if img.plan is not None:  # its bytes are not what the part would announce
                raise ValueError(
                    T(
                        "{display} must be prepared (prepare.py) before sending",
                        display=img.display,
                    )
                )
        self.chunk_size = chunk_size
        super().__init__(on_progress)
        self._fields_blob = b"".join(
            self._head(name) + b"\r\n" + value.encode("utf-8") + b"\r\n" for name, value in fields
        )
        self._image_heads = [
            self._head(name, img.filename, img.content_type) + b"\r\n" for name, img in self._parts
        ]
        self._tail = f"--{self.boundary}--\r\n".encode()
        self._length = (
            len(self._fields_blob)
            + sum(
                len(h) + img.size + 2
                for h, (_, img) in zip(self._image_heads, self._parts, strict=True)
            )
            + len(self._tail)
        )

    def _head(
        self, name: str, filename: str | None = None, content_type: str | None = None
    ) -> bytes:
        disposition = f'form-data; name="{_quote(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote(filename)}"'
        head = f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        return head.encode("utf-8")

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        self.iterations += 1
        self.sent = 0
        pending = self._fields_blob
        for head, (_, image) in zip(self._image_heads, self._parts, strict=False):
            pending += head
            remaining = image.size
            with image.open() as fh:
                while remaining > 0:
                    room = self.chunk_size - len(pending)
                    if room <= 0:
                        yield self._emit(pending)
                        pending = b""
                        continue
                    data = fh.read(min(room, remaining))
                    if not data:
                        raise OSError(
                            T("{display} shrank while it was being sent", display=image.display)
                        )
                    remaining -= len(data)
                    pending = data if not pending else pending + data
                if fh.read(1):
                    raise OSError(
                        T("{display} grew while it was being sent", display=image.display)
                    )
            pending += b"\r\n"
            if len(pending) >= self.chunk_size:
                yield self._emit(pending)
                pending = b""
        yield self._emit(pending + self._tail)


class BytesBody:
    """A small body (JSON) with the same interface as :class:`MultipartBody`."""

    def __init__(self, data: bytes, on_progress: Callable[[int], None] | None = None) -> None:
        self.data = data
        self.sent = 0
        self.iterations = 0
        self.on_progress = on_progress

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[bytes]:
        self.iterations += 1
        self.sent = len(self.data)
        if self.on_progress is not None:
            self.on_progress(self.sent)
        yield self.data
