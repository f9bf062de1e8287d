"""Standard output that cannot be written, in a real process (issue 20, point 5): full
(/dev/full) with --json, and closed before dmxedit starts (>&-). The saved path goes to
standard error, the exit code says so (6), and there is never a traceback."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from fakeserver import FakeDMX
from helpers import KEY, dmxedit_command


def _sh(
    server: FakeDMX, tmp_path: Path, redirect: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        DMXAPI_BASE_URL=server.base_url,
        DMXAPI_API_KEY=KEY,
        DMXEDIT_DATA_DIR=str(tmp_path / "data"),
    )
    command = " ".join(shlex.quote(a) for a in [*dmxedit_command(), *args])
    return subprocess.run(
        ["sh", "-c", f"exec {command} {redirect}"],
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


@pytest.mark.parametrize("json", [False, True], ids=["plain", "json"])
def test_a_closed_standard_output(server: FakeDMX, tmp_path: Path, json: bool) -> None:
    args = ["generate", "-p", "x", "-q", *(["--json"] if json else [])]
    done = _sh(server, tmp_path, ">&-", *args)
    assert done.returncode == 6, done.stderr
    assert "Traceback" not in done.stderr and "standard output is closed" in done.stderr
    (saved,) = list((tmp_path / "output").iterdir())
    assert str(Path("output") / saved.name) in done.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_full_standard_output_with_json(server: FakeDMX, tmp_path: Path) -> None:
    done = _sh(server, tmp_path, ">/dev/full", "generate", "-p", "x", "-q", "--json")
    assert done.returncode == 6, done.stderr
    assert "Traceback" not in done.stderr and "No space left" in done.stderr
    (saved,) = list((tmp_path / "output").iterdir())
    assert saved.name in done.stderr
