"""`dmxedit mcp`: the MCP server (SPEC 14) on standard input/output or loopback HTTP.

The server is ``dmxedit/mcp/``, on the optional extra ``dmxedit[mcp]``; it is imported
only here, inside the command, so every other command starts without it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T

EXTRA_HINT = T("Install the extra: pip install 'dmxedit[mcp]' (pipx: pipx install 'dmxedit[mcp]').")


def parse_http(given: str) -> tuple[str, int]:
    """``127.0.0.1:PORT`` -> host and port; only loopback addresses (exit 2 otherwise)."""
    host, sep, port = given.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(T("--http {given!r}: give HOST:PORT, e.g. 127.0.0.1:8765.", given=given))
    loopback = host == "localhost"
    if not loopback:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
    if not loopback:
        raise InputError(
            T(
                "--http {given!r}: the MCP server listens on loopback only (127.0.0.1, ::1, "
                "localhost): it spends your DMXAPI key for whoever connects.",
                given=given,
            )
        )
    return host, int(port)


@command()
def mcp(
    ctx: RunContext,
    root: Annotated[
        list[str] | None,
        typer.Option(
            "--root",
            help="Input images only from under DIR (repeatable) [default: the current folder].",
            metavar="DIR",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Save images only here [default: ./output of the first root].",
            metavar="DIR",
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            help="Serve streamable HTTP at http://HOST:PORT/mcp (loopback only) instead of stdio.",
            metavar="HOST:PORT",
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-tokens",
            help="Cap the estimated tokens of the whole session; a call that would pass it "
            "is refused before sending.",
            metavar="N",
            min=0,
        ),
    ] = None,
    inline_full: Annotated[
        bool,
        typer.Option("--inline-full", help="Put the full-size images in results, not thumbnails."),
    ] = False,
) -> None:
    """Run a Model Context Protocol server: the same engine for AI agents (needs dmxedit[mcp]).

    Example: claude mcp add dmxedit -- dmxedit mcp --root ~/photos --max-tokens 20000
    """
    address = parse_http(http) if http is not None else None
    try:
        import mcp as sdk  # noqa: F401 - the extra's check, before anything else
    except ImportError:
        raise InputError(T("`dmxedit mcp` needs the MCP SDK."), hint=EXTRA_HINT) from None
    from dmxedit.mcp.confine import Confinement
    from dmxedit.mcp.server import serve_http, serve_stdio
    from dmxedit.mcp.tools import Session

    confinement = Confinement.of(root or [], output, Path.cwd())
    session = Session(confinement, ctx.env, max_tokens=max_tokens, inline_full=inline_full)
    if address is None:
        serve_stdio(session)
    else:
        serve_http(session, *address)
