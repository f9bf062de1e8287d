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
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import N_, P, T, shown
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
    rows = [(shown(T("balance")), shown(T("{cny:.4f} CNY", cny=found.cny)))]
    if found.used_quota is not None:
        used = shown(T("{cny:.4f} CNY", cny=account.cny(found.used_quota)))
        if found.request_count is not None:
            count = P("{count:,} request", "{count:,} requests", found.request_count)
            used += shown(T(" ({requests})", requests=count))
        rows.append((shown(T("used")), used))
    rows.append((shown(T("site")), str(found.site)))
    from dmxedit.cli.ui import columns, pad

    width = max(columns(label) for label, _ in rows)
    ctx.emit_lines([f"{pad(label, width)}  {value}" for label, value in rows])


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
        raise InputError(
            T("{options} contradict each other; choose one period.", options=" and ".join(chosen))
        )
    now = time.time()
    if until and not since:
        raise InputError(
            T("--until goes with --since."), hint=T("e.g. --since 2026-11-01 --until 2026-11-30")
        )
    words: str
    if since and until:
        start, end = _since_until(since, until, now)
        words = T("since {since} until {until}", since=since, until=until)
    elif since:
        start, end = _since_until(since, until, now)
        words = T("since {since}", since=since)
    elif week or month:
        days = 7 if week else 30
        start = (_day(now) - timedelta(days=days - 1)).timestamp()
        end, words = now, T("the last {days} days", days=days)
    else:
        start, end, words = _day(now).timestamp(), now, T("today")
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
            message = shown(exc.message).replace("--since", "--until")
            raise InputError(message, hint=exc.hint) from None
        if len(until.strip()) == 10:  # a bare date: up to the end of that day
            end = (_day(end) + timedelta(days=1)).timestamp() - 1
    if end < start:
        raise InputError(
            T("--until {until!r} is before --since {since!r}.", until=until, since=since)
        )
    return start, end


def _zone() -> str:
    offset = datetime.now().astimezone().strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "local"  # JSON: stays English


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
            T(
                "the log has {total:,} items; dmxedit read the newest {items:,} ({pages} "
                "pages). Ask for a shorter period to see all of it.",
                total=read.total,
                items=summary.items,
                pages=read.pages,
            ),
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


_MODEL_COLS = [N_("model"), N_("requests"), N_("cost (CNY)"), N_("tokens in"), N_("tokens out")]
_DAY_COLS = [N_("day"), N_("requests"), N_("cost (CNY)"), N_("tokens")]


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
    tables = [
        (shown(title), [shown(c) for c in cols], rows)
        for title, cols, rows in (
            (N_("per model"), _MODEL_COLS, models),
            (N_("per day"), _DAY_COLS, days),
        )
        if rows
    ]
    if ctx.stdout_isatty:
        _rich_tables(ctx, head, tables, ours)
    else:
        ctx.emit_lines(_plain_tables(head, tables, ours))


def _head(summary: Any, words: str, model: str | None) -> list[str]:
    def when(stamp: int) -> str:
        return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")

    total = summary.total
    first = T(
        "DMXAPI usage, {period}: {start} to {end} (local time, {zone})",
        period=words,
        start=when(summary.start),
        end=when(summary.end),
        zone=_zone(),
    )
    line = shown(first) + (shown(T(", model {model}", model=model)) if model else "")
    billed = T(
        "billed {requests}, {cny:.4f} CNY, {tokens:,} tokens ({tokens_in:,} in, {tokens_out:,} "
        "out)",
        requests=P("{count:,} request", "{count:,} requests", total.requests),
        cny=total.quota / 500000,
        tokens=total.prompt_tokens + total.completion_tokens,
        tokens_in=total.prompt_tokens,
        tokens_out=total.completion_tokens,
    )
    return [line, shown(billed)]


def _ours(counts: dict[str, int] | None) -> str:
    """The ledger's own counts for the period, in a line."""
    if counts is None:
        return shown(T("dmxedit's ledger is off: no counts of its own."))
    ours = T(
        "dmxedit's ledger, same period: sent {sent:,}, saved {saved:,}, failed {failed:,}, "
        "may have been billed {unknown:,}",
        sent=counts["sent"],
        saved=counts["saved"],
        failed=counts["failed"],
        unknown=counts["may_be_billed"],
    )
    text = shown(ours)
    if counts["billed"] or counts["not_billed"]:
        checked = T(
            " (checked: {billed} billed, {not_billed} not billed)",
            billed=counts["billed"],
            not_billed=counts["not_billed"],
        )
        text += shown(checked)
    return text


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
        from dmxedit.cli.ui import columns, pad

        widths = [max(columns(str(r[i])) for r in [cols, *rows]) for i in range(len(cols))]
        lines += ["", shown(T("{title}:", title=title))]
        for row in [cols, *rows]:
            cells = [
                pad(str(c), w) if i == 0 else " " * (w - columns(str(c))) + str(c)
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
        path = spool_stdin(ctx.claim_stdin(N_("jobs")))
        base, default = Path.cwd(), Path("stdin.results.jsonl")
    else:
        path = Path(jobs).expanduser()
        if not path.is_file():
            raise InputError(T("Jobs file {path!r} does not exist or is not a file.", path=jobs))
        name = path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.name
        base, default = path.parent, path.with_name(f"{name}.results.jsonl")
    target = Path(results).expanduser() if results else default
    try:
        if not target.is_file():
            raise InputError(T("There is no results file {path} to reconcile.", path=target))
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
            line = T(
                "job {id} (line {line}): {note}", id=job["id"], line=job["line"], note=job["note"]
            )
            ui.note(ctx, line)
    if not found.checked:
        ui.note(
            ctx, T("Nothing to reconcile: no job in {path} is held back unchecked.", path=target)
        )
        return
    ui.note(
        ctx,
        T(
            "{billed} billed, {not_billed} not billed, {unknown} still unknown; recorded in "
            "{path}. A re-run sends the jobs found not billed and still holds back the others "
            "(--resend-unknown sends them).",
            billed=found.count(True),
            not_billed=found.count(False),
            unknown=found.count(None),
            path=target,
        ),
    )
