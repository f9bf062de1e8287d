"""What is resent, when, after how long, and whether the work may have been billed.

The rules that protect the user's money (SPEC section 4) live here and nowhere else.
The client classifies what happened to an attempt as an :class:`Outcome`; :func:`decide`
turns it into a :class:`Decision`. A POST is resent on its own only where the API cannot
have done the work (no connection, 429, 503); after anything that may have been billed it
is resent only with ``retry_server_errors``. Result downloads are plain GETs and are
retried freely. Nothing here imports requests.
"""

from __future__ import annotations

import email.utils
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timezone
from enum import Enum
from typing import TypeVar

from dmxedit.core import env
from dmxedit.core.errors import DmxError, Interrupted
from dmxedit.core.i18n import T

R = TypeVar("R")

MAX_RETRY_AFTER = 120.0  # seconds: a longer wait ends the run (SPEC section 4)
MAX_BACKOFF = 30.0
DOWNLOAD_ATTEMPTS = 4


class Fault(Enum):
    """What went wrong with one attempt of the POST."""

    NO_CONNECTION = "no connection"  # never reached the API: cannot be billed
    UPLOAD_CUT = "upload cut"  # the body did not all go out: cannot be billed
    BUSY = "busy"  # 429 or 503: the API did not do the work
    SERVER_ERROR = "server error"  # another 5xx: the work may have been done
    TIMEOUT = "timeout"  # no answer in time: the work may have been done
    DROPPED = "dropped"  # the connection broke after the upload or mid-answer
    REFUSED = "refused"  # any other error: sending it again would not help


@dataclass(frozen=True)
class Outcome:
    """One failed attempt: the fault, the HTTP status and the headers when there was one."""

    fault: Fault
    status: int | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Decision:
    """What to do after a failed attempt."""

    resend: bool
    wait: float = 0.0  # seconds before the next attempt
    shared: bool = False  # the pause holds every client sharing the pacer (a 429)
    may_be_billed: bool = False  # the API may have done (and billed) the work
    billed_twice_risk: bool = False  # resent although the first may have been billed
    wait_too_long: float | None = None  # the API asked for more than MAX_RETRY_AFTER
    attempt: int = 1  # the attempt (1-based) whose failure this decides on


RESEND_STATUSES = (429, 503)
MAY_BE_BILLED = (Fault.SERVER_ERROR, Fault.TIMEOUT, Fault.DROPPED)


def classify_status(status: int) -> Fault:
    """The fault an HTTP error status stands for."""
    if status in RESEND_STATUSES:
        return Fault.BUSY
    if status >= 500:
        return Fault.SERVER_ERROR
    return Fault.REFUSED


@dataclass(frozen=True)
class Policy:
    """How many times to resend and whether to accept paying twice."""

    retries: int = 2
    retry_server_errors: bool = False

    def decide(self, outcome: Outcome, attempt: int) -> Decision:
        """The decision after attempt number ``attempt`` (1-based) failed with ``outcome``."""
        billed = outcome.fault in MAY_BE_BILLED
        if outcome.fault in (Fault.REFUSED, Fault.UPLOAD_CUT):
            return Decision(resend=False)
        if billed and not self.retry_server_errors:
            return Decision(resend=False, may_be_billed=True)
        asked = parse_retry_after(outcome.headers) if outcome.headers is not None else None
        if attempt > self.retries:
            return Decision(resend=False, may_be_billed=billed)
        wait = asked if asked is not None else backoff(attempt)
        if wait > MAX_RETRY_AFTER:
            return Decision(resend=False, may_be_billed=billed, wait_too_long=wait)
        return Decision(
            resend=True,
            wait=wait,
            shared=outcome.status == 429,
            may_be_billed=billed,
            billed_twice_risk=billed,
        )


