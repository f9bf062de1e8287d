"""The HTTP conversation with the API: one POST, its answer, the result downloads.

The client knows no files: each image of an answer goes into a *sink* the caller hands
it (see :mod:`dmxedit.api.answers`). What is resent and when is decided by
:mod:`dmxedit.api.retry`; the session, the deadlines, the error statuses and the
redaction are :mod:`dmxedit.api.http`'s. Each error is built here once, complete, with
the key never in it (downloads, :mod:`dmxedit.api.downloads`, never carry it).

``timeout`` bounds each answer (headers and body) by the wall clock, from the moment
the request has gone out; ``download_timeout`` bounds each result download. An answer
cut off after the request went out, by the deadline or the network, may have been
billed: its error says so and carries every result URL parsed before it broke off.

Over 500 lines because its messages are gettext templates (issue #26): each
``T(...)`` names its fields on lines of their own, so a translator sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from dmxedit.api import images
from dmxedit.api.answers import (
    Answer,
    AnswerItem,
    AnswerReader,
    Sink,
    TooLarge,
    answer_chunks,
    kept,
    kept_words,
)
from dmxedit.api.doors import door_for
from dmxedit.api.downloads import DOWNLOAD_TIMEOUT, Downloader
from dmxedit.api.gemini_answers import GeminiReader
from dmxedit.api.http import (
    BODY_ERRORS,
    Deadline,
    api_message,
    body_chunks,
    new_session,
    one_line,
    read_error,
    redact,
    request_id,
)
from dmxedit.api.jsonstream import JSONStreamError
from dmxedit.api.models import MODELS_LIMIT, ModelInfo, mib, model_unusable, parse_models, site_hint
from dmxedit.api.network import Reached, connection_problem, could_not_connect, network_words, reach
from dmxedit.api.proxies import check_proxy
from dmxedit.api.request import ImageRequest
from dmxedit.api.retry import (
    DOWNLOAD_ATTEMPTS,
    Decision,
    Failed,
    Fault,
    Outcome,
    Pacer,
    Policy,
    retrying,
)
from dmxedit.api.statuses import refused
from dmxedit.core.catalog import MAX_RESULT_BYTES
from dmxedit.core.errors import ApiError, NetworkError, SaveError
from dmxedit.core.events import Events
from dmxedit.core.i18n import T

MAY_BE_BILLED = T(
    "The API may have done the work (and billed it); dmxedit does not send it again on its "
    "own. Check your DMXAPI usage log before running it again, or pass "
    "--retry-server-errors to resend automatically."
)

S = TypeVar("S", bound=Sink)

#: How each door's answer is read (its request side is :mod:`dmxedit.api.doors`').
READERS: dict[str, Callable[..., Any]] = {"images": AnswerReader, "gemini": GeminiReader}
R = TypeVar("R")


class _KeyAuth(AuthBase):
    """The key as a request auth in the header its door wants (``Authorization: Bearer``
    or the gemini door's ``x-goog-api-key``), so a ~/.netrc entry never replaces it."""

    def __init__(self, key: str, door: ModuleType = images) -> None:
        self.key = key
        self.header = door.AUTH_HEADER
        self.value = door.auth_value(key)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.header != "Authorization":
            r.headers.pop("Authorization", None)
        r.headers[self.header] = self.value
        return r


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
        download_timeout: float = DOWNLOAD_TIMEOUT,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self._auth = _KeyAuth(api_key)
        #: Asked before each attempt of a request goes out (an MCP call's cancel flag):
        #: once it says yes, nothing new is sent (downloads of paid results go on).
        self.stop = stop
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.download_timeout = download_timeout
        self.policy = policy or Policy()
        self.events = events or Events()
        self.pacer = pacer or Pacer(sleep=sleep)
        self.limit = limit
        self._downloads: Downloader | None = None

    def close(self) -> None:
        if self._downloads is not None:
            self._downloads.close()
            self._downloads = None

    def _redact(self, value: R) -> R:
        """An API that echoes the key back does not get it shown or stored: every text
        of an answer (message, header, URL, request id, revised prompt) goes through
        this before it leaves the client."""
        redacted: R = redact(value, self._auth.key)
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
    ) -> Answer[S]:
        """POST the request, resending only where the retry policy allows.

        ``open_sink`` gives a new sink for each image whose bytes come inside the answer.
        ``on_sent`` is called once per attempt when the whole body is counted out, just
        before its last piece goes to the network: from then on it may be billed.
        """
        answer, attempts = self._retrying(lambda: self._attempt(request, open_sink, on_sent))
        answer.attempts = attempts
        return answer

    def _retrying(self, once: Callable[[], R]) -> tuple[R, int]:
        """Call ``once`` until it succeeds or the retry policy says stop; (result, attempts)."""
        return retrying(once, self.policy, self.pacer, self.events.retry, self.stop)

    def _attempt(
        self,
        request: ImageRequest,
        open_sink: Callable[[], S],
        on_sent: Callable[[], None] | None,
    ) -> Answer[S]:
        door = door_for(request)
        body = door.body(request)
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
        session = new_session()
        deadline = Deadline(self.timeout)
        try:
            with deadline:
                try:
                    response = session.post(
                        door.url(request),
                        data=body,
                        headers={
                            "Content-Type": getattr(body, "content_type", "application/json"),
                            "Accept": "application/json",
                        },
                        auth=_KeyAuth(self._auth.key, door),
                        timeout=(self.connect_timeout, self.timeout),
                        stream=True,
                        allow_redirects=False,
                    )
                except requests.exceptions.RequestException as exc:
                    late = requests.exceptions.ReadTimeout() if deadline.expired else exc
                    self._transport_failure(late, door.url(request), body.sent, total)
                answered = time.monotonic()
                sent = sent_at[0] if sent_at else answered
                timings = {
                    "upload_s": round(sent - started, 3),
                    "wait_s": round(answered - sent, 3),
                }
                with response:
                    answer = self._answer(request, response, open_sink, deadline)
            timings["receive_s"] = round(time.monotonic() - answered, 3)
            answer.timings = timings
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
            if decision.attempt > 1:
                return T(
                    " It was sent again because of --retry-server-errors; every attempt may "
                    "have been billed."
                )
            return T(" It may have been billed.")
        return T(" {may_be_billed}", may_be_billed=MAY_BE_BILLED)

    def _transport_failure(
        self,
        exc: requests.exceptions.RequestException,
        url: str,
        sent: int,
        total: int,
    ) -> NoReturn:
        host = urlsplit(url).netloc
        if isinstance(exc, (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL)):
            # Nothing went out: requests refused the proxy (check_proxy normally says so
            # before the client is made).

            check_proxy(url)
        if isinstance(exc, requests.exceptions.SSLError):
            raise NetworkError(
                T("A secure connection to {host} could not be made.", host=host),
                hint=T("Check the base URL and any proxy or certificate settings."),
            ) from None
        if isinstance(exc, requests.exceptions.ConnectionError) and could_not_connect(exc):
            raise Failed(
                Outcome(Fault.NO_CONNECTION),
                lambda d: NetworkError(
                    T("Could not connect to {host}.", host=host),
                    hint=T(
                        "Check your network and the base URL (dmxedit config get base-url).",
                    ),
                ),
            )
        if isinstance(exc, requests.exceptions.ReadTimeout):
            raise self._timed_out([], {})
        if isinstance(exc, requests.exceptions.ConnectionError) and sent < total:
            raise NetworkError(
                T(
                    "The connection to {host} broke during the upload ({sent} of "
                    "{total} bytes sent). The API cannot have received the whole "
                    "request, so it was not billed.",
                    host=host,
                    sent=sent,
                    total=total,
                ),
                hint=T("Run the command again."),
            ) from None
        if isinstance(exc, requests.exceptions.ConnectionError):
            raise Failed(
                Outcome(Fault.DROPPED),
                lambda d: NetworkError(
                    T(
                        "The connection to {host} was dropped after the upload, before "
                        "an answer.{billing}",
                        host=host,
                        billing=self._billing(d),
                    ),
                    may_be_billed=True,
                ),
            )
        raise NetworkError(
            T(
                "The request to {host} failed: {network_words}.",
                host=host,
                network_words=network_words(exc),
            )
        ) from None

    def _timed_out(self, urls: list[str], info: dict[str, Any]) -> Failed:
        """The answer did not all come within ``timeout``: it may have been billed."""
        return Failed(
            Outcome(Fault.TIMEOUT),
            lambda d: NetworkError(
                T(
                    "The API's answer did not all arrive within {timeout:g} s.{kept}{billing}",
                    timeout=self.timeout,
                    kept=kept_words(urls),
                    billing=self._billing(d),
                )
                if info
                else T(
                    "The API did not answer within {timeout:g} s.{kept}{billing}",
                    timeout=self.timeout,
                    kept=kept_words(urls),
                    billing=self._billing(d),
                ),
                hint=T("A 4K edit of many images can take minutes: raise --timeout."),
                may_be_billed=True,
                urls=kept(urls),
                **info,
            ),
        )

    def _answer(
        self,
        request: ImageRequest,
        response: requests.Response,
        open_sink: Callable[[], S],
        deadline: Deadline,
    ) -> Answer[S]:
        status = response.status_code
        rid = self._rid(response.headers)
        self.events.answered(status)
        headers = response.headers
        encoding = headers.get("Content-Encoding")
        said = T(
            "answer: HTTP {status}, request id {rid}, {content_type}, {length} bytes{encoding}",
            status=status,
            rid=one_line(rid or "-"),
            content_type=self._redact(one_line(headers.get("Content-Type") or ""))
            or T("no content type"),
            length=self._redact(one_line(headers.get("Content-Length") or "")) or T("unknown"),
            encoding=f", {self._redact(one_line(encoding))}" if encoding else "",
        )
        self.events.info(said)
        if 200 <= status < 300:
            return self._success(request, response, open_sink, rid, deadline)
        self._refused(response, request.base_url, model=request.model)

    def _refused(
        self, response: requests.Response, base_url: str, *, model: str | None = None
    ) -> NoReturn:
        """The error an answer with an HTTP error status stands for (raised, or handed to
        the retry policy as a Failed), whether its body could be read or not."""
        refused(read_error(response, self._auth.key), base_url, model, self._billing)

    # -- the model list ----------------------------------------------------------------

    def list_models(self, base_url: str) -> list[ModelInfo]:
        """``GET {base_url}/models`` with the key: the models it can use. Costs nothing;
        resent (it is a GET) where the retry policy allows. Errors as for an edit."""
        models, _ = self._retrying(lambda: self._models_once(base_url))
        return models

    def _models_once(self, base_url: str) -> list[ModelInfo]:
        url = base_url.rstrip("/") + "/models"
        host = urlsplit(url).netloc
        session = new_session()
        deadline = Deadline(self.timeout)
        try:
            with deadline:
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
                    late = requests.exceptions.ReadTimeout() if deadline.expired else exc
                    problem, hint = connection_problem(
                        late, host, self.connect_timeout, self.timeout
                    )
                    error = NetworkError(
                        T("The model list could not be read: {problem}.", problem=problem),
                        hint=hint,
                    )
                    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(
                        exc, (requests.exceptions.SSLError, requests.exceptions.ProxyError)
                    ):
                        raise Failed(Outcome(Fault.NO_CONNECTION), lambda d: error) from None
                    raise error from None
                with response:
                    return self._model_list(response, base_url)
        finally:
            session.close()

    def _model_list(self, response: requests.Response, base_url: str) -> list[ModelInfo]:
        status = response.status_code
        rid = self._rid(response.headers)
        self.events.info(
            T(
                "GET {url} -> HTTP {status}, request id {rid}",
                url=response.url,
                status=status,
                rid=rid or "-",
            )
        )
        if not 200 <= status < 300:
            self._refused(response, base_url)
        try:
            raw = response.raw.read(MODELS_LIMIT + 1, decode_content=True) or b""
        except BODY_ERRORS:
            raise Failed(
                Outcome(Fault.NO_CONNECTION),
                lambda d: NetworkError(
                    T("The model list was cut off while it was being received."),
                    status=status,
                    request_id=rid,
                ),
            ) from None
        content_type = response.headers.get("Content-Type", "")
        return parse_models(raw, content_type, base_url, status, rid, secrets=(self._auth.key,))

    # -- a successful answer -----------------------------------------------------------

    def _success(
        self,
        request: ImageRequest,
        response: requests.Response,
        open_sink: Callable[[], S],
        rid: str | None,
        deadline: Deadline,
    ) -> Answer[S]:
        status = response.status_code
        length = response.headers.get("Content-Length")
        big = request.inline_answer
        if big:
            self.events.download_start(
                int(length) if length and length.isdigit() else None, "answer"
            )
        reader = READERS[request.door](open_sink, self.limit, self._redact)
        info: dict[str, Any] = {"status": status, "request_id": rid}
        try:
            try:
                progress = self.events.download_progress if big else None
                body = reader.read(answer_chunks(body_chunks(response), progress))
            except TooLarge:
                raise SaveError(
                    T(
                        "The image was generated but it is over the {mib} dmxedit "
                        "accepts; it was refused.",
                        mib=mib(self.limit),
                    ),
                    urls=reader.urls,
                ) from None
            except (JSONStreamError, *BODY_ERRORS) as exc:
                raise self._broken(exc, reader.urls, info, deadline) from None
            except OSError as exc:  # the disk: the network's are BODY_ERRORS
                raise SaveError(
                    T(
                        "The image was generated but could not be written to disk, not "
                        "even to the rescue folder ({strerror}).",
                        strerror=exc.strerror or exc,
                    ),
                    urls=reader.urls,
                    hint=T("Free some disk space or choose another folder with -o."),
                ) from None
            if big:
                self.events.download_done()
            answer: Answer[S] = reader.answer(body, status, rid, request.model)
            return answer
        except BaseException:
            reader.discard()
            raise

    def _broken(
        self, exc: Exception, urls: list[str], info: dict[str, Any], deadline: Deadline
    ) -> Exception:
        """The error of an answer that broke off: the deadline, the network, or JSON
        that is not what it should be."""
        if deadline.expired:
            return self._timed_out(urls, info)
        if isinstance(exc, JSONStreamError):
            status = info["status"]
            return ApiError(
                T(
                    "The API answered {status} with a malformed body ({exc}).{kept_words}",
                    status=status,
                    exc=exc,
                    kept_words=kept_words(urls),
                ),
                urls=kept(urls),
                **info,
            )
        return Failed(
            Outcome(Fault.DROPPED),
            lambda d: NetworkError(
                T(
                    "The answer was cut off while it was being received.{kept_words}{billing}",
                    kept_words=kept_words(urls),
                    billing=self._billing(d),
                ),
                may_be_billed=True,
                urls=kept(urls),
                **info,
            ),
        )

    # -- result downloads ------------------------------------------------------------

    def download(self, url: str, open_sink: Callable[[], S]) -> S:
        """GET a result URL into a new sink; retried on its own, never re-generates."""
        if self._downloads is None:
            self._downloads = Downloader(
                connect_timeout=self.connect_timeout,
                download_timeout=self.download_timeout,
                limit=self.limit,
                events=self.events,
                sleep=self.pacer.sleep,
            )
        return self._downloads.download(url, open_sink)


__all__ = [
    "Answer",
    "AnswerItem",
    "Client",
    "DOWNLOAD_ATTEMPTS",
    "DOWNLOAD_TIMEOUT",
    "MAY_BE_BILLED",
    "ModelInfo",
    "Reached",
    "Sink",
    "api_message",
    "connection_problem",
    "model_unusable",
    "parse_models",
    "reach",
    "request_id",
    "site_hint",
]
