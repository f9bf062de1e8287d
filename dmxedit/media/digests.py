"""The inputs' SHA-256, computed on a thread of their own while the request goes out.

The ledger and ``--save-metadata`` record each input's SHA-256. Hashing in the upload's
own thread made the upload slower (0.42 s of CPU per 640 MiB, in series with the send);
hashlib releases the GIL while it hashes, so a second thread reading the same files (from
the page cache: they were just read) runs beside the send, and is done long before the
model answers (seconds to minutes). A :class:`Cache` (the ledger) remembers each file's
digest by its identity (path, size, mtime, inode), as git's index does, so an input
edited again is not hashed again.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from dmxedit.media.inputs import InputImage

CHUNK = 1 << 20  # 1 MiB: hashlib releases the GIL for any update over 2 KiB
#: A file changed less than this long ago is hashed but not remembered: a write within
#: the same timestamp tick could leave its size and mtime unchanged (git's "racy" case).
RACY_S = 2.0

#: A file's identity: its resolved path (as the file system's bytes), size, mtime in
#: nanoseconds and inode.
FileKey = tuple[bytes, int, int, int]


class Cache(Protocol):
    """Where digests are remembered by file identity (``store.ledger.Ledger``)."""

    def known(self, key: FileKey) -> str | None: ...

    def remember(self, key: FileKey, sha256: str) -> None: ...


class Digests:
    """SHA-256 of each input, in order; ``result`` waits for them. A file that cannot
    be read is recorded as None (the request itself then fails on its own)."""

    def __init__(
        self,
        images: Sequence[InputImage],
        cache: Cache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.images = list(images)
        self.cache = cache
        self.clock = clock
        self._out: list[str | None] = []
        self._thread = threading.Thread(target=self._run, name="dmxedit-sha256", daemon=True)

    def start(self) -> Digests:
        self._thread.start()
        return self

    def _run(self) -> None:
        for image in self.images:
            self._out.append(self._one(image))

    def _one(self, image: InputImage) -> str | None:
        key = self._key(image)
        if key is not None and self.cache is not None:
            known = self.cache.known(key)
            if known is not None:
                return known
        digest = _sha256(image)
        if digest is not None and key is not None and self.cache is not None:
            if self.clock() - key[2] / 1e9 >= RACY_S:
                self.cache.remember(key, digest)
        return digest

    @staticmethod
    def _key(image: InputImage) -> FileKey | None:
        """The identity of a user's file (not standard input, not a prepared temporary)."""
        if image.path is None or image.prepared is not None:
            return None
        try:
            stat = os.stat(image.path)
        except OSError:
            return None
        return (os.fsencode(image.path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)

    def result(self) -> list[str | None]:
        """The digests, once every input is hashed (waits for the thread)."""
        if self._thread.ident is not None:
            self._thread.join()
        else:  # never started: hash here
            self._run()
        return list(self._out)


def _sha256(image: InputImage) -> str | None:
    digest = hashlib.sha256()
    try:
        with image.open() as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
