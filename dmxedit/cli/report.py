"""`dmxedit report`: one HTML page to look at a batch's results (or the ledger)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.errors import InputError, counted


@command(json=True, quiet=True)
def report(
    ctx: RunContext,
    results: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Batch results files (JOBS.results.jsonl).",
            metavar="RESULTS.jsonl...",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="The page to write, or a folder for it ('-': standard output) "
            "[default: beside the first results file].",
            metavar="PATH",
        ),
    ] = None,
    embed: Annotated[
        bool,
        typer.Option(
            "--embed",
            help="Put downscaled thumbnails into the page: one self-contained file "
            "(needs dmxedit[images]).",
        ),
    ] = False,
    history: Annotated[
        bool, typer.Option("--history", help="Report the ledger's requests instead.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="With --history: only since DATE (2026-11-30, or 3d, 12h).",
            metavar="DATE",
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            "-n",
            help="With --history: at most N entries, newest first.",
            metavar="N",
            min=1,
        ),
    ] = 500,
    force: Annotated[
        bool, typer.Option("--force", help="Replace PATH even if it is not a dmxedit report.")
    ] = False,
) -> None:
    """Write one HTML page to look at a batch: inputs and outputs side by side, filters,
    and redo marks that export a jobs file."""
    from dmxedit.cli import ui
    from dmxedit.report import page as core

    paths = list(results or [])
    if not paths and not history:
        raise InputError(
            "Name the results files to report on, or pass --history for the ledger.",
            hint="dmxedit report jobs.results.jsonl (the file `dmxedit batch jobs.jsonl` wrote)",
        )
    if since is not None and not history:
        raise InputError("--since goes with --history (a results file is reported whole).")
    if ctx.json and output == "-":
        raise InputError(
            "--json prints an object on standard output, where -o - writes the page; choose one.",
            hint="dmxedit report RESULTS --json -o report.html",
        )
    if embed:
        core.require_pillow()  # before reading anything: the answer does not depend on it
    parts: list[core.Report] = []
    if paths:
        parts.append(core.read_results(paths))
    if history:
        from dmxedit.cli.history import parse_since, reading_ledger

        started = parse_since(since) if since else None
        with reading_ledger(ctx) as book:
            if book is None:
                raise InputError("The ledger is empty: dmxedit has sent no request yet.")
            found, more = core.read_history(book, since=started, limit=limit)
        if not found.jobs:
            raise InputError(
                "No ledger entry" + (f" since {since}." if since else "."),
                hint="Try an earlier --since." if since else None,
            )
        if more:
            ui.warn(ctx, f"Showing the newest {limit} ledger entries; --limit N shows more.")
        parts.append(found)
    whole = core.Report(
        jobs=[j for part in parts for j in part.jobs],
        sources=[s for part in parts for s in part.sources],
    )
    default = core.default_output(paths)
    to_stdout = output == "-"
    if to_stdout:
        page = Path.cwd() / default.name
    elif output is not None:
        page = core.target_path(output, default.name)
    else:
        page = default
    stem = page.name[: -len(".report.html")] if page.name.endswith(".report.html") else page.stem
    text = core.render(
        whole,
        folder=page.parent.absolute(),
        embed=embed,
        export_name=f"{stem}.redo.jsonl",
    )
    counts = whole.counts()
    if to_stdout:
        ctx.stdout.write(text)
        ctx.stdout.flush()
        return
    core.write_page(text, page, force=force)
    if ctx.json:
        ctx.emit_json({"path": str(page), **counts, "embedded": embed})
    else:
        ctx.emit_lines([str(page)])
    if not ctx.quiet:
        ui.note(
            ctx,
            f"{counted(counts['jobs'], 'job')}: {counts['ok']} ok, {counts['failed']} failed, "
            f"{counts['mismatch']} with a size mismatch. Open {page.absolute().as_uri()}",
        )
