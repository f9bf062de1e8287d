"""The client against a failing server, through the command: retries, errors, downloads."""

from __future__ import annotations

import base64
import json
import socket
import time
from pathlib import Path

import pytest
from fakeserver import (
    EDITS,
    GENERATIONS,
    PNG_BYTES,
    FakeDMX,
    Reply,
    make_big_png,
)
from helpers import (
    Cli,
    answer_with_url,
    expect,
    images_in,
    partial_files,
)

check = expect


partials = partial_files


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BILLED = "may have done the work"


@pytest.mark.e2e
def test_a_json_answer_with_a_utf8_bom_is_read(cli: Cli, server: FakeDMX, png: Path) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(server.url_result(PNG_BYTES)).encode()
    server.script(EDITS, Reply(body=body, content_type="application/json"))
    (saved,) = expect(cli("edit", str(png), "-p", "x")).stdout.split()
    assert Path(saved).read_bytes() == PNG_BYTES


@pytest.mark.e2e
def test_a_data_uri_in_url_is_decoded_and_saved_never_printed(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    image = make_big_png(300_000)
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    server.script(EDITS, Reply(json={"data": [{"url": uri}]}))
    run = expect(cli("edit", str(png), "-p", "x", "--json"))
    out = json.loads(run.stdout)
    assert Path(out["files"][0]).read_bytes() == image
    assert out["urls"] == [] and "base64" not in run.stdout + run.stderr
    assert server.gets() == []


@pytest.mark.e2e
def test_dmxapis_request_id_header_is_shown(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(
        EDITS,
        Reply(
            status=400,
            json={"error": {"message": "bad"}},
            headers={"X-Rixapi-Request-Id": "2026120112345678"},
        ),
    )
    run = expect(cli("edit", str(png), "-p", "x", "--json"), 4)
    assert json.loads(run.stdout)["error"]["request_id"] == "2026120112345678"
    assert "2026120112345678" in run.stderr


@pytest.mark.e2e
def test_an_error_body_is_decoded_with_its_declared_charset(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    text = json.dumps({"error": {"message": "无可用渠道"}}, ensure_ascii=False)
    server.script(
        EDITS,
        Reply(status=400, body=text.encode("gbk"), content_type="application/json; charset=GBK"),
    )
    run = expect(cli("edit", str(png), "-p", "x"), 4)
    assert "无可用渠道" in run.stderr and "\ufffd" not in run.stderr


@pytest.mark.e2e
def test_a_broken_download_is_described_in_words(cli: Cli, server: FakeDMX, png: Path) -> None:
    url = server.add_file("cut.png", PNG_BYTES * 20)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/cut.png", *[Reply(body=PNG_BYTES * 20, truncate_to=100)] * 4)
    run = expect(cli("edit", str(png), "-p", "x"), 6)
    assert "the connection broke before all the data arrived" in run.stderr
    for raw in ("IncompleteRead", "Connection broken", "('", ".;"):
        assert raw not in run.stderr
    assert run.stdout.split() == [url]


@pytest.mark.e2e
def test_a_404_from_a_base_url_without_v1_gets_a_hint(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script("/images/edits", Reply(status=404, body=b"Not Found"))
    run = cli("edit", str(png), "-p", "x", env={"DMXAPI_BASE_URL": server.origin})
    assert run.code == 4 and "does not end in /v1" in run.stderr, run.output


@pytest.mark.e2e
def test_429_then_success_is_retried(cli: Cli, server: FakeDMX, png: Path, tmp_path: Path) -> None:
    server.script(EDITS, Reply(status=429, headers={"Retry-After": "0"}))
    run = check(cli("edit", str(png), "-p", "x"), 0)
    assert len(server.posts()) == 2 and len(server.gets()) == 1
    assert len(images_in(tmp_path / "output")) == 1
    assert "429" in run.stderr


@pytest.mark.e2e
def test_503_is_retried_retries_times_then_exit_5(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    server.script(EDITS, *[Reply(status=503)] * 3)
    check(cli("edit", str(png), "-p", "x"), 5, "503")
    assert len(server.posts()) == 3  # the first try and --retries 2
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


@pytest.mark.e2e
def test_retries_zero_sends_once(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=503))
    check(cli("edit", str(png), "-p", "x", "--retries", "0"), 5)
    assert len(server.posts()) == 1


@pytest.mark.e2e
def test_connection_refused_is_retried_and_says_so(cli: Cli, png: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}/v1"
    run = check(cli("edit", str(png), "-p", "x", "--base-url", base), 5)
    assert "connect" in run.stderr.lower()
    assert run.stderr.count("trying again") == 2


@pytest.mark.e2e
@pytest.mark.parametrize("status", [500, 502, 504, 524])
def test_server_errors_are_not_resent(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, status: int
) -> None:
    server.script(EDITS, Reply(status=status, json={"error": {"message": "upstream"}}))
    run = check(cli("edit", str(png), "-p", "x"), 5, str(status), BILLED)
    assert "--retry-server-errors" in run.stderr
    assert len(server.posts()) == 1 and server.gets() == []
    assert partials(tmp_path) == []


@pytest.mark.e2e
def test_read_timeout_is_not_resent(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(delay=4))
    run = check(cli("edit", str(png), "-p", "x", "--timeout", "0.3"), 5, BILLED)
    assert len(server.posts()) == 1
    assert "timeout" in run.stderr.lower() or "no answer" in run.stderr.lower()


@pytest.mark.e2e
def test_connection_dropped_after_upload_is_not_resent(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(drop=True))
    check(cli("edit", str(png), "-p", "x"), 5, "dropped", BILLED)
    assert len(server.posts()) == 1


@pytest.mark.e2e
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


@pytest.mark.e2e
@pytest.mark.parametrize("fault", [Reply(status=500), Reply(drop=True)])
def test_retry_server_errors_resends_and_warns_about_billing(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, fault: Reply
) -> None:
    server.script(EDITS, fault)
    run = check(cli("edit", str(png), "-p", "x", "--retry-server-errors"), 0)
    assert len(server.posts()) == 2
    assert "may have been billed" in run.stderr
    assert len(images_in(tmp_path / "output")) == 1


@pytest.mark.e2e
def test_retry_after_is_honoured(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=429, headers={"Retry-After": "0.4"}))
    check(cli("edit", str(png), "-p", "x"), 0)
    first, second = server.posts()
    assert second.started - first.finished >= 0.35


@pytest.mark.e2e
def test_retry_after_ms_is_honoured(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=503, headers={"retry-after-ms": "400"}))
    check(cli("edit", str(png), "-p", "x"), 0)
    first, second = server.posts()
    assert second.started - first.finished >= 0.35


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_generate_follows_the_same_rules(cli: Cli, server: FakeDMX) -> None:
    server.script(GENERATIONS, Reply(status=429, headers={"Retry-After": "0"}), Reply(status=502))
    check(cli("generate", "-p", "x"), 5, BILLED)
    assert len(server.posts(GENERATIONS)) == 2


@pytest.mark.e2e
def test_download_is_retried_on_its_own(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    answer_with_url(server)
    server.script("/files/r.png", Reply(status=500), Reply(status=503))
    run = check(cli("edit", str(png), "-p", "x"), 0)
    assert len(server.posts()) == 1 and len(server.gets()) == 3
    assert (tmp_path / run.stdout.strip()).read_bytes() == PNG_BYTES


@pytest.mark.e2e
def test_download_that_keeps_failing_prints_the_url(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    url = answer_with_url(server)
    server.script("/files/r.png", *[Reply(status=500)] * 10)
    run = check(cli("edit", str(png), "-p", "x"), 6, url)
    assert run.stdout.strip() == url
    assert len(server.posts()) == 1 and len(server.gets()) >= 2
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


@pytest.mark.e2e
def test_truncated_download_never_leaves_a_partial_file(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    data = make_big_png(300_000)
    answer_with_url(server, data=data)
    server.script(
        "/files/r.png", Reply(body=data, truncate_to=1000), Reply(body=data, truncate_to=5)
    )
    run = check(cli("edit", str(png), "-p", "x"), 0)
    assert len(server.posts()) == 1 and len(server.gets()) == 3
    assert (tmp_path / run.stdout.strip()).read_bytes() == data
    assert partials(tmp_path) == []


@pytest.mark.e2e
def test_downloaded_bytes_that_are_not_an_image(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    url = answer_with_url(server, data=b"<html>expired</html>")
    run = check(cli("edit", str(png), "-p", "x"), 6, url)
    assert url in run.stdout
    assert len(server.posts()) == 1
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


@pytest.mark.e2e
@pytest.mark.parametrize("url", ["ftp://example.com/r.png", "file:///etc/passwd"])
def test_result_url_that_is_not_http_is_not_fetched(
    cli: Cli, server: FakeDMX, png: Path, url: str
) -> None:
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    run = check(cli("edit", str(png), "-p", "x"), 6)
    assert run.stdout.strip() == url
    assert server.gets() == []


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_html_error_page_is_reduced_to_its_title(cli: Cli, server: FakeDMX, png: Path) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
        + b"<p>cloudflare ray id SECRETPAGETEXT</p>" * 300
        + b"</body></html>"
    )
    server.script(EDITS, Reply(status=502, body=page, content_type="text/html"))
    run = check(cli("edit", str(png), "-p", "x"), 5, "502 Bad Gateway")
    assert "SECRETPAGETEXT" not in run.stderr and "<html" not in run.stderr.lower()


@pytest.mark.e2e
def test_plain_text_error_shows_its_first_line(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(
        EDITS,
        Reply(status=413, body=b"Payload too large\nsecond line\n", content_type="text/plain"),
    )
    run = check(cli("edit", str(png), "-p", "x"), 4, "413", "Payload too large")
    assert "second line" not in run.stderr


@pytest.mark.e2e
def test_200_with_an_error_object_is_exit_4(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(json={"error": {"message": "content policy violation"}}))
    check(cli("edit", str(png), "-p", "x"), 4, "content policy violation")


@pytest.mark.e2e
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
