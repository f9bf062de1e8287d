"""Saving results: temporary file, type from the bytes, a new name, an atomic move.

No output name ever comes from the server. A file is written under a hidden temporary
name in the output folder and linked into place under a name nobody has taken; an
interrupted or failed run leaves no partial image. When the output folder cannot take
a decoded (b64_json) image, it is kept in the user cache folder instead, so a paid
result is never lost.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from .catalog import MAX_RESULT_BYTES
from .errors import InputError, SaveError
from .images import EXTENSIONS, sniff

_TEMP_PREFIX = ".dmxedit-"
_live: set[str] = set()
_live_lock = threading.Lock()


def _track(path: str) -> None:
    with _live_lock:
        _live.add(path)


def _untrack(path: str) -> None:
    with _live_lock:
        _live.discard(path)


def remove_temporaries() -> None:
    """Delete every temporary file still open (used on Ctrl-C, from any thread)."""
    with _live_lock:
        paths = list(_live)
        _live.clear()
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


def rescue_folder() -> Path:
    """Where results go when the output folder cannot take them."""
    override = os.environ.get("DMXEDIT_RESCUE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_path

    return user_cache_path("dmxedit") / "rescued"


class TooLarge(Exception):
    """A result is over the 200 MiB cap."""


class Blob:
    """A result's bytes in a temporary file, with its first bytes kept for sniffing.

    Writes are unbuffered, so after a failed write the file holds exactly the bytes
    counted in ``size`` and can be carried over to the rescue folder.
    """

    def __init__(self, folder: Path, limit: int = MAX_RESULT_BYTES) -> None:
        self.folder = folder
        self.limit = limit
        self.size = 0
        self.head = b""
        self.rescued = False
        self.write_error: OSError | None = None
        self._fd, self.path = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".part", dir=folder)
        _track(self.path)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self.limit:
            raise TooLarge(f"the result is over {self.limit // (1024 * 1024)} MiB")
        if len(self.head) < 64:
            self.head = (self.head + data[:64])[:64]
        try:
            self._write_all(data)
        except OSError as exc:
            self._move_to_rescue(exc)
            self._write_all(data)
        self.size += len(data)

    def _move_to_rescue(self, exc: OSError) -> None:
        """The output folder failed mid-write (disk full...): go on in the rescue folder."""
        if self.rescued or self._fd < 0:
            raise exc
        folder = rescue_folder()
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".part", dir=folder)
        _track(name)
        with open(self.path, "rb") as src:
            remaining = self.size
            while remaining > 0:
                piece = src.read(min(remaining, 1 << 20))
                if not piece:
                    break
                remaining -= len(piece)
                os.write(fd, piece)
        self._close_fd()
        self.discard_path(self.path)
        self._fd, self.path = fd, name
        self.folder = folder
        self.rescued = True
        self.write_error = exc

    def _close_fd(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        """Make the bytes durable; a failing disk moves them to the rescue folder."""
        if self._fd < 0:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._move_to_rescue(exc)
            os.fsync(self._fd)
        self._close_fd()

    @staticmethod
    def discard_path(path: str) -> None:
        _untrack(path)
        try:
            os.unlink(path)
        except OSError:
            pass

    def discard(self) -> None:
        self._close_fd()
        self.discard_path(self.path)

    @property
    def content_type(self) -> str | None:
        return sniff(self.head)


def _link_new(temp: str, folder: Path, stem: str, ext: str) -> Path:
    """Give ``temp`` a name in ``folder`` that nobody has; never replaces a file."""
    for n in range(1, 10000):
        name = f"{stem}.{ext}" if n == 1 else f"{stem}-{n}.{ext}"
        target = folder / name
        try:
            os.link(temp, target)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            # No hard links here: claim the name exclusively, then move over our own claim.
            try:
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            except FileExistsError:
                continue
            os.replace(temp, target)
            _untrack(temp)
            return target
        Blob.discard_path(temp)
        return target
    raise OSError(errno.EEXIST, f"no free name for {stem} in {folder}")


@dataclass
class SavedImage:
    path: Path | None  # None when written to a stream
    content_type: str
    size: int
    url: str | None = None


@dataclass
class Saver:
    """Where results of one run go: a folder, or a stream (``-o -``)."""

    folder: Path | None
    prefix: str = "edited"
    stream: BinaryIO | None = None
    stamp: str = field(default_factory=lambda: datetime.now().strftime("%Y%m%d_%H%M%S"))
    _count: int = 0

    def prepare(self) -> None:
        """Create the output folder and check it can be written, before anything is paid."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise InputError(f"Output {str(self.folder)!r} exists and is not a folder.") from None
        except OSError as exc:
            raise InputError(
                f"Cannot create the output folder {str(self.folder)!r}: {exc.strerror or exc}."
            ) from None
        try:
            probe = tempfile.TemporaryFile(prefix=_TEMP_PREFIX, dir=self.folder)
        except OSError as exc:
            raise InputError(
                f"Cannot write to the output folder {str(self.folder)!r}: {exc.strerror or exc}.",
                hint="Choose another folder with -o.",
            ) from None
        probe.close()

    def new_blob(self) -> Blob:
        """A temporary file for incoming bytes, in the output folder when possible."""
        if self.folder is not None:
            try:
                return Blob(self.folder)
            except OSError:
                pass  # fall through to the rescue folder; the result must not be lost
        folder = rescue_folder()
        folder.mkdir(parents=True, exist_ok=True)
        blob = Blob(folder)
        blob.rescued = self.folder is not None
        return blob

    def finish(self, blob: Blob, url: str | None = None) -> SavedImage:
        """Check the bytes are an image and move them into place (or onto the stream)."""
        self._count += 1
        index = self._count
        blob.close()
        content_type = blob.content_type
        if content_type is None:
            blob.discard()
            raise SaveError(
                "The result is not a PNG, JPEG or WebP image.",
                urls=[url] if url else [],
                hint="Open the URL to see what the API sent." if url else None,
            )
        stem = f"{self.prefix}_{self.stamp}_{index}"
        ext = EXTENSIONS[content_type]
        if self.stream is not None and not blob.rescued:
            return self._to_stream(blob, content_type, stem, ext, url)
        target_folder = blob.folder
        try:
            path = _link_new(blob.path, target_folder, stem, ext)
        except OSError as exc:
            return self._rescue(blob, stem, ext, url, exc)
        if blob.rescued:
            raise SaveError(
                f"The image could not be written to {self.folder}; it was kept at {path}.",
                files=[str(path)],
                urls=[url] if url else [],
                hint="Move it where you want it; nothing was lost.",
            )
        return SavedImage(path=path, content_type=content_type, size=blob.size, url=url)

    def _to_stream(
        self, blob: Blob, content_type: str, stem: str, ext: str, url: str | None
    ) -> SavedImage:
        assert self.stream is not None
        try:
            with open(blob.path, "rb") as fh:
                shutil.copyfileobj(fh, self.stream, 1 << 20)
            self.stream.flush()
        except OSError as exc:
            return self._rescue(blob, stem, ext, url, exc)
        blob.discard()
        return SavedImage(path=None, content_type=content_type, size=blob.size, url=url)

    def _rescue(self, blob: Blob, stem: str, ext: str, url: str | None, exc: OSError) -> SavedImage:
        where = "standard output" if self.stream is not None else str(self.folder)
        reason = exc.strerror or str(exc)
        try:
            folder = rescue_folder()
            folder.mkdir(parents=True, exist_ok=True)
            if Path(blob.path).parent != folder:
                fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".part", dir=folder)
                _track(name)
                with os.fdopen(fd, "wb") as dst, open(blob.path, "rb") as src:
                    shutil.copyfileobj(src, dst)
                blob.discard()
                blob.path = name
            path = _link_new(blob.path, folder, stem, ext)
        except OSError:
            blob.discard()
            raise SaveError(
                f"The image could not be saved to {where} ({reason}).",
                urls=[url] if url else [],
                hint="Download it from the URL before it expires." if url else None,
            ) from None
        raise SaveError(
            f"The image could not be saved to {where} ({reason}); it was kept at {path}.",
            files=[str(path)],
            urls=[url] if url else [],
            hint="Move it where you want it; nothing was lost.",
        )


def write_metadata(image: Path, data: dict[str, Any]) -> Path | None:
    """Write ``<image>.json`` beside a saved image; never replaces an existing file."""
    target = image.with_name(image.name + ".json")
    body = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".part", dir=image.parent)
    _track(temp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        os.link(temp, target)
    except FileExistsError:
        return None
    finally:
        Blob.discard_path(temp)
    return target


@contextmanager
def cleanup_on_error(blobs: list[Blob]) -> Iterator[None]:
    """Discard every blob not yet finished if the block fails or is interrupted."""
    try:
        yield
    except BaseException:
        for blob in blobs:
            blob.discard()
        raise


ProgressFn = Callable[[int], None]
