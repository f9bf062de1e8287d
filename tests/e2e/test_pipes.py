"""The installed dmxedit writing into pipes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from fakeserver import PNG_BYTES, FakeDMX
from helpers import KEY, default_signals, dmxedit_command

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.mark.e2e
@pytest.mark.skipif(os.name != "posix", reason="pipes")
def test_o_dash_into_a_closed_pipe_keeps_the_result_and_says_where(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: writing the image fails with EPIPE
    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        [*dmxedit_command(), "edit", str(png), "-p", "x", "-o", "-"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        timeout=60,
        preexec_fn=default_signals,
    )
    os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 6, err
    assert "Traceback" not in err
    kept = [w for w in err.split() if w.startswith(os.environ["DMXEDIT_RESCUE_DIR"])]
    assert kept and Path(kept[0].rstrip(".")).read_bytes() == PNG_BYTES
