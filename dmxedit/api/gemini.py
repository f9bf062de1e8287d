"""The gemini door: Google's native ``generateContent`` endpoint on DMXAPI's site, where
DMXAPI serves Nano Banana 2, Pro and Lite (SPEC section 12).

``POST {site}/v1beta/models/{model}:generateContent`` (``{site}`` is the base URL
without its ``/v1``), the key in ``x-goog-api-key``, a JSON body whose images are
``inline_data`` parts base64-encoded as they are read (:mod:`dmxedit.api.jsonbody`).
"""

from __future__ import annotations

import shlex
from typing import Any
from urllib.parse import quote

from dmxedit.api.jsonbody import JSONBody, Placeholders, shell_pieces
from dmxedit.api.request import ImageRequest, Part, json_param
from dmxedit.core.settings import mask as mask_key

NAME = "gemini"
AUTH_HEADER = "x-goog-api-key"
#: Google Search grounding as Pro's page gives it, and as any model dmxedit does not
#: know gets it; a model entry's ``search_tool`` says its own (SPEC 12).
SEARCH_TOOL: dict[str, Any] = {"google_search": {}}


def auth_value(key: str) -> str:
    return key


def site(base_url: str) -> str:
    """The site of a base URL: without its trailing ``/v1``."""
    base = base_url.rstrip("/")
    return base[:-3] if base.lower().endswith("/v1") else base


def url(request: ImageRequest) -> str:
    model = quote(request.model, safe="-._~")
    return f"{site(request.base_url)}/v1beta/models/{model}:generateContent"


def _part(part: Part, marks: Placeholders) -> dict[str, Any]:
    """One part of an earlier turn, its signature streamed from its file."""
    out: dict[str, Any]
    if part.image is not None:
        img = part.image
        out = {"inline_data": {"mime_type": img.content_type, "data": marks.mark(img)}}
    else:
        out = {"text": part.text or ""}
    if part.signature is not None:
        out["thoughtSignature"] = marks.mark_file(part.signature, part.signature_size)
    return out


def _turns(request: ImageRequest, marks: Placeholders) -> list[dict[str, Any]]:
    """``contents``: the conversation's earlier turns (SPEC 13), then the new user turn."""
    contents = [
        {"role": turn.role, "parts": [_part(p, marks) for p in turn.parts]}
        for turn in request.history
    ]
    parts: list[dict[str, Any]] = [{"text": request.prompt}]
    for img in request.images:
        parts.append({"inline_data": {"mime_type": img.content_type, "data": marks.mark(img)}})
    contents.append({"role": "user", "parts": parts})
    return contents


def document(request: ImageRequest, marks: Placeholders) -> dict[str, Any]:
    """The JSON body, each image (and signature) a placeholder in ``marks``."""
    image_config: dict[str, Any] = {}
    if request.send_ratio:
        image_config["aspectRatio"] = request.send_ratio
    if request.send_size:
        image_config["imageSize"] = request.send_size
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    if image_config:
        config["imageConfig"] = image_config
    out: dict[str, Any] = {"contents": _turns(request, marks), "generationConfig": config}
    if request.choice("search"):
        own = request.spec.search_tool if request.spec is not None else None
        out["tools"] = [dict(own) if own is not None else SEARCH_TOOL]
    for key, value in request.params:
        out[key] = json_param(value)
    return out


def body(request: ImageRequest) -> JSONBody:
    marks = Placeholders()
    return JSONBody(marks.pieces(document(request, marks)))


def describe(request: ImageRequest, api_key: str | None) -> dict[str, Any]:
    """The request for ``--dry-run``, the key masked."""
    marks = Placeholders()
    shown = marks.shown(document(request, marks))
    headers = {
        AUTH_HEADER: mask_key(api_key) if api_key else "<no key set>",
        "Content-Type": "application/json",
    }
    return {"method": "POST", "url": url(request), "headers": headers, "json": shown}


def curl(request: ImageRequest) -> str:
    """An equivalent curl command, the images base64-encoded by the shell as they are sent;
    the key comes from $DMXAPI_API_KEY, never inline."""
    marks = Placeholders()
    pieces = marks.pieces(document(request, marks))
    lines = [
        f"curl -sS -X POST {shlex.quote(url(request))}",
        '-H "x-goog-api-key: $DMXAPI_API_KEY"',
        "-H 'Content-Type: application/json'",
        "--data-binary @-",
    ]
    return shell_pieces(pieces, shlex.quote) + " | " + " \\\n  ".join(lines)
