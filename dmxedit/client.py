"""The HTTP conversation with the API: one POST, the answer, the result downloads.

The rules that protect the user's money live here (SPEC section 4): a POST is resent
automatically only when the API cannot have done the work (no connection, 429, 503);
after anything else that may have been billed it is resent only with
``retry_server_errors``. Result downloads are plain GETs, retried freely, on a
session that never carries the key.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3.exceptions
from requests.auth import AuthBase

from . import transfer
from ._version import __version__
from .errors import ApiError, AuthError, ConfigError, DmxError, NetworkError, SaveError
from .events import Events
from .jsonstream import Base64Decoder, JSONStreamError, parse
from .request import ImageRequest
from .results import Blob, Saver, TooLarge

USER_AGENT = f"dmxedit/{__version__} python-requests/{requests.__version__}"
REQUEST_ID_HEADERS = (
    "x-request-id",
    "request-id",
    "x-oneapi-request-id",
    "x-new-api-request-id",
    "openai-request-id",
    "x-amzn-requestid",
    "cf-ray",
)
RETRY_STATUSES = (429, 503)
MAY_BE_BILLED = (
    "The API may have done the work (and billed it); dmxedit does not send it again on its "
    "own. Check your DMXAPI usage log before running it again, or pass "
    "--retry-server-errors to resend automatically."
)
BILLED_TWICE = "Resending because of --retry-server-errors: the first attempt may have been billed."
DOWNLOAD_ATTEMPTS = 4
DOWNLOAD_READ_TIMEOUT = 120.0
ERROR_BODY_LIMIT = 64 * 1024


class _Bearer(AuthBase):
    """The key as a request auth, so a ~/.netrc entry never replaces it."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self._key}"
        return r

    def scrub(self, error: DmxError) -> DmxError:
        """An API that echoes the key back in its error text does not get it shown."""
        if self._key:
            from .settings import mask

            error.message = error.message.replace(self._key, mask(self._key))
            if error.hint:
                error.hint = error.hint.replace(self._key, mask(self._key))
        return error


class BytesBody:
    """A small body (JSON) with the same interface as :class:`MultipartBody`."""

    def __init__(self, data: bytes, on_progress: Callable[[int], None] | None = None) -> None:
        self.data = data
        self.sent = 0
        self.iterations = 0
        self.on_progress = on_progress
        self.sha256: list[str] = []

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[bytes]:
        self.iterations += 1
        self.sent = len(self.data)
        if self.on_progress is not None:
            self.on_progress(self.sent)
        yield self.data


@dataclass
class AnswerItem:
    url: str | None = None
    blob: Blob | None = None
    revised_prompt: str | None = None


@dataclass
class Answer:
    """A successful answer: the results, and what the API said besides."""

    items: list[AnswerItem]
    status: int
    request_id: str | None = None
    created: Any = None
    usage: Any = None
    attempts: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    input_sha256: list[str] = field(default_factory=list)


class _Retry(Exception):
    """An attempt failed in a way that allows another."""

    def __init__(self, error: DmxError, *, wait: float | None = None, shared: bool = False):
        super().__init__(error.message)
        self.error = error
        self.wait = wait
        self.shared = shared


def request_id(headers: Mapping[str, str]) -> str | None:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value.strip()[:200]
    return None


