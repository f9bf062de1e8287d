"""The one HTTP layer of the image client and the account API.

Here and nowhere else: the session (no retries of urllib3's own, the User-Agent), the
wall-clock deadline of an answer, reading an error answer's body whatever state it is
in, what the API said in it, the redaction of secrets from any text the server sent, and
the mapping of an error status to the error it stands for.

A :class:`Deadline` bounds an answer by the wall clock (headers and body): it starts
when the request has been sent (the connection asks for the answer) and, when it is
over, shuts the connection, so a read that is blocked (an answer trickling a byte a
second) ends at once with an exception. ``expired`` then says why it ended.
"""

from __future__ import annotations

import codecs
import json
import re
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import requests.adapters
import urllib3.exceptions

from dmxedit._version import __version__
from dmxedit.core import interrupts
from dmxedit.core.errors import ApiError, AuthError, ConfigError, DmxError, NetworkError
from dmxedit.core.i18n import T
from dmxedit.core.text import redact

USER_AGENT = f"dmxedit/{__version__} python-requests/{requests.__version__}"
REQUEST_ID_HEADERS = (
    "x-rixapi-request-id",  # DMXAPI's own
    "x-request-id",
    "request-id",
    "x-oneapi-request-id",
    "x-new-api-request-id",
    "openai-request-id",
    "x-amzn-requestid",
    "cf-ray",
)
ERROR_BODY_LIMIT = 64 * 1024
BOM = b"\xef\xbb\xbf"
#: What reading a body can raise besides a disk error: the network, the encoding.
BODY_ERRORS = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError)


# -- the deadline --------------------------------------------------------------------

_current = threading.local()


def _shut(sock: Any) -> None:
    raw = getattr(sock, "socket", sock)  # urllib3's SSLTransport (TLS in TLS) wraps one
    if isinstance(raw, socket.socket):
        try:
            # socket.socket's own: an SSLSocket's would drop its TLS state under a reader.
            socket.socket.shutdown(raw, socket.SHUT_RDWR)
        except OSError:
            pass


class Deadline:
    """A wall-clock limit of ``seconds`` on the answers read inside ``with`` (in this
    thread), counted from the moment the first request asks for its answer."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._socks: list[Any] = []
        self._timer: threading.Timer | None = None

    def watch(self, sock: Any) -> None:
        """The connection ``sock`` waits for an answer: shut it when time is up."""
        with self._lock:
            if self.expired:
                _shut(sock)
                return
            self._socks.append(sock)
            if self._timer is None:
                self._timer = threading.Timer(self.seconds, self.expire)
                self._timer.daemon = True
                self._timer.start()

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            socks, self._socks = self._socks, []
        for sock in socks:
            _shut(sock)

    def __enter__(self) -> Deadline:
        _current.deadline = self
        return self

    def __exit__(self, *exc: object) -> None:
        _current.deadline = None
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._socks = []


_watched: dict[type, type] = {}


def _watching(cls: type) -> type:
    """``cls`` (a urllib3 connection class) that shows its socket to the thread's
    deadline when it asks for an answer."""
    if cls not in _watched:

        class Watched(cls):  # type: ignore[misc]
            def getresponse(self, *args: Any, **kwargs: Any) -> Any:
                deadline = getattr(_current, "deadline", None)
                if deadline is not None and getattr(self, "sock", None) is not None:
                    deadline.watch(self.sock)
                return super().getresponse(*args, **kwargs)

        Watched.__name__ = Watched.__qualname__ = f"Watched{cls.__name__}"
        _watched[cls] = Watched
    return _watched[cls]


class _Adapter(requests.adapters.HTTPAdapter):
    """No retries of its own; every pool's connections (direct, HTTP or SOCKS proxy)
    are watched by the deadline."""

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> Any:
        return _watched_pool(super().get_connection_with_tls_context(*args, **kwargs))


def _watched_pool(pool: Any) -> Any:
    if getattr(pool, "ConnectionCls", None) is not None:
        pool.ConnectionCls = _watching(pool.ConnectionCls)
    return pool


def new_session() -> requests.Session:
    """A session as dmxedit uses one: its User-Agent, no retries behind its back."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = _Adapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def body_chunks(response: requests.Response, size: int = 1 << 18) -> Iterator[bytes]:
    """An answer's body (decompressed) as it arrives: each piece as soon as some has come,
    never waiting to fill ``size``. Raises what urllib3 raises (:data:`BODY_ERRORS`)."""
    raw = response.raw
    while True:
        interrupts.check()  # a Ctrl-C the garbage collector swallowed still stops the run
        chunk = raw.read1(size, decode_content=True)
        if not chunk:
            return
        yield chunk


# -- what an answer says -------------------------------------------------------------


def request_id(headers: Mapping[str, str]) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value and value.strip():
            return one_line(value, 200)  # a folded header's line break is no line of ours
    return None


_TAGS = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.I)


def decode_text(body: bytes, content_type: str = "") -> str:
    """A body as text, in its declared charset (UTF-8 otherwise); a BOM is dropped."""
    if body.startswith(BOM):
        return body[len(BOM) :].decode("utf-8", "replace")
    declared = _CHARSET.search(content_type or "")
    encoding = "utf-8"
    if declared:
        try:
            encoding = codecs.lookup(declared.group(1)).name
        except LookupError:
            pass
    try:
        return body.decode(encoding, "replace")
    except LookupError:  # a codec that is not a text encoding (e.g. charset=base64)
        return body.decode("utf-8", "replace")


