"""The streaming JSON reader and its base64 decoder."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmxedit.api.jsonstream import Base64Decoder, JSONStreamError, parse


def decode(pieces: Iterable[bytes]) -> bytes:
    out: list[bytes] = []
    decoder = Base64Decoder(out.append)
    for piece in pieces:
        decoder.feed(piece)
    decoder.close()
    return b"".join(out)


def random_bytes(length: int, seed: int = 0) -> bytes:
    return random.Random(f"{seed}-{length}").randbytes(length)


Encoder = Callable[[bytes], bytes]


ENCODERS: dict[str, Encoder] = {
    "standard": base64.b64encode,
    "urlsafe": base64.urlsafe_b64encode,
}


def unpadded(data: bytes, alphabet: str) -> bytes:
    text = ENCODERS[alphabet](data).rstrip(b"=")
    assert len(text) % 4 != 1  # base64 never leaves one character over
    return text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


class _Collect:
    """A sink as the client's: base64 text in, decoded bytes out, piece by piece."""

    def __init__(self) -> None:
        self.data = b""
        self.decoder = Base64Decoder(self._got)

    def _got(self, data: bytes) -> None:
        self.data += data

    def write(self, data: bytes) -> None:
        self.decoder.feed(data)

    def finish(self) -> bytes:
        self.decoder.close()
        return self.data


@pytest.mark.parametrize("alphabet", sorted(ENCODERS))
def test_unpadded_base64_decodes_exactly_for_every_length(alphabet: str) -> None:
    special = b"+/" if alphabet == "standard" else b"-_"
    seen_special = False
    for length in range(301):
        data = random_bytes(length)
        text = unpadded(data, alphabet)
        seen_special = seen_special or any(c in text for c in special)
        assert decode([text]) == data, f"length {length}"
        assert decode([text[i : i + 1] for i in range(len(text))]) == data, f"length {length}"
    assert seen_special  # the alphabet's own characters were exercised


@pytest.mark.parametrize("alphabet", sorted(ENCODERS))
@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 47, 48, 49, 100])
def test_unpadded_base64_split_at_every_position(alphabet: str, length: int) -> None:
    data = random_bytes(length, seed=1)
    text = unpadded(data, alphabet)
    for cut in range(len(text) + 1):
        assert decode([text[:cut], text[cut:]]) == data, f"cut at {cut}"
    for first in range(len(text) + 1):
        for second in range(first, min(len(text), first + 6) + 1):
            pieces = [text[:first], text[first:second], text[second:]]
            assert decode(pieces) == data, f"cuts at {first}, {second}"


@pytest.mark.parametrize("alphabet", sorted(ENCODERS))
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_unpadded_base64_with_line_breaks(alphabet: str, newline: bytes) -> None:
    for length in range(0, 301, 7):
        data = random_bytes(length, seed=2)
        text = unpadded(data, alphabet)
        wrapped = newline.join(text[i : i + 76] for i in range(0, len(text), 76)) + newline
        assert decode([wrapped]) == data, f"length {length}"
        odd = newline.join(text[i : i + 5] for i in range(0, len(text), 5))  # breaks mid-quad
        assert decode([odd]) == data, f"length {length}"
        for cut in range(0, len(odd) + 1, 3):
            assert decode([odd[:cut], odd[cut:]]) == data, f"length {length}, cut at {cut}"


@pytest.mark.parametrize("alphabet", sorted(ENCODERS))
@pytest.mark.parametrize("length", [0, 1, 2, 3, 57, 58, 59])
def test_data_url_prefix_split_across_feeds(alphabet: str, length: int) -> None:
    data = random_bytes(length, seed=3)
    prefix = b"data:image/png;base64,"
    text = prefix + unpadded(data, alphabet)
    assert decode([text]) == data
    for cut in range(len(text) + 1):
        assert decode([text[:cut], text[cut:]]) == data, f"cut at {cut}"
    assert decode([text[i : i + 1] for i in range(len(text))]) == data


