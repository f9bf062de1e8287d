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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from dmxedit.core.errors import ApiError, AuthError, ConfigError, NetworkError
from dmxedit.core.events import Events
from dmxedit.core.settings import Settings
from dmxedit.core.text import redact

QUOTA_PER_CNY = 500000  # DMXAPI's quota units per yuan
PAGE_SIZE = 100  # items asked per log page (DMXAPI's pages are bounded)
MAX_PAGES = 500  # a log read stops there (50,000 items) and says it is incomplete
READ_TIMEOUT = 30.0


def site_root(base_url: str) -> str:
    """``https://www.dmxapi.cn/v1`` -> ``https://www.dmxapi.cn``: where /api/... answers."""
    root = base_url.rstrip("/")
    if root.lower().endswith("/v1"):
        root = root[: -len("/v1")]
    return root


def cny(quota: int | float) -> float:
    return float(quota) / QUOTA_PER_CNY


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Balance:
    """What ``/api/user/self`` says: the quota left (and, when given, the quota used)."""

    quota: int
    used_quota: int | None = None
    request_count: int | None = None
    username: str | None = None
    site: str = ""

    @property
    def cny(self) -> float:
        return cny(self.quota)

    def to_dict(self) -> dict[str, Any]:
        return {
            "balance_cny": round(self.cny, 6),
            "quota": self.quota,
            "used_cny": None if self.used_quota is None else round(cny(self.used_quota), 6),
            "request_count": self.request_count,
            "username": self.username,
            "site": self.site,
        }


@dataclass(frozen=True)
class LogItem:
    """One item of the billing log (``/api/log/self``)."""

    created_at: int
    model_name: str = ""
    token_name: str = ""
    quota: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    use_time: int = 0
    request_id: str = ""
    type: int | None = None
    id: int | None = None

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> LogItem:
        kind = raw.get("type")
        ident = raw.get("id")
        return cls(
            created_at=_int(raw.get("created_at")),
            model_name=str(raw.get("model_name") or ""),
            token_name=str(raw.get("token_name") or ""),
            quota=_int(raw.get("quota")),
            prompt_tokens=_int(raw.get("prompt_tokens")),
            completion_tokens=_int(raw.get("completion_tokens")),
            use_time=_int(raw.get("use_time")),
            request_id=str(raw.get("request_id") or ""),
            type=kind if isinstance(kind, int) and not isinstance(kind, bool) else None,
            id=ident if isinstance(ident, int) and not isinstance(ident, bool) else None,
        )

    @property
    def cost_cny(self) -> float:
        return cny(self.quota)

    @property
    def charged(self) -> bool:
        """A charge: a consumption (type 2, or no type given) that cost something."""
        return self.quota > 0 and self.type in (None, 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "created_at": self.created_at,
            "time": datetime.fromtimestamp(self.created_at).isoformat(timespec="seconds"),
            "model": self.model_name,
            "token_name": self.token_name,
            "cost_cny": round(self.cost_cny, 6),
            "quota": self.quota,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "use_time": self.use_time,
            "request_id": self.request_id,
        }


