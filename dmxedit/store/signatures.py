"""The ``thoughtSignature`` texts of a conversation's model turns (SPEC section 13).

A gemini image model signs each image it makes; the next turn must send the signature
back exactly, or the request is a 400. Signatures can be a megabyte, so they are kept in
files, not in the ledger: ``<data folder>/signatures/<sha256>.sig``, mode 0600, named by
the SHA-256 of the text as received (the ledger keeps that name). A file is written once
(atomically) and read back checked against its name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T

FOLDER = "signatures"


def digest(text: str) -> str:
    """The SHA-256 of a signature's text (UTF-8), hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _keep(target: Path, blocks: Iterable[bytes]) -> None:
    """Write ``target`` whole or not at all (a temporary file moved into place), mode 0600
    in a 0700 folder: what is kept here is private (prompts' context, the model's state)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".part-", dir=target.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            for block in blocks:
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _named(sha256: str) -> str:
    """A file's name from the ledger, checked to be a SHA-256 (never a path)."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a SHA-256: {sha256!r}")
    return sha256


class Signatures:
    """The signature files under a data folder."""

    def __init__(self, data_folder: Path) -> None:
        self.folder = data_folder / FOLDER

    def path(self, sha256: str) -> Path:
        return self.folder / f"{_named(sha256)}.sig"

    def put(self, text: str) -> str:
        """Keep ``text``; its SHA-256 (the file's name). Writing it again is a no-op."""
        sha = digest(text)
        target = self.path(sha)
        if target.exists():
            return sha
        _keep(target, [text.encode("utf-8")])
        return sha

    def checked(self, sha256: str, entry_id: int) -> Path:
        """The file of a signature the ledger names, its text checked against the name;
        InputError (exit 2) naming the entry when it is missing or changed."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except OSError:
            raise InputError(
                T(
                    "The signature of ledger entry {entry_id} is missing ({path}); "
                    "the thread cannot be continued.",
                    entry_id=entry_id,
                    path=path,
                ),
                hint=T(
                    "Start a new thread: give the image as an input instead "
                    "(dmxedit edit @{entry_id} -p ...).",
                    entry_id=entry_id,
                ),
            ) from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise InputError(
                T(
                    "The signature of ledger entry {entry_id} ({path}) has "
                    "changed; the thread cannot be continued.",
                    entry_id=entry_id,
                    path=path,
                ),
                hint=T(
                    "Start a new thread: dmxedit edit @{entry_id} -p ...",
                    entry_id=entry_id,
                ),
            )
        return path


class SentInputs:
    """Inputs of a conversation that dmxedit converted before sending (SPEC 9: a HEIC,
    a downscale): the bytes the model saw, kept under the data folder (``sent/<sha256>``,
    mode 0600), so that a later turn sends them again exactly, not a new conversion."""

    def __init__(self, data_folder: Path) -> None:
        self.folder = data_folder / "sent"

    def path(self, sha256: str) -> Path:
        return self.folder / _named(sha256)

    def put_file(self, source: Path) -> str:
        """Keep a copy of ``source``; its SHA-256 (the copy's name)."""
        digest_of = hashlib.sha256()
        with open(source, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest_of.update(block)
        sha = digest_of.hexdigest()
        target = self.path(sha)
        if target.exists():
            return sha
        with open(source, "rb") as fh:
            _keep(target, iter(lambda: fh.read(1 << 20), b""))
        return sha


__all__ = ["FOLDER", "SentInputs", "Signatures", "digest"]
