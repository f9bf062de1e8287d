"""``--param KEY=VALUE``: raw fields for what the model table lacks (SPEC 1, 12), and
the fields each door builds itself, which a --param may not overwrite."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from dmxedit.core.errors import InputError, all_problems
from dmxedit.core.i18n import T
from dmxedit.core.modelspec import Door, Model
from dmxedit.core.modeltable import OPTIONS
from dmxedit.core.text import undecodable

RESERVED = {
    "image": "give images as arguments",
    "prompt": "use -p/--prompt",
    "n": "use --count where the model takes it (dmxedit asks for one image otherwise)",
    "model": "use -m/--model",
    "aspect_ratio": "use -r/--ratio",
    "size": "use -s/--size",
    "response_format": "use --format",
    "mask": "use --mask",
}
#: The gemini door's body structure, built by dmxedit (SPEC 12): never a --param.
GEMINI_RESERVED = {
    "contents": "give the prompt with -p and images as arguments",
    "generationConfig": "use -r/--ratio and -s/--size",
    "generation_config": "use -r/--ratio and -s/--size",
}
#: Fields dmxedit sets on a model taking its inputs as ``data:`` URIs (Seedream).
SERIES_RESERVED = {
    "sequential_image_generation": "use --count",
    "sequential_image_generation_options": "use --count",
    "watermark": "dmxedit always sends watermark false (SPEC 12)",
}


def check_text(what: str, text: str) -> str:
    """A text that goes to the API as it is: it must be text (bytes that are not UTF-8,
    from a command line or a file name in another encoding, cannot be sent)."""
    if undecodable(text):
        raise InputError(
            T(
                "The {what} holds bytes that are not UTF-8 text; it cannot be sent.",
                what=what,
            ),
            hint=T(
                "Give it as UTF-8 text (a file in another encoding: convert it first).",
            ),
        )
    return text


def reserved_fields(door: Door, spec: Model | None, given: Collection[str] = ()) -> dict[str, str]:
    """The body fields dmxedit sets itself on ``door`` for ``spec`` (field -> what to use
    instead): the common ones, the door's structure, and the field of every option the
    model takes (one it does not take stays free for --param, SPEC 12); for a model not
    in the table, of every option ``given``."""
    out = dict(RESERVED)
    if door == "gemini":
        out.update(GEMINI_RESERVED)
    for name, info in OPTIONS.items():
        takes = spec.takes(name) if spec is not None else name in given
        if takes:
            out.setdefault(info.field, f"use {info.flag}")
    if spec is not None and spec.inputs_as == "data_uri":
        out.update(SERIES_RESERVED)
    return out


def param_problems(
    raw: Sequence[str],
    door: Door = "images",
    spec: Model | None = None,
    given: Collection[str] = (),
) -> tuple[list[tuple[str, str]], list[InputError]]:
    """``KEY=VALUE`` strings -> (pairs, problems); a field dmxedit sets itself (on this
    door, for this model, with the options ``given``) is a problem."""
    reserved = reserved_fields(door, spec, given)
    pairs: list[tuple[str, str]] = []
    problems: list[InputError] = []
    for item in raw:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(
                InputError(
                    T("--param {item!r} is not KEY=VALUE.", item=item),
                    hint=T("e.g. --param style=vivid"),
                )
            )
        elif key in reserved:
            problems.append(
                InputError(
                    T(
                        "--param {key} is set by dmxedit: {reserved}.",
                        key=key,
                        reserved=reserved[key],
                    )
                )
            )
        else:
            try:
                pairs.append(
                    (
                        check_text(T("--param key"), key),
                        check_text(T("--param {key}", key=key), value),
                    )
                )
            except InputError as exc:
                problems.append(exc)
    return pairs, problems


def check_params(
    raw: Sequence[str], door: Door = "images", spec: Model | None = None
) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings -> pairs; raises naming every problem."""
    pairs, problems = param_problems(raw, door, spec)
    if problems:
        raise all_problems(problems)
    return pairs


__all__ = ["RESERVED", "check_params", "check_text", "param_problems", "reserved_fields"]
