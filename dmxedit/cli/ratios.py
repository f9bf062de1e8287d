"""`dmxedit ratios`: a model's ratio table, plain text so it starts fast (no HTTP)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.catalog import DEFAULT_MODEL
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T, shown
from dmxedit.core.modelfacts import extra_sizes, ratio_rows, unknown_hint
from dmxedit.core.modelspec import TIERS, Model, closest, normalize_size, parse_pixels
from dmxedit.core.modeltable import model_for


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
    model_id: Annotated[
        str | None,
        typer.Option(
            "-m",
            "--model",
            help="The model whose table to show [default: nano-banana-2] (see `dmxedit "
            "models --known`).",
            metavar="NAME",
        ),
    ] = None,
) -> None:
    """Aspect ratios of a model (nano-banana-2 by default) with pixel sizes and tokens."""
    model = _model(model_id or DEFAULT_MODEL)
    tiers = _tiers(model, size)
    shape = _shape(for_image) if for_image is not None else None
    near = closest(list(model.ratios), *shape) if shape and model.ratios else None
    if ctx.json:
        ctx.emit_json(_as_json(model, tiers, near, shape, for_image))
        return
    lines = _table(model, tiers, near) if model.ratios else []
    lines += [shown(note) for note in _notes(model)]
    if near and shape:
        closest_to = T(
            "* closest to {image} ({width}x{height})",
            image=for_image,
            width=shape[0],
            height=shape[1],
        )
        lines.append(shown(closest_to))
    ctx.emit_lines(lines)


def _model(model_id: str) -> Model:
    model = model_for(model_id)
    if model is None:
        raise InputError(
            T("dmxedit has no table for the model {model!r}.", model=model_id),
            hint=unknown_hint(model_id),
        )
    return model


def _tiers(model: Model, size: str | None) -> list[str]:
    if size is None:
        return list(model.tiers)
    tier = normalize_size(size)
    if tier not in TIERS:
        raise InputError(
            T("Size {size!r} is not one of {tiers}.", size=size, tiers=", ".join(TIERS)),
            hint=T("Any case works: 4k."),
        )
    if tier not in model.tiers:
        takes = ", ".join(model.tiers) or T("no size tier")
        raise InputError(
            T("{model} has no {tier} size.", model=model.id, tier=tier),
            hint=T("It takes {sizes}.", sizes=takes),
        )
    return [tier]


def _shape(path: str) -> tuple[int, int]:
    """An image's width and height (from its header)."""
    from dmxedit.media.images import load_image

    image = load_image(path)
    if image.width is None or image.height is None:
        raise InputError(T("Cannot read the width and height of {path!r}.", path=path))
    return image.width, image.height


def _tokens(model: Model, tier: str) -> int | None:
    return model.tokens_for(tier) if model.tokens is not None else None


def _as_json(
    model: Model,
    tiers: Sequence[str],
    near: str | None,
    shape: tuple[int, int] | None,
    for_image: str | None,
) -> dict[str, object]:
    rows = [
        {
            "ratio": ratio,
            "sizes": {
                tier: (
                    {"width": p[0], "height": p[1], "tokens": _tokens(model, tier)}
                    if (p := parse_pixels(cell or ""))
                    else None
                )
                for tier, cell in zip(tiers, cells, strict=True)
            },
            **({"closest": ratio == near} if near else {}),
        }
        for ratio, cells in ratio_rows(model, list(tiers))
    ]
    out: dict[str, Any] = {"model": model.id, "door": model.door, "ratios": rows}
    out["auto"] = model.auto
    out["rule"] = model.free.describe() if model.free is not None else None
    out["notes"] = _notes(model)
    if shape and near:
        out["for"] = {"image": for_image, "width": shape[0], "height": shape[1], "closest": near}
    return out


def _table(model: Model, tiers: Sequence[str], near: str | None) -> list[str]:
    def head(tier: str) -> str:
        tokens = _tokens(model, tier)
        count = tokens if tokens is not None else shown(T("unknown"))
        return shown(T("{tier} (tokens {tokens})", tier=tier, tokens=count))

    header = [shown(T("ratio"))] + [head(t) for t in tiers]
    table = [header] + [
        [ratio + (" *" if ratio == near else "")] + [cell or "-" for cell in cells]
        for ratio, cells in ratio_rows(model, list(tiers))
    ]
    from dmxedit.cli.ui import columns, pad  # a Chinese header: two columns a character

    widths = [max(columns(row[i]) for row in table) for i in range(len(header))]
    return [
        "  ".join(pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]


def _notes(model: Model) -> list[str]:
    """What the table alone does not say: sizes by rule, auto, no ratio at all."""
    sizes = extra_sizes(model)
    notes: list[str]
    if not model.ratios:
        notes = [T("{model} takes no --ratio.", model=model.id)]
        return notes + [T("It takes {sizes}.", sizes=w) for w in sizes]
    notes = [T("{model} also takes {sizes}.", model=model.id, sizes=w) for w in sizes]
    notes = [n for n, w in zip(notes, sizes, strict=True) if "--ratio" not in w]
    return notes + [
        T("For {model}, {rule}.", model=model.id, rule=w) for w in sizes if "--ratio" in w
    ]
