"""The model table: every DMXAPI image model dmxedit knows, as data (SPEC section 12).

Each entry says the model's door, the inputs it takes, its ratios and sizes (the pixels
delivered at each), its options with their values and its documented tokens. Adding a
model that goes through a known door is one entry here and a test
(docs/ARCHITECTURE.md, "Add a model"); the rules that read an entry are in
:mod:`dmxedit.core.modelspec`. Sources: ``../shared/DMXAPI.md`` (DMXAPI's own pages).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Final

from dmxedit.core.i18n import N_
from dmxedit.core.modelspec import Choice, Model, PixelRule, Pixels

MiB: Final = 1024 * 1024

#: Section 1's table: nano-banana-2 (and Google's Nano Banana models) at 1K, 2K, 4K.
BANANA: Final[dict[str, tuple[Pixels | None, ...]]] = {
    "1:1": ((1024, 1024), (2048, 2048), (4096, 4096)),
    "2:3": ((848, 1264), (1696, 2528), (3392, 5056)),
    "3:2": ((1264, 848), (2528, 1696), (5056, 3392)),
    "3:4": ((896, 1200), (1792, 2400), (3584, 4800)),
    "4:3": ((1200, 896), (2400, 1792), (4800, 3584)),
    "4:5": ((928, 1152), (1856, 2304), (3712, 4608)),
    "5:4": ((1152, 928), (2304, 1856), (4608, 3712)),
    "9:16": ((768, 1376), (1536, 2752), (3072, 5504)),
    "16:9": ((1376, 768), (2752, 1536), (5504, 3072)),
    "21:9": ((1584, 672), (3168, 1344), (6336, 2688)),
}
#: Nano Banana 2 on the gemini door also makes these four.
FLASH_EXTRA: Final[dict[str, tuple[Pixels | None, ...]]] = {
    "1:4": ((512, 2048), (1024, 4096), (2048, 8192)),
    "4:1": ((2048, 512), (4096, 1024), (8192, 2048)),
    "1:8": ((384, 3072), (768, 6144), (1536, 12288)),
    "8:1": ((3072, 384), (6144, 768), (12288, 1536)),
}
#: DMXAPI's recommended Seedream sizes per ratio at 1K, 2K, 4K.
SEEDREAM: Final[dict[str, tuple[Pixels | None, ...]]] = {
    "1:1": ((1024, 1024), (2048, 2048), (4096, 4096)),
    "4:3": ((1152, 864), (2304, 1728), (4704, 3520)),
    "3:4": ((864, 1152), (1728, 2304), (3520, 4704)),
    "16:9": ((1280, 720), (2848, 1600), (5504, 3040)),
    "9:16": ((720, 1280), (1600, 2848), (3040, 5504)),
    "3:2": ((1248, 832), (2496, 1664), (4992, 3328)),
    "2:3": ((832, 1248), (1664, 2496), (3328, 4992)),
    "21:9": ((1512, 648), (3136, 1344), (6240, 2656)),
}
#: gpt-image-2's documented sizes (others are WxH by its rule).
GPT_IMAGE_2: Final[dict[str, tuple[Pixels | None, ...]]] = {
    "1:1": ((1024, 1024), (2048, 2048), None),
    "3:2": ((1536, 1024), None, None),
    "2:3": ((1024, 1536), None, None),
    "16:9": (None, (2048, 1152), (3840, 2160)),
    "9:16": (None, None, (2160, 3840)),
}
GPT_IMAGE_15: Final[dict[str, tuple[Pixels | None, ...]]] = {
    "1:1": ((1024, 1024),),
    "3:2": ((1536, 1024),),
    "2:3": ((1024, 1536),),
}

SEARCH: Final = Choice()
_GPT_OPTIONS: Final = {
    "quality": Choice(("low", "medium", "high", "auto")),
    "background": Choice(("auto", "opaque")),
    "image_format": Choice(("png", "jpeg", "webp")),
    "compression": Choice(low=0, high=100),
    "moderation": Choice(("auto", "low")),
    "mask": Choice(),
    "count": Choice(low=1, high=10),
}


def _seedream(
    model_id: str,
    name: str,
    pick: str,
    ratios: dict[str, tuple[Pixels | None, ...]],
    tiers: tuple[str, ...],
    min_pixels: int,
) -> Model:
    """A Seedream model: generations only, inputs as ``data:`` URIs in the JSON body."""
    return Model(
        id=model_id,
        name=name,
        door="images",
        pick=pick,
        inputs=14,
        input_bytes=30 * MiB,
        input_side=6000,
        input_min_side=15,  # DMXAPI: each side > 14 px
        inputs_as="data_uri",
        edit_path="/images/generations",
        tiers=tiers,
        ratios=ratios,
        size_field="pixels",
        free=PixelRule(min_pixels=min_pixels, max_pixels=16_777_216, max_ratio=16),
        bare_tier=True,
        ratio_tier=tiers[0],
        options={"count": Choice(low=1, high=15)},
        answers="url (valid 24 h) or b64_json",
    )


MODELS: Final[tuple[Model, ...]] = (
    Model(
        id="nano-banana-2",
        name="Nano Banana 2",  # through the images door (its door line says so)
        door="images",
        pick=N_("the default: edits and generations up to 4K, 10 ratios"),
        inputs=16,
        warn_inputs=14,
        ratios=BANANA,
        tokens={"1K": 1210, "2K": 1210, "4K": 2000},
    ),
    Model(
        id="gemini-3.1-flash-image",
        name="Nano Banana 2",
        door="gemini",
        pick=N_("Nano Banana 2 on Google's own endpoint: 14 ratios up to 8:1, Google Search"),
        inputs=14,
        inputs_as="inline_data",
        ratios={**BANANA, **FLASH_EXTRA},
        options={"search": SEARCH},
        tokens={"1K": 1120, "2K": 1120, "4K": 2000},
        takes_format=False,
        answers="inline base64",
        aliases=("gemini-3.1-flash-image-preview",),
        # web and image search (DMXAPI's Nano Banana 2 page)
        search_tool={"google_search": {"search_types": {"web_search": {}, "image_search": {}}}},
    ),
    Model(
        id="gemini-3-pro-image",
        name="Nano Banana Pro",
        door="gemini",
        pick=N_("the most careful edits and text in images; JPEG answers"),
        inputs=11,
        inputs_as="inline_data",
        ratios=BANANA,
        options={"search": SEARCH},
        tokens={"1K": 1210, "2K": 1210, "4K": 2000},
        takes_format=False,
        answers="inline base64 (JPEG)",
        aliases=("gemini-3-pro-image-preview",),
    ),
    Model(
        id="gemini-3.1-flash-lite-image",
        name="Nano Banana 2 Lite",
        door="gemini",
        pick=N_("quick, cheap drafts at 1K"),
        inputs=14,
        inputs_as="inline_data",
        tiers=("1K",),
        ratios={r: row[:1] for r, row in BANANA.items()},
        tokens={"1K": 1120},
        takes_format=False,
        answers="inline base64",
        aliases=("gemini-3.1-flash-lite-image-preview",),
    ),
    Model(
        id="gpt-image-2",
        name="GPT Image 2",
        door="images",
        pick=N_("any WxH up to 3840, quality levels, masks, JPEG/WebP, several images at once"),
        ratios=GPT_IMAGE_2,
        size_field="pixels",
        free=PixelRule(
            multiple=16, max_side=3840, max_ratio=3, min_pixels=655_360, max_pixels=8_294_400
        ),
        auto=True,
        ratio_tier="1K",
        options=_GPT_OPTIONS,
        takes_format=False,
        answers="b64_json",
        aliases=("gpt-image-2-ssvip",),
    ),
    Model(
        id="gpt-image-1.5",
        name="GPT Image 1.5",
        door="images",
        pick=N_("transparent backgrounds (PNG/WebP), three sizes"),
        tiers=("1K",),
        ratios=GPT_IMAGE_15,
        size_field="pixels",
        fixed=("1024x1024", "1536x1024", "1024x1536"),
        auto=True,
        ratio_tier="1K",
        options={**_GPT_OPTIONS, "background": Choice(("auto", "opaque", "transparent"))},
        takes_format=False,
        answers="b64_json",
    ),
    _seedream(
        "doubao-seedream-4-5-251128",
        "Seedream 4.5",
        N_("2K/4K, fusing up to 14 references, series of up to 15 images"),
        {r: row[1:] for r, row in SEEDREAM.items()},
        ("2K", "4K"),
        3_686_400,
    ),
    _seedream(
        "doubao-seedream-4-0-250828",
        "Seedream 4.0",
        N_("as Seedream 4.5, also at 1K"),
        SEEDREAM,
        ("1K", "2K", "4K"),
        921_600,
    ),
    Model(
        id="qwen-image-edit",
        name="Qwen Image Edit",
        door="images",
        pick=N_("edits of one image that keep its shape"),
        kinds=("edit",),
        inputs=1,
        exact_inputs=True,
        tiers=(),
        size_field="pixels",
        free=PixelRule(),
        answers="url",
    ),
)

#: What a model not in the table may be given, by the door it goes through (``--api``):
#: the door's fields, with the widest documented values.
DOOR_OPTIONS: Final[dict[str, dict[str, Choice]]] = {
    "images": {
        **_GPT_OPTIONS,
        "background": Choice(("auto", "opaque", "transparent")),
        "count": Choice(low=1, high=15),
    },
    "gemini": {"search": SEARCH},
}

_BY_ID: Final = {m.id: m for m in MODELS} | {a: m for m in MODELS for a in m.aliases}


#: The options of section 12: ImageOptions field -> its flag, the API field it becomes,
#: and what it does. Which model takes which (and its values) is in the entries.
@dataclass(frozen=True)
class OptionInfo:
    flag: str
    field: str
    help: str


OPTIONS: Final[dict[str, OptionInfo]] = {
    "quality": OptionInfo("--quality", "quality", N_("Rendering quality")),
    "background": OptionInfo("--background", "background", N_("Background: transparent or not")),
    "image_format": OptionInfo("--image-format", "output_format", N_("File format of the result")),
    "compression": OptionInfo("--compression", "output_compression", N_("JPEG/WebP compression")),
    "moderation": OptionInfo("--moderation", "moderation", N_("Content moderation level")),
    "mask": OptionInfo("--mask", "mask", N_("PNG mask: transparent areas are edited")),
    "count": OptionInfo("--count", "n", N_("Images made by one request")),
    "search": OptionInfo("--search", "tools", N_("Ground the image in Google Search")),
}


def model_for(model_id: str) -> Model | None:
    """The table's entry for a model id (or one of its aliases); None when unknown."""
    return _BY_ID.get(model_id.strip())


def door_of(model_id: str, api: str | None = None) -> str:
    """The door a model goes through: ``--api`` when given (checked elsewhere), else the
    table's, else the images door (a model not in the table, as before SPEC 12)."""
    if api:
        return api.strip().lower()
    known = model_for(model_id)
    return known.door if known is not None else "images"


def takers(option: str) -> list[str]:
    """The ids of the models that take ``option``."""
    return [m.id for m in MODELS if m.takes(option)]


def nearest(model_id: str) -> str | None:
    """The known model id closest to ``model_id`` (a typo's fix), if any is close."""
    found = difflib.get_close_matches(model_id.strip().lower(), list(_BY_ID), n=1, cutoff=0.6)
    if not found:
        return None
    return _BY_ID[found[0]].id


__all__ = [
    "BANANA",
    "DOOR_OPTIONS",
    "MODELS",
    "OPTIONS",
    "OptionInfo",
    "model_for",
    "nearest",
    "takers",
]
