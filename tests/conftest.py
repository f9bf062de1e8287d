"""Shared fixtures: every test runs in a world of its own.

No test reads the user's config or key, or reaches a real host: DMXEDIT_CONFIG points
into tmp_path, DMXAPI_* are cleared, backoff delays are zero, and HTTP goes to
``responses`` or to the project's fake server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    monkeypatch.setenv("DMXEDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
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


def run_in_process(
    args: Sequence[str],
    *,
    input: bytes | None = b"",
    env: dict[str, str | None] | None = None,
    **facts: Any,
) -> Run:
    """dmxedit's CLI run in this process with an in-memory run context: the same code
    path as the installed command, from argv to the exit code, in milliseconds."""
    from dmxedit.cli.app import run
    from dmxedit.cli.context import RunContext

    with pytest.MonkeyPatch.context() as patch:
        for name, value in (env or {}).items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        ctx = RunContext.in_memory(stdin=input, **facts)
        code = run(list(args), ctx)
    out = ctx.output()
    return Run(
        code=code,
        stdout=out.decode("utf-8", "replace"),
        stderr=ctx.errors(),
        stdout_bytes=out,
    )


def run_process(
    args: Sequence[str],
    *,
    cwd: Path,
    input: bytes | None = b"",
    env: dict[str, str | None] | None = None,
    timeout: float = 60,
) -> Run:
    """The installed dmxedit as a real process (for signals, terminals, packaging)."""
    environ = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    proc = subprocess.run(
        [*dmxedit_command(), *args],
        input=input if input is not None else b"",
        capture_output=True,
        env=environ,
        cwd=cwd,
        timeout=timeout,
        preexec_fn=default_signals,
    )
    return Run(
        code=proc.returncode,
        stdout=proc.stdout.decode("utf-8", "replace"),
        stderr=proc.stderr.decode("utf-8", "replace"),
        stdout_bytes=proc.stdout,
    )


def default_signals() -> None:
    """In a child: SIGINT and SIGTERM as a fresh process has them, whatever pytest had
    (a pytest started in the background ignores SIGINT, and its children would too)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _server_env(
    server: FakeDMX, key: str | None, env: dict[str, str] | None
) -> dict[str, str | None]:
    environ: dict[str, str | None] = {"DMXAPI_BASE_URL": server.base_url, "DMXAPI_API_KEY": key}
    environ.update(env or {})
    return environ


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
            env=_server_env(server, key, env),
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
            args, cwd=tmp_path, input=input, env=_server_env(server, key, env), timeout=timeout
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


def start(
    server: FakeDMX,
    cwd: Path,
    *args: str,
    base_url: str | None = None,
    stderr: Any = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """The installed dmxedit, running in the background against ``server`` (or
    ``base_url``); ``stderr`` may be an open file the test watches."""
    env = dict(os.environ, DMXAPI_BASE_URL=base_url or server.base_url, DMXAPI_API_KEY=KEY)
    return subprocess.Popen(
        [*dmxedit_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env=env,
        cwd=cwd,
        preexec_fn=default_signals,
    )


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


def block_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The world without the extra: importing PIL or pillow_heif fails from now on."""
    for name in ("PIL", "PIL.Image", "pillow_heif"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def no_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    block_pillow(monkeypatch)


def jobs_file(tmp_path: Path, count: int) -> Path:
    """``jobs/jobs.jsonl`` with ``count`` edit jobs j0.. (prompts job-0..), images beside it."""
    from fakeserver import make_png

    folder = tmp_path / "jobs"
    folder.mkdir(exist_ok=True)
    lines = []
    for i in range(count):
        (folder / f"i{i}.png").write_bytes(make_png(10 + i, 8, filler=i))
        lines.append(json.dumps({"id": f"j{i}", "images": [f"i{i}.png"], "prompt": f"job-{i}"}))
    path = folder / "jobs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


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
    "default_signals",
    "run_in_process",
    "run_process",
    "expect",
    "partial_files",
    "start",
    "jobs_file",
    "block_pillow",
    "wait_until",
    "close_pipes",
]
