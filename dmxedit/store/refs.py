"""``@last`` and ``@N`` image arguments: a result dmxedit saved, named by its ledger
entry."""

from __future__ import annotations

from pathlib import Path

from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.store.ledger import Entry, Ledger, enabled


def resolve_image_ref(ref: str, ledger: Ledger | None, history: bool = True) -> str:
    """``@last`` or ``@N`` -> the path of that ledger entry's saved image."""
    entry = resolve_entry_ref(ref, ledger, history)
    for path in entry.saved_files:
        if Path(path).is_file():
            return path
    raise InputError(
        T(
            "{ref}: ledger entry {id} has no saved image that still exists.",
            ref=ref,
            id=entry.id,
        ),
        hint=T("See `dmxedit history show {id}`.", id=entry.id),
    )


def resolve_entry_ref(ref: str, ledger: Ledger | None, history: bool = True) -> Entry:
    """``@last`` (the newest entry with a saved result) or ``@N`` -> that ledger entry."""
    if ledger is None:
        if not enabled(history):
            raise InputError(
                T("{ref} needs the ledger, which is turned off.", ref=ref),
                hint=T("Turn it on with `dmxedit config set history on`."),
            )
        raise InputError(
            T(
                "{ref}: dmxedit has saved no result yet (the ledger is empty).",
                ref=ref,
            )
        )
    if ref == "@last":
        entry = ledger.newest_saved()
        if entry is None:
            raise InputError(T("@last: no saved result in the ledger still exists."))
    else:
        try:
            number = int(ref[1:])
        except ValueError:
            raise InputError(
                T("{ref!r} is not @last or @N (a ledger entry number).", ref=ref)
            ) from None
        found = ledger.get(number)
        if found is None:
            raise InputError(T("{ref}: there is no ledger entry {number}.", ref=ref, number=number))
        entry = found
    return entry


def is_ref(arg: str) -> bool:
    return arg == "@last" or (arg.startswith("@") and arg[1:].isdigit())
