"""Saving results: temporary files, never replacing a file, metadata, file modes, and
the temporary files of killed runs."""

from __future__ import annotations

import errno
import json
import os
import stat
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fakeserver import (
    JPEG_BYTES,
    PNG_BYTES,
    FakeDMX,
)
from helpers import (
    KEY,
    Cli,
    blob_of,
    default_signals,
    dmxedit_command,
    expect,
    finished,
    partial_files,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmxedit.core.errors import ExitCode, SaveError
from dmxedit.core.temporaries import Temporaries
from dmxedit.store.results import Saver, write_metadata

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


def test_a_file_appearing_under_the_chosen_name_before_the_link_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = Saver(folder=tmp_path, prefix="edited", stamp="20260101_000000")
    real_link = os.link

    def racing_link(src: str, dst: Any) -> None:
        # Someone else creates the very name dmxedit is about to take (once).
        if Path(dst).name == "edited_20260101_000000_1.png":
            Path(dst).write_bytes(b"theirs")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    saved = saver.finish(blob_of(tmp_path))
    assert (tmp_path / "edited_20260101_000000_1.png").read_bytes() == b"theirs"
    assert saved.path == tmp_path / "edited_20260101_000000_1-2.png"
    assert saved.path.read_bytes() == PNG_BYTES
    assert partial_files(tmp_path) == []


def test_without_hard_links_a_name_that_appears_is_not_replaced_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "edited_20260101_000000_1.png").write_bytes(b"theirs")

    def no_links(src: str, dst: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    saved = Saver(folder=tmp_path, stamp="20260101_000000").finish(blob_of(tmp_path))
    assert (tmp_path / "edited_20260101_000000_1.png").read_bytes() == b"theirs"
    assert saved.path is not None and saved.path.read_bytes() == PNG_BYTES
    # Metadata too works there (it lost the image's path with exit 1 before).
    meta = write_metadata(saved.path, {"a": 1}, Temporaries())
    assert meta == saved.path.with_name(saved.path.name + ".json")
    assert write_metadata(saved.path, {"a": 2}, Temporaries()) is None
    assert json.loads(meta.read_text()) == {"a": 1}
    assert partial_files(tmp_path) == []


def test_metadata_without_hard_links_end_to_end(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    run = expect(cli("edit", str(png), "-p", "x", "--save-metadata"))
    (saved,) = run.stdout.split()
    assert Path(saved).read_bytes() == PNG_BYTES
    assert json.loads(Path(saved + ".json").read_text())["prompt"] == "x"


@pytest.mark.skipif(os.name != "posix", reason="process ids")
def test_a_killed_runs_temporary_files_are_removed_by_the_next_run_not_a_live_ones(
    tmp_path: Path,
) -> None:
    from dmxedit.store.results import _host

    host = _host()

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".dmxedit-{dead.pid}.{host}-abc.part"
    live = tmp_path / f".dmxedit-{os.getpid()}.{host}-def.part"
    elsewhere = tmp_path / f".dmxedit-{dead.pid}.00000000-ghi.part"
    for path in (stale, live, elsewhere):
        path.write_bytes(b"x")
    Saver(folder=tmp_path).prepare()
    assert not stale.exists()
    assert live.exists() and elsewhere.exists()  # a running run's, another machine's


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.e2e
@pytest.mark.skipif(os.name != "posix", reason="file modes")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_images_and_sidecars_get_the_umasks_mode(
    server: FakeDMX, tmp_path: Path, umask: int, mode: int
) -> None:
    image = tmp_path / "in.jpg"
    image.write_bytes(JPEG_BYTES)

    def child() -> None:
        default_signals()
        os.umask(umask)

    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        [*dmxedit_command(), "edit", str(image), "-p", "x", "--save-metadata"],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        preexec_fn=child,
    )
    assert proc.returncode == 0, proc.stderr
    (saved,) = proc.stdout.decode().split()
    assert stat.S_IMODE(Path(saved).stat().st_mode) == mode
    assert stat.S_IMODE(Path(saved + ".json").stat().st_mode) == mode


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
    path = finished(folder, PNG_BYTES)
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
