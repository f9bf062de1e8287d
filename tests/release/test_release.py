"""A release is ready to upload (issue 15, point 4): ``python -m build`` makes an sdist
and, from it, a wheel; ``twine check`` passes both; the sdist holds what is needed to run
the tests, the linters and the benchmarks; the metadata carries the project URLs, the
classifiers and the README as a long description that renders; and ``pipx install`` of
the wheel gives a working ``dmxedit`` in an environment of its own.

The build runs without an isolated build environment (setuptools and wheel are in the
dev extra), on a copy of the source tree, so it neither downloads a build backend per
run nor writes into the checkout while other tests build there.
"""

from __future__ import annotations

import email
import email.message
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_FOLDERS = ("tests", "completions", "docs", "scripts", "benchmarks")
SHIPPED_FILES = (
    "README.md",
    "README.zh-CN.md",
    "CHANGELOG.md",
    "LICENSE",
    "pyproject.toml",
    "MANIFEST.in",
    ".ci/run",
)
JUNK = {"__pycache__", ".hypothesis", ".work", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def _source_files(folder: Path) -> set[str]:
    return {
        p.relative_to(ROOT).as_posix()
        for p in folder.rglob("*")
        if p.is_file()
        and not JUNK.intersection(p.relative_to(ROOT).parts)
        and p.suffix not in (".pyc", ".pyo")
        and not p.name.endswith(".part")
    }


def _copy_tree(target: Path) -> Path:
    ignore = shutil.ignore_patterns(
        ".git", "*.egg-info", "build", "dist", ".ci-venv*", ".venv", "output", *JUNK
    )
    shutil.copytree(ROOT, target, ignore=ignore)
    return target


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the sdist, the wheel built from it)."""
    work = tmp_path_factory.mktemp("release")
    source = _copy_tree(work / "src")
    out = work / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,) = out.glob("dmxedit-*.tar.gz")
    (wheel,) = out.glob("dmxedit-*-py3-none-any.whl")
    return sdist, wheel


def test_twine_check_passes_both(dist: tuple[Path, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_the_sdist_holds_the_tests_completions_docs_and_scripts(
    dist: tuple[Path, Path],
) -> None:
    sdist, _ = dist
    with tarfile.open(sdist) as tar:
        prefix = sdist.name.removesuffix(".tar.gz") + "/"
        members = {m.name.removeprefix(prefix) for m in tar.getmembers() if m.isfile()}
    wanted = set(SHIPPED_FILES) | _source_files(ROOT / "dmxedit")
    for folder in SHIPPED_FOLDERS:
        wanted |= _source_files(ROOT / folder)
    assert sorted(wanted - members) == []
    assert any(m.startswith("tests/cli/test_") for m in members) and "tests/conftest.py" in members
    junk = [m for m in members if JUNK.intersection(m.split("/")) or m.endswith((".pyc", ".part"))]
    assert junk == []
    assert not any(m.startswith((".git/", "output/", "build/")) for m in members)


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(zf.read(name))


def _description(wheel: Path) -> str:
    raw = _metadata(wheel).get_payload(decode=True)
    assert isinstance(raw, bytes)
    return raw.decode("utf-8")


def test_the_metadata_has_urls_classifiers_license_and_the_readme(
    dist: tuple[Path, Path],
) -> None:
    meta = _metadata(dist[1])
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    for label in ("Homepage", "Documentation", "Issues", "Changelog"):
        assert urls.get(label, "").startswith("https://"), urls
    classifiers = set(meta.get_all("Classifier") or [])
    for version in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Operating System :: OS Independent" in classifiers
    assert "Environment :: Console" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # PEP 639: the expression
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    with zipfile.ZipFile(dist[1]) as zf:
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in zf.namelist())
    assert meta["Description-Content-Type"] == "text/markdown"
    assert _description(dist[1]).strip() == (ROOT / "README.md").read_text(encoding="utf-8").strip()


def test_the_long_description_renders(dist: tuple[Path, Path]) -> None:
    from readme_renderer.markdown import render

    html = render(_description(dist[1]))
    assert html is not None
    assert ">Troubleshooting<" in html and "<table>" in html and "<code>" in html


def _installed_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DMXAPI_", "DMXEDIT_"))}
    env.update(
        PIPX_HOME=str(home / "pipx"),
        PIPX_BIN_DIR=str(home / "bin"),
        PIPX_MAN_DIR=str(home / "man"),
        USE_EMOJI="0",
        HOME=str(home),
        DMXEDIT_CONFIG=str(home / "cfg" / "config.toml"),
        DMXEDIT_DATA_DIR=str(home / "data"),
    )
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def test_pipx_installs_the_wheel_and_it_runs(dist: tuple[Path, Path], tmp_path: Path) -> None:
    """pipx makes a fresh virtual environment and installs the wheel and its
    dependencies from the package index into it; then the command runs from there."""
    if importlib.util.find_spec("pipx") is None:
        pytest.skip("pipx is not installed (it is in the dev extra: pip install -e '.[dev]')")
    env = _installed_env(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "pipx", "install", str(dist[1])],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    command = tmp_path / "bin" / ("dmxedit.exe" if os.name == "nt" else "dmxedit")
    assert command.exists()
    found = {}
    for args in (["--version"], ["ratios"], ["config", "path"]):
        run = subprocess.run(
            [str(command), *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        assert run.returncode == 0, run.stderr
        found[args[0]] = run.stdout
    from dmxedit import __version__

    assert found["--version"].strip() == f"dmxedit {__version__}"
    assert "5504x3072" in found["ratios"]
    assert found["config"].strip() == str(tmp_path / "cfg" / "config.toml")
    venv = tmp_path / "pipx" / "venvs" / "dmxedit"
    where = subprocess.run(
        [str(command.resolve().parent / "python"), "-c", "import dmxedit; print(dmxedit.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
