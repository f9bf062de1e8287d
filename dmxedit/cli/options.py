"""Options shared by several commands, declared once, and the decorator that gives a
command its shared options and its run context.

``SHARED`` maps each field of :class:`dmxedit.core.options.ImageOptions` that the command
line offers to its Typer declaration; :func:`command` adds them (and the output flags)
to a command's signature and hands the function one ``ImageOptions`` and the
:class:`~dmxedit.cli.context.RunContext`, so no command repeats the list.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from dmxedit.cli.context import RunContext
from dmxedit.core.catalog import DEFAULT_MODEL
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.core.options import ImageOptions

Prompt = Annotated[
    str | None,
    typer.Option(
        "-p", "--prompt", metavar="TEXT", help="What to do; '-' reads it from standard input."
    ),
]
PromptFile = Annotated[
    str | None,
    typer.Option(
        "--prompt-file", help="Read the prompt from a file ('-': standard input).", metavar="PATH"
    ),
]
Ratio = Annotated[
    str | None,
    typer.Option(
        "-r",
        "--ratio",
        help="Aspect ratio, e.g. 5:4 (see `dmxedit ratios`); auto: the first image's shape.",
        metavar="RATIO",
    ),
]
Size = Annotated[
    str | None,
    typer.Option("-s", "--size", help="Output size: 1K, 2K or 4K (any case).", metavar="SIZE"),
]
Model = Annotated[
    str | None,
    typer.Option("-m", "--model", help=f"Model [default: {DEFAULT_MODEL}].", metavar="NAME"),
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
        help="Output folder [default: output]; NAME.png (.jpg, .jpeg, .webp) saves the one "
        "image as exactly that file; '-' writes it to standard output.",
        metavar="DIR|FILE",
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="API base URL, including /v1 [default: https://www.dmxapi.cn/v1; env "
        "DMXAPI_BASE_URL].",
        metavar="URL",
    ),
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
DownloadTimeout = Annotated[
    float | None,
    typer.Option(
        "--download-timeout",
        help="Seconds a result download may take in all [default: 300].",
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
MaxSide = Annotated[
    int | None,
    typer.Option(
        "--max-side",
        help="Downscale input images whose long side is over N pixels (needs dmxedit[images]).",
        metavar="N",
    ),
]
Name = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="File name template: {stem} {ts} {i} {id} {variant} {ratio} {size} {model}; "
        "the extension comes from the image [default: edited_{ts}_{i}].",
        metavar="TEMPLATE",
    ),
]
Continue = Annotated[
    str | None,
    typer.Option(
        "--continue",
        help="Continue the conversation of ledger entry @last or @N (gemini-door models): "
        "the model sees the earlier turns.",
        metavar="@last|@N",
    ),
]
Variants = Annotated[
    int,
    typer.Option(
        "--variants",
        help="Make N candidates at once (1-16), saved as N files (runs as a batch).",
        metavar="N",
        min=1,
        max=16,
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
    str,
    typer.Option(
        "--concurrency",
        help="Jobs running at once (1-64), or auto: start at 2, adapt to the API's 429s.",
        metavar="N|auto",
    ),
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

Each = Annotated[
    bool, typer.Option("--each", help="One job per image, same prompt (runs as a batch).")
]

#: ImageOptions field -> (its Typer declaration, the default on the command line).
SHARED: dict[str, tuple[Any, Any]] = {
    "ratio": (Ratio, None),
    "size": (Size, None),
    "model": (Model, None),
    "response_format": (Format, None),
    "output": (Output, None),
    "base_url": (BaseUrl, None),
    "timeout": (Timeout, None),
    "connect_timeout": (ConnectTimeout, None),
    "download_timeout": (DownloadTimeout, None),
    "retries": (Retries, None),
    "retry_server_errors": (RetryServerErrors, False),
    "save_metadata": (SaveMetadata, False),
    "params": (Param, None),
    "max_side": (MaxSide, None),
    "name": (Name, None),
}


def shared() -> dict[str, tuple[Any, Any]]:
    """Every shared image option: :data:`SHARED` and the model options of SPEC 12
    (:mod:`dmxedit.cli.modeloptions`, whose help is read from the model table: imported
    only by the commands that take them, so `config` and `ratios` start light)."""
    from dmxedit.cli.modeloptions import MODEL_OPTIONS

    return {**SHARED, **MODEL_OPTIONS}


#: What edit, generate and batch take besides the image options, passed through as is.
PROMPT: dict[str, tuple[Any, Any]] = {
    "prompt": (Prompt, None),
    "prompt_file": (PromptFile, None),
    "dry_run": (DryRun, False),
}
#: What batch and `edit --each` take besides: passed through as they are.
BATCH: dict[str, tuple[Any, Any]] = {
    "concurrency": (Concurrency, "4"),
    "results": (Results, None),
    "resend_unknown": (ResendUnknown, False),
}
#: The output flags, handled here once: they set the run context's mode.
FLAGS: dict[str, tuple[Any, Any]] = {
    "json_out": (Json, False),
    "quiet": (Quiet, False),
    "verbose": (Verbose, False),
}


FolderOnly = Annotated[
    str | None,
    typer.Option("-o", "--output", help="Output folder [default: output].", metavar="DIR"),
]


def command(
    *,
    image_options: bool = False,
    json: bool = False,
    quiet: bool = False,
    batch: bool = False,
    replace: dict[str, tuple[Any, Any]] | None = None,
    skip: tuple[str, ...] = (),
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command its context (``ctx``), and with ``image_options`` the shared image
    options (as ``options``) and the prompt options; ``json``/``quiet`` add --json and
    -q/-v, which set the context's output mode before the command runs; ``batch`` adds
    --concurrency, --results and --resend-unknown (passed through). ``replace`` gives
    a shared option another declaration for this command (batch's -o takes no '-');
    ``skip`` leaves shared options out (generate has no input images to --max-side)."""

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        added: dict[str, tuple[Any, Any]] = {}
        if image_options:
            added.update(PROMPT)
            added.update(shared())
        if json:
            added["json_out"] = FLAGS["json_out"]
        if quiet:
            added.update({k: FLAGS[k] for k in ("quiet", "verbose")})
        if batch:
            added.update(BATCH)
        added.update(replace or {})  # a command's own wording of a shared option
        for name in skip:
            added.pop(name, None)
        own = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.name not in _GIVEN and p.name not in added
        ]
        hints = inspect.get_annotations(func, eval_str=True)
        mine = [p.replace(annotation=hints[p.name], kind=p.KEYWORD_ONLY) for p in own]
        keyword = inspect.Parameter.KEYWORD_ONLY
        # In --help: the arguments, the shared options, then the command's own options.
        params = [inspect.Parameter("typer_ctx", keyword, annotation=typer.Context)]
        params += [p for p in mine if p.default is inspect.Parameter.empty]
        params += [
            inspect.Parameter(name, keyword, annotation=kind, default=value)
            for name, (kind, value) in added.items()
        ]
        params += [p for p in mine if p.default is not inspect.Parameter.empty]

        wants_typer_ctx = "typer_ctx" in inspect.signature(func).parameters

        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> None:
            typer_ctx = kwargs.pop("typer_ctx")
            ctx = typer_ctx.obj
            assert isinstance(ctx, RunContext)
            if wants_typer_ctx:
                kwargs["typer_ctx"] = typer_ctx
            ctx.json = kwargs.pop("json_out", False)
            ctx.quiet = kwargs.pop("quiet", False)
            ctx.verbose = kwargs.pop("verbose", False)
            if ctx.quiet and ctx.verbose:
                raise InputError(
                    T("-q/--quiet and -v/--verbose contradict each other; choose one.")
                )
            if image_options:
                given = {name: kwargs.pop(name) for name in shared() if name in added}
                given["params"] = tuple(given.get("params") or ())
                kwargs["options"] = ImageOptions(**given)
            func(ctx=ctx, **kwargs)

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # Typer must read the signature above, not func's
        return wrapper

    return decorate


_GIVEN = ("ctx", "options", "typer_ctx")
