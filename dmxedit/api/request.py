"""Turning settings and arguments into one validated request (SPEC sections 1, 2, 12).

Everything is checked here, before any network traffic, against the model's entry of
the model table (:mod:`dmxedit.core.modeltable`): its door, inputs, ratios, sizes and
options, every problem named at once. The result describes exactly what will be sent;
the door's module (:mod:`dmxedit.api.images`, :mod:`dmxedit.api.gemini`, chosen by
:mod:`dmxedit.api.doors`) turns it into a body, and shows it for ``--dry-run``.

The checks against the model's entry are :mod:`dmxedit.api.modelcheck`'s.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dmxedit.api.modelcheck import (
    check_choices,
    check_door,
    check_inputs,
    check_kind,
    count_problems,
    fitted,
    made_ratios,
)
from dmxedit.api.params import check_text, param_problems
from dmxedit.core.catalog import (
    DEFAULT_MODEL,
    FORMATS,
    MAX_PROMPT_CHARS,
    parse_ratio,
)
from dmxedit.core.errors import InputError, all_problems
from dmxedit.core.i18n import T
from dmxedit.core.modelspec import Door, Fit, Model, closest, normalize_size
from dmxedit.core.modelspec import Kind as Kind
from dmxedit.core.modeltable import BANANA, model_for
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import FLAG, Settings
from dmxedit.media.inputs import InputImage
from dmxedit.media.receipt import Expected, expect

ENDPOINTS: dict[Kind, str] = {"edit": "/images/edits", "generate": "/images/generations"}


def check_prompt(text: str | None) -> str:
    """The prompt with surrounding whitespace removed; 1-32000 characters."""
    if text is None:
        raise InputError(
            T("No prompt given."), hint=T("Use -p TEXT, -p - (standard input) or --prompt-file.")
        )
    stripped = text.strip()
    if not stripped:
        raise InputError(
            T("The prompt is empty."), hint=T("Say what to change, e.g. -p 'make it snow'.")
        )
    if len(stripped) > MAX_PROMPT_CHARS:
        raise InputError(
            T(
                "The prompt has {n_stripped} characters; the API takes at most {max_prompt_chars}.",
                n_stripped=len(stripped),
                max_prompt_chars=MAX_PROMPT_CHARS,
            )
        )
    return check_text("prompt", stripped)


def check_format(value: str | None) -> str:
    value = value or "url"
    if value not in FORMATS:
        raise InputError(
            T(
                "Format {value!r} is not one of {formats}.",
                value=value,
                formats=", ".join(FORMATS),
            )
        )
    return value


def check_ratio(
    value: str | None, ratios: Sequence[str], images: Sequence[InputImage] = ()
) -> str | None:
    """The aspect ratio asked, canonical (``05:4`` -> ``5:4``); ``auto`` picks the ratio
    of ``ratios`` (the model's table) closest to the first image's shape. Whether the
    model makes it is :func:`dmxedit.core.modelspec.fit`'s question."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    known = list(ratios) or list(BANANA)
    if value.lower() == "auto":
        if not images:
            raise InputError(
                T("--ratio auto needs an input image to take the shape from."),
                hint=T("Give a ratio such as 1:1 or 16:9 ({known}).", known=" ".join(known)),
            )
        first = images[0]
        if first.width is None or first.height is None:
            raise InputError(
                T(
                    "Cannot read the width and height of {display!r} for --ratio auto.",
                    display=first.display,
                ),
                hint=T("Give the ratio yourself, e.g. --ratio 4:3."),
            )
        return closest(known, first.width, first.height)
    shape = parse_ratio(value)
    if shape is None:
        raise InputError(
            T("Ratio {value!r} is not W:H (e.g. 5:4).", value=value),
            hint=T("Known: {known}.", known=" ".join(known)),
        )
    return f"{shape[0]}:{shape[1]}"


def check_size(value: str | None, known: bool = True) -> str | None:
    """The size written as dmxedit writes it (2K, 1024x768, auto); None when not given.
    A model not in the table (``known`` False) gets any other size as given (SPEC 1)."""
    if value is None or not value.strip():
        return None
    size = normalize_size(value)
    if size is None and not known:
        return check_text("size", value.strip())
    if size is None:
        raise InputError(
            T(
                "Size {value!r} is not a size: 1K, 2K, 4K, WxH (e.g. 1536x1024) or auto.",
                value=value,
            ),
            hint=T(
                "Any case works: 4k. `dmxedit ratios --model MODEL` lists a model's sizes.",
            ),
        )
    return size


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
class Part:
    """One part of an earlier turn of a conversation (SPEC 13): a text, or an image (an
    input the user gave, or the image a model made), with the model's ``thoughtSignature``
    kept in a file (``signature``, ``signature_size`` characters) when the answer had one."""

    text: str | None = None
    image: InputImage | None = None
    signature: Path | None = None
    signature_size: int = 0


@dataclass(frozen=True)
class Turn:
    """An earlier turn of a conversation: the user's or the model's parts, in order."""

    role: Literal["user", "model"]
    parts: tuple[Part, ...]

    @property
    def images(self) -> list[InputImage]:
        return [p.image for p in self.parts if p.image is not None]


@dataclass(frozen=True)
class ImageRequest:
    """One fully checked request: what ``edit`` or ``generate`` will send, and through
    which door (the body itself is the door module's)."""

    kind: Kind
    base_url: str
    prompt: str
    model: str
    ratio: str | None  # asked (canonical W:H)
    size: str | None  # asked (2K, 1024x1024, auto)
    response_format: str
    params: tuple[tuple[str, str], ...] = ()
    images: tuple[InputImage, ...] = field(default=())
    door: Door = "images"
    spec: Model | None = field(default=None, repr=False, compare=False)
    fit: Fit | None = None  # the ratio and size as the model's table maps them
    choices: tuple[tuple[str, Any], ...] = ()  # the model options given (SPEC 12)
    mask: InputImage | None = None
    count: int = 1  # images asked of the one request
    history: tuple[Turn, ...] = ()  # the conversation before this turn (gemini door)
    parent: int | None = None  # the ledger entry this turn continues
    format_given: str | None = None  # --format as given on the command line

    def format_note(self) -> str | None:
        """A line saying --format does not apply, when it was given for a model that
        always answers inline (gpt-image, the gemini door)."""
        if self.format_given != "url" or self.sends_format:
            return None
        return (
            f"--format url does not apply to {self.model}: it always answers with the "
            "image inline (base64)."
        )

    @property
    def prefix(self) -> str:
        return "edited" if self.kind == "edit" else "generated"

    @property
    def send_ratio(self) -> str | None:
        """The aspect ratio field's value (None: not sent)."""
        return self.fit.send_ratio if self.fit is not None else self.ratio

    @property
    def send_size(self) -> str | None:
        """The size field's value: a tier, WxH or auto (None: not sent)."""
        return self.fit.send_size if self.fit is not None else self.size

    @property
    def sends_format(self) -> bool:
        """Whether ``response_format`` goes out (gpt-image and gemini answer inline)."""
        return self.door == "images" and (self.spec is None or self.spec.takes_format)

    @property
    def inline_answer(self) -> bool:
        """The images come inside the answer (base64): its body is big."""
        return not self.sends_format or self.response_format == "b64_json"

    def choice(self, name: str) -> Any:
        return dict(self.choices).get(name)

    def tokens(self) -> int | None:
        """Documented tokens of what this request makes; None when DMXAPI documents none
        (never a guess)."""
        if self.spec is None:
            return None
        tier = self.fit.tier if self.fit is not None else None
        one = self.spec.tokens_for(tier)
        return None if one is None else one * self.count

    def expected(self) -> Expected:
        """What its model promises to deliver: the receipt's measure (SPEC 12)."""
        return expect(
            self.model,
            self.ratio,
            self.size,
            self.params,
            image_format=self.choice("image_format"),
            shape=self.fit if self.spec is not None else None,
        )

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "prompt": self.prompt,
            "aspect_ratio": self.ratio,
            "size": self.size,
            "response_format": self.response_format,
            "params": dict(self.params),
        }
        if self.door != "images":
            out["api"] = self.door
        if self.send_size not in (None, self.size):
            out["sent_size"] = self.send_size
        out.update(self.choices)
        if self.mask is not None:
            out["mask"] = self.mask.display
        return out


