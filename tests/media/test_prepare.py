"""Input preparation (SPEC 9, issue 12 point 2): HEIC/HEIF, AVIF, GIF, BMP and TIFF
converted before upload, EXIF orientation applied, --max-side, inputs over 50 MiB
re-encoded to fit; every change reported and recorded; without the extra
``dmxedit[images]`` such inputs are refused naming ``pip install 'dmxedit[images]'``.

The fixtures are made here with Pillow; what the fake server received is decoded again
to check its format, size and orientation.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeDMX, make_png
from helpers import block_pillow, expect

from dmxedit.media import formats, inputs, prepare
from dmxedit.media import images as images_mod

INSTALL = "pip install 'dmxedit[images]'"


@pytest.fixture(autouse=True)
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Prepared uploads go to a temporary folder of this test's own, to see them go."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def halves(pil: Any, size: tuple[int, int] = (300, 200), mode: str = "RGB") -> Any:
    """Left half red, right half blue: its orientation can be read back."""
    im = pil.new(mode, size, "red")
    im.paste(pil.new(mode, (size[0] // 2, size[1]), "blue"), (size[0] // 2, 0))
    return im


def make(pil: Any, path: Path, fmt: str, **kw: Any) -> Path:
    halves(pil).save(path, fmt, **kw)
    return path


def rotated_jpeg(
    pil: Any, path: Path, orientation: int = 6, size: tuple[int, int] = (300, 200)
) -> Path:
    exif = pil.Exif()
    exif[0x0112] = orientation
    halves(pil, size).save(path, "JPEG", exif=exif.tobytes(), quality=90)
    return path


def sent(server: FakeDMX, pil: Any, index: int = 0) -> tuple[Any, Any]:
    """(the part, the decoded image) of the last edit's image ``index``."""
    part = server.posts("/v1/images/edits")[-1].images[index]
    assert part.data is not None
    return part, pil.open(io.BytesIO(part.data))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- conversions, end to end with the fake server ---------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "word"),
    [
        ("photo.heic", "HEIF", "HEIC"),
        ("photo.avif", "AVIF", "AVIF"),
        ("scan.bmp", "BMP", "BMP"),
        ("scan.tiff", "TIFF", "TIFF"),
    ],
)
def test_other_formats_are_converted_to_png(
    cli: Any,
    server: FakeDMX,
    pil: Any,
    tmp_path: Path,
    own_tmp: Path,
    name: str,
    fmt: str,
    word: str,
) -> None:
    source = make(pil, tmp_path / name, fmt)
    run = expect(cli("edit", str(source), "-p", "x", "--json"), 0, f"converted {word} to PNG")
    part, image = sent(server, pil)
    assert part.content_type == "image/png" and image.format == "PNG"
    assert image.size == (300, 200)
    assert part.filename == Path(name).stem + ".png"
    red = image.convert("RGB").getpixel((10, 10))
    assert red[0] > 240 and red[2] < 15, red  # lossy sources are near red
    (item,) = json.loads(run.stdout)["inputs"]
    assert item["path"] == str(source)
    assert item["sha256"] == sha(source.read_bytes()) and item["bytes"] == source.stat().st_size
    assert item["sent_sha256"] == sha(part.data or b"") and item["sent_bytes"] == part.size
    assert item["sent_content_type"] == "image/png"
    assert item["changes"] == [f"converted {word} to PNG"]
    assert list(own_tmp.iterdir()) == []  # the prepared file is gone


