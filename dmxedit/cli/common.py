"""Steps every image command shares: prompt sources, settings, output target, printing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError
from ..settings import Settings, resolve
from .state import state


class Stdin:
    """Standard input, read at most once (an image, a prompt or a jobs file)."""

    def __init__(self) -> None:
        self.claimed_by: str | None = None

    def claim(self, what: str) -> None:
        if self.claimed_by is not None:
            raise InputError(
                f"Standard input is already used for the {self.claimed_by}; "
                f"it cannot also give the {what}."
            )
        self.claimed_by = what

    def read_bytes(self) -> bytes:
        from ..images import read_limited

        return read_limited(sys.stdin.buffer, "standard input")

    def read_text(self) -> str:
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("Standard input is not UTF-8 text.") from None


def read_prompt(prompt: str | None, prompt_file: str | None, stdin: Stdin) -> str | None:
    """The prompt from -p TEXT, -p - or --prompt-file (exactly one of them)."""
    if prompt is not None and prompt_file is not None:
        raise InputError("Give the prompt with -p or --prompt-file, not both.")
    if prompt == "-":
        stdin.claim("prompt")
        return stdin.read_text()
    if prompt_file is not None:
        if prompt_file == "-":
            stdin.claim("prompt")
            return stdin.read_text()
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


def settings_from(
    *,
    base_url: str | None,
    model: str | None,
    output: str | None,
    ratio: str | None,
    size: str | None,
    response_format: str | None,
    timeout: float | None,
    connect_timeout: float | None,
    retries: int | None,
) -> Settings:
    settings = resolve(
        {
            "base-url": base_url,
            "model": model,
            "output": None if output == "-" else output,
            "ratio": ratio,
            "size": size,
            "format": response_format,
            "timeout": timeout,
            "connect-timeout": connect_timeout,
            "retries": retries,
        }
    )
    if settings.warnings:
        from .. import ui

        for message in settings.warnings:
            ui.warn(message)
    return settings


def stdout_target(output: str | None) -> BinaryIO | None:
    """The binary stdout for ``-o -``; refused on a terminal or with --json."""
    if output != "-":
        return None
    if state.json:
        raise InputError("-o - and --json both want standard output; choose one.")
    if sys.stdout.isatty():
        raise InputError(
            "-o - writes image bytes to standard output, which is a terminal here.",
            hint="Redirect it (-o - > out.png) or pipe it to another program.",
        )
    return sys.stdout.buffer


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def emit_lines(lines: list[str]) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
