"""Steps the image commands share: the prompt's sources, the ``-o -`` target, --dry-run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dmxedit.cli.context import RunContext
from dmxedit.core.env import has_key
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import N_, T

if TYPE_CHECKING:
    from dmxedit.api.request import ImageRequest  # the request module is not light


def read_prompt(ctx: RunContext, prompt: str | None, prompt_file: str | None) -> str | None:
    """The prompt from -p TEXT, -p - or --prompt-file (exactly one of them)."""
    if prompt is not None and prompt_file is not None:
        raise InputError(T("Give the prompt with -p or --prompt-file, not both."))
    if prompt == "-" or prompt_file == "-":
        if ctx.stdin_isatty and ctx.stdin_used_by is None:
            from dmxedit.cli import ui

            ui.note(ctx, T("Reading the prompt from standard input (end it with Ctrl-D)..."))
        return ctx.read_stdin_text(N_("prompt"))
    if prompt_file is not None:
        try:
            return Path(prompt_file).expanduser().read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(T("Prompt file {path!r} does not exist.", path=prompt_file)) from None
        except UnicodeDecodeError:
            raise InputError(
                T("Prompt file {path!r} is not UTF-8 text.", path=prompt_file)
            ) from None
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise InputError(
                T("Prompt file {path!r} cannot be read: {why}.", path=prompt_file, why=why)
            ) from None
    return prompt


def stdout_target(ctx: RunContext, output: str | None) -> BinaryIO | None:
    """The binary stdout for ``-o -``; refused on a terminal or with --json."""
    if output != "-":
        return None
    if ctx.json:
        raise InputError(T("-o - and --json both want standard output; choose one."))
    if ctx.stdout_isatty:
        raise InputError(
            T("-o - writes image bytes to standard output, which is a terminal here."),
            hint=T("Redirect it (-o - > out.png) or pipe it to another program."),
        )
    return ctx.stdout_bytes


def converted_for_curl(ctx: RunContext, request: ImageRequest) -> tuple[ImageRequest, list[str]]:
    """The request with every input that dmxedit would convert before upload (SPEC 9)
    converted now, into a folder that stays, so that the curl command sends the same
    bytes as dmxedit would; the files made (none when no input needs it)."""
    from dmxedit.media.inputs import Plan

    if not any(isinstance(img.plan, Plan) for img in request.images):
        return request, []
    import os
    import tempfile
    from dataclasses import replace

    from dmxedit.cli import ui
    from dmxedit.media.prepare import discard, prepare_images

    sent, made = prepare_images(request.images, ctx.temporaries, ui.make_events(ctx))
    folder = Path(tempfile.mkdtemp(prefix="dmxedit-dry-run-"))
    images = []
    kept: list[str] = []
    try:
        for img in sent:
            if img.prepared is None or img.path is None:
                images.append(img)
                continue
            target = folder / img.filename
            n = 1
            while target.exists():  # two inputs of the same name
                n += 1
                target = folder / f"{Path(img.filename).stem}-{n}{Path(img.filename).suffix}"
            os.replace(img.path, target)
            ctx.temporaries.untrack(str(img.path))
            kept.append(str(target))
            images.append(replace(img, path=target))
    except OSError as exc:
        raise InputError(
            T(
                "The converted input could not be kept in {folder}: {error}.",
                folder=folder,
                error=exc,
            )
        ) from None
    finally:
        for name in made:  # any not moved (an error above)
            if os.path.exists(name):
                discard(name, ctx.temporaries)
    return replace(request, images=tuple(images)), kept


def dry_run(ctx: RunContext, request: ImageRequest, api_key: str | None) -> None:
    """Print the request that would be sent (key masked) and an equivalent curl command:
    an input dmxedit converts before upload is converted now, so that curl sends it too."""
    from dmxedit.api import doors  # the bodies: only a dry run needs them here
    from dmxedit.cli import ui

    described = doors.describe(request, api_key)
    converted, kept = converted_for_curl(ctx, request)
    if ctx.json:
        out = {"dry_run": True, "request": described, "curl": doors.curl(converted)}
        if kept:
            out["converted_files"] = kept
        ctx.emit_json(out)
        return
    lines = [f"POST {described['url']}"]
    lines += [f"{k}: {v}" for k, v in described["headers"].items()]
    lines.append("")
    for field in described.get("fields", []):
        lines.append(f"{field['name']} = {field['value']!r}")
    for part in described.get("files", []):
        shape = f", {part['width']}x{part['height']}" if part["width"] else ""
        if "changes" in part:  # prepared before upload (SPEC 9): the planned result
            lines.append(
                f"image = @{part['path']} ({part['source_content_type']}, {part['bytes']} "
                f"bytes; sent as {part['content_type']}{shape}: {', '.join(part['changes'])})"
            )
            continue
        lines.append(
            f"image = @{part['path']} ({part['content_type']}, {part['bytes']} bytes{shape})"
        )
    if "json" in described:
        lines.append(json.dumps(described["json"], ensure_ascii=False, indent=2))
    lines += [
        "",
        ui.words(T("# the same request with curl (reads the key from $DMXAPI_API_KEY):")),
        doors.curl(converted),
    ]
    for img, path in zip((i for i in converted.images if i.prepared), kept, strict=True):
        lines.append(
            ui.words(
                T(
                    "# {image} was converted for this command as dmxedit converts it before "
                    "upload; curl sends {path} (delete it when done)",
                    image=img.display,
                    path=path,
                )
            )
        )
    if api_key and not has_key(ctx.env):
        lines += [
            ui.words(T("# your key is in the config file; to run it, first:")),
            '#   export DMXAPI_API_KEY="$(dmxedit config get api-key --reveal)"',
        ]
    if not api_key:
        ui.warn(ctx, T("no API key is set; a real run would stop here (exit 3)."))
    ctx.emit_lines(lines, multiline=True)


def deliver(ctx: RunContext, write: Callable[[], None], lines: list[str]) -> None:
    """Write data to standard output with ``write``; when that fails in any way (full,
    closed, a pipe gone), ``lines`` (the saved paths and URLs) go to standard error and
    the run ends with OutputError (non-zero): a saved result's path is never lost."""
    try:
        write()
    except Exception as exc:  # noqa: BLE001 - whatever stdout did, the paths go to stderr
        for line in lines:
            try:
                print(f"dmxedit: result: {line}", file=ctx.stderr, flush=True)  # for scripts
            except Exception:  # noqa: BLE001, S110 - both streams gone: the ledger has them
                pass
        from dmxedit.core.errors import OutputError

        what = type(exc).__name__ + ": " + str(exc)
        if lines:
            message = T(
                "Standard output could not be written ({error}); the saved paths are on "
                "standard error above.",
                error=what,
            )
        else:
            message = T(
                "Standard output could not be written ({error}); nothing that was saved is "
                "missing.",
                error=what,
            )
        raise OutputError(message) from None
