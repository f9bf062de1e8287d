"""What an image model takes and makes: the shape of one entry of the model table, and
the rules that check a request's ratio, size and options against it (SPEC section 12).

Pure data and functions, no I/O. The entries themselves are data in
:mod:`dmxedit.core.modeltable`; adding a model that goes through a known door is one
entry there (and a test).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from dmxedit.core.catalog import TIERS as TIERS
from dmxedit.core.catalog import Pixels as Pixels
from dmxedit.core.catalog import normalize_size as normalize_size
from dmxedit.core.catalog import parse_pixels as parse_pixels
from dmxedit.core.catalog import wxh as wxh
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T, joined

Door = Literal["images", "gemini"]
Kind = Literal["edit", "generate"]
DOORS: Final[tuple[Door, ...]] = ("images", "gemini")


@dataclass(frozen=True)
class PixelRule:
    """Which ``WxH`` sizes a model takes (a documented rule, checked before sending)."""

    multiple: int = 1
    max_side: int | None = None
    min_side: int | None = None
    max_ratio: float | None = None  # long side / short side
    min_pixels: int | None = None
    max_pixels: int | None = None

    def problem(self, shape: Pixels) -> str | None:
        """Why ``shape`` breaks the rule, in words; None when it keeps it."""
        w, h = shape
        broken: list[str] = []
        if self.multiple > 1 and (w % self.multiple or h % self.multiple):
            broken.append(T("both sides must be multiples of {n}", n=self.multiple))
        if self.max_side is not None and max(w, h) > self.max_side:
            broken.append(T("the long side must be at most {n}", n=self.max_side))
        if self.min_side is not None and min(w, h) < self.min_side:
            broken.append(T("the short side must be at least {n}", n=self.min_side))
        if self.max_ratio is not None and max(w, h) / min(w, h) > self.max_ratio + 1e-9:
            broken.append(
                T("the long side must be at most {n:g} times the short one", n=self.max_ratio)
            )
        if self.min_pixels is not None and w * h < self.min_pixels:
            broken.append(T("it must have at least {n:,} pixels", n=self.min_pixels))
        if self.max_pixels is not None and w * h > self.max_pixels:
            broken.append(T("it must have at most {n:,} pixels", n=self.max_pixels))
        return joined(broken, "; ") if broken else None

    def describe(self) -> str:
        """The rule in words, for help and refusals."""
        parts: list[str] = []
        if self.multiple > 1:
            parts.append(T("sides multiples of {n}", n=self.multiple))
        if self.max_side:
            parts.append(T("long side <= {n}", n=self.max_side))
        if self.max_ratio:
            parts.append(T("ratio <= {n:g}:1", n=self.max_ratio))
        if self.min_pixels and self.max_pixels:
            parts.append(T("{low:,}-{high:,} pixels", low=self.min_pixels, high=self.max_pixels))
        return T("WxH with {parts}", parts=joined(parts, ", ")) if parts else T("any WxH")


@dataclass(frozen=True)
class Choice:
    """The values one option takes on one model: words, a whole-number range, or a
    flag (no values: given or not)."""

    values: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None

    def problem(self, value: object) -> str | None:
        if self.values:
            return (
                None
                if value in self.values
                else T("one of {values}", values=", ".join(self.values))
            )
        if self.low is not None and self.high is not None:
            ok = isinstance(value, int) and not isinstance(value, bool)
            inside = ok and self.low <= value <= self.high  # type: ignore[operator]
            return None if inside else f"{self.low}-{self.high}"
        return None

    def describe(self) -> str:
        if self.values:
            return "/".join(self.values)
        if self.low is not None:
            return f"{self.low}-{self.high}"
        return "on/off"


@dataclass(frozen=True)
class Model:
    """One entry of the model table: everything dmxedit checks and sends for a model."""

    id: str
    name: str  # what DMXAPI's pages call it
    door: Door
    pick: str  # what to pick it for, one line (README, `dmxedit models`)
    kinds: tuple[str, ...] = ("edit", "generate")
    inputs: int = 16  # most input images
    exact_inputs: bool = False  # an edit takes exactly ``inputs`` images
    warn_inputs: int | None = None  # a warning above this many
    input_bytes: int = 50 * 1024 * 1024
    input_side: int | None = None  # each input's long side at most this (pixels)
    input_min_side: int | None = None  # each input's short side at least this (pixels)
    #: How inputs travel: multipart parts, ``data:`` URIs in a JSON ``image`` list, or
    #: the gemini door's ``inline_data`` parts.
    inputs_as: Literal["multipart", "data_uri", "inline_data"] = "multipart"
    edit_path: str = "/images/edits"
    #: The size tiers, and per ratio the delivered pixels at each (None: not made).
    tiers: tuple[str, ...] = TIERS
    ratios: Mapping[str, tuple[Pixels | None, ...]] = field(default_factory=dict)
    #: "tier": ``size`` carries the tier and the ratio goes beside it (nano-banana-2,
    #: the gemini door); "pixels": ``size`` carries WxH mapped from ratio and tier.
    size_field: Literal["tier", "pixels"] = "tier"
    free: PixelRule | None = None  # WxH sizes taken by rule (pixel models)
    fixed: tuple[str, ...] = ()  # WxH sizes taken besides the ratio table (a fixed list)
    auto: bool = False  # ``--size auto`` taken (the model decides)
    bare_tier: bool = False  # a tier without a ratio is sent as the tier
    ratio_tier: str | None = None  # the tier --ratio alone stands for (pixel models)
    options: Mapping[str, Choice] = field(default_factory=dict)
    tokens: Mapping[str, int] | None = None  # documented tokens per tier
    takes_format: bool = True  # ``response_format`` (url/b64_json) is sent
    answers: str = "url or b64_json"  # what its answers carry (for `dmxedit models`)
    aliases: tuple[str, ...] = ()
    #: The Google Search tool as this model takes it with --search (gemini door); None:
    #: the bare ``{"google_search": {}}`` of Pro's page.
    search_tool: Mapping[str, Any] | None = None

    def pixels(self, ratio: str, tier: str) -> Pixels | None:
        """The delivered pixels for a table ratio at a tier (None: not in the table)."""
        row = self.ratios.get(ratio)
        if row is None or tier not in self.tiers:
            return None
        return row[self.tiers.index(tier)]

    def tier_sizes(self, tier: str) -> set[Pixels]:
        """Every pixel size the table makes at ``tier``."""
        return {p for r in self.ratios for p in [self.pixels(r, tier)] if p is not None}

    def tokens_for(self, tier: str | None) -> int | None:
        """Documented tokens of one image at ``tier`` (its first tier when None)."""
        if self.tokens is None:
            return None
        return self.tokens.get(tier or self.tiers[0]) if self.tiers else None

    def takes(self, option: str) -> bool:
        return option in self.options


@dataclass(frozen=True)
class Fit:
    """A ratio and size checked against a model: what is asked, what is sent, and what
    should come back."""

    ratio: str | None = None  # asked (canonical W:H), None when not given
    size: str | None = None  # asked (canonical: 2K, 1024x1024, auto)
    send_ratio: str | None = None  # the aspect ratio field (tier models)
    send_size: str | None = None  # the size field: a tier, WxH or auto
    pixels: Pixels | None = None  # the pixel size the table promises
    tier: str | None = None  # the tier it is counted at (tokens)


def closest(ratios: list[str], width: int, height: int) -> str:
    """The ratio of ``ratios`` closest to a width x height shape (on a log scale)."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (int(x) for x in ratio.split(":"))
        return abs(math.log(w / h) - target)

    return min(ratios, key=distance)


