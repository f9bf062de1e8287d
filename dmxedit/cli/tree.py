"""The Typer tree: the root command with --version, and the commands, built on demand.

Building a Typer command inspects every parameter of its function, which costs a few
milliseconds per command; a call that names a command builds only that one, and the
root's own help lists the commands from their help texts without building them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from dmxedit._version import __version__

NAMES = (
    "edit",
    "generate",
    "chat",
    "batch",
    "history",
    "recover",
    "report",
    "balance",
    "usage",
    "ratios",
    "config",
    "doctor",
    "models",
    "completion",
    "mcp",
)


def _version(value: bool) -> None:
    if value:
        print(f"dmxedit {__version__}")
        raise typer.Exit()


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

    Environment: DMXAPI_API_KEY, DMXAPI_BASE_URL, DMXAPI_SYSTEM_TOKEN and DMXAPI_USER_ID
    (balance, usage, billing checks), DMXEDIT_CONFIG (the config file),
    DMXEDIT_DATA_DIR (the ledger), DMXEDIT_NO_HISTORY=1, DMXEDIT_DEBUG=1, NO_COLOR.
    """


#: The commands' summaries for the root's listing, which must not import every command
#: (tests/cli/test_help.py checks each against the command's own help).
SUMMARIES = {
    "edit": "Edit images with a prompt and save the result.",
    "generate": "Make an image from a prompt alone (text to image).",
    "chat": "Edit an image in conversation with a gemini model: each line is a turn.",
    "batch": "Run many edits and generations from a JSON Lines jobs file, resumably.",
    "recover": "Download every paid result that arrived but was never saved (from the ledger).",
    "report": "Write one HTML page to look at a batch: inputs and outputs side by side, "
    "filters, and redo marks that export a jobs file.",
    "balance": "The DMXAPI account's balance in CNY (needs the system token and user id).",
    "usage": "Spend, requests and tokens per model and per day, from DMXAPI's billing log, "
    "beside dmxedit's own ledger for the same period (local time).",
    "ratios": "Aspect ratios of a model (nano-banana-2 by default) with pixel sizes and tokens.",
    "history": "Every paid request dmxedit made (newest first); `history show ID` for one.",
    "doctor": "Check the config, key, base URL, proxy, site, model and folders (costs nothing).",
    "models": "The models your key can use (image models; --all for every one); costs nothing.",
    "config": "Show and change settings (stored in a TOML file, see `dmxedit config path`).",
    "completion": "Print the shell completion script for bash, zsh or fish.",
    "mcp": "Run a Model Context Protocol server: the same engine for AI agents "
    "(needs dmxedit[mcp]).",
}


def command_of(args: list[str]) -> str | None:
    """The command a command line names, if it names a known one first."""
    for arg in args:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in NAMES else None
    return None


def help_first(args: list[str]) -> list[str]:
    """``dmxedit --help ratios`` asks for the help of ratios, as ``git --help log`` does."""
    if args and args[0] in ("-h", "--help") and command_of(args[1:]) is not None:
        return [*args[1:], args[0]]
    return args


def _command(name: str) -> Callable[..., Any] | typer.Typer:
    """The function (or sub-app) behind a command; imports only its own module."""
    if name in ("edit", "generate"):
        from dmxedit.cli import edit

        return edit.edit if name == "edit" else edit.generate
    if name == "chat":
        from dmxedit.cli import chat

        return chat.chat
    if name == "batch":
        from dmxedit.cli import batch

        return batch.batch
    if name in ("balance", "usage"):
        from dmxedit.cli import spend

        return spend.balance if name == "balance" else spend.usage
    if name == "ratios":
        from dmxedit.cli import ratios

        return ratios.ratios
    if name == "report":
        from dmxedit.cli import report

        return report.report
    if name == "doctor":
        from dmxedit.cli import doctor

        return doctor.doctor
    if name == "models":
        from dmxedit.cli import models

        return models.models
    if name in ("history", "recover"):
        from dmxedit.cli import history

        return history.app if name == "history" else history.recover
    if name == "completion":
        from dmxedit.cli import completion

        return completion.completion
    if name == "mcp":
        from dmxedit.cli import mcp

        return mcp.mcp
    from dmxedit.cli import config

    return config.app


def _listing() -> None:
    """Stands in for a command in the root's listing; never runs."""


def build(only: str | None = "*") -> typer.Typer:
    """The app with every command (``"*"``), with only the named one, or (``None``) a
    root that lists the commands by name and help without building them (for the
    root's ``--help`` and its errors)."""
    app = typer.Typer(
        name="dmxedit",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    for name in NAMES:
        if only not in ("*", None, name):
            continue  # a call that names one command needs no other
        if only is None:  # the listing: no command's module is imported
            app.command(name, short_help=SUMMARIES[name])(_listing)
            continue
        target = _command(name)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name, short_help=summary_of(target))
        else:
            app.command(name, short_help=summary_of(target))(target)
    return app


def summary_of(target: Callable[..., Any] | typer.Typer) -> str:
    """A command's summary: the first paragraph of its help, on one line."""
    doc = target.info.help if isinstance(target, typer.Typer) else target.__doc__
    return _summary(doc)


def click_command(app: typer.Typer) -> Any:
    """The Click command Typer makes of ``app`` (what calling the app runs), with usage
    lines that read ``dmxedit edit [OPTIONS] IMAGE...`` as Click and git write them:
    Typer wraps every required argument in braces (``{IMAGE...}``)."""
    import typer.core
    import typer.main

    command = typer.main.get_command(app)
    _plain_usage(command, typer.core.TyperArgument)
    return command


def _plain_usage(command: Any, argument: type[Any]) -> None:
    for param in command.params:
        if isinstance(param, argument):

            def pieces(ctx: Any, param: Any = param) -> list[str]:
                text = str(param.make_metavar(ctx, usage=True))
                return [text[1:-1] if text.startswith("{") and text.endswith("}") else text]

            param.get_usage_pieces = pieces
    for sub in getattr(command, "commands", {}).values():
        _plain_usage(sub, argument)


def _summary(doc: object) -> str:
    """The first paragraph, whole (Click would cut it at 45 characters with '...')."""
    first = str(doc or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in first.splitlines())
