"""DMXAPI's account API (SPEC 8): the balance and the billing log.

The account API answers on the site of the base URL (the base URL without ``/v1``) and
takes the account's *system token* (raw, in ``Authorization``) and the user id (in both
``Dmx-Api-User`` and ``Rix-Api-User``), never the API key. The token is never shown: any
text that comes back has it masked. ``"success": false``, 401 and 403 are
:class:`~dmxedit.core.errors.AuthError` (exit 3) with the API's message; a network failure is
a :class:`~dmxedit.core.errors.NetworkError` (exit 5).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from dmxedit.api.http import (
    BODY_ERRORS,
    Deadline,
    Party,
    api_message,
    loads,
    new_session,
    one_line,
    read_error,
    redact,
    request_id,
    status_error,
)
from dmxedit.api.network import network_words
from dmxedit.api.quota import (
    QUOTA_PER_CNY,
    Balance,
    LogItem,
    LogRead,
    Tally,
    Usage,
    as_int,
    cny,
)
from dmxedit.core.errors import ApiError, AuthError, NetworkError
from dmxedit.core.events import Events
from dmxedit.core.i18n import T
from dmxedit.core.settings import Settings

PAGE_SIZE = 100  # items asked per log page (DMXAPI's pages are bounded)
MAX_PAGES = 500  # a log read stops there (50,000 items) and says it is incomplete
READ_TIMEOUT = 30.0


def site_root(base_url: str) -> str:
    """``https://www.dmxapi.cn/v1`` -> ``https://www.dmxapi.cn``: where /api/... answers."""
    root = base_url.rstrip("/")
    if root.lower().endswith("/v1"):
        root = root[: -len("/v1")]
    return root


class Account:
    """A conversation with the account API; safe to share between threads."""

    def __init__(
        self,
        settings: Settings,
        *,
        read_timeout: float = READ_TIMEOUT,
        events: Events | None = None,
    ) -> None:
        self.token, self.user_id = settings.require_account()
        self._secrets = (self.token, settings.api_key)  # masked in all that comes back
        self.root = site_root(settings.base_url)
        self.timeout = (settings.connect_timeout, read_timeout)
        self.events = events or Events()  # ``info``: each request and its answer (-v)
        self._lock = threading.Lock()
        self._session: Any = None

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def __enter__(self) -> Account:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _redact(self, value: Any) -> Any:
        return redact(value, *self._secrets)

    def _fetch(self, url: str, params: Mapping[str, Any] | None) -> tuple[bytes, Any]:
        """GET ``url``: the body of a successful answer (at most 16 MiB) and its headers;
        the error an error status stands for, whether its body can be read or not."""
        import requests

        headers = {
            "Dmx-Api-User": self.user_id,
            "Rix-Api-User": self.user_id,
            "Accept": "application/json",
        }
        with self._lock:
            if self._session is None:
                self._session = new_session()
            session = self._session
            deadline = Deadline(self.timeout[1])
            started = time.monotonic()
            try:
                with (
                    deadline,
                    session.get(
                        url,
                        params=dict(params or {}),
                        headers=headers,
                        auth=_RawToken(self.token),  # so a ~/.netrc entry never replaces it
                        timeout=self.timeout,
                        allow_redirects=False,
                        stream=True,
                    ) as response,
                ):
                    self._heard(response, started)
                    if not 200 <= response.status_code < 300:
                        raise status_error(read_error(response, *self._secrets), self._party())
                    body = response.raw.read(1 << 24, decode_content=True) or b""
                    return body, response
            except requests.exceptions.RequestException as exc:
                words = T("no answer came in time") if deadline.expired else network_words(exc)
                raise NetworkError(
                    T(
                        "The account API at {root} could not be reached: {words}.",
                        root=self.root,
                        words=words,
                    ),
                    hint=T(
                        "Check your network and the base URL (dmxedit config get base-url).",
                    ),
                ) from None
            except BODY_ERRORS as exc:
                words = T("it did not all come in time") if deadline.expired else network_words(exc)
                raise NetworkError(
                    T("The account API's answer could not be read: {words}.", words=words),
                    hint=T("Try again later."),
                ) from None

    def _heard(self, response: Any, started: float) -> None:
        rid = self._redact(request_id(response.headers))
        took = time.monotonic() - started
        if rid:
            self.events.info(
                T(
                    "GET {url} -> HTTP {status} in {seconds:.2f} s, request id {rid}",
                    url=response.url,
                    status=response.status_code,
                    seconds=took,
                    rid=rid,
                )
            )
        else:
            self.events.info(
                T(
                    "GET {url} -> HTTP {status} in {seconds:.2f} s",
                    url=response.url,
                    status=response.status_code,
                    seconds=took,
                )
            )

    def _party(self) -> Party:
        return Party(
            name=T("The account API"),
            credential=T("the system token"),
            auth_hint=_AUTH_HINT,
            refused_hint=T(
                "The account API answers on the site of the base URL ({root}, "
                "the base URL without /v1); check it with `dmxedit config get "
                "base-url`.",
                root=self.root,
            ),
            redirect_hint=T(
                "Set the base URL to your DMXAPI site (dmxedit config set base-url URL).",
            ),
        )

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, float]:
        """GET ``path`` on the site root: the ``data`` of a successful answer, and the
        server's clock minus ours."""
        body, response = self._fetch(self.root + path, params)
        status = response.status_code
        rid = self._redact(request_id(response.headers))
        info: dict[str, Any] = {"status": status, "request_id": rid}
        try:
            answer = self._redact(loads(body.decode("utf-8-sig", "replace")))
        except ValueError:
            said = api_message(body, response.headers.get("Content-Type", ""))
            raise ApiError(
                T(
                    "The account API answered {status} with a body that is not JSON ({said}).",
                    status=status,
                    said=self._redact(one_line(said, 120)),
                )
                if said
                else T(
                    "The account API answered {status} with a body that is not JSON.",
                    status=status,
                ),
                hint=T(
                    "The account API answers on the site of the base URL; check the base URL.",
                ),
                **info,
            ) from None
        if not isinstance(answer, dict):
            raise ApiError(T("The account API answered with a body that is not an object."), **info)
        if answer.get("success") is not True:
            message = answer.get("message")
            text = self._redact(one_line(str(message))) if message else T("no message")
            raise AuthError(
                T("The account API refused the request: {text}.", text=text),
                hint=_AUTH_HINT,
                **info,
            )
        return answer.get("data"), _skew(response.headers.get("Date"))

    def balance(self) -> Balance:
        """The balance (``quota / 500000`` CNY)."""
        data, _skew_s = self._get("/api/user/self")
        if not isinstance(data, dict) or "quota" not in data:
            raise ApiError(T("The account API's answer has no quota."))
        used = data.get("used_quota")
        count = data.get("request_count")
        name = data.get("username")
        return Balance(
            quota=as_int(data.get("quota")),
            used_quota=None if used is None else as_int(used),
            request_count=None if count is None else as_int(count),
            username=str(name) if name else None,
            site=self.root,
        )

    def log(
        self,
        *,
        start: int,
        end: int,
        model: str | None = None,
        request_id: str | None = None,
        token_name: str | None = None,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
    ) -> LogRead:
        """Every item of the log between two unix times (the server's clock), every
        page read until ``total`` is reached (at most ``max_pages``)."""
        read = LogRead()
        seen: set[Any] = set()
        page = 1
        while page <= max_pages:
            params = _log_params(page, page_size, start, end, model, request_id, token_name)
            data, read.skew = self._get("/api/log/self", params)
            read.pages = page
            if not isinstance(data, dict):
                raise ApiError(T("The account API's log answer has no data."))
            items = data.get("items") or []
            read.total = as_int(data.get("total"))
            if not isinstance(items, list) or not items:
                break
            added = _add_items(read, items, seen)
            if read.total > 0 and len(seen) >= read.total:
                break
            if read.total <= 0 and len(items) < page_size:
                break  # a site that gives no total: a short page is the last one
            if not added:  # the same page again (a site that ignores p): stop, say so
                read.complete = False
                break
            page += 1
        else:
            read.complete = False
        # The server filters; so does dmxedit, in case a site ignores a parameter.
        read.items = [
            i for i in read.items if _wanted(i, start, end, model, request_id, token_name)
        ]
        return read


