"""`dmxedit balance` and `dmxedit usage`: the account's spend (SPEC 8), and the glue of
`batch --reconcile`."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.env import no_color
from dmxedit.core.errors import InputError, counted
from dmxedit.core.options import ImageOptions


def _settings(ctx: RunContext, options: ImageOptions | None = None) -> Any:
    """The settings, their warnings shown (a plain-http base URL) before anything is sent."""
    from dmxedit.cli import ui
    from dmxedit.core.settings import resolve

    settings = resolve(options, env=ctx.env)
    for message in settings.warnings:
        ui.warn(ctx, message)
    return settings


@command(json=True, quiet=True)
def balance(ctx: RunContext) -> None:
    """The DMXAPI account's balance in CNY (needs the system token and user id)."""
    from dmxedit.api import account
    from dmxedit.cli import ui

    found = account.balance(_settings(ctx), events=ui.make_events(ctx))
    if ctx.json:
        ctx.emit_json(found.to_dict())
        return
    lines = [f"balance  {found.cny:.4f} CNY"]
    if found.used_quota is not None:
        count = ""
        if found.request_count is not None:
            plural = "" if found.request_count == 1 else "s"
            count = f" ({found.request_count:,} request{plural})"
        lines.append(f"used     {account.cny(found.used_quota):.4f} CNY{count}")
    lines.append(f"site     {found.site}")
    ctx.emit_lines(lines)


def _day(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp).replace(hour=0, minute=0, second=0, microsecond=0)


def period(
    today: bool, week: bool, month: bool, since: str | None, until: str | None
) -> tuple[int, int, str]:
    """The period asked, as unix times (local days) and in words."""
    chosen = [name for name, on in (("--today", today), ("--week", week), ("--month", month)) if on]
    if since:
        chosen.append("--since")
    if len(chosen) > 1:
        raise InputError(f"{' and '.join(chosen)} contradict each other; choose one period.")
    now = time.time()
    if until and not since:
        raise InputError(
            "--until goes with --since.", hint="e.g. --since 2026-11-01 --until 2026-11-30"
        )
    if since:
        start, end = _since_until(since, until, now)
        words = f"since {since}" + (f" until {until}" if until else "")
    elif week or month:
        days = 7 if week else 30
        start = (_day(now) - timedelta(days=days - 1)).timestamp()
        end, words = now, f"the last {days} days"
    else:
        start, end, words = _day(now).timestamp(), now, "today"
    return int(start), int(end), words


def _since_until(since: str, until: str | None, now: float) -> tuple[float, float]:
    """``--since`` and ``--until`` (a bare date: up to the end of that day) as unix times."""
    from dmxedit.engine.history import parse_since

    start = parse_since(since)
    end = now
    if until:
        try:
            end = parse_since(until.strip())
        except InputError as exc:
            raise InputError(exc.message.replace("--since", "--until"), hint=exc.hint) from None
        if len(until.strip()) == 10:  # a bare date: up to the end of that day
            end = (_day(end) + timedelta(days=1)).timestamp() - 1
    if end < start:
        raise InputError(f"--until {until!r} is before --since {since!r}.")
    return start, end


def _zone() -> str:
    offset = datetime.now().astimezone().strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "local"


@command(json=True, quiet=True)
def usage(
    ctx: RunContext,
    today: Annotated[bool, typer.Option("--today", help="Today (the default).")] = False,
    week: Annotated[bool, typer.Option("--week", help="The last 7 days.")] = False,
    month: Annotated[bool, typer.Option("--month", help="The last 30 days.")] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", help="From DATE (2026-11-30, or 3d, 12h).", metavar="DATE"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Up to DATE (a date: its end); with --since.", metavar="DATE"),
    ] = None,
    model: Annotated[
        str | None, typer.Option("-m", "--model", help="Only this model.", metavar="NAME")
    ] = None,
) -> None:
    """Spend, requests and tokens per model and per day, from DMXAPI's billing log,
    beside dmxedit's own ledger for the same period (local time)."""
    from dmxedit.api import account
    from dmxedit.cli import ui
    from dmxedit.store import ledger

    start, end, words = period(today, week, month, since, until)
    settings = _settings(ctx)
    summary, read = account.usage(settings, start, end, model, events=ui.make_events(ctx))
    counts = None
    book = ledger.open_ledger(settings.history, ctx.env, create=False)
    if book is not None:
        try:
            counts = book.counts_between(start, end + 1, model)
        finally:
            book.close()
    elif ledger.enabled(settings.history, ctx.env):
        counts = ledger_counts_empty()
    if not summary.complete:
        ui.warn(
            ctx,
            f"the log has {read.total:,} items; dmxedit read the newest {summary.items:,} "
            f"({read.pages} pages). Ask for a shorter period to see all of it.",
        )
    if ctx.json:
        ctx.emit_json(
            {
                "period": {
                    "start": start,
                    "end": end,
                    "from": datetime.fromtimestamp(start).isoformat(timespec="seconds"),
                    "to": datetime.fromtimestamp(end).isoformat(timespec="seconds"),
                    "timezone": _zone(),
                },
                "site": account.site_root(settings.base_url),
                **summary.to_dict(),
                "ledger": counts,
            }
        )
        return
    _render(ctx, summary, counts, words, model)


