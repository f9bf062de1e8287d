"""What tests share that is not a fixture: running dmxedit (in this process or as the
installed command), checking a run, files and processes, and the few helpers tests of
several layers use. Fixtures are in conftest.py; the fake DMXAPI is fakeserver.py.
``tests/`` is on the path (``pythonpath`` in pyproject.toml): ``from helpers import ...``
works from any folder; test files never import each other.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakeserver import EDITS, JPEG_BYTES, PNG_BYTES, WEBP_BYTES, FakeDMX, Reply, make_png

from dmxedit.api.request import build_request
from dmxedit.core.settings import Settings
from dmxedit.core.temporaries import Temporaries
from dmxedit.media.images import load_images
from dmxedit.store.results import Blob, Saver

KEY = "sk-testkey0123456789abcd"


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


def server_env(
    server: FakeDMX, key: str | None, env: dict[str, str] | None
) -> dict[str, str | None]:
    environ: dict[str, str | None] = {"DMXAPI_BASE_URL": server.base_url, "DMXAPI_API_KEY": key}
    environ.update(env or {})
    return environ


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


def block_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The world without the extra: importing PIL or pillow_heif fails from now on."""
    for name in ("PIL", "PIL.Image", "pillow_heif"):
        monkeypatch.setitem(sys.modules, name, None)


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


# A test's ``cli`` (or ``cli_process``) fixture: dmxedit run with these arguments.
Cli = Callable[..., Run]


# Used by tests of more than one layer.


def blob_of(folder: Path, data: bytes = PNG_BYTES) -> Blob:
    blob = Blob(folder, Temporaries())
    blob.write(data)
    return blob


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ledger_rows(tmp_path: Path) -> list[dict[str, Any]]:
    """Every entry of the test's ledger (``tmp_path/data/ledger.db``), read raw."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "data" / "ledger.db")
    db.row_factory = sqlite3.Row
    out = [dict(r) for r in db.execute("SELECT * FROM entries ORDER BY id")]
    db.close()
    return out


def last_lines(results: Path) -> dict[str, dict[str, Any]]:
    """Each job's last line in a results file (which must be valid UTF-8 JSON Lines)."""
    out: dict[str, dict[str, Any]] = {}
    for line in results.read_bytes().decode("utf-8").splitlines():
        record = json.loads(line)
        out[record["id"]] = record
    return out


def fifteen_images(tmp_path: Path) -> list[str]:
    paths = []
    for i in range(15):
        path = tmp_path / f"m{i}.png"
        path.write_bytes(make_png(8, 8, filler=i))
        paths.append(str(path))
    return paths


MiB = 1024 * 1024


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


WIDTH, HEIGHT = 640, 480


def png_header(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    """A PNG signature and IHDR chunk (with its CRC): enough for sniffing and the shape."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def sparse_png(path: Path, size: int, tail: bytes = b"") -> Path:
    """A ``size``-byte file: a PNG header, a hole of zeros (no disk used), then ``tail``."""
    with open(path, "wb") as fh:
        fh.write(png_header())
        fh.truncate(size)
        if tail:
            fh.seek(size - len(tail))
            fh.write(tail)
    assert path.stat().st_size == size
    return path


def unit_request(images: list[Path], **kwargs: Any) -> Any:
    params = kwargs.pop("params", ())
    return build_request(
        "edit",
        Settings(base_url="http://127.0.0.1:9/v1", **kwargs),
        images=load_images([str(p) for p in images]),
        prompt="make it snow",
        params=params,
    )


def finished(
    folder: Path, data: bytes, prefix: str = "edited", stamp: str = "20260101_000000"
) -> Path:
    saver = Saver(folder=folder, prefix=prefix, stamp=stamp)
    saver.prepare()
    blob = saver.new_blob()
    blob.write(data)
    saved = saver.finish(blob)
    assert saved.path is not None
    return saved.path


def images_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def answer_with_url(server: FakeDMX, name: str = "r.png", data: bytes = PNG_BYTES) -> str:
    url = server.add_file(name, data)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    return url


# What a command imports: run in a fresh interpreter, the heavy modules it loaded.
PROBE = """
import json, sys
sys.argv = ["dmxedit", *json.loads(sys.argv[1])]
from dmxedit.cli.app import run
code = run()
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0]
    in ("requests", "urllib3", "charset_normalizer", "idna", "sqlite3", "PIL", "pillow_heif",
        "mcp", "mcp_types", "pydantic", "anyio", "starlette", "uvicorn")
    or name in (
        "filelock", "dmxedit.api.client", "dmxedit.api.jsonstream", "dmxedit.api.multipart",
        "dmxedit.store.results", "dmxedit.store.ledger", "dmxedit.engine.pipeline",
    ) or name.startswith("dmxedit.mcp")
)
sys.stdout.flush()
print("\\nPROBE" + json.dumps({"code": code, "heavy": heavy}))
"""


def probe_imports(*args: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    marker = proc.stdout.rindex("PROBE")
    result: dict[str, object] = json.loads(proc.stdout[marker + len("PROBE") :])
    return result


__all__ = [
    "ledger_rows",
    "last_lines",
    "KEY",
    "PNG_BYTES",
    "JPEG_BYTES",
    "WEBP_BYTES",
    "make_png",
    "Run",
    "Cli",
    "dmxedit_command",
    "default_signals",
    "run_in_process",
    "run_process",
    "server_env",
    "expect",
    "partial_files",
    "start",
    "jobs_file",
    "block_pillow",
    "wait_until",
    "close_pipes",
]
