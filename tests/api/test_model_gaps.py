"""Review of issue 23 (SPEC 12): cases that fail on main. Each test states what the
contract asks; they are expected to FAIL until the gaps are fixed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import fakegemini
import pytest
from fakemodels import png_of
from fakeserver import FakeDMX, Reply
from helpers import Cli

pytestmark = pytest.mark.e2e
PRO = "gemini-3-pro-image"


def _image(tmp_path: Path, w: int, h: int, name: str = "in.png") -> Path:
    path = tmp_path / name
    path.write_bytes(png_of(w, h))
    return path


# 1. --param may not clobber or crash the body a door builds (exit 2, never exit 1)
@pytest.mark.parametrize("param", ["contents=oops", "generationConfig=x", "tools=x"])
def test_param_cannot_clobber_the_gemini_body(cli: Cli, server: FakeDMX, tmp_path: Path,
                                              param: str) -> None:
    src = _image(tmp_path, 64, 64)
    run = cli("edit", str(src), "-p", "x", "-m", "gemini-3.1-flash-image", "--ratio", "8:1",
              "--search", "--param", param, "--dry-run")
    assert run.code == 2, run.output  # main: exit 1 "internal error" or 0 with ratio/tools lost


def test_param_cannot_duplicate_an_option_field(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    src = _image(tmp_path, 64, 64)
    run = cli("edit", str(src), "-p", "x", "-m", "gpt-image-2", "--quality", "high",
              "--param", "quality=low", "--dry-run")
    assert run.code == 2, run.output  # main: sends quality=high AND quality=low


def test_param_cannot_turn_seedream_watermark_on(cli: Cli, server: FakeDMX) -> None:
    run = cli("generate", "-p", "x", "-m", "doubao-seedream-4-5-251128",
              "--param", "watermark=true", "--dry-run")
    assert run.code == 2 or '"watermark": false' in run.stdout, run.output


# 2. SPEC 1: a model not in the table gets any size sent as given
def test_an_unknown_model_takes_any_size(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    src = _image(tmp_path, 64, 64)
    run = cli("edit", str(src), "-p", "x", "-m", "my-gemini", "--api", "gemini",
              "--size", "512", "--dry-run")
    assert run.code == 0, run.output  # main: exit 2 "--size '512' is not a size"
    assert '"imageSize": "512"' in run.stdout


# 3. --ratio auto picks a ratio the model makes at the size in use
@pytest.mark.parametrize(("shape", "extra", "sent"), [
    ((1920, 1080), [], "1536x1024"),            # 1K: 16:9 is not made; 3:2 is the closest made
    ((1024, 1024), ["--size", "4K"], "3840x2160"),  # 4K: only 16:9 and 9:16 exist
])
def test_ratio_auto_on_gpt_image_2(cli: Cli, server: FakeDMX, tmp_path: Path,
                                   shape: tuple[int, int], extra: list[str], sent: str) -> None:
    src = _image(tmp_path, *shape)
    run = cli("edit", str(src), "-p", "x", "-m", "gpt-image-2", "--ratio", "auto", *extra,
              "--dry-run")
    assert run.code == 0, run.output  # main: exit 2 "has no documented size for 16:9 1K"
    assert sent in run.stdout


# 4. A data: URI is recognised case-insensitively, so it must be decoded likewise
def test_an_upper_case_data_uri_in_a_text_part_is_saved(cli: Cli, server: FakeDMX,
                                                        tmp_path: Path) -> None:
    data = base64.b64encode(png_of(32, 32)).decode()
    answer = {"candidates": [{"content": {"parts": [{"text": "DATA:IMAGE/PNG;BASE64," + data}]},
                              "finishReason": "STOP"}]}
    server.script(fakegemini.path(PRO), Reply(json=answer))
    run = cli("generate", "-p", "x", "-m", PRO, "-o", str(tmp_path / "o"), "--json")
    assert run.code == 0, run.output  # main: exit 4 "b64_json is not valid base64": paid image lost


# 5. Pro's data: URI inside markdown (relays do this, DMXAPI.md) is still an image
def test_a_markdown_data_uri_in_a_text_part_is_saved(cli: Cli, server: FakeDMX,
                                                     tmp_path: Path) -> None:
    data = base64.b64encode(png_of(32, 32)).decode()
    text = "Here you go:\n\n![image](data:image/png;base64," + data + ")"
    answer = {"candidates": [{"content": {"parts": [{"text": text}]}, "finishReason": "STOP"}]}
    server.script(fakegemini.path(PRO), Reply(json=answer))
    run = cli("generate", "-p", "x", "-m", PRO, "-o", str(tmp_path / "o"), "--json")
    assert run.code == 0, run.output  # main: exit 4 "no image", base64 echoed in the message


# 6. doctor warns (not fails) about a model the key's list lacks (issue 23 point 5)
def test_doctor_warns_about_a_model_not_in_the_keys_list(cli: Cli, server: FakeDMX) -> None:
    run = cli("doctor", "--json", "-m", "gemini-3.1-flash-image")
    checks = {c["name"]: c for c in json.loads(run.stdout)}
    assert checks["model"]["status"] == "warn", checks["model"]  # main: "fail", exit 2


# 7. `dmxedit models --json` says, for each model, whether dmxedit knows it and its door
def test_models_json_says_known_and_door(cli: Cli, server: FakeDMX) -> None:
    run = cli("models", "--json")
    assert run.code == 0, run.output
    rows = {m["id"]: m for m in json.loads(run.stdout)}
    assert "known" in rows["nano-banana-2"], rows["nano-banana-2"]  # main: only with --long