def ledger_counts_empty() -> dict[str, int]:
    return dict.fromkeys(
        ("entries", "sent", "saved", "failed", "may_be_billed", "billed", "not_billed"), 0
    )


_MODEL_COLS = ["model", "requests", "cost (CNY)", "tokens in", "tokens out"]
_DAY_COLS = ["day", "requests", "cost (CNY)", "tokens"]


def _render(
    ctx: RunContext, summary: Any, counts: dict[str, int] | None, words: str, model: str | None
) -> None:
    head = _head(summary, words, model)
    ours = _ours(counts)
    from dmxedit.cli.ui import field

    models = [
        [
            field(name),  # a model name from the server's log
            f"{t.requests:,}",
            f"{t.quota / 500000:.4f}",
            f"{t.prompt_tokens:,}",
            f"{t.completion_tokens:,}",
        ]
        for name, t in summary.models.items()
    ]
    days = [
        [
            day,
            f"{t.requests:,}",
            f"{t.quota / 500000:.4f}",
            f"{t.prompt_tokens + t.completion_tokens:,}",
        ]
        for day, t in summary.days.items()
    ]
    tables = [t for t in (("per model", _MODEL_COLS, models), ("per day", _DAY_COLS, days)) if t[2]]
    if ctx.stdout_isatty:
        _rich_tables(ctx, head, tables, ours)
    else:
        ctx.emit_lines(_plain_tables(head, tables, ours))


def _head(summary: Any, words: str, model: str | None) -> list[str]:
    def when(stamp: int) -> str:
        return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")

    total = summary.total
    return [
        f"DMXAPI usage, {words}: {when(summary.start)} to {when(summary.end)} "
        f"(local time, {_zone()})" + (f", model {model}" if model else ""),
        f"billed {counted(total.requests, 'request')}, {total.quota / 500000:.4f} CNY, "
        f"{total.prompt_tokens + total.completion_tokens:,} tokens "
        f"({total.prompt_tokens:,} in, {total.completion_tokens:,} out)",
    ]


def _ours(counts: dict[str, int] | None) -> str:
    """The ledger's own counts for the period, in a line."""
    if counts is None:
        return "dmxedit's ledger is off: no counts of its own."
    ours = (
        f"dmxedit's ledger, same period: sent {counts['sent']:,}, saved {counts['saved']:,}, "
        f"failed {counts['failed']:,}, may have been billed {counts['may_be_billed']:,}"
    )
    if counts["billed"] or counts["not_billed"]:
        ours += f" (checked: {counts['billed']} billed, {counts['not_billed']} not billed)"
    return ours


_Table = tuple[str, list[str], list[list[str]]]


def _rich_tables(ctx: RunContext, head: list[str], tables: list[_Table], ours: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(
        file=ctx.stdout,
        highlight=False,
        force_terminal=True,
        no_color=no_color(ctx.env) or None,
    )
    for line in head:
        console.print(line, markup=False)
    for title, cols, rows in tables:
        table = Table(title=title, title_justify="left")
        for i, col in enumerate(cols):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))  # text, never markup
        console.print(table)
    console.print(ours, markup=False)


def _plain_tables(head: list[str], tables: list[_Table], ours: str) -> list[str]:
    lines = list(head)
    for title, cols, rows in tables:
        widths = [max(len(str(r[i])) for r in [cols, *rows]) for i in range(len(cols))]
        lines += ["", f"{title}:"]
        for row in [cols, *rows]:
            cells = [
                str(c).ljust(w) if i == 0 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  " + "  ".join(cells).rstrip())
    return [*lines, "", ours]


def reconcile(ctx: RunContext, jobs: str, options: ImageOptions, results: str | None) -> None:
    """`batch JOBS --reconcile`: check the held-back jobs against DMXAPI's billing log."""
    from dmxedit.batch.jobs import Defaults, JobSource, spool_stdin
    from dmxedit.batch.reconcile import reconcile as run
    from dmxedit.cli import ui

    settings = _settings(ctx, options)
    if jobs == "-":
        path = spool_stdin(ctx.claim_stdin("jobs"))
        base, default = Path.cwd(), Path("stdin.results.jsonl")
    else:
        path = Path(jobs).expanduser()
        if not path.is_file():
            raise InputError(f"Jobs file {jobs!r} does not exist or is not a file.")
        name = path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.name
        base, default = path.parent, path.with_name(f"{name}.results.jsonl")
    target = Path(results).expanduser() if results else default
    try:
        if not target.is_file():
            raise InputError(f"There is no results file {target} to reconcile.")
        found = run(
            JobSource(path=path, base=base),
            Defaults(settings, options),
            target,
            env=ctx.env,
            clock=ctx.clock,
        )
    finally:
        if jobs == "-":
            path.unlink(missing_ok=True)
    if ctx.json:
        ctx.emit_json(found.to_dict())
    else:
        for job in found.checked:
            ui.note(ctx, f"job {job['id']} (line {job['line']}): {job['note']}")
    if not found.checked:
        ui.note(ctx, f"Nothing to reconcile: no job in {target} is held back unchecked.")
        return
    ui.note(
        ctx,
        f"{found.count(True)} billed, {found.count(False)} not billed, {found.count(None)} "
        f"still unknown; recorded in {target}. A re-run sends the jobs found not billed "
        "and still holds back the others (--resend-unknown sends them).",
    )