def test_unpadded_base64_through_the_json_stream() -> None:
    data = random_bytes(1000, seed=4)
    body = b'{"data": [{"b64_json": "' + unpadded(data, "urlsafe") + b'"}], "created": 1}'

    class Sink:
        def __init__(self) -> None:
            self.out: list[bytes] = []
            self.decoder = Base64Decoder(self.out.append)

        def write(self, piece: bytes) -> None:
            self.decoder.feed(piece)

        def finish(self) -> bytes:
            self.decoder.close()
            return b"".join(self.out)

    def open_sink(path: tuple[str | int, ...]) -> Sink | None:
        return Sink() if path == ("data", 0, "b64_json") else None

    for size in (1, 3, 4, 5, 64, len(body)):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        result: Any = parse(chunks, open_sink)
        assert result == {"data": [{"b64_json": data}], "created": 1}, f"chunks of {size}"


@pytest.mark.parametrize(
    "pieces",
    [
        [b"Q"],
        [b"QUJDR"],
        [b"QUJD", b"R"],
        [b"QUJD\r\n", b"R"],  # 7 characters sent, 5 after cleaning
        [b"QU", b"JD\nRE", b"VG", b"R"],
        [b"data:image/png;base64,QUJDR"],
        [b"data:image/png;ba", b"se64,QUJD", b"R"],
    ],
)
def test_truncated_base64_is_an_error(pieces: list[bytes]) -> None:
    decoder = Base64Decoder(lambda data: None)
    for piece in pieces:
        decoder.feed(piece)  # nothing is wrong yet: more could come
    with pytest.raises(JSONStreamError, match="truncated"):
        decoder.close()


def test_breaks_that_leave_whole_quads_are_not_truncation() -> None:
    assert decode([b"QUJD\n"]) == b"ABC"  # 5 characters sent, 4 after cleaning
    assert decode([b"QU\r\nJD\r\nRA"]) == b"ABCD"


@given(json_values, st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=30))
@settings(deadline=None, max_examples=200)
def test_streaming_parser_equals_json_loads_for_any_split(doc: Any, cuts: list[int]) -> None:
    text = json.dumps(doc, ensure_ascii=bool(cuts[0] % 2)).encode()
    pieces = []
    at = 0
    for cut in cuts * (len(text) // max(1, sum(cuts)) + 1):
        if at >= len(text):
            break
        pieces.append(text[at : at + cut])
        at += cut
    if at < len(text):
        pieces.append(text[at:])
    assert parse(pieces, lambda path: None) == json.loads(text)


@given(st.binary(max_size=3000), st.integers(min_value=1, max_value=97), st.booleans())
@settings(deadline=None, max_examples=150)
def test_b64_values_are_decoded_while_streaming(data: bytes, piece: int, wrap: bool) -> None:
    encoded = (base64.encodebytes(data) if wrap else base64.b64encode(data)).decode()
    text = json.dumps({"data": [{"b64_json": encoded, "revised_prompt": "p"}], "usage": {"n": 1}})
    raw = text.encode()
    sinks: list[_Collect] = []

    def open_sink(path: tuple[str | int, ...]) -> _Collect | None:
        if path == ("data", 0, "b64_json"):
            sinks.append(_Collect())
            return sinks[-1]
        return None

    body = parse([raw[i : i + piece] for i in range(0, len(raw), piece)], open_sink)
    assert sinks[0].data == data
    assert body["usage"] == {"n": 1} and body["data"][0]["revised_prompt"] == "p"


def test_base64_decoder_accepts_data_urls_and_url_safe_text() -> None:
    data = bytes(range(256)) * 3
    for text in (
        "data:image/png;base64," + base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
    ):
        out: list[bytes] = []
        decoder = Base64Decoder(out.append)
        for i in range(0, len(text), 7):
            decoder.feed(text[i : i + 7].encode())
        decoder.close()
        assert b"".join(out) == data


@pytest.mark.parametrize("bad", [b'{"data": [', b'{"a" 1}', b"[1, 2", b'{"x": tru}', b""])
def test_malformed_json_raises(bad: bytes) -> None:
    with pytest.raises(JSONStreamError):
        parse([bad], lambda path: None)


def test_invalid_base64_raises() -> None:
    decoder = Base64Decoder(lambda data: None)
    with pytest.raises(ValueError):
        decoder.feed(b"abc$%^&*")
        decoder.close()
