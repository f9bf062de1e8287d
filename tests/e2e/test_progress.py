"""What the user sees while a request runs (issue 3, point 5): on a terminal an upload
bar in bytes with rate and ETA, a spinner with elapsed time while the model works and a
download bar; elsewhere, or with --quiet, one plain line per stage or nothing."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakeserver import EDITS, FakeDMX, Reply, make_big_png
from helpers import KEY, Run, dmxedit_command

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal"),
]

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def _run_on_terminal(server: FakeDMX, *args: str) -> tuple[int, bytes, str]:
    """Run dmxedit with standard error on a pseudo-terminal; (exit, stdout, terminal text)."""
    import pty

    master, slave = pty.openpty()
    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY, TERM="xterm")
    proc = subprocess.Popen(
        [*dmxedit_command(), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the other side closed
                break
            if not data:
                break
            seen += data
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.stdout is not None
    with proc.stdout:
        stdout = proc.stdout.read()
    code = proc.wait(timeout=10)
    return code, stdout, ANSI.sub(b"", seen).decode("utf-8", "replace")


def test_terminal_shows_upload_bar_spinner_and_download_bar(
    server: FakeDMX, tmp_path: Path
) -> None:
    image = tmp_path / "big.png"
    image.write_bytes(make_big_png(8 * 1024 * 1024))
    result = make_big_png(2 * 1024 * 1024)
    server.script(EDITS, Reply(json=server.url_result(result), delay=1.6))
    code, stdout, text = _run_on_terminal(server, "edit", str(image), "-p", "snow", "-o", "out")
    assert code == 0, text
    saved = stdout.decode().strip()
    assert Path(saved).read_bytes() == result
    # Upload bar: bytes and the rate both in binary units, an ETA/elapsed column.
    assert "Uploading 1 image" in text
    assert re.search(r"8\.0/8\.0 MiB", text), text
    assert re.search(r"\d+(\.\d+)? [KMG]iB/s", text), text
    assert not re.search(r"\d [kMG]?B/s", text), text  # never MB/s beside MiB
    # Spinner with elapsed time while the model works (the server waits 1.6 s).
    assert "Waiting for the model" in text
    assert re.search(r"Waiting for the model\s+0:00:01", text), text
    # Download bar in bytes, then the saved path.
    assert re.search(r"Receiving the image.*2\.0/2\.0 MiB", text), text
    assert f"Saved {saved}" in text
    assert KEY not in text


def test_terminal_with_quiet_shows_no_progress(server: FakeDMX, png: Path) -> None:
    code, stdout, text = _run_on_terminal(server, "edit", str(png), "-p", "x", "-q")
    assert code == 0, text
    assert stdout.decode().startswith("output/edited_")
    assert "Uploading" not in text and "Waiting" not in text and "Saved" not in text


def test_plain_lines_when_stderr_is_not_a_terminal(cli, png: Path) -> None:  # type: ignore[no-untyped-def]
    run: Run = cli("edit", str(png), "-p", "x")
    assert run.code == 0, run.output
    lines = run.stderr.splitlines()
    assert [line.split(" (")[0].split(": HTTP")[0] for line in lines] == [
        "dmxedit: sending the request",
        "dmxedit: sent; waiting for the model",
        "dmxedit: answered",
        "dmxedit: receiving the image",
        f"dmxedit: saved {run.stdout.strip()}",
    ]
    assert "\x1b" not in run.stderr and "\r" not in run.stderr


def test_quiet_prints_nothing_on_stderr_when_all_goes_well(cli, png: Path) -> None:  # type: ignore[no-untyped-def]
    run: Run = cli("edit", str(png), "-p", "x", "--quiet")
    assert run.code == 0, run.output
    assert run.stderr == ""
    assert run.stdout.startswith("output/edited_")


def test_config_set_api_key_on_a_terminal_does_not_echo(tmp_path: Path) -> None:
    """`config set api-key` with no value asks on the terminal, input hidden (issue 2.4)."""
    import pty

    secret = "sk-typedsecret0000wxyz"
    pid, fd = pty.fork()
    if pid == 0:  # the child: dmxedit on a terminal of its own
        os.execv(dmxedit_command()[0], ["dmxedit", "config", "set", "api-key"])
    seen = b""

    def read(until: bytes, timeout: float = 20) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while until not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    data = os.read(fd, 1024)
                except OSError:
                    return
                if not data:
                    return
                seen += data

    read(b"hidden")
    os.write(fd, secret.encode() + b"\n")
    read(b"saved to")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert secret.encode() not in seen  # not echoed, not printed back
    assert b"sk-\xe2\x80\xa6wxyz" in seen  # shown masked
    path = Path(os.environ["DMXEDIT_CONFIG"])
    assert secret in path.read_text()


def test_batch_on_a_terminal_has_one_live_line(server: FakeDMX, tmp_path: Path) -> None:
    """done / failed / running / total and an ETA, on a terminal (issue 5.4)."""
    import json

    server.default_delay = 0.4
    server.on_request = lambda r: (
        Reply(status=400, json={"error": {"message": "no"}})
        if r.fields.get("prompt") == "job 3"
        else None
    )
    jobs = tmp_path / "jobs.jsonl"
    image = tmp_path / "a.png"
    image.write_bytes(make_big_png(1000))
    jobs.write_text(
        "".join(json.dumps({"images": [str(image)], "prompt": f"job {i}"}) + "\n" for i in range(6))
    )
    code, stdout, text = _run_on_terminal(server, "batch", str(jobs), "--concurrency", "2")
    assert code == 7, text
    assert len(stdout.decode().split()) == 5
    assert re.search(r"done \d+\s+failed \d+\s+running \d+\s+total 6", text), text
    assert "done 5  failed 1  running 0  total 6" in text
    assert re.search(r"\d+:\d\d:\d\d", text)  # the ETA column
    assert "(line 4) failed" in text and "no" in text
    assert "output/edited_" not in text  # data went to stdout, not through the display
