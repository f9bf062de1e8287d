"""The project's own fake DMXAPI server on 127.0.0.1, for end-to-end tests and benchmarks.

It speaks real HTTP/1.1, parses multipart bodies for real (streamed, so a 640 MB upload
does not sit in its memory when ``keep_bytes`` is off), records every request, and can
be scripted per path to answer with errors, delays, dropped connections or truncated
bodies.

    with FakeDMX() as fake:
        fake.script("/v1/images/edits", Reply(status=503, headers={"Retry-After": "0"}))
        ...  # run dmxedit with DMXAPI_BASE_URL=fake.base_url
        assert len(fake.posts()) == 2

Standalone (used by the benchmarks)::

    python tests/fakeserver.py --port 0 --delay 1 --mode b64 --result-bytes 25000000

prints the base URL on its first line and serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PREFIX = "/v1"
EDITS = API_PREFIX + "/images/edits"
GENERATIONS = API_PREFIX + "/images/generations"
# The account API (SPEC 8): on the site root, with the system token and the user id.
USER_SELF = "/api/user/self"
LOG_SELF = "/api/log/self"
SYSTEM_TOKEN = "systok-fake-0123456789abcdef"
USER_ID = "4242"
QUOTA_PER_CNY = 500000
#: What one image request costs in the fake's log (quota units, by size): 0.1 / 0.2 CNY.
PRICES = {"1K": 50000, "2K": 50000, "4K": 100000}
#: The request id headers the fake takes as "the answer already has one".
REQUEST_ID_NAMES = ("x-rixapi-request-id", "x-request-id", "request-id", "x-oneapi-request-id")

MODELS = API_PREFIX + "/models"


def model_entry(model_id: str, owner: str = "custom", *kinds: str) -> dict[str, Any]:
    """One model of ``GET /v1/models`` as new-api relays list it."""
    return {
        "id": model_id,
        "object": "model",
        "created": 1626777600,
        "owned_by": owner,
        "supported_endpoint_types": list(kinds or ("openai",)),
    }


#: What the fake's ``GET /v1/models`` lists by default: image models and others.
DEFAULT_MODELS = [
    model_entry("nano-banana-2", "vertex-ai", "image-generation"),
    model_entry("gemini-3-pro-image-preview", "vertex-ai", "gemini", "openai"),
    model_entry("gpt-image-1", "openai", "image-generation"),
    model_entry("seedream-4.0", "volcengine"),
    model_entry("gpt-4o", "openai", "openai"),
    model_entry("deepseek-chat", "deepseek", "openai"),
    model_entry("hunyuan-t2i", "tencent", "image-generation"),  # an image model by its types
]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def make_png(width: int = 8, height: int = 8, *, filler: int = 0) -> bytes:
    """A valid RGB PNG of the given size (``filler`` varies the pixels)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    row = b"\x00" + bytes((filler + x) % 256 for x in range(width * 3))
    pixels = zlib.compress(row * height, 1)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def make_big_png(size: int, side: int = 4) -> bytes:
    """A valid PNG of about ``size`` bytes: a tiny image (``side`` pixels square) padded
    with a ``teXt`` chunk."""
    small = make_png(side, side)
    head, rest = small[:33], small[33:]  # signature + IHDR, then IDAT + IEND
    pad = max(0, size - len(small) - 12 - 4)
    # Random padding, like compressed pixels: a run of one byte is a worst case for
    # bytes.find and would make the server, not the client, the thing measured.
    return head + _png_chunk(b"teXt", b"pad\x00" + os.urandom(pad)) + rest


PNG_BYTES = make_png(16, 16)

# A 2x1 baseline JPEG: SOI, a SOF0 frame header with the size, EOI.
JPEG_BYTES = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xc0\x00\x11\x08\x00\x01\x00\x02\x03\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    b"\xff\xd9"
)

