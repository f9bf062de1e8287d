"""Results that cannot be saved where asked: the rescue folder, the URL, disk full."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fakeserver import EDITS, FakeDMX, Recorded, Reply, make_big_png
from helpers import (
    KEY,
    Cli,
    answer_with_url,
    dmxedit_command,
    expect,
    images_in,
    partial_files,
)

check = expect


def _break_output_folder(folder: Path) -> Callable[[Recorded], Reply | None]:
    """While the POST is answered, the output folder turns into a file (as a disk that
    went away would): works even for root, unlike permissions."""

    def hook(recorded: Recorded) -> Reply | None:
        if recorded.method == "POST":
            shutil.rmtree(folder)
            folder.write_text("not a folder any more")
        return None

    return hook


partials = partial_files


def _limited_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.e2e
def test_url_result_with_an_unusable_output_folder_prints_the_url(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    url = answer_with_url(server)
    server.on_request = _break_output_folder(folder)
    run = check(cli("edit", str(png), "-p", "x", "-o", str(folder)), 6, url)
    assert url in run.stdout
    assert len(server.posts()) == 1


@pytest.mark.e2e
def test_b64_result_with_an_unusable_output_folder_is_rescued(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    data = make_big_png(50_000)
    server.script(EDITS, Reply(json=server.b64_result(data)))
    folder = tmp_path / "out"
    folder.mkdir()
    server.on_request = _break_output_folder(folder)
    run = check(cli("edit", str(png), "-p", "x", "--format", "b64_json", "-o", str(folder)), 6)
    rescued = list((tmp_path / "rescued").glob("*.png"))
    assert len(rescued) == 1 and rescued[0].read_bytes() == data
    assert str(rescued[0]) in run.stdout
    assert len(server.posts()) == 1


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.e2e
@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_disk_full_while_saving_prints_the_url(server: FakeDMX, png: Path, tmp_path: Path) -> None:
    # A file-size limit makes every write past 64 KiB fail, as a full disk would.
    data = make_big_png(400_000)
    url = answer_with_url(server, data=data)
    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        [*dmxedit_command(), "edit", str(png), "-p", "x"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        preexec_fn=_limited_file_size(64 * 1024),
    )
    assert proc.returncode == 6, proc.stderr
    assert url in proc.stdout and KEY not in proc.stdout + proc.stderr
    assert len(server.posts()) == 1
    assert images_in(tmp_path / "output") == [] and partials(tmp_path) == []


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.e2e
@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="needs RLIMIT_FSIZE")
def test_disk_full_everywhere_for_a_b64_result_is_exit_6_not_a_crash(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    server.script(EDITS, Reply(json=server.b64_result(make_big_png(400_000))))
    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        [*dmxedit_command(), "edit", str(png), "-p", "x", "--format", "b64_json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        preexec_fn=_limited_file_size(64 * 1024),
    )
    assert proc.returncode == 6, proc.stderr
    assert "could not be written" in proc.stderr and "Traceback" not in proc.stderr
    assert len(server.posts()) == 1
    assert partials(tmp_path) == []
