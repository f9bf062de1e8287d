"""The entry point and the one error boundary.

The Typer tree is built per call and only as far as needed (see ``tree.build``):
``--version`` needs no Typer at all, ``dmxedit ratios`` builds only that command.
Every run gets a :class:`~dmxedit.cli.context.RunContext`; tests pass their own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from dmxedit._version import __version__

if TYPE_CHECKING:
    import typer

    from dmxedit.cli.context import RunContext


def __getattr__(name: str) -> Any:
    # ``app``: the whole Typer tree, for tools that walk it (the completions script).
    if name == "app":
        from dmxedit.cli.tree import build

        return build()
    raise AttributeError(name)


def _terminate(signum: int, frame: FrameType | None) -> None:
    from dmxedit.core import interrupts  # loaded by main() already: a lookup

    interrupts.note()  # remembered: a KeyboardInterrupt raised in a GC callback is dropped
    if interrupts.deferring():  # a paid result being moved into place: finish it first
        return
    raise KeyboardInterrupt


def run(argv: Sequence[str] | None = None, context: RunContext | None = None) -> int:
    """Run the CLI and return its exit code: the one place errors become output."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # the common probe: answered before Typer is imported
        out = context.stdout if context is not None else sys.stdout
        print(f"dmxedit {__version__}", file=out)
        return 0
    from dmxedit.cli.context import RunContext
    from dmxedit.core.errors import DmxError, ExitCode

    ctx = context or RunContext.from_process()
    from dmxedit.cli.context import language
    from dmxedit.core import i18n

    # Chosen when the first message is shown: --help and a run that says nothing never
    # read the config file for it, nor load a catalog.
    i18n.defer(lambda: language(ctx.env))
    import typer

    from dmxedit.cli.tree import help_first

    args = help_first(args)
    try:
        return _invoke(ctx, args)
    except DmxError as error:
        if error.exit_code == ExitCode.INTERRUPTED:
            ctx.temporaries.remove_all()
        if ctx.debug:
            _traceback(ctx)
        _report(ctx, error)
        return int(error.exit_code)
    except typer.Exit as exc:  # pragma: no cover - typer returns these as codes
        return int(exc.exit_code)
    except _click_exception() as exc:
        _usage_error(ctx, exc)
        return int(ExitCode.USAGE) if exc.exit_code else 0
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except Exception as exc:  # an unknown exception is a bug: exit 1, say so
        if ctx.debug or ctx.verbose:
            _traceback(ctx)
        from dmxedit.cli import ui

        ui.internal_panel(ctx, exc)
        return int(ExitCode.INTERNAL)
    finally:
        from dmxedit.core import interrupts

        interrupts.forget()  # handled: a later run in this process starts afresh


def _invoke(ctx: RunContext, args: list[str]) -> int:
    """The command line's command, run; an interrupt is exit 130 with no partial file."""
    import typer

    from dmxedit.cli.tree import build, click_command, command_of
    from dmxedit.core.errors import ExitCode

    try:
        with _streams(ctx):
            code = click_command(build(command_of(args)))(
                args=args,
                prog_name="dmxedit",
                standalone_mode=False,
                obj=ctx,
            )
    except (KeyboardInterrupt, typer.Abort):  # Click turns Ctrl-C into Abort
        code = ExitCode.INTERRUPTED
    if code == ExitCode.INTERRUPTED:
        ctx.temporaries.remove_all()
        start = "\n" if ctx.stderr_isatty else ""  # past the ^C a terminal shows
        from dmxedit.cli.ui import shown
        from dmxedit.core.i18n import T

        said = shown(T("interrupted; no partial file left behind."))
        print(f"{start}dmxedit: {said}", file=ctx.stderr)
        return int(ExitCode.INTERRUPTED)
    return int(code) if isinstance(code, int) else 0


@contextlib.contextmanager
def _streams(ctx: RunContext) -> Iterator[None]:
    """Typer prints help and usage through sys.stdout/sys.stderr: point them at the
    context's streams while it runs (a no-op for the process's own context)."""
    with contextlib.redirect_stdout(ctx.stdout), contextlib.redirect_stderr(ctx.stderr):
        yield


