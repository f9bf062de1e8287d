"""The validated request: fields, JSON body, the key in a header, --dry-run and curl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import (
    FakeDMX,
    make_png,
)
from helpers import KEY, Cli, run_in_process, unit_request

from dmxedit.api import images as images_door
from dmxedit.api.request import build_request
from dmxedit.core.errors import InputError
from dmxedit.core.settings import Settings


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("sk-abc\u200bdef0123456789", "U+200B ZERO WIDTH SPACE"),
        ("\u201csk-abcdef0123456789\u201d", "U+201C LEFT DOUBLE QUOTATION MARK"),
        ("Bearer sk-abcdef0123456789", "starts with 'Bearer '"),
        ("sk-abcdef 0123456789", "U+0020 SPACE"),
    ],
)
def test_a_key_that_cannot_go_in_a_header_is_exit_3_before_sending(
    cli: Cli, server: FakeDMX, png: Path, key: str, said: str
) -> None:
    run = cli("edit", str(png), "-p", "x", key=key)
    assert run.code == 3, run.output
    assert said in run.stderr and "config set api-key" in run.stderr
    assert key not in run.stdout + run.stderr and "abcdef0123456789" not in run.stderr
    assert server.requests == []


@pytest.mark.e2e
def test_dry_run_says_how_to_give_curl_a_stored_key(png: Path) -> None:
    assert run_in_process(["config", "set", "api-key", "-"], input=KEY.encode()).code == 0
    run = run_in_process(["edit", str(png), "-p", "x", "--dry-run"])
    assert 'export DMXAPI_API_KEY="$(dmxedit config get api-key --reveal)"' in run.stdout
    assert KEY not in run.stdout


def test_request_fields_and_json_body(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(make_png(30, 20))
    edit = unit_request([image], ratio="auto", size="2k", params=["quality=high"])
    assert images_door.fields(edit) == [
        ("prompt", "make it snow"),
        ("n", "1"),
        ("model", "nano-banana-2"),
        ("aspect_ratio", "3:2"),
        ("size", "2K"),
        ("response_format", "url"),
        ("quality", "high"),
    ]
    with pytest.raises(InputError, match="one image"):
        unit_request([image], params=["n=3"])
    generate = build_request(
        "generate",
        Settings(base_url="http://h/v1/"),
        prompt="cat",
        params=["seed=7", "hd=false", "style=vivid", "ratio=1.5"],
    )
    assert images_door.url(generate) == "http://h/v1/images/generations"
    assert images_door.json_body(generate) == {
        "model": "nano-banana-2",
        "prompt": "cat",
        "n": 1,
        "response_format": "url",
        "seed": 7,
        "hd": False,
        "style": "vivid",
        "ratio": 1.5,
    }
    described = json.dumps(
        images_door.describe(generate, "sk-unit000000000000"), ensure_ascii=False
    )
    described += images_door.curl(generate)
    assert "sk-unit000000000000" not in described and "sk-…0000" in described
