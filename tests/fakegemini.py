"""The fake server's gemini door: ``POST /v1beta/models/{model}:generateContent``.

Hooked into :mod:`fakeserver` in three places (the body reader, the default reply, the
billing log's fields). It checks the request as DMXAPI documents it (``x-goog-api-key``
and no ``Authorization``; ``contents``/``parts``/``inline_data``; ``generationConfig``
with ``imageConfig``; ``tools`` for search) and answers in the shapes DMXAPI.md quotes.
The body's base64 images are decoded while the body streams in (never held as text):
``recorded.json`` shows each as ``"<inline_data N: B bytes>"``, and ``recorded.images``
holds them as parts (their bytes with ``keep_bytes``, their size and CRC-32 always).

    fake.script(fakegemini.path("gemini-3-pro-image"), Reply(json=fakegemini.pro_text_quirk()))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import zlib
from typing import Any

from fakeserver import JPEG_BYTES, PNG_BYTES, Part, Recorded, Reply

PREFIX = "/v1beta/models/"
_PATH = re.compile(r"^/v1beta/models/([^/:]+):generateContent$")
#: A base64 string longer than this is decoded as it streams in (shorter ones too, after).
STREAM_OVER = 4096
SIGNATURE = "c2lnbmF0dXJl" * 8  # what the fake sends as thoughtSignature
TEXT = "Here is the edited image."
USAGE = {
    "promptTokenCount": 32,
    "candidatesTokenCount": 1772,
    "totalTokenCount": 2552,
    "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1120}],
    "thoughtsTokenCount": 748,
}


def path(model: str) -> str:
    return f"{PREFIX}{model}:generateContent"


def model_of(target: str) -> str | None:
    found = _PATH.match(target)
    return found.group(1) if found else None


def is_gemini(target: str) -> bool:
    return model_of(target) is not None


# -- answers in DMXAPI's shapes ---------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def inline_answer(
    data: bytes = PNG_BYTES,
    mime: str = "image/png",
    *,
    text: str | None = TEXT,
    signature: str | None = SIGNATURE,
    snake: bool = False,
    model: str = "gemini-3.1-flash-image",
) -> dict[str, Any]:
    """An answer with one ``inlineData`` image part (``snake``: ``inline_data``), after a
    text part, with ``usageMetadata``."""
    parts: list[dict[str, Any]] = []
    if text is not None:
        parts.append({"text": text})
    key, mime_key = ("inline_data", "mime_type") if snake else ("inlineData", "mimeType")
    image: dict[str, Any] = {key: {mime_key: mime, "data": b64(data)}}
    if signature is not None:
        image["thoughtSignature"] = signature
    parts.append(image)
    return {
        "candidates": [
            {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": dict(USAGE),
        "modelVersion": model,
        "responseId": "fake-response-id",
    }


def pro_answer(data: bytes = JPEG_BYTES) -> dict[str, Any]:
    """Nano Banana Pro's documented answer: a JPEG, an empty signature, no text."""
    return inline_answer(data, "image/jpeg", text=None, signature="", model="gemini-3-pro-image")


