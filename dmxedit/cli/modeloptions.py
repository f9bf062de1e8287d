"""The Typer declarations of the model options of SPEC 12 (--quality ... --api): their
help names the models that take each, read from the model table (so adding a model
changes no text here). Imported by :func:`dmxedit.cli.options.shared`, only for the
commands that take image options."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dmxedit.core.modelfacts import option_help

Quality = Annotated[
    str | None,
    typer.Option(
        "--quality",
        help=option_help("quality", "Rendering quality"),
        metavar="LEVEL",
    ),
]
Background = Annotated[
    str | None,
    typer.Option(
        "--background",
        help=option_help("background", "Background (transparent: PNG/WebP)"),
        metavar="KIND",
    ),
]
ImageFormat = Annotated[
    str | None,
    typer.Option(
        "--image-format",
        help=option_help("image_format", "File format the model makes"),
        metavar="FORMAT",
    ),
]
Compression = Annotated[
    int | None,
    typer.Option(
        "--compression",
        help=option_help("compression", "JPEG/WebP compression, with --image-format jpeg|webp"),
        metavar="N",
    ),
]
Moderation = Annotated[
    str | None,
    typer.Option(
        "--moderation", help=option_help("moderation", "Content moderation"), metavar="LEVEL"
    ),
]
Mask = Annotated[
    str | None,
    typer.Option(
        "--mask",
        help=option_help(
            "mask", "PNG mask, the first image's size: its transparent areas are edited"
        ),
        metavar="PNG",
    ),
]
Count = Annotated[
    int | None,
    typer.Option(
        "-n",
        "--count",
        help=option_help("count", "Images one request makes (one request, N files)"),
        metavar="N",
    ),
]
Search = Annotated[
    bool,
    typer.Option("--search", help=option_help("search", "Ground the image in Google Search")),
]
Api = Annotated[
    str | None,
    typer.Option(
        "--api",
        help="The door of a model not in dmxedit's table: images or gemini (see `dmxedit models`).",
        metavar="images|gemini",
    ),
]

#: ImageOptions field -> (its Typer declaration, the default on the command line).
MODEL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "quality": (Quality, None),
    "background": (Background, None),
    "image_format": (ImageFormat, None),
    "compression": (Compression, None),
    "moderation": (Moderation, None),
    "mask": (Mask, None),
    "count": (Count, None),
    "search": (Search, False),
    "api": (Api, None),
}