def _usage_error(ctx: RunContext, exc: Any) -> None:
    """The option parser's errors look like dmxedit's own (and exit 2)."""
    from dmxedit.cli import ui

    usage = getattr(exc, "ctx", None)
    from dmxedit.core.i18n import T

    hint = None
    if usage is not None:
        hint = T("See `{command} --help`.", command=usage.command_path)
    ui.plain_error(ctx, _sentence(exc.format_message()), [], hint)


def _click_templates() -> tuple[tuple[str, str], ...]:
    """Click's usage errors (its English, from its source) -> dmxedit's templates, so that
    they are translated like every other message (imported only when one happens)."""
    from dmxedit.core.i18n import N_

    return (
        (r"No such option: (?P<option>\S+) \(Possible options: (?P<options>.*)\)",
         N_("No such option: {option} (Possible options: {options})")),
        (r"No such option: (?P<option>\S+) Did you mean (?P<options>\S+)\?",
         N_("No such option: {option}. Did you mean {options}?")),
        (r"No such option: (?P<option>\S+)", N_("No such option: {option}")),
        (r"No such command '(?P<command>.*)'\.", N_("No such command '{command}'.")),
        (r"Missing argument '(?P<name>.*)'\.", N_("Missing argument '{name}'.")),
        (r"Missing option '(?P<name>.*)'\.", N_("Missing option '{name}'.")),
        (r"Option '(?P<option>.*)' requires an argument\.",
         N_("Option '{option}' requires an argument.")),
        (r"Invalid value for '(?P<name>[^']*)': (?P<reason>.*)",
         N_("Invalid value for '{name}': {reason}")),
    )  # fmt: skip


def _sentence(message: str) -> str:
    """Click's "Got unexpected extra argument(s) (a b)" in words a person writes."""
    import re

    from dmxedit.core.i18n import T

    for pattern, template in _click_templates():  # Click's common errors, translatable
        said = re.fullmatch(pattern, message, re.S)
        if said is not None:
            return T(template, **said.groupdict())
    found = re.fullmatch(r"Got unexpected extra arguments?(?:\(s\))? \((.*)\)", message)
    if found is None:
        return message

    extra = found.group(1)
    if " " in extra:
        return T("Unexpected extra arguments: {arguments}.", arguments=extra)
    return T("Unexpected extra argument: {arguments}.", arguments=extra)


def _traceback(ctx: RunContext) -> None:
    import traceback

    traceback.print_exc(file=ctx.stderr)


def _click_exception() -> type[typer.BadParameter]:
    import typer

    # Typer ships its own Click (importing click beside it is a known trap); its
    # ClickException is the base of BadParameter's tree.
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter


def _report(ctx: RunContext, error: Any) -> None:
    from dmxedit.core.errors import Interrupted, SaveError

    if ctx.json:
        if not error.json_printed:
            try:
                ctx.emit_json({"error": error.to_dict()})
            except (OSError, ValueError):  # standard output full or closed: stderr says it
                if ctx.stdout is sys.stdout:
                    _silence_stdout()
    elif isinstance(error, (SaveError, Interrupted)) or error.urls:
        # Data, so a script keeps the paid result even with stderr thrown away; when
        # standard output itself is what failed (-o - into a closed pipe or a full disk),
        # standard error still gets every path and URL below.
        try:
            ctx.emit_lines([*error.file_list, *error.url_list])
        except (OSError, ValueError):
            if ctx.stdout is sys.stdout:
                _silence_stdout()
    from dmxedit.cli import ui

    ui.error_panel(ctx, error)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def main() -> None:
    # SIGTERM and SIGHUP (the terminal closed) stop a run as Ctrl-C does: temporary files
    # removed, the paid result's URL printed and recorded. SIGHUP does not exist on Windows.
    # Ctrl-C's own handler also notes the interrupt (core/interrupts.py).
    from dmxedit.core import interrupts

    interrupts.forget()
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)
    code = run()
    try:
        if sys.stdout is not None:  # started with it closed (>&-): nothing to flush
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    sys.exit(code)
