"""Transfer mechanics: the streamed multipart body, retry timing and a shared pause.

Nothing here imports requests, so the request builder and ``--dry-run`` stay light.
"""

from __future__ import annotations

import email.utils
import hashlib
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timezone

from .images import InputImage

CHUNK = 1 << 20  # 1 MiB: large sends keep the upload near curl's speed
MAX_RETRY_AFTER = 120.0  # seconds: a longer wait ends the run (SPEC section 4)
MAX_BACKOFF = 30.0


def _quote(value: str) -> str:
    # What browsers do (WHATWG multipart/form-data): escape quote, CR and LF.
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
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
        boundary: str | None = None,
        chunk_size: int = CHUNK,
        on_progress: Callable[[int], None] | None = None,
        hash_images: bool = True,
    ) -> None:
        self.boundary = boundary or f"dmxedit-{os.urandom(16).hex()}"
        self.images = list(images)
        self.chunk_size = chunk_size
        self.on_progress = on_progress
        self.hash_images = hash_images  # SHA-256 costs ~0.6 s per GiB: only when asked
        self.sha256: list[str] = []
        self.sent = 0
        self.iterations = 0
        self._fields_blob = b"".join(
            self._head(name) + b"\r\n" + value.encode("utf-8") + b"\r\n" for name, value in fields
        )
        self._image_heads = [
            self._head("image", img.filename, img.content_type) + b"\r\n" for img in self.images
        ]
        self._tail = f"--{self.boundary}--\r\n".encode()
        self._length = (
            len(self._fields_blob)
            + sum(
                len(h) + img.size + 2 for h, img in zip(self._image_heads, self.images, strict=True)
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

    def __len__(self) -> int:
        return self._length

    def _emit(self, chunk: bytes) -> bytes:
        self.sent += len(chunk)
        if self.on_progress is not None:
            self.on_progress(self.sent)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        self.iterations += 1
        self.sent = 0
        self.sha256 = []
        pending = self._fields_blob
        for head, image in zip(self._image_heads, self.images, strict=False):
            pending += head
            digest = hashlib.sha256() if self.hash_images else None
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
                        raise OSError(f"{image.display} shrank while it was being sent")
                    if digest is not None:
                        digest.update(data)
                    remaining -= len(data)
                    pending = data if not pending else pending + data
                if fh.read(1):
                    raise OSError(f"{image.display} grew while it was being sent")
            if digest is not None:
                self.sha256.append(digest.hexdigest())
            pending += b"\r\n"
            if len(pending) >= self.chunk_size:
                yield self._emit(pending)
                pending = b""
        yield self._emit(pending + self._tail)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    Always finite and >= 0, or None when neither header says anything usable.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis.strip()) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(0.0, value)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        return max(0.0, value)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    try:
        delta = when.timestamp() - current
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, delta) if math.isfinite(delta) else None


def base_delay() -> float:
    """The first backoff step in seconds (``DMXEDIT_RETRY_DELAY``, default 1)."""
    try:
        value = float(os.environ.get("DMXEDIT_RETRY_DELAY", "1"))
    except ValueError:
        return 1.0
    return value if math.isfinite(value) and value >= 0 else 1.0


def backoff(attempt: int, base: float | None = None, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: attempt 1 waits about base, 2 about 2 x base..."""
    step = base_delay() if base is None else base
    ceiling: float = min(MAX_BACKOFF, step * 2.0 ** max(0, attempt - 1))
    jitter: float = (rng or random).random()
    return ceiling * (0.5 + 0.5 * jitter)


class Pacer:
    """A pause shared by every worker: a 429 holds them all until its wait is over."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._until = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep
        self._clock = clock

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait(self) -> None:
        """Sleep until the shared pause is over (it may be extended meanwhile)."""
        while True:
            left = self.remaining()
            if left <= 0:
                return
            self._sleep(min(left, 0.5))
