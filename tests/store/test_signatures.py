"""Signatures of a conversation's model turns: 0600 files named by their SHA-256 (SPEC 13)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from dmxedit.core.errors import InputError
from dmxedit.store.signatures import Signatures, digest


def test_a_signature_is_kept_in_a_private_file_named_by_its_sha256(tmp_path: Path) -> None:
    signatures = Signatures(tmp_path)
    text = "Q" * 1_053_168  # a documented Flash signature's length
    sha = signatures.put(text)
    assert sha == hashlib.sha256(text.encode()).hexdigest() == digest(text)
    path = signatures.path(sha)
    assert path.read_text() == text
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert signatures.put(text) == sha  # again: the same file, nothing new
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_changed_or_missing_signature_is_exit_2_naming_the_entry(tmp_path: Path) -> None:
    signatures = Signatures(tmp_path)
    sha = signatures.put("abc")
    assert signatures.checked(sha, 7) == signatures.path(sha)
    signatures.path(sha).write_text("abd")
    with pytest.raises(InputError, match="entry 7.*changed") as changed:
        signatures.checked(sha, 7)
    assert changed.value.exit_code == 2
    signatures.path(sha).unlink()
    with pytest.raises(InputError, match="entry 7 is missing"):
        signatures.checked(sha, 7)


def test_a_name_that_is_not_a_sha256_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Signatures(tmp_path).path("../../etc/passwd")
