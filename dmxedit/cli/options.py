"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

Prompt = Annotated[
    str | None,
    typer.Option(
        "-p", "--prompt", metavar="TEXT", help="What to do; '-' reads it from standard input."
    ),
]
PromptFile = Annotated[
    str | None, typer.Option("--prompt-file", help="Read the prompt from a file.", metavar="PATH")
]
Ratio = Annotated[
    str | None,
    typer.Option(
        "-r", "--ratio", help="Aspect ratio, e.g. 5:4 (see `dmxedit ratios`).", metavar="RATIO"
    ),
]
Size = Annotated[
    str | None,
    typer.Option("-s", "--size", help="Output size: 1K, 2K or 4K (any case).", metavar="SIZE"),
]
Model = Annotated[
    str | None,
    typer.Option("-m", "--model", help="Model [default: nano-banana-2].", metavar="NAME"),
]
Format = Annotated[
    str | None,
    typer.Option(
        "--format", help="Response format: url or b64_json [default: url].", metavar="url|b64_json"
    ),
]
Output = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        help="Output folder [default: output]; '-' writes the image to standard output.",
        metavar="DIR",
    ),
]
BaseUrl = Annotated[
    str | None, typer.Option("--base-url", help="API base URL, including /v1.", metavar="URL")
]
Timeout = Annotated[
    float | None,
    typer.Option(
        "--timeout", help="Seconds to wait for the answer [default: 600].", metavar="SECONDS"
    ),
]
ConnectTimeout = Annotated[
    float | None,
    typer.Option(
        "--connect-timeout",
        help="Seconds to wait for a connection [default: 10].",
        metavar="SECONDS",
    ),
]
Retries = Annotated[
    int | None,
    typer.Option(
        "--retries", help="Retries of calls that are safe to retry [default: 2].", metavar="N"
    ),
]
RetryServerErrors = Annotated[
    bool,
    typer.Option(
        "--retry-server-errors", help="Also resend after a 5xx or a timeout (may be billed twice)."
    ),
]
SaveMetadata = Annotated[
    bool, typer.Option("--save-metadata", help="Write <image>.json beside each image.")
]
Param = Annotated[
    list[str] | None,
    typer.Option(
        "--param", help="Extra request field KEY=VALUE (repeatable).", metavar="KEY=VALUE"
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on standard output.")]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Check everything, print the request and a curl command; send nothing."
    ),
]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Print less on standard error.")]
Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="Print more on standard error.")]
Concurrency = Annotated[
    int, typer.Option("--concurrency", help="Jobs running at once.", metavar="N", min=1, max=64)
]
Results = Annotated[
    str | None,
    typer.Option(
        "--results",
        help="Results file (JSON Lines) [batch default: JOBS.results.jsonl].",
        metavar="FILE",
    ),
]
ResendUnknown = Annotated[
    bool,
    typer.Option(
        "--resend-unknown",
        help="Send again jobs cut off after their request went out (may bill twice).",
    ),
]
