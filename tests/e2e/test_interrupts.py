"""Ctrl+C and SIGTERM on the installed dmxedit: what is kept, what is removed, and what
is not sent again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from fakeserver import (
    EDITS,
    PNG_BYTES,
    FakeDMX,
    Reply,
    make_big_png,
)
from helpers import (
    KEY,
    Cli,
    answer_with_url,
    close_pipes,
    default_signals,
    dmxedit_command,
    expect,
    images_in,
    jobs_file,
    partial_files,
    read_records,
    start,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

_jobs = jobs_file


def _batch_process(server: FakeDMX, tmp_path: Path, *args: str) -> tuple[Any, Path]:
    """A batch as a real process, its stderr going to a file the test can watch."""
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as sink:
        proc = start(server, tmp_path, "batch", *args, stderr=sink)
    return proc, err


def _slow_results(server: FakeDMX, count: int) -> tuple[list[str], bytes]:
    big = PNG_BYTES + os.urandom(2 * 1024 * 1024)
    urls = [server.add_file(f"slow{i}.png", big) for i in range(count)]
    server.script(EDITS, *[Reply(json={"data": [{"url": url}]}) for url in urls])
    for i in range(count):
        server.script(
            f"/files/slow{i}.png", Reply(body=big, chunked=True, chunk_size=8192, chunk_pause=0.05)
        )
    return urls, big


partials = partial_files


_start = start


_when = wait_until


def _interrupt(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)  # an interrupt that hangs fails here
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, (out + err).decode("utf-8", "replace")


@pytest.mark.e2e
def test_a_batch_killed_after_a_request_went_out_does_not_resend_it(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 3)
    log = jobs.with_name("jobs.results.jsonl")
    server.on_request = lambda r: Reply(delay=60) if r.fields.get("prompt") == "job-1" else None
    proc = start(server, tmp_path, "batch", str(jobs), "--concurrency", "1")
    posts = server.posts
    wait_until(lambda: any(p.fields.get("prompt") == "job-1" and p.complete for p in posts()))
    wait_until(
        lambda: any(r.get("id") == "j1" for r in read_records(log)) if log.exists() else False
    )
    proc.kill()
    proc.wait(timeout=10)
    close_pipes(proc)
    sent = [{k: r[k] for k in ("id", "line", "status")} for r in read_records(log)]
    assert {"id": "j1", "line": 2, "status": "sent"} in sent
    server.on_request = None
    run = cli("batch", str(jobs), "--concurrency", "1")
    assert run.code == 7, run.output
    assert "--resend-unknown" in run.stderr
    prompts = [p.fields.get("prompt") for p in server.posts()]
    assert prompts.count("job-1") == 1  # not paid twice
    assert prompts.count("job-0") == 1 and prompts.count("job-2") == 1


@pytest.mark.e2e
def test_a_second_ctrl_c_abandons_a_batch_download_and_leaves_no_temporary_file(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 2)
    urls, big = _slow_results(server, 2)
    output = tmp_path / "output"
    proc, err = _batch_process(server, tmp_path, str(jobs), "--concurrency", "2")
    wait_until(lambda: output.exists() and len(partial_files(output)) == 2)
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: "Ctrl-C again" in err.read_text())
    assert proc.poll() is None  # the first Ctrl-C lets the running jobs finish
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130, err.read_text()
    assert "abandoned" in err.read_text()
    assert partial_files(tmp_path) == []
    # Both answers arrived before the interrupt: their URLs are in the results file, and a
    # re-run downloads them without paying again.
    log = jobs.with_name("jobs.results.jsonl")
    answered = {r["id"]: r["urls"] for r in read_records(log) if r["status"] == "answered"}
    assert sorted(u for found in answered.values() for u in found) == sorted(urls)
    for i in range(2):
        server.script(f"/files/slow{i}.png", Reply(body=big))
    run = expect(cli("batch", str(jobs)))
    assert len(server.posts()) == 2
    assert "downloading 2 already paid" in run.stderr
    assert sorted(Path(p).read_bytes() == big for p in run.stdout.split()) == [True, True]


@pytest.mark.e2e
def test_a_first_ctrl_c_lets_running_jobs_finish_and_starts_no_new_one(
    server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 4)
    server.default_delay = 0.5
    proc, err = _batch_process(server, tmp_path, str(jobs), "--concurrency", "1")
    wait_until(lambda: len(server.posts()) == 1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130, err.read_text()
    text = err.read_text()
    assert "1 running job will finish and save (it is paid for)" in text
    assert len(server.posts()) == 1  # nothing new started after the Ctrl-C
    log = jobs.with_name("jobs.results.jsonl")
    assert [r["id"] for r in read_records(log) if r["status"] == "ok"] == ["j0"]
    assert len(out.split()) == 1 and Path(tmp_path, out.split()[0].decode()).is_file()
    assert partial_files(tmp_path) == []


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_while_waiting_for_the_model(
    server: FakeDMX, png: Path, tmp_path: Path, sig: int
) -> None:
    server.script(EDITS, Reply(delay=30))
    proc = _start(server, tmp_path, "edit", str(png), "-p", "x")
    _when(lambda: len(server.posts()) == 1)
    code, output = _interrupt(proc, sig)
    assert code == 130, output
    assert "Traceback" not in output and KEY not in output
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


@pytest.mark.e2e
def test_interrupt_during_the_upload(server: FakeDMX, tmp_path: Path) -> None:
    # The server reads nothing until the client is interrupted: the upload hangs
    # with its socket buffers full.
    big = tmp_path / "big.png"
    big.write_bytes(make_big_png(48 * 1024 * 1024))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    env = dict(os.environ, DMXAPI_BASE_URL=f"http://127.0.0.1:{port}/v1", DMXAPI_API_KEY=KEY)
    proc = subprocess.Popen(
        [*dmxedit_command(), "edit", str(big), "-p", "x"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        preexec_fn=default_signals,
    )
    try:
        listener.settimeout(20)
        conn, _ = listener.accept()
        conn.recv(65536)  # the headers and a little of the body, then nothing
        time.sleep(0.3)
        code, output = _interrupt(proc)
        conn.close()
    finally:
        listener.close()
    assert code == 130, output
    assert "Traceback" not in output
    assert partials(tmp_path) == [] and images_in(tmp_path / "output") == []


@pytest.mark.e2e
def test_interrupt_during_the_download(server: FakeDMX, png: Path, tmp_path: Path) -> None:
    data = make_big_png(2_000_000)
    answer_with_url(server, data=data)
    server.script("/files/r.png", Reply(body=data, truncate_to=600_000, stall=30))
    proc = _start(server, tmp_path, "edit", str(png), "-p", "x")
    _when(lambda: len(server.gets()) == 1)
    # The download streams straight into a temporary file in the output folder, in
    # pieces of 256 KiB: two are on disk while the rest has not arrived.
    _when(lambda: any(p.stat().st_size >= 512 * 1024 for p in partials(tmp_path / "output")))
    code, output = _interrupt(proc)
    assert code == 130, output
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


@pytest.mark.e2e
def test_interrupt_while_a_b64_answer_streams_in(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    data = make_big_png(3_000_000)
    server.script(
        EDITS,
        Reply(json=server.b64_result(data), chunked=True, chunk_size=100_000, chunk_pause=0.2),
    )
    proc = _start(server, tmp_path, "edit", str(png), "-p", "x", "--format", "b64_json")
    _when(lambda: len(server.posts()) == 1)
    # Some base64 decoded into the temporary file already:
    _when(lambda: any(p.stat().st_size > 0 for p in partials(tmp_path)))
    code, output = _interrupt(proc)
    assert code == 130, output
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []
