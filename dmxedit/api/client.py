"""The HTTP conversation with the API: one POST, its answer, the result downloads.

The client knows no files. It streams each image of an answer (decoded ``b64_json`` or
a ``data:`` URL, or a downloaded result URL) into a *sink* the caller hands it: any
object with ``write(bytes)`` and ``discard()`` (``dmxedit.store.results.Blob`` in practice).
What is resent and when is decided by :mod:`dmxedit.api.retry`; each error is built here
once, complete, with the key never in it. Downloads use a session that never carries
the key.
"""

from __future__ import annotations

import codecs
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NoReturn, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3.exceptions
from requests.auth import AuthBase

from dmxedit._version import __version__
from dmxedit.api.jsonstream import Base64Decoder, JSONStreamError, parse
from dmxedit.api.multipart import BytesBody, MultipartBody
from dmxedit.api.request import ImageRequest
from dmxedit.api.retry import (
    DOWNLOAD_ATTEMPTS,
    Decision,
    Fault,
    Outcome,
    Pacer,
    Policy,
    classify_status,
    download_decision,
)
from dmxedit.core.catalog import MAX_RESULT_BYTES, SITES, is_image_model, other_sites
from dmxedit.core.errors import ApiError, AuthError, ConfigError, DmxError, NetworkError, SaveError
from dmxedit.core.events import Events
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
MAY_BE_BILLED = (
    "The API may have done the work (and billed it); dmxedit does not send it again on its "
    "own. Check your DMXAPI usage log before running it again, or pass "
    "--retry-server-errors to resend automatically."
)
DOWNLOAD_READ_TIMEOUT = 120.0
ERROR_BODY_LIMIT = 64 * 1024
BOM = b"\xef\xbb\xbf"


class Sink(Protocol):
    """Where the bytes of one result image go."""

    def write(self, data: bytes) -> None: ...

    def discard(self) -> None: ...


S = TypeVar("S", bound=Sink)
T = TypeVar("T")


@dataclass
class AnswerItem(Generic[S]):
    """One image of an answer: its URL, or (b64_json / data: URL) its received bytes."""

    url: str | None = None
    sink: S | None = None
    revised_prompt: str | None = None


@dataclass
class Answer(Generic[S]):
    """A successful answer: the results, and what the API said besides."""

    items: list[AnswerItem[S]]
    status: int
    request_id: str | None = None
    created: Any = None
    usage: Any = None
    attempts: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    input_sha256: list[str | None] = field(default_factory=list)


class _Failed(Exception):
    """An attempt failed in a way the retry policy decides on; ``build`` makes the error."""

    def __init__(self, outcome: Outcome, build: Callable[[Decision], DmxError]) -> None:
        super().__init__(outcome.fault.value)
        self.outcome = outcome
        self.build = build


class _Bearer(AuthBase):
    """The key as a request auth, so a ~/.netrc entry never replaces it."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.key}"
        return r


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
    return body.decode(encoding, "replace")


def api_message(body: bytes, content_type: str = "") -> str | None:
    """The API's own words: ``error.message``, or the first line of a non-JSON body."""
    text = decode_text(body, content_type).strip()
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
                        return one_line(value)
            elif isinstance(candidate, str) and candidate.strip():
                return one_line(candidate)
        return one_line(json.dumps(data, ensure_ascii=False))
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
                reasons.append(f"{key}: {one_line(value, 200)}")
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


def network_words(exc: BaseException) -> str:
    """What a network exception means, in words (never the library's repr)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "the connection could not be made in time"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no data arrived in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the secure connection failed"
    if isinstance(exc, requests.exceptions.ConnectionError) and _could_not_connect(exc):
        return "the connection could not be made"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError)):
        return "the connection broke before all the data arrived"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "the connection broke"
    return "the transfer failed"


MODELS_ADVICE = "Run `dmxedit models` to see the models your key can use."
MODELS_LIMIT = 16 * 1024 * 1024  # a model list is far smaller; refuse a runaway body
# What relays of the new-api / one-api family say when no channel serves the model name
# ("当前分组 default 下对于模型 x 无可用渠道", "No available channel for model x under group
# default", code model_not_found), what OpenAI-style APIs say for an unknown model, and
# new-api's 403 for a key limited to other models ("该令牌无权访问模型 x").
_NO_CHANNEL = re.compile(
    r"no available channel|无可用渠道|model_not_found|model\b.{0,200}\b(?:does not exist|not found)"
    r"|模型.{0,100}不存在|不支持(?:该|此)?模型",
    re.I | re.S,
)
_FORBIDDEN_MODEL = re.compile(
    r"无权访问.{0,20}模型|not allowed to (?:use|access) (?:the )?model|"
    r"(?:no|without) (?:access|permission) to (?:the )?model",
    re.I | re.S,
)


def model_unusable(body: bytes, said: str | None = None) -> str | None:
    """Whether an error body says the model cannot be used: ``"forbidden"`` (the key is
    limited to other models), ``"no channel"`` (no channel serves that name: a typo, or a
    model outside the key's group), or None."""
    text = said if said is not None else api_message(body[:ERROR_BODY_LIMIT]) or ""
    if _FORBIDDEN_MODEL.search(text):
        return "forbidden"
    if _NO_CHANNEL.search(text) or b'"model_not_found"' in body[:ERROR_BODY_LIMIT]:
        return "no channel"  # the message, or new-api's error code
    return None


def site_hint(base_url: str) -> str:
    """What a 401 from ``base_url`` should make the user check: the key's site."""
    host = (urlsplit(base_url).hostname or "").lower()
    hint = (
        "A key works only on the DMXAPI site that issued it: check that the base URL "
        f"({base_url}) matches the key's site."
    )
    if host in SITES:
        others = other_sites(host)
        hint += (
            f" A key made on another site needs its base URL: {' or '.join(others)} "
            "(dmxedit config set base-url URL)."
        )
    return hint


def _reason(exc: BaseException) -> BaseException | None:
    """The urllib3 error under a requests ConnectionError (MaxRetryError unwrapped)."""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return reason if isinstance(reason, BaseException) else None


def connection_problem(
    exc: BaseException, host: str, timeout: float, read_timeout: float | None = None
) -> tuple[str, str]:
    """Why a request to ``host`` failed, and what to do, in words (never a repr);
    ``timeout`` is the connect timeout, ``read_timeout`` the answer's (default: the same)."""
    from dmxedit.api.proxies import SOCKS_INSTALL

    reason = _reason(exc)
    cause = (reason.__cause__ or reason.__context__) if reason is not None else None
    if isinstance(exc, requests.exceptions.InvalidSchema) and "socks" in str(exc).lower():
        return (
            "the proxy is a SOCKS proxy, and SOCKS support (PySocks) is not installed",
            f"Install it: {SOCKS_INSTALL} (or use an http:// proxy).",
        )
    if isinstance(exc, requests.exceptions.ProxyError) and "407" in str(exc):
        return (
            "the proxy asks for a user name and password (HTTP 407)",
            "Put them in the proxy URL: http://USER:PASSWORD@HOST:PORT.",
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return (
            "the proxy could not be used",
            "Check the proxy variables (HTTPS_PROXY, ALL_PROXY) and that the proxy runs; "
            "NO_PROXY lists hosts that bypass it.",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return (
                f"the certificate of {host} could not be verified",
                "A proxy or firewall that inspects HTTPS needs its own CA certificate: "
                "point REQUESTS_CA_BUNDLE at it.",
            )
        return (
            f"the secure connection (TLS) to {host} failed",
            "Check the base URL (https for DMXAPI) and any proxy between you and the site.",
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return (
            f"no connection to {host} within {timeout:g} s",
            "Check your network, firewall or proxy; --connect-timeout waits longer.",
        )
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return (
            f"{host} accepted the connection but did not answer within "
            f"{read_timeout or timeout:g} s",
            "The site or a proxy in between may be overloaded; try again later.",
        )
    resolution = getattr(urllib3.exceptions, "NameResolutionError", ())
    if (resolution and isinstance(reason, resolution)) or "resolve" in str(reason).lower():
        return (
            f"the name {urlsplit('//' + host).hostname or host} could not be resolved (DNS)",
            "Check the base URL's host name and your network's DNS.",
        )
    if isinstance(cause, ConnectionRefusedError) or "refused" in str(reason).lower():
        return (
            f"the connection to {host} was refused (nothing answers on that port)",
            "Check the base URL's host and port.",
        )
    return network_words(exc), "Check your network and the base URL."


@dataclass(frozen=True)
class ModelInfo:
    """One model of ``GET /models``: its id, owner and (new-api) endpoint types."""

    id: str
    owned_by: str | None = None
    endpoint_types: tuple[str, ...] = ()

    @property
    def image(self) -> bool:
        return is_image_model(self.id, self.endpoint_types)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owned_by": self.owned_by,
            "supported_endpoint_types": list(self.endpoint_types),
            "image": self.image,
        }


def parse_models(
    raw: bytes,
    content_type: str,
    base_url: str,
    status: int = 200,
    rid: str | None = None,
    *,
    secrets: tuple[str | None, ...] = (),
) -> list[ModelInfo]:
    """The models of a ``/models`` answer: OpenAI's ``{"object": "list", "data": [...]}``
    (new-api adds ``supported_endpoint_types``), or a bare list; ApiError otherwise.
    Every text of it is redacted of ``secrets``."""
    info: dict[str, Any] = {"status": status, "request_id": rid}
    no_v1 = not base_url.rstrip("/").endswith("/v1")
    v1_hint = (
        f"The base URL {base_url} does not end in /v1: DMXAPI's is like "
        "https://www.dmxapi.cn/v1 (dmxedit config set base-url URL)."
        if no_v1
        else None
    )
    if len(raw) > MODELS_LIMIT:
        raise ApiError(f"The model list is over {_mib(MODELS_LIMIT)}; it was refused.", **info)
    text = redact(decode_text(raw, content_type).strip(), *secrets)
    try:
        body = json.loads(text)
    except ValueError:
        page = "html" in content_type.lower() or text[:200].lower().startswith(
            ("<!doctype", "<html")
        )
        raise ApiError(
            f"The API answered {status} with "
            + ("a web page" if page else "something that is not JSON")
            + ", not a model list.",
            hint=v1_hint or "Check the base URL (dmxedit config get base-url).",
            **info,
        ) from None
    if isinstance(body, dict) and (body.get("success") is False or body.get("error")):
        said = redact(api_message(raw, content_type) or "no message", *secrets)
        raise ApiError(f"The API answered {status} with an error: {said}", **info)
    entries = body.get("data") if isinstance(body, dict) else body
    if not isinstance(entries, list):
        raise ApiError(
            f"The API answered {status} with a body that is not a model list.",
            hint=v1_hint,
            **info,
        )
    models: list[ModelInfo] = []
    seen: set[str] = set()
    for entry in entries:
        if isinstance(entry, str):
            entry = {"id": entry}
        if not isinstance(entry, dict):
            continue
        model_id = entry.get("id")
        if not isinstance(model_id, str) or not model_id.strip() or model_id in seen:
            continue
        seen.add(model_id)
        kinds = entry.get("supported_endpoint_types")
        owner = entry.get("owned_by")
        models.append(
            ModelInfo(
                id=model_id,
                owned_by=owner if isinstance(owner, str) else None,
                endpoint_types=tuple(str(k) for k in kinds) if isinstance(kinds, list) else (),
            )
        )
    return models


@dataclass(frozen=True)
class Reached:
    """A site that answered: its HTTP status, and how long the connection and the
    status line took."""

    status: int
    seconds: float


def reach(url: str, timeout: float) -> Reached:
    """Connect to ``url``'s site as an edit would (DNS, proxy, TCP, TLS) and read the
    status of a HEAD of it (no body, no key), each step within ``timeout`` seconds.
    NetworkError, in words, when it cannot be reached."""
    host = urlsplit(url).netloc
    session = _session()
    started = time.monotonic()
    try:
        with session.head(url, timeout=(timeout, timeout), allow_redirects=False) as response:
            return Reached(response.status_code, time.monotonic() - started)
    except requests.exceptions.RequestException as exc:
        problem, hint = connection_problem(exc, host, timeout)
        raise NetworkError(f"{host} cannot be reached: {problem}.", hint=hint) from None
    finally:
        session.close()


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = requests.adapters.HTTPAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _mib(limit: int) -> str:
    return f"{limit / (1024 * 1024):g} MiB"


class _TooLarge(Exception):
    pass


class _Capped:
    """A sink wrapper that refuses more than ``limit`` bytes."""

    def __init__(self, sink: Sink, limit: int) -> None:
        self.sink = sink
        self.limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise _TooLarge
        self.sink.write(data)


class _B64Sink(Generic[S]):
    """Decode a streamed ``b64_json`` value straight into a sink."""

    def __init__(self, sink: S, limit: int) -> None:
        self.sink = sink
        self.decoder = Base64Decoder(_Capped(sink, limit).write)

    def write(self, data: bytes) -> None:
        self.decoder.feed(data)

    def finish(self) -> S:
        self.decoder.close()
        return self.sink


@dataclass
class _DataUrl(Generic[S]):
    """A ``url`` that was a ``data:image/...;base64,`` URI, decoded into a sink."""

    sink: S


class _UrlSink(Generic[S]):
    """A ``url`` value: a short text, or a ``data:`` URI decoded as it streams in."""

    def __init__(self, open_sink: Callable[[], S], opened: list[S], limit: int) -> None:
        self.open_sink = open_sink
        self.opened = opened
        self.limit = limit
        self.text = b""
        self.inner: _B64Sink[S] | None = None

    def write(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.write(data)
            return
        self.text += data
        head = self.text.lstrip()[:5].lower()
        if head == b"data:":
            sink = self.open_sink()
            self.opened.append(sink)
            self.inner = _B64Sink(sink, self.limit)
            self.inner.write(self.text.lstrip())
            self.text = b""
        elif len(self.text) > 64 * 1024:
            raise JSONStreamError("a url value is too long")

    def finish(self) -> str | _DataUrl[S]:
        if self.inner is not None:
            return _DataUrl(self.inner.finish())
        return self.text.decode("utf-8", "replace")


class Client:
    """Sends image requests and downloads their results."""

    def __init__(
        self,
        *,
        api_key: str,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        policy: Policy | None = None,
        events: Events | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        limit: int = MAX_RESULT_BYTES,
    ) -> None:
        self._auth = _Bearer(api_key)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.policy = policy or Policy()
        self.events = events or Events()
        self.pacer = pacer or Pacer(sleep=sleep)
        self.limit = limit
        self._downloads: requests.Session | None = None
        self._attempt_number = 1  # the attempt of the POST now failing (see _billing)

    def close(self) -> None:
        if self._downloads is not None:
            self._downloads.close()
            self._downloads = None

    def _redact(self, value: T) -> T:
        """An API that echoes the key back does not get it shown or stored: every text
        of an answer (message, header, URL, request id, revised prompt) goes through
        this before it leaves the client."""
        redacted: T = redact(value, self._auth.key)
        return redacted

    def _rid(self, headers: Mapping[str, str]) -> str | None:
        """The answer's request id (redacted: a relay may echo anything there)."""
        return self._redact(request_id(headers))

    # -- the POST -------------------------------------------------------------------

    def send(
        self,
        request: ImageRequest,
        open_sink: Callable[[], S],
        *,
        on_sent: Callable[[], None] | None = None,
        hash_inputs: bool = False,
    ) -> Answer[S]:
        """POST the request, resending only where the retry policy allows.

        ``open_sink`` gives a new sink for each image whose bytes come inside the answer.
        ``on_sent`` is called once per attempt when the whole body is counted out, just
        before its last piece goes to the network: from then on it may be billed.
        ``hash_inputs`` records each input image's SHA-256 as it is sent.
        """
        answer, attempts = self._retrying(
            lambda: self._attempt(request, open_sink, on_sent, hash_inputs)
        )
        answer.attempts = attempts
        return answer

    def _retrying(self, once: Callable[[], T]) -> tuple[T, int]:
        """Call ``once`` until it succeeds or the retry policy says stop; (result, attempts)."""
        attempt = 0
        while True:
            attempt += 1
            self.pacer.wait()
            self.pacer.begin()
            try:
                result = once()
            except _Failed as failed:
                self.pacer.end()
                decision = self.policy.decide(failed.outcome, attempt)
                if failed.outcome.status == 429:
                    self.pacer.throttled()
                self._attempt_number = attempt  # for the error's words on billing
                error = failed.build(decision)
                if not decision.resend:
                    raise error from None
                reason = error.message  # says nothing of billing: said once, here
                if decision.billed_twice_risk:
                    reason += (
                        " It may have been billed; resending because of --retry-server-errors."
                    )
                self.events.retry(attempt, decision.wait, reason)
                self.pacer.hold(decision)
                continue
            except BaseException:
                self.pacer.end()
                raise
            self.pacer.end()
            return result, attempt

    def _body(self, request: ImageRequest, hash_inputs: bool) -> MultipartBody | BytesBody:
        if request.kind == "edit":
            return MultipartBody(request.fields(), request.images, hash_images=hash_inputs)
        data = json.dumps(request.json_body(), ensure_ascii=False).encode("utf-8")
        return BytesBody(data)

    def _attempt(
        self,
        request: ImageRequest,
        open_sink: Callable[[], S],
        on_sent: Callable[[], None] | None,
        hash_inputs: bool,
    ) -> Answer[S]:
        body = self._body(request, hash_inputs)
        total = len(body)
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
                    headers={
                        "Content-Type": getattr(body, "content_type", "application/json"),
                        "Accept": "application/json",
                    },
                    auth=self._auth,
                    timeout=(self.connect_timeout, self.timeout),
                    stream=True,
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                self._transport_failure(exc, request, body.sent, total)
            answered = time.monotonic()
            sent = sent_at[0] if sent_at else answered
            timings = {"upload_s": round(sent - started, 3), "wait_s": round(answered - sent, 3)}
            with response:
                answer = self._answer(request, response, open_sink)
            timings["receive_s"] = round(time.monotonic() - answered, 3)
            answer.timings = timings
            answer.input_sha256 = list(body.sha256)
            return answer
        finally:
            body.on_progress = None  # this attempt is over: its callbacks are too
            session.close()

    def _billing(self, decision: Decision) -> str:
        """What an error says of billing: nothing when it is resent (the retry line says
        it), else whether this and any earlier attempt may have been billed."""
        if not decision.may_be_billed or decision.resend:
            return ""
        if self.policy.retry_server_errors:
            if self._attempt_number > 1:
                return (
                    " It was sent again because of --retry-server-errors; every attempt may "
                    "have been billed."
                )
            return " It may have been billed."
        return " " + MAY_BE_BILLED

    def _transport_failure(
        self,
        exc: requests.exceptions.RequestException,
        request: ImageRequest,
        sent: int,
        total: int,
    ) -> NoReturn:
        host = urlsplit(request.url).netloc
        if isinstance(exc, (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL)):
            # Nothing went out: requests refused the proxy (check_proxy normally says so
            # before the client is made).
            from dmxedit.api.proxies import check_proxy

            check_proxy(request.url)
        if isinstance(exc, requests.exceptions.SSLError):
            raise NetworkError(
                f"A secure connection to {host} could not be made.",
                hint="Check the base URL and any proxy or certificate settings.",
            ) from None
        if isinstance(exc, requests.exceptions.ConnectionError) and _could_not_connect(exc):
            raise _Failed(
                Outcome(Fault.NO_CONNECTION),
                lambda d: NetworkError(
                    f"Could not connect to {host}.",
                    hint="Check your network and the base URL (dmxedit config get base-url).",
                ),
            )
        if isinstance(exc, requests.exceptions.ReadTimeout):
            raise _Failed(
                Outcome(Fault.TIMEOUT),
                lambda d: NetworkError(
                    f"The API did not answer within {self.timeout:g} s.{self._billing(d)}",
                    hint="A 4K edit of many images can take minutes: raise --timeout.",
                    details={"may_be_billed": True},
                ),
            )
        if isinstance(exc, requests.exceptions.ConnectionError) and sent < total:
            raise NetworkError(
                f"The connection to {host} broke during the upload ({sent} of {total} bytes "
                "sent). The API cannot have received the whole request, so it was not billed.",
                hint="Run the command again.",
            ) from None
        if isinstance(exc, requests.exceptions.ConnectionError):
            raise _Failed(
                Outcome(Fault.DROPPED),
                lambda d: NetworkError(
                    f"The connection to {host} was dropped after the upload, before an "
                    f"answer.{self._billing(d)}",
                    details={"may_be_billed": True},
                ),
            )
        raise NetworkError(f"The request to {host} failed: {network_words(exc)}.") from None

    def _answer(
        self, request: ImageRequest, response: requests.Response, open_sink: Callable[[], S]
    ) -> Answer[S]:
        status = response.status_code
        rid = self._rid(response.headers)
        self.events.answered(status)
        headers = response.headers
        encoding = headers.get("Content-Encoding")
        said = (
            f"answer: HTTP {status}, request id {rid or '-'}, "
            f"{headers.get('Content-Type') or 'no content type'}, "
            f"{headers.get('Content-Length') or 'unknown'} bytes"
            + (f", {encoding}" if encoding else "")
        )
        self.events.info(self._redact(one_line(said)))
        if 200 <= status < 300:
            return self._success(request, response, open_sink, rid)
        self._refused(response, request.base_url, model=request.model)

    def _refused(
        self, response: requests.Response, base_url: str, *, model: str | None = None
    ) -> NoReturn:
        """The error an answer with an HTTP error status stands for (raised, or handed to
        the retry policy). ``model`` is the model the request asked for (None for a GET
        of the model list, which is never billed and may always be resent)."""
        status = response.status_code
        rid = self._rid(response.headers)
        raw = response.raw.read(ERROR_BODY_LIMIT, decode_content=True) or b""
        said = api_message(raw, response.headers.get("Content-Type", ""))
        text = self._redact(f"HTTP {status}" + (f": {said}" if said else ""))
        info: dict[str, Any] = {"status": status, "request_id": rid}
        unusable = model_unusable(raw, said) if model else None
        if 300 <= status < 400:
            where = self._redact(one_line(response.headers.get("Location") or "?", 200))
            raise ConfigError(
                f"The API answered {status} with a redirect to {where}; dmxedit does not "
                "follow redirects with your key.",
                hint="Set the base URL to the right address (dmxedit config set base-url URL).",
                **info,
            )
        if status in (401, 403) and unusable == "forbidden":
            raise AuthError(
                f"The key may not use the model {model!r} ({text}). {MODELS_ADVICE}",
                hint="A key's settings on your DMXAPI site can limit its models: allow this "
                "one there, or choose another with --model.",
                **info,
            )
        if status in (401, 403):
            raise AuthError(
                f"The API refused the key ({text}).",
                hint=site_hint(base_url) + " Check also that the key is valid.",
                **info,
            )
        if unusable is not None:
            # A statement about the model name, not about load: resending cannot help.
            error: type[DmxError] = NetworkError if status >= 500 else ApiError
            raise error(
                f"The API has no channel for the model {model!r} ({text}): the name may be "
                f"mistyped, or your key cannot use it. {MODELS_ADVICE}",
                hint="Choose another with --model NAME or `dmxedit config set model NAME`.",
                **info,
            )
        fault = classify_status(status)
        if fault is Fault.REFUSED:
            hint = None
            if status == 404 and not base_url.rstrip("/").endswith("/v1"):
                hint = (
                    f"The base URL {base_url} does not end in /v1: DMXAPI's is like "
                    "https://www.dmxapi.cn/v1 (dmxedit config set base-url URL)."
                )
            raise ApiError(f"The API refused the request ({text}).", hint=hint, **info)
        billable = model is not None
        # A GET is never billed: a 5xx is resent like a 503, by the same rules.
        outcome = Outcome(
            fault if billable else Fault.BUSY, status=status, headers=dict(response.headers)
        )

        def build(decision: Decision) -> DmxError:
            if fault is Fault.BUSY:
                message = f"The API is busy ({text})."
            else:
                message = f"The API failed ({text}).{self._billing(decision)}"
            details: dict[str, Any] = {"may_be_billed": True} if decision.may_be_billed else {}
            hint = None
            if decision.wait_too_long is not None:
                wait = decision.wait_too_long
                message += (
                    f" It asks to wait {wait:.0f} s before trying again, longer than the "
                    "120 s dmxedit waits on its own."
                )
                hint = f"Try again in {max(1, round(wait / 60))} min or later."
                details["retry_after_s"] = round(wait, 3)
            return NetworkError(message, hint=hint, details=details, **info)

        raise _Failed(outcome, build)

    # -- the model list ----------------------------------------------------------------

    def list_models(self, base_url: str) -> list[ModelInfo]:
        """``GET {base_url}/models`` with the key: the models it can use. Costs nothing;
        resent (it is a GET) where the retry policy allows. Errors as for an edit."""
        models, _ = self._retrying(lambda: self._models_once(base_url))
        return models

    def _models_once(self, base_url: str) -> list[ModelInfo]:
        url = base_url.rstrip("/") + "/models"
        host = urlsplit(url).netloc
        session = _session()
        try:
            try:
                response = session.get(
                    url,
                    headers={"Accept": "application/json"},
                    auth=self._auth,
                    timeout=(self.connect_timeout, self.timeout),
                    stream=True,
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                problem, hint = connection_problem(exc, host, self.connect_timeout, self.timeout)
                error = NetworkError(f"The model list could not be read: {problem}.", hint=hint)
                if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
                    exc, (requests.exceptions.SSLError, requests.exceptions.ProxyError)
                ):
                    raise _Failed(Outcome(Fault.NO_CONNECTION), lambda d: error) from None
                raise error from None
            with response:
                status = response.status_code
                rid = self._rid(response.headers)
                self.events.info(f"GET {url} -> HTTP {status}, request id {rid or '-'}")
                if not 200 <= status < 300:
                    self._refused(response, base_url)
                try:
                    raw = response.raw.read(MODELS_LIMIT + 1, decode_content=True) or b""
                except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError):
                    raise _Failed(
                        Outcome(Fault.NO_CONNECTION),
                        lambda d: NetworkError(
                            "The model list was cut off while it was being received.",
                            status=status,
                            request_id=rid,
                        ),
                    ) from None
                return parse_models(
                    raw,
                    response.headers.get("Content-Type", ""),
                    base_url,
                    status,
                    rid,
                    secrets=(self._auth.key,),
                )
        finally:
            session.close()

    def _success(
        self,
        request: ImageRequest,
        response: requests.Response,
        open_sink: Callable[[], S],
        rid: str | None,
    ) -> Answer[S]:
        status = response.status_code
        opened: list[S] = []
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        big = request.response_format == "b64_json"
        if big:
            self.events.download_start(total, "answer")
        received = 0

        def chunks() -> Iterator[bytes]:
            nonlocal received
            first = True
            for chunk in response.iter_content(1 << 18):
                received += len(chunk)
                if big:
                    self.events.download_progress(received)
                if first and chunk:
                    first = False
                    if chunk.startswith(BOM):  # RFC 8259 lets a parser ignore it
                        chunk = chunk[len(BOM) :]
                yield chunk

        def sink_for(path: tuple[str | int, ...]) -> Any:
            if len(path) == 3 and path[0] == "data" and path[2] == "b64_json":
                sink = open_sink()
                opened.append(sink)
                return _B64Sink(sink, self.limit)
            if len(path) == 3 and path[0] == "data" and path[2] == "url":
                return _UrlSink(open_sink, opened, self.limit)
            return None

        info: dict[str, Any] = {"status": status, "request_id": rid}
        try:
            try:
                body = parse(chunks(), sink_for)
            except JSONStreamError as exc:
                raise ApiError(
                    f"The API answered {status} with a malformed body ({exc}).", **info
                ) from None
            except _TooLarge:
                raise SaveError(
                    f"The image was generated but it is over the {_mib(self.limit)} dmxedit "
                    "accepts; it was refused.",
                ) from None
            except requests.exceptions.RequestException:
                raise _Failed(
                    Outcome(Fault.DROPPED),
                    lambda d: NetworkError(
                        f"The answer was cut off while it was being received.{self._billing(d)}",
                        details={"may_be_billed": True},
                        **info,
                    ),
                ) from None
            except OSError as exc:  # after RequestException, which is an OSError too
                raise SaveError(
                    "The image was generated but could not be written to disk, not even to the "
                    f"rescue folder ({exc.strerror or exc}).",
                    hint="Free some disk space or choose another folder with -o.",
                ) from None
            if big:
                self.events.download_done()
            return self._items(body, status, rid, request.model)
        except BaseException:
            for sink in opened:
                sink.discard()
            raise

    def _items(self, body: Any, status: int, rid: str | None, model: str) -> Answer[S]:
        info: dict[str, Any] = {"status": status, "request_id": rid}
        if not isinstance(body, dict):
            raise ApiError(f"The API answered {status} with a body that is not an object.", **info)
        if body.get("error"):
            encoded = json.dumps(body, ensure_ascii=False).encode()
            said = self._redact(api_message(encoded) or "no message")
            if model_unusable(encoded, said) is not None:
                raise ApiError(
                    f"The API answered {status} with an error about the model {model!r}: "
                    f"{said} {MODELS_ADVICE}",
                    hint="Choose another with --model NAME or `dmxedit config set model NAME`.",
                    **info,
                )
            raise ApiError(f"The API answered {status} with an error: {said}", **info)
        data = body.get("data")
        items: list[AnswerItem[S]] = []
        if isinstance(data, list):
            for entry in data:
                if isinstance(entry, dict):
                    item: AnswerItem[S] = self._item(entry)
                    if item.url or item.sink is not None:
                        items.append(item)
        if not items:
            reason = _empty_reason(body)
            what = "no image" if isinstance(data, list) else "no data list"
            raise ApiError(
                f"The API answered {status} but sent {what}"
                + (f" ({self._redact(reason)})." if reason else " and gave no reason."),
                hint="The prompt or the images may have been refused; try rewording it.",
                **info,
            )
        return Answer(
            items=items,
            status=status,
            request_id=rid,
            created=self._redact(body.get("created")),
            usage=self._redact(body.get("usage")),
        )

    def _item(self, entry: Mapping[str, Any]) -> AnswerItem[S]:
        url, blob, revised = entry.get("url"), entry.get("b64_json"), entry.get("revised_prompt")
        item: AnswerItem[S] = AnswerItem()
        item.revised_prompt = self._redact(revised) if isinstance(revised, str) else None
        if isinstance(url, _DataUrl):
            item.sink = url.sink
        elif isinstance(url, str) and url.strip():
            # A URL that holds the key is never fetched (the key would go to the download
            # host) nor shown or stored: its masked form stands in for it.
            item.url = self._redact(url.strip())
        if blob is not None and not isinstance(blob, (str, int, float, bool, list, dict)):
            if item.sink is None:
                item.sink = blob  # the decoded b64_json
            else:
                blob.discard()  # the same image twice: saved once
        return item

    # -- result downloads ------------------------------------------------------------

    def download(self, url: str, open_sink: Callable[[], S]) -> S:
        """GET a result URL into a new sink; retried on its own, never re-generates."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise SaveError(f"The result URL is not http(s): {one_line(url, 200)}", urls=[url])
        from dmxedit.api.proxies import proxy_for

        proxy = proxy_for(url)
        if proxy is not None and proxy.problem is not None:
            raise SaveError(
                f"The image was generated but cannot be downloaded. {proxy.problem}",
                urls=[url],
                hint=proxy.hint,
            )
        if self._downloads is None:
            self._downloads = _session()  # no key on this session, ever
        attempt = 0
        while True:
            attempt += 1
            sink = open_sink()
            try:
                failure = self._download_once(url, sink)
            except BaseException:
                sink.discard()
                raise
            if failure is None:
                return sink
            sink.discard()
            status, words = failure
            decision = download_decision(status, attempt)
            if not decision.resend:
                break
            self.events.retry(attempt, decision.wait, f"the download failed: {words}")
            self.pacer.sleep(decision.wait)
        if status is not None and status < 500 and status not in (408, 425, 429):
            raise SaveError(
                f"The image was generated but its download was refused (HTTP {status}).",
                urls=[url],
                hint="Open the URL yourself; it may have expired.",
            )
        raise SaveError(
            f"The image was generated but its download failed {attempt} "
            f"time{'s' if attempt != 1 else ''}: {words}.",
            urls=[url],
            hint="Download it from the URL yourself before it expires.",
        )

    def _download_once(self, url: str, sink: Sink) -> tuple[int | None, str] | None:
        """One GET into ``sink``; (status, what went wrong) when it failed."""
        assert self._downloads is not None
        capped = _Capped(sink, self.limit)
        try:
            with self._downloads.get(
                url, stream=True, timeout=(self.connect_timeout, DOWNLOAD_READ_TIMEOUT)
            ) as response:
                status = response.status_code
                if status >= 400:
                    return status, f"HTTP {status}"
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if total is not None and total > self.limit:
                    raise _TooLarge
                self.events.download_start(total, url)
                received = 0
                for chunk in response.iter_content(1 << 18):
                    capped.write(chunk)
                    received += len(chunk)
                    self.events.download_progress(received)
                self.events.download_done()
        except _TooLarge:
            raise SaveError(
                f"The image was generated but it is over the {_mib(self.limit)} dmxedit "
                "accepts; it was not downloaded.",
                urls=[url],
                hint="Download it from the URL yourself if you want it.",
            ) from None
        except (
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidURL,
            requests.exceptions.TooManyRedirects,
            requests.exceptions.MissingSchema,
        ):
            raise SaveError("The result URL cannot be fetched.", urls=[url]) from None
        except requests.exceptions.RequestException as exc:
            return None, network_words(exc)
        except OSError as exc:  # the disk, not the network: another GET would not help
            raise SaveError(
                f"The image was generated but could not be written ({exc.strerror or exc}).",
                urls=[url],
                hint="Free some disk space or choose another folder with -o, or download it "
                "from the URL yourself before it expires.",
            ) from None
        return None


__all__ = [
    "Answer",
    "AnswerItem",
    "Client",
    "ModelInfo",
    "Reached",
    "Sink",
    "DOWNLOAD_ATTEMPTS",
    "connection_problem",
    "model_unusable",
    "parse_models",
    "reach",
    "request_id",
    "site_hint",
]
