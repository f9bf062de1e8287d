"""What the user sees on standard error: progress, messages, error panels (rich).

Only the CLI imports this module; the core reports through :class:`dmxedit.core.events.Events`.
Every text goes out through :func:`shown` (a message, which may have lines of its own,
in the user's language: ``core.i18n``) or :func:`field` (one value: a URL, a request id, a
path): control characters from a server or a file name are shown as escapes, never sent
to the terminal raw. The first words of a plain error line (``dmxedit: error:``,
``hint:``, ``dmxedit: warning:``) stay English whatever the language, for scripts.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from dmxedit.core import i18n
from dmxedit.core.events import Events
from dmxedit.core.i18n import N_, P, T
from dmxedit.core.text import escaped

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from dmxedit.cli.context import RunContext
    from dmxedit.core.errors import DmxError


#: The errors' titles (core/errors.py), translated where a panel shows them.
TITLES = (
    N_("Error"),
    N_("Internal error (a bug in dmxedit)"),
    N_("Invalid input"),
    N_("Configuration problem"),
    N_("Authentication failed"),
    N_("The API refused the request"),
    N_("The API or the network failed"),
    N_("The image was generated but not saved"),
    N_("Standard output could not be written"),
    N_("Some jobs failed"),
    N_("Interrupted"),
)
BUG = N_(
    "This is a bug in dmxedit. Run again with DMXEDIT_DEBUG=1 to see the traceback, and report it."
)


def _mib(n: int | None) -> str:
    if n is None:
        return i18n.shown(T("unknown size"))
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def shown(message: str) -> str:
    """A message for the terminal, in the user's language: its own line breaks kept,
    every other control character (from a server's words or a file name) shown as an
    escape."""
    return escaped(i18n.shown(message), keep_newlines=True)


def words(message: str) -> str:
    """A message (or a table's label) in the user's language, not escaped: for rich's
    tables and text, which the caller escapes as it builds them."""
    return i18n.shown(message)


def columns(text: str) -> int:
    """How many terminal columns ``text`` takes (a Chinese character takes two)."""
    if text.isascii():  # the common case
        return len(text)
    import unicodedata  # (rich.cells says the same, and takes 10x as long to import)

    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def pad(text: str, width: int) -> str:
    """``text`` padded with spaces to ``width`` terminal columns."""
    return text + " " * max(0, width - columns(text))


def field(value: object) -> str:
    """One value (a URL, a request id, a path) for the terminal, on one line: every
    control character, a newline too, shown as an escape."""
    return escaped(str(value))


def _details(error: DmxError) -> list[str]:
    """The error's facts, one a line, in the user's language."""
    extra: list[str] = []
    if error.status is not None:
        extra.append(T("HTTP status: {status}", status=error.status))
    if error.request_id:
        extra.append(T("Request id: {id}", id=field(error.request_id)))
    for url in error.url_list:
        extra.append(T("Result URL: {url}", url=field(url)))
    for path in error.file_list:
        extra.append(T("Saved file: {path}", path=field(path)))
    for warning in error.warnings:
        extra.append(T("Not recorded: {warning}", warning=field(i18n.shown(warning))))
    return [i18n.shown(line) for line in extra]


def plain_error(ctx: RunContext, message: str, details: list[str], hint: str | None) -> None:
    """An error for logs and CI: ``dmxedit: error: ...`` and indented details, no boxes.
    The message, details and hint in the user's language; ``dmxedit: error:`` and
    ``hint:`` in English, for scripts that look for them."""
    lines = i18n.shown(message).split("\n")
    out = [f"dmxedit: error: {lines[0]}", *(f"  {line}" for line in lines[1:])]
    out += [f"  {i18n.shown(line)}" for line in details]
    if hint:
        out += [f"  hint: {line}" for line in i18n.shown(hint).split("\n")]
    print(escaped("\n".join(out), keep_newlines=True), file=ctx.stderr, flush=True)


def error_panel(ctx: RunContext, error: DmxError) -> None:
    """The error: a panel on a terminal, plain lines elsewhere (SPEC section 3)."""
    if not ctx.stderr_isatty:
        plain_error(ctx, error.message, _details(error), error.hint)
        return
    from rich.markup import escape
    from rich.panel import Panel
    from rich.text import Text

    body = Text(shown(error.message))
    extra = _details(error)
    if extra:
        body.append("\n\n" + shown("\n".join(extra)))
    if error.hint:
        body.append("\n\n")
        body.append(shown(error.hint), style="bold")
    ctx.console().print(
        Panel(
            body,
            title=escape(
                field(
                    shown(
                        T(
                            "{title} (exit {code})",
                            title=i18n.shown(error.title),
                            code=int(error.exit_code),
                        )
                    )
                )
            ),
            title_align="left",
            border_style="red",
            expand=False,
        )
    )


def internal_panel(ctx: RunContext, exc: BaseException) -> None:
    if not ctx.stderr_isatty:
        what = f"{type(exc).__name__}: {exc}"
        plain_error(ctx, T("internal error: {error}", error=what), [], BUG)
        return
    from rich.panel import Panel
    from rich.text import Text

    ctx.console().print(
        Panel(
            Text(f"{type(exc).__name__}: {field(exc)}\n\n{shown(BUG)}"),
            title=shown(T("{title} (exit {code})", title=TITLES[1], code=1)),
            title_align="left",
            border_style="red",
            expand=False,
        )
    )


def warn(ctx: RunContext, message: str) -> None:
    if not ctx.stderr_isatty:  # plain text needs no rich (and its import time)
        # Named like the error lines and the progress events' warnings, so a CI log can
        # be grepped for "dmxedit: warning:" with or without --quiet.
        print(f"dmxedit: warning: {shown(message)}", file=ctx.stderr, flush=True)
        return
    from rich.text import Text

    label = shown(T("warning: "))
    ctx.console().print(Text(label, style="yellow bold") + Text(shown(message)))


def note(ctx: RunContext, message: str) -> None:
    if not ctx.stderr_isatty:
        # Every line dmxedit writes on standard error off a terminal starts with
        # "dmxedit:" (its errors, warnings and progress lines do too).
        print(f"dmxedit: {shown(message)}", file=ctx.stderr, flush=True)
        return
    from rich.text import Text

    ctx.console().print(Text(shown(message)))


def speed(bytes_per_second: float | None) -> str:
    """A transfer speed in the units of the sizes beside it (KiB/s, MiB/s)."""
    if bytes_per_second is None:
        return "?"
    return f"{_mib(int(bytes_per_second))}/s"


def byte_columns() -> list[Any]:
    """The columns of a bar that counts bytes: sizes and speed both in binary units
    (rich's own speed column says MB/s beside a MiB size)."""
    from rich.progress import BarColumn, DownloadColumn, ProgressColumn, TimeRemainingColumn
    from rich.text import Text

    class BinarySpeedColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(speed(task.finished_speed or task.speed), style="progress.data.speed")

    return [
        BarColumn(),
        DownloadColumn(binary_units=True),
        BinarySpeedColumn(),
        TimeRemainingColumn(),
    ]


def retrying(attempt: int, delay: float, reason: str) -> str:
    return T(
        "attempt {attempt} failed ({reason}); trying again in {delay:.1f} s",
        attempt=attempt,
        reason=reason,
        delay=delay,
    )


class PlainEvents(Events):
    """One plain line per stage: for logs, CI and anything that is not a terminal."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.verbose = ctx.verbose
        self._lock = threading.Lock()

    def _say(self, message: str, prefix: str = "dmxedit: ") -> None:
        with self._lock:
            print(f"{prefix}{shown(message)}", file=self.ctx.stderr, flush=True)

    def upload_start(self, total: int, parts: int) -> None:
        if parts:
            what = P(
                "sending the request ({count} image, {size})",
                "sending the request ({count} images, {size})",
                parts,
                size=_mib(total),
            )
        else:
            what = T("sending the request ({size})", size=_mib(total))
        self._say(what)

    def waiting(self) -> None:
        self._say(T("sent; waiting for the model"))

    def answered(self, status: int) -> None:
        self._say(T("answered: HTTP {status}", status=status))

    def download_start(self, total: int | None, what: str) -> None:
        self._say(T("receiving the image ({size})", size=_mib(total)))

    def saved(self, path: str) -> None:
        self._say(T("saved {path}", path=field(path)))

    def retry(self, attempt: int, delay: float, reason: str) -> None:
        self._say(retrying(attempt, delay, reason))

    def warn(self, message: str) -> None:
        self._say(message, prefix="dmxedit: warning: ")  # the English prefix: see warn()

    def model_text(self, text: str) -> None:
        self._say(T("the model says: {text}", text=text))

    def info(self, message: str) -> None:
        if self.verbose:
            self._say(message)

    def note(self, message: str) -> None:
        self._say(message)


class QuietEvents(Events):
    """--quiet: nothing but warnings that protect the user's money."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def warn(self, message: str) -> None:
        warn(self.ctx, message)


class TerminalEvents(Events):
    """Progress on a terminal: an upload bar, a spinner while the model works, a
    download bar."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.verbose = ctx.verbose
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def _start(self, kind: str, description: str, total: float | None) -> None:
        from rich.progress import (
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._stop()
        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if kind == "bytes":
            columns += byte_columns()
        else:
            columns += [TimeElapsedColumn()]
        self._progress = Progress(
            *columns,
            console=self.ctx.console(),
            transient=True,
            redirect_stdout=False,  # standard output carries data only
            redirect_stderr=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def _update(self, completed: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed)

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None

    def upload_start(self, total: int, parts: int) -> None:
        if parts:
            what = P("Uploading {count} image", "Uploading {count} images", parts)
        else:
            what = T("Sending")
        self._start("bytes", shown(what), total)

    def upload_progress(self, sent: int) -> None:
        self._update(sent)

    def waiting(self) -> None:
        self._start("spinner", shown(T("Waiting for the model")), None)

    def answered(self, status: int) -> None:
        self._stop()
        if self.verbose:
            note(self.ctx, T("Answer: HTTP {status}", status=status))

    def download_start(self, total: int | None, what: str) -> None:
        self._start("bytes", shown(T("Receiving the image")), total)

    def download_progress(self, received: int) -> None:
        self._update(received)

    def download_done(self) -> None:
        self._stop()

    def saved(self, path: str) -> None:
        from rich.text import Text

        self._stop()
        self.ctx.console().print(Text(shown(T("Saved ")), style="green") + Text(field(path)))

    def retry(self, attempt: int, delay: float, reason: str) -> None:
        self._stop()
        warn(self.ctx, retrying(attempt, delay, reason))

    def warn(self, message: str) -> None:
        self._stop()
        warn(self.ctx, message)

    def note(self, message: str) -> None:
        self._stop()
        note(self.ctx, message)

    def model_text(self, text: str) -> None:
        self._stop()
        note(self.ctx, T("the model says: {text}", text=text))

    def info(self, message: str) -> None:
        from rich.text import Text

        if self.verbose:
            self.ctx.console().print(Text(shown(message), style="dim"))

    def close(self) -> None:
        self._stop()


def make_events(ctx: RunContext) -> Events:
    """Progress callbacks for this run: quiet, a live display, or plain lines."""
    if ctx.quiet:
        return QuietEvents(ctx)
    if ctx.stderr_isatty:
        return TerminalEvents(ctx)
    return PlainEvents(ctx)
