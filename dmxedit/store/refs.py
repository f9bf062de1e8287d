"""``@last`` and ``@N`` image arguments: a result dmxedit saved, named by its ledger
entry."""

from __future__ import annotations

from pathlib import Path

from dmxedit.core.errors import InputError
from dmxedit.store.ledger import Entry, Ledger, enabled


def resolve_image_ref(ref: str, ledger: Ledger | None, history: bool = True) -> str:
    """``@last`` or ``@N`` -> the path of that ledger entry's saved image."""
    entry = resolve_entry_ref(ref, ledger, history)
    for path in entry.saved_files:
        if Path(path).is_file():
            return path
    raise InputError(
        f"{ref}: ledger entry {entry.id} has no saved image that still exists.",
        hint=f"See `dmxedit history show {entry.id}`.",
    )


def resolve_entry_ref(ref: str, ledger: Ledger | None, history: bool = True) -> Entry:
    """``@last`` (the newest entry with a saved result) or ``@N`` -> that ledger entry."""
    if ledger is None:
        if not enabled(history):
            raise InputError(
                f"{ref} needs the ledger, which is turned off.",
                hint="Turn it on with `dmxedit config set history on`.",
            )
        raise InputError(f"{ref}: dmxedit has saved no result yet (the ledger is empty).")
    if ref == "@last":
        entry = ledger.newest_saved()
        if entry is None:
            raise InputError("@last: no saved result in the ledger still exists.")
    else:
        try:
            number = int(ref[1:])
        except ValueError:
            raise InputError(f"{ref!r} is not @last or @N (a ledger entry number).") from None
        found = ledger.get(number)
        if found is None:
            raise InputError(f"{ref}: there is no ledger entry {number}.")
        entry = found
    return entry


def is_ref(arg: str) -> bool:
    return arg == "@last" or (arg.startswith("@") and arg[1:].isdigit())
