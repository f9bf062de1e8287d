"""Unit tests of the core's mechanics: Retry-After and backoff, the streamed multipart
body, the streaming JSON/base64 decoder, result naming and saving, settings and requests.
Property tests (Hypothesis) cover Retry-After parsing and output naming (issue 4)."""

from __future__ import annotations

import base64
import email.utils
import json
import math
import os
import random
import stat
import string
from pathlib import Path
from typing import Any

import pytest
from fakeserver import JPEG_BYTES, PNG_BYTES, WEBP_BYTES, _MultipartParser, make_big_png, make_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmxedit.api import retry
from dmxedit.api.jsonstream import Base64Decoder, JSONStreamError, parse
from dmxedit.api.multipart import MultipartBody
from dmxedit.api.request import build_request
from dmxedit.core import catalog
from dmxedit.core.errors import ConfigError, ExitCode, InputError, SaveError
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings, config_path, mask, read_config, resolve, set_value
from dmxedit.core.temporaries import Temporaries
from dmxedit.media.formats import sniff
from dmxedit.media.images import load_image, load_images
from dmxedit.store.results import Saver, write_metadata

# -- Retry-After and backoff ------------------------------------------------------------------

NOW = 1_800_000_000.0


def test_retry_after_forms() -> None:
    parse_ra = retry.parse_retry_after
    assert parse_ra({"Retry-After": "7"}) == 7.0
    assert parse_ra({"retry-after": " 2.5 "}) == 2.5
    assert parse_ra({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert parse_ra({"Retry-After": "-3"}) == 0.0
    assert parse_ra({"Retry-After": "soon"}) is None
    assert parse_ra({}) is None
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert parse_ra({"Retry-After": date}, now=NOW) == pytest.approx(90, abs=1)
    past = email.utils.formatdate(NOW - 90, usegmt=True)
    assert parse_ra({"Retry-After": past}, now=NOW) == 0.0


header_values = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats().map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "NaN", "Infinity", "1e-400", "0x10"]),
    st.integers(min_value=-(2**40), max_value=2**40).map(
        lambda t: email.utils.formatdate(t, usegmt=True) if -(2**35) < t < 2**35 else str(t)
    ),
    st.builds(
        lambda d, m, y, h: f"{d} {m} {y} {h}:00:00 GMT",
        st.integers(-5, 40),
        st.sampled_from(["Jan", "Feb", "Xyz", "Dec"]),
        st.integers(-10, 99999),
        st.integers(-3, 30),
    ),
)


@given(
    retry_after=st.one_of(st.none(), header_values),
    retry_after_ms=st.one_of(st.none(), header_values),
)
@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_retry_after_is_always_finite_and_non_negative(
    retry_after: str | None, retry_after_ms: str | None
) -> None:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if retry_after_ms is not None:
        headers["retry-after-ms"] = retry_after_ms
    value = retry.parse_retry_after(headers, now=NOW)
    assert value is None or (math.isfinite(value) and value >= 0)


@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0, max_value=100))
@settings(deadline=None)
def test_backoff_is_bounded_and_grows(attempt: int, base: float) -> None:
    rng = random.Random(attempt)
    delay = retry.backoff(attempt, base=base, rng=rng)
    ceiling = min(retry.MAX_BACKOFF, base * 2.0 ** (attempt - 1))
    assert 0.5 * ceiling <= delay <= ceiling
    assert delay <= retry.MAX_BACKOFF


def test_backoff_base_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DMXEDIT_RETRY_DELAY", "0")
    assert retry.backoff(5) == 0
    monkeypatch.setenv("DMXEDIT_RETRY_DELAY", "2")
    assert 1.0 <= retry.backoff(1) <= 2.0
    monkeypatch.setenv("DMXEDIT_RETRY_DELAY", "nonsense")
    assert retry.base_delay() == 1.0


def test_pacer_holds_every_caller_until_the_pause_ends() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    pacer = retry.Pacer(sleep=sleep, clock=lambda: clock[0])
    pacer.wait()
    assert slept == []
    pacer.pause(1.2)
    pacer.pause(0.5)  # a shorter pause does not cut a longer one
    pacer.wait()
    assert clock[0] == pytest.approx(1.2)
    assert all(s <= 0.5 for s in slept)


