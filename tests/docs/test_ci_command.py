"""The README's test command is the one CI runs, and it brings what the tests need
(issue 21, point 6): `pip install -e '.[dev]' && pytest` passes on a fresh clone."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def readme_command(name: str) -> str:
    """The one command of the "Running the tests" section's code block."""
    text = (ROOT / name).read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    commands = [str(b).strip() for b in blocks if "pytest" in b]
    assert len(commands) == 1, commands
    return commands[0]


def test_both_readmes_give_the_same_test_command() -> None:
    assert readme_command("README.md") == "pip install -e '.[dev]' && pytest"
    assert readme_command("README.zh-CN.md") == readme_command("README.md")


def test_ci_runs_exactly_the_readme_command_on_every_python() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = readme_command("README.md")
    runs = [line for line in script.splitlines() if "pytest" in line and "source" in line]
    assert len(runs) == 1, runs
    # The README's command, then possibly more (the slow set), in the fresh environment.
    assert re.search(rf'source "\$venv/bin/activate" && {re.escape(command)}(\)| &&)', runs[0])
    # No other install of the project with other extras beside it: the tests get what
    # the README's command gives them.
    assert "dev,images" not in script


def _extra(name: str) -> list[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras: dict[str, list[str]] = data["project"]["optional-dependencies"]
    return extras[name]


def test_the_dev_extra_brings_the_images_extra() -> None:
    # The --embed report tests and the input preparation tests need Pillow and
    # pillow-heif; `dev` brings them through the project's own `images` extra.
    assert "dmxedit[images]" in _extra("dev")
    names = {re.split(r"[<>=!\[; ]", item, maxsplit=1)[0].lower() for item in _extra("images")}
    assert {"pillow", "pillow-heif"} <= names
