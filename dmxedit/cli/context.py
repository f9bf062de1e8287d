"""The run context: the streams, the terminal facts, the output mode and the console of
one run of the command line, passed to every command instead of living in globals.

``RunContext.from_process()`` describes the real process; tests build one with
in-memory streams (``RunContext.in_memory``) and run the CLI in-process.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from dmxedit.core import env as environment
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import N_, T
from dmxedit.core.temporaries import Temporaries

if TYPE_CHECKING:
    from rich.console import Console


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def portable_streams(env: Mapping[str, str] | None = None) -> None:
    """Standard output and error that can carry any prompt or path.

    Where a stream is a pipe or a file, Python encodes it with the locale's code page
    (cp1252, cp936 on Windows, unless UTF-8 mode is on), in which a Chinese prompt in
    ``--json`` or an emoji in a file name cannot be written. Data then goes out as UTF-8
    (as JSON must); messages on standard error never fail over a character. A terminal
    keeps its encoding (Windows writes to its console in UTF-16; a GBK terminal shows
    GBK), but what it cannot show is replaced (``?``) instead of failing the run: a
    Chinese message shows, an emoji in a prompt does not crash it (issue #26). An
    encoding the user chose with PYTHONIOENCODING is left alone.
    """
    if environment.io_encoding_chosen(environment.given(env)):
        return
    for stream, errors in ((sys.stdout, "strict"), (sys.stderr, "backslashreplace")):
        encoding = str(getattr(stream, "encoding", "") or "").lower().replace("-", "")
        reconfigure = getattr(stream, "reconfigure", None)
        if encoding in ("utf8", "utf_8") or reconfigure is None:
            continue
        if not _isatty(stream):
            reconfigure(encoding="utf-8", errors=errors)
        elif getattr(stream, "errors", "strict") == "strict":
            reconfigure(errors="replace")


def language(env: Mapping[str, str]) -> str:
    """The language of this run's messages (core/i18n.choose): ``DMXEDIT_LANG``, the
    config file's ``language``, the locale's variables. A config file that cannot be read
    says so in its own error later; here it only means no setting."""
    from dmxedit.core import i18n
    from dmxedit.core.errors import DmxError
    from dmxedit.core.settings import config_path, read_config

    setting = None
    if environment.language_override(env) is None:  # DMXEDIT_LANG decides without the file
        try:
            value = read_config(config_path(env)).get("language")
        except DmxError:
            value = None
        setting = value if isinstance(value, str) else None
    return i18n.choose(env, setting)


@dataclass
class RunContext:
    """Everything a command may touch of the world outside it."""

    stdin: BinaryIO | None
    stdout: TextIO
    stdout_bytes: BinaryIO
    stderr: TextIO
    stdin_isatty: bool = False
    stdout_isatty: bool = False
    stderr_isatty: bool = False
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    json: bool = False
    quiet: bool = False
    verbose: bool = False
    temporaries: Temporaries = field(default_factory=Temporaries)
    stdin_used_by: str | None = None
    #: The clock (unix time) and sleep of the run: the billing check waits and reads the
    #: time through them (tests pass fakes, so none waits).
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    _console: Console | None = None

    @classmethod
    def from_process(cls) -> RunContext:
        portable_streams(os.environ)
        stdin = getattr(sys.stdin, "buffer", None) if sys.stdin is not None else None
        closed = _Closed() if sys.stdout is None else None
        return cls(
            stdin=stdin,
            stdout=sys.stdout if closed is None else closed,  # type: ignore[arg-type]
            stdout_bytes=sys.stdout.buffer if closed is None else closed,  # type: ignore[arg-type]
            stderr=sys.stderr,
            stdin_isatty=_isatty(sys.stdin),
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=_isatty(sys.stderr),
        )

    @classmethod
    def in_memory(cls, stdin: bytes | None = b"", **facts: Any) -> RunContext:
        """In-memory streams (for tests and embedding): read them back with
        :meth:`output` and :meth:`errors`."""
        raw = io.BytesIO()
        return cls(
            stdin=io.BytesIO(stdin) if stdin is not None else None,
            stdout=io.TextIOWrapper(raw, encoding="utf-8", write_through=True),
            stdout_bytes=raw,
            stderr=io.StringIO(),
            **facts,
        )

    def output(self) -> bytes:
        """What an in-memory context's standard output received."""
        self.stdout.flush()
        assert isinstance(self.stdout_bytes, io.BytesIO)
        return self.stdout_bytes.getvalue()

    def errors(self) -> str:
        assert isinstance(self.stderr, io.StringIO)
        return self.stderr.getvalue()

    @property
    def debug(self) -> bool:
        return environment.debug(self.env)

    @property
    def live(self) -> bool:
        """Progress displays: standard error is a terminal and --quiet is off."""
        return self.stderr_isatty and not self.quiet

    def console(self) -> Console:
        """The rich console on standard error (NO_COLOR and non-terminals honoured)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self.stderr,
                highlight=False,
                soft_wrap=False,
                force_terminal=self.stderr_isatty,
                no_color=environment.no_color(self.env) or None,
            )
        return self._console

    # -- data on standard output -------------------------------------------------------

    def emit_json(self, data: Any, *, compact: bool = False) -> None:
        """One JSON document: every value exact (control characters and a file name's
        undecodable bytes as ``\\u`` escapes, which JSON readers turn back); ``compact``:
        on one line (JSON Lines, a stream of them)."""
        from dmxedit.core.text import dumps

        self.stdout.write(dumps(data, indent=None if compact else 2) + "\n")
        self.stdout.flush()

    def emit_lines(self, lines: list[str], *, multiline: bool = False) -> None:
        """Lines of data. A control character in a line (from a server, a file name) is
        written as an escape (``\\x1b``), a newline inside a line too unless
        ``multiline`` (dmxedit's own text with line breaks). A file name's undecodable
        bytes go out as they are, as the file system names the file; to a terminal they
        are shown as ``\\xNN``."""
        from dmxedit.core.text import escaped, undecodable

        raw = not self.stdout_isatty
        for line in lines:
            for part in line.split("\n") if multiline else [line]:
                text = escaped(part, keep_undecodable=raw)
                if raw and undecodable(text):
                    self.stdout.flush()
                    self.stdout_bytes.write(text.encode("utf-8", "surrogateescape") + b"\n")
                    self.stdout_bytes.flush()
                else:
                    self.stdout.write(text + "\n")
        self.stdout.flush()

    # -- standard input, read at most once ----------------------------------------------

    def claim_stdin(self, what: str) -> BinaryIO:
        """Standard input for ``what`` (an image, the prompt, the jobs); once per run."""
        if self.stdin_used_by is not None:
            raise InputError(
                T(
                    "Standard input is already used for the {used}; it cannot also give the "
                    "{what}.",
                    used=T(self.stdin_used_by),
                    what=T(what),
                )
            )
        if self.stdin is None:
            raise InputError(
                T("Standard input is closed; it cannot give the {what}.", what=T(what))
            )
        self.stdin_used_by = what
        return self.stdin

    def read_stdin_text(self, what: str) -> str:
        data = self.claim_stdin(what).read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                T("The {what} on standard input is not UTF-8 text.", what=T(what))
            ) from None

    def read_stdin_image(self) -> bytes:
        from dmxedit.media.images import read_limited

        return read_limited(self.claim_stdin(N_("image")), "standard input")


__all__ = ["RunContext"]


class _Closed(io.TextIOBase):
    """Standard output when the process was started with it closed (``>&-``): every
    write fails as a closed descriptor's would, so the saved paths go to standard error
    and the exit code says so, like a full one."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:  # text or bytes: both fail
        raise OSError(9, "standard output is closed")

    def isatty(self) -> bool:
        return False
