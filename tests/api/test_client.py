"""The HTTP client's units, with `responses` standing in for the network (issue 2, point
7; the rules of issue 4 at the unit level). Sleeps are recorded, never slept."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
import urllib3
from fakeserver import JPEG_BYTES, PNG_BYTES, make_png

from dmxedit.api.client import Client, api_message, request_id
from dmxedit.api.request import ImageRequest, build_request
from dmxedit.api.retry import Pacer, Policy
from dmxedit.core.catalog import MAX_RESULT_BYTES
from dmxedit.core.errors import ApiError, AuthError, ConfigError, DmxError, NetworkError, SaveError
from dmxedit.core.settings import Settings
from dmxedit.engine.pipeline import execute
from dmxedit.engine.result import ImageResult
from dmxedit.media.images import load_images
from dmxedit.store.results import Saver

BASE = "https://api.example.test/v1"
EDITS = BASE + "/images/edits"
GENERATIONS = BASE + "/images/generations"
RESULT = "https://cdn.example.test/r/abc.png"
KEY = "sk-unittest0000000000wxyz"


class Clock:
    """A fake clock for sleeps and the shared pause: records waits, takes no time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(clock: Clock) -> Iterator[Client]:
    made = Client(
        api_key=KEY,
        policy=Policy(retries=2),
        pacer=Pacer(sleep=clock.sleep, clock=clock),
    )
    yield made
    made.close()


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def edit_request(tmp_path: Path, **options: Any) -> ImageRequest:
    image = tmp_path / "in.png"
    image.write_bytes(make_png(20, 10))
    settings = Settings(base_url=BASE, **options)
    return build_request("edit", settings, prompt="snow", images=load_images([str(image)]))


def run(client: Client, request: ImageRequest, tmp_path: Path, **kwargs: Any) -> ImageResult:
    saver = Saver(folder=tmp_path / "out", prefix=request.prefix)
    saver.prepare()
    return execute(request, client, saver, **kwargs)


def posts(mocked: responses.RequestsMock) -> list[Any]:
    return [c for c in mocked.calls if c.request.method == "POST"]


def gets(mocked: responses.RequestsMock) -> list[Any]:
    return [c for c in mocked.calls if c.request.method == "GET"]


def ok_url(mocked: responses.RequestsMock, url: str = EDITS) -> None:
    mocked.add(responses.POST, url, json={"created": 1, "data": [{"url": RESULT}]})
    mocked.add(responses.GET, RESULT, body=PNG_BYTES, content_type="image/png")


def refused() -> requests.exceptions.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, EDITS, reason)  # type: ignore[arg-type]
    )


def no_key_anywhere(error: DmxError) -> None:
    text = str(error) + json.dumps(error.to_dict(), default=str) + repr(error.details)
    assert KEY not in text


# -- the request and its result ------------------------------------------------------------------


