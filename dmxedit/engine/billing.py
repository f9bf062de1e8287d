"""The billing check (SPEC 8): did DMXAPI bill a request that ended "may have been billed"?

A request cut off after it went out (a 5xx other than 503, a timeout, a dropped
connection) may or may not have been billed. With a system token set, dmxedit looks it up
in the account's billing log:

- by its **request id** when the API sent one (an answer came from DMXAPI itself): a charge
  under that id is proof that it was billed; none, once the log has had time to list it,
  and no unexplained charge of that model around it, means it was not;
- otherwise by **model and time**: a window from the send to a minute after the failure.
  A charge of that model in the window (not one whose request id the ledger knows belongs
  to another request) reads as billed; this cannot tell two requests of the same model
  made at the same moment apart (another tool, another key of the same account). No
  charge is only conclusive once the window has closed: until then the API may still be
  working on it, and the verdict stays open (``billed`` null).

The verdict is ``billed`` true / false / null with the log items that support it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dmxedit.api.account import Account, LogItem, LogRead, cny
from dmxedit.api.client import MAY_BE_BILLED
from dmxedit.core.errors import DmxError, counted
from dmxedit.core.events import Events
from dmxedit.core.i18n import T, Text
from dmxedit.core.settings import Settings

if TYPE_CHECKING:
    from dmxedit.store.ledger import Entry, Ledger

LOG_LAG = 5.0  # seconds DMXAPI may take to list a charge
WINDOW_AFTER = 60.0  # the window ends this long after the failure (SPEC 8)
SLACK = 3.0  # seconds added on both sides of the window for the clocks
UPLOAD_BEFORE = 30.0  # without a ledger entry: how long before ``sent`` sending may have begun
SKEW_MIN = 2.0  # the server's clock is trusted to differ only beyond this (Date: 1 s steps)
RETRY_DELAYS = (1.0, 2.0, 2.0)  # right after a failure: at most 5 s of waiting for the log
ESTIMATE_DAYS = 7  # the cost estimate reads the last week's log, one bounded page
ESTIMATE_ITEMS = 100

#: A clock (unix time) and a sleep: every function that waits or reads the time takes
#: them as ``clock=`` and ``sleep=`` (the real ones by default), so no test sleeps.
Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Target:
    """A request to look up: its model, when sending it began and when it failed (local
    unix time), its request id if the API gave one, and request ids known to be other
    requests'."""

    model: str
    sent_at: float
    failed_at: float
    request_id: str | None = None
    claimed: frozenset[str] = frozenset()


@dataclass
class Verdict:
    """Whether DMXAPI billed a request: ``billed`` true/false/null, how it was found
    (``request_id``, ``window``, ``pending``, ``ambiguous``, ``unavailable``) and the
    charges that support it."""

    billed: bool | None
    how: str
    note: str
    items: list[LogItem] = field(default_factory=list)
    checked_at: float = 0.0

    @property
    def cost_cny(self) -> float | None:
        return cny(self.items[0].quota) if self.billed and self.items else None

    def to_dict(self) -> dict[str, Any]:
        first = self.items[0] if self.billed and self.items else None
        return {
            "billed": self.billed,
            "how": self.how,
            "cost_cny": None if first is None else round(first.cost_cny, 6),
            "charged_at": None if first is None else first.created_at,
            "request_id": None if first is None else (first.request_id or None),
            "candidates": len(self.items) if self.how == "window" else None,
            "checked_at": round(self.checked_at, 3),
            "note": self.note,
        }


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


def _charge(item: LogItem) -> str:
    if item.request_id:
        return T(
            "{cost:.4f} CNY at {when}, request id {rid}",
            cost=item.cost_cny,
            when=_when(item.created_at),
            rid=item.request_id,
        )
    return T("{cost:.4f} CNY at {when}", cost=item.cost_cny, when=_when(item.created_at))


