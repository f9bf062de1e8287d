"""`dmxedit batch`: many edits (and generations) from a JSON Lines jobs file."""

from __future__ import annotations

from typing import Annotated

import typer

from . import options as o
from .common import ImageOptions


def batch(
    jobs: Annotated[
        str,
        typer.Argument(
            help="Jobs file (JSON Lines); '-' reads it from standard input.",
            metavar="JOBS.jsonl",
            show_default=False,
        ),
    ],
    concurrency: o.Concurrency = 4,
    results: o.Results = None,
    resend_unknown: o.ResendUnknown = False,
    prompt: o.Prompt = None,
    prompt_file: o.PromptFile = None,
    ratio: o.Ratio = None,
    size: o.Size = None,
    model: o.Model = None,
    response_format: o.Format = None,
    output: o.Output = None,
    base_url: o.BaseUrl = None,
    timeout: o.Timeout = None,
    connect_timeout: o.ConnectTimeout = None,
    retries: o.Retries = None,
    retry_server_errors: o.RetryServerErrors = False,
    save_metadata: o.SaveMetadata = False,
    param: o.Param = None,
    json_out: o.Json = False,
    dry_run: o.DryRun = False,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
) -> None:
    """Run many edits (and generations) from a JSON Lines jobs file, resumably.

    Each line: {"images": ["a.png"], "prompt": "...", "id": "...", "ratio": "5:4", ...}.
    A job without images is a generate job. Options give defaults for what jobs leave out.
    """
    opts = ImageOptions.of(locals())
    from .batch_run import run_jobs_file

    run_jobs_file(
        jobs, opts, concurrency=concurrency, results=results, resend_unknown=resend_unknown
    )
