"""The exception tree and the exit codes (SPEC section 3).

Every error the core raises on purpose is a :class:`DmxError` carrying the exit code
the command line ends with, a message saying what was wrong and a hint saying what to
do next. Anything else escaping the core is a bug (exit 1).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any

from dmxedit.core.i18n import N_, P, T, Text, joined


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """ "1 job", "3 jobs": a count with its noun, for messages a person reads (a
    :class:`Text` whose catalog entry is the noun's, e.g. ``"{count} job"``)."""
    known = _COUNTED.get(noun)
    if known is not None:
        return known(number)
    many = plural or noun + "s"
    return Text("{count:,} {noun}", count=number, noun=noun if number == 1 else many)


#: The nouns messages count, each a catalog entry of its own.
_COUNTED: dict[str, Callable[[int], Text]] = {
    "job": lambda n: P("{count:,} job", "{count:,} jobs", n),
    "running job": lambda n: P("{count:,} running job", "{count:,} running jobs", n),
    "charge": lambda n: P("{count:,} charge", "{count:,} charges", n),
    "earlier turn": lambda n: P("{count:,} earlier turn", "{count:,} earlier turns", n),
    "image": lambda n: P("{count:,} image", "{count:,} images", n),
    "request": lambda n: P("{count:,} request", "{count:,} requests", n),
    "result URL": lambda n: P("{count:,} result URL", "{count:,} result URLs", n),
    "paid result": lambda n: P("{count:,} paid result", "{count:,} paid results", n),
}


#: The typed facts of an error (attributes, not ``details`` keys).
TYPED = ("may_be_billed", "urls", "files", "billed")


class ExitCode(IntEnum):
    """dmxedit's exit codes, the contract for scripts (SPEC section 3)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    AUTH = 3
    API = 4
    NETWORK = 5
    NOT_SAVED = 6
    BATCH_FAILED = 7
    INTERRUPTED = 130


class DmxError(Exception):
    """Base of every error dmxedit raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL
    title: str = N_("Error")
    #: The command already printed this error inside its own --json object.
    json_printed: bool = False

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
        may_be_billed: bool | None = None,
        urls: list[str] | None = None,
        files: list[str] | None = None,
        billed: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status
        self.request_id = request_id
        extra: dict[str, Any] = dict(details or {})
        # The facts a paid result hangs on are typed attributes; a caller that still
        # passes them in ``details`` gets them moved here.
        if may_be_billed is None and "may_be_billed" in extra:
            may_be_billed = bool(extra.pop("may_be_billed"))
        if urls is None and "urls" in extra:
            urls = list(extra.pop("urls") or [])
        if files is None and "files" in extra:
            files = list(extra.pop("files") or [])
        if billed is None and "billed" in extra:
            billed = extra.pop("billed")
        for key in TYPED:
            extra.pop(key, None)
        #: Whether the API may have done (and billed) the work; None: not said.
        self.may_be_billed: bool | None = may_be_billed
        #: Result URLs received and not saved (printed so the paid result is not lost).
        self.urls: list[str] | None = None if urls is None else list(urls)
        #: Files written (saved, or kept in the rescue folder).
        self.files: list[str] | None = None if files is None else list(files)
        #: The billing check's verdict (SPEC 8), when one was made.
        self.billed: bool | None = billed
        self.details: dict[str, Any] = extra
        #: What could not be recorded (a ledger write that failed), said with the error.
        self.warnings: list[str] = []

    @property
    def url_list(self) -> list[str]:
        return list(self.urls or [])

    @property
    def file_list(self) -> list[str]:
        return list(self.files or [])

    def to_dict(self) -> dict[str, Any]:
        """The error as the ``{"error": {...}}`` object of ``--json``."""
        out: dict[str, Any] = {
            "type": type(self).__name__,
            "message": self.message,
            "exit_code": int(self.exit_code),
        }
        if self.hint:
            out["hint"] = self.hint
        if self.status is not None:
            out["status"] = self.status
        if self.request_id:
            out["request_id"] = self.request_id
        if self.urls is not None:
            out["urls"] = list(self.urls)
        if self.files is not None:
            out["files"] = list(self.files)
        if self.may_be_billed is not None:
            out["may_be_billed"] = self.may_be_billed
        if self.billed is not None:
            out["billed"] = self.billed
        out.update(self.details)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


class InternalError(DmxError):
    """Something dmxedit did not foresee (a bug) stopped a request before it went out:
    nothing was billed. After it went out the guard turns the unforeseen into the error
    of the step it stopped (see ``engine.delivery.verdict``)."""

    exit_code = ExitCode.INTERNAL
    title = N_("Internal error (a bug in dmxedit)")


class InputError(DmxError):
    """Invalid usage or input: a bad option, file, prompt, ratio, size or config value."""

    exit_code = ExitCode.USAGE
    title = N_("Invalid input")


def all_problems(problems: list[InputError]) -> InputError:
    """One InputError for every problem found, so a user fixes them all in one go."""
    if len(problems) == 1:
        return problems[0]
    listed = joined(T("- {problem}", problem=p.message) for p in problems)
    return InputError(
        T("{count} problems; nothing was sent:\n{listed}", count=len(problems), listed=listed),
        hint=next((p.hint for p in problems if p.hint), None),
        details={"problems": [p.message for p in problems]},
    )


class ConfigError(DmxError):
    """Authentication or configuration: no key, an unreadable config file."""

    exit_code = ExitCode.AUTH
    title = N_("Configuration problem")


class AuthError(ConfigError):
    """The API refused the key (HTTP 401/403)."""

    title = N_("Authentication failed")


class ApiError(DmxError):
    """The API refused the request: another 4xx, or a malformed or empty success body."""

    exit_code = ExitCode.API
    title = N_("The API refused the request")


class NetworkError(DmxError):
    """The API or the network failed after retries: 5xx, 429, timeouts, connections."""

    exit_code = ExitCode.NETWORK
    title = N_("The API or the network failed")


class SaveError(DmxError):
    """The image was generated but could not be saved; ``urls`` keeps it reachable."""

    exit_code = ExitCode.NOT_SAVED
    title = N_("The image was generated but not saved")

    def __init__(
        self,
        message: str,
        *,
        urls: list[str] | None = None,
        files: list[str] | None = None,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
        rescued: list[str] | None = None,
        **facts: Any,
    ) -> None:
        merged = dict(details or {})
        urls = list(urls if urls is not None else merged.pop("urls", None) or [])
        files = list(files if files is not None else merged.pop("files", None) or [])
        facts.setdefault("may_be_billed", True)  # generated: it was billed
        super().__init__(message, hint=hint, details=merged, urls=urls, files=files, **facts)
        self.urls: list[str] = list(urls)
        self.files: list[str] = list(files)
        #: URLs whose image was kept in the rescue folder: saved, only elsewhere.
        self.rescued: list[str] = list(rescued or [])


class OutputError(DmxError):
    """Standard output could not be written (full, closed): the results are saved and
    their paths went to standard error instead; the run still fails, so a script
    reading standard output knows it missed them."""

    exit_code = ExitCode.NOT_SAVED
    title = N_("Standard output could not be written")


class BatchError(DmxError):
    """Some jobs of a batch failed."""

    exit_code = ExitCode.BATCH_FAILED
    title = N_("Some jobs failed")


class Interrupted(DmxError):
    """Ctrl-C (or SIGTERM/SIGHUP) stopped a request; ``urls`` holds any result already
    known, and ``may_be_billed`` whether the request had gone out."""

    exit_code = ExitCode.INTERRUPTED
    title = N_("Interrupted")
