"""`dmxedit batch`: many edits (and generations) from a JSON Lines jobs file."""

from __future__ import annotations

from typing import Annotated

import typer

from dmxedit.cli import options as o
from dmxedit.cli.context import RunContext
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.core.options import ImageOptions


@o.command(
    image_options=True, json=True, quiet=True, batch=True, replace={"output": (o.FolderOnly, None)}
)
def batch(
    ctx: RunContext,
    options: ImageOptions,
    jobs: Annotated[
        str,
        typer.Argument(
            help="Jobs file (JSON Lines); '-' reads it from standard input.",
            metavar="JOBS.jsonl",
            show_default=False,
        ),
    ],
    prompt: str | None,
    prompt_file: str | None,
    dry_run: bool,
    concurrency: str,
    results: str | None,
    resend_unknown: bool,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="Run only shard K of N (by job id; auto/N: K from JOB_COMPLETION_INDEX).",
            metavar="K/N",
        ),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-tokens",
            help="Start no job once the estimated tokens sent would pass N (exit 7).",
            metavar="N",
            min=0,
        ),
    ] = None,
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="Report done / failed / held back / not started from every results file "
            "(all shards); send nothing.",
        ),
    ] = False,
    reconcile: Annotated[
        bool,
        typer.Option(
            "--reconcile",
            help="Check the jobs held back as 'may have been billed' against DMXAPI's billing "
            "log (needs the system token) and record the verdicts; sends nothing.",
        ),
    ] = False,
) -> None:
    """Run many edits and generations from a JSON Lines jobs file, resumably.

    Each line: {"images": ["a.png"], "prompt": "...", "id": "...", "ratio": "5:4", ...}.
    A job without images is a generate job. Options give defaults for what jobs leave out.
    """
    if reconcile:
        if dry_run or resend_unknown:
            raise InputError(
                T("--reconcile sends nothing; it goes without --dry-run and --resend-unknown.")
            )
        from dmxedit.cli.spend import reconcile as reconcile_jobs

        reconcile_jobs(ctx, jobs, options, results)
        return
    from dmxedit.cli.batch_run import BatchFlags, run_jobs_file
    from dmxedit.cli.common import read_prompt

    flags = BatchFlags(dry_run, concurrency, results, resend_unknown, shard, max_tokens)
    if status:
        from dmxedit.cli.batch_status import show_status

        show_status(ctx, jobs, flags)
        return
    run_jobs_file(ctx, jobs, options, read_prompt(ctx, prompt, prompt_file), flags)
