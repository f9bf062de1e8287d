"""`dmxedit models`: the models the key can use, from the API's own list."""

from __future__ import annotations

from typing import Annotated

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import BaseUrl, ConnectTimeout, Retries, command
from dmxedit.core.options import ImageOptions

#: How long to wait for the list once connected (the model list is small).
READ_TIMEOUT = 60.0


JsonList = Annotated[
    bool, typer.Option("--json", help="Print the models as a JSON list on standard output.")
]


@command(json=True, quiet=True, replace={"json_out": (JsonList, False)})
def models(
    ctx: RunContext,
    every: Annotated[
        bool, typer.Option("--all", help="List every model, not only the image models.")
    ] = False,
    base_url: BaseUrl = None,
    connect_timeout: ConnectTimeout = None,
    retries: Retries = None,
) -> None:
    """The models your key can use (image models; --all for every one); costs nothing."""
    from dmxedit.api.client import Client
    from dmxedit.api.retry import Policy
    from dmxedit.cli import ui
    from dmxedit.core.settings import resolve

    options = ImageOptions(base_url=base_url, connect_timeout=connect_timeout, retries=retries)
    settings = resolve(options, env=ctx.env)
    for message in settings.warnings:
        ui.warn(ctx, message)
    client = Client(
        api_key=settings.require_key(),
        timeout=min(settings.timeout, READ_TIMEOUT),
        connect_timeout=settings.connect_timeout,
        policy=Policy(settings.retries),
        events=ui.make_events(ctx),
    )
    try:
        found = client.list_models(settings.base_url)
    finally:
        client.close()
    shown = sorted((m for m in found if every or m.image), key=lambda m: (m.id.casefold(), m.id))
    if ctx.json:
        ctx.emit_json([m.to_dict() for m in shown])
    else:
        ctx.emit_lines([m.id for m in shown])
    if ctx.quiet:
        return
    if every:
        ui.note(ctx, f"{len(found)} model{'s' if len(found) != 1 else ''} at {settings.base_url}.")
    else:
        ui.note(
            ctx,
            f"{len(shown)} image model{'s' if len(shown) != 1 else ''} of the {len(found)} your "
            "key can use (--all lists every one).",
        )
    if settings.model not in {m.id for m in found}:
        ui.warn(
            ctx,
            f"the model dmxedit uses, {settings.model}, is not in this list: an edit with it "
            'would get 503 "no available channel". Set another with `dmxedit config set '
            "model NAME`.",
        )
