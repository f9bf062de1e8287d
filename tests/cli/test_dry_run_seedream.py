"""--dry-run of a Seedream edit (SPEC 12): the JSON body shown with its images named, and
the printed curl (base64 piped into ``curl --data-binary @-``) delivers the very bytes
dmxedit would send."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import fakemodels
import pytest
from fakeserver import EDITS, GENERATIONS, FakeDMX, make_big_png, make_png
from helpers import KEY, Cli, expect

SD45 = "doubao-seedream-4-5-251128"


def test_seedream_edit_dry_run_curl_sends_the_same_json(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    first = tmp_path / "it's a photo.png"
    first.write_bytes(make_png(64, 48))
    second = tmp_path / "b.png"
    second.write_bytes(make_big_png(90_000, 16))  # base64 wraps lines: tr removes them
    args = ("edit", str(first), str(second), "-p", 'it\'s "snow" 雪', "-m", SD45)
    run = expect(cli(*args, "-r", "16:9", "-n", "2", "--dry-run"), 0)
    assert server.requests == []
    assert f"POST {server.base_url}/images/generations" in run.stdout
    assert "data:image/png;base64,<base64 of" in run.stdout
    assert "| curl" in run.stdout and "--data-binary @-" in run.stdout
    assert KEY not in run.stdout
    command = run.stdout.split("# the same request with curl")[1].split("\n", 1)[1]
    env = dict(os.environ, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(["bash", "-c", command], capture_output=True, env=env, timeout=30)
    if proc.returncode == 127:
        pytest.skip("curl is not installed")
    assert proc.returncode == 0, proc.stderr
    (post,) = server.posts(GENERATIONS)
    assert b'"data"' in proc.stdout  # the fake took it: a Seedream answer
    assert post.headers["authorization"] == f"Bearer {KEY}"
    sent = post.json
    assert sent["prompt"] == 'it\'s "snow" 雪' and sent["size"] == "2848x1600"
    assert sent["sequential_image_generation_options"] == {"max_images": 2}
    assert fakemodels.SEEN[-1] == [first.read_bytes(), second.read_bytes()]
    assert (
        sent["image"][1]
        == "data:image/png;base64," + base64.b64encode(second.read_bytes()).decode()
    )
    # what dmxedit itself sends is the same body
    expect(cli(*args, "-r", "16:9", "-n", "2"), 0)
    assert server.posts(GENERATIONS)[1].body == post.body
    assert server.posts(EDITS) == []
