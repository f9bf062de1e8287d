"""Sites, endpoints, defaults and limits: data and pure functions, no I/O.

Models, their ratios, sizes and tokens are the model table's alone
(:mod:`dmxedit.core.modeltable`, read by the rules of :mod:`dmxedit.core.modelspec`)."""

from __future__ import annotations

import re
from typing import Final

from dmxedit.core.i18n import N_

DEFAULT_MODEL: Final = "nano-banana-2"
DEFAULT_BASE_URL: Final = "https://www.dmxapi.cn/v1"
FORMATS: Final = ("url", "b64_json")
MAX_IMAGES: Final = 16
MAX_IMAGE_BYTES: Final = 50 * 1024 * 1024
MAX_RESULT_BYTES: Final = 200 * 1024 * 1024
MAX_PROMPT_CHARS: Final = 32000

_DIGITS: Final = re.compile(r"[0-9]{1,6}")


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
    "www.dmxapi.cn": N_("DMXAPI's China site, prices in CNY"),
    "www.dmxapi.com": N_("DMXAPI's international site, prices in USD"),
    "ssvip.dmxapi.com": N_("DMXAPI's SSVIP site, prices in USD"),
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


#: The size tiers, and sizes as dmxedit writes them (the model table checks them per
#: model: :mod:`dmxedit.core.modelspec`). Here so that reading a setting stays light.
Pixels = tuple[int, int]
TIERS: Final = ("1K", "2K", "4K")
_WXH: Final = re.compile(r"\s*([0-9]{1,6})\s*[xX×*]\s*([0-9]{1,6})\s*")


def parse_pixels(value: str) -> Pixels | None:
    """``1024x768`` (also ``X``, ``×``, ``*``) -> (1024, 768); None when it is not WxH."""
    match = _WXH.fullmatch(value)
    if match is None:
        return None
    w, h = int(match.group(1)), int(match.group(2))
    return (w, h) if w > 0 and h > 0 else None


def normalize_size(value: str) -> str | None:
    """A size as dmxedit writes it: ``4k`` -> ``4K``, ``1024X768`` -> ``1024x768``,
    ``AUTO`` -> ``auto``; None when it is none of a tier, WxH or auto."""
    text = value.strip()
    if text.upper() in TIERS:
        return text.upper()
    if text.lower() == "auto":
        return "auto"
    shape = parse_pixels(text)
    return f"{shape[0]}x{shape[1]}" if shape else None


def wxh(shape: Pixels) -> str:
    return f"{shape[0]}x{shape[1]}"