# A lossless WebP (VP8L) 3x2 header.
_VP8L = b"\x2f" + struct.pack("<I", (3 - 1) | ((2 - 1) << 14)) + b"\x00" * 8
WEBP_BYTES = b"RIFF" + struct.pack("<I", 4 + 8 + len(_VP8L)) + b"WEBPVP8L"
WEBP_BYTES += struct.pack("<I", len(_VP8L)) + _VP8L


@dataclass
class Part:
    """One part of a multipart body."""

    name: str
    filename: str | None
    content_type: str | None
    headers: dict[str, str]
    size: int
    crc32: int  # of the part's bytes, computed while they stream in
    data: bytes | None  # None when the server does not keep bytes

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else None

    @property
    def text(self) -> str:
        assert self.data is not None
        return self.data.decode("utf-8")


@dataclass
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body_size: int
    body: bytes | None = None  # non-multipart bodies (JSON), when kept
    parts: list[Part] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    complete: bool = True  # False when the body ended early

    @property
    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)

    @property
    def fields(self) -> dict[str, str]:
        """Non-file parts by name (the last one wins)."""
        return {p.name: p.text for p in self.parts if p.filename is None and p.data is not None}

    def field_list(self) -> list[tuple[str, str]]:
        return [(p.name, p.text) for p in self.parts if p.filename is None and p.data is not None]

    @property
    def images(self) -> list[Part]:
        return [p for p in self.parts if p.name == "image"]


@dataclass
class Reply:
    """A scripted answer.

    ``json``/``body``: what to send; a 200 without either gets the server's usual answer.
    ``delay``: seconds to wait after reading the request, before answering.
    ``drop``: read the request, then close the connection without answering.
    ``drop_before_read``: close the connection as soon as the headers are read.
    ``truncate_to``: announce the full Content-Length but send only this many bytes,
    then (after ``stall`` seconds) close.
    ``chunked``: send the body with Transfer-Encoding: chunked in ``chunk_size`` pieces.
    ``redirect``: answer 307 with this Location.
    """

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    drop: bool = False
    drop_before_read: bool = False
    truncate_to: int | None = None
    stall: float = 0.0
    chunked: bool = False
    chunk_size: int = 65536
    chunk_pause: float = 0.0
    #: For an image request: put a charge in the account log (True), none (False), or
    #: (None) as DMXAPI would: a success, a 5xx other than 503, a drop after the body
    #: was read, a timeout (the work done) are billed; nothing else is.
    bill: bool | None = None


