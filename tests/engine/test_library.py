"""The importable API (SPEC section 6; issue 2 point 6, issue 6 point 2)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import responses
from fakeserver import PNG_BYTES, FakeDMX, make_png
from helpers import fifteen_images

import dmxedit
from dmxedit import (
    ApiError,
    AuthError,
    DmxError,
    ExitCode,
    ImageResult,
    InputError,
    NetworkError,
    edit_image,
    generate_image,
)
from dmxedit.core.events import Events

BASE = "https://lib.example.test/v1"
RESULT = "https://cdn.example.test/lib.png"
KEY = "sk-library00000000000000"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(make_png(40, 32))
    return path


@responses.activate
def test_edit_image_saves_and_describes_the_result(photo: Path, tmp_path: Path) -> None:
    responses.add(
        responses.POST,
        BASE + "/images/edits",
        json={"data": [{"url": RESULT, "revised_prompt": "snowy"}], "usage": {"tokens": 2000}},
    )
    responses.add(responses.GET, RESULT, body=PNG_BYTES)
    result = edit_image(
        [photo],
        "make it snow",
        ratio="5:4",
        size="4k",
        output=tmp_path / "out",
        api_key=KEY,
        base_url=BASE,
        params={"quality": "high"},
        save_metadata=True,
    )
    assert isinstance(result, ImageResult)
    (path,) = result.files
    assert path.parent == tmp_path / "out" and path.read_bytes() == PNG_BYTES
    assert result.urls == [RESULT] and result.revised_prompt == "snowy"
    assert result.usage == {"tokens": 2000} and result.size == "4K"
    assert result.metadata_files == [Path(f"{path}.json")]
    data = result.to_dict()
    assert json.loads(json.dumps(data, default=str))["aspect_ratio"] == "5:4"
    body = b"".join(responses.calls[0].request.body)  # type: ignore[arg-type]
    assert b'name="quality"\r\n\r\nhigh' in body


@responses.activate
def test_generate_image_posts_json_and_writes_to_a_stream(tmp_path: Path) -> None:
    import base64

    responses.add(
        responses.POST,
        BASE + "/images/generations",
        json={"data": [{"b64_json": base64.b64encode(PNG_BYTES).decode()}]},
    )
    stream = io.BytesIO()
    result = generate_image(
        "a fox", ratio="1:1", response_format="b64_json", output=stream, api_key=KEY, base_url=BASE
    )
    assert stream.getvalue() == PNG_BYTES and result.files == []
    raw = b"".join(responses.calls[0].request.body)  # type: ignore[arg-type]
    sent = json.loads(raw)
    assert sent["prompt"] == "a fox" and sent["n"] == 1 and sent["aspect_ratio"] == "1:1"


def test_typed_errors_carry_the_exit_codes(photo: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError) as bad:
        edit_image([tmp_path / "nope.png"], "x", api_key=KEY, base_url=BASE)
    assert bad.value.exit_code == ExitCode.USAGE
    assert int(bad.value.exit_code) == 2
    with pytest.raises(DmxError) as no_key:
        edit_image([photo], "x", base_url=BASE, output=tmp_path / "o")
    assert no_key.value.exit_code == 3 and "DMXAPI_API_KEY" in no_key.value.message + str(
        no_key.value.hint
    )
    assert not (tmp_path / "o").exists()
    with pytest.raises(InputError):
        generate_image("x", ratio="auto", api_key=KEY, base_url=BASE)
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, BASE + "/images/edits", status=401)
        with pytest.raises(AuthError) as auth:
            edit_image([photo], "x", api_key=KEY, base_url=BASE, output=tmp_path / "o")
        assert auth.value.exit_code == 3
    with responses.RequestsMock() as mocked:
        mocked.add(
            responses.POST, BASE + "/images/edits", status=400, json={"error": {"message": "m"}}
        )
        with pytest.raises(ApiError) as api:
            edit_image([photo], "x", api_key=KEY, base_url=BASE, output=tmp_path / "o")
        assert api.value.exit_code == 4
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, BASE + "/images/edits", status=502)
        with pytest.raises(NetworkError) as net:
            edit_image([photo], "x", api_key=KEY, base_url=BASE, output=tmp_path / "o", retries=0)
        assert net.value.exit_code == 5


def test_the_library_needs_neither_typer_nor_rich() -> None:
    probe = (
        "import sys, dmxedit\n"
        "light = 'requests' in sys.modules\n"
        "from dmxedit import edit_image, generate_image, DmxError\n"
        "import dmxedit.engine.pipeline, dmxedit.api.client, dmxedit.batch.run\n"
        "print(light, 'typer' in sys.modules, 'rich' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "False"]


def test_public_names_are_documented() -> None:
    for name in dmxedit.__all__:
        assert getattr(dmxedit, name) is not None
    assert edit_image.__doc__ and "exit_code" in edit_image.__doc__
    assert generate_image.__doc__
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "from dmxedit import edit_image" in readme


def test_an_options_object_is_kept_whole_and_keywords_override_only_themselves(
    server: FakeDMX, photo: Path, tmp_path: Path
) -> None:
    from dmxedit import ImageOptions

    options = ImageOptions(
        ratio="5:4",
        params=("quality=high",),
        api_key="sk-lib0000000000000000",
        output=str(tmp_path / "o"),
    )
    edit_image([photo], "snow", options, base_url=server.base_url, size="2k")
    (post,) = server.posts()
    fields = post.fields
    assert (fields["aspect_ratio"], fields["quality"], fields["size"]) == ("5:4", "high", "2K")


def test_more_than_14_images_is_warned_about_by_the_library(
    server: FakeDMX, tmp_path: Path
) -> None:
    from dmxedit import edit_image

    warned: list[str] = []

    class Seen(Events):
        def warn(self, message: str) -> None:
            warned.append(message)

    edit_image(fifteen_images(tmp_path), "x", api_key=KEY, base_url=server.base_url, events=Seen())
    assert any("15 images" in w and "says 14" in w for w in warned)
