"""`--dry-run` with an input dmxedit converts before upload (HEIC, SPEC 9): the curl
command sends the converted file, labelled as it is, so it is the same request dmxedit
makes, and the output says where that file is (issue 21, point 10)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeDMX, Recorded
from helpers import KEY, Cli, Run, expect


@pytest.fixture(autouse=True)
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kept folders go to a temporary folder of this test's own, not the system's."""
    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _heic(pil: Any, path: Path) -> Path:
    image = pil.new("RGB", (300, 200), "red")
    image.paste(pil.new("RGB", (150, 200), "blue"), (150, 0))
    image.save(path, "HEIF")
    return path


def _curl(run: Run) -> str:
    return run.stdout.split("# the same request with curl")[1].split("\n", 1)[1]


def _sent(post: Recorded) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    parts = [(p.filename, p.content_type, p.data) for p in post.images]
    return post.field_list(), parts


def test_the_curl_line_uploads_the_converted_file(
    cli: Cli, server: FakeDMX, pil: Any, tmp_path: Path
) -> None:
    photo = _heic(pil, tmp_path / "photo.heic")
    run = expect(cli("edit", str(photo), "-p", "x", "--dry-run"))
    command = _curl(run)
    assert "photo.heic" not in command.split("\n#")[0]  # the upload is not the HEIC
    (line,) = [x for x in run.stdout.splitlines() if x.startswith(f"# {photo} was converted")]
    kept = Path(line.split("curl sends ")[1].split(" (delete")[0])
    assert kept.name == "photo.png" and kept.read_bytes().startswith(b"\x89PNG")
    assert f"image=@{kept};type=image/png" in command
    assert server.requests == []


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_sends_what_dmxedit_sends(cli: Cli, server: FakeDMX, pil: Any, tmp_path: Path) -> None:
    photo = _heic(pil, tmp_path / "photo.heic")
    args = ("edit", str(photo), "-p", "x", "-r", "3:2", "-s", "2K")
    command = _curl(expect(cli(*args, "--dry-run")))
    env = dict(os.environ, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        ["bash", "-c", command], capture_output=True, cwd=tmp_path, env=env, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    expect(cli(*args))
    by_curl, by_dmxedit = server.posts()
    assert _sent(by_curl) == _sent(by_dmxedit)
    assert by_curl.images[0].content_type == "image/png"


def test_json_names_the_converted_file(cli: Cli, server: FakeDMX, pil: Any, tmp_path: Path) -> None:
    photo = _heic(pil, tmp_path / "photo.heic")
    out = json.loads(expect(cli("edit", str(photo), "-p", "x", "--dry-run", "--json")).stdout)
    (kept,) = out["converted_files"]
    assert f"image=@{kept};type=image/png" in out["curl"]
    assert out["request"]["files"][0]["source_content_type"] == "image/heic"


def test_an_input_sent_as_it_is_is_not_copied(cli: Cli, png: Path) -> None:
    out = json.loads(expect(cli("edit", str(png), "-p", "x", "--dry-run", "--json")).stdout)
    assert "converted_files" not in out
    assert f"image=@{png};type=image/png" in out["curl"]
