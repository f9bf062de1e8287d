"""Result downloads: a GET of each result URL into a sink, on a session that never
carries the key, retried on its own (it never re-generates), each try within the
download deadline (``download-timeout``, the wall clock)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit

import requests

from dmxedit.api.answers import Capped, Sink, TooLarge
from dmxedit.api.http import BODY_ERRORS, Deadline, body_chunks, new_session, one_line
from dmxedit.api.models import mib
from dmxedit.api.network import network_words
from dmxedit.api.proxies import proxy_for
from dmxedit.api.retry import download_decision
from dmxedit.core.errors import SaveError
from dmxedit.core.events import Events
from dmxedit.core.i18n import P, T

DOWNLOAD_READ_TIMEOUT = 120.0  # no byte of a download for this long: the try failed
DOWNLOAD_TIMEOUT = 300.0  # the default wall-clock limit of one result download

S = TypeVar("S", bound=Sink)


class Downloader:
    """Downloads result URLs; ``close`` ends its session."""

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        download_timeout: float = DOWNLOAD_TIMEOUT,
        limit: int,
        events: Events,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.download_timeout = download_timeout
        self.limit = limit
        self.events = events
        self.sleep = sleep
        self._session: requests.Session | None = None

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def download(self, url: str, open_sink: Callable[[], S]) -> S:
        """GET a result URL into a new sink; retried on its own, never re-generates."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise SaveError(
                T(
                    "The result URL is not http(s): {one_line}",
                    one_line=one_line(url, 200),
                ),
                urls=[url],
            )

        proxy = proxy_for(url)
        if proxy is not None and proxy.problem is not None:
            raise SaveError(
                T(
                    "The image was generated but cannot be downloaded. {problem}",
                    problem=proxy.problem,
                ),
                urls=[url],
                hint=proxy.hint,
            )
        if self._session is None:
            self._session = new_session()  # no key on this session, ever
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
            self.events.retry(
                attempt, decision.wait, T("the download failed: {words}", words=words)
            )
            self.sleep(decision.wait)
        if status is not None and status < 500 and status not in (408, 425, 429):
            raise SaveError(
                T(
                    "The image was generated but its download was refused (HTTP {status}).",
                    status=status,
                ),
                urls=[url],
                hint=T("Open the URL yourself; it may have expired."),
            )
        raise SaveError(
            P(
                "The image was generated but its download failed {count} time: {words}.",
                "The image was generated but its download failed {count} times: {words}.",
                attempt,
                words=words,
            ),
            urls=[url],
            hint=T("Download it from the URL yourself before it expires."),
        )

    def _download_once(self, url: str, sink: Sink) -> tuple[int | None, str] | None:
        """One GET into ``sink``, within ``download_timeout``; (status, what went wrong)
        when it failed in a way another GET may not."""
        assert self._session is not None
        deadline = Deadline(self.download_timeout)
        try:
            with deadline:
                return self._fetch(url, sink)
        except TooLarge:
            raise SaveError(
                T(
                    "The image was generated but it is over the {mib} dmxedit "
                    "accepts; it was not downloaded.",
                    mib=mib(self.limit),
                ),
                urls=[url],
                hint=T("Download it from the URL yourself if you want it."),
            ) from None
        except (
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidURL,
            requests.exceptions.TooManyRedirects,
            requests.exceptions.MissingSchema,
        ):
            raise SaveError(T("The result URL cannot be fetched."), urls=[url]) from None
        except BODY_ERRORS as exc:
            if deadline.expired:
                raise SaveError(
                    T(
                        "The image was generated but its download did not finish "
                        "within {download_timeout:g} s.",
                        download_timeout=self.download_timeout,
                    ),
                    urls=[url],
                    hint=T(
                        "Download it from the URL yourself before it expires, or allow "
                        "longer: dmxedit config set download-timeout SECONDS.",
                    ),
                ) from None
            return None, network_words(exc)
        except OSError as exc:  # the disk, not the network: another GET would not help
            raise SaveError(
                T(
                    "The image was generated but could not be written ({strerror}).",
                    strerror=exc.strerror or exc,
                ),
                urls=[url],
                hint=T(
                    "Free some disk space or choose another folder with -o, or "
                    "download it from the URL yourself before it expires.",
                ),
            ) from None

    def _fetch(self, url: str, sink: Sink) -> tuple[int | None, str] | None:
        assert self._session is not None
        capped = Capped(sink, self.limit)
        read_timeout = min(DOWNLOAD_READ_TIMEOUT, self.download_timeout)
        with self._session.get(
            url, stream=True, timeout=(self.connect_timeout, read_timeout)
        ) as response:
            status = response.status_code
            if status >= 400:
                return status, f"HTTP {status}"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > self.limit:
                raise TooLarge
            self.events.download_start(total, url)
            received = 0
            for chunk in body_chunks(response):
                capped.write(chunk)
                received += len(chunk)
                self.events.download_progress(received)
            self.events.download_done()
        return None


__all__ = ["DOWNLOAD_READ_TIMEOUT", "DOWNLOAD_TIMEOUT", "Downloader"]