# -- the streamed multipart body ---------------------------------------------------------------


def _request(images: list[Path], **kwargs: Any) -> Any:
    params = kwargs.pop("params", ())
    return build_request(
        "edit",
        Settings(base_url="http://127.0.0.1:9/v1", **kwargs),
        images=load_images([str(p) for p in images]),
        prompt="make it snow",
        params=params,
    )


def _parse(body: MultipartBody) -> list[Any]:
    parser = _MultipartParser(body.boundary.encode(), keep_bytes=True)
    for chunk in body:
        parser.feed(chunk)
    return parser.parts


def test_body_is_streamed_in_bounded_chunks_and_matches_its_length(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(make_big_png(5 * 1024 * 1024 + 17))
    small = tmp_path / "small.webp"
    small.write_bytes(WEBP_BYTES)
    request = _request([big, small], ratio="5:4", size="4k")
    progress: list[int] = []
    body = MultipartBody(
        request.fields(), request.images, on_progress=progress.append, chunk_size=256 * 1024
    )
    chunks = list(body)
    assert max(len(c) for c in chunks) <= 256 * 1024  # never the whole body at once
    assert len(chunks) > 20
    assert sum(len(c) for c in chunks) == len(body)
    assert progress == sorted(progress) and progress[-1] == len(body)
    parts = _parse(body)
    assert [(p.name, p.filename, p.content_type) for p in parts[-2:]] == [
        ("image", "big.png", "image/png"),
        ("image", "small.webp", "image/webp"),
    ]
    assert parts[-2].data == big.read_bytes() and parts[-1].data == WEBP_BYTES
    assert [(p.name, p.text) for p in parts[:-2]] == request.fields()


def test_a_retry_rebuilds_the_body_from_fresh_file_handles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_png(50, 50))
    request = _request([image])
    body = MultipartBody(request.fields(), request.images)
    opened: list[Any] = []
    from dmxedit.media import inputs as images_module

    def counting_open(path: Any, mode: str = "r") -> Any:
        handle = open(path, mode)  # noqa: SIM115 - closed by the body, checked below
        opened.append(handle)
        return handle

    monkeypatch.setattr(images_module, "open", counting_open, raising=False)
    first = b"".join(body)
    second = b"".join(body)
    assert first == second and len(first) == len(body)
    assert len(opened) == 2 and opened[0] is not opened[1]
    assert all(h.closed for h in opened)
    assert body.iterations == 2


def test_body_refuses_a_file_that_changed_size(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_png(50, 50))
    request = _request([image])
    body = MultipartBody(request.fields(), request.images)
    image.write_bytes(make_png(10, 10))
    with pytest.raises(OSError, match="shrank"):
        b"".join(body)


def test_images_are_hashed_only_when_asked(tmp_path: Path) -> None:
    import hashlib

    image = tmp_path / "a.png"
    image.write_bytes(make_png(20, 20))
    request = _request([image])
    plain = MultipartBody(request.fields(), request.images, hash_images=False)
    b"".join(plain)
    assert plain.sha256 == []
    hashed = MultipartBody(request.fields(), request.images)
    b"".join(hashed)
    assert hashed.sha256 == [hashlib.sha256(image.read_bytes()).hexdigest()]


# -- streaming JSON and base64 ------------------------------------------------------------------


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


# -- naming and saving results ------------------------------------------------------------------


def _finish(
    folder: Path, data: bytes, prefix: str = "edited", stamp: str = "20260101_000000"
) -> Path:
    saver = Saver(folder=folder, prefix=prefix, stamp=stamp)
    saver.prepare()
    blob = saver.new_blob()
    blob.write(data)
    saved = saver.finish(blob)
    assert saved.path is not None
    return saved.path


@pytest.mark.parametrize(
    ("data", "ext"), [(PNG_BYTES, "png"), (JPEG_BYTES, "jpg"), (WEBP_BYTES, "webp")]
)
def test_names_come_from_the_stamp_and_the_bytes(tmp_path: Path, data: bytes, ext: str) -> None:
    assert _finish(tmp_path, data).name == f"edited_20260101_000000_1.{ext}"
    assert _finish(tmp_path, data, prefix="generated").name == f"generated_20260101_000000_1.{ext}"


