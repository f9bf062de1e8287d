"""`dmxedit edit` and `dmxedit generate`: parse, one core call, render."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from dmxedit.core.errors import InputError
from dmxedit.core.i18n import N_, T, Text, joined
from dmxedit.core.modelspec import Kind
from dmxedit.core.options import ImageOptions

if TYPE_CHECKING:
    from dmxedit.engine import prepared as prepared_t
    from dmxedit.engine.result import ImageResult
from dmxedit.cli import options as o
from dmxedit.cli.common import deliver, read_prompt, stdout_target
from dmxedit.cli.common import dry_run as show_dry_run
from dmxedit.cli.context import RunContext

#: The stages of `-v`'s timings line as a person reads them.
STAGES = {
    "upload": N_("upload"),
    "wait": N_("wait"),
    "receive": N_("receive"),
    "download": N_("download"),
    "total": N_("total"),
}


def _single(
    ctx: RunContext,
    kind: Kind,
    images: list[str],
    options: ImageOptions,
    prompt: str | None,
    prompt_file: str | None,
    dry_run: bool,
    continue_ref: str | None = None,
) -> None:
    from dmxedit.cli import ui
    from dmxedit.engine.prepared import prepare, warnings_for  # no HTTP: --dry-run stays light

    if "-" in images and ctx.stdin_isatty:
        ui.note(ctx, T("Reading the image from standard input (end it with Ctrl-D)..."))
    # The image claims standard input first, so `-p -` then says it is taken.
    stdin_image = ctx.read_stdin_image() if "-" in images else None
    text = read_prompt(ctx, prompt, prompt_file)
    stream = stdout_target(ctx, options.output)
    if stream is not None:
        options = _to_stdout(options)
    prepared = prepare(
        kind,
        images,
        text,
        options,
        read_stdin=(lambda: stdin_image) if stdin_image is not None else None,
        continue_ref=continue_ref,
    )
    if dry_run:
        for message in (*prepared.settings.warnings, *warnings_for(prepared.request)):
            ui.warn(ctx, message)
        show_dry_run(ctx, prepared.request, prepared.settings.api_key)
        return
    result = _send(ctx, prepared, stream)
    paths = [str(p) for p in result.files]
    if ctx.json:
        deliver(ctx, lambda: ctx.emit_json(result.to_dict()), paths)
    elif stream is None:
        deliver(ctx, lambda: ctx.emit_lines(paths), paths)


def _to_stdout(options: ImageOptions) -> ImageOptions:
    """The options of a run whose image goes to standard output (``-o -``)."""
    options = options.merged(output=None)
    if options.save_metadata:
        raise InputError(T("--save-metadata needs an output folder, not -o -."))
    if options.name is not None:
        raise InputError(T("--name names files in a folder; -o - writes to standard output."))
    return options


def _send(ctx: RunContext, prepared: prepared_t.Prepared, stream: Any) -> ImageResult:
    """Run the prepared request with the run's progress (``-v``: the request and the
    timings too)."""
    from dmxedit.cli import ui
    from dmxedit.engine import pipeline

    events = ui.make_events(ctx)
    if ctx.verbose:
        for line in _verbose_request(prepared):
            events.info(line)
    try:
        result = pipeline.run(
            prepared,
            events=events,
            stream=stream,
            temporaries=ctx.temporaries,
            clock=ctx.clock,
            sleep=ctx.sleep,
        )
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
    if ctx.verbose:
        stages = [
            T("{stage} {seconds:.3f} s", stage=Text(STAGES.get(k[:-2], k[:-2])), seconds=v)
            for k, v in result.timings.items()
        ]
        events.info(T("timings: {stages}", stages=joined(stages, ", ")))
    return result


def _verbose_request(prepared: prepared_t.Prepared) -> list[str]:
    """What -v shows before sending: settings with their sources, the request (key masked)."""
    from dmxedit.core.settings import DEFAULT, KEYS, SOURCE_WORDS, display

    settings, request = prepared.settings, prepared.request
    lines: list[str] = []
    for name in KEYS:
        value = display(name, settings.value(name)) or "-"  # as `config list` shows it
        source = settings.sources.get(name, DEFAULT)
        word = Text(SOURCE_WORDS[source]) if source in SOURCE_WORDS else source
        lines.append(T("setting {name} = {value} ({source})", name=name, value=value, source=word))
    if (settings.ratio or "").lower() == "auto" and request.images:
        first = request.images[0]
        lines.append(
            T(
                "--ratio auto picked {ratio} for {image} ({width}x{height})",
                ratio=request.ratio,
                image=first.display,
                width=first.width,
                height=first.height,
            )
        )
    from dmxedit.api import doors

    described = doors.describe(request, settings.api_key)
    lines.append(f"POST {described['url']}")
    lines += [f"  {k}: {v}" for k, v in described["headers"].items()]
    for field in described.get("fields", []):
        lines.append(T("  field {name} = {value!r}", name=field["name"], value=field["value"]))
    for part in described.get("files", []):
        lines.append(
            T(
                "  part image: {path} as {filename!r}, {content_type}, {bytes} bytes",
                path=part["path"],
                filename=part["filename"],
                content_type=part["content_type"],
                bytes=part["bytes"],
            )
        )
    if "json" in described:
        import json

        lines.append(f"  json {json.dumps(described['json'], ensure_ascii=False)}")
    return lines


def _many(
    ctx: RunContext,
    typer_ctx: typer.Context,
    kind: Kind,
    images: list[str],
    options: ImageOptions,
    prompt: str | None,
    prompt_file: str | None,
    dry_run: bool,
    batch: tuple[str, str | None, bool],
    each: bool,
    variants: int,
) -> bool:
    """Run ``--each`` / ``--variants`` on the batch engine; False when neither is asked
    for (the batch-only options are then refused)."""
    concurrency, results, resend_unknown = batch
    source = typer_ctx.get_parameter_source("concurrency")
    given = getattr(source, "name", "DEFAULT") != "DEFAULT"  # typed on the command line
    if not each and variants == 1:
        if results is not None or resend_unknown or given:
            raise InputError(
                T(
                    "--results, --resend-unknown and --concurrency go with --each or "
                    "--variants (or `dmxedit batch`)."
                )
            )
        return False
    if options.output == "-" and variants > 1:
        raise InputError(T("--variants {n} saves {n} files; -o - writes one image.", n=variants))
    from dmxedit.cli.batch_run import BatchFlags, run_each

    if variants > 1 and not given:
        concurrency = str(max(int(concurrency), variants))  # the N candidates at once
    flags = BatchFlags(dry_run, concurrency, results, resend_unknown)
    text = read_prompt(ctx, prompt, prompt_file)
    run_each(ctx, kind, images, options, text, flags, each=each, variants=variants)
    return True


@o.command(image_options=True, json=True, quiet=True, batch=True)
def edit(
    ctx: RunContext,
    typer_ctx: typer.Context,
    options: ImageOptions,
    prompt: str | None,
    prompt_file: str | None,
    dry_run: bool,
    concurrency: str,
    results: str | None,
    resend_unknown: bool,
    images: Annotated[
        list[str] | None,
        typer.Argument(
            help="1-16 PNG, JPEG or WebP files; '-' reads one from standard input "
            "(none with --continue).",
            metavar="IMAGE...",
            show_default=False,
        ),
    ] = None,
    each: o.Each = False,
    variants: o.Variants = 1,
    continue_ref: o.Continue = None,
) -> None:
    """Edit images with a prompt and save the result.

    Example: dmxedit edit photo.png -p "make it snow" --ratio 5:4 --size 4K
    """
    images = list(images or [])
    if continue_ref is not None:
        if each or variants > 1:
            raise InputError(
                T("--continue adds one turn to a thread; it goes without --each/--variants.")
            )
        _single(ctx, "edit", images, options, prompt, prompt_file, dry_run, continue_ref)
        return
    if not images:
        raise InputError(T("No image given."), hint=T("Name 1 to 16 PNG, JPEG or WebP files."))
    batch = (concurrency, results, resend_unknown)
    if _many(
        ctx, typer_ctx, "edit", images, options, prompt, prompt_file, dry_run, batch, each, variants
    ):
        return
    _single(ctx, "edit", images, options, prompt, prompt_file, dry_run)


@o.command(image_options=True, json=True, quiet=True, batch=True, skip=("max_side", "mask"))
def generate(
    ctx: RunContext,
    typer_ctx: typer.Context,
    options: ImageOptions,
    prompt: str | None,
    prompt_file: str | None,
    dry_run: bool,
    concurrency: str,
    results: str | None,
    resend_unknown: bool,
    variants: o.Variants = 1,
) -> None:
    """Make an image from a prompt alone (text to image).

    Example: dmxedit generate -p "a lighthouse at dawn" --ratio 16:9 --size 2K
    """
    batch = (concurrency, results, resend_unknown)
    if _many(
        ctx,
        typer_ctx,
        "generate",
        [],
        options,
        prompt,
        prompt_file,
        dry_run,
        batch,
        False,
        variants,
    ):
        return
    _single(ctx, "generate", [], options, prompt, prompt_file, dry_run)
