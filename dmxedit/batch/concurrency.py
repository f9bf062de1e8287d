"""How many jobs a batch runs at once: a fixed number, or ``--concurrency auto``.

``auto`` starts at 2 and grows while answers arrive without a 429 and every place is
in use: by one a success up to
the most that worked before the last 429 (the *ceiling*; none at first), then, above it,
by one at most every ``probe_every`` seconds, once a whole window of that many answers
came back without a 429. A 429 halves it (besides the shared pause of
:class:`dmxedit.api.retry.Pacer`) and sets the ceiling to the number of other requests that
were out at the API when it came (the pacer counts them), less each of them that was
refused as well. The 429s of requests already out before a decrease do not halve
it again: one overload is one decrease.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T

Concurrency = int | Literal["auto"]
MAX_FIXED = 64
AUTO_START = 2
AUTO_MAX = 16


def parse_concurrency(value: object) -> Concurrency:
    """``--concurrency``: a whole number from 1 to 64, or ``auto``."""
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text.isdigit() and 1 <= int(text) <= MAX_FIXED:
        return int(text)
    raise InputError(
        T(
            "--concurrency {value!r} is not a number from 1 to {max_fixed}, or auto.",
            value=value,
            max_fixed=MAX_FIXED,
        ),
        hint=T("auto starts at 2 and adapts to the API's 429 answers."),
    )


class Limit:
    """A gate for the workers: at most ``limit`` jobs run at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.throttled = 0  # 429 answers seen
        self.cond = threading.Condition()
        self.on_change: Callable[[int, int, str], None] | None = None

    @property
    def workers(self) -> int:
        """How many worker threads may be needed at most."""
        return self.limit

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for room to start a job; False when ``stop`` is set meanwhile."""
        with self.cond:
            while self.running >= self.limit:
                if stop.is_set():
                    return False
                self.cond.wait(0.2)
            if stop.is_set():
                return False
            self.running += 1
            self._started()
            return True

    def release(self, answered: bool) -> None:
        """A job ended; ``answered``: its request was answered (no 429 in the end)."""
        with self.cond:
            self.running -= 1
            self._ended(answered)
            self.cond.notify_all()

    def throttle(self, in_flight: int | None = None) -> None:
        """The API answered 429 to one of the requests, ``in_flight`` others still out."""
        with self.cond:
            self.throttled += 1
            self._throttled(in_flight)
            self.cond.notify_all()

    # what an adaptive limit changes (called with the condition held)
    def _started(self) -> None: ...

    def _ended(self, answered: bool) -> None: ...

    def _throttled(self, in_flight: int | None) -> None: ...


class AdaptiveLimit(Limit):
    """``--concurrency auto``: additive growth, halving on a 429, a remembered ceiling."""

    def __init__(
        self,
        start: int = AUTO_START,
        maximum: int = AUTO_MAX,
        probe_every: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(start)
        self.maximum = maximum
        self.probe_every = probe_every
        self.clock = clock
        self.ceiling: int | None = None  # the most that worked before the last 429
        self.epoch = 0  # counts the decreases
        self.streak = 0  # answers since the last change of the limit
        self.highest = start
        self._probe_at = 0.0
        self._epochs: dict[int, int] = {}  # worker thread -> the epoch its job started in

    @property
    def workers(self) -> int:
        return self.maximum

    def _started(self) -> None:
        self._epochs[threading.get_ident()] = self.epoch

    def _ended(self, answered: bool) -> None:
        self._epochs.pop(threading.get_ident(), None)
        if not answered or self.limit >= self.maximum or self.running + 1 < self.limit:
            return  # grow only a limit in full use: else it would race ahead of the jobs
        self.streak += 1
        if self.ceiling is None or self.limit < self.ceiling:
            self._set(self.limit + 1, T("answers without a 429"))
        elif self.streak >= self.limit and self.clock() >= self._probe_at:
            self.ceiling = self.limit  # a whole window worked at this limit
            self._set(self.limit + 1, T("probing above the last limit that worked"))
            self._probe_at = self.clock() + self.probe_every

    def _throttled(self, in_flight: int | None) -> None:
        started = self._epochs.get(threading.get_ident(), self.epoch)
        if started < self.epoch:
            # Out before the last decrease: the same overload, no second halving; but this
            # one was refused too, so it was not among the requests the API took.
            if self.ceiling is not None and self.ceiling > 1:
                self.ceiling -= 1
            return
        self.epoch += 1
        self._epochs[threading.get_ident()] = self.epoch  # its resend is of the new epoch
        # The API took the requests that were out when it refused this one: as many jobs
        # at once is what worked (a job also saves its files, so it runs a little longer).
        out = in_flight if in_flight is not None else min(self.limit, self.running) - 1
        self.ceiling = max(1, out)
        self._probe_at = self.clock() + self.probe_every
        self._set(max(1, self.limit // 2), T("the API answered 429"))

    def _set(self, limit: int, why: str) -> None:
        old, self.limit, self.streak = self.limit, limit, 0
        self.highest = max(self.highest, limit)
        if self.on_change is not None and old != limit:
            self.on_change(old, limit, why)
