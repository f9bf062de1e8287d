"""A network failure in words: what went wrong on the way to a site, and what to do.

Never a library's repr: each requests/urllib3 exception becomes a sentence and a hint.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from dmxedit.api.http import Deadline, new_session
from dmxedit.api.proxies import SOCKS_INSTALL
from dmxedit.core.errors import NetworkError
from dmxedit.core.i18n import T


def _reason(exc: BaseException) -> BaseException | None:
    """The urllib3 error under a requests ConnectionError (MaxRetryError unwrapped)."""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return reason if isinstance(reason, BaseException) else None


def could_not_connect(exc: requests.exceptions.ConnectionError) -> bool:
    """The connection was never made (nothing was sent)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return isinstance(
        _reason(exc),
        (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError),
    )


def network_words(exc: BaseException) -> str:
    """What a network exception means, in words (never the library's repr)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return T("the connection could not be made in time")
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return T("no data arrived in time")
    if isinstance(exc, requests.exceptions.SSLError):
        return T("the secure connection failed")
    if isinstance(exc, requests.exceptions.ConnectionError) and could_not_connect(exc):
        return T("the connection could not be made")
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError)):
        return T("the connection broke before all the data arrived")
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return T("the data arrived damaged (it could not be decompressed)")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return T("the connection broke")
    return T("the transfer failed")


def _proxy_problem(exc: BaseException) -> tuple[str, str] | None:

    if isinstance(exc, requests.exceptions.InvalidSchema) and "socks" in str(exc).lower():
        return (
            T(
                "the proxy is a SOCKS proxy, and SOCKS support (PySocks) is not installed",
            ),
            T(
                "Install it: {socks_install} (or use an http:// proxy).",
                socks_install=SOCKS_INSTALL,
            ),
        )
    if isinstance(exc, requests.exceptions.ProxyError) and "407" in str(exc):
        return (
            T("the proxy asks for a user name and password (HTTP 407)"),
            T("Put them in the proxy URL: http://USER:PASSWORD@HOST:PORT."),
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return (
            T("the proxy could not be used"),
            T(
                "Check the proxy variables (HTTPS_PROXY, ALL_PROXY) and that "
                "the proxy runs; NO_PROXY lists hosts that bypass it.",
            ),
        )
    return None


def _tls_problem(exc: BaseException, host: str) -> tuple[str, str] | None:
    if not isinstance(exc, requests.exceptions.SSLError):
        return None
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return (
            T("the certificate of {host} could not be verified", host=host),
            T(
                "A proxy or firewall that inspects HTTPS needs its own CA "
                "certificate: point REQUESTS_CA_BUNDLE at it.",
            ),
        )
    return (
        T("the secure connection (TLS) to {host} failed", host=host),
        T(
            "Check the base URL (https for DMXAPI) and any proxy between you and the site.",
        ),
    )


def connection_problem(
    exc: BaseException, host: str, timeout: float, read_timeout: float | None = None
) -> tuple[str, str]:
    """Why a request to ``host`` failed, and what to do, in words (never a repr);
    ``timeout`` is the connect timeout, ``read_timeout`` the answer's (default: the same)."""
    known = _proxy_problem(exc) or _tls_problem(exc, host)
    if known is not None:
        return known
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return (
            T(
                "no connection to {host} within {timeout:g} s",
                host=host,
                timeout=timeout,
            ),
            T(
                "Check your network, firewall or proxy; --connect-timeout waits longer.",
            ),
        )
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return (
            T(
                "{host} accepted the connection but did not answer within {read_timeout:g} s",
                host=host,
                read_timeout=read_timeout or timeout,
            ),
            T(
                "The site or a proxy in between may be overloaded; try again later.",
            ),
        )
    reason = _reason(exc)
    cause = (reason.__cause__ or reason.__context__) if reason is not None else None
    resolution = getattr(urllib3.exceptions, "NameResolutionError", ())
    if (resolution and isinstance(reason, resolution)) or "resolve" in str(reason).lower():
        return (
            T(
                "the name {hostname} could not be resolved (DNS)",
                hostname=urlsplit("//" + host).hostname or host,
            ),
            T("Check the base URL's host name and your network's DNS."),
        )
    if isinstance(cause, ConnectionRefusedError) or "refused" in str(reason).lower():
        return (
            T(
                "the connection to {host} was refused (nothing answers on that port)",
                host=host,
            ),
            T("Check the base URL's host and port."),
        )
    return network_words(exc), T("Check your network and the base URL.")


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
    session = new_session()
    started = time.monotonic()
    deadline = Deadline(timeout)
    try:
        with (
            deadline,
            session.head(url, timeout=(timeout, timeout), allow_redirects=False) as response,
        ):
            return Reached(response.status_code, time.monotonic() - started)
    except requests.exceptions.RequestException as exc:
        late = requests.exceptions.ReadTimeout() if deadline.expired else exc
        problem, hint = connection_problem(late, host, timeout)
        raise NetworkError(
            T("{host} cannot be reached: {problem}.", host=host, problem=problem), hint=hint
        ) from None
    finally:
        session.close()


__all__ = [
    "Reached",
    "connection_problem",
    "could_not_connect",
    "network_words",
    "reach",
]
