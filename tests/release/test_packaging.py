"""`pip install .` gives a working dmxedit (issue 2, point 1): build the wheel the way pip
does, install it into a folder of its own, and run it from there."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the folder it was installed into)."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(work), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = work.glob("dmxedit-*.whl")
    target = work / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target)]
        + [str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    return wheel, target


def test_the_wheel_holds_every_module_and_the_console_script(
    installed: tuple[Path, Path],
) -> None:
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "dmxedit").rglob("*.py")}
        assert sources <= names
        assert "dmxedit/py.typed" in names
        # the report page's style and script
        assert {"dmxedit/report/report.css", "dmxedit/report/report.js"} <= names
        shells = {"dmxedit.bash", "_dmxedit", "dmxedit.fish"}
        assert {f"dmxedit/completions/{n}" for n in shells} <= names  # `dmxedit completion`
        (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
        assert "dmxedit = dmxedit.cli.app:main" in zf.read(entry_points).decode()
        (metadata,) = [n for n in names if n.endswith("METADATA")]
        text = zf.read(metadata).decode()
    assert "Requires-Python: >=3.10" in text
    for dependency in ("typer", "requests", "rich", "platformdirs"):
        assert f"Requires-Dist: {dependency}" in text


def test_the_installed_package_runs_outside_the_source_tree(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, target = installed
    env = dict(os.environ, PYTHONPATH=str(target))
    for args in (["--version"], ["ratios", "--json"], ["completion", "zsh"]):
        proc = subprocess.run(
            [sys.executable, "-m", "dmxedit", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
    found = subprocess.run(
        [sys.executable, "-c", "import dmxedit; print(dmxedit.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert found.stdout.strip().startswith(str(target))
    assert (target / "bin" / "dmxedit").exists()
