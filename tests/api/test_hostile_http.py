"""Hostile answers (the reliability issue, points 3 and 4): a tiny threaded HTTP server of
this file's own on 127.0.0.1 trickles, cuts, lies about Content-Length, sends broken
gzip, nests JSON 100k deep, or sends endless whitespace after a complete answer.

Deadlines are small (a second or a few); no assertion is about time. Each client call
runs under a guard (:func:`within`) that fails the test instead of hanging it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest

from dmxedit.api.account import Account
from dmxedit.api.client import Client
from dmxedit.api.request import ImageRequest, build_request
from dmxedit.api.retry import Pacer, Policy
from dmxedit.core.errors import ApiError, AuthError, DmxError, ExitCode, NetworkError, SaveError
from dmxedit.core.settings import Settings

KEY = "sk-hostile00000000000000wxyz"
T = TypeVar("T")
Behaviour = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Hostile

    def log_message(self, *args: Any) -> None:
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.seen.append(self.path)
        behaviours = self.server.routes[self.path.split("?")[0]]
        behaviour = behaviours.pop(0) if len(behaviours) > 1 else behaviours[0]
        try:
            behaviour(self)
        except OSError:  # the client hung up: what a deadline does
            pass

    do_GET = do_POST = _any

    # -- what a behaviour writes ---------------------------------------------------

    def raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()

    def forever(self, piece: bytes, pause: float) -> None:
        """Send ``piece`` every ``pause`` seconds until the client hangs up."""
        while not self.server.stopping.is_set():
            self.raw(piece)
            time.sleep(pause)

    def stall(self) -> None:
        """Send nothing more, the connection open, until the client hangs up."""
        self.connection.settimeout(0.1)
        while not self.server.stopping.is_set():
            try:
                if not self.connection.recv(1):
                    return
            except TimeoutError:
                continue


class Hostile(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, list[Behaviour]] = {}
        self.seen: list[str] = []
        self.stopping = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def on(self, path: str, *behaviours: Behaviour) -> None:
        self.routes[path] = list(behaviours)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stopping.set()
    server.shutdown()
    server.server_close()


def within(call: Callable[[], T], limit: float = 30.0) -> T:
    """``call()`` in a thread: its result or its exception, or a failed test when it has
    not ended after ``limit`` seconds (the guard against a hang, not a timing check)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        pytest.fail(f"the call did not end within {limit:g} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


class Sink:
    def __init__(self) -> None:
        self.data = b""
        self.discarded = False

    def write(self, data: bytes) -> None:
        self.data += data

    def discard(self) -> None:
        self.discarded = True


def request(server: Hostile) -> ImageRequest:
    settings = Settings(api_key=KEY, base_url=server.base_url)
    return build_request("generate", settings, prompt="snow")


def client(**options: Any) -> Client:
    options.setdefault("timeout", 1.0)
    return Client(
        api_key=KEY,
        connect_timeout=5.0,
        policy=Policy(retries=2),
        pacer=Pacer(sleep=lambda s: None),
        **options,
    )


def send(server: Hostile, made: Client | None = None) -> Any:
    made = made or client()
    try:
        return within(lambda: made.send(request(server), Sink))
    finally:
        made.close()


def expect(error_type: type[DmxError], call: Callable[[], Any]) -> DmxError:
    with pytest.raises(error_type) as caught:
        call()
    assert "Traceback" not in caught.value.message
    return caught.value


GENERATIONS = "/v1/images/generations"
URL = "http://127.0.0.1:9/r/first.png"
COMPLETE = b'{"created": 1, "data": [{"url": "' + URL.encode() + b'"}]}'


def json_head(handler: Handler, status: int = 200, /, **headers: str) -> None:
    handler.head(status, {"Content-Type": "application/json", **headers})


# -- 3. deadlines: --timeout bounds the whole answer ------------------------------------


def test_an_answer_trickling_a_byte_at_a_time_ends_at_the_deadline_with_its_urls(
    hostile: Hostile,
) -> None:
    def trickle(h: Handler) -> None:
        json_head(h, **{"Content-Length": "100000"})
        h.raw(COMPLETE[:-2])  # the first URL has come; the answer never ends
        h.forever(b" ", 0.1)

    hostile.on(GENERATIONS, trickle)
    error = expect(NetworkError, lambda: send(hostile))
    assert error.may_be_billed is True
    assert error.urls == [URL]
    assert URL in error.message and "may have done the work" in error.message
    assert len(hostile.seen) == 1  # may have been billed: not sent again


def test_headers_trickling_a_byte_at_a_time_end_at_the_deadline(hostile: Hostile) -> None:
    def trickle(h: Handler) -> None:
        h.raw(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        h.forever(b"a", 0.1)

    hostile.on(GENERATIONS, trickle)
    error = expect(NetworkError, lambda: send(hostile))
    assert error.may_be_billed is True
    assert "within 1 s" in error.message and not error.urls
    assert len(hostile.seen) == 1


def test_endless_whitespace_after_a_complete_answer_is_not_waited_for(hostile: Hostile) -> None:
    def endless(h: Handler) -> None:
        # A length it never reaches: waiting for the end would end at the deadline.
        json_head(h, **{"Content-Length": str(10**12)})
        h.raw(COMPLETE)
        h.forever(b" " * 4096, 0.001)

    hostile.on(GENERATIONS, endless)
    answer = send(hostile, client(timeout=5.0))
    assert [item.url for item in answer.items] == [URL]


def test_a_complete_answer_on_a_connection_left_open_is_not_waited_for(hostile: Hostile) -> None:
    def silent(h: Handler) -> None:
        json_head(h, **{"Content-Length": str(len(COMPLETE) + 10)})
        h.raw(COMPLETE)
        h.stall()

    hostile.on(GENERATIONS, silent)
    answer = send(hostile, client(timeout=5.0))
    assert [item.url for item in answer.items] == [URL]


def test_json_nested_100k_deep_is_a_malformed_answer_not_a_crash(hostile: Hostile) -> None:
    def deep(h: Handler) -> None:
        body = b'{"data": [{"url": "' + URL.encode() + b'"}], "x": ' + b"[" * 100_000
        json_head(h, **{"Content-Length": str(len(body))})
        h.raw(body)

    hostile.on(GENERATIONS, deep)
    error = expect(ApiError, lambda: send(hostile))
    assert "nested" in error.message
    assert error.urls == [URL]


def test_a_download_trickling_a_byte_at_a_time_ends_at_the_download_deadline(
    hostile: Hostile,
) -> None:
    def trickle(h: Handler) -> None:
        h.head(200, {"Content-Type": "image/png", "Content-Length": "100000"})
        h.forever(b"x", 0.1)

    hostile.on("/r/slow.png", trickle)
    url = hostile.base_url.replace("/v1", "/r/slow.png")
    made = client(download_timeout=1.0)
    try:
        error = expect(SaveError, lambda: within(lambda: made.download(url, Sink)))
    finally:
        made.close()
    assert isinstance(error, SaveError) and error.urls == [url]
    assert "did not finish within 1 s" in error.message
    assert error.exit_code == ExitCode.NOT_SAVED


# -- 4. error answers are errors, whatever their body -----------------------------------


def short_body(status: int) -> Behaviour:
    def answer(h: Handler) -> None:
        json_head(h, status, **{"Content-Length": "500", "Connection": "close"})
        h.raw(b'{"error": {"mess')  # and the connection closes

    return answer


def broken_gzip(status: int) -> Behaviour:
    def answer(h: Handler) -> None:
        body = b"\x1f\x8b\x08\x00this is not gzip at all"
        json_head(h, status, **{"Content-Length": str(len(body)), "Content-Encoding": "gzip"})
        h.raw(body)

    return answer


def never_sent(status: int) -> Behaviour:
    def answer(h: Handler) -> None:
        json_head(h, status, **{"Content-Length": "500"})
        h.stall()

    return answer


def success(h: Handler) -> None:
    json_head(h, **{"Content-Length": str(len(COMPLETE))})
    h.raw(COMPLETE)


@pytest.mark.parametrize("body", [short_body, broken_gzip, never_sent])
def test_a_500_whose_body_cannot_be_read_is_a_server_error(
    hostile: Hostile, body: Callable[[int], Behaviour]
) -> None:
    hostile.on(GENERATIONS, body(500))
    error = expect(NetworkError, lambda: send(hostile))
    assert error.status == 500
    assert error.may_be_billed is True
    assert "its body could not be read" in error.message
    assert len(hostile.seen) == 1


@pytest.mark.parametrize("body", [short_body, broken_gzip, never_sent])
def test_a_503_whose_body_cannot_be_read_is_resent(
    hostile: Hostile, body: Callable[[int], Behaviour]
) -> None:
    hostile.on(GENERATIONS, body(503), success)
    answer = send(hostile)
    assert answer.attempts == 2
    assert [item.url for item in answer.items] == [URL]


def test_a_401_with_broken_gzip_is_an_auth_error(hostile: Hostile) -> None:
    hostile.on(GENERATIONS, broken_gzip(401))
    error = expect(AuthError, lambda: send(hostile))
    assert error.exit_code == ExitCode.AUTH


def test_an_error_body_nested_100k_deep_still_gives_the_status(hostile: Hostile) -> None:
    def deep(h: Handler) -> None:
        body = b"[" * 60_000
        json_head(h, 400, **{"Content-Length": str(len(body))})
        h.raw(body)

    hostile.on(GENERATIONS, deep)
    error = expect(ApiError, lambda: send(hostile))
    assert error.status == 400


def test_an_error_body_in_an_unknown_encoding_still_gives_the_status(hostile: Hostile) -> None:
    def odd(h: Handler) -> None:
        body = b"\xff\xfe bad \x80 bytes"
        h.head(
            400, {"Content-Type": "text/plain; charset=base64", "Content-Length": str(len(body))}
        )
        h.raw(body)

    hostile.on(GENERATIONS, odd)
    error = expect(ApiError, lambda: send(hostile))
    assert error.status == 400


# -- the account API: the same layer ----------------------------------------------------


def account(server: Hostile) -> Account:
    settings = Settings(base_url=server.base_url, system_token="tok-hostile-0000", user_id="7")
    return Account(settings, read_timeout=1.0)


@pytest.mark.parametrize("body", [short_body, broken_gzip, never_sent])
def test_an_account_500_whose_body_cannot_be_read_is_a_network_error(
    hostile: Hostile, body: Callable[[int], Behaviour]
) -> None:
    hostile.on("/api/user/self", body(500))
    with account(hostile) as acc:
        error = expect(NetworkError, lambda: within(acc.balance))
    assert error.status == 500


def test_an_account_answer_trickling_ends_at_its_deadline(hostile: Hostile) -> None:
    def trickle(h: Handler) -> None:
        json_head(h, **{"Content-Length": "100000"})
        h.forever(b" ", 0.1)

    hostile.on("/api/user/self", trickle)
    with account(hostile) as acc:
        error = expect(NetworkError, lambda: within(acc.balance))
    assert "in time" in error.message


def test_an_account_answer_nested_100k_deep_is_not_json(hostile: Hostile) -> None:
    def deep(h: Handler) -> None:
        body = b"[" * 100_000
        json_head(h, **{"Content-Length": str(len(body))})
        h.raw(body)

    hostile.on("/api/user/self", deep)
    with account(hostile) as acc:
        expect(ApiError, lambda: within(acc.balance))
