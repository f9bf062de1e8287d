"""The MCP server: the official ``mcp`` SDK's low-level server around the tools.

Each call runs on a thread of its own (the engine is synchronous; several calls may run
at once) while the handler waits for it and sends progress (the engine's callbacks and
a tick every :data:`~dmxedit.mcp.progress.TICK` seconds) when the client asked for it.
A cancelled call returns at once, but its thread goes on: a request already sent keeps
its connection, and its answer is recorded in the ledger and saved when it arrives.
The threads are not daemons, so the process waits for them before it exits.

Every error becomes an ``isError`` result with the CLI's message, hint and exit code
name, with the key and the system token blanked out; standard output carries only the
protocol (the SDK's stdio transport takes it over), logs go to standard error.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server, ServerRequestContext

from dmxedit._version import __version__
from dmxedit.core.errors import DmxError, ExitCode, InputError
from dmxedit.core.i18n import T
from dmxedit.mcp import batches, schemas, tools
from dmxedit.mcp.progress import TICK, TOTAL, Progress
from dmxedit.mcp.tools import Output, Session

log = logging.getLogger("dmxedit.mcp")

#: Tool name -> (what it does, its function); each schema is in ``schemas.schemas``.
TOOLS: dict[str, tuple[str, tools.Tool]] = {
    "edit_image": (
        "Edit 1-16 images with a prompt (paid: the model's tokens). Saves the result under "
        "the server's output folder; returns file links, a thumbnail, the ledger id.",
        tools.make_image("edit"),
    ),
    "generate_image": ("Make an image from a prompt alone (paid).", tools.make_image("generate")),
    "continue_edit": (
        "Edit again in the same conversation (paid; gemini-door models): the model sees the "
        "earlier turns of the ledger entry given, its own images and their signatures.",
        tools.make_image("edit", continued=True),
    ),
    "list_models": (
        "The models the key can use, and dmxedit's notes on each (free).",
        tools.list_models,
    ),
    "ratios": ("A model's aspect ratios, pixel sizes and tokens (free, offline).", tools.ratios),
    "estimate": (
        "Tokens (and CNY where known) a planned edit or generation would cost; sends nothing.",
        tools.estimate,
    ),
    "start_batch": (
        "Run a JSON Lines jobs file in the background (paid, resumable); returns a handle.",
        batches.start,
    ),
    "batch_status": ("How the background batches are doing (free).", batches.status),
    "history": ("dmxedit's ledger of paid requests, newest first (free).", tools.history),
    "recover": (
        "Download every paid result that arrived but was never saved (no new request).",
        tools.recover,
    ),
    "balance": (
        "The DMXAPI account's balance in CNY (free; needs the system token).",
        tools.balance,
    ),
}
PAID = ("edit_image", "generate_image", "continue_edit", "start_batch")

#: Seconds between looks at a running call's progress (its answer is taken at once).
POLL = 0.5

#: Threads of calls still running (a cancelled call's too), waited for at exit.
RUNNING: set[threading.Thread] = set()


def scrub(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` with every secret replaced, in every string it holds."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, "[hidden]")
        return value
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    return value


def error_output(exc: BaseException) -> Output:
    """An exception as the tool result that says it (``isError``)."""
    if isinstance(exc, DmxError):
        body = {**exc.to_dict(), "exit_code_name": exc.exit_code.name}
        text = exc.message + (f"\nHint: {exc.hint}" if exc.hint else "")
        if exc.urls:
            text += "\nResult URLs (paid, not saved): " + " ".join(exc.urls)
    else:  # a bug in dmxedit: said, never a protocol crash
        body = {
            "type": type(exc).__name__,
            "message": f"Internal error (a bug in dmxedit): {exc}",
            "exit_code": int(ExitCode.INTERNAL),
            "exit_code_name": ExitCode.INTERNAL.name,
        }
        text = body["message"]
    text += f"\n(exit code {body['exit_code']} {body['exit_code_name']})"
    return Output([tools.Block("text", text=text)], {"error": body}, is_error=True)


def argument_errors(name: str, args: dict[str, Any], validator: Any) -> InputError | None:
    """The arguments checked against the tool's input schema (the SDK's low-level server
    does not check them): a USAGE error naming each wrong argument, or None."""
    found = sorted(validator.iter_errors(args), key=lambda e: [str(p) for p in e.absolute_path])
    if not found:
        return None
    said = [
        f"{'.'.join(str(p) for p in e.absolute_path) or 'arguments'}: {e.message}"
        for e in found[:10]
    ]
    return InputError(
        T("{name}: {said}. Nothing was sent.", name=name, said="; ".join(said)),
        hint=T(
            "The tool's input schema (tools/list) says what {name} takes.",
            name=name,
        ),
        details={"invalid": said},
    )


def _content(block: tools.Block) -> types.ContentBlock:
    if block.kind == "image":
        return types.ImageContent(data=block.data, mime_type=block.mime)
    if block.kind == "link":
        return types.ResourceLink(
            uri=block.uri, name=block.name, mime_type=block.mime, size=block.size
        )
    return types.TextContent(text=block.text)


def to_result(output: Output, secrets: Sequence[str]) -> types.CallToolResult:
    blocks = [tools.Block(**{**b.__dict__, "text": scrub(b.text, secrets)}) for b in output.blocks]
    return types.CallToolResult(
        content=[_content(b) for b in blocks],
        structured_content=scrub(output.structured, secrets),
        is_error=output.is_error,
    )


def _run(
    session: Session, name: str, args: dict[str, Any], events: Progress, roots: Sequence[Path]
) -> Output:
    try:
        return TOOLS[name][1](session, args, events, roots)
    except Exception as exc:  # noqa: BLE001 - every failure is a tool result
        if not isinstance(exc, DmxError):
            trace = "".join(traceback.format_exception(exc))
            log.error("tool %s failed:\n%s", name, scrub(trace, session.secrets()))
        return error_output(exc)


def _start(
    session: Session, name: str, args: dict[str, Any], events: Progress, roots: Sequence[Path]
) -> Future[Output]:
    future: Future[Output] = Future()

    def work() -> None:
        try:
            future.set_result(_run(session, name, args, events, roots))
        finally:
            RUNNING.discard(threading.current_thread())

    thread = threading.Thread(target=work, name=f"mcp-{name}")
    RUNNING.add(thread)
    thread.start()
    return future


#: What the server returns on a 2026-07-28 connection to ask the client for its roots (that
#: protocol has no server-to-client request: the client answers and sends the call again).
ASK_ROOTS = "roots"


async def _client_roots(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams, secrets: Sequence[str]
) -> list[str] | None | types.InputRequiredResult:
    """The client's roots (file URIs) when it declares the capability; None when it does
    not; on a connection without server-to-client requests, the result that asks for them."""
    caps = ctx.session.client_capabilities
    if caps is None or caps.roots is None:
        return None
    answered = (params.input_responses or {}).get(ASK_ROOTS)
    if isinstance(answered, types.ListRootsResult):
        return [str(r.uri) for r in answered.roots]
    if not ctx.session.can_send_request:
        return types.InputRequiredResult(
            input_requests={ASK_ROOTS: types.ListRootsRequest()}, request_state=ASK_ROOTS
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # roots: deprecated by the 2026-07-28 protocol
            found = await ctx.session.list_roots()
    except Exception as exc:  # noqa: BLE001 - a client that cannot answer: the server's roots
        log.warning("the client's roots could not be read: %s", scrub(str(exc), secrets))
        return None
    return [str(r.uri) for r in found.roots]


def _settled(future: Future[Output]) -> bool:
    """Whether the call is over, waiting up to :data:`POLL` seconds for it."""
    return bool(wait([future], timeout=POLL).done)


async def _wait(
    future: Future[Output], progress: Progress, ctx: ServerRequestContext[Any], name: str
) -> Output:
    """Wait for a call's thread, sending progress (the SDK sends it only when the client
    asked for it, with a progress token); a cancel leaves the thread running."""
    last_sent, last_phase = 0.0, ""
    try:
        # A pool thread waits on the call (up to half a second at a time): the answer is
        # returned the moment it is there; cancelling abandons the wait, not the call.
        while not await anyio.to_thread.run_sync(_settled, future, abandon_on_cancel=True):
            now = time.monotonic()
            if progress.phase != last_phase or now - last_sent >= TICK:
                value, message = progress.next()
                await ctx.session.report_progress(value, TOTAL, message)
                last_sent, last_phase = now, progress.phase
    except anyio.get_cancelled_exc_class():
        progress.cancelled.set()  # nothing new goes out; a request already out goes on
        log.warning(
            "%s was cancelled: nothing more is sent; a request already out goes on in the "
            "background, and its paid answer is recorded in the ledger and saved",
            name,
        )
        raise
    await ctx.session.report_progress(TOTAL, TOTAL, "done")
    return future.result()


def build(session: Session) -> Server[Any]:
    """The low-level server with the tools of ``session``."""
    from jsonschema import Draft202012Validator

    every = schemas.schemas()
    validators = {name: Draft202012Validator(schema) for name, schema in every.items()}

    async def list_tools(ctx: ServerRequestContext[Any], params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=name,
                    description=words,
                    input_schema=every[name],
                    annotations=types.ToolAnnotations(
                        read_only_hint=name not in PAID and name != "recover",
                        open_world_hint=True,
                    ),
                )
                for name, (words, _run_it) in TOOLS.items()
            ]
        )

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        name, args = params.name, dict(params.arguments or {})
        if name not in TOOLS:
            return to_result(error_output(DmxError(T("No tool {name!r}.", name=name))), [])
        wrong = argument_errors(name, args, validators[name])
        if wrong is not None:
            return to_result(error_output(wrong), session.secrets())
        theirs = await _client_roots(ctx, params, session.secrets())
        if isinstance(theirs, types.InputRequiredResult):
            return theirs
        progress = Progress()
        roots = session.confinement.narrowed(theirs)
        future = _start(session, name, args, progress, roots)
        output = await _wait(future, progress, ctx, name)
        return to_result(output, session.secrets())

    return Server(
        "dmxedit",
        version=__version__,
        instructions="Edit and generate images through DMXAPI (paid per image). "
        "Use estimate before a paid call; files are saved under the server's output folder.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _finish() -> None:
    """Wait for the calls still running (a cancelled paid request's answer is saved)."""
    left = [t for t in RUNNING if t.is_alive()]
    if left:
        print(
            f"dmxedit mcp: waiting for {len(left)} call(s) to finish and save...", file=sys.stderr
        )
    for thread in left:
        thread.join()


def serve_stdio(session: Session) -> None:
    from mcp.server.stdio import stdio_server

    server = build(session)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    try:
        anyio.run(main)
    finally:
        _finish()


def guarded(host: str, port: int) -> Any:
    """The SDK's DNS-rebinding protection with only ``host:port`` allowed (the SDK turns it
    on by itself for 127.0.0.1, localhost and ::1 alone, on any port; every loopback
    address needs it: a page whose name resolves to 127.0.0.2 must not drive the server)."""
    from mcp.server.transport_security import TransportSecuritySettings

    names = {host}
    if host == "localhost":  # what a client may write for it
        names |= {"127.0.0.1", "::1"}
    hosts = sorted(f"[{n}]:{port}" if ":" in n else f"{n}:{port}" for n in names)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")],
    )


def serve_http(session: Session, host: str, port: int) -> None:
    import uvicorn

    app = build(session).streamable_http_app(host=host, transport_security=guarded(host, port))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    print(f"dmxedit mcp: serving http://{host}:{port}/mcp", file=sys.stderr, flush=True)
    try:
        uvicorn.Server(config).run()
    finally:
        _finish()
