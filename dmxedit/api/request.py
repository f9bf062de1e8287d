"""Turning settings and arguments into one validated request (SPEC sections 1 and 2).

Everything is checked here, before any network traffic. The result describes exactly
what will be sent; ``client.py`` sends it and ``describe``/``curl`` show it for
``--dry-run``.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dmxedit.core.catalog import (
    DEFAULT_MODEL,
    FORMATS,
    MAX_PROMPT_CHARS,
    RATIOS,
    check_size,
    closest_ratio,
    parse_ratio,
)
from dmxedit.core.errors import InputError, all_problems
from dmxedit.core.settings import Settings, mask
from dmxedit.core.text import undecodable
from dmxedit.media.inputs import InputImage

Kind = Literal["edit", "generate"]
ENDPOINTS: dict[Kind, str] = {"edit": "/images/edits", "generate": "/images/generations"}
RESERVED = {
    "image": "give images as arguments",
    "prompt": "use -p/--prompt",
    "n": "dmxedit always asks for one image",
    "model": "use -m/--model",
    "aspect_ratio": "use -r/--ratio",
    "size": "use -s/--size",
    "response_format": "use --format",
}


def check_text(what: str, text: str) -> str:
    """A text that goes to the API as it is: it must be text (bytes that are not UTF-8,
    from a command line or a file name in another encoding, cannot be sent)."""
    if undecodable(text):
        raise InputError(
            f"The {what} holds bytes that are not UTF-8 text; it cannot be sent.",
            hint="Give it as UTF-8 text (a file in another encoding: convert it first).",
        )
    return text


def check_prompt(text: str | None) -> str:
    """The prompt with surrounding whitespace removed; 1-32000 characters."""
    if text is None:
        raise InputError(
            "No prompt given.", hint="Use -p TEXT, -p - (standard input) or --prompt-file."
        )
    stripped = text.strip()
    if not stripped:
        raise InputError("The prompt is empty.", hint="Say what to change, e.g. -p 'make it snow'.")
    if len(stripped) > MAX_PROMPT_CHARS:
        raise InputError(
            f"The prompt has {len(stripped)} characters; the API takes at most {MAX_PROMPT_CHARS}."
        )
    return check_text("prompt", stripped)


def check_format(value: str | None) -> str:
    value = value or "url"
    if value not in FORMATS:
        raise InputError(f"Format {value!r} is not one of {', '.join(FORMATS)}.")
    return value


def check_ratio(value: str | None, model: str, images: Sequence[InputImage] = ()) -> str | None:
    """The aspect ratio to send: from the table for nano-banana-2, any W:H otherwise;
    ``auto`` picks the table ratio closest to the first image's shape."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.lower() == "auto":
        if not images:
            raise InputError(
                "--ratio auto needs an input image to take the shape from.",
                hint=f"Give a ratio such as 1:1 or 16:9 ({' '.join(RATIOS)}).",
            )
        first = images[0]
        if first.width is None or first.height is None:
            raise InputError(
                f"Cannot read the width and height of {first.display!r} for --ratio auto.",
                hint="Give the ratio yourself, e.g. --ratio 4:3.",
            )
        return closest_ratio(first.width, first.height)
    shape = parse_ratio(value)
    if shape is None:
        raise InputError(
            f"Ratio {value!r} is not W:H (e.g. 5:4).", hint=f"Known: {' '.join(RATIOS)}."
        )
    canonical = f"{shape[0]}:{shape[1]}"
    if model == DEFAULT_MODEL and canonical not in RATIOS:
        raise InputError(
            f"Ratio {value!r} is not one that {DEFAULT_MODEL} makes.",
            hint=f"Use one of {' '.join(RATIOS)} (see `dmxedit ratios`), or auto.",
        )
    return canonical