def test_post_carries_the_key_and_a_streamed_body_with_a_length(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    ok_url(mocked)
    request = edit_request(tmp_path, size="4k")
    result = run(client, request, tmp_path)
    (post,) = posts(mocked)
    assert post.request.headers["Authorization"] == f"Bearer {KEY}"
    assert int(post.request.headers["Content-Length"]) == len(post.request.body)
    assert "Transfer-Encoding" not in post.request.headers
    assert not isinstance(post.request.body, bytes)  # an iterable, produced on demand
    body = b"".join(post.request.body)
    assert b'name="size"\r\n\r\n4K\r\n' in body
    assert b"Content-Type: image/png" in body
    assert result.files[0].read_bytes() == PNG_BYTES
    assert result.urls == [RESULT]


def test_download_uses_no_key(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    ok_url(mocked)
    run(client, edit_request(tmp_path), tmp_path)
    (get,) = gets(mocked)
    assert "Authorization" not in get.request.headers


def test_b64_json_is_decoded_to_a_file(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    import base64

    mocked.add(
        responses.POST,
        EDITS,
        json={"data": [{"b64_json": base64.b64encode(JPEG_BYTES).decode(), "revised_prompt": "r"}]},
    )
    result = run(client, edit_request(tmp_path, response_format="b64_json"), tmp_path)
    assert result.files[0].suffix == ".jpg" and result.files[0].read_bytes() == JPEG_BYTES
    assert result.revised_prompt == "r" and gets(mocked) == []


def test_generate_posts_json(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    ok_url(mocked, GENERATIONS)
    request = build_request(
        "generate",
        Settings(base_url=BASE, ratio="16:9", size="2k"),
        prompt="a fox",
        params=["seed=4"],
    )
    result = run(client, request, tmp_path)
    (post,) = posts(mocked)
    assert post.request.headers["Content-Type"] == "application/json"
    assert json.loads(b"".join(post.request.body)) == {
        "model": "nano-banana-2",
        "prompt": "a fox",
        "n": 1,
        "aspect_ratio": "16:9",
        "size": "2K",
        "response_format": "url",
        "seed": 4,
    }
    assert result.files[0].name.startswith("generated_")


# -- what is retried ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_are_retried_up_to_retries(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path, status: int
) -> None:
    for _ in range(3):
        mocked.add(responses.POST, EDITS, status=status)
    with pytest.raises(NetworkError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert info.value.exit_code == 5 and info.value.status == status
    assert len(posts(mocked)) == 3


def test_a_retry_sends_the_same_bytes_again(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    bodies: list[bytes] = []

    def first(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        bodies.append(b"".join(request.body))  # type: ignore[arg-type]
        return (503, {}, b"")

    def second(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        bodies.append(b"".join(request.body))  # type: ignore[arg-type]
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"data": [{"url": RESULT}]}).encode(),
        )

    mocked.add_callback(responses.POST, EDITS, callback=first)
    mocked.add_callback(responses.POST, EDITS, callback=second)
    mocked.add(responses.GET, RESULT, body=PNG_BYTES)
    result = run(client, edit_request(tmp_path), tmp_path)
    assert result.attempts == 2
    # Each attempt builds a new body (a new boundary too); what it carries is the same.
    same = [b.replace(b.split(b"\r\n", 1)[0], b"--BOUNDARY") for b in bodies]
    assert len(bodies) == 2 and same[0] == same[1] and len(bodies[0]) > 500
    assert bodies[0] != bodies[1]
    first_call, second_call = posts(mocked)
    assert first_call.request.body is not second_call.request.body  # rebuilt, not reused


def test_retries_zero_sends_once(
    mocked: responses.RequestsMock, clock: Clock, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, status=503)
    client = Client(api_key=KEY, policy=Policy(retries=0), sleep=clock.sleep)
    with pytest.raises(NetworkError):
        run(client, edit_request(tmp_path), tmp_path)
    assert len(posts(mocked)) == 1


def test_a_connection_that_could_not_be_opened_is_retried(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, body=refused())
    mocked.add(responses.POST, EDITS, body=refused())
    ok_url(mocked)
    result = run(client, edit_request(tmp_path), tmp_path)
    assert len(posts(mocked)) == 3 and result.attempts == 3


@pytest.mark.parametrize(
    "fault",
    [500, 502, 504, 524, requests.exceptions.ReadTimeout("read timed out")],
)
def test_possibly_billed_failures_are_not_resent(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path, fault: Any
) -> None:
    if isinstance(fault, int):
        mocked.add(responses.POST, EDITS, status=fault, json={"error": {"message": "upstream"}})
    else:
        mocked.add(responses.POST, EDITS, body=fault)
    ok_url(mocked)
    with pytest.raises(NetworkError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert len(posts(mocked)) == 1
    assert "may have done the work" in info.value.message
    assert "--retry-server-errors" in info.value.message


def test_drop_after_the_upload_is_not_resent(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    def drop(request: requests.PreparedRequest) -> Any:
        for _ in request.body:  # type: ignore[union-attr]
            pass  # the whole body went out...
        raise requests.exceptions.ConnectionError("Connection aborted")  # ...then nothing

    mocked.add_callback(responses.POST, EDITS, callback=drop)
    with pytest.raises(NetworkError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert len(posts(mocked)) == 1 and "after the upload" in info.value.message


def test_drop_during_the_upload_says_it_was_not_billed(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, body=requests.exceptions.ConnectionError("reset"))
    with pytest.raises(NetworkError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert len(posts(mocked)) == 1 and "not billed" in info.value.message


@pytest.mark.parametrize(
    "fault", [500, requests.exceptions.ReadTimeout("read timed out")], ids=["500", "timeout"]
)
def test_retry_server_errors_resends_and_says_it_may_bill_twice(
    mocked: responses.RequestsMock, clock: Clock, tmp_path: Path, fault: Any
) -> None:
    if isinstance(fault, int):
        mocked.add(responses.POST, EDITS, status=fault)
    else:
        mocked.add(responses.POST, EDITS, body=fault)
    ok_url(mocked)
    retried: list[str] = []

    class Recorder(transfer_events()):  # type: ignore[misc]
        def retry(self, attempt: int, delay: float, reason: str) -> None:
            retried.append(reason)

    client = Client(
        api_key=KEY, policy=Policy(retry_server_errors=True), sleep=clock.sleep, events=Recorder()
    )
    run(client, edit_request(tmp_path), tmp_path)
    assert len(posts(mocked)) == 2
    assert "may have been billed" in retried[0]


def transfer_events() -> type:
    from dmxedit.core.events import Events

    return Events


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after-ms": "2500"}, 2.5),
        ({"Retry-After": "120"}, 120.0),
    ],
)
def test_retry_after_is_honoured_by_every_worker(
    mocked: responses.RequestsMock,
    client: Client,
    clock: Clock,
    tmp_path: Path,
    headers: dict[str, str],
    expected: float,
) -> None:
    mocked.add(responses.POST, EDITS, status=429, headers=headers)
    ok_url(mocked)
    run(client, edit_request(tmp_path), tmp_path)
    assert len(posts(mocked)) == 2
    assert sum(clock.slept) == pytest.approx(expected)
    assert client.pacer.remaining() == 0  # the shared pause covered the wait


def test_retry_after_over_120_s_stops_at_once(
    mocked: responses.RequestsMock, client: Client, clock: Clock, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, status=429, headers={"Retry-After": "600"})
    with pytest.raises(NetworkError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert len(posts(mocked)) == 1 and clock.slept == []
    assert "600 s" in info.value.message and "120 s" in info.value.message
    assert info.value.details["retry_after_s"] == 600


# -- errors ---------------------------------------------------------------------------------------


def test_auth_errors_are_exit_3_with_a_base_url_hint(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, status=401, json={"error": {"message": "Invalid token"}})
    with pytest.raises(AuthError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert info.value.exit_code == 3 and "Invalid token" in info.value.message
    assert "base URL" in (info.value.hint or "") + info.value.message
    assert len(posts(mocked)) == 1
    no_key_anywhere(info.value)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_other_4xx_are_exit_4_and_not_retried(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path, status: int
) -> None:
    mocked.add(
        responses.POST,
        EDITS,
        status=status,
        json={"error": {"message": "nope", "type": "invalid_request_error"}},
        headers={"X-Request-Id": "req-42"},
    )
    with pytest.raises(ApiError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    error = info.value
    assert error.exit_code == 4 and error.status == status and error.request_id == "req-42"
    assert "nope" in error.message and len(posts(mocked)) == 1


def test_messages_from_odd_bodies() -> None:
    html = b"<html><head><title>Bad Gateway</title></head><body>" + b"<p>junk</p>" * 500
    assert api_message(html, "text/html") == "Bad Gateway"
    assert api_message(b"first line\nsecond", "text/plain") == "first line"
    assert api_message(b'{"error": {"message": "quota"}}', "application/json") == "quota"
    assert api_message(b'{"error": "plain string"}', "application/json") == "plain string"
    from requests.structures import CaseInsensitiveDict

    assert request_id(CaseInsensitiveDict({"x-request-id": "a"})) == "a"
    assert request_id(CaseInsensitiveDict({"X-Request-ID": "b"})) == "b"
    assert request_id(CaseInsensitiveDict({})) is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"error": {"message": "moderated"}}, "moderated"),
        ({"data": []}, "no image"),
        ({"data": [], "finish_reason": "SAFETY"}, "SAFETY"),
        ({"data": [{"revised_prompt": "I can't help with that"}]}, "I can't help with that"),
        ({"created": 1}, "no data"),
    ],
)
def test_a_200_without_an_image_is_exit_4_with_its_reason(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path, body: Any, reason: str
) -> None:
    mocked.add(responses.POST, EDITS, json=body)
    with pytest.raises(ApiError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert info.value.exit_code == 4 and reason in info.value.message
    assert len(posts(mocked)) == 1


def test_a_redirect_is_not_followed(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, status=307, headers={"Location": "https://evil.test/steal"})
    mocked.add(responses.POST, "https://evil.test/steal", json={"data": [{"url": RESULT}]})
    with pytest.raises(ConfigError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert info.value.exit_code == 3
    assert [c.request.url for c in mocked.calls] == [EDITS]


# -- downloads -------------------------------------------------------------------------------------


def test_download_is_retried_without_a_new_generation(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, json={"data": [{"url": RESULT}]})
    mocked.add(responses.GET, RESULT, status=500)
    mocked.add(responses.GET, RESULT, body=requests.exceptions.ConnectionError("reset"))
    mocked.add(responses.GET, RESULT, body=PNG_BYTES)
    result = run(client, edit_request(tmp_path), tmp_path)
    assert len(posts(mocked)) == 1 and len(gets(mocked)) == 3
    assert result.files[0].read_bytes() == PNG_BYTES


def test_download_failing_for_good_is_exit_6_with_the_url(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, json={"data": [{"url": RESULT}]})
    mocked.add(responses.GET, RESULT, status=502)
    with pytest.raises(SaveError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert info.value.exit_code == 6 and info.value.urls == [RESULT]
    assert len(posts(mocked)) == 1 and len(gets(mocked)) >= 2
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://cdn.example.test/a.png", "about:x"])
def test_non_http_result_urls_are_never_fetched(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path, url: str
) -> None:
    mocked.add(responses.POST, EDITS, json={"data": [{"url": url}]})
    with pytest.raises(SaveError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert info.value.urls == [url] and gets(mocked) == []


def test_download_that_is_not_an_image_is_exit_6(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, json={"data": [{"url": RESULT}]})
    mocked.add(responses.GET, RESULT, body=b"<html>expired link</html>", content_type="text/html")
    with pytest.raises(SaveError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert info.value.urls == [RESULT] and len(posts(mocked)) == 1


def test_download_over_the_clients_limit_is_refused(
    mocked: responses.RequestsMock, clock: Clock, tmp_path: Path
) -> None:
    client = Client(api_key=KEY, sleep=clock.sleep, limit=1000)
    mocked.add(responses.POST, EDITS, json={"data": [{"url": RESULT}]})
    mocked.add(responses.GET, RESULT, body=PNG_BYTES + b"\x00" * 5000)
    with pytest.raises(SaveError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    assert info.value.urls == [RESULT] and "0.000953674 MiB" in info.value.message
    assert list((tmp_path / "out").iterdir()) == []


class _Zeros(io.RawIOBase):
    """A PNG header, then zeros: ``size`` bytes in all, made as they are read."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.head = PNG_BYTES[:64]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        piece = self.head[:n]
        self.head = self.head[len(piece) :]
        buffer[: len(piece)] = piece
        buffer[len(piece) : n] = bytes(n - len(piece))
        self.left -= n
        return n


@pytest.mark.parametrize("size", [MAX_RESULT_BYTES, MAX_RESULT_BYTES + 1])
def test_the_real_200_mib_cap(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path, size: int
) -> None:
    # A streamed result with no Content-Length: 200 MiB is taken, one byte more is not.
    assert client.limit == 200 * 1024 * 1024
    mocked.add(responses.POST, EDITS, json={"data": [{"url": RESULT}]})
    mocked.add(responses.GET, RESULT, body=io.BufferedReader(_Zeros(size), 1 << 20))
    if size > MAX_RESULT_BYTES:
        with pytest.raises(SaveError) as info:
            run(client, edit_request(tmp_path), tmp_path)
        assert "over the 200 MiB dmxedit accepts" in info.value.message
        assert info.value.urls == [RESULT]
        assert list((tmp_path / "out").iterdir()) == []
    else:
        (saved,) = run(client, edit_request(tmp_path), tmp_path).files
        assert saved.stat().st_size == size


def test_the_key_is_in_no_error(
    mocked: responses.RequestsMock, client: Client, tmp_path: Path
) -> None:
    mocked.add(responses.POST, EDITS, status=403, body=f"denied for {KEY}".encode())
    with pytest.raises(AuthError) as info:
        run(client, edit_request(tmp_path), tmp_path)
    # Even when the server echoes it back, the key is not repeated to the user.
    assert "sk-…wxyz" in info.value.message
    no_key_anywhere(info.value)
