"""The one guard around a request's paid steps (send, answer, save).

From the moment the body starts going out, every way a request can end passes through
:func:`verdict`: any exception of any type (a bug, a parser's RecursionError, a full
disk, a ledger that cannot be written) becomes the :class:`DmxError` of the step it
stopped, carrying what the user must not lose: the result URLs not saved, the files
written, and whether the API may have done (and billed) the work. KeyboardInterrupt and
SystemExit keep their meaning (``None``: the caller records an interruption).

"May have been billed" follows SPEC 7: only a 4xx answer, a 503, a connection that never
opened and an interrupt before the body was completely sent are known not to be billed;
whatever else happened after the body went out may have been.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dmxedit.core.errors import ApiError, DmxError, InternalError, SaveError
from dmxedit.core.i18n import T
from dmxedit.engine.records import Tracker

if TYPE_CHECKING:
    from dmxedit.api.client import Answer
    from dmxedit.store.results import Blob, SavedImage

MAY_BE_BILLED = T(
    "The API may have done the work (and billed it); dmxedit does not send it again on its "
    "own. Check your DMXAPI usage log before running it again."
)
BUG = T("This is a bug in dmxedit: please report it (dmxedit --debug shows where).")


class Delivery(Tracker):
    """What is known of one request as it goes: whether the body went out, the answer,
    which results are saved. A :class:`Record` told first, so it knows before the others."""

    def __init__(self) -> None:
        super().__init__()
        self.answer: Answer[Blob] | None = None
        self.files: list[str] = []
        self.saved_urls: list[str] = []

    def answered(self, answer: Answer[Blob]) -> None:
        super().answered(answer)
        self.answer = answer

    def kept(self, image: SavedImage) -> None:
        """One image saved (or kept in the rescue folder)."""
        if image.path is not None:
            self.files.append(str(image.path))
        if image.url:
            self.saved_urls.append(image.url)

    def unsaved_urls(self) -> list[str]:
        return [u for u in self.urls if u not in self.saved_urls]


def billable(error: DmxError) -> bool:
    """May the API have done the work, for an error after the whole body went out?
    Only a 4xx answer and a 503 say it cannot have (SPEC 7); unknown means it may."""
    if error.may_be_billed is not None:
        return error.may_be_billed
    status = error.status
    return not (status is not None and (400 <= status < 500 or status == 503))


def describe(exc: BaseException) -> str:
    text = str(exc)
    if len(text) > 200:
        text = text[:199] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _merge(first: list[str], more: list[str]) -> list[str]:
    return list(dict.fromkeys([*first, *more]))


def verdict(exc: BaseException, state: Delivery) -> DmxError | None:
    """The error a request ends with after ``exc`` (anything at all), given what
    ``state`` knows; None for KeyboardInterrupt and SystemExit, which keep their meaning."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return None
    if isinstance(exc, DmxError):
        error = exc
    elif not state.was_sent:
        error = InternalError(
            T(
                "Internal error before the request was completely sent "
                "({describe}); nothing was billed.",
                describe=describe(exc),
            ),
            hint=BUG,
        )
    elif state.answer is None and not state.urls:
        error = ApiError(
            T(
                "The API's answer could not be read ({describe}). {may_be_billed}",
                describe=describe(exc),
                may_be_billed=MAY_BE_BILLED,
            ),
            hint=T("`dmxedit history` keeps the request; {bug}", bug=BUG),
            may_be_billed=True,
        )
    else:
        error = SaveError(
            T(
                "The image was generated (and billed) but an unexpected error "
                "stopped it from being saved ({describe}); its URL is printed "
                "so it is not lost.",
                describe=describe(exc),
            ),
            hint=T("`dmxedit recover` downloads it again. {bug}", bug=BUG),
        )
    if state.was_sent and not error.may_be_billed and billable(error):
        error.may_be_billed = True
        if "billed" not in error.message:
            said = error.message
            error.message = T(
                "{message} {may_be_billed}",
                message=said if said == said.rstrip() else said.rstrip(),
                may_be_billed=MAY_BE_BILLED,
            )
            error.args = (error.message,)
    unsaved = state.unsaved_urls()
    if unsaved:
        error.urls = _merge(error.url_list, unsaved)
    if state.files:
        error.files = _merge(state.files, error.file_list)
    return error
