"""One batch at a time per results file, and no ``.lock`` file left beside it (issue 21,
point 17): the lock file goes when the batch releases it, also after a jobs file that
failed validation; only its holder removes it; and a second batch racing the release
is still refused (the lock is taken again when the file it locked is no longer the one
at the path)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeDMX, make_png
from helpers import Cli, expect

from dmxedit.batch.resultsfile import ResultsLock

posix = pytest.mark.skipif(os.name != "posix", reason="flock: Windows removes it its own way")


def jobs_file(tmp_path: Path, lines: list[Any]) -> Path:
    (tmp_path / "a.png").write_bytes(make_png(12, 10))
    path = tmp_path / "jobs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".lock"))


def test_no_lock_file_is_left_after_a_batch(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    jobs = jobs_file(tmp_path, [{"id": "a", "images": ["a.png"], "prompt": "x"}])
    expect(cli("batch", str(jobs)))
    assert (tmp_path / "jobs.results.jsonl").is_file()
    assert leftovers(tmp_path) == []


def test_no_lock_file_is_left_after_a_jobs_file_that_failed_validation(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, [{"id": "a", "images": ["missing.png"], "prompt": "x"}])
    expect(cli("batch", str(jobs)), 2, "line 1")
    assert leftovers(tmp_path) == []
    assert server.posts() == []


def test_a_batch_refused_by_a_held_lock_leaves_the_holders_file(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, [{"id": "a", "images": ["a.png"], "prompt": "x"}])
    held = ResultsLock(tmp_path / "jobs.results.jsonl.lock")
    assert held.acquire()
    try:
        expect(cli("batch", str(jobs)), 2, "Another dmxedit batch is writing")
        assert server.posts() == []
        assert leftovers(tmp_path) == ["jobs.results.jsonl.lock"]  # the holder's, kept
    finally:
        held.release()
    assert leftovers(tmp_path) == []
    expect(cli("batch", str(jobs)))  # released: the next batch runs


def test_the_lock_is_exclusive_and_can_be_taken_again(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl.lock"
    first, second = ResultsLock(path), ResultsLock(path)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert not path.exists()
    assert second.acquire() and path.exists()
    second.release()
    assert not path.exists()


@posix
def test_a_batch_that_locks_the_file_just_unlinked_tries_again_and_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race of unlinking a locked file: B opens the lock file, then A releases it
    (unlinks it) and C takes the lock on a new file at the same path, and only then does
    B's flock succeed, on the old file. B must see that and be refused, as C holds it."""
    import fcntl

    path = tmp_path / "r.jsonl.lock"
    a, b, c = ResultsLock(path), ResultsLock(path), ResultsLock(path)
    assert a.acquire()
    real = fcntl.flock
    raced: list[int] = []

    def flock(fd: int, operation: int) -> None:
        if not raced:  # B, between its open and its flock
            raced.append(fd)
            a.release()
            assert c.acquire()
        real(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    assert not b.acquire()  # C holds the file now at the path
    monkeypatch.setattr(fcntl, "flock", real)
    assert raced and path.exists()
    c.release()
    assert not path.exists()
    assert b.acquire()
    b.release()


@posix
def test_only_the_holder_removes_the_lock_file(tmp_path: Path) -> None:
    """Someone removed the holder's file and another batch made (and locked) a new one:
    the first holder's release leaves that new file alone."""
    path = tmp_path / "r.jsonl.lock"
    first, second = ResultsLock(path), ResultsLock(path)
    assert first.acquire()
    path.unlink()
    assert second.acquire()
    first.release()
    assert path.exists()  # the second holder's file
    third = ResultsLock(path)
    assert not third.acquire()
    second.release()
    assert not path.exists()