def loads(text: str | bytes) -> Any:
    """``json.loads``, with a document nested too deeply for it a ValueError too."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def _said_in(data: Any) -> str | None:
    for candidate in (data.get("error"), data):
        if isinstance(candidate, dict):
            for key in ("message", "msg", "detail", "error_description"):
                value = candidate.get(key)
                if isinstance(value, str) and value.strip():
                    return one_line(value)
        elif isinstance(candidate, str) and candidate.strip():
            return one_line(candidate)
    try:
        return one_line(json.dumps(data, ensure_ascii=False))
    except (ValueError, RecursionError):
        return None


def api_message(body: bytes, content_type: str = "") -> str | None:
    """The API's own words: ``error.message``, or the first line of a non-JSON body."""
    text = decode_text(body, content_type).strip()
    if not text:
        return None
    try:
        data = loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return _said_in(data)
    if "html" in content_type.lower() or text.lstrip().lower().startswith(("<!doctype", "<html")):
        title = _TITLE.search(text)
        if title and title.group(1).strip():
            return one_line(_TAGS.sub("", title.group(1)))
        text = _TAGS.sub(" ", text)
    for line in text.splitlines():
        if line.strip():
            return one_line(line)
    return None


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- an error answer -----------------------------------------------------------------


@dataclass(frozen=True)
class ErrorAnswer:
    """An answer with an HTTP error status, its body read as far as it could be."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    readable: bool  # False: the body broke off, did not decode or did not come in time
    said: str | None  # the API's words, redacted
    request_id: str | None = None  # redacted: a relay may echo anything there
    location: str = "?"  # a redirect's, redacted

    @property
    def text(self) -> str:
        """``HTTP 503: what the API said`` (or ``HTTP 503`` when it said nothing)."""
        if not self.readable:
            return T("HTTP {status}; its body could not be read", status=self.status)
        if self.said:
            return T("HTTP {status}: {said}", status=self.status, said=self.said)
        return T("HTTP {status}", status=self.status)

    @property
    def info(self) -> dict[str, Any]:
        return {"status": self.status, "request_id": self.request_id}


def read_error(
    response: requests.Response, *secrets: str | None, limit: int = ERROR_BODY_LIMIT
) -> ErrorAnswer:
    """An error answer, its body read up to ``limit`` bytes. A body that cannot be read
    (cut short, badly compressed, never sent) is an empty one: the status still says
    what happened."""
    readable = True
    try:
        raw = response.raw.read(limit, decode_content=True) or b""
    except (*BODY_ERRORS, OSError):
        raw, readable = b"", False
    said = api_message(raw, response.headers.get("Content-Type", ""))
    location = one_line(response.headers.get("Location") or "?", 200)
    return ErrorAnswer(
        status=response.status_code,
        headers=response.headers,
        body=raw,
        readable=readable,
        said=redact(said, *secrets) if said else None,
        request_id=redact(request_id(response.headers), *secrets),
        location=redact(location, *secrets),
    )


@dataclass(frozen=True)
class Party:
    """Who answered and with what credential, in the words of its errors."""

    name: str  # "The API"
    credential: str  # "the key"
    auth_hint: str
    refused_hint: str | None = None
    redirect_hint: str = T(
        "Set the base URL to the right address (dmxedit config set base-url URL).",
    )


def status_error(answer: ErrorAnswer, party: Party) -> DmxError:
    """The error an HTTP error status stands for: a redirect (not followed with a
    credential) is ConfigError, 401/403 AuthError, 429 and 5xx NetworkError, any other
    ApiError."""
    status, info = answer.status, answer.info
    if 300 <= status < 400:
        where = answer.location
        return ConfigError(
            T(
                "{name} answered {status} with a redirect to {where}; dmxedit "
                "does not follow redirects with {credential}.",
                name=party.name,
                status=status,
                where=where,
                credential=party.credential,
            ),
            hint=party.redirect_hint,
            **info,
        )
    if status in (401, 403):
        return AuthError(
            T(
                "{name} refused {credential} ({text}).",
                name=party.name,
                credential=party.credential,
                text=answer.text,
            ),
            hint=party.auth_hint,
            **info,
        )
    if status == 429 or status >= 500:
        busy = status in (429, 503)
        return NetworkError(
            T("{name} is busy ({text}).", name=party.name, text=answer.text)
            if busy
            else T("{name} failed ({text}).", name=party.name, text=answer.text),
            hint=T("Try again later."),
            **info,
        )
    return ApiError(
        T(
            "{name} refused the request ({text}).",
            name=party.name,
            text=answer.text,
        ),
        hint=party.refused_hint,
        **info,
    )


__all__ = [
    "BODY_ERRORS",
    "Deadline",
    "ErrorAnswer",
    "Party",
    "USER_AGENT",
    "api_message",
    "body_chunks",
    "decode_text",
    "loads",
    "new_session",
    "one_line",
    "read_error",
    "redact",
    "request_id",
    "status_error",
]
