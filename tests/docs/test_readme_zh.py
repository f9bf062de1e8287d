"""README.md and README.zh-CN.md document the same CLI (issue 15, point 2): every command
and every option the real Typer tree has, every exit code and every setting, appear in
both. The tree is walked as scripts/gen_completions.py walks it, so a new command or
option fails this test until both READMEs name it; the failure lists exactly what is
missing from which file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READMES = ("README.md", "README.zh-CN.md")
sys.path.insert(0, str(ROOT / "scripts"))

from gen_completions import walk  # noqa: E402

from dmxedit.core.errors import ExitCode  # noqa: E402
from dmxedit.core.settings import KEYS  # noqa: E402


def cli_surface() -> dict[str, list[str]]:
    """Each command (``edit``, ``config set``...) and its option strings."""
    surface: dict[str, list[str]] = {}
    for command in walk():
        name = " ".join(command.path[1:]) or "dmxedit"
        surface[name] = sorted({n for names, _, _ in command.options for n in names})
    return surface


def _has_word(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def missing_from(text: str) -> list[str]:
    """What a README does not name, one item a line: commands, options, codes, keys."""
    missing: list[str] = []
    for command, options in cli_surface().items():
        if command != "dmxedit" and not _has_word(text, f"dmxedit {command}"):
            if not _has_word(text, command):  # e.g. `history show` inside a table
                missing.append(f"command `dmxedit {command}`")
        lacking = [o for o in options if not _has_word(text, o)]
        if lacking:
            missing.append(f"options of `{command}`: {', '.join(lacking)}")
    for code in ExitCode:
        if not re.search(rf"^\|\s*{int(code)}\s*\|", text, re.MULTILINE):
            missing.append(f"exit code {int(code)} (a row of the exit-code table)")
    for key in KEYS:
        if not _has_word(text, key):
            missing.append(f"setting `{key}`")
    return missing


def test_both_readmes_name_every_command_option_exit_code_and_setting() -> None:
    report = {
        name: found
        for name in READMES
        if (found := missing_from((ROOT / name).read_text(encoding="utf-8")))
    }
    assert report == {}, "\n".join(
        f"{name} does not mention:\n  " + "\n  ".join(items) for name, items in report.items()
    )


def test_the_surface_is_really_the_clis() -> None:
    surface = cli_surface()
    assert {"edit", "generate", "batch", "ratios", "config set", "history show"} <= set(surface)
    assert {"-r", "--ratio", "-s", "--size", "--dry-run"} <= set(surface["edit"])
    assert "--version" in surface["dmxedit"]


def test_the_check_catches_an_omission() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "options of `edit`: --dry-run" in "\n".join(missing_from(text.replace("--dry-run", "")))
    assert any("exit code 6" in m for m in missing_from(text.replace("| 6 |", "| six |")))


def test_the_english_readme_links_the_chinese_one_at_the_top() -> None:
    head = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:5]
    assert any("README.zh-CN.md" in line for line in head)
    zh = (ROOT / "README.zh-CN.md").read_text(encoding="utf-8").splitlines()[:5]
    assert any("README.md" in line for line in zh)


def test_the_readmes_speak_of_no_internal_document() -> None:
    for name in READMES:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert not re.search(r"\bSPEC\b|SPEC\.md|/work/|seed/", text), name
