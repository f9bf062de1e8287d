"""Faults, end to end (issue 4): never lose a paid result, never pay twice.

Every test injects one fault through the fake server (or the environment), runs the
installed dmxedit, and checks how many POSTs and GETs the server saw, the exit code,
the message, and the files left behind. Backoff sleeps are zero (DMXEDIT_RETRY_DELAY=0);
only the tests about Retry-After wait for real, about a second.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    KEY,
    Run,
    default_signals,
    dmxedit_command,
    expect,
    partial_files,
    start,
    wait_until,
)
from fakeserver import EDITS, GENERATIONS, PNG_BYTES, FakeDMX, Recorded, Reply, make_big_png

pytestmark = pytest.mark.e2e

Cli = Callable[..., Run]
check = expect
partials = partial_files
_start = start
_when = wait_until
BILLED = "may have done the work"


def images_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- 1. what is retried, and what is not -----------------------------------------------------


def test_429_then_success_is_retried(cli: Cli, server: FakeDMX, png: Path, tmp_path: Path) -> None:
    server.script(EDITS, Reply(status=429, headers={"Retry-After": "0"}))
    run = check(cli("edit", str(png), "-p", "x"), 0)
    assert len(server.posts()) == 2 and len(server.gets()) == 1
    assert len(images_in(tmp_path / "output")) == 1
    assert "429" in run.stderr


def test_503_is_retried_retries_times_then_exit_5(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    server.script(EDITS, *[Reply(status=503)] * 3)
    check(cli("edit", str(png), "-p", "x"), 5, "503")
    assert len(server.posts()) == 3  # the first try and --retries 2
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


def test_retries_zero_sends_once(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=503))
    check(cli("edit", str(png), "-p", "x", "--retries", "0"), 5)
    assert len(server.posts()) == 1


def test_connection_refused_is_retried_and_says_so(cli: Cli, png: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}/v1"
    run = check(cli("edit", str(png), "-p", "x", "--base-url", base), 5)
    assert "connect" in run.stderr.lower()
    assert run.stderr.count("trying again") == 2


@pytest.mark.parametrize("status", [500, 502, 504, 524])
def test_server_errors_are_not_resent(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, status: int
) -> None:
    server.script(EDITS, Reply(status=status, json={"error": {"message": "upstream"}}))
    run = check(cli("edit", str(png), "-p", "x"), 5, str(status), BILLED)
    assert "--retry-server-errors" in run.stderr
    assert len(server.posts()) == 1 and server.gets() == []
    assert partials(tmp_path) == []


def test_read_timeout_is_not_resent(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(delay=4))
    run = check(cli("edit", str(png), "-p", "x", "--timeout", "0.3"), 5, BILLED)
    assert len(server.posts()) == 1
    assert "timeout" in run.stderr.lower() or "no answer" in run.stderr.lower()


def test_connection_dropped_after_upload_is_not_resent(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(drop=True))
    check(cli("edit", str(png), "-p", "x"), 5, "dropped", BILLED)
    assert len(server.posts()) == 1


def test_connection_dropped_during_upload_was_not_billed(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(make_big_png(24 * 1024 * 1024))
    server.script(EDITS, Reply(drop_before_read=True))
    run = check(cli("edit", str(big), "-p", "x"), 5, "during the upload", "not billed")
    # The server hung up before reading the body: the work cannot have been done, and
    # the message says so. SPEC section 4 lists the only automatic retries (no connection,
    # 429, 503), so dmxedit asks the user to run it again rather than resending.
    assert BILLED not in run.stderr
    (post,) = server.posts()
    assert not post.complete


@pytest.mark.parametrize("fault", [Reply(status=500), Reply(drop=True)])
def test_retry_server_errors_resends_and_warns_about_billing(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, fault: Reply
) -> None:
    server.script(EDITS, fault)
    run = check(cli("edit", str(png), "-p", "x", "--retry-server-errors"), 0)
    assert len(server.posts()) == 2
    assert "may have been billed" in run.stderr
    assert len(images_in(tmp_path / "output")) == 1


def test_retry_after_is_honoured(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=429, headers={"Retry-After": "0.4"}))
    check(cli("edit", str(png), "-p", "x"), 0)
    first, second = server.posts()
    assert second.started - first.finished >= 0.35


def test_retry_after_ms_is_honoured(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=503, headers={"retry-after-ms": "400"}))
    check(cli("edit", str(png), "-p", "x"), 0)
    first, second = server.posts()
    assert second.started - first.finished >= 0.35


@pytest.mark.parametrize("value", ["121", "3600", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_retry_after_over_120_s_stops_and_names_the_wait(
    cli: Cli, server: FakeDMX, png: Path, value: str
) -> None:
    server.script(EDITS, Reply(status=429, headers={"Retry-After": value}))
    started = time.monotonic()
    run = check(cli("edit", str(png), "-p", "x"), 5, "120 s")
    assert time.monotonic() - started < 10
    assert len(server.posts()) == 1
    if value.isdigit():
        assert f"{value} s" in run.stderr


def test_generate_follows_the_same_rules(cli: Cli, server: FakeDMX) -> None:
    server.script(GENERATIONS, Reply(status=429, headers={"Retry-After": "0"}), Reply(status=502))
    check(cli("generate", "-p", "x"), 5, BILLED)
    assert len(server.posts(GENERATIONS)) == 2


# -- 2. downloads and saving ----------------------------------------------------------------


def _url_answer(server: FakeDMX, name: str = "r.png", data: bytes = PNG_BYTES) -> str:
    url = server.add_file(name, data)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    return url


def test_download_is_retried_on_its_own(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    _url_answer(server)
    server.script("/files/r.png", Reply(status=500), Reply(status=503))
    run = check(cli("edit", str(png), "-p", "x"), 0)
    assert len(server.posts()) == 1 and len(server.gets()) == 3
    assert (tmp_path / run.stdout.strip()).read_bytes() == PNG_BYTES


def test_download_that_keeps_failing_prints_the_url(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    url = _url_answer(server)
    server.script("/files/r.png", *[Reply(status=500)] * 10)
    run = check(cli("edit", str(png), "-p", "x"), 6, url)
    assert run.stdout.strip() == url
    assert len(server.posts()) == 1 and len(server.gets()) >= 2
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


def test_truncated_download_never_leaves_a_partial_file(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    data = make_big_png(300_000)
    _url_answer(server, data=data)
    server.script(
        "/files/r.png", Reply(body=data, truncate_to=1000), Reply(body=data, truncate_to=5)
    )
    run = check(cli("edit", str(png), "-p", "x"), 0)
    assert len(server.posts()) == 1 and len(server.gets()) == 3
    assert (tmp_path / run.stdout.strip()).read_bytes() == data
    assert partials(tmp_path) == []


def test_downloaded_bytes_that_are_not_an_image(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    url = _url_answer(server, data=b"<html>expired</html>")
    run = check(cli("edit", str(png), "-p", "x"), 6, url)
    assert url in run.stdout
    assert len(server.posts()) == 1
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


@pytest.mark.parametrize("url", ["ftp://example.com/r.png", "file:///etc/passwd"])
def test_result_url_that_is_not_http_is_not_fetched(
    cli: Cli, server: FakeDMX, png: Path, url: str
) -> None:
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    run = check(cli("edit", str(png), "-p", "x"), 6)
    assert run.stdout.strip() == url
    assert server.gets() == []


def _break_output_folder(folder: Path) -> Callable[[Recorded], Reply | None]:
    """While the POST is answered, the output folder turns into a file (as a disk that
    went away would): works even for root, unlike permissions."""

    def hook(recorded: Recorded) -> Reply | None:
        if recorded.method == "POST":
            shutil.rmtree(folder)
            folder.write_text("not a folder any more")
        return None

    return hook


def test_url_result_with_an_unusable_output_folder_prints_the_url(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    url = _url_answer(server)
    server.on_request = _break_output_folder(folder)
    run = check(cli("edit", str(png), "-p", "x", "-o", str(folder)), 6, url)
    assert url in run.stdout
    assert len(server.posts()) == 1


def test_b64_result_with_an_unusable_output_folder_is_rescued(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    data = make_big_png(50_000)
    server.script(EDITS, Reply(json=server.b64_result(data)))
    folder = tmp_path / "out"
    folder.mkdir()
    server.on_request = _break_output_folder(folder)
    run = check(cli("edit", str(png), "-p", "x", "--format", "b64_json", "-o", str(folder)), 6)
    rescued = list((tmp_path / "rescued").glob("*.png"))
    assert len(rescued) == 1 and rescued[0].read_bytes() == data
    assert str(rescued[0]) in run.stdout
    assert len(server.posts()) == 1


def _limited_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_disk_full_while_saving_prints_the_url(server: FakeDMX, png: Path, tmp_path: Path) -> None:
    # A file-size limit makes every write past 64 KiB fail, as a full disk would.
    data = make_big_png(400_000)
    url = _url_answer(server, data=data)
    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        [*dmxedit_command(), "edit", str(png), "-p", "x"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        preexec_fn=_limited_file_size(64 * 1024),
    )
    assert proc.returncode == 6, proc.stderr
    assert url in proc.stdout and KEY not in proc.stdout + proc.stderr
    assert len(server.posts()) == 1
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


# -- 3. what errors say ----------------------------------------------------------------------


def test_api_error_shows_status_message_and_request_id(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(
        EDITS,
        Reply(
            status=400,
            json={"error": {"message": "image too small", "type": "invalid_request", "code": 1}},
            headers={"x-request-id": "req-abc-123"},
        ),
    )
    check(cli("edit", str(png), "-p", "x"), 4, "400", "image too small", "req-abc-123")


def test_html_error_page_is_reduced_to_its_title(cli: Cli, server: FakeDMX, png: Path) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
        + b"<p>cloudflare ray id SECRETPAGETEXT</p>" * 300
        + b"</body></html>"
    )
    server.script(EDITS, Reply(status=502, body=page, content_type="text/html"))
    run = check(cli("edit", str(png), "-p", "x"), 5, "502 Bad Gateway")
    assert "SECRETPAGETEXT" not in run.stderr and "<html" not in run.stderr.lower()


def test_plain_text_error_shows_its_first_line(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(
        EDITS,
        Reply(status=413, body=b"Payload too large\nsecond line\n", content_type="text/plain"),
    )
    run = check(cli("edit", str(png), "-p", "x"), 4, "413", "Payload too large")
    assert "second line" not in run.stderr


def test_200_with_an_error_object_is_exit_4(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(json={"error": {"message": "content policy violation"}}))
    check(cli("edit", str(png), "-p", "x"), 4, "content policy violation")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"data": [], "finish_reason": "SAFETY"}, "SAFETY"),
        ({"data": [{"revised_prompt": "I cannot draw that"}]}, "I cannot draw that"),
        ({"data": []}, "no image"),
    ],
)
def test_200_with_empty_data_gives_the_reason(
    cli: Cli, server: FakeDMX, png: Path, body: dict[str, object], reason: str
) -> None:
    server.script(EDITS, Reply(json=body))
    check(cli("edit", str(png), "-p", "x"), 4, reason)


# -- 4. Ctrl-C at every stage -----------------------------------------------------------------


def _interrupt(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=10)  # an interrupt that hangs fails here
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, (out + err).decode("utf-8", "replace")


def _slow_reader_stage(server: FakeDMX) -> Callable[[], bool]:
    return lambda: server.active > 0


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


def test_interrupt_during_the_download(server: FakeDMX, png: Path, tmp_path: Path) -> None:
    data = make_big_png(2_000_000)
    _url_answer(server, data=data)
    server.script("/files/r.png", Reply(body=data, truncate_to=600_000, stall=30))
    proc = _start(server, tmp_path, "edit", str(png), "-p", "x")
    _when(lambda: len(server.gets()) == 1)
    # The download streams straight into a temporary file in the output folder, in
    # pieces of 256 KiB: two are on disk while the rest has not arrived.
    _when(lambda: any(p.stat().st_size >= 512 * 1024 for p in partials(tmp_path / "output")))
    code, output = _interrupt(proc)
    assert code == 130, output
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


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


# -- 5. the key goes only to the base URL -----------------------------------------------------


def test_key_is_not_sent_to_the_download_host(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    # The result lives on "another host" (localhost instead of 127.0.0.1).
    url = server.add_file("r.png", PNG_BYTES).replace("127.0.0.1", "localhost")
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    check(cli("edit", str(png), "-p", "x"), 0)
    assert server.posts()[0].headers["authorization"] == f"Bearer {KEY}"
    (get,) = server.gets()
    assert "authorization" not in get.headers
    assert KEY not in str(get.headers)


def test_redirect_from_the_post_is_not_followed(cli: Cli, server: FakeDMX, png: Path) -> None:
    elsewhere = FakeDMX().start()
    try:
        server.script(
            EDITS, Reply(status=307, headers={"Location": elsewhere.base_url + "/images/edits"})
        )
        run = cli("edit", str(png), "-p", "x")
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()
    assert run.code == 3, run.output
    assert "307" in run.stderr and KEY not in run.stdout + run.stderr
    assert len(server.posts()) == 1


def test_key_never_printed_verbose_dry_run_or_errors(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=401, json={"error": {"message": f"bad key {KEY[:6]}"}}))
    runs = [
        cli("edit", str(png), "-p", "x", "-v"),
        cli("edit", str(png), "-p", "x", "-v"),
        cli("edit", str(png), "-p", "x", "--dry-run", "-v"),
        cli("generate", "-p", "x", "--dry-run", "--json"),
        cli("config", "list", "--json"),
        cli("edit", str(png), "-p", "x", "--json", env={"DMXEDIT_DEBUG": "1"}),
    ]
    for run in runs:
        assert KEY not in run.stdout + run.stderr, run.output
        assert KEY[3:-4] not in run.stdout + run.stderr


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_disk_full_everywhere_for_a_b64_result_is_exit_6_not_a_crash(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    server.script(EDITS, Reply(json=server.b64_result(make_big_png(400_000))))
    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        [*dmxedit_command(), "edit", str(png), "-p", "x", "--format", "b64_json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        preexec_fn=_limited_file_size(64 * 1024),
    )
    assert proc.returncode == 6, proc.stderr
    assert "could not be written" in proc.stderr and "Traceback" not in proc.stderr
    assert len(server.posts()) == 1
    assert partials(tmp_path) == []