def _log_params(
    page: int,
    page_size: int,
    start: int,
    end: int,
    model: str | None,
    request_id: str | None,
    token_name: str | None,
) -> dict[str, Any]:
    return {
        "p": page,
        "page_size": page_size,
        "type": 0,
        "token_name": token_name or "",
        "token_group": "",
        "model_name": model or "",
        "start_timestamp": int(start),
        "end_timestamp": int(end),
        "ip": "",
        "response_id": "",
        "request_id": request_id or "",
    }


def _add_items(read: LogRead, items: list[Any], seen: set[Any]) -> int:
    """Add a page's items not seen before; how many were new."""
    added = 0
    for raw in items:
        if not isinstance(raw, dict):
            continue
        item = LogItem.of(raw)
        # A charge logged while we read pushes the others down a place: seen twice.
        ident = item.id if item.id is not None else tuple(sorted(raw.items(), key=str))
        if ident in seen:
            continue
        seen.add(ident)
        read.items.append(item)
        added += 1
    return added


def _wanted(
    item: LogItem,
    start: int,
    end: int,
    model: str | None,
    request_id: str | None,
    token_name: str | None,
) -> bool:
    return (
        (not model or item.model_name == model)
        and (not request_id or item.request_id == request_id)
        and (not token_name or item.token_name == token_name)
        and (not start or item.created_at >= start)
        and (not end or item.created_at <= end)
    )


_AUTH_HINT = T(
    "Check the system token and the user id (dmxedit config set "
    "system-token; dmxedit config set user-id NUMBER): both come "
    "from the DMXAPI console of the site the base URL names (工作台 → "
    "个人设置; 更多选项 → 系统令牌).",
)


class _RawToken:
    """The system token as a request auth, raw in Authorization (no ``Bearer``)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: Any) -> Any:
        r.headers["Authorization"] = self.token
        return r


def _skew(date: str | None) -> float:
    if not date:
        return 0.0
    try:
        return parsedate_to_datetime(date).timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0


def balance(settings: Settings, events: Events | None = None) -> Balance:
    """The account's balance, from settings with a system token and user id (the one
    call ``dmxedit balance`` and ``dmxedit doctor`` make). Raises ConfigError (exit 3)
    without them, AuthError (exit 3), NetworkError (exit 5). ``events.info`` hears of
    each request (``--verbose``)."""
    with Account(settings, events=events) as account:
        return account.balance()


def usage(
    settings: Settings,
    start: int,
    end: int,
    model: str | None = None,
    events: Events | None = None,
) -> tuple[Usage, LogRead]:
    """Read every page of the log between two unix times and sum it."""
    with Account(settings, events=events) as account:
        read = account.log(start=start, end=end, model=model)
    summary = Usage.of(read.items, start, end, model)
    summary.complete = read.complete
    return summary, read


__all__ = [
    "Account",
    "Balance",
    "LogItem",
    "LogRead",
    "QUOTA_PER_CNY",
    "Tally",
    "Usage",
    "balance",
    "cny",
    "site_root",
    "usage",
]
