"""The registry of a run's temporary files, so an interrupt can remove them.

Kept apart from ``results`` (which imports hashing, sockets and the image checks) so the
command line's run context can hold one without slowing the light commands' start.
"""

from __future__ import annotations

import os
import threading


class Temporaries:
    """The temporary files of one run, so an interrupt can remove them (from any thread).

    The CLI's run context owns one; a library caller gets a fresh one per call.
    """

    def __init__(self) -> None:
        self._paths: set[str] = set()
        self._patterns: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def make(self, folder: str, prefix: str, suffix: str) -> tuple[int, str]:
        """A new temporary file in ``folder`` (``tempfile.mkstemp``), tracked. Its name's
        pattern is registered first, so an interrupt landing between its creation and its
        tracking still finds it (``prefix`` must name this process: no other's file
        matches)."""
        import tempfile

        with self._lock:
            self._patterns.add((folder, prefix, suffix))
        fd, path = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
        self.track(path)
        return fd, path

    def track(self, path: str) -> None:
        with self._lock:
            if not self._closed:
                self._paths.add(path)
                return
        # The run is being interrupted: a worker still finishing gets a file that is
        # already gone from the folder (its descriptor keeps working until it stops).
        try:
            os.unlink(path)
        except OSError:
            pass

    def untrack(self, path: str) -> None:
        with self._lock:
            self._paths.discard(path)

    def remove_all(self) -> None:
        """Delete every temporary file still registered, and any made from now on."""
        with self._lock:
            paths = list(self._paths)
            self._paths.clear()
            self._closed = True
            patterns = list(self._patterns)
        for folder, prefix, suffix in patterns:  # made, but not yet tracked
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            paths += [
                os.path.join(folder, n)
                for n in names
                if n.startswith(prefix) and n.endswith(suffix)
            ]
        for path in paths:
            try:
                os.unlink(path)
            except OSError:
                pass
