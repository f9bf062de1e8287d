"""`dmxedit config`: set, get, unset, list and locate settings."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..catalog import SETTING_NAMES
from ..errors import InputError
from .output import emit_json, emit_lines
from .state import state

app = typer.Typer(
    help="Show and change settings (stored in a TOML file, see `dmxedit config path`).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KeyArg = Annotated[
    str,
    typer.Argument(help=f"One of: {', '.join(SETTING_NAMES)}.", metavar="KEY", show_default=False),
]


def _show(name: str, value: object) -> str:
    from ..settings import KEYS, mask

    if value is None:
        return ""
    if KEYS[name].secret:
        return mask(str(value))
    return str(value)


@app.command("set")
def set_(
    key: KeyArg,
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value; for api-key leave it out to type it unseen, or give "
            "'-' to read it from standard input.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Store a setting in the config file."""
    from ..settings import config_path, known_key, set_value

    spec = known_key(key)
    if value == "-":
        value = sys.stdin.readline().strip()
        if not value:
            raise InputError(f"No value for {key} on standard input.")
    elif value is None:
        if not spec.secret:
            raise InputError(f"Give a value for {key}.", hint=f"dmxedit config set {key} VALUE")
        if not sys.stdin.isatty():
            raise InputError(
                "No API key given and standard input is not a terminal.",
                hint='Pipe it in: printf %s "$KEY" | dmxedit config set api-key -',
            )
        import getpass

        value = getpass.getpass("API key (input hidden): ").strip()
        if not value:
            raise InputError("No API key entered.")
    elif spec.secret:
        from .. import ui

        ui.warn(
            "a key on the command line can end up in your shell history; "
            "`dmxedit config set api-key` asks for it without echo."
        )
    path = config_path()
    stored = set_value(path, key, value)
    print(f"{key} = {_show(key, stored)} (saved to {path})", file=sys.stderr)


@app.command("get")
def get(key: KeyArg) -> None:
    """Print a setting's value in effect (the API key masked)."""
    from ..settings import known_key, resolve

    known_key(key)
    settings = resolve()
    emit_lines([_show(key, settings.get(key))])


@app.command("unset")
def unset(key: KeyArg) -> None:
    """Remove a setting from the config file."""
    from ..settings import config_path, unset_value

    path = config_path()
    if unset_value(path, key):
        print(f"{key} removed from {path}", file=sys.stderr)
    else:
        print(f"{key} was not set in {path}", file=sys.stderr)


@app.command("list")
def list_(
    json_out: Annotated[bool, typer.Option("--json", help="Print the settings as JSON.")] = False,
) -> None:
    """Show every setting, its value and where it came from (env, file, default)."""
    from ..settings import KEYS, resolve

    state.json = json_out
    settings = resolve()
    rows = [(name, _show(name, settings.get(name)), settings.sources[name]) for name in KEYS]
    if json_out:
        emit_json(
            {
                "path": str(settings.path),
                "settings": {n: {"value": v or None, "source": s} for n, v, s in rows},
            }
        )
        return
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    emit_lines([f"{n.ljust(widths[0])}  {(v or '-').ljust(widths[1])}  ({s})" for n, v, s in rows])
    if settings.warnings:
        from .. import ui

        for message in settings.warnings:
            ui.warn(message)


@app.command("path")
def path() -> None:
    """Print the config file's path."""
    from ..settings import config_path

    emit_lines([str(config_path())])