def check_params(raw: Sequence[str]) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings -> pairs; fields dmxedit sets itself are refused."""
    pairs: list[tuple[str, str]] = []
    for item in raw:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                f"--param {item!r} is not KEY=VALUE.", hint="e.g. --param quality=high"
            )
        if key in RESERVED:
            raise InputError(f"--param {key} is set by dmxedit: {RESERVED[key]}.")
        pairs.append((check_text("--param key", key), check_text(f"--param {key}", value)))
    return pairs


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def json_param(value: str) -> Any:
    """A --param value in a JSON body: a number only in JSON's own number syntax
    (``007`` and ``1_000`` stay texts), ``true``/``false`` as booleans."""
    text = value.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _JSON_NUMBER.fullmatch(text):
        number = json.loads(text)
        if isinstance(number, int) or math.isfinite(number):
            return number
    return value


@dataclass(frozen=True)
class ImageRequest:
    """One fully checked request: what ``edit`` or ``generate`` will send."""

    kind: Kind
    base_url: str
    prompt: str
    model: str
    ratio: str | None
    size: str | None
    response_format: str
    params: tuple[tuple[str, str], ...] = ()
    images: tuple[InputImage, ...] = field(default=())

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + ENDPOINTS[self.kind]

    @property
    def prefix(self) -> str:
        return "edited" if self.kind == "edit" else "generated"

    def fields(self) -> list[tuple[str, str]]:
        """The form fields of an edit, in the order they are sent."""
        out = [("prompt", self.prompt), ("n", "1"), ("model", self.model)]
        if self.ratio:
            out.append(("aspect_ratio", self.ratio))
        if self.size:
            out.append(("size", self.size))
        out.append(("response_format", self.response_format))
        out.extend(self.params)
        return out

    def json_body(self) -> dict[str, Any]:
        """The JSON body of a generation."""
        body: dict[str, Any] = {"model": self.model, "prompt": self.prompt, "n": 1}
        if self.ratio:
            body["aspect_ratio"] = self.ratio
        if self.size:
            body["size"] = self.size
        body["response_format"] = self.response_format
        for key, value in self.params:
            body[key] = json_param(value)
        return body

    def options(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt": self.prompt,
            "aspect_ratio": self.ratio,
            "size": self.size,
            "response_format": self.response_format,
            "params": dict(self.params),
        }

    def describe(self, api_key: str | None) -> dict[str, Any]:
        """The request for ``--dry-run``, the key masked."""
        headers = {"Authorization": f"Bearer {mask(api_key) if api_key else '<no key set>'}"}
        out: dict[str, Any] = {"method": "POST", "url": self.url, "headers": headers}
        if self.kind == "edit":
            headers["Content-Type"] = "multipart/form-data; boundary=..."
            out["fields"] = [{"name": k, "value": v} for k, v in self.fields()]
            out["files"] = [
                {
                    "name": "image",
                    "path": img.display,
                    "filename": img.filename,
                    "content_type": img.content_type,
                    "bytes": img.size,
                    "width": img.width,
                    "height": img.height,
                    **(
                        {"source_content_type": img.plan.source_type, "changes": img.plan.changes}
                        if img.plan is not None
                        else {}
                    ),
                }
                for img in self.images
            ]
        else:
            headers["Content-Type"] = "application/json"
            out["json"] = self.json_body()
        return out

    def curl(self) -> str:
        """An equivalent curl command; the key comes from $DMXAPI_API_KEY, never inline."""
        lines = [
            f"curl -sS -X POST {shlex.quote(self.url)}",
            '-H "Authorization: Bearer $DMXAPI_API_KEY"',
        ]
        if self.kind == "edit":
            for key, value in self.fields():
                # --form-string: a value starting with @ or < is sent as text, not a file.
                lines.append(f"--form-string {shlex.quote(f'{key}={value}')}")
            for img in self.images:
                source = "-" if img.data is not None else img.display
                if img.prepared is not None and img.path is not None:
                    source = str(img.path)  # the converted file (SPEC 9), not the original
                lines.append(f"-F {shlex.quote(f'image=@{source};type={img.content_type}')}")
        else:
            lines.append("-H 'Content-Type: application/json'")
            lines.append(
                f"--data-binary {shlex.quote(json.dumps(self.json_body(), ensure_ascii=False))}"
            )
        return " \\\n  ".join(lines)


def build_request(
    kind: Kind,
    settings: Settings,
    *,
    prompt: str | None,
    params: Sequence[str] = (),
    images: Sequence[InputImage] = (),
) -> ImageRequest:
    """Check the prompt, the options in effect and the images; raises one
    :class:`InputError` naming every problem found."""
    model = settings.model.strip() or DEFAULT_MODEL
    ratio = settings.ratio
    problems: list[InputError] = []

    def checked(check: Callable[[], Any]) -> Any:
        try:
            return check()
        except InputError as exc:
            problems.append(exc)
            return None

    if kind == "generate" and ratio is not None and ratio.strip().lower() == "auto":
        problems.append(
            InputError(
                "--ratio auto needs an input image; generate has none.",
                hint="Give a ratio such as 1:1 or 16:9 (see `dmxedit ratios`).",
            )
        )
        ratio = None
    checked(lambda: check_text("model name", model))
    fields = {
        "prompt": checked(lambda: check_prompt(prompt)),
        "ratio": checked(lambda: check_ratio(ratio, model, images)),
        "size": checked(lambda: check_size(settings.size)),
        "response_format": checked(lambda: check_format(settings.response_format)),
        "params": checked(lambda: tuple(check_params(params))),
    }
    if problems:
        raise all_problems(problems)
    return ImageRequest(
        kind=kind, base_url=settings.base_url, model=model, images=tuple(images), **fields
    )
