"""The root command, --version, and the one error boundary."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import Annotated

import typer

from .._version import __version__
from . import config, ratios, single
from .state import state

app = typer.Typer(
    name="dmxedit",
    help="Edit and generate images with DMXAPI's nano-banana-2.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"dmxedit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Edit and generate images with DMXAPI's nano-banana-2.

    Set your key once with `dmxedit config set api-key` (or DMXAPI_API_KEY), then:
    dmxedit edit photo.png -p "make it snow" --ratio 5:4 --size 4K
    """


app.command("edit")(single.edit)
app.command("generate")(single.generate)
app.command("ratios")(ratios.ratios)
app.add_typer(config.app, name="config")


def _batch_command() -> None:
    from . import batch

    app.command("batch")(batch.batch)


_batch_command()


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _debug() -> bool:
    return state.verbose or os.environ.get("DMXEDIT_DEBUG", "") not in ("", "0")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code: the one place errors become output."""
    from ..errors import DmxError, ExitCode

    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, _terminate)
    try:
        try:
            code = app(
                args=list(argv) if argv is not None else None,
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
    # Typer ships its own Click (importing click beside it is a known trap); its
    # ClickException is the base of BadParameter's tree.
    for cls in typer.BadParameter.__mro__:
        if cls.__name__ == "ClickException":
            return cls
    return typer.BadParameter


def _report(error: object) -> None:
    from ..errors import DmxError, SaveError
    from .common import emit_json, emit_lines

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
