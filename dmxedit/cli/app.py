"""The entry point and the one error boundary.

The Typer tree is built per call and only as far as needed (see ``tree.build``):
``--version`` needs no Typer at all, ``dmxedit ratios`` builds only that command.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from .._version import __version__
from .state import state

if TYPE_CHECKING:
    import typer


def __getattr__(name: str) -> Any:
    # ``app``: the whole Typer tree, for tools that walk it (the completions script).
    if name == "app":
        from .tree import build

        return build()
    raise AttributeError(name)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _debug() -> bool:
    return state.verbose or os.environ.get("DMXEDIT_DEBUG", "") not in ("", "0")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code: the one place errors become output."""
    from ..errors import DmxError, ExitCode

    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:  # the common probe: answered before Typer is imported
        print(f"dmxedit {__version__}")
        return 0
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminate)
    import typer

    from .tree import build, command_of

    try:
        try:
            code = build(command_of(args))(
                args=args,
                prog_name="dmxedit",
                standalone_mode=False,
            )
        except KeyboardInterrupt:
            code = ExitCode.INTERRUPTED
        if code == ExitCode.INTERRUPTED:
            from ..results import remove_temporaries

            remove_temporaries()
            print("\ndmxedit: interrupted; no partial file left behind.", file=sys.stderr)
            return int(ExitCode.INTERRUPTED)
        return int(code) if isinstance(code, int) else 0
    except DmxError as error:
        if _debug():
            import traceback

            traceback.print_exc()
        _report(error)
        return int(error.exit_code)
    except typer.Exit as exc:  # pragma: no cover - typer returns these as codes
        return int(exc.exit_code)
    except typer.Abort:
        print("dmxedit: aborted.", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except _click_exception() as exc:
        exc.show()
        return int(exc.exit_code)
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except Exception as exc:  # an unknown exception is a bug: exit 1, say so
        if _debug():
            import traceback

            traceback.print_exc()
        from .. import ui

        ui.internal_panel(exc)
        return int(
            ExitCode.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else ExitCode.INTERNAL
        )


def _click_exception() -> type[typer.BadParameter]:
    import typer

    # Typer ships its own Click (importing click beside it is a known trap); its
    # ClickException is the base of BadParameter's tree.
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter


def _report(error: object) -> None:
    from ..errors import DmxError, SaveError
    from .output import emit_json, emit_lines

    assert isinstance(error, DmxError)
    if state.json:
        emit_json({"error": error.to_dict()})
    elif isinstance(error, SaveError):
        # Data, so a script keeps the paid result even with stderr thrown away.
        emit_lines(error.files + error.urls)
    from .. import ui

    ui.error_panel(error)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def main() -> None:
    code = run()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    sys.exit(code)