@dataclass
class LogRead:
    """Every item of a log query, and how far the reading got."""

    items: list[LogItem] = field(default_factory=list)
    total: int = 0
    pages: int = 0
    complete: bool = True
    skew: float = 0.0  # the server's clock minus ours, from its Date header (seconds)


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

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, float]:
        """GET ``path`` on the site root: the ``data`` of a successful answer, and the
        server's clock minus ours."""
        import requests

        from dmxedit.api.client import _session, api_message, network_words, one_line, request_id

        url = self.root + path
        headers = {
            "Dmx-Api-User": self.user_id,
            "Rix-Api-User": self.user_id,
            "Accept": "application/json",
        }
        with self._lock:
            if self._session is None:
                self._session = _session()
            session = self._session
            started = time.monotonic()
            try:
                response = session.get(
                    url,
                    params=dict(params or {}),
                    headers=headers,
                    auth=_raw_token(self.token),  # so a ~/.netrc entry never replaces it
                    timeout=self.timeout,
                    allow_redirects=False,
                )
                body = response.content[: 1 << 24]
            except requests.exceptions.RequestException as exc:
                raise NetworkError(
                    f"The account API at {self.root} could not be reached: {network_words(exc)}.",
                    hint="Check your network and the base URL (dmxedit config get base-url).",
                ) from None
        status = response.status_code
        rid = self._redact(request_id(response.headers))
        self.events.info(
            f"GET {response.url} -> HTTP {status} in {time.monotonic() - started:.2f} s"
            + (f", request id {rid}" if rid else "")
        )
        skew = _skew(response.headers.get("Date"))
        content_type = response.headers.get("Content-Type", "")
        info: dict[str, Any] = {"status": status, "request_id": rid}
        said = api_message(body, content_type)
        said = self._redact(said) if said else None
        if 300 <= status < 400:
            raise ConfigError(
                f"The account API answered {status} with a redirect; dmxedit does not follow "
                "it with your system token.",
                hint="Set the base URL to your DMXAPI site (dmxedit config set base-url URL).",
                **info,
            )
        if status in (401, 403):
            raise AuthError(
                f"The account API refused the system token (HTTP {status}"
                + (f": {said}" if said else "")
                + ").",
                hint=_AUTH_HINT,
                **info,
            )
        if status >= 500:
            raise NetworkError(
                f"The account API failed (HTTP {status}" + (f": {said}" if said else "") + ").",
                hint="Try again later.",
                **info,
            )
        if status >= 400:
            raise ApiError(
                f"The account API at {self.root} answered HTTP {status}"
                + (f": {said}" if said else "")
                + ".",
                hint="The account API answers on the site of the base URL (the base URL "
                "without /v1); check it with `dmxedit config get base-url`.",
                **info,
            )
        import json

        try:
            answer = self._redact(json.loads(body.decode("utf-8-sig", "replace")))
        except ValueError:
            raise ApiError(
                f"The account API answered {status} with a body that is not JSON"
                + (f" ({one_line(said, 120)})" if said else "")
                + ".",
                hint="The account API answers on the site of the base URL; check the base URL.",
                **info,
            ) from None
        if not isinstance(answer, dict):
            raise ApiError("The account API answered with a body that is not an object.", **info)
        if answer.get("success") is not True:
            message = answer.get("message")
            text = self._redact(one_line(str(message))) if message else "no message"
            raise AuthError(
                f"The account API refused the request: {text}.", hint=_AUTH_HINT, **info
            )
        return answer.get("data"), skew

    def balance(self) -> Balance:
        """The balance (``quota / 500000`` CNY)."""
        data, _skew_s = self._get("/api/user/self")
        if not isinstance(data, dict) or "quota" not in data:
            raise ApiError("The account API's answer has no quota.")
        used = data.get("used_quota")
        count = data.get("request_count")
        name = data.get("username")
        return Balance(
            quota=_int(data.get("quota")),
            used_quota=None if used is None else _int(used),
            request_count=None if count is None else _int(count),
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
            params = {
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
            data, read.skew = self._get("/api/log/self", params)
            read.pages = page
            if not isinstance(data, dict):
                raise ApiError("The account API's log answer has no data.")
            items = data.get("items") or []
            read.total = _int(data.get("total"))
            if not isinstance(items, list) or not items:
                break
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
            i
            for i in read.items
            if (not model or i.model_name == model)
            and (not request_id or i.request_id == request_id)
            and (not token_name or i.token_name == token_name)
            and (not start or i.created_at >= start)
            and (not end or i.created_at <= end)
        ]
        return read


_AUTH_HINT = (
    "Check the system token and the user id (dmxedit config set system-token; dmxedit config "
    "set user-id NUMBER): both come from the DMXAPI console of the site the base URL names "
    "(工作台 → 个人设置; 更多选项 → 系统令牌)."
)


def _raw_token(token: str) -> Any:
    """The system token as a request auth, raw in Authorization (no ``Bearer``)."""
    from requests.auth import AuthBase

    class RawToken(AuthBase):
        def __call__(self, r: Any) -> Any:
            r.headers["Authorization"] = token
            return r

    return RawToken()


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


# -- usage: the log summed per model and per day ----------------------------------------


@dataclass
class Tally:
    requests: int = 0
    quota: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, item: LogItem) -> None:
        self.requests += 1
        self.quota += item.quota
        self.prompt_tokens += item.prompt_tokens
        self.completion_tokens += item.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "cost_cny": round(cny(self.quota), 6),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


@dataclass
class Usage:
    """The billing log of a period, summed per model and per (local) day."""

    start: int
    end: int
    model: str | None
    total: Tally = field(default_factory=Tally)
    models: dict[str, Tally] = field(default_factory=dict)
    days: dict[str, Tally] = field(default_factory=dict)
    complete: bool = True
    items: int = 0

    @classmethod
    def of(cls, items: Iterable[LogItem], start: int, end: int, model: str | None = None) -> Usage:
        usage = cls(start=start, end=end, model=model)
        for item in items:
            if item.type not in (None, 2):
                continue  # top-ups, errors, management: not spend
            usage.items += 1
            usage.total.add(item)
            usage.models.setdefault(item.model_name or "(none)", Tally()).add(item)
            day = datetime.fromtimestamp(item.created_at).strftime("%Y-%m-%d")
            usage.days.setdefault(day, Tally()).add(item)
        usage.models = dict(sorted(usage.models.items(), key=lambda kv: -kv[1].quota))
        usage.days = dict(sorted(usage.days.items()))
        return usage

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "model": self.model,
            "complete": self.complete,
            "total": self.total.to_dict(),
            "models": {k: v.to_dict() for k, v in self.models.items()},
            "days": {k: v.to_dict() for k, v in self.days.items()},
        }


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
    "Usage",
    "balance",
    "site_root",
    "usage",
]
