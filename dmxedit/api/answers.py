"""A successful answer, read as it arrives: its images streamed into sinks, its URLs.

The client knows no files. Each image of an answer (decoded ``b64_json`` or a ``data:``
URL) goes into a *sink* the caller hands it: any object with ``write(bytes)`` and
``discard()`` (``dmxedit.store.results.Blob`` in practice). Every result URL is noted as
soon as it is parsed (:attr:`AnswerReader.urls`), so an answer that breaks off later
still gives the ones that came.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NoReturn, Protocol, TypeVar

from dmxedit.api.http import BOM, api_message, one_line
from dmxedit.api.jsonstream import Base64Decoder, JSONStreamError, parse
from dmxedit.api.models import MODELS_ADVICE, model_unusable
from dmxedit.core.errors import ApiError
from dmxedit.core.i18n import T

MAX_URL = 64 * 1024


class Sink(Protocol):
    """Where the bytes of one result image go."""

    def write(self, data: bytes) -> None: ...

    def discard(self) -> None: ...


S = TypeVar("S", bound=Sink)


@dataclass
class AnswerItem(Generic[S]):
    """One image of an answer: its URL, or (b64_json / data: URL) its received bytes."""

    url: str | None = None
    sink: S | None = None
    revised_prompt: str | None = None
    #: The gemini door's ``thoughtSignature`` of this image's part, as received (None:
    #: the part had none; ``""``: an empty one, as Pro's text-part images carry).
    signature: str | None = None


@dataclass
class Answer(Generic[S]):
    """A successful answer: the results, and what the API said besides."""

    items: list[AnswerItem[S]]
    status: int
    request_id: str | None = None
    created: Any = None
    usage: Any = None
    attempts: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    input_sha256: list[str | None] = field(default_factory=list)
    #: The model's own words (the gemini door's text parts), in the order they came.
    text: list[str] = field(default_factory=list)
    #: The gemini door's model turn, as a conversation sends it back (SPEC 13).
    turn: list[dict[str, Any]] = field(default_factory=list)


class TooLarge(Exception):
    """An image over the client's limit."""


class Capped:
    """A sink wrapper that refuses more than ``limit`` bytes."""

    def __init__(self, sink: Sink, limit: int) -> None:
        self.sink = sink
        self.limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge
        self.sink.write(data)


class B64Sink(Generic[S]):
    """Decode a streamed ``b64_json`` value straight into a sink."""

    def __init__(self, sink: S, limit: int) -> None:
        self.sink = sink
        self.decoder = Base64Decoder(Capped(sink, limit).write)

    def write(self, data: bytes) -> None:
        self.decoder.feed(data)

    def finish(self) -> S:
        self.decoder.close()
        return self.sink


@dataclass
class DataUrl(Generic[S]):
    """A ``url`` that was a ``data:image/...;base64,`` URI, decoded into a sink."""

    sink: S


