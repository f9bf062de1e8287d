"""`dmxedit edit` and `dmxedit generate`: one request, one result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import options as o
from .common import ImageOptions, Stdin, emit_json, emit_lines, read_prompt, stdout_target


def _run(kind: str, images: list[str], opts: ImageOptions) -> None:
    from .. import ui
    from ..catalog import WARN_IMAGES
    from ..core import execute, make_client
    from ..images import load_images
    from ..request import request_from_settings
    from ..results import Saver

    opts.begin()
    stdin = Stdin()
    text = read_prompt(opts.prompt, opts.prompt_file, stdin)
    if "-" in images:
        stdin.claim("image")
    settings = opts.settings()
    checked = load_images(images, stdin.read_bytes) if kind == "edit" else []
    request = request_from_settings(
        "edit" if kind == "edit" else "generate",
        settings,
        prompt=text,
        params=opts.param or [],
        images=checked,
    )
    stream = stdout_target(opts.output)
    if len(checked) > WARN_IMAGES:
        ui.warn(
            f"{len(checked)} images: the endpoint documents 16, but one page of the "
            f"provider's documentation says {WARN_IMAGES}."
        )
    if opts.dry_run:
        _dry_run(request, settings.api_key, opts.json_out)
        return
    saver = Saver(
        folder=None if stream is not None else Path(settings.get("output")),
        prefix=request.prefix,
        stream=stream,
    )
    events = ui.make_events(quiet=opts.quiet, verbose=opts.verbose)
    client = make_client(settings, events=events, retry_server_errors=opts.retry_server_errors)
    saver.prepare()
    events.info(f"POST {request.url} (key from {settings.sources['api-key']})")
    try:
        result = execute(request, client, saver, events=events, save_metadata=opts.save_metadata)
    finally:
        client.close()
        close = getattr(events, "close", None)
        if close is not None:
            close()
    if opts.json_out:
        emit_json(result.to_dict())
    elif stream is None:
        emit_lines([str(p) for p in result.files])


def _dry_run(request: object, api_key: str | None, json_out: bool) -> None:
    from ..request import ImageRequest

    assert isinstance(request, ImageRequest)
    described = request.describe(api_key)
    if json_out:
        emit_json({"dry_run": True, "request": described, "curl": request.curl()})
        return
    lines = [f"POST {described['url']}"]
    lines += [f"{k}: {v}" for k, v in described["headers"].items()]
    lines.append("")
    for field in described.get("fields", []):
        lines.append(f"{field['name']} = {field['value']!r}")
    for part in described.get("files", []):
        shape = f", {part['width']}x{part['height']}" if part["width"] else ""
        lines.append(
            f"image = @{part['path']} ({part['content_type']}, {part['bytes']} bytes{shape})"
        )
    if "json" in described:
        import json

        lines.append(json.dumps(described["json"], ensure_ascii=False, indent=2))
    lines += [
        "",
        "# the same request with curl (reads the key from $DMXAPI_API_KEY):",
        request.curl(),
    ]
    if not api_key:
        from .. import ui

        ui.warn("no API key is set; a real run would stop here (exit 3).")
    emit_lines(lines)


def edit(
    images: Annotated[
        list[str],
        typer.Argument(
            help="1-16 PNG, JPEG or WebP files; '-' reads one from standard input.",
            metavar="IMAGE...",
            show_default=False,
        ),
    ],
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
    each: Annotated[
        bool, typer.Option("--each", help="One job per image, same prompt (runs as a batch).")
    ] = False,
    concurrency: o.Concurrency = 4,
    results: o.Results = None,
    resend_unknown: o.ResendUnknown = False,
) -> None:
    """Edit images with a prompt and save the result.

    Example: dmxedit edit photo.png -p "make it snow" --ratio 5:4 --size 4K
    """
    opts = ImageOptions.of(locals())
    if each:
        from .batch_run import run_each

        run_each(
            images, opts, concurrency=concurrency, results=results, resend_unknown=resend_unknown
        )
        return
    if results is not None or resend_unknown:
        from ..errors import InputError

        raise InputError("--results and --resend-unknown go with --each (or `dmxedit batch`).")
    _run("edit", images, opts)


def generate(
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
    """Make an image from a prompt alone (text to image).

    Example: dmxedit generate -p "a lighthouse at dawn" --ratio 16:9 --size 2K
    """
    _run("generate", [], ImageOptions.of(locals()))
