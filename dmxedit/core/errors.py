"""The exception tree and the exit codes (SPEC section 3).

Every error the core raises on purpose is a :class:`DmxError` carrying the exit code
the command line ends with, a message saying what was wrong and a hint saying what to
do next. Anything else escaping the core is a bug (exit 1).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """ "1 job", "3 jobs": a count with its noun, for messages a person reads."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


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
    title: str = "Error"
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
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status
        self.request_id = request_id
        self.details: dict[str, Any] = dict(details or {})

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
        out.update(self.details)
        return out


class InputError(DmxError):
    """Invalid usage or input: a bad option, file, prompt, ratio, size or config value."""

    exit_code = ExitCode.USAGE
    title = "Invalid input"


def all_problems(problems: list[InputError]) -> InputError:
    """One InputError for every problem found, so a user fixes them all in one go."""
    if len(problems) == 1:
        return problems[0]
    listed = "\n".join(f"- {p.message}" for p in problems)
    return InputError(
        f"{len(problems)} problems; nothing was sent:\n{listed}",
        hint=next((p.hint for p in problems if p.hint), None),
        details={"problems": [p.message for p in problems]},
    )


class ConfigError(DmxError):
    """Authentication or configuration: no key, an unreadable config file."""

    exit_code = ExitCode.AUTH
    title = "Configuration problem"


class AuthError(ConfigError):
    """The API refused the key (HTTP 401/403)."""

    title = "Authentication failed"


class ApiError(DmxError):
    """The API refused the request: another 4xx, or a malformed or empty success body."""

    exit_code = ExitCode.API
    title = "The API refused the request"


class NetworkError(DmxError):
    """The API or the network failed after retries: 5xx, 429, timeouts, connections."""

    exit_code = ExitCode.NETWORK
    title = "The API or the network failed"


class SaveError(DmxError):
    """The image was generated but could not be saved; ``urls`` keeps it reachable."""

    exit_code = ExitCode.NOT_SAVED
    title = "The image was generated but not saved"

    def __init__(
        self,
        message: str,
        *,
        urls: list[str] | None = None,
        files: list[str] | None = None,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged = dict(details or {})
        merged.setdefault("urls", list(urls or []))
        merged.setdefault("files", list(files or []))
        super().__init__(message, hint=hint, details=merged)
        self.urls: list[str] = list(urls or [])
        self.files: list[str] = list(files or [])


class BatchError(DmxError):
    """Some jobs of a batch failed."""

    exit_code = ExitCode.BATCH_FAILED
    title = "Some jobs failed"


class Interrupted(DmxError):
    """Ctrl-C (or SIGTERM/SIGHUP) stopped a request; ``urls`` holds any result already
    known, and ``may_be_billed`` whether the request had gone out."""

    exit_code = ExitCode.INTERRUPTED
    title = "Interrupted"
