"""`dmxedit ratios`: the ratio table, plain text so it starts fast."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.catalog import DEFAULT_MODEL
from dmxedit.core.errors import InputError
from dmxedit.core.modelspec import Model, closest, normalize_size
from dmxedit.core.modeltable import model_for


def _model() -> Model:
    """The default model's entry of the model table (the one source of ratios, sizes
    and tokens)."""
    spec = model_for(DEFAULT_MODEL)
    assert spec is not None
    return spec


def _pixels(ratio: str, size: str) -> tuple[int, int]:
    shape = _model().pixels(ratio, size)
    assert shape is not None
    return shape


def _tokens(size: str) -> int | None:
    return _model().tokens_for(size)


def check_size(value: str) -> str:
    """A tier the default model makes (any case), or InputError."""
    size = normalize_size(value)
    if size not in _model().tiers:
        tiers = ", ".join(_model().tiers)
        raise InputError(f"Size {value!r} is not one of {tiers}.", hint="Any case works: 4k.")
    return size


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
    sizes = [check_size(size)] if size else list(_model().tiers)
    shape = _shape(for_image) if for_image is not None else None
    near = closest(list(_model().ratios), *shape) if shape else None
    if ctx.json:
        ctx.emit_json(_as_json(sizes, near, shape, for_image))
        return
    lines = _table(sizes, near)
    if near and shape:
        lines.append(f"* closest to {for_image} ({shape[0]}x{shape[1]})")
    ctx.emit_lines(lines)


def _shape(path: str) -> tuple[int, int]:
    """An image's width and height (from its header)."""
    from dmxedit.media.images import load_image

    image = load_image(path)
    if image.width is None or image.height is None:
        raise InputError(f"Cannot read the width and height of {path!r}.")
    return image.width, image.height


def _as_json(
    sizes: Sequence[str | None],
    closest: str | None,
    shape: tuple[int, int] | None,
    for_image: str | None,
) -> dict[str, object]:
    rows = [
        {
            "ratio": ratio,
            "sizes": {
                s: {
                    "width": _pixels(ratio, s)[0],
                    "height": _pixels(ratio, s)[1],
                    "tokens": _tokens(s),
                }
                for s in sizes
                if s
            },
            **({"closest": ratio == closest} if closest else {}),
        }
        for ratio in _model().ratios
    ]
    out: dict[str, object] = {"model": DEFAULT_MODEL, "ratios": rows}
    if shape and closest:
        out["for"] = {
            "image": for_image,
            "width": shape[0],
            "height": shape[1],
            "closest": closest,
        }
    return out


def _table(sizes: Sequence[str | None], closest: str | None) -> list[str]:
    header = ["ratio"] + [f"{s} (tokens {_tokens(s)})" for s in sizes if s]
    table = [header] + [
        [ratio + (" *" if ratio == closest else "")]
        + ["{}x{}".format(*_pixels(ratio, s)) for s in sizes if s]
        for ratio in _model().ratios
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
