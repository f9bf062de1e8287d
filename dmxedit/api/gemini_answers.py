"""The gemini door's answer, read as it arrives (SPEC section 12, "The gemini door").

``{"candidates": [{"content": {"parts": [...]}, "finishReason": ...}], "usageMetadata":
{...}, "promptFeedback": {...}}``. Each part's ``inlineData.data`` (or ``inline_data``)
is base64-decoded into a new sink as it streams in, never held whole; a ``text`` part
that is a ``data:image/...;base64,`` URI (Nano Banana Pro does this) is an image too,
decoded the same way; other text parts are the model's words (kept, bounded); each
part's ``thoughtSignature`` is kept with its image as received (SPEC 13 sends it back);
a ``fileData`` part is a result URL. An answer without an image is an
:class:`~dmxedit.core.errors.ApiError` (exit 4) carrying the finish reason, the block
reason and the model's words. Same interface as :class:`dmxedit.api.answers.AnswerReader`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic

from dmxedit.api.answers import (
    Answer,
    AnswerItem,
    AnswerReader,
    B64Sink,
    DataUrl,
    S,
    UrlSink,
    no_image,
)
from dmxedit.api.http import one_line
from dmxedit.core.errors import ApiError
from dmxedit.core.i18n import T

#: The model's words kept per text part, and in all (a chatty answer stays small).
MAX_TEXT = 64 * 1024
MAX_TEXTS = 256 * 1024
#: A signature longer than this is dropped (documented ones are ~1 MB), never an error:
#: the answer's images are paid for.
MAX_SIGNATURE = 64 * 1024 * 1024
IMAGE_KEYS = ("inlineData", "inline_data")
FILE_KEYS = ("fileData", "file_data")
URI_KEYS = ("fileUri", "file_uri")
SIGNATURE_KEYS = ("thoughtSignature", "thought_signature")
#: usageMetadata's counts, as ``usage`` names them.
USAGE_KEYS = {
    "promptTokenCount": "prompt_tokens",
    "candidatesTokenCount": "candidates_tokens",
    "thoughtsTokenCount": "thoughts_tokens",
    "totalTokenCount": "total_tokens",
}


@dataclass
class Decoded(Generic[S]):
    """An image part's bytes, decoded into ``sink`` (``size`` bytes)."""

    sink: S
    size: int


class ImageData(Generic[S]):
    """An ``inlineData.data`` value: base64 decoded into a new sink as it arrives."""

    def __init__(self, reader: AnswerReader[S]) -> None:
        self.inner = B64Sink(reader.open(), reader.limit)

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def finish(self) -> Decoded[S]:
        sink = self.inner.finish()
        return Decoded(sink, self.inner.decoder.decoded)


def _text(raw: bytes) -> str:
    """Unescaped JSON string bytes as text: ``\\ud83d\\ude00`` pairs joined, a character
    cut at the end (the bound) dropped, a lone surrogate replaced."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogatepass")
    try:
        text = decoder.decode(raw, final=False)
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


@dataclass
class Words:
    """A text part's words, cut at :data:`MAX_TEXT` when longer (``cut``: bytes dropped)."""

    text: str
    cut: int = 0


#: ``data:image/<type>;base64,`` (any case), the start of an image inside a text part.
_DATA_URI = re.compile(rb"data:image/[a-z0-9.+-]{1,40};base64,", re.IGNORECASE)
_PREFIX_MAX = 64  # longer than any ``data:image/<type>;base64,``
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=_-]")
_NOT_BASE64_LINES = re.compile(rb"[^A-Za-z0-9+/=_\r\n-]")  # a text that is only a URI


@dataclass
class TextImages(Generic[S]):
    """A text part that held ``data:image/...;base64,`` URIs (Pro, and relays that wrap
    them in markdown): the images, and the words around them without the base64."""

    images: list[Decoded[S]]
    words: Words