class UrlSink(Generic[S]):
    """A ``url`` value: a short text (noted in ``urls``), or a ``data:`` URI decoded as
    it streams in."""

    def __init__(self, reader: AnswerReader[S]) -> None:
        self.reader = reader
        self.text = b""
        self.inner: B64Sink[S] | None = None

    def write(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.write(data)
            return
        self.text += data
        head = self.text.lstrip()[:5].lower()
        if head == b"data:":
            self.inner = B64Sink(self.reader.open(), self.reader.limit)
            self.inner.write(self.text.lstrip())
            self.text = b""
        elif len(self.text) > MAX_URL:
            raise JSONStreamError(T("a url value is too long"))

    def finish(self) -> str | DataUrl[S]:
        if self.inner is not None:
            return DataUrl(self.inner.finish())
        url = self.text.decode("utf-8", "replace")
        if url.strip():
            self.reader.urls.append(self.reader.redact(url.strip()))
        return url


_REASON_KEYS = (
    "message",
    "msg",
    "detail",
    "reason",
    "refusal",
    "finish_reason",
    "revised_prompt",
    "text",
    "content",
)


def empty_reason(body: Mapping[str, Any]) -> str | None:
    """Whatever reason a body without images gives: refusal text, finish reason..."""
    reasons: list[str] = []
    places: list[Mapping[str, Any]] = [body]
    data = body.get("data")
    if isinstance(data, list):
        places += [item for item in data if isinstance(item, Mapping)]
    for place in places:
        for key in _REASON_KEYS:
            value = place.get(key)
            if isinstance(value, str) and value.strip():
                reasons.append(f"{key}: {one_line(value, 200)}")
    return "; ".join(dict.fromkeys(reasons)) or None


def answer_chunks(
    chunks: Iterable[bytes], progress: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """An answer's body as it comes, a leading BOM dropped (RFC 8259 lets a parser ignore
    it); ``progress`` hears the bytes received so far."""
    received = 0
    first = True
    for chunk in chunks:
        received += len(chunk)
        if progress is not None:
            progress(received)
        if first:
            first = False
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
        yield chunk


class AnswerReader(Generic[S]):
    """Reads one successful answer: ``read`` parses the body as it arrives (images into
    new sinks, URLs noted), ``answer`` makes the :class:`Answer` of it. On any failure
    the caller discards ``opened``; ``urls`` holds every URL parsed so far."""

    def __init__(
        self,
        open_sink: Callable[[], S],
        limit: int,
        redact: Callable[[Any], Any],
    ) -> None:
        self.open_sink = open_sink
        self.limit = limit
        self.redact = redact
        self.opened: list[S] = []
        self.urls: list[str] = []

    def open(self) -> S:
        sink = self.open_sink()
        self.opened.append(sink)
        return sink

    def sink_for(self, path: tuple[str | int, ...]) -> Any:
        if len(path) == 3 and path[0] == "data" and path[2] == "b64_json":
            return B64Sink(self.open(), self.limit)
        if len(path) == 3 and path[0] == "data" and path[2] == "url":
            return UrlSink(self)
        return None

    def read(self, chunks: Iterable[bytes]) -> Any:
        """The parsed body; JSONStreamError, TooLarge, or what reading ``chunks`` raises."""
        return parse(chunks, self.sink_for)

    def discard(self) -> None:
        for sink in self.opened:
            sink.discard()

    def checked(self, body: Any, status: int, rid: str | None, model: str) -> dict[str, Any]:
        """The answer's facts for its errors; ApiError when ``body`` is not an object or
        is an error (a 2xx carrying one)."""
        info: dict[str, Any] = {"status": status, "request_id": rid}
        if not isinstance(body, dict):
            raise ApiError(
                T("The API answered {status} with a body that is not an object.", status=status),
                **info,
            )
        if body.get("error"):
            error_in_body(body, status, model, info, self.redact)
        return info

    def answer(self, body: Any, status: int, rid: str | None, model: str) -> Answer[S]:
        """The answer ``body`` stands for; ApiError when it holds no image."""
        info = self.checked(body, status, rid, model)
        data = body.get("data")
        items: list[AnswerItem[S]] = []
        for entry in data if isinstance(data, list) else ():
            if isinstance(entry, dict):
                item = self.item(entry)
                if item.url or item.sink is not None:
                    items.append(item)
        if not items:
            what = T("no image") if isinstance(data, list) else T("no data list")
            raise no_image(status, what, self.redact(empty_reason(body)), info)
        return Answer(
            items=items,
            status=status,
            request_id=rid,
            created=self.redact(body.get("created")),
            usage=self.redact(body.get("usage")),
        )

    def item(self, entry: Mapping[str, Any]) -> AnswerItem[S]:
        """One entry of ``data``: its URL, its decoded image, its revised prompt."""
        url, blob = entry.get("url"), entry.get("b64_json")
        revised = entry.get("revised_prompt")
        item: AnswerItem[S] = AnswerItem()
        item.revised_prompt = self.redact(revised) if isinstance(revised, str) else None
        if isinstance(url, DataUrl):
            item.sink = url.sink
        elif isinstance(url, str) and url.strip():
            # A URL that holds the key is never fetched (the key would go to the download
            # host) nor shown or stored: its masked form stands in for it.
            item.url = self.redact(url.strip())
        if blob is not None and not isinstance(blob, (str, int, float, bool, list, dict)):
            if item.sink is None:
                item.sink = blob  # the decoded b64_json
            else:
                blob.discard()  # the same image twice: saved once
        return item


def error_in_body(
    body: Mapping[str, Any],
    status: int,
    model: str,
    info: Any,
    redact: Callable[[Any], Any],
) -> NoReturn:
    """The ApiError of a body with an ``error`` object (OpenAI's or Google's shape), even
    under HTTP 200."""
    import json

    encoded = json.dumps(body, ensure_ascii=False).encode()
    said = redact(api_message(encoded) or "no message")
    if model_unusable(encoded, said) is not None:
        raise ApiError(
            T(
                "The API answered {status} with an error about the model "
                "{model!r}: {said} {models_advice}",
                status=status,
                model=model,
                said=said,
                models_advice=MODELS_ADVICE,
            ),
            hint=T(
                "Choose another with --model NAME or `dmxedit config set model NAME`.",
            ),
            **info,
        )
    raise ApiError(
        T(
            "The API answered {status} with an error: {said}",
            status=status,
            said=said,
        ),
        **info,
    )


def no_image(
    status: int, what: str, reason: str | None, info: dict[str, Any], **details: Any
) -> ApiError:
    """The error of a successful answer without an image: why, when it says (exit 4)."""
    message = (
        T(
            "The API answered {status} but sent {what} ({reason}).",
            status=status,
            what=what,
            reason=reason,
        )
        if reason
        else T(
            "The API answered {status} but sent {what} and gave no reason.",
            status=status,
            what=what,
        )
    )
    hint = T("The prompt or the images may have been refused; try rewording it.")
    return ApiError(message, hint=hint, **details, **info)


def kept(urls: list[str]) -> list[str] | None:
    """The URLs of an error after the answer began: those that had come (None: none)."""
    return list(urls) or None


def kept_words(urls: list[str]) -> str:
    """The same, in words for an error's message."""
    if not urls:
        return ""
    return T(" The result URLs that had arrived: {urls}.", urls=" ".join(urls))


__all__ = [
    "Answer",
    "AnswerItem",
    "AnswerReader",
    "B64Sink",
    "Capped",
    "DataUrl",
    "Sink",
    "TooLarge",
    "answer_chunks",
    "UrlSink",
    "empty_reason",
    "no_image",
    "error_in_body",
    "kept",
    "kept_words",
]