_TAGS = re.compile(r"<[^>]+>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def api_message(body: bytes, content_type: str = "") -> str | None:
    """The API's own words: ``error.message``, or the first line of a non-JSON body."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for candidate in (data.get("error"), data):
            if isinstance(candidate, dict):
                for key in ("message", "msg", "detail", "error_description"):
                    value = candidate.get(key)
                    if isinstance(value, str) and value.strip():
                        return _one_line(value)
            elif isinstance(candidate, str) and candidate.strip():
                return _one_line(candidate)
        return _one_line(json.dumps(data, ensure_ascii=False))
    if "html" in content_type.lower() or text.lstrip().lower().startswith(("<!doctype", "<html")):
        title = _TITLE.search(text)
        if title and title.group(1).strip():
            return _one_line(_TAGS.sub("", title.group(1)))
        text = _TAGS.sub(" ", text)
    for line in text.splitlines():
        if line.strip():
            return _one_line(line)
    return None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _empty_reason(body: Mapping[str, Any]) -> str | None:
    """Whatever reason a body without images gives: refusal text, finish reason..."""
    reasons: list[str] = []
    places: list[Mapping[str, Any]] = [body]
    data = body.get("data")
    if isinstance(data, list):
        places += [item for item in data if isinstance(item, Mapping)]
    for place in places:
        for key in (
            "message",
            "msg",
            "detail",
            "reason",
            "refusal",
            "finish_reason",
            "revised_prompt",
            "text",
            "content",
        ):
            value = place.get(key)
            if isinstance(value, str) and value.strip():
                reasons.append(f"{key}: {_one_line(value, 200)}")
    return "; ".join(dict.fromkeys(reasons)) or None


def _could_not_connect(exc: requests.exceptions.ConnectionError) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(
        reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
    )


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Client:
    """Sends image requests and downloads their results."""

    def __init__(
        self,
        *,
        api_key: str,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        retries: int = 2,
        retry_server_errors: bool = False,
        events: Events | None = None,
        pacer: transfer.Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._auth = _Bearer(api_key)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.retries = retries
        self.retry_server_errors = retry_server_errors
        self.events = events or Events()
        self.sleep = sleep
        self.pacer = pacer or transfer.Pacer(sleep=sleep)
        self._downloads: requests.Session | None = None

    def close(self) -> None:
        if self._downloads is not None:
            self._downloads.close()
            self._downloads = None

    # -- the POST -------------------------------------------------------------------

    def send(
        self,
        request: ImageRequest,
        saver: Saver,
        on_sent: Callable[[], None] | None = None,
        *,
        hash_inputs: bool = False,
    ) -> Answer:
        """POST the request, retrying only where the rules allow; returns the answer.

        ``on_sent`` is called once the whole body is counted out, just before its last
        piece goes to the network: from then on the attempt may be billed.
        ``hash_inputs`` records each input image's SHA-256 as it is sent (for metadata).
        """
        try:
            return self._send(request, saver, on_sent, hash_inputs)
        except DmxError as error:
            raise self._auth.scrub(error) from None

    def _send(
        self,
        request: ImageRequest,
        saver: Saver,
        on_sent: Callable[[], None] | None,
        hash_inputs: bool,
    ) -> Answer:
        attempt = 0
        while True:
            attempt += 1
            self.pacer.wait()
            try:
                answer = self._attempt(request, saver, on_sent, hash_inputs)
            except _Retry as retry:
                if attempt > self.retries:
                    raise retry.error from None
                delay = retry.wait if retry.wait is not None else transfer.backoff(attempt)
                if delay > transfer.MAX_RETRY_AFTER:
                    error = retry.error
                    error.message += (
                        f" The API asks to wait {delay:.0f} s before trying again, longer than "
                        f"the {transfer.MAX_RETRY_AFTER:.0f} s dmxedit waits on its own."
                    )
                    error.hint = f"Try again in {delay / 60:.0f} min or later."
                    error.details["retry_after_s"] = round(delay, 3)
                    raise error from None
                self.events.retry(attempt, delay, retry.error.message)
                if retry.shared:
                    self.pacer.pause(delay)
                    self.pacer.wait()
                else:
                    self.sleep(delay)
                continue
            answer.attempts = attempt
            return answer

    def _body(
        self, request: ImageRequest, hash_inputs: bool = False
    ) -> tuple[transfer.MultipartBody | BytesBody, str]:
        progress = self.events.upload_progress
        if request.kind == "edit":
            body = transfer.MultipartBody(
                request.fields(), request.images, on_progress=progress, hash_images=hash_inputs
            )
            return body, body.content_type
        data = json.dumps(request.json_body(), ensure_ascii=False).encode("utf-8")
        return BytesBody(data, on_progress=progress), "application/json"

    def _attempt(
        self,
        request: ImageRequest,
        saver: Saver,
        on_sent: Callable[[], None] | None,
        hash_inputs: bool = False,
    ) -> Answer:
        body, content_type = self._body(request, hash_inputs)
        total = len(body)
        timings: dict[str, float] = {}
        started = time.monotonic()
        sent_at: list[float] = []

        def progress(sent: int) -> None:
            self.events.upload_progress(sent)
            if sent >= total and not sent_at:
                sent_at.append(time.monotonic())
                if on_sent is not None:
                    on_sent()
                self.events.waiting()

        body.on_progress = progress
        self.events.upload_start(total, len(request.images))
        session = _session()
        try:
            try:
                response = session.post(
                    request.url,
                    data=body,
                    headers={"Content-Type": content_type, "Accept": "application/json"},
                    auth=self._auth,
                    timeout=(self.connect_timeout, self.timeout),
                    stream=True,
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                raise self._transport_error(exc, request, body.sent, total) from None
            answered = time.monotonic()
            timings["upload_s"] = round((sent_at[0] if sent_at else answered) - started, 3)
            timings["wait_s"] = round(answered - (sent_at[0] if sent_at else answered), 3)
            with response:
                answer = self._answer(request, response, saver)
            timings["receive_s"] = round(time.monotonic() - answered, 3)
            answer.timings = timings
            answer.input_sha256 = list(body.sha256)
            return answer
        finally:
            session.close()

    def _transport_error(
        self,
        exc: requests.exceptions.RequestException,
        request: ImageRequest,
        sent: int,
        total: int,
    ) -> Exception:
        host = urlsplit(request.url).netloc
        if isinstance(exc, requests.exceptions.SSLError):
            return NetworkError(
                f"A secure connection to {host} could not be made: {_one_line(str(exc), 200)}",
                hint="Check the base URL and any proxy or certificate settings.",
            )
        if isinstance(exc, requests.exceptions.ConnectionError) and _could_not_connect(exc):
            return _Retry(
                NetworkError(
                    f"Could not connect to {host}.",
                    hint="Check your network and the base URL (dmxedit config get base-url).",
                )
            )
        if isinstance(exc, requests.exceptions.ReadTimeout):
            error = NetworkError(
                f"The API did not answer within {self.timeout:g} s. {MAY_BE_BILLED}",
                hint="A 4K edit of many images can take minutes: raise --timeout.",
                details={"may_be_billed": True},
            )
            return self._maybe_billed(error)
        if isinstance(exc, requests.exceptions.ConnectionError) and sent < total:
            return NetworkError(
                f"The connection to {host} broke during the upload ({sent} of {total} bytes "
                "sent). The API cannot have received the whole request, so it was not billed.",
                hint="Run the command again.",
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            error = NetworkError(
                f"The connection to {host} was dropped after the upload, before an answer. "
                f"{MAY_BE_BILLED}",
                details={"may_be_billed": True},
            )
            return self._maybe_billed(error)
        return NetworkError(f"The request to {host} failed: {_one_line(str(exc), 200)}")

    def _maybe_billed(self, error: NetworkError) -> Exception:
        if self.retry_server_errors:
            error.message = error.message.replace(MAY_BE_BILLED, BILLED_TWICE)
            return _Retry(error)
        return error

    def _answer(self, request: ImageRequest, response: requests.Response, saver: Saver) -> Answer:
        status = response.status_code
        rid = request_id(response.headers)
        self.events.answered(status)
        if 200 <= status < 300:
            return self._success(request, response, saver, rid)
        raw = response.raw.read(ERROR_BODY_LIMIT, decode_content=True) or b""
        said = api_message(raw, response.headers.get("Content-Type", ""))
        text = f"HTTP {status}" + (f": {said}" if said else "")
        info: dict[str, Any] = {"status": status, "request_id": rid}
        if 300 <= status < 400:
            where = response.headers.get("Location", "?")
            return_error: DmxError = ConfigError(
                f"The API answered {status} with a redirect to {where}; dmxedit does not "
                "follow redirects with your key.",
                hint="Set the base URL to the right address (dmxedit config set base-url URL).",
                **info,
            )
            raise return_error
        if status in (401, 403):
            raise AuthError(
                f"The API refused the key ({text}).",
                hint="A key works only on the DMXAPI site that issued it: check that the base "
                f"URL ({request.base_url}) matches the key's site, and that the key is valid.",
                **info,
            )
        wait = transfer.parse_retry_after(response.headers)
        if status in RETRY_STATUSES:
            error = NetworkError(f"The API is busy ({text}).", **info)
            raise _Retry(error, wait=wait, shared=status == 429)
        if status >= 500:
            error = NetworkError(f"The API failed ({text}). {MAY_BE_BILLED}", **info)
            error.details["may_be_billed"] = True
            raise self._maybe_billed(error)
        raise ApiError(f"The API refused the request ({text}).", **info)

    def _success(
        self, request: ImageRequest, response: requests.Response, saver: Saver, rid: str | None
    ) -> Answer:
        status = response.status_code
        blobs: list[Blob] = []
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        big = request.response_format == "b64_json"
        if big:
            self.events.download_start(total, "answer")
        received = 0

        def chunks() -> Iterator[bytes]:
            nonlocal received
            for chunk in response.iter_content(1 << 18):
                received += len(chunk)
                if big:
                    self.events.download_progress(received)
                yield chunk

        def open_sink(path: tuple[str | int, ...]) -> _BlobSink | None:
            if len(path) == 3 and path[0] == "data" and path[2] == "b64_json":
                blob = saver.new_blob()
                blobs.append(blob)
                return _BlobSink(blob)
            return None

        info: dict[str, Any] = {"status": status, "request_id": rid}
        try:
            body = parse(chunks(), open_sink)
        except JSONStreamError as exc:
            _discard(blobs)
            raise ApiError(
                f"The API answered {status} with a malformed body ({exc}).", **info
            ) from None
        except TooLarge as exc:
            _discard(blobs)
            raise SaveError(f"The image was generated but {exc}; dmxedit refuses it.") from None
        except requests.exceptions.RequestException as exc:
            _discard(blobs)
            error = NetworkError(
                f"The answer was cut off while it was being received ({_one_line(str(exc), 120)}). "
                f"{MAY_BE_BILLED}",
                details={"may_be_billed": True},
                **info,
            )
            raise self._maybe_billed(error) from None
        except OSError as exc:  # after RequestException, which is an OSError too
            _discard(blobs)
            raise SaveError(
                "The image was generated but could not be written to disk, not even to the "
                f"rescue folder ({exc.strerror or exc}).",
                hint="Free some disk space or choose another folder with -o.",
            ) from None
        except BaseException:
            _discard(blobs)
            raise
        if big:
            self.events.download_done()
        try:
            return self._items(body, status, rid)
        except BaseException:
            _discard(blobs)
            raise

    def _items(self, body: Any, status: int, rid: str | None) -> Answer:
        info: dict[str, Any] = {"status": status, "request_id": rid}
        if not isinstance(body, dict):
            raise ApiError(f"The API answered {status} with a body that is not an object.", **info)
        if body.get("error"):
            said = api_message(json.dumps(body).encode())
            raise ApiError(f"The API answered {status} with an error: {said}", **info)
        data = body.get("data")
        items: list[AnswerItem] = []
        if isinstance(data, list):
            for entry in data:
                if not isinstance(entry, dict):
                    continue
                blob = entry.get("b64_json")
                url = entry.get("url")
                revised = entry.get("revised_prompt")
                item = AnswerItem(
                    url=url if isinstance(url, str) and url.strip() else None,
                    blob=blob if isinstance(blob, Blob) else None,
                    revised_prompt=revised if isinstance(revised, str) else None,
                )
                if item.url or item.blob:
                    items.append(item)
        if not items:
            reason = _empty_reason(body)
            what = "no image" if isinstance(data, list) else "no data list"
            raise ApiError(
                f"The API answered {status} but sent {what}"
                + (f" ({reason})." if reason else " and gave no reason."),
                hint="The prompt or the images may have been refused; try rewording it.",
                **info,
            )
        return Answer(
            items=items,
            status=status,
            request_id=rid,
            created=body.get("created"),
            usage=body.get("usage"),
        )

    # -- result downloads ------------------------------------------------------------

    def download(self, url: str, saver: Saver) -> Blob:
        """GET a result URL into a temporary file; retried on its own, never re-generates."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise SaveError(f"The result URL is not http(s): {url}", urls=[url])
        if self._downloads is None:
            self._downloads = _session()  # no key on this session, ever
        last: str = ""
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            blob = saver.new_blob()
            try:
                failure = self._download_once(url, blob)
            except BaseException:
                blob.discard()
                raise
            if failure is None:
                return blob
            blob.discard()
            last = failure
            if attempt < DOWNLOAD_ATTEMPTS:
                delay = transfer.backoff(attempt)
                self.events.retry(attempt, delay, f"download failed: {failure}")
                self.sleep(delay)
        raise SaveError(
            f"The image was generated but its download failed {DOWNLOAD_ATTEMPTS} times ({last}).",
            urls=[url],
            hint="Download it from the URL yourself before it expires.",
        )

    def _download_once(self, url: str, blob: Blob) -> str | None:
        """One GET into ``blob``; returns why it failed when another try may help."""
        assert self._downloads is not None
        try:
            with self._downloads.get(
                url, stream=True, timeout=(self.connect_timeout, DOWNLOAD_READ_TIMEOUT)
            ) as response:
                status = response.status_code
                if status >= 400:
                    if status in (408, 425, 429) or status >= 500:
                        return f"HTTP {status}"
                    raise SaveError(
                        f"The image was generated but its download was refused (HTTP {status}).",
                        urls=[url],
                        hint="Open the URL yourself; it may have expired.",
                    )
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if total is not None and total > blob.limit:
                    raise TooLarge(f"the result is {total // (1024 * 1024)} MiB")
                self.events.download_start(total, url)
                received = 0
                for chunk in response.iter_content(1 << 18):
                    blob.write(chunk)
                    received += len(chunk)
                    self.events.download_progress(received)
                self.events.download_done()
        except TooLarge as exc:
            raise SaveError(
                f"The image was generated but {exc}, over the 200 MiB dmxedit accepts.",
                urls=[url],
            ) from None
        except (
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidURL,
            requests.exceptions.TooManyRedirects,
            requests.exceptions.MissingSchema,
        ) as exc:
            raise SaveError(
                f"The result URL cannot be fetched: {_one_line(str(exc), 200)}", urls=[url]
            ) from None
        except requests.exceptions.RequestException as exc:
            return _one_line(str(exc), 160)
        except OSError as exc:  # the disk, not the network: another GET would not help
            raise SaveError(
                f"The image was generated but could not be written ({exc.strerror or exc}).",
                urls=[url],
                hint="Free some disk space or choose another folder with -o, or download it "
                "from the URL yourself before it expires.",
            ) from None
        return None


class _BlobSink:
    """Decode a streamed b64_json value straight into a temporary file."""

    def __init__(self, blob: Blob) -> None:
        self.blob = blob
        self.decoder = Base64Decoder(blob.write)

    def write(self, data: bytes) -> None:
        self.decoder.feed(data)

    def finish(self) -> Blob:
        self.decoder.close()
        return self.blob


def _discard(blobs: list[Blob]) -> None:
    for blob in blobs:
        blob.discard()
