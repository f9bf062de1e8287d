"""--dry-run on the gemini door: the curl line it prints sends the same request (the
shell base64-encodes the images), and the fake server receives the inputs' bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import fakegemini
import pytest
from fakeserver import FakeDMX, make_png
from helpers import KEY, Cli

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "curl", "base64")),
    reason="needs bash, curl and base64",
)
def test_the_printed_curl_line_sends_the_inputs_bytes(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    inputs = []
    for i, size in enumerate((1, 3 * 1024 * 1024 + 1)):  # a line-wrapped base64 too
        path = tmp_path / f"it's {i}.png"
        path.write_bytes(make_png(8, 8, filler=i) + os.urandom(size))
        inputs.append(path)
    run = cli(
        "edit",
        *map(str, inputs),
        "-p",
        "50% more 'hat' \\ $HOME",
        "-m",
        "gemini-3-pro-image",
        "--ratio",
        "4:3",
        "--search",
        "--dry-run",
    )
    assert run.code == 0, run.output
    assert server.requests == []
    script = run.stdout.split("# the same request with curl", 1)[1].split("\n", 1)[1]
    done = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": os.environ["PATH"], "DMXAPI_API_KEY": KEY},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (post,) = server.posts()
    assert post.path == fakegemini.path("gemini-3-pro-image")
    assert fakegemini.problems(post) == []
    assert post.headers["x-goog-api-key"] == KEY
    assert [img.data for img in post.images] == [p.read_bytes() for p in inputs]
    body = post.json
    assert body["contents"][0]["parts"][0] == {"text": "50% more 'hat' \\ $HOME"}
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "4:3"}
    assert body["tools"] == [{"google_search": {}}]
    assert b'"inlineData"' in done.stdout  # the fake's answer came back to curl