class TextPart(Generic[S]):
    """A ``text`` value: the model's words, with any ``data:image/...;base64,`` URI in
    them (anywhere: bare, or in markdown ``![image](data:...)``) decoded as it comes into
    its own sink, from the URI's start to the first character that is not base64 (the
    closing ``)``, a space, the end). Memory stays bounded: the words are kept up to
    :data:`MAX_TEXT`, the base64 never."""

    def __init__(self, reader: AnswerReader[S]) -> None:
        self.reader = reader
        self.raw = bytearray()
        self.cut = 0
        self.held = b""  # text not yet known not to begin a data: URI
        self.image: ImageData[S] | None = None
        self.images: list[Decoded[S]] = []
        self.lines = False  # the URI began the text: its base64 may be wrapped in lines

    def write(self, data: bytes) -> None:
        while data:
            data = self._image(data) if self.image is not None else self._scan(data)

    def _words(self, data: bytes) -> None:
        room = MAX_TEXT - len(self.raw)
        if room > 0:
            self.raw += data[:room]
        self.cut += max(0, len(data) - max(room, 0))

    def _scan(self, data: bytes) -> bytes:
        """Text: up to a data: URI's base64 (returned, the image begun) or all of it."""
        text = self.held + data
        found = _DATA_URI.search(text)
        if found is not None:
            self._words(text[: found.start()])
            self.lines = not self.raw.strip() and not self.images
            self.held = b""
            self.image = ImageData(self.reader)
            return text[found.end() :]
        start = text.lower().rfind(b"data:", max(0, len(text) - _PREFIX_MAX))
        keep = start if start != -1 else max(len(text) - 4, 0)  # "data" may be cut
        self._words(text[:keep])
        self.held = text[keep:]
        return b""

    def _image(self, data: bytes) -> bytes:
        """Base64: into the image up to its end (the rest returned, as text)."""
        assert self.image is not None
        end = (_NOT_BASE64_LINES if self.lines else _NOT_BASE64).search(data)
        if end is None:
            self.image.write(data)
            return b""
        self.image.write(data[: end.start()])
        self._close_image()
        return data[end.start() :]

    def _close_image(self) -> None:
        assert self.image is not None
        found = self.image.finish()
        self.image = None
        if found.size == 0:  # an empty image: nothing to save
            found.sink.discard()
        else:
            self.images.append(found)

    def finish(self) -> Words | TextImages[S]:
        if self.image is not None:
            self._close_image()
        self._words(self.held)
        self.held = b""
        words = Words(_text(bytes(self.raw)), self.cut)
        return TextImages(self.images, words) if self.images else words


@dataclass
class Signature:
    """A ``thoughtSignature`` as received (None: over :data:`MAX_SIGNATURE`, dropped)."""

    text: str | None


