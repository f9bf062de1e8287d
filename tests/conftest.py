"""Shared fixtures: every test runs in a world of its own.

No test reads the user's config or key, or reaches a real host: DMXEDIT_CONFIG points
into tmp_path, DMXAPI_* are cleared, backoff delays are zero, and HTTP goes to
``responses`` or to the project's fake server on 127.0.0.1. The helpers the fixtures
use (``Run``, ``expect``, ``run_in_process``, ...) are in helpers.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeserver import JPEG_BYTES, WEBP_BYTES, FakeDMX, make_png
from helpers import KEY, Run, block_pillow, run_in_process, run_process, server_env


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point config, cache and rescue folders into tmp_path; clear keys; no backoff."""
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(("DMXAPI_", "DMXEDIT_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("DMXEDIT_CONFIG", str(tmp_path / "config" / "config.toml"))
    monkeypatch.setenv("DMXEDIT_RESCUE_DIR", str(tmp_path / "rescued"))
    monkeypatch.setenv("DMXEDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("DMXEDIT_RETRY_DELAY", "0")
    monkeypatch.setenv("NO_COLOR", "1")
    # English messages (issue #26): whatever the developer's locale; the tests of
    # Chinese set DMXEDIT_LANG or LANG themselves. C.UTF-8 keeps the streams UTF-8.
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("COLUMNS", "200")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(make_png(40, 30))
    return path


@pytest.fixture
def jpeg(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(JPEG_BYTES)
    return path


@pytest.fixture
def webp(tmp_path: Path) -> Path:
    path = tmp_path / "photo.webp"
    path.write_bytes(WEBP_BYTES)
    return path


@pytest.fixture
def server() -> Iterator[FakeDMX]:
    with FakeDMX() as fake:
        yield fake


@pytest.fixture
def cli(server: FakeDMX, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run dmxedit in-process against the fake server, with a key in the environment."""

    def run(
        *args: str,
        key: str | None = KEY,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,  # a subprocess's limit; nothing to limit in-process
        **facts: Any,
    ) -> Run:
        return run_in_process(
            args,
            input=input if input is not None else b"",
            env=server_env(server, key, env),
            **facts,
        )

    return run


@pytest.fixture
def cli_process(server: FakeDMX, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the installed dmxedit as a subprocess against the fake server."""

    def run(
        *args: str,
        key: str | None = KEY,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Run:
        return run_process(
            args, cwd=tmp_path, input=input, env=server_env(server, key, env), timeout=timeout
        )

    return run


@pytest.fixture
def pil() -> Any:
    """PIL.Image with the HEIF opener; skipped without the extra, but never on CI (it
    installs dmxedit[images], so a missing Pillow there is a broken setup)."""
    try:
        import pillow_heif
        from PIL import Image
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install dmxedit[images] (Pillow, pillow-heif)")
        pytest.skip("needs the optional extra dmxedit[images]")
    pillow_heif.register_heif_opener()
    return Image


@pytest.fixture
def no_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    block_pillow(monkeypatch)


@pytest.fixture
def session(server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The MCP server's session (tests/mcp): the fake DMXAPI as its site and the test's
    folder as its one root, a photo.png in it (the SDK is imported only by those tests)."""
    from dmxedit.mcp.confine import Confinement
    from dmxedit.mcp.tools import Session

    monkeypatch.setenv("DMXAPI_BASE_URL", server.base_url)
    monkeypatch.setenv("DMXAPI_API_KEY", KEY)
    (tmp_path / "photo.png").write_bytes(make_png(40, 30))
    return Session(Confinement.of([], None, tmp_path), dict(os.environ))
