"""`dmxedit ratios`: the ratio table, plain text so it starts fast."""

from __future__ import annotations

from typing import Annotated

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.catalog import RATIOS, SIZES, TOKENS, check_size, closest_ratio, pixels
from dmxedit.core.errors import InputError


@command(json=True)
def ratios(
    ctx: RunContext,
    size: Annotated[
        str | None,
        typer.Option("-s", "--size", help="Show one size only: 1K, 2K or 4K.", metavar="SIZE"),
    ] = None,
    for_image: Annotated[
        str | None,
        typer.Option(
            "--for", help="Mark the ratio closest to this image's shape.", metavar="IMAGE"
        ),
    ] = None,
) -> None:
    """Aspect ratios of nano-banana-2 with their pixel sizes and token cost."""
    sizes = [check_size(size)] if size else list(SIZES)
    closest: str | None = None
    shape: tuple[int, int] | None = None
    if for_image is not None:
        from dmxedit.media.images import load_image

        image = load_image(for_image)
        if image.width is None or image.height is None:
            raise InputError(f"Cannot read the width and height of {for_image!r}.")
        shape = (image.width, image.height)
        closest = closest_ratio(*shape)
    if ctx.json:
        rows = [
            {
                "ratio": ratio,
                "sizes": {
                    s: {
                        "width": pixels(ratio, s)[0],
                        "height": pixels(ratio, s)[1],
                        "tokens": TOKENS[s],
                    }
                    for s in sizes
                    if s
                },
                **({"closest": ratio == closest} if closest else {}),
            }
            for ratio in RATIOS
        ]
        out: dict[str, object] = {"model": "nano-banana-2", "ratios": rows}
        if shape and closest:
            out["for"] = {
                "image": for_image,
                "width": shape[0],
                "height": shape[1],
                "closest": closest,
            }
        ctx.emit_json(out)
        return
    header = ["ratio"] + [f"{s} (tokens {TOKENS[s]})" for s in sizes if s]
    table = [header] + [
        [ratio + (" *" if ratio == closest else "")]
        + ["{}x{}".format(*pixels(ratio, s)) for s in sizes if s]
        for ratio in RATIOS
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    if closest and shape:
        lines.append(f"* closest to {for_image} ({shape[0]}x{shape[1]})")
    ctx.emit_lines(lines)
