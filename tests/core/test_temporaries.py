"""The registry of a run's temporary files."""

from __future__ import annotations

from pathlib import Path

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