Hook = Callable[[Recorded], "Reply | None"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    fake: FakeDMX

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (dmxedit after a 404, a test that kills it) is
        # not the server's error. Anything else goes to the process's real stderr: the
        # in-process CLI redirects sys.stderr, and a server thread's traceback must not
        # land in the output a test checks.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        import traceback

        print(f"fake server: error serving {client_address}", file=sys.__stderr__)
        traceback.print_exc(file=sys.__stderr__)


class FakeDMX:
    """A scripted fake of DMXAPI's image endpoints plus a file host for URL results."""

    def __init__(
        self,
        *,
        port: int = 0,
        mode: str = "url",
        result: bytes | None = None,
        default_delay: float = 0.0,
        keep_bytes: bool = True,
        capacity: int | None = None,
        retry_after_ms: int = 200,
    ) -> None:
        self.mode = mode
        # At most ``capacity`` image requests at once (None: no limit); one more is answered
        # 429 with a Retry-After of ``retry_after_ms``, as a saturated upstream does.
        self.capacity = capacity
        self.retry_after_ms = retry_after_ms
        self.admitted = 0
        self.throttled = 0  # 429s answered for capacity
        self.result = result if result is not None else PNG_BYTES
        self.default_delay = default_delay
        self.keep_bytes = keep_bytes
        self.requests: list[Recorded] = []
        self.files: dict[str, tuple[bytes, str]] = {}
        self.on_request: Hook | None = None
        # GET /v1/models: the models listed (new-api style), and the one key it accepts
        # (None: any key; a wrong one gets new-api's 401).
        self.models: list[dict[str, Any]] = [dict(m) for m in DEFAULT_MODELS]
        self.key: str | None = None
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._counter = 0
        self.closing = threading.Event()
        # Image requests (POSTs to EDITS and GENERATIONS) running now, and the most at once
        # (tests may reset it). Downloads and other paths are not counted.
        self.active = 0
        self.max_active = 0
        # The account API: the credentials it accepts, the balance, the billing log (newest
        # last), and ``log_lag``: a charge shows in log queries only after this many more.
        self.system_token = SYSTEM_TOKEN
        self.user_id = USER_ID
        self.quota = 50 * QUOTA_PER_CNY
        self.log: list[dict[str, Any]] = []
        self.log_lag = 0
        self._log_queries = 0
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + API_PREFIX

    def start(self) -> FakeDMX:
        # serve_forever checks for shutdown() once per poll_interval (0.5 s by default):
        # that was half a second of every test's teardown.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeDMX:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting ---------------------------------------------------------------
    def script(self, path: str, *replies: Reply) -> None:
        """Queue answers for ``path`` (e.g. ``/v1/images/edits`` or ``/files/a.png``)."""
        with self._lock:
            self._scripts[path].extend(replies)

    def add_file(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        with self._lock:
            self.files[name] = (data, content_type)
        return f"{self.origin}/files/{name}"

    def url_result(self, data: bytes | None = None, *, name: str | None = None) -> dict[str, Any]:
        """An answer body whose result is a URL on this server serving ``data``."""
        url = self.add_file(name or f"result-{self._next()}.png", data or self.result)
        return {"created": int(time.time()), "data": [{"url": url}]}

    @staticmethod
    def b64_result(data: bytes | None = None) -> dict[str, Any]:
        payload = base64.b64encode(data if data is not None else PNG_BYTES).decode("ascii")
        return {"created": int(time.time()), "data": [{"b64_json": payload}]}

    def _next(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    # -- queries -----------------------------------------------------------------
    def posts(self, path: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and (path is None or r.path == path)]

    def gets(self, path_prefix: str = "/files/") -> list[Recorded]:
        return [r for r in self.requests if r.method == "GET" and r.path.startswith(path_prefix)]

    def account_requests(self) -> list[Recorded]:
        """Every request to the account API (/api/...)."""
        return [r for r in self.requests if r.path.startswith("/api/")]

    # -- the account API (SPEC 8) --------------------------------------------------
    def charge(self, recorded: Recorded, request_id: str, status: int | None) -> dict[str, Any]:
        """Put one billed request in the log (as DMXAPI does when the work was done)."""
        if fakegemini.is_gemini(recorded.path):
            fields = fakegemini.fields(recorded)
        elif recorded.parts:
            fields = recorded.fields
        else:
            try:
                fields = {k: str(v) for k, v in json.loads(recorded.body or b"{}").items()}
            except (ValueError, AttributeError):
                fields = {}
        size = (fields.get("size") or "1K").upper()
        token = recorded.headers.get("authorization", "").removeprefix("Bearer ")
        token = token or recorded.headers.get("x-goog-api-key", "")
        with self._lock:
            self._counter += 1
            item = {
                "id": self._counter,
                "created_at": int(time.time()),
                "type": 2,
                "content": f"image request, HTTP {status if status is not None else '-'}",
                "username": "tester",
                "token_name": "dmxedit-test" if token else "",
                "model_name": fields.get("model", ""),
                "quota": PRICES.get(size, PRICES["1K"]),
                "prompt_tokens": 0,
                "completion_tokens": 2000 if size == "4K" else 1210,
                "use_time": max(0, round(time.monotonic() - recorded.started)),
                "is_stream": False,
                "channel": 1,
                "token_id": 1,
                "group": "default",
                "ip": "127.0.0.1",
                "request_id": request_id,
                "other": "",
                "_visible_after": self._log_queries + self.log_lag,
            }
            self.log.append(item)
            self.quota -= PRICES.get(size, PRICES["1K"])
        return item

    def _account_auth(self, recorded: Recorded) -> Reply | None:
        """None when the system token and both user id headers are right."""
        if recorded.headers.get("authorization") != self.system_token:
            message = "无权进行此操作，access token 无效"
            return Reply(status=401, json={"success": False, "message": message})
        for name in ("dmx-api-user", "rix-api-user"):
            if recorded.headers.get(name) != self.user_id:
                message = f"无权进行此操作，{name} 与登录用户不匹配"
                return Reply(json={"success": False, "message": message})
        return None

    def _account_reply(self, recorded: Recorded) -> Reply:
        from urllib.parse import parse_qs

        refused = self._account_auth(recorded)
        if refused is not None:
            return refused
        if recorded.path == USER_SELF:
            with self._lock:
                used = sum(int(i["quota"]) for i in self.log)
                data = {
                    "id": int(self.user_id),
                    "username": "tester",
                    "quota": self.quota,
                    "used_quota": used,
                    "request_count": len(self.log),
                    "group": "default",
                }
            return Reply(json={"success": True, "message": "", "data": data})
        query = {k: v[-1] for k, v in parse_qs(recorded.query, keep_blank_values=True).items()}

        def number(name: str, default: int) -> int:
            try:
                return int(query.get(name) or default)
            except ValueError:
                return default

        page = max(1, number("p", 1))
        size = min(100, max(1, number("page_size", 10)))
        start, end = number("start_timestamp", 0), number("end_timestamp", 0)
        with self._lock:
            self._log_queries += 1
            seen = self._log_queries
            items = [dict(i) for i in self.log if i["_visible_after"] < seen]
        for name in ("model_name", "token_name", "request_id"):
            if query.get(name):
                items = [i for i in items if i[name] == query[name]]
        if start:
            items = [i for i in items if i["created_at"] >= start]
        if end:
            items = [i for i in items if i["created_at"] <= end]
        items.reverse()  # newest first, as DMXAPI lists them
        for item in items:
            del item["_visible_after"]
        shown = items[(page - 1) * size : page * size]
        data = {"page": page, "page_size": size, "total": len(items), "items": shown}
        return Reply(json={"success": True, "message": "", "data": data})

    def _take(self, path: str) -> Reply | None:
        with self._lock:
            queue = self._scripts.get(path)
            if queue:
                return queue.popleft()
        return None

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def _enter(self) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def _leave(self) -> None:
        with self._lock:
            self.active -= 1

    def _admit(self) -> bool:
        """Room for one more image request under ``capacity`` (always, without one)."""
        with self._lock:
            if self.capacity is None:
                return True
            if self.admitted >= self.capacity:
                self.throttled += 1
                return False
            self.admitted += 1
            return True

    def _release(self) -> None:
        with self._lock:
            self.admitted -= 1

    def busy_reply(self) -> Reply:
        seconds = max(1, -(-self.retry_after_ms // 1000))
        return Reply(
            status=429,
            json={"error": {"message": "upstream saturated", "type": "rate_limit"}},
            headers={"Retry-After": str(seconds), "retry-after-ms": str(self.retry_after_ms)},
        )

    def default_reply(self, recorded: Recorded) -> Reply:
        if recorded.method == "HEAD":
            return Reply(status=200, body=b"", content_type="text/html")
        if recorded.method == "GET" and recorded.path == MODELS:
            sent = recorded.headers.get("authorization", "")
            token = sent[7:] if sent.lower().startswith("bearer ") else sent
            if not token or (self.key is not None and token != self.key):
                said = "无效的令牌" if token else "未提供令牌"
                return Reply(status=401, json={"error": {"message": said, "type": "new_api_error"}})
            return Reply(json={"object": "list", "data": self.models, "success": True})
        if recorded.method == "POST" and fakegemini.is_gemini(recorded.path):
            return fakegemini.reply(self, recorded)
        if recorded.method == "POST" and recorded.path in (EDITS, GENERATIONS):
            from fakemodels import answer  # each model's own answers (SPEC 12)

            if (modeled := answer(self, recorded)) is not None:
                return modeled
            if self.mode == "b64":
                return Reply(json=self.b64_result(self.result), delay=self.default_delay)
            return Reply(json=self.url_result(self.result), delay=self.default_delay)
        if recorded.method == "GET" and recorded.path.startswith("/files/"):
            name = recorded.path[len("/files/") :]
            with self._lock:
                found = self.files.get(name)
            if found is None:
                return Reply(status=404, json={"error": {"message": "no such file"}})
            return Reply(body=found[0], content_type=found[1])
        if recorded.method == "GET" and recorded.path in (USER_SELF, LOG_SELF):
            return self._account_reply(recorded)
        return Reply(status=404, json={"error": {"message": f"unknown path {recorded.path}"}})


def _with_request_id(reply: Reply, fake: FakeDMX) -> tuple[Reply, str]:
    """Every answer carries a request id (DMXAPI's header) unless it has one already."""
    for name, value in reply.headers.items():
        if name.lower() in REQUEST_ID_NAMES:
            return reply, value
    rid = f"2026{fake._next():012d}{os.urandom(4).hex()}"
    return dataclasses.replace(reply, headers={**reply.headers, "X-Rixapi-Request-Id": rid}), rid


def _billed(reply: Reply, recorded: Recorded) -> bool:
    """Whether DMXAPI would bill this image request: the work was done."""
    if reply.bill is not None:
        return reply.bill
    if not recorded.complete:
        return False  # the upload was cut: the API never had the whole request
    if reply.drop or reply.truncate_to is not None:
        return True  # read whole, worked on, the answer lost on the way
    if reply.status == 200:
        return not (isinstance(reply.json, dict) and reply.json.get("error"))
    return reply.status >= 500 and reply.status != 503


class _BodyReader:
    """Reads a request body (Content-Length or chunked) in pieces."""

    def __init__(self, rfile: Any, headers: Any) -> None:
        self.rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.remaining = int(headers.get("Content-Length") or 0)
        self.total = 0
        self.complete = True

    def __iter__(self) -> Iterator[bytes]:
        if self.chunked:
            yield from self._chunks()
            return
        while self.remaining > 0:
            data = self.rfile.read1(min(self.remaining, 1 << 20))
            if not data:
                self.complete = False
                return
            self.remaining -= len(data)
            self.total += len(data)
            yield data

    def _chunks(self) -> Iterator[bytes]:
        while True:
            line = self.rfile.readline()
            if not line:
                self.complete = False
                return
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            left = size
            while left:
                data = self.rfile.read(min(left, 1 << 20))
                if not data:
                    self.complete = False
                    return
                left -= len(data)
                self.total += len(data)
                yield data
            self.rfile.readline()


class _MultipartParser:
    """Streamed multipart/form-data parser: feed pieces, get parts."""

    def __init__(self, boundary: bytes, keep_bytes: bool) -> None:
        self.delimiter = b"\r\n--" + boundary
        self.keep = keep_bytes
        self.buffer = b"\r\n"  # so the first delimiter matches like the others
        self.parts: list[Part] = []
        self.state = "preamble"
        self._headers: dict[str, str] = {}
        self._data: list[bytes] = []
        self._size = 0
        self._crc = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.state == "preamble":
                at = self.buffer.find(self.delimiter)
                if at < 0:
                    self.buffer = self.buffer[-len(self.delimiter) :]
                    return
                self.buffer = self.buffer[at + len(self.delimiter) :]
                self.state = "after-delimiter"
            elif self.state == "after-delimiter":
                if len(self.buffer) < 2:
                    return
                if self.buffer.startswith(b"--"):
                    self.state = "done"
                    return
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end].decode("utf-8", "replace")
                self.buffer = self.buffer[end + 4 :]
                self._headers = {}
                for line in head.split("\r\n"):
                    if ":" in line:
                        key, value = line.split(":", 1)
                        self._headers[key.strip().lower()] = value.strip()
                self._data, self._size, self._crc = [], 0, 0
                self.state = "body"
            elif self.state == "body":
                at = self.buffer.find(self.delimiter)
                if at < 0:
                    keep = len(self.delimiter)
                    if len(self.buffer) > keep:
                        self._emit(self.buffer[:-keep])
                        self.buffer = self.buffer[-keep:]
                    return
                self._emit(self.buffer[:at])
                self.buffer = self.buffer[at + len(self.delimiter) :]
                self._finish_part()
                self.state = "after-delimiter"
            else:
                return

    def _emit(self, data: bytes) -> None:
        self._size += len(data)
        self._crc = zlib.crc32(data, self._crc)
        if self.keep or not self._headers.get("content-disposition", "").count("filename="):
            self._data.append(data)

    def _finish_part(self) -> None:
        disposition = self._headers.get("content-disposition", "")
        params: dict[str, str] = {}
        for item in disposition.split(";")[1:]:
            if "=" in item:
                key, value = item.strip().split("=", 1)
                params[key.lower()] = value.strip().strip('"')
        is_file = "filename" in params
        data = b"".join(self._data) if (self.keep or not is_file) else None
        self.parts.append(
            Part(
                name=params.get("name", ""),
                filename=params.get("filename"),
                content_type=self._headers.get("content-type"),
                headers=dict(self._headers),
                size=self._size,
                crc32=self._crc,
                data=data,
            )
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: headers and body go out in separate writes, and with Nagle the body
    # waited for the client's delayed ACK, ~40 ms per request on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server
    _counted = False  # this request is an image POST still counted in FakeDMX.active
    _admitted = False  # this request holds one of FakeDMX.capacity's places

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:  # dmxedit doctor's reachability probe
        self._handle()

    def _target(self) -> str:
        """The request target as a path: an absolute-form one (``GET http://host/v1/models``,
        what a client sends to an HTTP proxy) loses its scheme and host, so the fake can
        stand in for a named site (www.dmxapi.cn) as a proxy."""
        if self.path.startswith("http://"):
            rest = self.path[len("http://") :]
            return "/" + rest.partition("/")[2]
        return self.path

    def _handle(self) -> None:
        fake = self.server.fake
        path = self._target().partition("?")[0]
        gemini = fakegemini.is_gemini(path)
        self._counted = self.command == "POST" and (path in (EDITS, GENERATIONS) or gemini)
        if self._counted:
            fake._enter()
        try:
            self._serve(fake)
        finally:
            self._done()

    def _done(self) -> None:
        """This image request stops counting as running (once; a no-op for the others).

        Called just before the bytes that complete the reply (or before the connection is
        closed on the client), so a client that has its whole answer, and may already be
        sending its next request, never finds this one still counted; and before any
        lingering (a stall after a truncated body).
        """
        if self._counted:
            self._counted = False
            self.server.fake._leave()
        if self._admitted:
            self._admitted = False
            self.server.fake._release()

    def _serve(self, fake: FakeDMX) -> None:
        path, _, query = self._target().partition("?")
        recorded = Recorded(
            method=self.command,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body_size=0,
            started=time.monotonic(),
        )
        reply = fake._take(path)
        if reply is not None and reply.drop_before_read:
            recorded.complete = False
            fake._record(recorded)
            self._abort()
            return
        self._read_body(recorded, fake)
        recorded.finished = time.monotonic()
        fake._record(recorded)
        if self._counted and fake.capacity is not None:
            if not fake._admit():
                self._answer(fake.busy_reply())
                return
            self._admitted = True
        if fake.on_request is not None:
            hooked = fake.on_request(recorded)
            if hooked is not None:
                reply = hooked
        if reply is None:
            reply = fake.default_reply(recorded)
        elif reply.status == 200 and reply.json is None and reply.body is None:
            # A scripted 200 with no body of its own (e.g. only a delay) gets the usual answer.
            usual = fake.default_reply(recorded)
            reply = dataclasses.replace(
                reply, json=usual.json, body=usual.body, content_type=usual.content_type
            )
        reply, rid = _with_request_id(reply, fake)
        if reply.delay and fake.closing.wait(reply.delay):
            self._abort()
            return
        if self._counted and _billed(reply, recorded):
            fake.charge(recorded, rid, None if reply.drop else reply.status)
        if reply.drop:
            self._abort()
            return
        self._answer(reply)

    def _read_body(self, recorded: Recorded, fake: FakeDMX) -> None:
        reader = _BodyReader(self.rfile, self.headers)
        content_type = self.headers.get("Content-Type") or ""
        if content_type.startswith("multipart/form-data") and "boundary=" in content_type:
            boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
            parser = _MultipartParser(boundary.encode("latin-1"), fake.keep_bytes)
            for piece in reader:
                parser.feed(piece)
            recorded.parts = parser.parts
        elif fakegemini.is_gemini(recorded.path):
            fakegemini.read_body(reader, recorded, fake.keep_bytes)
        else:
            pieces = list(reader)
            recorded.body = b"".join(pieces)
        recorded.body_size = reader.total
        recorded.complete = reader.complete

    def _abort(self) -> None:
        self._done()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _answer(self, reply: Reply) -> None:
        if self.command == "HEAD":
            reply = dataclasses.replace(reply, body=b"", json=None, chunked=False)
        if reply.body is not None:
            body = reply.body
            content_type = reply.content_type or "application/octet-stream"
        elif reply.json is not None:
            body = json.dumps(reply.json).encode("utf-8")
            content_type = reply.content_type or "application/json"
        else:
            body = b""
            content_type = reply.content_type or "text/plain"
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for at in range(0, len(body), reply.chunk_size):
                    piece = body[at : at + reply.chunk_size]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                    if reply.chunk_pause and self.server.fake.closing.wait(reply.chunk_pause):
                        self._abort()
                        return
                self._done()
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        if not body and reply.truncate_to is None:
            self._done()  # the headers complete this reply
        self.end_headers()
        try:
            if reply.truncate_to is not None:
                self.wfile.write(body[: reply.truncate_to])
                self.wfile.flush()
                self._done()
                if reply.stall:
                    self.server.fake.closing.wait(reply.stall)
                self._abort()
                return
            view = memoryview(body)
            step = 1 << 20
            for at in range(0, len(body), step):
                if at + step >= len(body):
                    self._done()  # these bytes complete the reply
                self.wfile.write(view[at : at + step])
        except OSError:
            self.close_connection = True


import fakegemini  # noqa: E402 - the gemini door, which uses the names above


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The dmxedit test suite's fake DMXAPI server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per image request")
    parser.add_argument("--mode", choices=["url", "b64"], default="url")
    parser.add_argument("--result-bytes", type=int, default=0, help="size of the result PNG")
    parser.add_argument("--capacity", type=int, default=None, help="image requests at once")
    parser.add_argument("--retry-after-ms", type=int, default=200, help="the 429's wait")
    args = parser.parse_args(argv)
    result = make_big_png(args.result_bytes) if args.result_bytes else PNG_BYTES
    fake = FakeDMX(
        port=args.port,
        mode=args.mode,
        result=result,
        default_delay=args.delay,
        keep_bytes=False,
        capacity=args.capacity,
        retry_after_ms=args.retry_after_ms,
    )
    fake.start()
    print(fake.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