class SignaturePart:
    """A ``thoughtSignature`` value, kept as received up to :data:`MAX_SIGNATURE`."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size <= MAX_SIGNATURE:
            self.pieces.append(data)

    def finish(self) -> Signature:
        if self.size > MAX_SIGNATURE:
            return Signature(None)
        return Signature(_text(b"".join(self.pieces)))


def _is_part(path: tuple[str | int, ...]) -> bool:
    """``path`` is inside ``candidates[i].content.parts[j]``."""
    return (
        len(path) >= 6
        and path[0] == "candidates"
        and isinstance(path[1], int)
        and path[2] == "content"
        and path[3] == "parts"
        and isinstance(path[4], int)
    )


def usage_of(metadata: Any) -> dict[str, Any] | None:
    """``usageMetadata`` as ``usage``: prompt, candidates, thoughts and total tokens, and
    the original under ``usageMetadata``."""
    if not isinstance(metadata, Mapping):
        return None
    usage: dict[str, Any] = {
        name: metadata[key] for key, name in USAGE_KEYS.items() if key in metadata
    }
    usage["usageMetadata"] = dict(metadata)
    return usage


def _first(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return next((mapping[k] for k in keys if mapping.get(k) is not None), None)


class GeminiReader(AnswerReader[S]):
    """Reads one successful ``generateContent`` answer (see the module's text)."""

    def sink_for(self, path: tuple[str | int, ...]) -> Any:
        if not _is_part(path):
            return None
        rest = path[5:]
        if len(rest) == 2 and rest[0] in IMAGE_KEYS and rest[1] == "data":
            return ImageData(self)
        if rest == ("text",):
            return TextPart(self)
        if len(rest) == 2 and rest[0] in FILE_KEYS and rest[1] in URI_KEYS:
            return UrlSink(self)
        if len(rest) == 1 and rest[0] in SIGNATURE_KEYS:
            return SignaturePart()
        return None

    def answer(self, body: Any, status: int, rid: str | None, model: str) -> Answer[S]:
        info = self.checked(body, status, rid, model)
        items, thoughts, words, turn = self._parts(body)
        if items:
            for item in thoughts:  # interim images of the model's thinking: not results
                if item.sink is not None:
                    item.sink.discard()
        else:
            items = thoughts
        if not items:
            raise self._no_image(body, status, words, info)
        return Answer(
            items=items,
            status=status,
            request_id=rid,
            created=self.redact(body.get("createTime")),
            usage=self.redact(usage_of(body.get("usageMetadata"))),
            text=words,
            turn=turn if items is not thoughts else [],
        )

    def _parts(
        self, body: Mapping[str, Any]
    ) -> tuple[list[AnswerItem[S]], list[Any], list[str], list[dict[str, Any]]]:
        """The images (results, and the thinking's), the model's words, and the model's
        turn as a conversation sends it back (SPEC 13): its parts that are not thoughts,
        in order, each ``{"image": i}`` (the i-th result) or ``{"text": ...}``, with the
        ``signature`` it came with (None: none)."""
        items: list[AnswerItem[S]] = []
        thoughts: list[AnswerItem[S]] = []
        words: list[str] = []
        turn: list[dict[str, Any]] = []
        size = 0
        for part in _all_parts(body):
            found, said = self._part(part)
            thought = part.get("thought") is True
            (thoughts if thought else items).extend(found)
            if not thought:
                turn += _turn_part(part, found, said, len(items) - len(found))
            if said is not None and said.text.strip() and not thought and size < MAX_TEXTS:
                text = said.text if not said.cut else said.text + f" [… {said.cut} bytes cut]"
                size += len(text)
                words.append(self.redact(text))
        return items, thoughts, words, turn

    def _part(self, part: Mapping[str, Any]) -> tuple[list[AnswerItem[S]], Words | None]:
        """One part: its images (decoded bytes, data: URIs in its text, a file URI; the
        first carries the part's signature) and its words."""
        signature = _first(part, SIGNATURE_KEYS)
        sig = signature.text if isinstance(signature, Signature) else None
        if isinstance(signature, str):  # not streamed (cannot happen): kept all the same
            sig = signature
        inline = _first(part, IMAGE_KEYS)
        text = part.get("text")
        if isinstance(inline, Mapping) and isinstance(inline.get("data"), Decoded):
            found: Decoded[S] = inline["data"]
            if found.size == 0:  # an empty image: nothing to save
                found.sink.discard()
                return [], None
            return [AnswerItem(sink=found.sink, signature=sig)], None
        if isinstance(text, TextImages):
            sigs = [sig] + [None] * (len(text.images) - 1)
            got = [
                AnswerItem(sink=d.sink, signature=g) for d, g in zip(text.images, sigs, strict=True)
            ]
            return got, text.words
        file = _first(part, FILE_KEYS)
        uri = _first(file, URI_KEYS) if isinstance(file, Mapping) else None
        if isinstance(uri, DataUrl):
            return [AnswerItem(sink=uri.sink, signature=sig)], None
        if isinstance(uri, str) and uri.strip():
            return [AnswerItem(url=self.redact(uri.strip()), signature=sig)], None
        return [], text if isinstance(text, Words) else None

    def _no_image(
        self, body: Mapping[str, Any], status: int, words: list[str], info: dict[str, Any]
    ) -> ApiError:
        """The error of an answer without an image: why, in the API's and model's words."""
        reasons, details = why_no_image(body)
        if words:
            details["text"] = words
            reasons.append("the model said: " + one_line(" ".join(words), 300))
        said = self.redact("; ".join(dict.fromkeys(reasons)))
        what = T("no image") if body.get("candidates") else T("no candidates")
        return no_image(status, what, said or None, info, details=self.redact(details))


def why_no_image(body: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """The reasons an answer gives for having no image (``promptFeedback.blockReason``,
    each candidate's ``finishReason`` and ``finishMessage``), in words and as details."""
    reasons: list[str] = []
    details: dict[str, Any] = {}
    feedback = body.get("promptFeedback")
    if isinstance(feedback, Mapping) and isinstance(feedback.get("blockReason"), str):
        details["block_reason"] = feedback["blockReason"]
        reasons.append(f"blockReason: {feedback['blockReason']}")
        if isinstance(feedback.get("blockReasonMessage"), str):
            reasons.append(one_line(feedback["blockReasonMessage"], 200))
    candidates = body.get("candidates")
    found = (
        [c for c in candidates if isinstance(c, Mapping)] if isinstance(candidates, list) else []
    )
    ends = [c["finishReason"] for c in found if isinstance(c.get("finishReason"), str)]
    if ends:
        details["finish_reason"] = ends[0] if len(ends) == 1 else ends
        reasons.append("finishReason: " + ", ".join(dict.fromkeys(ends)))
    for c in found:
        if isinstance(c.get("finishMessage"), str) and c["finishMessage"].strip():
            reasons.append(one_line(c["finishMessage"], 200))
    return reasons, details


def _turn_part(
    part: Mapping[str, Any], found: list[AnswerItem[Any]], said: Words | None, first: int
) -> list[dict[str, Any]]:
    """One part of the model's turn as the next turn sends it back (none: nothing to send):
    its images (``first`` is the first one's index), or its words."""
    signature = _first(part, SIGNATURE_KEYS)
    sig = signature.text if isinstance(signature, Signature) else signature
    sig = sig if isinstance(sig, str) else None
    if found:
        return [
            {"image": first + i, "signature": sig if i == 0 else None} for i in range(len(found))
        ]
    if said is not None:
        return [{"text": said.text, "signature": sig}]
    return []


def _all_parts(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every part of every candidate, in order."""
    found: list[Mapping[str, Any]] = []
    candidates = body.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else ():
        content = candidate.get("content") if isinstance(candidate, Mapping) else None
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, Mapping):
                found.append(part)
    return found


__all__ = ["GeminiReader", "MAX_SIGNATURE", "MAX_TEXT", "usage_of"]
