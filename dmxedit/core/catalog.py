"""Models, ratios, sizes and token costs: data and pure functions, no I/O."""

from __future__ import annotations

import math
import re
from typing import Final

from dmxedit.core.errors import InputError
from dmxedit.core.modeltable import BANANA

DEFAULT_MODEL: Final = "nano-banana-2"
DEFAULT_BASE_URL: Final = "https://www.dmxapi.cn/v1"
SIZES: Final = ("1K", "2K", "4K")
FORMATS: Final = ("url", "b64_json")
MAX_IMAGES: Final = 16
WARN_IMAGES: Final = 14
MAX_IMAGE_BYTES: Final = 50 * 1024 * 1024
MAX_RESULT_BYTES: Final = 200 * 1024 * 1024
MAX_PROMPT_CHARS: Final = 32000

#: nano-banana-2 output pixel sizes, (width, height) at 1K, 2K and 4K (the model table's).
RATIOS: Final[dict[str, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]]] = {
    ratio: (row[0], row[1], row[2])  # type: ignore[misc]
    for ratio, row in BANANA.items()
}

_DIGITS: Final = re.compile(r"[0-9]{1,6}")

TOKENS: Final[dict[str, int]] = {"1K": 1210, "2K": 1210, "4K": 2000}


def pixels(ratio: str, size: str) -> tuple[int, int]:
    """The output (width, height) of nano-banana-2 for a table ratio and a size."""
    return RATIOS[ratio][SIZES.index(size)]


def tokens_for(size: str | None) -> int:
    """Tokens one image costs at ``size`` (the API's default, 1K, when None)."""
    return TOKENS[size or "1K"]


def closest_ratio(width: int, height: int) -> str:
    """The table ratio closest to a width x height shape (compared on a log scale)."""
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (int(x) for x in ratio.split(":"))
        return abs(math.log(w / h) - target)

    return min(RATIOS, key=distance)


def normalize_size(value: str) -> str | None:
    """``4k`` -> ``4K``; None when the value is not a known size."""
    upper = value.strip().upper()
    return upper if upper in SIZES else None


def check_size(value: str | None) -> str | None:
    """The size in upper case, None when not given; InputError when unknown."""
    if value is None:
        return None
    size = normalize_size(value)
    if size is None:
        raise InputError(f"Size {value!r} is not one of 1K, 2K, 4K.", hint="Any case works: 4k.")
    return size


def parse_ratio(value: str) -> tuple[int, int] | None:
    """``W:H`` of positive integers -> (W, H); None when malformed."""
    left, sep, right = value.strip().partition(":")
    if not sep or not _DIGITS.fullmatch(left) or not _DIGITS.fullmatch(right):
        return None  # ASCII digits only: "²".isdigit() is true, int("²") fails
    w, h = int(left), int(right)
    if w <= 0 or h <= 0:
        return None
    return w, h


#: DMXAPI's sites (host -> what it is). A key works only on the site that issued it.
SITES: Final[dict[str, str]] = {
    "www.dmxapi.cn": "DMXAPI's China site, prices in CNY",
    "www.dmxapi.com": "DMXAPI's international site, prices in USD",
    "ssvip.dmxapi.com": "DMXAPI's SSVIP site, prices in USD",
}

#: The endpoints' paths under the base URL: a base URL ending in one is an endpoint's URL
#: pasted by mistake (its base is the part before).
ENDPOINTS: Final = ("/images/edits", "/images/generations", "/chat/completions", "/models")

#: Words in a model id that make it an image model (SPEC section 11).
IMAGE_MODEL_WORDS: Final = ("banana", "image", "imagen", "dall-e", "gpt-image", "flux", "seedream")


def is_dmxapi_host(host: str) -> bool:
    """A host under dmxapi.cn or dmxapi.com (one of the sites or not)."""
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in ("dmxapi.cn", "dmxapi.com"))


def other_sites(host: str) -> list[str]:
    """DMXAPI's sites other than ``host``, as base URLs (``https://www.dmxapi.com/v1``)."""
    host = host.lower().rstrip(".")
    return [f"https://{site}/v1" for site in SITES if site != host]


def is_image_model(model_id: str, endpoint_types: tuple[str, ...] | list[str] = ()) -> bool:
    """An image model: its id names one of the image families, or one of its
    ``supported_endpoint_types`` (new-api's list, e.g. ``image-generation``) is an image one."""
    lowered = model_id.lower()
    if any(word in lowered for word in IMAGE_MODEL_WORDS):
        return True
    return any("image" in str(kind).lower() for kind in endpoint_types)