def _table_words(model: Model) -> str:
    """The ratio/size pairs a pixel model maps, in words."""
    pairs = [
        f"{r} {t} ({wxh(p)})"
        for r in model.ratios
        for t in model.tiers
        for p in [model.pixels(r, t)]
        if p is not None
    ]
    return ", ".join(pairs)


def sizes_words(model: Model) -> str:
    """What ``--size`` takes on ``model``, in words."""
    words = []
    if model.auto:
        words.append("auto")
    if model.size_field == "tier" or model.bare_tier:
        words += list(model.tiers)
    elif model.tiers and model.ratios:
        words.append(T("{tiers} with --ratio", tiers="/".join(model.tiers)))
    if model.free is not None:
        words.append(model.free.describe())
    words += list(model.fixed)
    return joined(words, ", ") if words else T("no --size")


def fit(model: Model, ratio: str | None, size: str | None) -> Fit:
    """Check a canonical ratio (W:H, not auto) and size against ``model``; raises
    InputError naming what the model takes."""
    if not model.ratios and ratio is not None:
        raise InputError(T("{id} takes no --ratio.", id=model.id), hint=_size_hint(model))
    if ratio is not None and ratio not in model.ratios:
        raise InputError(
            T("Ratio {ratio} is not one that {id} makes.", ratio=ratio, id=model.id),
            hint=T(
                "Use one of {ratios} (see `dmxedit ratios --model {id}`).",
                ratios=" ".join(model.ratios),
                id=model.id,
            ),
        )
    if size is None or size in model.tiers:
        return _tier_fit(model, ratio, size)
    if size == "auto":
        if not model.auto:
            raise InputError(T("{id} takes no --size auto.", id=model.id), hint=_size_hint(model))
        if ratio is not None:
            raise InputError(
                T(
                    "--size auto leaves the shape to the model; it goes without --ratio.",
                ),
                hint=_size_hint(model),
            )
        return Fit(size="auto", send_size="auto")
    shape = parse_pixels(size)
    if shape is None or size in TIERS:
        raise InputError(
            T("{id} takes no --size {size}.", id=model.id, size=size), hint=_size_hint(model)
        )
    return _pixel_fit(model, ratio, size, shape)


