"""Saving results: temporary file, type from the bytes, a new name, an atomic move.

No output name ever comes from the server. A file is written under a hidden temporary
name in the output folder and linked into place under a name nobody has taken; an
interrupted or failed run leaves no partial image. When the output folder cannot take
a decoded (b64_json) image, it is kept in the user cache folder instead, so a paid
result is never lost.

Over 500 lines because its messages are gettext templates (issue #26): each
``T(...)`` names its fields on lines of their own, so a translator sees them.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from dmxedit.core import env
from dmxedit.core.errors import InputError, SaveError
from dmxedit.core.i18n import T
from dmxedit.core.temporaries import Temporaries
from dmxedit.core.text import dumps
from dmxedit.media.formats import EXTENSIONS, sniff
from dmxedit.media.receipt import delivered
from dmxedit.store.names import Naming

_TEMP_PREFIX = ".dmxedit-"


@functools.cache
def _host() -> str:
    """A short tag of this machine's name, for temporary file names."""
    import hashlib
    import socket

    return hashlib.sha1(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _own_prefix() -> str:
    # Temporary files name their process and machine, so a later run can remove the ones
    # a killed run (SIGKILL, a power cut) left behind, and never another live run's.
    return f"{_TEMP_PREFIX}{os.getpid()}.{_host()}-"


_STALE = re.compile(r"^\.dmxedit-(\d+)\.([0-9a-f]{8})-.*\.part$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or no way to tell: keep its file
    return True


def remove_stale(folder: Path) -> None:
    """Delete temporary files in ``folder`` left by dmxedit runs of this machine that
    are gone (killed with SIGKILL); a live run's files and other machines' are kept."""
    if os.name != "posix":
        return
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        found = _STALE.match(name)
        if found and found.group(2) == _host() and not _alive(int(found.group(1))):
            try:
                os.unlink(folder / name)
            except OSError:
                pass


#: What ``-o`` ends in to name the one result's file instead of a folder (SPEC 2).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_FORMAT_OF_SUFFIX = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}


def file_target(output: str | None) -> Path | None:
    """``-o NAME.png``: the file the one result is saved as, when ``output`` ends in
    .png, .jpg, .jpeg or .webp (any case) and is not an existing folder; None when it
    names a folder (or is ``-``)."""
    if not output or output == "-" or output.endswith(("/", os.sep, os.altsep or "/")):
        return None
    path = Path(output).expanduser()
    if path.suffix.lower() not in IMAGE_SUFFIXES or path.is_dir():
        return None
    return path


def check_file_target(path: Path, option: str = "-o") -> None:
    """An existing file is never replaced: refused before anything is sent (exit 2)."""
    if path.exists() or path.is_symlink():
        raise InputError(
            T(
                "{option} {path!r}: that file exists, and dmxedit never replaces a file.",
                option=option,
                path=str(path),
            ),
            hint=T(
                "Choose another name (or remove the file first), or give a folder.",
            ),
        )


def rescue_folder(environ: env.Env | None = None) -> Path:
    """Where results go when the output folder cannot take them."""
    override = env.rescue_dir(env.given(environ))
    if override:
        return Path(override)
    from platformdirs import user_cache_path

    return user_cache_path("dmxedit") / "rescued"


class Blob:
    """A result's bytes in a temporary file, with its first bytes kept for sniffing: the
    sink the client streams an image into.

    Writes are unbuffered, so after a failed write the file holds exactly the bytes
    counted in ``size`` and can be carried over to the rescue folder.
    """

    def __init__(self, folder: Path, temporaries: Temporaries) -> None:
        self.folder = folder
        self.temporaries = temporaries
        self.size = 0
        self.head = b""
        self.rescued = False
        self._fd, self.path = temporaries.make(str(folder), _own_prefix(), ".part")

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def write(self, data: bytes) -> None:
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
        fd, name = self.temporaries.make(str(folder), _own_prefix(), ".part")
        with open(self.path, "rb") as src:
            remaining = self.size
            while remaining > 0:
                piece = src.read(min(remaining, 1 << 20))
                if not piece:
                    break
                remaining -= len(piece)
                os.write(fd, piece)
        self._close_fd()
        self._unlink(self.path)
        self._fd, self.path = fd, name
        self.folder = folder
        self.rescued = True

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

    def _unlink(self, path: str) -> None:
        self.temporaries.untrack(path)
        try:
            os.unlink(path)
        except OSError:
            pass

    def discard(self) -> None:
        self._close_fd()
        self._unlink(self.path)

    def claimed(self) -> None:
        """The file now lives under its final name: no longer temporary."""
        self.temporaries.untrack(self.path)

    @property
    def content_type(self) -> str | None:
        return sniff(self.head)


def _umask() -> int:
    # Read once, while the module is imported (before any worker thread exists): setting
    # and restoring it is the only portable way to learn it.
    current = os.umask(0o022)
    os.umask(current)
    return current


_FILE_MODE = 0o666 & ~_umask()  # what a plain `cp` or `open(..., "w")` would give
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK)


def _claim(temp: str, target: Path) -> bool:
    """Give the file ``temp`` the name ``target`` unless that name exists; never replaces.

    A hard link fails when the name exists, however late it appeared. Where the file
    system has no hard links, the name is claimed with an exclusive create and the
    file moved over that claim. False when the name is taken. The file gets the mode the
    user's umask gives (mkstemp made it 0600), like any file `cp` makes.
    """
    os.chmod(temp, _FILE_MODE)
    try:
        os.link(temp, target)
    except FileExistsError:
        return False
    except OSError as exc:
        # Windows says EINVAL where the file system has no hard links (FAT, exFAT, some
        # network shares: ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED).
        if exc.errno not in _NO_LINKS and not (os.name == "nt" and exc.errno == errno.EINVAL):
            raise
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, _FILE_MODE))
        except FileExistsError:
            return False
        os.replace(temp, target)
        return True
    os.unlink(temp)
    return True