def test_an_animated_gif_sends_its_first_frame(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path
) -> None:
    frames = [pil.new("RGB", (60, 40), color) for color in ("green", "red", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    expect(cli("edit", str(path), "-p", "x"), 0, "kept the first of 3 frames")
    _, image = sent(server, pil)
    assert image.format == "PNG" and image.size == (60, 40)
    assert image.convert("RGB").getpixel((5, 5)) == (0, 128, 0)


def test_exif_orientation_is_applied(cli: Any, server: FakeDMX, pil: Any, tmp_path: Path) -> None:
    path = rotated_jpeg(pil, tmp_path / "phone.jpg", 6)
    expect(cli("edit", str(path), "-p", "x"), 0, "applied EXIF orientation 6")
    part, image = sent(server, pil)
    assert part.content_type == "image/jpeg" and image.format == "JPEG"
    assert image.size == (200, 300)  # rotated 90° clockwise: the left half is on top
    assert image.getexif().get(0x0112, 1) == 1  # nothing left for the viewer to rotate
    top, bottom = image.getpixel((100, 20)), image.getpixel((100, 280))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom


def test_ratio_auto_takes_the_shape_as_it_will_be_seen(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path
) -> None:
    path = rotated_jpeg(pil, tmp_path / "phone.jpg", 6, size=(400, 300))  # 3:4 upright
    expect(cli("edit", str(path), "-p", "x", "--ratio", "auto"))
    assert server.posts()[-1].fields["aspect_ratio"] == "3:4"


@pytest.mark.parametrize("kind", ["png", "jpeg", "webp"])
def test_inputs_that_need_nothing_are_sent_untouched(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, own_tmp: Path, kind: str
) -> None:
    path = make(pil, tmp_path / f"plain.{kind}", kind.upper())
    run = expect(cli("edit", str(path), "-p", "x", "--max-side", "300", "--json"))
    part, _ = sent(server, pil)
    assert part.data == path.read_bytes()
    assert "(was " not in run.stderr  # no change to report
    (item,) = json.loads(run.stdout)["inputs"]
    assert item["changes"] == [] and item["sha256"] == item["sent_sha256"] == sha(path.read_bytes())
    assert list(own_tmp.iterdir()) == []


def test_max_side_downscales(cli: Any, server: FakeDMX, pil: Any, tmp_path: Path) -> None:
    path = make(pil, tmp_path / "big.png", "PNG")
    run = expect(
        cli("edit", str(path), "-p", "x", "--max-side", "100", "--json"), 0, "sending 100x66"
    )
    part, image = sent(server, pil)
    assert image.size == (100, 66) and part.content_type == "image/png"
    (item,) = json.loads(run.stdout)["inputs"]
    assert item["width"] == 300 and item["sent_width"] == 100
    assert "downscaled 300x200 to 100x66 (--max-side 100)" in item["changes"]


def test_max_side_decodes_a_jpeg_at_a_reduced_scale(pil: Any, tmp_path: Path) -> None:
    from dmxedit.core.temporaries import Temporaries

    path = rotated_jpeg(pil, tmp_path / "phone.jpg", 8, size=(1600, 1200))
    image = images_mod.load_image(str(path), max_side=200)
    seen: list[tuple[int, int]] = []
    real = prepare._decode

    def spy(*args: Any) -> Any:
        im = real(*args)
        seen.append(im.size)
        return im

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(prepare, "_decode", spy)
        out = prepare.prepare_image(image, Temporaries())
    assert seen == [(200, 150)]  # DCT scaling by 1/8, not the whole 1600x1200
    assert (out.width, out.height) == (150, 200)


@pytest.mark.parametrize("value", ["10", "0", "-5"])
def test_max_side_values_are_checked(cli: Any, server: FakeDMX, png: Path, value: str) -> None:
    expect(cli("edit", str(png), "-p", "x", "--max-side", value), 2, "--max-side", "at least 64")
    assert server.posts() == []


def test_generate_has_no_max_side(cli: Any) -> None:
    run = cli("generate", "-p", "x", "--max-side", "100")
    assert run.code == 2 and "--max-side" in run.stderr


# -- inputs over the size limit ------------------------------------------------------------


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """A 200 KiB limit in place of 50 MiB, so oversize inputs are quick to make."""
    limit = 200 * 1024
    monkeypatch.setattr(images_mod, "MAX_IMAGE_BYTES", limit)
    monkeypatch.setattr(prepare, "MAX_IMAGE_BYTES", limit)
    monkeypatch.setattr(inputs, "MAX_IMAGE_BYTES", limit)
    monkeypatch.setattr(inputs, "PNG_ROOM", 4096)
    return limit


def noise(pil: Any, size: tuple[int, int], mode: str) -> Any:
    return pil.frombytes(mode, size, os.urandom(size[0] * size[1] * len(mode)))


def test_an_oversize_photo_becomes_a_jpeg_that_fits(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, small_limit: int
) -> None:
    path = tmp_path / "noise.png"
    noise(pil, (400, 300), "RGB").save(path, compress_level=0)
    assert path.stat().st_size > small_limit
    run = expect(cli("edit", str(path), "-p", "x", "--json"), 0, "re-encoded as JPEG")
    part, image = sent(server, pil)
    assert part.content_type == "image/jpeg" and image.format == "JPEG"
    assert part.size < small_limit
    (item,) = json.loads(run.stdout)["inputs"]
    assert item["bytes"] == path.stat().st_size and item["sent_bytes"] == part.size


def test_an_oversize_image_with_transparency_stays_png_downscaled(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, small_limit: int
) -> None:
    path = tmp_path / "noise.png"
    noise(pil, (400, 300), "RGBA").save(path, compress_level=0)
    expect(cli("edit", str(path), "-p", "x"), 0, "to fit under 50 MiB")
    part, image = sent(server, pil)
    assert part.content_type == "image/png" and image.mode == "RGBA"
    assert part.size < small_limit and image.size[0] < 400


def test_an_oversize_image_on_standard_input_is_re_encoded_too(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, small_limit: int
) -> None:
    path = tmp_path / "noise.png"
    noise(pil, (400, 300), "RGB").save(path, compress_level=0)
    assert path.stat().st_size > small_limit
    expect(cli("edit", "-", "-p", "x", input=path.read_bytes()), 0, "re-encoded as JPEG")
    part, image = sent(server, pil)
    assert part.content_type == "image/jpeg" and part.size < small_limit
    assert image.size == (400, 300)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_real_input_over_50_mib_is_re_encoded(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, own_tmp: Path
) -> None:
    path = tmp_path / "huge.png"
    noise(pil, (5000, 3600), "RGB").save(path, compress_level=0)
    assert path.stat().st_size >= 50 * 1024 * 1024
    expect(cli("edit", str(path), "-p", "x"), 0, "re-encoded as JPEG to fit under 50 MiB")
    part, image = sent(server, pil)
    assert part.content_type == "image/jpeg" and part.size < 50 * 1024 * 1024
    assert image.size == (5000, 3600)
    assert list(own_tmp.iterdir()) == []


# -- without the extra ----------------------------------------------------------------------


def test_without_the_extra_each_format_is_refused_by_name(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = (("a.heic", "HEIF"), ("b.avif", "AVIF"), ("c.gif", "GIF"), ("d.bmp", "BMP"))
    paths = [make(pil, tmp_path / name, fmt) for name, fmt in (*names, ("e.tif", "TIFF"))]
    block_pillow(monkeypatch)
    run = expect(cli("edit", *map(str, paths), "-p", "x"), 2, INSTALL)
    for path, word in zip(paths, ("HEIC", "AVIF", "GIF", "BMP", "TIFF"), strict=True):
        assert f"'{path}' is a {word} file" in run.stderr  # every one named at once
    assert server.posts() == []


def test_without_the_extra_an_oversize_input_is_refused(
    cli: Any, server: FakeDMX, tmp_path: Path, small_limit: int, no_pillow: None
) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(make_png(8, 8) + b"\0" * small_limit)
    expect(cli("edit", str(path), "-p", "x"), 2, "under 50 MiB", INSTALL)
    assert server.posts() == []


def test_without_the_extra_max_side_that_would_downscale_is_refused(
    cli: Any, server: FakeDMX, tmp_path: Path, no_pillow: None
) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(make_png(400, 300))
    expect(cli("edit", str(path), "-p", "x", "--max-side", "100"), 2, "--max-side", INSTALL)
    small = tmp_path / "small.png"
    small.write_bytes(make_png(80, 60))
    expect(cli("edit", str(small), "-p", "x", "--max-side", "100"))  # nothing to do: fine
    assert server.posts()[-1].images[0].data == small.read_bytes()


def test_without_the_extra_a_rotated_jpeg_is_sent_as_is_with_a_warning(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = rotated_jpeg(pil, tmp_path / "phone.jpg", 6)
    block_pillow(monkeypatch)
    expect(cli("edit", str(path), "-p", "x"), 0, "EXIF orientation 6", INSTALL)
    assert server.posts()[-1].images[0].data == path.read_bytes()


def test_the_light_path_does_not_import_pillow(
    cli: Any, server: FakeDMX, png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PIL", "PIL.Image", "pillow_heif"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    expect(cli("edit", str(png), "-p", "x"))
    assert "PIL" not in sys.modules and "pillow_heif" not in sys.modules


# -- what is shown and recorded ------------------------------------------------------------


def test_dry_run_shows_the_plan_and_keeps_only_the_file_curl_sends(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, own_tmp: Path
) -> None:
    path = make(pil, tmp_path / "photo.heic", "HEIF")
    run = expect(cli("edit", str(path), "-p", "x", "--dry-run"))
    assert "sent as image/png, 300x200: converted HEIC to PNG" in run.stdout
    assert "was converted for this command" in run.stdout
    described = json.loads(expect(cli("edit", str(path), "-p", "x", "--dry-run", "--json")).stdout)
    (part,) = described["request"]["files"]
    assert part["content_type"] == "image/png" and part["source_content_type"] == "image/heic"
    assert part["changes"] == ["converted HEIC to PNG"]
    assert server.posts() == []
    # no temporary upload file is left: only the folders holding the file curl sends
    kept = sorted(p.relative_to(own_tmp).parts[1] for p in own_tmp.rglob("*") if p.is_file())
    assert kept == ["photo.png", "photo.png"]
    assert all(p.name.startswith("dmxedit-dry-run-") for p in own_tmp.iterdir())


def test_metadata_and_ledger_record_original_and_sent(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path
) -> None:
    path = rotated_jpeg(pil, tmp_path / "phone.jpg", 6)
    plain = tmp_path / "plain.png"
    plain.write_bytes(make_png(40, 30))
    run = expect(cli("edit", str(path), str(plain), "-p", "x", "--save-metadata", "--json"))
    part = server.posts()[-1].images[0]
    meta_file = json.loads(run.stdout)["metadata_files"][0]
    meta = json.loads(Path(meta_file).read_text())["inputs"]
    assert meta[0]["name"] == str(path)
    assert meta[0]["sha256"] == sha(path.read_bytes())
    assert meta[0]["sent_sha256"] == sha(part.data or b"")
    assert meta[0]["changes"][0].startswith("applied EXIF orientation 6")
    assert meta[1]["changes"] == [] and meta[1]["sha256"] == sha(plain.read_bytes())
    shown = json.loads(expect(cli("history", "show", "1", "--json")).stdout)
    first, second = shown["inputs"]
    assert first["path"] == str(path.resolve())  # the user's file, not the temporary one
    assert first["sha256"] == sha(path.read_bytes())
    assert first["sent_sha256"] == sha(part.data or b"")
    assert first["bytes"] == path.stat().st_size and first["sent_bytes"] == part.size
    assert first["changes"] == meta[0]["changes"]
    assert second["sha256"] == second["sent_sha256"] == sha(plain.read_bytes())


def test_the_prepared_file_is_removed_after_a_failure_and_an_interrupt(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, own_tmp: Path
) -> None:
    from fakeserver import Reply

    path = make(pil, tmp_path / "photo.heic", "HEIF")
    server.script("/v1/images/edits", Reply(status=400, json={"error": {"message": "no"}}))
    expect(cli("edit", str(path), "-p", "x"), 4)
    assert list(own_tmp.iterdir()) == []

    def interrupt(*args: Any, **kwargs: Any) -> Any:
        assert [p.name for p in own_tmp.iterdir()][0].startswith("dmxedit-upload-")
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("dmxedit.api.client.Client.send", interrupt)
        expect(cli("edit", str(path), "-p", "x"), 130, "nothing was billed")
    assert list(own_tmp.iterdir()) == []


def test_an_unreadable_file_of_a_known_format_is_a_clear_error(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path
) -> None:
    path = tmp_path / "broken.heic"
    path.write_bytes(make(pil, tmp_path / "ok.heic", "HEIF").read_bytes()[:40])
    expect(cli("edit", str(path), "-p", "x"), 2, "broken.heic", "cannot be read")
    assert server.posts() == []


def test_a_heic_from_standard_input(cli: Any, server: FakeDMX, pil: Any, tmp_path: Path) -> None:
    data = make(pil, tmp_path / "photo.heic", "HEIF").read_bytes()
    expect(cli("edit", "-", "-p", "x", input=data), 0, "converted HEIC to PNG")
    part, image = sent(server, pil)
    assert part.filename == "stdin.png" and image.size == (300, 200)


def test_batch_jobs_prepare_their_inputs_with_their_own_max_side(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path
) -> None:
    make(pil, tmp_path / "a.heic", "HEIF")
    make(pil, tmp_path / "b.png", "PNG")
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"id": "a", "images": ["a.heic"], "prompt": "x"})
        + "\n"
        + json.dumps({"id": "b", "images": ["b.png"], "prompt": "x", "max_side": 150})
        + "\n"
    )
    run = expect(cli("batch", str(jobs), "--max-side", "100"), 0, "job a (line 1): ")
    shapes = {}
    for post in server.posts("/v1/images/edits"):
        part = post.images[0]
        shapes[part.filename] = pil.open(io.BytesIO(part.data or b"")).size
    assert shapes == {"a.png": (100, 66), "b.png": (150, 100)}
    lines = [json.loads(x) for x in (tmp_path / "jobs.results.jsonl").read_text().splitlines()]
    final = {x["id"]: x for x in lines if x["status"] == "ok"}
    (item,) = final["a"]["inputs"]
    assert item["changes"][0] == "converted HEIC to PNG"
    assert item["sha256"] == sha((tmp_path / "a.heic").read_bytes())
    assert "a.heic: converted HEIC to PNG" in run.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"images": ["b.png"], "prompt": "x", "max_side": 3}) + "\n")
    expect(cli("batch", str(bad)), 2, "line 1", "at least 64")


