"""`dmxedit report`: one HTML page to look at a batch's results (or the ledger)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import P, T


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
    from dmxedit.report.make import check_arguments, make_report

    paths = list(results or [])
    check_arguments(paths, history=history, since=since)
    if ctx.json and output == "-":
        raise InputError(
            T(
                "--json prints an object on standard output, where -o - writes the page; "
                "choose one."
            ),
            hint=T("dmxedit report RESULTS --json -o report.html"),
        )
    made = make_report(
        paths,
        output=output,
        embed=embed,
        history=history,
        since=since,
        limit=limit,
        force=force,
        env=ctx.env,
        warn=lambda message: ui.warn(ctx, message),
    )
    if made.to_stdout:
        ctx.stdout.write(made.text)
        ctx.stdout.flush()
        return
    counts = made.counts
    if ctx.json:
        ctx.emit_json({"path": str(made.path), **counts, "embedded": made.embedded})
    else:
        ctx.emit_lines([str(made.path)])
    if not ctx.quiet:
        ui.note(
            ctx,
            T(
                "{jobs}: {ok} ok, {failed} failed, {mismatch} with a size mismatch. Open {url}",
                jobs=P("{count:,} job", "{count:,} jobs", counts["jobs"]),
                ok=counts["ok"],
                failed=counts["failed"],
                mismatch=counts["mismatch"],
                url=made.path.absolute().as_uri(),
            ),
        )
