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

_noted: list[bool] = [False]  # set from a signal handler: one assignment, no lock


def note() -> None:
    """The process was asked to stop (called by the CLI's signal handler)."""
    _noted[0] = True


def forget() -> None:
    """The interrupt was handled (the CLI's run is over)."""
    _noted[0] = False


def check() -> None:
    """Raise KeyboardInterrupt in the main thread when an interrupt was noted."""
    if _noted[0]:
        import threading  # only once an interrupt came: `dmxedit --version` stays light

        if threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt


__all__ = ["check", "forget", "note"]
