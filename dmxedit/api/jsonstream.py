"""A streaming JSON reader for the API's answers.

A b64_json answer carries the image as one JSON string tens of megabytes long. Parsing
it with ``json.loads`` holds the body, the string and the decoded bytes at once. This
reader walks the body as it arrives and hands the string values that a caller asks for
(by their path, e.g. ``("data", 0, "b64_json")``) to a sink piece by piece; everything
else is small and is built as usual.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from dmxedit.core.i18n import T

Path = tuple[str | int, ...]


class JSONStreamError(ValueError):
    """The body is not the JSON it should be."""


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def finish(self) -> Any: ...


_WS = b" \t\r\n"
_DELIMS = b",]} \t\r\n"
_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}
MAX_SMALL = 8 * 1024 * 1024  # a value nobody asked to stream must stay small
MAX_DEPTH = 128  # arrays and objects inside one another; an answer needs four


class _Reader:
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it: Iterator[bytes] = iter(chunks)
        self.buf = b""
        self.pos = 0

    def fill(self) -> bool:
        for chunk in self._it:
            if chunk:
                self.buf = self.buf[self.pos :] + chunk
                self.pos = 0
                return True
        return False

    def peek(self) -> int:
        if self.pos >= len(self.buf) and not self.fill():
            return -1
        return self.buf[self.pos]

    def take(self) -> int:
        c = self.peek()
        if c == -1:
            raise JSONStreamError(T("the body ended too early"))
        self.pos += 1
        return c

    def skip_ws(self) -> int:
        while True:
            c = self.peek()
            if c == -1 or c not in _WS:
                return c
            self.pos += 1

    def expect(self, char: bytes) -> None:
        c = self.skip_ws()
        if c != char[0]:
            got = "the end" if c == -1 else repr(chr(c))
            raise JSONStreamError(
                T("expected {decode!r}, found {got}", decode=char.decode(), got=got)
            )
        self.pos += 1

    def string_pieces(self) -> Iterator[tuple[bytes, bool]]:
        """The raw pieces of a string (after its opening quote): (bytes, is_escape)."""
        while True:
            if self.pos >= len(self.buf) and not self.fill():
                raise JSONStreamError(T("a string was not closed"))
            buf, pos = self.buf, self.pos
            quote = buf.find(b'"', pos)
            slash = buf.find(b"\\", pos, None if quote == -1 else quote)
            if slash != -1:
                if slash > pos:
                    yield buf[pos:slash], False
                self.pos = slash + 1
                code = self.take()
                if code == ord("u"):
                    digits = bytes(self.take() for _ in range(4))
                    yield b"\\u" + digits, True
                else:
                    yield b"\\" + bytes([code]), True
                continue
            if quote == -1:
                yield buf[pos:], False
                self.pos = len(buf)
                continue
            if quote > pos:
                yield buf[pos:quote], False
            self.pos = quote + 1
            return


def _unescape(escape: bytes) -> bytes:
    if escape[1] == ord("u"):
        try:
            return chr(int(escape[2:6], 16)).encode("utf-8", "surrogatepass")
        except ValueError:
            raise JSONStreamError(T("bad escape {escape!r}", escape=escape)) from None
    try:
        return _ESCAPES[escape[1]]
    except KeyError:
        raise JSONStreamError(T("bad escape {escape!r}", escape=escape)) from None


class _Parser:
    def __init__(self, reader: _Reader, open_sink: Callable[[Path], Sink | None]) -> None:
        self.r = reader
        self.open_sink = open_sink

    def value(self, path: Path) -> Any:
        c = self.r.skip_ws()
        if c in (ord("{"), ord("[")) and len(path) >= MAX_DEPTH:
            raise JSONStreamError(
                T(
                    "the body is nested more than {max_depth} levels deep",
                    max_depth=MAX_DEPTH,
                )
            )
        if c == ord("{"):
            return self.object(path)
        if c == ord("["):
            return self.array(path)
        if c == ord('"'):
            self.r.pos += 1
            sink = self.open_sink(path)
            if sink is None:
                return self.small_string()
            for piece, escaped in self.r.string_pieces():
                sink.write(_unescape(piece) if escaped else piece)
            return sink.finish()
        if c == -1:
            raise JSONStreamError(T("the body is empty or ended too early"))
        return self.scalar()

    def object(self, path: Path) -> dict[str, Any]:
        self.r.pos += 1
        obj: dict[str, Any] = {}
        if self.r.skip_ws() == ord("}"):
            self.r.pos += 1
            return obj
        while True:
            self.r.expect(b'"')
            key = self.small_string()
            self.r.expect(b":")
            obj[key] = self.value((*path, key))
            c = self.r.skip_ws()
            self.r.pos += 1
            if c == ord("}"):
                return obj
            if c != ord(","):
                raise JSONStreamError(T("expected ',' or '}}' in an object"))

    def array(self, path: Path) -> list[Any]:
        self.r.pos += 1
        items: list[Any] = []
        if self.r.skip_ws() == ord("]"):
            self.r.pos += 1
            return items
        while True:
            items.append(self.value((*path, len(items))))
            c = self.r.skip_ws()
            self.r.pos += 1
            if c == ord("]"):
                return items
            if c != ord(","):
                raise JSONStreamError(T("expected ',' or ']' in an array"))

    def small_string(self) -> str:
        pieces: list[bytes] = []
        size = 0
        for piece, _escaped in self.r.string_pieces():
            pieces.append(piece)
            size += len(piece)
            if size > MAX_SMALL:
                raise JSONStreamError(T("a text value is too long"))
        try:
            value = json.loads(b'"' + b"".join(pieces) + b'"')
        except ValueError as exc:
            raise JSONStreamError(T("bad text value: {exc}", exc=exc)) from None
        assert isinstance(value, str)
        return value

    def scalar(self) -> Any:
        token = bytearray()
        while True:
            c = self.r.peek()
            if c == -1 or c in _DELIMS:
                break
            token.append(c)
            self.r.pos += 1
            if len(token) > 400:
                raise JSONStreamError(T("a number or literal is too long"))
        try:
            return json.loads(bytes(token))
        except ValueError:
            raise JSONStreamError(T("unexpected {bytes!r}", bytes=bytes(token[:20]))) from None


def parse(chunks: Iterable[bytes], open_sink: Callable[[Path], Sink | None]) -> Any:
    """Parse one JSON document from ``chunks``, streaming the values ``open_sink`` takes.

    It stops at the end of the document: what follows it is not waited for (an answer
    complete but for a connection that stays open, or endless whitespace after it)."""
    return _Parser(_Reader(chunks), open_sink).value(())


class Base64Decoder:
    """Decode base64 text arriving in pieces, writing the bytes to ``write``.

    Tolerates line breaks, a ``data:image/...;base64,`` prefix and the URL-safe
    alphabet; anything else that is not base64 is an error.
    """

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._carry = b""
        self._started = False
        self._prefix = b""
        self.decoded = 0

    def feed(self, text: bytes) -> None:
        if not self._started:
            self._prefix += text
            head = self._prefix.lstrip()
            if len(head) < 5 and b"data:".startswith(head.lower()):
                return  # could still be a data: URL (any case: DATA: is one too)
            if head[:5].lower() == b"data:":
                comma = head.find(b",")
                if comma == -1:
                    if len(head) > 512:
                        raise JSONStreamError(T("b64_json holds a data: URL with no data"))
                    return
                head = head[comma + 1 :]
            self._prefix = b""
            self._started = True
            text = head
        clean = self._carry + text.translate(None, b" \t\r\n").translate(_URLSAFE)
        cut = len(clean) - len(clean) % 4
        self._carry = clean[cut:]
        if cut:
            self._decode(clean[:cut])

    def _decode(self, block: bytes) -> None:
        try:
            data = base64.b64decode(block, validate=True)
        except (binascii.Error, ValueError):
            raise JSONStreamError(T("b64_json is not valid base64")) from None
        self.decoded += len(data)
        self._write(data)

    def close(self) -> None:
        if not self._started:
            head = self._prefix.lstrip()
            if head[:5].lower() == b"data:":
                raise JSONStreamError(T("b64_json holds a data: URL with no data"))
            self._prefix = b""
            self._started = True
            self.feed(head)
        if self._carry:
            if len(self._carry) % 4 == 1:
                raise JSONStreamError(T("b64_json is truncated"))
            self._decode(self._carry + b"=" * (-len(self._carry) % 4))
            self._carry = b""


_URLSAFE = bytes.maketrans(b"-_", b"+/")
