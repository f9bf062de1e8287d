"""Fetch a known result URL again: the one way a paid result's URL becomes a saved file,
used by the pipeline's save step, a batch re-run's download and ``dmxedit recover``.

A download never re-runs the generation. Whatever goes wrong (a dead URL, a full disk,
an exception nobody foresaw) ends as a :class:`SaveError` that keeps the URL, so the
caller can print and record it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmxedit.core import interrupts
from dmxedit.core.errors import SaveError
from dmxedit.core.i18n import T

if TYPE_CHECKING:
    from dmxedit.api.client import Client
    from dmxedit.store.results import SavedImage, Saver


def fetch_again(client: Client, saver: Saver, url: str) -> SavedImage:
    """Download ``url`` and save it through ``saver``; SaveError (with the URL) otherwise.
    Bytes downloaded but not saved by an unforeseen failure go to the rescue folder."""
    try:
        blob = client.download(url, saver.new_blob)
    except (SaveError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - whatever it was, the URL is kept
        raise SaveError(
            T(
                "The result could not be downloaded ({describe}); its URL is "
                "printed so it is not lost.",
                describe=_describe(exc),
            ),
            urls=[url],
            hint=T("`dmxedit recover` tries again while the URL works."),
        ) from exc
    try:
        with interrupts.deferred():  # downloaded and paid for: a Ctrl-C waits for the move
            return saver.finish(blob, url)
    except (SaveError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - the bytes are paid for: kept
        raise saver.keep(blob, url, _describe(exc)) from exc


def _describe(exc: BaseException) -> str:
    text = str(exc)[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
