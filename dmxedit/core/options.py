"""The image options shared by the library, batch jobs and the command line, typed once.

A field whose name is also a :class:`dmxedit.core.settings.Settings` attribute is a setting:
given (not None) it wins over the environment, the config file and the default
(``settings.resolve`` reads it by that name, the one mapping of options to settings).

Adding a shared option: a field here; a :class:`dmxedit.core.settings.Key` when it is also a
setting; its Typer declaration in ``dmxedit/cli/options.py`` (``SHARED``; a model option's in
``dmxedit/cli/modeloptions.py``); and the code
that uses it. Then regenerate the completions (``scripts/gen_completions.py``) and
document it in the README. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

#: The fields of the options only some models take (SPEC 12), in the order help lists them.
MODEL_OPTIONS = (
    "quality",
    "background",
    "image_format",
    "compression",
    "moderation",
    "mask",
    "count",
    "search",
)


@dataclass(frozen=True)
class ImageOptions:
    """How to make an image; None means "not given here" (a setting then decides)."""

    ratio: str | None = None
    size: str | None = None
    model: str | None = None
    response_format: str | None = None
    output: str | None = None  # the output folder
    base_url: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = None
    download_timeout: float | None = None
    retries: int | None = None
    retry_server_errors: bool = False
    save_metadata: bool = False
    params: tuple[str, ...] = ()  # raw KEY=VALUE form fields
    max_side: int | None = None  # downscale inputs whose long side is over this (SPEC 9)
    name: str | None = None  # --name TEMPLATE for saved files (dmxedit.store.names)
    # SPEC 12: options some models take (dmxedit.core.modeltable says which, and values)
    quality: str | None = None
    background: str | None = None
    image_format: str | None = None  # sent as output_format
    compression: int | None = None  # sent as output_compression
    moderation: str | None = None
    mask: str | None = None  # a PNG file (edits)
    count: int | None = None  # images made by the one request (n / max_images)
    search: bool = False  # Google Search grounding (gemini door)
    api: str | None = None  # the door of a model not in the table: images or gemini
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, **given: Any) -> ImageOptions:
        """From keyword arguments; an unknown name is a TypeError, never dropped silently.

        ``params`` may be a mapping (``{"quality": "high"}``) or KEY=VALUE strings, and
        ``output`` any path-like.
        """
        params = given.get("params")
        if isinstance(params, Mapping):
            given["params"] = tuple(f"{k}={v}" for k, v in params.items())
        elif params is not None:
            given["params"] = tuple(params)
        output = given.get("output")
        if output is not None and not isinstance(output, str):
            given["output"] = os.fspath(output)
        return cls(**given)

    def choices(self) -> dict[str, object]:
        """The model options given (SPEC 12), by ImageOptions field name."""
        given = {name: getattr(self, name) for name in MODEL_OPTIONS}
        return {k: v for k, v in given.items() if v is not None and v is not False}

    def merged(self, **overrides: Any) -> ImageOptions:
        """A copy with the given fields replaced (None values are ignored)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})