name_parts = st.sampled_from(
    [
        "edited_20260101_000000_1.png",
        "edited_20260101_000000_1-2.png",
        "edited_20260101_000000_1-3.png",
        "edited_20260101_000000_1-10.png",
        "edited_20260101_000000_2.png",
        "edited_20260101_000000_1.jpg",
        "edited_20260101_000000_1.png.json",
        ".dmxedit-x.part",
        "edited_20260101_000000_1",
    ]
) | st.text(alphabet=string.ascii_letters + string.digits + "._-", min_size=1, max_size=30)


@given(existing=st.sets(name_parts, max_size=12), as_folders=st.booleans())
@settings(
    deadline=None, max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_saving_always_creates_exactly_one_new_file_inside_the_folder(
    tmp_path_factory: pytest.TempPathFactory, existing: set[str], as_folders: bool
) -> None:
    folder = tmp_path_factory.mktemp("out")
    for i, name in enumerate(sorted(existing)):
        if name in (".", ".."):
            continue
        target = folder / name
        if as_folders and i % 3 == 0:
            target.mkdir()
        else:
            target.write_bytes(f"old {name}".encode())
    before = {p.name: (p.read_bytes() if p.is_file() else None) for p in folder.iterdir()}
    path = _finish(folder, PNG_BYTES)
    after = {p.name: (p.read_bytes() if p.is_file() else None) for p in folder.iterdir()}
    assert path.parent == folder
    assert set(after) - set(before) == {path.name}
    assert {k: after[k] for k in before} == before  # nothing existing changed
    assert path.read_bytes() == PNG_BYTES
    assert not any(".part" in name for name in set(after) - set(before))


def test_bytes_that_are_not_an_image_are_refused_and_removed(tmp_path: Path) -> None:
    saver = Saver(folder=tmp_path / "out")
    saver.prepare()
    blob = saver.new_blob()
    blob.write(b"<html>not an image</html>")
    with pytest.raises(SaveError) as info:
        saver.finish(blob, "http://x/y.png")
    assert info.value.exit_code == ExitCode.NOT_SAVED and info.value.urls == ["http://x/y.png"]
    assert list((tmp_path / "out").iterdir()) == []


def test_a_failing_output_folder_moves_the_bytes_to_the_rescue_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = Saver(folder=tmp_path / "out")
    saver.prepare()
    blob = saver.new_blob()
    blob.write(PNG_BYTES[:10])
    real_write = os.write
    calls = [0]

    def failing_write(fd: int, data: Any) -> int:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    blob.write(PNG_BYTES[10:])
    monkeypatch.setattr(os, "write", real_write)
    with pytest.raises(SaveError) as info:
        saver.finish(blob)
    (kept,) = info.value.files
    assert Path(kept).parent == Path(os.environ["DMXEDIT_RESCUE_DIR"])
    assert Path(kept).read_bytes() == PNG_BYTES
    assert list((tmp_path / "out").iterdir()) == []


def test_metadata_is_never_overwritten(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(PNG_BYTES)
    assert write_metadata(image, {"a": 1}, Temporaries()) == tmp_path / "a.png.json"
    assert write_metadata(image, {"a": 2}, Temporaries()) is None
    assert json.loads((tmp_path / "a.png.json").read_text()) == {"a": 1}


# -- images, catalog, requests -------------------------------------------------------------------


def test_types_are_sniffed_from_bytes_never_names(tmp_path: Path) -> None:
    assert sniff(PNG_BYTES) == "image/png" and sniff(JPEG_BYTES) == "image/jpeg"
    assert sniff(WEBP_BYTES) == "image/webp" and sniff(b"GIF89a") is None
    fake = tmp_path / "photo.jpg"
    fake.write_bytes(WEBP_BYTES)
    image = load_image(str(fake))
    assert image.content_type == "image/webp" and (image.width, image.height) == (3, 2)
    jpeg = tmp_path / "x.png"
    jpeg.write_bytes(JPEG_BYTES)
    assert (load_image(str(jpeg)).width, load_image(str(jpeg)).height) == (2, 1)


def test_images_over_50_mib_are_refused_without_reading_them(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    with huge.open("wb") as fh:
        fh.write(PNG_BYTES[:33])
        fh.truncate(50 * 1024 * 1024 + 1)  # sparse: nothing is really written
    with pytest.raises(InputError, match="50 MiB") as info:
        load_image(str(huge))
    assert info.value.exit_code == ExitCode.USAGE


def test_catalog_table_and_tokens() -> None:
    assert catalog.pixels("5:4", "4K") == (4608, 3712)
    assert catalog.pixels("21:9", "1K") == (1584, 672)
    assert catalog.tokens_for("4K") == 2000 and catalog.tokens_for("1K") == 1210
    assert catalog.tokens_for(None) == 1210
    assert catalog.closest_ratio(1000, 1000) == "1:1"
    assert catalog.closest_ratio(1920, 1080) == "16:9"
    assert catalog.closest_ratio(1080, 1350) == "4:5"
    assert catalog.normalize_size(" 2k ") == "2K" and catalog.normalize_size("3k") is None


def test_request_fields_and_json_body(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_png(30, 20))
    edit = _request([image], ratio="auto", size="2k", params=["quality=high"])
    assert edit.fields() == [
        ("prompt", "make it snow"),
        ("n", "1"),
        ("model", "nano-banana-2"),
        ("aspect_ratio", "3:2"),
        ("size", "2K"),
        ("response_format", "url"),
        ("quality", "high"),
    ]
    with pytest.raises(InputError, match="one image"):
        _request([image], params=["n=3"])
    generate = build_request(
        "generate",
        Settings(base_url="http://h/v1/"),
        prompt="cat",
        params=["seed=7", "hd=false", "style=vivid", "ratio=1.5"],
    )
    assert generate.url == "http://h/v1/images/generations"
    assert generate.json_body() == {
        "model": "nano-banana-2",
        "prompt": "cat",
        "n": 1,
        "response_format": "url",
        "seed": 7,
        "hd": False,
        "style": "vivid",
        "ratio": 1.5,
    }
    described = json.dumps(generate.describe("sk-unit000000000000"), ensure_ascii=False)
    described += generate.curl()
    assert "sk-unit000000000000" not in described and "sk-…0000" in described


# -- settings ------------------------------------------------------------------------------------


def test_config_file_is_0600_in_a_0700_folder_and_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    set_value(path, "api-key", "sk-abc0000000000000")
    set_value(path, "model", "m2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_config(path) == {"api-key": "sk-abc0000000000000", "model": "m2"}
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


def test_unparsable_config_names_the_file_and_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("api-key = 'unterminated\n")
    with pytest.raises(ConfigError) as info:
        set_value(path, "model", "x")
    assert str(path) in info.value.message and info.value.exit_code == ExitCode.AUTH
    assert path.read_text() == "api-key = 'unterminated\n"


def test_precedence_flag_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config_path()
    set_value(path, "model", "from-file")
    set_value(path, "base-url", "http://file/v1")
    set_value(path, "api-key", "sk-file000000000000")
    monkeypatch.setenv("DMXAPI_BASE_URL", "http://env/v1")
    monkeypatch.setenv("DMXAPI_API_KEY", "sk-env0000000000000")
    found = resolve(ImageOptions(model="from-flag"))
    assert (found.model, found.sources["model"]) == ("from-flag", "flag")
    assert (found.base_url, found.sources["base-url"]) == ("http://env/v1", "env")
    assert (found.api_key, found.sources["api-key"]) == ("sk-env0000000000000", "env")
    assert (found.timeout, found.sources["timeout"]) == (600.0, "default")
    monkeypatch.delenv("DMXAPI_API_KEY")
    assert resolve().sources["api-key"] == "file"


def test_mask_never_shows_the_middle_of_a_key() -> None:
    assert mask("sk-abcdefghijklmnop1234") == "sk-…1234"
    assert "abcdefgh" not in mask("abcdefghijklmnop")
    assert mask("short") == "…" * 3
