"""The interrupts the process was sent (Ctrl-C, SIGTERM, SIGHUP), remembered.

Python raises KeyboardInterrupt wherever the main thread is when the signal arrives; when
that is a weakref callback or a ``__del__`` (the garbage collector at work), the exception
is printed and dropped, and the run would go on (a download at a byte a second, say,
until it ends). So the CLI's signal handler also notes the signal here, and the loops that
can run long in the main thread (the upload's body, an answer or a download arriving)
call :func:`check`, which raises KeyboardInterrupt again. A signal is process-wide, and so
is this note; worker threads never raise from it (a batch's first Ctrl-C lets its running
jobs finish).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_noted: list[bool] = [False]  # set from a signal handler: one assignment, no lock
_deferring: list[int] = [0]  # how deep the main thread is in `deferred` blocks


def note() -> None:
    """The process was asked to stop (called by the CLI's signal handler)."""
    _noted[0] = True


def forget() -> None:
    """The interrupt was handled (the CLI's run is over)."""
    _noted[0] = False


@contextmanager
def deferred() -> Iterator[None]:
    """A step that must not be cut in the middle (a paid result that has arrived being
    moved into place: milliseconds): in the main thread, an interrupt during it is only
    noted, and the next :func:`check` raises it. Other threads are never interrupted."""
    import threading

    main = threading.current_thread() is threading.main_thread()
    if main:
        _deferring[0] += 1
    try:
        yield
    finally:
        if main:
            _deferring[0] -= 1


def deferring() -> bool:
    """Whether the CLI's signal handler should note the interrupt without raising."""
    return _deferring[0] > 0


def check() -> None:
    """Raise KeyboardInterrupt in the main thread when an interrupt was noted."""
    if _noted[0]:
        import threading  # only once an interrupt came: `dmxedit --version` stays light

        if threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt


__all__ = ["check", "deferred", "deferring", "forget", "note"]
