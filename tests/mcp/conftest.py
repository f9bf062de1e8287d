"""The MCP tests' session: the server's state with the fake DMXAPI as its site and the
folder of the test as its one root (a photo.png in it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakeserver import FakeDMX, make_png
from helpers import KEY

from dmxedit.mcp.confine import Confinement
from dmxedit.mcp.tools import Session


@pytest.fixture
def session(server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    monkeypatch.setenv("DMXAPI_BASE_URL", server.base_url)
    monkeypatch.setenv("DMXAPI_API_KEY", KEY)
    (tmp_path / "photo.png").write_bytes(make_png(40, 30))
    return Session(Confinement.of([], None, tmp_path), dict(os.environ))
