"""What the account API's answers hold: the balance, the items of the billing log, and
the log summed per model and per day. Quota units are DMXAPI's (500,000 a yuan)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

QUOTA_PER_CNY = 500000  # DMXAPI's quota units per yuan


def cny(quota: int | float) -> float:
    return float(quota) / QUOTA_PER_CNY


def as_int(value: Any) -> int:
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
            created_at=as_int(raw.get("created_at")),
            model_name=str(raw.get("model_name") or ""),
            token_name=str(raw.get("token_name") or ""),
            quota=as_int(raw.get("quota")),
            prompt_tokens=as_int(raw.get("prompt_tokens")),
            completion_tokens=as_int(raw.get("completion_tokens")),
            use_time=as_int(raw.get("use_time")),
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


__all__ = [
    "QUOTA_PER_CNY",
    "Balance",
    "LogItem",
    "LogRead",
    "Tally",
    "Usage",
    "as_int",
    "cny",
]