def check(
    account: Account,
    target: Target,
    *,
    delays: Iterable[float] = RETRY_DELAYS,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> Verdict:
    """Look the request up, waiting (``delays``) while the log may not list it yet."""
    waits = list(delays)
    while True:
        verdict = _look(account, target, clock())
        if verdict.how != "pending" or not waits:
            return verdict
        sleep(waits.pop(0))


def _look(account: Account, target: Target, now: float) -> Verdict:
    skew = 0.0
    if target.request_id:
        found = _by_request_id(account, target, now)
        if isinstance(found, Verdict):
            return found
        skew = found
    read, (start, end), skew = _read_window(account, target, skew)
    others = _others(read.items, target, skew)
    span = T("between {start} and {end}", start=_when(start - skew), end=_when(end - skew))
    if target.request_id:
        return _no_charge_under_id(target, others, span, skew, now)
    return _by_window(target, others, span, now + skew, end, now)


def _skew(read: LogRead) -> float:
    """The server clock's difference from ours, when it is trusted to differ."""
    return read.skew if abs(read.skew) > SKEW_MIN else 0.0


def _by_request_id(account: Account, target: Target, now: float) -> Verdict | float:
    """The log under the request id: a verdict when it settles it, else the clock skew."""
    rid = target.request_id
    read = account.log(
        start=int(target.sent_at - 3600),
        end=int(max(now, target.failed_at) + 3600),
        request_id=rid,
    )
    charged = [i for i in read.items if i.charged]
    if charged:
        note = T("DMXAPI billed it: {charge}.", charge=_charge(charged[0]))
        return Verdict(True, "request_id", note, charged, now)
    if read.items:
        note = T(
            "DMXAPI's log lists request id {rid} without a charge: it was not billed.", rid=rid
        )
        return Verdict(False, "request_id", note, [], now)
    return _skew(read)


def _window(target: Target, skew: float) -> tuple[int, int]:
    start = int(target.sent_at + skew - SLACK)
    return start, int(target.failed_at + WINDOW_AFTER + skew + SLACK) + 1


def _read_window(
    account: Account, target: Target, skew: float
) -> tuple[LogRead, tuple[int, int], float]:
    """The model's charges in the request's window (read again, shifted, when the server's
    clock turns out to be off), the window and the skew."""
    start, end = _window(target, skew)
    read = account.log(start=start, end=end, model=target.model)
    seen_skew = _skew(read)
    if abs(seen_skew - skew) > SLACK:  # the server's clock is off: ask again, shifted
        skew = seen_skew
        start, end = _window(target, skew)
        read = account.log(start=start, end=end, model=target.model)
    return read, (start, end), skew


def _others(items: Iterable[LogItem], target: Target, skew: float) -> list[LogItem]:
    """The charges that may be this request's, nearest to its failure first."""
    rid = target.request_id
    latest_start = target.failed_at + skew + SLACK + 1  # use_time is in whole seconds
    others = [
        i
        for i in items
        if i.charged
        and i.request_id not in target.claimed
        and (not rid or i.request_id != rid)
        # work that began after this request was given up on is another request's
        and i.created_at - i.use_time <= latest_start
    ]
    others.sort(key=lambda i: abs(i.created_at - (target.failed_at + skew)))
    return others


def _no_charge_under_id(
    target: Target, others: list[LogItem], span: str, skew: float, now: float
) -> Verdict:
    """No charge under the request id: not billed, once the log has had time to list it
    and no charge without an id could be it."""
    rid = target.request_id
    if others and not all(i.request_id for i in others):
        note = T(
            "No charge under request id {rid}, but {charges} of {model} {span} carry no "
            "request id to tell them apart; dmxedit cannot tell whether it was billed.",
            rid=rid,
            charges=counted(len(others), "charge"),
            model=target.model,
            span=span,
        )
        return Verdict(None, "ambiguous", note, others, now)
    if now + skew < target.failed_at + skew + LOG_LAG:
        return Verdict(None, "pending", _PENDING, [], now)
    note = T("DMXAPI's log has no charge under its request id {rid}: it was not billed.", rid=rid)
    return Verdict(False, "request_id", note, [], now)


def _by_window(
    target: Target, others: list[LogItem], span: str, server_now: float, end: int, now: float
) -> Verdict:
    """Without a request id: a charge of the model in the window reads as billed; none is
    conclusive once the window has closed."""
    if others:
        note = T(
            "DMXAPI's log has {charges} of {model} {span}, the nearest {charge}. Found by "
            "model and time (the request had no request id), so it may be another request "
            "of the same model made at the same time.",
            charges=counted(len(others), "charge"),
            model=target.model,
            span=span,
            charge=_charge(others[0]),
        )
        return Verdict(True, "window", note, others, now)
    if server_now < end + LOG_LAG:
        return Verdict(None, "pending", _PENDING, [], now)
    note = T(
        "DMXAPI's log has no charge of {model} {span}: it was not billed.",
        model=target.model,
        span=span,
    )
    return Verdict(False, "window", note, [], now)


_PENDING = T(
    "No charge found in DMXAPI's log yet, but the API may still bill it (a request cut off "
    "may still be running there)."
)


def safe_check(
    account: Account,
    target: Target,
    *,
    delays: Iterable[float] = RETRY_DELAYS,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> Verdict:
    """:func:`check`, with an unreachable or refusing account API as an open verdict."""
    try:
        return check(account, target, delays=delays, clock=clock, sleep=sleep)
    except DmxError as error:
        note = T("The billing check could not be made: {message}", message=error.message)
        return Verdict(None, "unavailable", note, [], clock())


def claimed_ids(book: Ledger | None, target: Target, entry_id: int | None = None) -> Target:
    """The target with the request ids the ledger knows for other requests around it."""
    if book is None:
        return target
    ids = book.request_ids_between(target.sent_at - 3600, target.failed_at + 3600, exclude=entry_id)
    ids.discard(target.request_id or "")
    return Target(target.model, target.sent_at, target.failed_at, target.request_id, frozenset(ids))


def record(book: Ledger | None, entry_id: int | None, verdict: Verdict) -> None:
    """Write a verdict into a ledger entry."""
    if book is not None and entry_id is not None:
        # Not touched: ``updated`` stays the time the request failed, which the next
        # check's window is measured from (else each check would widen it).
        book.update(entry_id, touch=False, billed=verdict.billed, billing=verdict.to_dict())


def _replaced(message: str, old: str, new: str) -> str:
    """``message.replace(old, new)``, keeping a :class:`Text` translatable when ``old``
    is one of its values (or of theirs)."""
    plain = message.replace(old, new)
    if message == old:
        return new
    if not isinstance(message, Text) or message.plural is not None:
        return plain
    values = {
        k: _replaced(v, old, new) if isinstance(v, str) and old in v else v
        for k, v in message.values.items()
    }
    made = Text(message.template, **values)
    return made if made == plain else plain


def explain(error: DmxError, verdict: Verdict, settle_hint: str) -> None:
    """Put the verdict into an error: its message, hint and details (``billed``)."""

    error.billed = verdict.billed
    error.details["billing"] = verdict.to_dict()
    said = T("Billing check: {note}", note=verdict.note)
    if verdict.billed is not None and MAY_BE_BILLED in error.message:
        error.message = _replaced(error.message, MAY_BE_BILLED, said)
    else:
        error.message = T("{message} {said}", message=error.message, said=said)
    if verdict.billed is False:
        error.hint = T("Running it again is safe: it will be billed once.")
    elif verdict.billed is True:
        error.hint = T("It was billed without a result to save; running it again bills it again.")
    elif verdict.billed is None and verdict.how in ("pending", "unavailable"):
        error.hint = settle_hint


def after_failure(
    settings: Settings,
    error: DmxError,
    *,
    model: str,
    sent_at: float | None,
    book: Ledger | None = None,
    entry_id: int | None = None,
    events: Events | None = None,
    account: Account | None = None,
    settle_hint: str = T("Run `dmxedit recover --check` in a minute to settle it."),
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> Verdict | None:
    """After a request failed: with a system token set and the error "may have been
    billed", check the log, record the verdict in the ledger and explain it in the error.
    Nothing happens (None) otherwise."""
    if not error.may_be_billed or not settings.has_account:
        return None
    failed_at = clock()
    rid = error.request_id
    target = Target(model, sent_at if sent_at is not None else failed_at, failed_at, rid)
    target = claimed_ids(book, target, entry_id)
    if events is not None:
        events.note(
            T(
                "Checking DMXAPI's billing log for the request (a few seconds)...",
            )
        )
    own = account is None
    try:
        account = account or Account(settings, read_timeout=15.0)
    except DmxError as exc:
        verdict = Verdict(
            None, "unavailable", T("The billing check could not be made: {exc}", exc=exc)
        )
    else:
        try:
            verdict = safe_check(account, target, clock=clock, sleep=sleep)
        finally:
            if own:
                account.close()
    record(book, entry_id, verdict)
    explain(error, verdict, settle_hint)
    return verdict


# -- earlier entries: `recover --check` ---------------------------------------------------


def check_entries(
    settings: Settings,
    book: Ledger,
    entries: Iterable[Entry],
    *,
    recheck: bool = False,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> list[tuple[Entry, Verdict]]:
    """Check ledger entries that may have been billed; record each verdict."""
    settings.require_account()
    out: list[tuple[Entry, Verdict]] = []
    with Account(settings) as account:
        for entry in entries:
            if entry.billed is not None and not recheck:
                continue
            target = Target(
                entry.model or settings.model, entry.created, entry.updated, entry.request_id
            )
            verdict = safe_check(
                account, claimed_ids(book, target, entry.id), clock=clock, sleep=sleep
            )
            record(book, entry.id, verdict)
            out.append((entry, verdict))
    return out


# -- a batch's held-back jobs: `batch --reconcile` ----------------------------------------


def estimate(
    settings: Settings,
    shapes: Mapping[tuple[str, str | None], int],
    book: Ledger | None,
    *,
    clock: Clock = time.time,
) -> tuple[float, dict[str, float]] | None:
    """The estimated cost in CNY of sending ``shapes`` ((model, size) -> jobs), from the
    prices of recent charges whose request ids the ledger knows (so their size is known).
    One bounded log query; None when a price is unknown or the account API fails."""
    if not shapes or not settings.has_account or book is None:
        return None
    models = {model for model, _size in shapes}
    now = clock()
    try:
        with Account(settings, read_timeout=10.0) as account:
            read = account.log(
                start=int(now - ESTIMATE_DAYS * 86400),
                end=int(now + 3600),
                model=next(iter(models)) if len(models) == 1 else None,
                page_size=ESTIMATE_ITEMS,
                max_pages=1,
            )
    except DmxError:
        return None
    return _priced(shapes, _prices(read, book))


def _prices(read: LogRead, book: Ledger) -> dict[tuple[str, str | None], int]:
    """The newest price (quota) of each (model, size) in the log whose size the ledger
    knows (by request id)."""
    sizes = book.sizes_of({i.request_id for i in read.items if i.request_id})
    prices: dict[tuple[str, str | None], int] = {}
    for item in read.items:  # newest first: the newest price of each shape wins
        size = sizes.get(item.request_id)
        key = (item.model_name, size)
        if item.charged and size is not None and key not in prices:
            prices[key] = item.quota
    return prices


def _priced(
    shapes: Mapping[tuple[str, str | None], int], prices: Mapping[tuple[str, str | None], int]
) -> tuple[float, dict[str, float]] | None:
    """The total in CNY and each shape's price; None when a price is unknown."""
    total = 0
    each: dict[str, float] = {}
    for (model, size), count in shapes.items():
        price = prices.get((model, size or "1K"))
        if price is None:
            return None
        total += price * count
        each[f"{model} {size or '1K'}"] = round(cny(price), 6)
    return round(cny(total), 6), each
