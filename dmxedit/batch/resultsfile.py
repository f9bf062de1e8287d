"""The results file: one whole line a job's step, read back to decide what a re-run does."""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmxedit.core.errors import ExitCode, InputError
from dmxedit.core.i18n import T
from dmxedit.core.text import dumps

if TYPE_CHECKING:
    pass


_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)


class ResultsLock:
    """An exclusive lock on ``path`` that the OS drops when its process dies; the file is
    removed when the lock is released, so none is left beside a results file.

    On POSIX it is ``flock`` on the file, and the holder unlinks the file while it still
    holds the lock. A second batch that opened the file before that unlink may get its
    flock just after, on a file no longer at ``path``: so after each flock the path's
    file is compared with the one locked (device and inode), and on a difference the
    lock is taken again on the file now there. Whoever holds the lock on the file at
    ``path`` is the one holder; anyone else is refused. Elsewhere (Windows, or a file
    system without flock) ``filelock`` does it (on Windows it removes the file too).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._fallback: Any = None

    def acquire(self) -> bool:
        """Take the lock at once; False when another process holds it."""
        try:
            import fcntl
        except ImportError:  # Windows
            return self._acquire_fallback()
        for _ in range(100):  # each round means another batch just released the file
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    return False
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    return self._acquire_fallback()  # a file system without flock
                raise
            if self._is_at_path(fd):
                self._fd = fd
                return True
            os.close(fd)  # unlinked (and perhaps made again) since it was opened
        return False

    def _is_at_path(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _acquire_fallback(self) -> bool:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return False
        self._fallback = lock
        return True

    def release(self) -> None:
        if self._fallback is not None:
            self._fallback.release()
            self._fallback = None
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            if self._is_at_path(fd):  # never another's file (if someone removed ours)
                self.path.unlink()  # still holding the lock: see the class's words
        except OSError:
            pass
        finally:
            os.close(fd)  # and with it the lock


def absolute_files(record: Mapping[str, Any]) -> dict[str, Any]:
    """A results line whose saved files resolve from anywhere: each path absolute (the
    output folder may be relative to the folder the batch ran in, which a reader of the
    results file cannot know)."""
    files = record.get("files")
    if not isinstance(files, list) or not files:
        return dict(record)
    return {**record, "files": [os.path.abspath(f) if isinstance(f, str) else f for f in files]}


class ResultsLog:
    """The results file: one JSON line per event, each written whole in one write and
    synced; read back ignoring a torn last line (even one cut inside a character)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = -1
        self._file_lock: Any = None

    def lock(self) -> None:
        """One batch at a time per results file; released when this process dies, and
        its lock file (``<results>.lock``) removed when the batch ends."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = ResultsLock(Path(str(self.path.resolve()) + ".lock"))  # one per file
            acquired = lock.acquire()
        except OSError as exc:  # its folder is a file, cannot be made, is read-only...
            raise InputError(
                T(
                    "Cannot write the results file {path}: {strerror}.",
                    path=self.path,
                    strerror=exc.strerror or exc,
                ),
                hint=T(
                    "Choose another --results file (its folder must be a folder you can write).",
                ),
            ) from None
        if not acquired:
            raise InputError(
                T("Another dmxedit batch is writing {path} right now.", path=self.path),
                hint=T(
                    "Wait for it to finish, or give this run its own --results file.",
                ),
            )
        self._file_lock = lock

    def previous(self) -> dict[str, dict[str, Any]]:
        """The last record of every job id already in the file."""
        last: dict[str, dict[str, Any]] = {}
        if self.path is None or not self.path.exists():
            return last
        try:
            with open(self.path, "rb") as fh:
                for raw in fh:
                    try:
                        record = json.loads(raw.decode("utf-8"))
                    except ValueError:  # a torn line (UnicodeDecodeError is one too)
                        continue
                    if isinstance(record, dict) and "id" in record and "status" in record:
                        previous = last.get(str(record["id"]))
                        # an ok is final: a later marker never hides a saved result
                        if previous is None or previous.get("status") != "ok":
                            last[str(record["id"])] = record
        except OSError as exc:
            raise InputError(
                T(
                    "Cannot read the results file {path}: {strerror}.",
                    path=self.path,
                    strerror=exc.strerror,
                )
            ) from None
        return last

    def open(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, _APPEND_FLAGS, 0o666)
            self._cut_torn_tail()
        except OSError as exc:
            raise InputError(
                T(
                    "Cannot write the results file {path}: {strerror}.",
                    path=self.path,
                    strerror=exc.strerror or exc,
                )
            ) from None

    def _cut_torn_tail(self) -> None:
        """A last line without its newline (a kill mid-write) is cut off, under the lock,
        so the file stays whole JSON Lines: that job's step is written again anyway."""
        size = os.fstat(self._fd).st_size
        if not size:
            return
        end = size
        with open(self.path, "rb") as fh:  # type: ignore[arg-type]
            while end > 0:
                start = max(0, end - (1 << 16))
                fh.seek(start)
                block = fh.read(end - start)
                at = block.rfind(b"\n")
                if at >= 0:
                    end = start + at + 1
                    break
                end = start
        if end != size:
            os.ftruncate(self._fd, end)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def append(self, record: Mapping[str, Any]) -> None:
        if self._fd < 0:
            return
        line = (dumps(record) + "\n").encode("utf-8")
        with self._lock:
            self._write(line)  # the whole line and its newline in one write
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None


def what_to_do(record: Mapping[str, Any] | None, resend_unknown: bool) -> str:
    """send, skip (already ok), unknown (may have been billed) or fetch (download only)."""
    if record is None:
        return "send"
    status = record.get("status")
    if status == "ok":
        return "skip"
    if record.get("urls") and (
        status == "answered" or record.get("exit_code") in (ExitCode.NOT_SAVED, 130)
    ):
        return "fetch"  # paid and answered: download again, never generate again
    if status in ("sent", "answered") or record.get("may_be_billed"):
        if record.get("billed") is False:
            return "send"  # the billing check found no charge for it (SPEC 8)
        return "send" if resend_unknown else "unknown"
    if record.get("exit_code") == ExitCode.NOT_SAVED:
        # Generated (paid) but nothing to download again: a b64 result that could not be
        # saved, or one kept in the rescue folder. Never generated again on its own.
        return "send" if resend_unknown else "unknown"
    return "send"
