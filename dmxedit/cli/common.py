"""Steps every image command shares: prompt sources, settings, output target, printing."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import InputError
from .output import emit_json, emit_lines
from .state import state

if TYPE_CHECKING:
    from ..settings import Settings


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


@dataclass
class ImageOptions:
    """The options edit, generate and batch share, as the user gave them."""

    prompt: str | None = None
    prompt_file: str | None = None
    ratio: str | None = None
    size: str | None = None
    model: str | None = None
    response_format: str | None = None
    output: str | None = None
    base_url: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    retries: int | None = None
    retry_server_errors: bool = False
    save_metadata: bool = False
    param: list[str] | None = None
    json_out: bool = False
    dry_run: bool = False
    quiet: bool = False
    verbose: bool = False

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> ImageOptions:
        """From a command's parameters (its ``locals()``): the ones this class holds."""
        names = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in params.items() if name in names})

    def begin(self) -> None:
        """Record how errors should be shown for this command."""
        state.json, state.quiet, state.verbose = self.json_out, self.quiet, self.verbose

    def settings(self) -> Settings:
        """Settings with these options as flags; warnings go to stderr."""
        from ..settings import resolve

        settings = resolve(
            {
                "base-url": self.base_url,
                "model": self.model,
                "output": None if self.output == "-" else self.output,
                "ratio": self.ratio,
                "size": self.size,
                "format": self.response_format,
                "timeout": self.timeout,
                "connect-timeout": self.connect_timeout,
                "retries": self.retries,
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


__all__ = ["Stdin", "ImageOptions", "read_prompt", "stdout_target", "emit_json", "emit_lines"]