def _link_new(blob: Blob, folder: Path, stem: str, ext: str) -> Path:
    """Give the blob's file a name in ``folder`` that nobody has; never replaces a file."""
    for n in range(1, 10000):
        target = folder / (f"{stem}.{ext}" if n == 1 else f"{stem}-{n}.{ext}")
        if _claim(blob.path, target):
            blob.claimed()
            return target
    raise OSError(errno.EEXIST, T("no free name for {stem} in {folder}", stem=stem, folder=folder))


@dataclass
class SavedImage:
    path: Path | None  # None when written to a stream
    content_type: str
    size: int
    url: str | None = None
    delivered: dict[str, Any] = field(default_factory=dict)  # format, width, height


@dataclass
class Saver:
    """Where the results of one request go (a folder, or a stream for ``-o -``) and how
    they are named; hands the client its sinks (:meth:`new_blob`)."""

    folder: Path | None
    prefix: str = "edited"
    stream: BinaryIO | None = None
    stamp: str = field(default_factory=lambda: datetime.now().strftime("%Y%m%d_%H%M%S"))
    temporaries: Temporaries = field(default_factory=Temporaries)
    naming: Naming | None = None  # --name, --variants; None: <prefix>_<ts>_<i>
    #: ``-o NAME.png``: the result's own name (in ``folder``, its parent), whatever its
    #: bytes are; a name taken meanwhile gets a numeric suffix, never replaced.
    exact: Path | None = None
    _count: int = 0

    def prepare(self) -> None:
        """Create the output folder and check it can be written, before anything is paid."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise InputError(
                T(
                    "Output {folder!r} exists and is not a folder.",
                    folder=str(self.folder),
                )
            ) from None
        except OSError as exc:
            raise InputError(
                T(
                    "Cannot create the output folder {folder!r}: {strerror}.",
                    folder=str(self.folder),
                    strerror=exc.strerror or exc,
                )
            ) from None
        try:
            probe = tempfile.TemporaryFile(prefix=_TEMP_PREFIX, dir=self.folder)
        except OSError as exc:
            raise InputError(
                T(
                    "Cannot write to the output folder {folder!r}: {strerror}.",
                    folder=str(self.folder),
                    strerror=exc.strerror or exc,
                ),
                hint=T("Choose another folder with -o."),
            ) from None
        probe.close()
        remove_stale(self.folder)

    def new_blob(self) -> Blob:
        """A temporary file for incoming bytes, in the output folder when possible."""
        if self.folder is not None:
            try:
                return Blob(self.folder, self.temporaries)
            except OSError:
                pass  # fall through to the rescue folder; the result must not be lost
        folder = rescue_folder()
        folder.mkdir(parents=True, exist_ok=True)
        blob = Blob(folder, self.temporaries)
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
                T("The result is not a PNG, JPEG or WebP image."),
                urls=[url] if url else [],
                hint=T("Open the URL to see what the API sent.") if url else None,
            )

        naming = self.naming or Naming(self.prefix)
        stem = naming.stem(self.stamp, index)
        ext = EXTENSIONS[content_type]
        if self.exact is not None:
            stem, ext = self.exact.stem, self.exact.suffix[1:]
        got = delivered(blob.path, content_type)  # read before the file moves
        if self.stream is not None and not blob.rescued:
            saved = self._to_stream(blob, content_type, stem, ext, url)
            saved.delivered = got
            return saved
        try:
            path = _link_new(blob, blob.folder, stem, ext)
        except OSError as exc:
            return self._rescue(blob, stem, ext, url, exc)
        if blob.rescued:
            raise SaveError(
                T(
                    "The image could not be written to {folder}; it was kept at {path}.",
                    folder=self.folder,
                    path=path,
                ),
                files=[str(path)],
                urls=[url] if url else [],
                rescued=[url] if url else [],
                hint=T("Move it where you want it; nothing was lost."),
            )
        return SavedImage(
            path=path, content_type=content_type, size=blob.size, url=url, delivered=got
        )

    def notes(self, image: SavedImage) -> list[str]:
        """What to tell of a result saved under ``-o NAME.png``: a name taken meanwhile,
        bytes of another format than the name says."""
        if self.exact is None or image.path is None:
            return []
        out: list[str] = []
        if image.path.name != self.exact.name and self._count > 1:
            out.append(
                T(
                    "the answer held several images; this one was saved as {path}.",
                    path=image.path,
                )
            )
        elif image.path.name != self.exact.name:
            out.append(
                T(
                    "{exact} appeared while the image was being made; it was saved "
                    "as {path} instead (dmxedit never replaces a file).",
                    exact=self.exact,
                    path=image.path,
                )
            )
        wanted = _FORMAT_OF_SUFFIX.get(self.exact.suffix.lower())
        got = EXTENSIONS.get(image.content_type)
        if wanted is not None and got is not None and got != wanted:
            out.append(
                T(
                    "the image is {format}, not what the name {name} says; it was "
                    "saved under that name as asked.",
                    format=got.upper().replace("JPG", "JPEG"),
                    name=self.exact.name,
                )
            )
        return out

    def keep(self, blob: Blob, url: str | None, why: str) -> SaveError:
        """An unforeseen failure while saving ``blob``: its bytes go to the rescue folder
        (a paid result is never thrown away); the SaveError that says where."""
        try:
            blob.close()
        except OSError:
            pass
        ext = EXTENSIONS.get(blob.content_type or "", "bin")
        stem = f"{self.prefix}_{self.stamp}_rescued"
        try:
            self._rescue(blob, stem, ext, url, OSError(why))
        except SaveError as error:
            return error
        raise AssertionError("_rescue always raises")  # pragma: no cover

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
        where = T("standard output") if self.stream is not None else str(self.folder)
        reason = exc.strerror or str(exc)
        try:
            folder = rescue_folder()
            folder.mkdir(parents=True, exist_ok=True)
            if Path(blob.path).parent != folder:
                moved = Blob(folder, self.temporaries)
                with open(blob.path, "rb") as src:
                    shutil.copyfileobj(src, _FdWriter(moved))
                moved.close()
                blob.discard()
                blob = moved
            path = _link_new(blob, folder, stem, ext)
        except OSError:
            blob.discard()
            raise SaveError(
                T(
                    "The image could not be saved to {where} ({reason}).",
                    where=where,
                    reason=reason,
                ),
                urls=[url] if url else [],
                hint=T("Download it from the URL before it expires.") if url else None,
            ) from None
        raise SaveError(
            T(
                "The image could not be saved to {where} ({reason}); it was kept at {path}.",
                where=where,
                reason=reason,
                path=path,
            ),
            files=[str(path)],
            urls=[url] if url else [],
            rescued=[url] if url else [],
            hint=T("Move it where you want it; nothing was lost."),
        )


class _FdWriter:
    """A file-like ``write`` onto a blob, for shutil.copyfileobj."""

    def __init__(self, blob: Blob) -> None:
        self.blob = blob

    def write(self, data: bytes) -> int:
        self.blob.write(data)
        return len(data)


def write_metadata(image: Path, data: dict[str, Any], temporaries: Temporaries) -> Path | None:
    """Write ``<image>.json`` beside a saved image; never replaces an existing file
    (None then). Works where the file system has no hard links."""
    target = image.with_name(image.name + ".json")
    body = dumps(data, indent=2) + "\n"
    fd, temp = temporaries.make(str(image.parent), _own_prefix(), ".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
        claimed = _claim(temp, target)
    finally:
        temporaries.untrack(temp)
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
    return target if claimed else None
