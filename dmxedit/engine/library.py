"""The library's entry points: :func:`edit_image` and :func:`generate_image` (exported
by ``dmxedit``), one :func:`~dmxedit.engine.prepared.prepare` and one
:func:`~dmxedit.engine.pipeline.run` each."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, BinaryIO

from dmxedit.api.request import Kind
from dmxedit.core.events import Events
from dmxedit.core.options import ImageOptions
from dmxedit.engine.pipeline import run
from dmxedit.engine.prepared import prepare
from dmxedit.engine.result import ImageResult


def _library(
    kind: Kind,
    images: Sequence[str | os.PathLike[str]],
    prompt: str,
    options: ImageOptions | None,
    output: str | os.PathLike[str] | BinaryIO | None,
    events: Events | None,
    given: dict[str, Any],
) -> ImageResult:
    stream: BinaryIO | None = None
    if output is not None and hasattr(output, "write"):
        stream = output  # type: ignore[assignment]
    elif output is not None:
        given["output"] = output
    parsed = ImageOptions.of(**given)  # an unknown name is a TypeError
    opts = replace(options or ImageOptions(), **{name: getattr(parsed, name) for name in given})
    prepared = prepare(kind, [os.fspath(p) for p in images], prompt, opts)
    return run(prepared, events=events, stream=stream)


def edit_image(
    images: Sequence[str | os.PathLike[str]],
    prompt: str,
    options: ImageOptions | None = None,
    *,
    output: str | os.PathLike[str] | BinaryIO | None = None,
    events: Events | None = None,
    **given: Any,
) -> ImageResult:
    """Edit 1-16 images with a prompt and save the result.

    Options come as an :class:`dmxedit.core.options.ImageOptions` or as its field names
    (``ratio="5:4"``, ``size="4K"``, ``params={"quality": "high"}``...); what is left
    out comes from the environment (``DMXAPI_API_KEY``, ``DMXAPI_BASE_URL``), then the
    config file, then the defaults. ``output`` is a folder (default ``output``), a file
    name ending in .png, .jpg, .jpeg or .webp that is not a folder (the result is saved
    under exactly that name; an existing file is refused), or a binary stream. Raises a
    :class:`dmxedit.core.errors.DmxError` subclass whose ``exit_code`` is the CLI's.
    """
    return _library("edit", images, prompt, options, output, events, given)


def generate_image(
    prompt: str,
    options: ImageOptions | None = None,
    *,
    output: str | os.PathLike[str] | BinaryIO | None = None,
    events: Events | None = None,
    **given: Any,
) -> ImageResult:
    """Make an image from a prompt alone; options as for :func:`edit_image`."""
    return _library("generate", (), prompt, options, output, events, given)
