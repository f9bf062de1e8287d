"""`dmxedit models`: the models the key can use, from the API's own list, and what
dmxedit's model table knows of each (``--long``; ``--known``: the table alone, no key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import BaseUrl, ConnectTimeout, Retries, command
from dmxedit.core.errors import ConfigError
from dmxedit.core.i18n import P, T
from dmxedit.core.i18n import shown as said
from dmxedit.core.modelfacts import (
    UNKNOWN_WORDS,
    facts,
    facts_lines,
    known_row,
    listing,
    summary,
    unknown_hint,
)
from dmxedit.core.modeltable import MODELS, model_for
from dmxedit.core.options import ImageOptions

if TYPE_CHECKING:
    from dmxedit.api.models import ModelInfo
    from dmxedit.core.settings import Settings

#: How long to wait for the list once connected (the model list is small).
READ_TIMEOUT = 60.0
KNOWN_HINT = T("`dmxedit models --known` shows the models dmxedit knows without a key.")

JsonList = Annotated[
    bool, typer.Option("--json", help="Print the models as a JSON list on standard output.")
]


@command(json=True, quiet=True, replace={"json_out": (JsonList, False)})
def models(
    ctx: RunContext,
    every: Annotated[
        bool, typer.Option("--all", help="List every model, not only the image models.")
    ] = False,
    long: Annotated[
        bool,
        typer.Option(
            "-l",
            "--long",
            help="With what dmxedit knows of each: door, inputs, ratios, sizes, options, "
            "tokens; and the models it knows that the key's list lacks.",
        ),
    ] = False,
    known: Annotated[
        bool,
        typer.Option(
            "--known",
            help="The models dmxedit knows (its model table), without asking the API: "
            "no key needed.",
        ),
    ] = False,
    base_url: BaseUrl = None,
    connect_timeout: ConnectTimeout = None,
    retries: Retries = None,
) -> None:
    """The models your key can use (image models; --all for every one); costs nothing."""
    if known:
        _known(ctx)
        return
    found, settings = _fetch(ctx, base_url, connect_timeout, retries)
    shown = sorted((m for m in found if every or m.image), key=lambda m: (m.id.casefold(), m.id))
    _render(ctx, [m.to_dict() for m in shown], long)
    if not ctx.quiet:
        _summary(ctx, every, long, len(found), len(shown), settings.base_url)
    _warn_model(ctx, settings.model, {m.id for m in found})


def _fetch(
    ctx: RunContext,
    base_url: str | None,
    connect_timeout: float | None,
    retries: int | None,
) -> tuple[list[ModelInfo], Settings]:
    """``GET /models`` with the key: the models it can use, and the settings used."""
    from dmxedit.api.client import Client
    from dmxedit.api.retry import Policy
    from dmxedit.cli import ui
    from dmxedit.core.settings import resolve

    options = ImageOptions(base_url=base_url, connect_timeout=connect_timeout, retries=retries)
    settings = resolve(options, env=ctx.env)
    for message in settings.warnings:
        ui.warn(ctx, message)
    try:
        key = settings.require_key()
    except ConfigError as exc:
        if settings.api_key:
            raise
        raise ConfigError(
            exc.message, hint=T("{hint} {known}", hint=exc.hint, known=KNOWN_HINT)
        ) from None
    client = Client(
        api_key=key,
        timeout=min(settings.timeout, READ_TIMEOUT),
        connect_timeout=settings.connect_timeout,
        policy=Policy(settings.retries),
        events=ui.make_events(ctx),
    )
    try:
        return client.list_models(settings.base_url), settings
    finally:
        client.close()


def _render(ctx: RunContext, shown: list[dict[str, Any]], long: bool) -> None:
    if not long:
        if ctx.json:
            ctx.emit_json([known_row(m) for m in shown])
        else:
            ctx.emit_lines(_lines(shown))
        return
    rows = listing(shown)
    if ctx.json:
        ctx.emit_json(rows)
    else:
        ctx.emit_lines([line for row in rows for line in _block(row)])


def _lines(shown: list[dict[str, Any]]) -> list[str]:
    """One model a line: its id, and whether dmxedit knows it, its door and a few facts
    (SPEC 12); the id first, so ``awk '{print $1}'`` still gives the ids."""
    width = max((len(str(m["id"])) for m in shown), default=0)
    out = []
    for row in shown:
        spec = model_for(str(row["id"]))
        if spec is not None:
            facts_said = said(summary(spec))
        else:
            facts_said = said(T("unknown to dmxedit (--api picks the door)"))
        out.append(f"{str(row['id']).ljust(width)}  {facts_said}")
    return out


def _known(ctx: RunContext) -> None:
    """The table alone: sends nothing, needs no key."""
    if ctx.json:
        ctx.emit_json([facts(m) for m in MODELS])
        return
    lines: list[str] = []
    for model in MODELS:
        lines += [model.id, *(said(line) for line in facts_lines(model))]
    ctx.emit_lines(lines)


def _block(row: Mapping[str, Any]) -> list[str]:
    """One model of ``--long``: its id and what the table says of it."""
    model_id = str(row["id"])
    spec = model_for(model_id)
    if spec is None:
        listed = said(T("in your key's list"))
        return [f"{model_id}  ({listed}) {said(UNKNOWN_WORDS)}"]
    if row["listed"]:
        where = said(T("in your key's list"))
    else:
        where = said(
            T('NOT in your key\'s list: an edit with it would get 503 "no available channel"')
        )
    alias = said(T("; known as {model}", model=spec.id)) if spec.id != model_id else ""
    return [f"{model_id}  ({where}{alias})", *(said(line) for line in facts_lines(spec))]


def _summary(ctx: RunContext, every: bool, long: bool, found: int, shown: int, url: str) -> None:
    from dmxedit.cli import ui

    if every:
        ui.note(ctx, P("{count} model at {url}.", "{count} models at {url}.", found, url=url))
    elif not long:
        ui.note(
            ctx,
            P(
                "{count} image model of the {found} your key can use (--all lists every one; "
                "--long adds the details of each).",
                "{count} image models of the {found} your key can use (--all lists every one; "
                "--long adds the details of each).",
                shown,
                found=found,
            ),
        )
    else:
        ui.note(
            ctx,
            P(
                "{count} image model of the {found} your key can use (--all lists every one; "
                "dmxedit knows {known} models).",
                "{count} image models of the {found} your key can use (--all lists every one; "
                "dmxedit knows {known} models).",
                shown,
                found=found,
                known=len(MODELS),
            ),
        )


def _warn_model(ctx: RunContext, model: str, ids: set[str]) -> None:
    from dmxedit.cli import ui

    if model not in ids:
        ui.warn(
            ctx,
            T(
                "the model dmxedit uses, {model}, is not in this list: an edit with it would "
                'get 503 "no available channel". Set another with `dmxedit config set model '
                "NAME`.",
                model=model,
            ),
        )
    if model_for(model) is None:
        ui.warn(
            ctx,
            T(
                "the model dmxedit uses, {model}, is not in dmxedit's table: its sizes and "
                "options are not checked before sending. {hint}",
                model=model,
                hint=unknown_hint(model),
            ),
        )
