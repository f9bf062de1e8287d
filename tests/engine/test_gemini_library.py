"""The library on the gemini door: ``edit_image`` returns the model's words, the usage
and the saved JPEG, and an ``Events`` subclass hears the words."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakegemini import inline_answer, path
from fakeserver import JPEG_BYTES, FakeDMX, Reply, make_png
from helpers import KEY

from dmxedit import edit_image
from dmxedit.core.events import Events


class Heard(Events):
    def __init__(self) -> None:
        self.words: list[str] = []

    def model_text(self, text: str) -> None:
        self.words.append(text)


def test_edit_image_on_the_gemini_door(
    server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DMXAPI_API_KEY", KEY)
    monkeypatch.setenv("DMXAPI_BASE_URL", server.base_url)
    photo = tmp_path / "photo.png"
    photo.write_bytes(make_png(40, 32))
    server.script(
        path("gemini-3-pro-image"),
        Reply(json=inline_answer(JPEG_BYTES, "image/jpeg", text="A hat, as asked.")),
    )
    heard = Heard()
    result = edit_image(
        [photo], "add a hat", model="gemini-3-pro-image", output=tmp_path / "out", events=heard
    )
    assert result.text == ["A hat, as asked."] == heard.words
    assert result.usage["total_tokens"] == 2552
    (saved,) = result.files
    assert saved.suffix == ".jpg" and saved.read_bytes() == JPEG_BYTES
    assert result.to_dict()["text"] == ["A hat, as asked."]
