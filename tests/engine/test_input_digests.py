"""The inputs' SHA-256 (recorded in the ledger and the metadata sidecar) are computed on
a thread of their own beside the upload, not in the upload's thread (issue 22, point 7)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fakeserver import make_png
from helpers import Cli, expect

from dmxedit.api import multipart
from dmxedit.media import digests


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {"threads": []}
    real_sha = digests._sha256

    def sha(image: Any) -> str | None:
        seen["threads"].append(threading.current_thread().name)
        return real_sha(image)

    monkeypatch.setattr(digests, "_sha256", sha)
    return seen


def test_the_ledger_gets_each_inputs_digest_from_the_hashing_thread(
    cli: Cli, png: Path, jpeg: Path, hashing: dict[str, Any]
) -> None:
    expect(cli("edit", str(png), str(jpeg), "-p", "x"))
    assert hashing["threads"] == ["dmxedit-sha256", "dmxedit-sha256"]
    assert not hasattr(multipart.MultipartBody, "sha256")  # the upload's thread hashes nothing
    run = expect(cli("history", "show", "1", "--json"))
    inputs = json.loads(run.stdout)["inputs"]
    assert [i["sha256"] for i in inputs] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in (png, jpeg)
    ]


def test_the_sidecar_gets_them_with_the_ledger_off(
    cli: Cli, png: Path, tmp_path: Path, hashing: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DMXEDIT_NO_HISTORY", "1")
    out = tmp_path / "out"
    run = expect(cli("edit", str(png), "-p", "x", "-o", str(out), "--save-metadata"))
    saved = Path(run.stdout.strip())
    meta = json.loads(Path(f"{saved}.json").read_text())
    assert meta["inputs"][0]["sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()
    assert hashing["threads"] == ["dmxedit-sha256"]


def test_nothing_is_hashed_when_nothing_records_it(
    cli: Cli, png: Path, hashing: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DMXEDIT_NO_HISTORY", "1")
    expect(cli("edit", str(png), "-p", "x"))
    assert hashing["threads"] == []


def _age(path: Path, seconds: float = 60) -> None:
    """Make a file look written a while ago (a fresh file is hashed but not remembered)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_an_input_edited_again_is_not_hashed_again(
    cli: Cli, png: Path, hashing: dict[str, Any]
) -> None:
    _age(png)
    expect(cli("edit", str(png), "-p", "x"))
    expect(cli("edit", str(png), "-p", "y"))
    assert hashing["threads"] == ["dmxedit-sha256"]  # the second edit found it known
    second = json.loads(expect(cli("history", "show", "2", "--json")).stdout)
    assert second["inputs"][0]["sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()


def test_a_changed_input_is_hashed_anew(
    cli: Cli, png: Path, tmp_path: Path, hashing: dict[str, Any]
) -> None:
    _age(png)
    expect(cli("edit", str(png), "-p", "x"))
    png.write_bytes(make_png(33, 21))  # new content, new size and mtime
    _age(png, 30)
    expect(cli("edit", str(png), "-p", "y"))
    assert len(hashing["threads"]) == 2
    second = json.loads(expect(cli("history", "show", "2", "--json")).stdout)
    assert second["inputs"][0]["sha256"] == hashlib.sha256(png.read_bytes()).hexdigest()


def test_a_file_written_just_now_is_not_remembered(
    cli: Cli, png: Path, hashing: dict[str, Any]
) -> None:
    os.utime(png)  # now: a write in the same tick could keep size and mtime
    expect(cli("edit", str(png), "-p", "x"))
    expect(cli("edit", str(png), "-p", "y"))
    assert len(hashing["threads"]) == 2