def pro_text_quirk(data: bytes = PNG_BYTES) -> dict[str, Any]:
    """Pro's quirk: the image as a ``data:`` URI in a text part."""
    part = {"text": "data:image/png;base64," + b64(data), "thoughtSignature": ""}
    return {
        "candidates": [
            {"content": {"parts": [part], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": dict(USAGE),
        "modelVersion": "gemini-3-pro-image",
    }


def no_image(finish_reason: str = "IMAGE_SAFETY", text: str | None = None) -> dict[str, Any]:
    """A candidate that ended without an image (its words, if any)."""
    parts = [{"text": text}] if text else []
    candidate: dict[str, Any] = {"finishReason": finish_reason, "index": 0}
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    return {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 12}}


def blocked(reason: str = "PROHIBITED_CONTENT") -> dict[str, Any]:
    """The prompt itself refused: no candidates, ``promptFeedback.blockReason``."""
    return {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 9}}


def google_error(code: int = 400, message: str = "bad request", status: str = "") -> Reply:
    """Google's error shape, with the HTTP status of its ``code``."""
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
    names.update({404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"})
    names.update({503: "UNAVAILABLE"})
    error = {"code": code, "message": message, "status": status or names.get(code, "UNKNOWN")}
    return Reply(status=code, json={"error": error})


# -- the request --------------------------------------------------------------------------


class _Decoder:
    """Base64 text in pieces -> bytes (kept or not), their size and CRC-32."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.carry = b""
        self.data: list[bytes] = []
        self.size = 0
        self.crc = 0
        self.bad = False

    def feed(self, text: bytes) -> None:
        text = self.carry + text
        cut = len(text) - len(text) % 4
        self.carry = text[cut:]
        self._decode(text[:cut])

    def _decode(self, block: bytes) -> None:
        if not block or self.bad:
            return
        try:
            data = base64.b64decode(block, validate=True)
        except (binascii.Error, ValueError):
            self.bad = True
            return
        self.size += len(data)
        self.crc = zlib.crc32(data, self.crc)
        if self.keep:
            self.data.append(data)

    def close(self) -> None:
        if len(self.carry) % 4:
            self.bad = True
        self._decode(self.carry)
        self.carry = b""


class _Scanner:
    """Walks a JSON body as it arrives, keeping its text but for long strings, which are
    base64-decoded as they stream past and stand in the text as ``"@@part-N@@"``."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.text: list[bytes] = []
        self.decoders: list[_Decoder] = []
        self.in_string = False
        self.escape = False
        self.pending = b""  # the current string's start, until it is long
        self.streaming: _Decoder | None = None
        self.is_data = False  # the current string is the value of a "data" key

    def feed(self, data: bytes) -> None:
        at = 0
        while at < len(data):
            if not self.in_string:
                quote = data.find(b'"', at)
                if quote < 0:
                    self.text.append(data[at:])
                    return
                self.text.append(data[at : quote + 1])
                tail = b"".join(self.text[-6:])[-32:]
                self.is_data = re.search(rb'"data"\s*:\s*"$', tail) is not None
                self.in_string, self.pending, at = True, b"", quote + 1
                continue
            at = self._string(data, at)

    def _string(self, data: bytes, at: int) -> int:
        """Consume string bytes from ``at``; the index after what was consumed."""
        if self.escape:
            self._add(data[at : at + 1])
            self.escape = False
            return at + 1
        quote = data.find(b'"', at)
        slash = data.find(b"\\", at, None if quote < 0 else quote)
        end = slash if slash >= 0 else (quote if quote >= 0 else len(data))
        self._add(data[at:end])
        if slash >= 0:
            self._add(b"\\")
            self.escape = True
            return slash + 1
        if quote >= 0:
            self._close()
            return quote + 1
        return len(data)

    def _add(self, piece: bytes) -> None:
        if self.streaming is not None:
            if b"\\" in piece:
                self.streaming.bad = True
            self.streaming.feed(piece)
            return
        self.pending += piece
        if self.is_data and len(self.pending) > STREAM_OVER:
            self.streaming = _Decoder(self.keep)
            self.decoders.append(self.streaming)
            self.streaming.feed(self.pending)
            self.pending = b""

    def _close(self) -> None:
        if self.streaming is not None:
            self.streaming.close()
            self.text.append(b"@@part-%d@@" % (len(self.decoders) - 1))
            self.streaming = None
        else:
            self.text.append(self.pending)
        self.text.append(b'"')
        self.in_string, self.pending = False, b""


def read_body(pieces: Any, recorded: Recorded, keep: bool) -> None:
    """Read a gemini body: its JSON kept (images described), its images as parts."""
    scanner = _Scanner(keep)
    for piece in pieces:
        scanner.feed(piece)
    text = b"".join(scanner.text)
    try:
        document = json.loads(text)
    except ValueError:
        recorded.body = text[:65536]
        return
    parts = recorded.parts
    recorded.gemini = document  # type: ignore[attr-defined]  # its turns, images described
    for part in _request_parts(document):
        inline = part.get("inline_data") if isinstance(part, dict) else None
        if not isinstance(inline, dict) or not isinstance(inline.get("data"), str):
            continue
        found = re.fullmatch(r"@@part-(\d+)@@", inline["data"])
        if found:
            decoder = scanner.decoders[int(found.group(1))]
        else:
            decoder = _Decoder(keep)
            decoder.feed(inline["data"].encode())
            decoder.close()
        mime = str(inline.get("mime_type"))
        bad = " (not valid base64)" if decoder.bad else ""
        inline["data"] = f"<inline_data {len(parts)}: {decoder.size} bytes{bad}>"
        data = b"".join(decoder.data) if keep else None
        parts.append(
            Part("image", f"inline_data-{len(parts)}", mime, {}, decoder.size, decoder.crc, data)
        )
    recorded.body = json.dumps(document).encode()


def _request_parts(document: Any) -> list[Any]:
    contents = document.get("contents") if isinstance(document, dict) else None
    found: list[Any] = []
    for turn in contents if isinstance(contents, list) else ():
        parts = turn.get("parts") if isinstance(turn, dict) else None
        found += parts if isinstance(parts, list) else []
    return found


def problems(recorded: Recorded) -> list[str]:
    """What is wrong with a gemini request, as DMXAPI's pages document it."""
    found: list[str] = []
    if not recorded.headers.get("x-goog-api-key"):
        found.append("no x-goog-api-key header")
    if "authorization" in recorded.headers:
        found.append("an Authorization header beside x-goog-api-key")
    if not (recorded.headers.get("content-type") or "").startswith("application/json"):
        found.append("the body is not application/json")
    try:
        document = json.loads(recorded.body or b"")
    except ValueError:
        return [*found, "the body is not JSON"]
    contents = document.get("contents") if isinstance(document, dict) else None
    if not isinstance(contents, list) or not contents:
        return [*found, "no contents"]
    for part in _request_parts(document):
        if not isinstance(part, dict) or not (set(part) & {"text", "inline_data"}):
            found.append(f"a part that is neither text nor inline_data: {part!r:.80}")
        elif "inline_data" in part and "(not valid" in str(part["inline_data"].get("data")):
            found.append("inline_data that is not valid base64")
    config = document.get("generationConfig", {})
    image_config = config.get("imageConfig", {}) if isinstance(config, dict) else {}
    if not isinstance(image_config, dict) or set(image_config) - {"aspectRatio", "imageSize"}:
        found.append(f"imageConfig takes aspectRatio and imageSize only: {image_config!r}")
    for tool in document.get("tools") or []:
        if not isinstance(tool, dict) or set(tool) != {"google_search"}:
            found.append(f"an unknown tool: {tool!r}")
    return found


def issue_signature(fake: Any, image: bytes) -> str:
    """A ``thoughtSignature`` for an image the fake makes, bound to its bytes (what the
    real service checks when a later turn sends it back). ``fake.signature_size``
    characters long (DMXAPI's examples: about a megabyte)."""
    issued: dict[str, int] = fake.__dict__.setdefault("signatures", {})
    head = base64.b64encode(b"sig%06d" % len(issued) + hashlib.sha256(image).digest()).decode()
    size = int(fake.__dict__.get("signature_size", 2048))
    signature = (head + "A" * size)[: max(size, len(head))]
    issued[signature] = zlib.crc32(image)
    return signature


def signature_problems(fake: Any, recorded: Recorded) -> list[str]:
    """A model turn sent back without its image's signature, or with one this server did
    not issue for that image, is refused (DMXAPI: generation and editing validate
    signatures strictly; a missing one is a 400)."""
    document = getattr(recorded, "gemini", None)
    contents = document.get("contents") if isinstance(document, dict) else None
    issued: dict[str, int] = fake.__dict__.get("signatures", {})
    found: list[str] = []
    images = iter(recorded.parts)
    for turn in contents if isinstance(contents, list) else ():
        for part in turn.get("parts") or [] if isinstance(turn, dict) else []:
            if not isinstance(part, dict) or "inline_data" not in part:
                continue
            image = next(images, None)
            if turn.get("role") != "model":
                continue
            signature = part.get("thoughtSignature")
            if signature is None:
                found.append("Image part is missing a thought_signature")
            elif signature != "" and issued.get(signature) != (image.crc32 if image else None):
                found.append("Corrupted thought signature.")
    return found


def reply(fake: Any, recorded: Recorded) -> Reply:
    """The default answer: an error for a malformed request, else an image: Pro's JPEG,
    or the fake's result as PNG (streamed in chunks when it is big)."""
    wrong = problems(recorded)
    if any("x-goog-api-key" in p for p in wrong[:1]):
        return google_error(
            401, "API key not valid. Please pass a valid API key.", "UNAUTHENTICATED"
        )
    wrong += signature_problems(fake, recorded)
    if wrong:
        return google_error(400, "; ".join(wrong))
    model = model_of(recorded.path) or ""
    if "pro" in model and fake.result == PNG_BYTES:
        document = pro_answer()
    else:
        signature = issue_signature(fake, fake.result)
        document = inline_answer(fake.result, "image/png", model=model, signature=signature)
    big = len(fake.result) > (1 << 20)
    return Reply(json=document, delay=fake.default_delay, chunked=big, chunk_size=1 << 20)


def fields(recorded: Recorded) -> dict[str, str]:
    """The billing log's view of a gemini request: its model and size."""
    try:
        config = json.loads(recorded.body or b"{}").get("generationConfig", {})
        size = str(config.get("imageConfig", {}).get("imageSize") or "1K")
    except (ValueError, AttributeError):
        size = "1K"
    return {"model": model_of(recorded.path) or "", "size": size}
