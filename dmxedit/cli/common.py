"""Steps the image commands share: the prompt's sources, the ``-o -`` target, --dry-run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

from dmxedit.api.request import ImageRequest
from dmxedit.cli.context import RunContext
from dmxedit.core.errors import InputError


def read_prompt(ctx: RunContext, prompt: str | None, prompt_file: str | None) -> str | None:
    """The prompt from -p TEXT, -p - or --prompt-file (exactly one of them)."""
    if prompt is not None and prompt_file is not None:
        raise InputError("Give the prompt with -p or --prompt-file, not both.")
    if prompt == "-" or prompt_file == "-":
        if ctx.stdin_isatty and ctx.stdin_used_by is None:
            from dmxedit.cli import ui

            ui.note(ctx, "Reading the prompt from standard input (end it with Ctrl-D)...")
        return ctx.read_stdin_text("prompt")
    if prompt_file is not None:
        try:
            return Path(prompt_file).expanduser().read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"Prompt file {prompt_file!r} does not exist.") from None
        except UnicodeDecodeError:
            raise InputError(f"Prompt file {prompt_file!r} is not UTF-8 text.") from None
        except OSError as exc:
            raise InputError(
                f"Prompt file {prompt_file!r} cannot be read: {exc.strerror or exc}."
            ) from None
    return prompt


def stdout_target(ctx: RunContext, output: str | None) -> BinaryIO | None:
    """The binary stdout for ``-o -``; refused on a terminal or with --json."""
    if output != "-":
        return None
    if ctx.json:
        raise InputError("-o - and --json both want standard output; choose one.")
    if ctx.stdout_isatty:
        raise InputError(
            "-o - writes image bytes to standard output, which is a terminal here.",
            hint="Redirect it (-o - > out.png) or pipe it to another program.",
        )
    return ctx.stdout_bytes


def dry_run(ctx: RunContext, request: ImageRequest, api_key: str | None) -> None:
    """Print the request that would be sent (key masked) and an equivalent curl command."""
    described = request.describe(api_key)
    if ctx.json:
        ctx.emit_json({"dry_run": True, "request": described, "curl": request.curl()})
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
        "# the same request with curl (reads the key from $DMXAPI_API_KEY):",
        request.curl(),
    ]
    prepared = [p["path"] for p in described.get("files", []) if "changes" in p]
    if prepared:
        lines.append(
            f"# curl sends files as they are; dmxedit prepares {', '.join(prepared)} first"
        )
    if api_key and not ctx.env.get("DMXAPI_API_KEY"):
        lines += [
            "# your key is in the config file; to run it, first:",
            '#   export DMXAPI_API_KEY="$(dmxedit config get api-key --reveal)"',
        ]
    if not api_key:
        from dmxedit.cli import ui

        ui.warn(ctx, "no API key is set; a real run would stop here (exit 3).")
    ctx.emit_lines(lines, multiline=True)