def download_decision(status: int | None, attempt: int) -> Decision:
    """A failed GET of a result URL: ``status`` None for a network error."""
    if status is not None and status not in (408, 425, 429) and status < 500:
        return Decision(resend=False)
    if attempt >= DOWNLOAD_ATTEMPTS:
        return Decision(resend=False)
    return Decision(resend=True, wait=backoff(attempt))


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    Always finite and >= 0, or None when neither header says anything usable.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        value = _number(millis)
        if value is not None:
            return max(0.0, value / 1000.0)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    value = _number(raw)
    if value is not None:
        return max(0.0, value)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    try:
        delta = when.timestamp() - current
    except (OverflowError, OSError, ValueError):
        return None
    return max(0.0, delta) if math.isfinite(delta) else None


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def base_delay(environ: env.Env | None = None) -> float:
    """The first backoff step in seconds (``DMXEDIT_RETRY_DELAY``, default 1)."""
    value = _number(env.retry_delay(env.given(environ)))
    return value if value is not None and value >= 0 else 1.0


def backoff(attempt: int, base: float | None = None, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: attempt 1 waits about base, 2 about 2 x base..."""
    step = base_delay() if base is None else base
    ceiling: float = min(MAX_BACKOFF, step * 2.0 ** max(0, attempt - 1))
    jitter: float = (rng or random).random()
    return ceiling * (0.5 + 0.5 * jitter)


class Pacer:
    """A pause shared by every worker: a 429 holds them all until its wait is over."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._until = 0.0
        self._lock = threading.Lock()
        self.sleep = sleep
        self._clock = clock
        self.on_throttle: Callable[[int], None] | None = None  # a batch's --concurrency auto
        self.in_flight = 0  # requests out at the API now, of every client sharing this pacer

    def begin(self) -> None:
        with self._lock:
            self.in_flight += 1

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def throttled(self) -> None:
        """The API answered 429 (resent or not), with ``in_flight`` others still out."""
        if self.on_throttle is not None:
            self.on_throttle(self.in_flight)

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self._until - self._clock())

    def wait(self) -> None:
        """Sleep until the shared pause is over (it may be extended meanwhile)."""
        while True:
            left = self.remaining()
            if left <= 0:
                return
            self.sleep(min(left, 0.5))

    def hold(self, decision: Decision) -> None:
        """Wait as a decision says: everyone for a shared pause, this caller otherwise."""
        if decision.shared:
            self.pause(decision.wait)
            self.wait()
        else:
            self.sleep(decision.wait)


class Failed(Exception):
    """An attempt failed in a way the retry policy decides on; ``build`` makes the error
    once the decision is known (what it says depends on it)."""

    def __init__(self, outcome: Outcome, build: Callable[[Decision], DmxError]) -> None:
        super().__init__(outcome.fault.value)
        self.outcome = outcome
        self.build = build


def not_sent(attempt: int) -> Interrupted:
    """The error of a call cancelled before its attempt number ``attempt`` went out."""
    earlier = " (an earlier attempt was refused, not billed)" if attempt > 1 else ""
    return Interrupted(
        T(
            "The call was cancelled before its request went out{earlier}; "
            "nothing was sent and nothing was billed.",
            earlier=earlier,
        ),
        may_be_billed=False,
    )


def retrying(
    once: Callable[[], R],
    policy: Policy,
    pacer: Pacer,
    on_retry: Callable[[int, float, str], None],
    stop: Callable[[], bool] | None = None,
) -> tuple[R, int]:
    """Call ``once`` until it succeeds or ``policy`` says stop (raising the error of the
    last :class:`Failed`); the result and the number of attempts. ``on_retry`` hears of
    each resend (attempt, wait, reason). ``stop`` (an MCP call's cancel flag) is asked
    before each attempt goes out: once it says yes, nothing new is sent (an attempt
    already out is never cut) and :func:`not_sent`'s error is raised."""
    attempt = 0
    while True:
        attempt += 1
        pacer.wait()
        if stop is not None and stop():
            raise not_sent(attempt)
        pacer.begin()
        try:
            result = once()
        except Failed as failed:
            pacer.end()
            decision = replace(policy.decide(failed.outcome, attempt), attempt=attempt)
            if failed.outcome.status == 429:
                pacer.throttled()
            error = failed.build(decision)
            if not decision.resend:
                raise error from None
            reason = error.message  # says nothing of billing: said once, here
            if decision.billed_twice_risk:
                reason += " It may have been billed; resending because of --retry-server-errors."
            on_retry(attempt, decision.wait, reason)
            pacer.hold(decision)
            continue
        except BaseException:
            pacer.end()
            raise
        pacer.end()
        return result, attempt