def build_request(
    kind: Kind,
    settings: Settings,
    *,
    prompt: str | None,
    params: Sequence[str] = (),
    images: Sequence[InputImage] = (),
    options: ImageOptions | None = None,
    mask: InputImage | None = None,
) -> ImageRequest:
    """Check the prompt, the options in effect and the images against the model's entry
    of the table; raises one :class:`InputError` naming every problem found."""
    options = options or ImageOptions()
    model = settings.model.strip() or DEFAULT_MODEL
    spec = model_for(model)
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
                T("--ratio auto needs an input image; generate has none."),
                hint=T("Give a ratio such as 1:1 or 16:9 (see `dmxedit ratios`)."),
            )
        )
        ratio = None
    checked(lambda: check_text(T("model name"), model))
    door: Door = checked(lambda: check_door(model, spec, options.api)) or "images"
    checked(lambda: check_kind(kind, model, spec))
    problems += check_inputs(kind, spec, images)
    asked_size = checked(lambda: check_size(settings.size, spec is not None))
    ratios = made_ratios(spec, asked_size)
    asked_ratio = checked(lambda: check_ratio(ratio, ratios, images))
    shape = checked(lambda: fitted(spec, asked_ratio, asked_size))
    choices, wrong = check_choices(kind, model, spec, door, options.choices())
    problems += wrong
    count = int(dict(choices).get("count") or 1)
    problems += count_problems(spec, images, count)
    fields = {
        "prompt": checked(lambda: check_prompt(prompt)),
        "response_format": checked(lambda: check_format(settings.response_format)),
    }
    pairs, wrong_params = param_problems(params, door, spec, set(options.choices()))
    problems += wrong_params
    fields["params"] = tuple(pairs)
    if problems:
        raise all_problems(problems)
    if spec is not None and not spec.takes_format:
        fields["response_format"] = "b64_json"  # it answers inline whatever is asked
    return ImageRequest(
        kind=kind,
        base_url=settings.base_url,
        model=model,
        images=tuple(images),
        ratio=asked_ratio,
        size=asked_size,
        door=door,
        spec=spec,
        fit=shape,
        choices=choices,
        mask=mask,
        count=count,
        format_given=settings.response_format if settings.sources.get("format") == FLAG else None,
        **fields,
    )
