"""`dmxedit config`: set, get, unset, list and locate settings."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import N_, T, shown
from dmxedit.core.settings import KEYS

app = typer.Typer(
    help="Show and change settings (stored in a TOML file, see `dmxedit config path`).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KeyArg = Annotated[
    str,
    typer.Argument(help=f"One of: {', '.join(KEYS)}.", metavar="KEY", show_default=False),
]


#: What the prompts call the secrets.
SECRETS = {"api-key": N_("API key"), "system-token": N_("system token")}
ASKED = {
    "api-key": N_("API key (input hidden): "),
    "system-token": N_("System token (input hidden): "),
}
IN_HISTORY = {
    "api-key": N_(
        "an API key on the command line can end up in your shell history; "
        "`dmxedit config set {key}` asks for it without echo."
    ),
    "system-token": N_(
        "a system token on the command line can end up in your shell history; "
        "`dmxedit config set {key}` asks for it without echo."
    ),
}


def _show(name: str, value: object) -> str:
    from dmxedit.core.settings import display

    return display(name, value)


@app.command("set", context_settings={"ignore_unknown_options": True})
@command()
def set_(
    ctx: RunContext,
    key: KeyArg,
    value: Annotated[
        str | None,
        typer.Argument(
            help="The value; for api-key and system-token leave it out to type it unseen, "
            "or give '-' to read it from standard input.",
            metavar="VALUE",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Store a setting in the config file."""
    from dmxedit.core.settings import config_path, known_key, set_value

    spec = known_key(key)
    what = SECRETS.get(key, key)
    if value == "-":
        # All of it: a key split over two lines is refused, never stored half.
        value = ctx.claim_stdin(key).read(64 * 1024).decode("utf-8", "replace").strip()
        if not value:
            raise InputError(T("No value for {key} on standard input.", key=key))
    elif value is None:
        if not spec.secret:
            raise InputError(
                T("Give a value for {key}.", key=key),
                hint=T("dmxedit config set {key} VALUE", key=key),
            )
        if not ctx.stdin_isatty:
            raise InputError(
                T("No {what} given and standard input is not a terminal.", what=T(what)),
                hint=T('Pipe it in: printf %s "$SECRET" | dmxedit config set {key} -', key=key),
            )
        import getpass

        value = getpass.getpass(shown(ASKED.get(key, key))).strip()
        if not value:
            raise InputError(T("No {what} entered.", what=T(what)))
    elif spec.secret:
        from dmxedit.cli import ui

        ui.warn(ctx, T(IN_HISTORY[key], key=key))
    path = config_path(ctx.env)
    stored = set_value(path, key, value)
    from dmxedit.cli import ui

    ui.note(
        ctx, T("{key} = {value} (saved to {path})", key=key, value=_show(key, stored), path=path)
    )


@app.command("get")
@command()
def get(
    ctx: RunContext,
    key: KeyArg,
    reveal: Annotated[
        bool,
        typer.Option(
            "--reveal",
            help="Print a secret (api-key, system-token) in full, as gh auth token does.",
        ),
    ] = False,
) -> None:
    """Print a setting's value in effect (the API key masked unless --reveal)."""
    from dmxedit.core.settings import known_key, resolve

    spec = known_key(key)
    settings = resolve(env=ctx.env)
    value = settings.value(key)
    if spec.secret and not value:
        if key == "system-token":
            settings.require_account()  # says how to set it (exit 3)
        settings.require_key()  # says how to set it (exit 3)
    if reveal and not spec.secret:
        raise InputError(
            T(
                "--reveal is for the secrets (api-key, system-token); other settings are never "
                "masked."
            )
        )
    if value is None:
        from dmxedit.cli import ui

        ui.note(ctx, T("{key} is not set (the API's default applies).", key=key))
    ctx.emit_lines([str(value) if reveal else _show(key, value)])


@app.command("unset")
@command()
def unset(ctx: RunContext, key: KeyArg) -> None:
    """Remove a setting from the config file."""
    from dmxedit.cli import ui
    from dmxedit.core.settings import config_path, unset_value

    path = config_path(ctx.env)
    if unset_value(path, key):
        ui.note(ctx, T("{key} removed from {path}", key=key, path=path))
    else:
        ui.note(ctx, T("{key} was not set in {path}", key=key, path=path))


@app.command("list")
@command(json=True)
def list_(ctx: RunContext) -> None:
    """Show every setting, its value and where it came from (env, file, default)."""
    from dmxedit.core.settings import resolve

    invalid: dict[str, InputError] = {}
    settings = resolve(env=ctx.env, invalid=invalid)
    if ctx.json:
        ctx.emit_json({"path": str(settings.path), "settings": _as_json(ctx, settings, invalid)})
        return
    from dmxedit.cli.ui import columns, pad
    from dmxedit.core.settings import SOURCE_WORDS

    rows = _rows(ctx, settings, invalid)
    widths = [max(columns(r[i] or "-") for r in rows) for i in range(2)]
    ctx.emit_lines(
        [
            f"{pad(n, widths[0])}  {pad(v or '-', widths[1])}  ({shown(SOURCE_WORDS.get(s, s))})"
            for n, v, s in rows
        ]
    )
    if settings.warnings:
        from dmxedit.cli import ui

        for message in settings.warnings:
            ui.warn(ctx, message)


def _as_json(ctx: RunContext, settings: Any, invalid: dict[str, InputError]) -> dict[str, Any]:
    """Each setting's value (masked when secret) and source; an invalid one as given."""
    from dmxedit.core.env import setting
    from dmxedit.core.settings import mask

    out: dict[str, Any] = {}
    for name, spec in KEYS.items():
        value = settings.value(name)
        item: dict[str, Any] = {
            "value": _show(name, value) if spec.secret and value else value,
            "source": settings.sources[name],
        }
        if name in invalid:
            raw = setting(ctx.env, spec.env)
            shown = mask(raw) if spec.secret else raw  # a secret is masked, valid or not
            item.update(value=shown, invalid=invalid[name].message)
        out[name] = item
    return out


def _rows(
    ctx: RunContext, settings: Any, invalid: dict[str, InputError]
) -> list[tuple[str, str, str]]:
    """(name, value shown, source) of each setting."""
    from dmxedit.core.env import setting
    from dmxedit.core.settings import mask

    rows = []
    for name, spec in KEYS.items():
        if name in invalid:
            raw = setting(ctx.env, spec.env) or ""
            given = mask(raw) if spec.secret else raw
            value = T("{value} (invalid: {why})", value=given, why=invalid[name].message)
            shown_value = shown(value)
            rows.append((name, shown_value, settings.sources[name]))
            continue
        rows.append((name, _show(name, settings.value(name)), settings.sources[name]))
    return rows


@app.command("path")
@command()
def path(ctx: RunContext) -> None:
    """Print the config file's path."""
    from dmxedit.core.settings import config_path

    ctx.emit_lines([str(config_path(ctx.env))])
