"""The images door: DMXAPI's OpenAI-style ``/images/edits`` (multipart) and
``/images/generations`` (JSON) endpoints (SPEC sections 1 and 12).

What goes in the body is read from the request and its model's entry: nano-banana-2's
``aspect_ratio`` and size tier; a pixel model's ``size`` as WxH; gpt-image's ``quality``,
``background``, ``output_format``, ``output_compression``, ``moderation``, ``n`` and
``mask`` part; Seedream's inputs as ``data:`` URIs in the JSON ``image`` list (streamed,
:mod:`dmxedit.api.jsonbody`), ``sequential_image_generation`` and ``watermark``. Answers
are read by :class:`dmxedit.api.answers.AnswerReader` (the client's; this module imports
no HTTP machinery, so ``--dry-run`` stays light).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from dmxedit.api.jsonbody import JSONBody, Placeholders, shell_pieces
from dmxedit.api.multipart import BytesBody, MultipartBody
from dmxedit.api.request import ENDPOINTS, ImageRequest, json_param
from dmxedit.core.modeltable import OPTIONS
from dmxedit.core.settings import mask as mask_key

NAME = "images"
AUTH_HEADER = "Authorization"


def auth_value(key: str) -> str:
    return f"Bearer {key}"


def url(request: ImageRequest) -> str:
    path = ENDPOINTS[request.kind]
    if request.kind == "edit" and request.spec is not None:
        path = request.spec.edit_path
    return request.base_url.rstrip("/") + path


def _as_json(request: ImageRequest) -> bool:
    """Whether the body is JSON: every generation, and an edit whose model takes its
    inputs as ``data:`` URIs (Seedream)."""
    return request.kind == "generate" or (
        request.spec is not None and request.spec.inputs_as == "data_uri"
    )


def _series(request: ImageRequest) -> bool:
    return request.spec is not None and request.spec.inputs_as == "data_uri"


def wire(request: ImageRequest) -> list[tuple[str, Any]]:
    """The fields dmxedit sets, typed, in the order they are sent (``--param`` after)."""
    series = _series(request)
    out: list[tuple[str, Any]] = [("prompt", request.prompt)]
    if not series:
        out.append(("n", request.count))
    out.append(("model", request.model))
    if request.send_ratio:
        out.append(("aspect_ratio", request.send_ratio))
    if request.send_size:
        out.append(("size", request.send_size))
    for name, value in request.choices:
        if name not in ("count", "search"):
            out.append((OPTIONS[name].field, value))
    if series:
        if request.count > 1:
            out.append(("sequential_image_generation", "auto"))
            out.append(("sequential_image_generation_options", {"max_images": request.count}))
        out.append(("watermark", False))
    if request.sends_format:
        out.append(("response_format", request.response_format))
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def fields(request: ImageRequest) -> list[tuple[str, str]]:
    """The form fields of a multipart edit, in the order they are sent."""
    return [(k, _text(v)) for k, v in wire(request)] + list(request.params)


def json_body(request: ImageRequest, marks: Placeholders | None = None) -> dict[str, Any]:
    """The JSON body (a generation, or a Seedream edit: its images placeholders in
    ``marks``, or their names when no ``marks`` is given)."""
    body: dict[str, Any] = dict(wire(request))
    if request.images:
        places = marks or Placeholders()
        body["image"] = [
            places.mark(img, f"data:{img.content_type};base64,") for img in request.images
        ]
    for key, value in request.params:
        body[key] = json_param(value)
    return body


def body(request: ImageRequest) -> MultipartBody | JSONBody | BytesBody:
    if not _as_json(request):
        extra = [("mask", request.mask)] if request.mask is not None else []
        return MultipartBody(fields(request), request.images, files=extra)
    if not request.images:
        return BytesBody(json.dumps(json_body(request), ensure_ascii=False).encode("utf-8"))
    marks = Placeholders()
    return JSONBody(marks.pieces(json_body(request, marks)))


def _file_info(name: str, img: Any) -> dict[str, Any]:
    return {
        "name": name,
        "path": img.display,
        "filename": img.filename,
        "content_type": img.content_type,
        "bytes": img.size,
        "width": img.width,
        "height": img.height,
        **(
            {"source_content_type": img.plan.source_type, "changes": img.plan.changes}
            if img.plan is not None
            else {}
        ),
    }


def describe(request: ImageRequest, api_key: str | None) -> dict[str, Any]:
    """The request for ``--dry-run``, the key masked."""
    headers = {"Authorization": f"Bearer {mask_key(api_key) if api_key else '<no key set>'}"}
    out: dict[str, Any] = {"method": "POST", "url": url(request), "headers": headers}
    if not _as_json(request):
        headers["Content-Type"] = "multipart/form-data; boundary=..."
        out["fields"] = [{"name": k, "value": v} for k, v in fields(request)]
        files = [("image", img) for img in request.images]
        files += [("mask", request.mask)] if request.mask is not None else []
        out["files"] = [_file_info(name, img) for name, img in files]
    else:
        headers["Content-Type"] = "application/json"
        marks = Placeholders()
        out["json"] = marks.shown(json_body(request, marks))
    return out


def curl(request: ImageRequest) -> str:
    """An equivalent curl command; the key comes from $DMXAPI_API_KEY, never inline."""
    lines = [
        f"curl -sS -X POST {shlex.quote(url(request))}",
        '-H "Authorization: Bearer $DMXAPI_API_KEY"',
    ]
    if not _as_json(request):
        for key, value in fields(request):
            # --form-string: a value starting with @ or < is sent as text, not a file.
            lines.append(f"--form-string {shlex.quote(f'{key}={value}')}")
        files = [("image", img) for img in request.images]
        files += [("mask", request.mask)] if request.mask is not None else []
        for name, img in files:
            source = "-" if img.data is not None else img.display
            if img.prepared is not None and img.path is not None:
                source = str(img.path)  # the converted file (SPEC 9), not the original
            lines.append(f"-F {shlex.quote(f'{name}=@{source};type={img.content_type}')}")
        return " \\\n  ".join(lines)
    lines.append("-H 'Content-Type: application/json'")
    if not request.images:
        text = json.dumps(json_body(request), ensure_ascii=False)
        lines.append(f"--data-binary {shlex.quote(text)}")
        return " \\\n  ".join(lines)
    marks = Placeholders()
    pieces = marks.pieces(json_body(request, marks))
    lines.append("--data-binary @-")
    return shell_pieces(pieces, shlex.quote) + " | " + " \\\n  ".join(lines)
