"""A request checked against its model's entry of the model table (SPEC 12): the door it
goes through, what it does (edit or generate), its inputs, its options with their values
and the counts a model takes. Each check returns or raises :class:`InputError`s;
:func:`dmxedit.api.request.build_request` names every problem at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dmxedit.core.catalog import MAX_IMAGE_BYTES
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.core.modelspec import DOORS, Choice, Door, Fit, Kind, Model, fit
from dmxedit.core.modeltable import BANANA, DOOR_OPTIONS, OPTIONS, takers
from dmxedit.media.inputs import InputImage


def check_door(model: str, spec: Model | None, api: str | None) -> Door:
    """The door a model goes through: the table's, or ``--api`` for one not in it."""
    if api is None:
        return spec.door if spec is not None else "images"
    door = next((d for d in DOORS if d == api.strip().lower()), None)
    if door is None:
        raise InputError(
            T(
                "--api {api!r} is not one of {doors}.",
                api=api,
                doors=", ".join(DOORS),
            )
        )
    if spec is not None and spec.door != door:
        raise InputError(
            T(
                "{model} goes through the {door} door; --api is for models not in dmxedit's table.",
                model=model,
                door=spec.door,
            ),
            hint=T("Leave out --api (see `dmxedit models`)."),
        )
    return door


def check_kind(kind: Kind, model: str, spec: Model | None) -> None:
    if spec is None or kind in spec.kinds:
        return
    if kind == "generate":
        raise InputError(
            T(
                "{model} only edits: give it an input image, or generate with another model.",
                model=model,
            ),
            hint=T("`dmxedit models` shows what each model does."),
        )
    raise InputError(T("{model} only generates: it takes no input images.", model=model))


def check_inputs(kind: Kind, spec: Model | None, images: Sequence[InputImage]) -> list[InputError]:
    """The input images against the model's limits (count, bytes, pixels)."""
    if spec is None or kind != "edit":
        return []
    out: list[InputError] = []
    if spec.exact_inputs and len(images) != spec.inputs:
        out.append(
            InputError(
                T(
                    "{id} edits exactly {inputs} image; {n_images} given.",
                    id=spec.id,
                    inputs=spec.inputs,
                    n_images=len(images),
                )
            )
        )
    elif len(images) > spec.inputs:
        out.append(
            InputError(
                T(
                    "{n_images} images: {id} takes at most {inputs}.",
                    n_images=len(images),
                    id=spec.id,
                    inputs=spec.inputs,
                ),
                hint=T("`dmxedit models` shows each model's inputs."),
            )
        )
    for img in images:
        out += _side_problems(spec, img)
    return out


def _side_problems(spec: Model, img: InputImage) -> list[InputError]:
    """One input against the model's bytes and pixels a side."""
    out: list[InputError] = []
    mib = spec.input_bytes // (1024 * 1024)
    planned = img.plan is not None and spec.input_bytes >= MAX_IMAGE_BYTES  # re-encoded to fit
    if img.size > spec.input_bytes and not planned:
        out.append(
            InputError(
                T(
                    "{display}: {id} takes images up to {mib} MiB.",
                    display=img.display,
                    id=spec.id,
                    mib=mib,
                )
            )
        )
    side = max(img.width or 0, img.height or 0)
    if spec.input_side is not None and side > spec.input_side:
        out.append(
            InputError(
                T(
                    "{display}: {id} takes images up to {input_side} pixels a side "
                    "({width}x{height} given).",
                    display=img.display,
                    id=spec.id,
                    input_side=spec.input_side,
                    width=img.width,
                    height=img.height,
                ),
                hint=T(
                    "--max-side {input_side} downscales it (needs dmxedit[images]).",
                    input_side=spec.input_side,
                ),
            )
        )
    low = spec.input_min_side
    if low is not None and img.width and img.height and min(img.width, img.height) < low:
        out.append(
            InputError(
                T(
                    "{display}: {id} takes images at least {low} pixels a side "
                    "({width}x{height} given).",
                    display=img.display,
                    id=spec.id,
                    low=low,
                    width=img.width,
                    height=img.height,
                )
            )
        )
    return out


def _choice_for(spec: Model | None, door: Door, name: str) -> Choice | None:
    if spec is not None:
        return spec.options.get(name)
    return DOOR_OPTIONS[door].get(name)


def check_choices(
    kind: Kind, model: str, spec: Model | None, door: Door, given: Mapping[str, Any]
) -> tuple[tuple[tuple[str, Any], ...], list[InputError]]:
    """The model options given, checked against what the model takes; (pairs, problems)."""
    pairs: list[tuple[str, Any]] = []
    problems: list[InputError] = []
    for name, value in given.items():
        info = OPTIONS[name]
        choice = _choice_for(spec, door, name)
        if choice is None:
            who = ", ".join(takers(name)) or "none of the known models"
            where = model if spec is not None else f"the {door} door"
            problems.append(
                InputError(
                    T(
                        "{where} takes no {flag}; models that do: {who}.",
                        where=where,
                        flag=info.flag,
                        who=who,
                    ),
                    hint=T("--param KEY=VALUE sends a field dmxedit does not know."),
                )
            )
            continue
        if name == "mask" and kind != "edit":
            problems.append(InputError(T("--mask goes with edit: it marks what to change.")))
            continue
        wrong = choice.problem(value)
        if wrong is not None:
            problems.append(
                InputError(
                    T(
                        "{flag} {value!r} is not {wrong} for {model}.",
                        flag=info.flag,
                        value=value,
                        wrong=wrong,
                        model=model,
                    )
                )
            )
            continue
        pairs.append((name, value))
    chosen = dict(pairs)
    if "compression" in chosen and chosen.get("image_format") not in ("jpeg", "webp"):
        problems.append(
            InputError(
                T(
                    "--compression goes with --image-format jpeg or webp (PNG is lossless).",
                )
            )
        )
    return tuple(p for p in pairs if p[0] != "mask"), problems


def made_ratios(spec: Model | None, size: str | None) -> list[str]:
    """The ratios ``--ratio auto`` picks from: those the model makes at the tier in use
    (the size given, or the one --ratio alone stands for); all when none is made there."""
    if spec is None:
        return list(BANANA)
    tier = size if size in spec.tiers else None
    if tier is None and spec.size_field == "pixels" and spec.tiers:
        tier = spec.ratio_tier or spec.tiers[0]
    made = [r for r in spec.ratios if tier is None or spec.pixels(r, tier) is not None]
    return made or list(spec.ratios)


def fitted(spec: Model | None, ratio: str | None, size: str | None) -> Fit:
    if spec is None:  # not in the table: sent as given
        return Fit(ratio, size, ratio, size, None, size if size in ("1K", "2K", "4K") else None)
    return fit(spec, ratio, size)


def count_problems(
    spec: Model | None, images: Sequence[InputImage], count: int
) -> list[InputError]:
    if spec is None or count <= 1 or not spec.options.get("count"):
        return []
    high = spec.options["count"].high or count
    if spec.inputs_as == "data_uri" and len(images) + count > high:
        return [
            InputError(
                T(
                    "{id} makes at most {high} images with its inputs: {n_images} "
                    "inputs + --count {count} is {value}.",
                    id=spec.id,
                    high=high,
                    n_images=len(images),
                    count=count,
                    value=len(images) + count,
                )
            )
        ]
    return []
