"""A tool call's progress: the engine's callbacks (:class:`~dmxedit.core.events.Events`,
called on the worker thread) turned into one value that only grows, read by the
server's ticker (``dmxedit.mcp.server``) and sent as MCP progress notifications.

Upload is 0-30, waiting for the model 30-70 (creeping towards 70 while it works, so a
4K edit's long wait still moves), download 70-100; 100 when the call is over.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from dmxedit.core.events import Events

TOTAL = 100.0
#: Seconds between notifications while nothing else happens (MCP clients reset their
#: timeouts on progress; SPEC 14 asks for at least one every 10 s).
TICK = 5.0


class Progress(Events):
    """The progress of one call; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.phase = "starting"
        self._done = 0
        self._total: int | None = None
        self._since = clock()
        self._last = 0.0
        self.warnings: list[str] = []
        #: Set when the client cancels the call: nothing new is sent from then on.
        self.cancelled = threading.Event()

    def stopped(self) -> bool:
        """Whether the call was cancelled (the engine asks before it sends anything)."""
        return self.cancelled.is_set()

    def _set(self, phase: str, total: int | None = None) -> None:
        with self._lock:
            self.phase, self._done, self._total, self._since = phase, 0, total, self._clock()

    def upload_start(self, total: int, parts: int) -> None:
        self._set("uploading", total)

    def upload_progress(self, sent: int) -> None:
        with self._lock:
            self._done = sent

    def waiting(self) -> None:
        self._set("waiting for the model")

    def download_start(self, total: int | None, what: str) -> None:
        self._set("downloading", total)

    def download_progress(self, received: int) -> None:
        with self._lock:
            self._done = received

    def warn(self, message: str) -> None:
        with self._lock:
            self.warnings.append(message)

    def _value(self) -> float:
        part = self._done / self._total if self._total else 0.0
        if self.phase == "uploading":
            return 30 * min(part, 1.0)
        if self.phase == "waiting for the model":
            return 30 + 40 * (1 - math.exp(-(self._clock() - self._since) / 60))
        if self.phase == "downloading":
            if self._total is None:  # unknown length: creep by the bytes received
                part = 1 - math.exp(-self._done / 4_000_000)
            return 70 + 30 * min(part, 1.0)
        return 0.0

    def next(self) -> tuple[float, str]:
        """The value of the next notification (always above the last one) and its
        message."""
        with self._lock:
            value = min(self._value(), 99.9)
            step = max((99.9 - self._last) * 0.01, 1e-6)
            self._last = max(value, self._last + step)
            return self._last, self.phase