def test_the_library_takes_max_side(
    server: FakeDMX, pil: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import KEY

    from dmxedit import edit_image

    monkeypatch.setenv("DMXAPI_API_KEY", KEY)
    monkeypatch.setenv("DMXAPI_BASE_URL", server.base_url)
    path = make(pil, tmp_path / "photo.tiff", "TIFF")
    result = edit_image([path], "x", max_side=120, output=tmp_path / "out")
    (item,) = result.inputs
    assert (item["sent_width"], item["sent_height"]) == (120, 80)
    assert item["changes"][0] == "converted TIFF to PNG"


# -- the pieces -----------------------------------------------------------------------------


def test_formats_are_told_by_their_bytes_without_pillow(no_pillow: None) -> None:
    assert formats.heif_kind(b"\0\0\0\x1cftypheic\0\0\0\0mif1heic") == "HEIC"
    assert formats.heif_kind(b"\0\0\0\x1cftypmif1\0\0\0\0mif1avif") == "AVIF"  # compatible brand
    assert formats.heif_kind(b"\0\0\0\x18ftypmif1\0\0\0\0mif1") == "HEIF"
    assert formats.heif_kind(b"\0\0\0\x18ftypisom\0\0\0\0isom") is None  # an MP4
    assert formats.describe_other(b"\0\0\0 ftypavif\0\0\0\0avifmif1") == "AVIF"


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_read_without_pillow(
    pil: Any, tmp_path: Path, orientation: int
) -> None:
    exif = pil.Exif()
    exif[0x0112] = orientation
    for fmt, kind in (("JPEG", "image/jpeg"), ("PNG", "image/png")):
        buffer = io.BytesIO()
        halves(pil).save(buffer, fmt, exif=exif.tobytes())
        assert formats.exif_orientation(buffer, kind) == orientation
    assert formats.exif_orientation(io.BytesIO(make_png(4, 4)), "image/png") == 1


def test_check_max_side() -> None:
    assert prepare.check_max_side(None) is None
    assert prepare.check_max_side("2048") == 2048
    for bad in (63, "x", True, 100.5):
        with pytest.raises(Exception, match="at least 64"):
            prepare.check_max_side(bad)


def test_an_unprepared_plan_is_never_sent(pil: Any, tmp_path: Path) -> None:
    from dmxedit.api.multipart import MultipartBody

    image = images_mod.load_image(str(make(pil, tmp_path / "a.heic", "HEIF")))
    assert image.plan is not None
    with pytest.raises(ValueError, match="prepared"):
        MultipartBody([], [image])


def test_variants_and_each_send_prepared_inputs(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, own_tmp: Path
) -> None:
    path = make(pil, tmp_path / "photo.heic", "HEIF")
    expect(cli("edit", str(path), "-p", "x", "--variants", "2", "--max-side", "150"))
    expect(cli("edit", "--each", str(path), "-p", "x"))
    parts = [post.images[0] for post in server.posts("/v1/images/edits")]
    assert len(parts) == 3
    assert {p.content_type for p in parts} == {"image/png"}
    assert sorted(pil.open(io.BytesIO(p.data or b"")).size for p in parts) == [
        (150, 100),
        (150, 100),
        (300, 200),
    ]
    assert list(own_tmp.iterdir()) == []


def test_pillows_pixel_limits(
    cli: Any, server: FakeDMX, pil: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make(pil, tmp_path / "scan.bmp", "BMP")  # 60,000 pixels
    monkeypatch.setattr(pil, "MAX_IMAGE_PIXELS", 40_000)  # over it: a warning, not shown
    run = expect(cli("edit", str(path), "-p", "x"))  # (warnings are errors under pytest)
    assert "Warning" not in run.stderr
    monkeypatch.setattr(pil, "MAX_IMAGE_PIXELS", 20_000)  # over twice it: refused
    expect(cli("edit", str(path), "-p", "x"), 2, "too many pixels", "Downscale it first")
    assert len(server.posts()) == 1


def _gif(pil: Any) -> bytes:
    out = io.BytesIO()
    pil.new("RGB", (30, 20), "red").save(out, "GIF")
    return out.getvalue()


def test_unreadable_input_is_a_sentence_not_a_python_repr(cli, tmp_path: Path, pil: Any) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "cut.gif"
    bad.write_bytes(_gif(pil)[:30])  # a GIF header, then nothing Pillow can read
    run = expect(cli("edit", str(bad), "-p", "x"), 2, "cut.gif", "cannot be read")
    assert "<_io." not in run.stderr and "BufferedReader" not in run.stderr, run.stderr
    assert "cannot identify image file" not in run.stderr, run.stderr


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_pillow_warnings_never_reach_stderr(cli_process, tmp_path: Path, pil: Any) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\xff" * 100)  # Pillow warns "Corrupt EXIF data"
    run = cli_process("edit", str(bad), "-p", "x")
    assert run.code == 2, run.output
    assert "Warning" not in run.stderr and "warnings.warn" not in run.stderr, run.stderr
    assert "bad.tif" in run.stderr


def test_a_photo_over_pillows_limit_is_refused_in_words_of_its_own(  # type: ignore[no-untyped-def]
    cli, server, tmp_path: Path, pil: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pil, "MAX_IMAGE_PIXELS", 1000)  # 2,000 pixels is the hard limit
    big = tmp_path / "big.gif"
    pil.new("RGB", (100, 100), "red").save(big)
    run = expect(
        cli("edit", str(big), "-p", "x"), 2, "too many pixels to decode safely (more than 2,000)"
    )
    assert "DOS attack" not in run.stderr and "decompression bomb" not in run.stderr
    assert server.posts() == []


def test_a_32_bit_grey_tiff_is_converted_not_an_internal_error(  # type: ignore[no-untyped-def]
    cli, server, tmp_path: Path, pil: Any
) -> None:
    grey = tmp_path / "depth.tif"
    pil.new("I", (300, 200), 1000).save(grey)  # Pillow cannot write mode I as PNG
    run = expect(cli("edit", str(grey), "-p", "x", "-o", str(tmp_path / "out")), 0)
    assert "internal error" not in run.stderr
    (post,) = server.posts()
    (part,) = post.images
    sent = pil.open(io.BytesIO(part.data))
    assert (sent.format, sent.size) == ("PNG", (300, 200))
    assert sent.getextrema() == (1000, 1000)
