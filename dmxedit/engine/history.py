"""Reading the ledger (``history``, ``recover``, ``report --history``): the ledger opened
for reading, and the ``--since`` dates its queries take."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from dmxedit.core import env as environment
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.core.settings import resolve
from dmxedit.store.ledger import Ledger, enabled, ledger_path

if TYPE_CHECKING:
    from dmxedit.store.ledger import Ledger

_RELATIVE = re.compile(r"(\d+)\s*([dhm])")


@contextlib.contextmanager
def reading(env: Mapping[str, str] | None = None) -> Iterator[Ledger | None]:
    """The ledger for reading (None when it was never written), closed afterwards; an
    InputError when it is turned off."""

    env = environment.given(env)
    settings = resolve(env=env)
    path = ledger_path(env)
    if not enabled(settings.history, env):
        raise InputError(
            T("The ledger is turned off, so there is no history."),
            hint=T(
                "Turn it on with `dmxedit config set history on` (and unset {no_history}).",
                no_history=environment.NO_HISTORY,
            ),
        )
    if not path.exists():
        yield None
        return
    book = Ledger(path)
    try:
        yield book
    finally:
        book.close()


def parse_since(text: str, clock: Callable[[], float] = time.time) -> float:
    """``2026-11-30``, ``2026-11-30T08:00`` or a relative ``3d``, ``12h``, ``30m``."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        seconds = {"d": 86400, "h": 3600, "m": 60}[relative.group(2)]
        return clock() - int(relative.group(1)) * seconds
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise InputError(
            T("--since {text!r} is not a date.", text=text),
            hint=T("Use 2026-11-30, 2026-11-30T08:00, or 3d / 12h / 30m ago."),
        ) from None


__all__ = ["parse_since", "reading"]
