"""Ctrl-C and SIGTERM on the gemini door, as on the images door: nothing partial is left,
an interrupt after the body went out is recorded as "may have been billed", and the run
ends with exit 130."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import fakegemini
import pytest
from fakeserver import FakeDMX, Reply, make_big_png
from helpers import KEY, images_in, partial_files, start, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.e2e]
FLASH = "gemini-3.1-flash-image"


def _interrupt(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, (out + err).decode("utf-8", "replace")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_while_the_gemini_model_works(
    server: FakeDMX, png: Path, tmp_path: Path, sig: int
) -> None:
    server.script(fakegemini.path(FLASH), Reply(delay=30))
    proc = start(server, tmp_path, "edit", str(png), "-p", "x", "-m", FLASH)
    wait_until(lambda: len(server.posts()) == 1)
    code, output = _interrupt(proc, sig)
    assert code in (130, 143), output
    assert "Traceback" not in output and KEY not in output
    assert "may have been billed" in output
    assert images_in(tmp_path / "output") == [] and partial_files(tmp_path) == []
    assert len(server.posts()) == 1


def test_interrupt_while_a_gemini_answer_streams_in(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    data = make_big_png(3_000_000)
    server.script(
        fakegemini.path(FLASH),
        Reply(
            json=fakegemini.inline_answer(data), chunked=True, chunk_size=100_000, chunk_pause=0.2
        ),
    )
    proc = start(server, tmp_path, "edit", str(png), "-p", "x", "-m", FLASH)
    wait_until(lambda: len(server.posts()) == 1)
    wait_until(lambda: any(p.stat().st_size > 0 for p in partial_files(tmp_path)))
    code, output = _interrupt(proc)
    assert code == 130, output
    assert images_in(tmp_path / "output") == [] and partial_files(tmp_path) == []