def _size_hint(model: Model) -> str:
    table = _table_words(model) if model.size_field == "pixels" else ""
    if table:
        return T(
            "{id} takes --size {sizes}; --ratio and --size map to {table}.",
            id=model.id,
            sizes=sizes_words(model),
            table=table,
        )
    return T("{id} takes --size {sizes}.", id=model.id, sizes=sizes_words(model))


def _tier_fit(model: Model, ratio: str | None, tier: str | None) -> Fit:
    if tier is not None and tier not in model.tiers:
        raise InputError(
            T("{id} takes no --size {tier}.", id=model.id, tier=tier), hint=_size_hint(model)
        )
    if model.size_field == "tier":
        shown = model.pixels(ratio, tier) if ratio and tier else None
        return Fit(ratio, tier, ratio, tier, shown, tier)
    # a pixel model: the ratio and tier map to WxH
    if ratio is None:
        if tier is None:
            return Fit(send_size=None)
        if model.bare_tier:
            return Fit(size=tier, send_size=tier, tier=tier)
        raise InputError(
            T(
                "--size {tier} needs a --ratio for {id} (it takes pixel sizes).",
                tier=tier,
                id=model.id,
            ),
            hint=_size_hint(model),
        )
    at = tier or model.ratio_tier or model.tiers[0]
    shape = model.pixels(ratio, at)
    if shape is None:
        raise InputError(
            T(
                "{id} has no documented size for {ratio} {at}.",
                id=model.id,
                ratio=ratio,
                at=at,
            ),
            hint=_size_hint(model),
        )
    return Fit(ratio, tier, None, wxh(shape), shape, at)


def _pixel_fit(model: Model, ratio: str | None, size: str, shape: Pixels) -> Fit:
    if ratio is not None:
        raise InputError(
            T(
                "--size {size} already gives the shape; it goes without --ratio.",
                size=size,
            ),
            hint=T("Give --ratio with a tier (1K/2K/4K), or WxH alone."),
        )
    if size in model.fixed:
        return Fit(size=size, send_size=size, pixels=shape)
    if model.free is None:
        raise InputError(
            T("{id} takes no --size {size}.", id=model.id, size=size), hint=_size_hint(model)
        )
    problem = model.free.problem(shape)
    if problem is not None:
        raise InputError(
            T(
                "--size {size} does not suit {id}: {problem}.",
                size=size,
                id=model.id,
                problem=problem,
            ),
            hint=_size_hint(model),
        )
    return Fit(size=size, send_size=size, pixels=shape)


__all__ = [
    "Choice",
    "DOORS",
    "Door",
    "Fit",
    "Model",
    "PixelRule",
    "TIERS",
    "closest",
    "fit",
    "normalize_size",
    "parse_pixels",
    "sizes_words",
    "wxh",
]
