"""The registry of a run's temporary files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fakeserver import PNG_BYTES
from helpers import (
    partial_files,
)

from dmxedit.core.temporaries import Temporaries
from dmxedit.store.results import Blob


def test_temporaries_made_after_an_interrupt_are_removed_at_once(tmp_path: Path) -> None:
    temporaries = Temporaries()
    first = Blob(tmp_path, temporaries)
    temporaries.remove_all()
    late = Blob(tmp_path, temporaries)  # a worker still finishing its download
    late.write(PNG_BYTES)
    assert not Path(first.path).exists() and not Path(late.path).exists()
    assert partial_files(tmp_path) == []


def test_a_file_made_but_not_yet_tracked_is_removed_by_an_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal landing between the file's creation and its tracking (the run's
    KeyboardInterrupt raised inside mkstemp's return) leaves no partial file."""
    import tempfile

    from dmxedit.core.temporaries import Temporaries

    real = tempfile.mkstemp
    made: list[str] = []

    def interrupted(*args: Any, **kwargs: Any) -> tuple[int, str]:
        fd, path = real(*args, **kwargs)
        os.close(fd)
        made.append(path)
        raise KeyboardInterrupt

    temporaries = Temporaries()
    other = tmp_path / ".dmxedit-1.other-x.part"  # another process's file: kept
    other.write_bytes(b"")
    monkeypatch.setattr(tempfile, "mkstemp", interrupted)
    with pytest.raises(KeyboardInterrupt):
        temporaries.make(str(tmp_path), ".dmxedit-42.host-", ".part")
    assert made and Path(made[0]).exists()
    temporaries.remove_all()
    assert not Path(made[0]).exists() and other.exists()
