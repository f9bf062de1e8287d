"""Shared fixtures: every test runs in a world of its own.

No test reads the user's config or key, or reaches a real host: DMXEDIT_CONFIG points
into tmp_path, DMXAPI_* are cleared, backoff delays are zero, and HTTP goes to
``responses`` or to the project's fake server on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import JPEG_BYTES, PNG_BYTES, WEBP_BYTES, FakeDMX, make_png  # noqa: E402

KEY = "sk-testkey0123456789abcd"


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
    monkeypatch.setenv("DMXEDIT_RETRY_DELAY", "0")
    monkeypatch.setenv("NO_COLOR", "1")
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


def dmxedit_command() -> list[str]:
    """The installed console script (next to this interpreter), else the PATH's."""
    candidate = Path(sys.executable).parent / "dmxedit"
    if candidate.exists():
        return [str(candidate)]
    found = shutil.which("dmxedit")
    if found is None:
        pytest.fail("the dmxedit command is not installed (pip install -e '.[dev]')")
    return [found]


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes

    @property
    def output(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@pytest.fixture
def cli(server: FakeDMX, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the installed dmxedit against the fake server, with a key in the environment."""

    def run(
        *args: str,
        key: str | None = KEY,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Run:
        environ = dict(os.environ)
        environ["DMXAPI_BASE_URL"] = server.base_url
        if key is not None:
            environ["DMXAPI_API_KEY"] = key
        environ.update(env or {})
        proc = subprocess.run(
            [*dmxedit_command(), *args],
            input=input if input is not None else b"",
            capture_output=True,
            env=environ,
            cwd=tmp_path,
            timeout=timeout,
        )
        return Run(
            code=proc.returncode,
            stdout=proc.stdout.decode("utf-8", "replace"),
            stderr=proc.stderr.decode("utf-8", "replace"),
            stdout_bytes=proc.stdout,
        )

    return run


def expect(run: Run, code: int = 0, *phrases: str) -> Run:
    """The exit code and each phrase on stderr; never the key, never a traceback."""
    assert run.code == code, run.output
    assert KEY not in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    for phrase in phrases:
        assert phrase in run.stderr, run.output
    return run


def partial_files(root: Path) -> list[Path]:
    """Temporary result files left under ``root`` (there must never be any)."""
    return [p for p in root.rglob("*") if ".part" in p.name or p.name.startswith(".dmxedit")]


def start(server: FakeDMX, cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    """The installed dmxedit, running in the background against ``server``."""
    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY)
    return subprocess.Popen(
        [*dmxedit_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the run to get there")
        time.sleep(0.02)


def close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


__all__ = [
    "KEY",
    "PNG_BYTES",
    "JPEG_BYTES",
    "WEBP_BYTES",
    "make_png",
    "Run",
    "dmxedit_command",
    "expect",
    "partial_files",
    "start",
    "wait_until",
    "close_pipes",
]
