"""`dmxedit doctor`: check the setup, one line a check, without generating anything."""

from __future__ import annotations

from typing import Annotated

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import BaseUrl, ConnectTimeout, FolderOnly, Model, command
from dmxedit.core.i18n import N_, P, T, shown
from dmxedit.core.options import ImageOptions

#: The checks' verdicts as a person reads them (the JSON keeps ok, warn, fail, skip).
STATUS = {"ok": N_("ok"), "warn": N_("warn"), "fail": N_("fail"), "skip": N_("skip")}
#: The checks' names as a person reads them (the JSON keeps config, key, base-url, ...).
NAMES = {
    "config": N_("config"),
    "key": N_("key"),
    "base-url": N_("base-url"),
    "proxy": N_("proxy"),
    "site": N_("site"),
    "auth": N_("auth"),
    "model": N_("model"),
    "balance": N_("balance"),
    "output": N_("output"),
    "ledger": N_("ledger"),
}


def _line(check: object) -> str:
    from dmxedit.cli.ui import pad
    from dmxedit.engine.doctor import OK, Check

    assert isinstance(check, Check)
    status = shown(STATUS.get(check.status, check.status))
    name = shown(NAMES.get(check.name, check.name))
    line = f"{pad(status, 4)}  {pad(name, 8)}  {shown(check.detail)}"
    if check.hint and check.status != OK:
        line += f"  -> {shown(check.hint)}"
    return line


JsonList = Annotated[
    bool, typer.Option("--json", help="Print the checks as a JSON list on standard output.")
]


@command(json=True, quiet=True, replace={"json_out": (JsonList, False)})
def doctor(
    ctx: RunContext,
    base_url: BaseUrl = None,
    model: Model = None,
    output: FolderOnly = None,
    connect_timeout: ConnectTimeout = None,
) -> None:
    """Check the config, key, base URL, proxy, site, model and folders (costs nothing)."""
    from dmxedit.engine import doctor as core

    options = ImageOptions(
        base_url=base_url, model=model, output=output, connect_timeout=connect_timeout
    )

    def show(check: core.Check) -> None:
        if not ctx.json:
            ctx.emit_lines([_line(check)])

    from dmxedit.cli import ui

    checks = core.run(options, env=ctx.env, on_check=show, events=ui.make_events(ctx))
    if ctx.json:
        ctx.emit_json([check.to_dict() for check in checks])
    code = core.exit_code(checks)
    if not ctx.quiet:
        failed = sum(1 for c in checks if c.status == core.FAIL)
        warned = sum(1 for c in checks if c.status == core.WARN)
        counts = [shown(T("{n} failed", n=failed))] if failed else []
        if warned:
            counts.append(shown(P("{count} warning", "{count} warnings", warned)))
        if not counts:
            summary = shown(T("Everything dmxedit needs is in order."))
        else:
            end = T(" (exit {code}).", code=code) if code else T(".")
            summary = shown(N_(", ")).join(counts) + shown(end)
        print(f"dmxedit doctor: {summary}", file=ctx.stderr, flush=True)
    if code:
        raise typer.Exit(code)
