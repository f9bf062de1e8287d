"""completions/ is generated from the app; a stale file fails here (issue 2, point 9)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_completions.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_completions", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_completions", module)  # dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


def test_completions_are_current() -> None:
    gen = _generator()
    for name, text in gen.render().items():
        on_disk = (ROOT / "completions" / name).read_text(encoding="utf-8")
        assert on_disk == text, f"completions/{name} is stale: python scripts/gen_completions.py"


def test_check_mode_notices_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gen = _generator()
    shutil.copytree(ROOT / "completions", tmp_path / "completions")
    monkeypatch.setattr(gen, "OUT", tmp_path / "completions")
    assert gen.main(["--check"]) == 0
    fish = tmp_path / "completions" / "dmxedit.fish"
    fish.write_text(fish.read_text(encoding="utf-8").replace("-l ratio", "-l ratioo"))
    assert gen.main(["--check"]) == 1
    assert "dmxedit.fish" in capsys.readouterr().err


def test_every_option_of_every_command_is_in_every_script() -> None:
    gen = _generator()
    scripts = gen.render()
    commands = gen.walk()
    assert {" ".join(c.path[1:]) for c in commands} >= {
        "edit",
        "generate",
        "batch",
        "ratios",
        "config set",
        "config list",
    }
    for command in commands:
        for names, _, _ in command.options:
            for name in names:
                if name.startswith("--"):
                    for file, text in scripts.items():
                        spelled = f"-l {name[2:]}" if file.endswith(".fish") else name
                        assert spelled in text, f"{name} of {command.path} missing from {file}"


def _bash_complete(*words: str) -> list[str]:
    script = ROOT / "completions" / "dmxedit.bash"
    words_list = " ".join(f"'{w}'" for w in words)
    program = (
        f"source '{script}'; COMP_WORDS=(dmxedit {words_list}); "
        f"COMP_CWORD={len(words)}; _dmxedit; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    proc = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_completes_commands_options_and_values() -> None:
    assert {"edit", "generate", "batch", "ratios", "config"} <= set(_bash_complete(""))
    assert "--ratio" in _bash_complete("edit", "--ra")
    assert "--retry-server-errors" in _bash_complete("generate", "--retry-")
    assert _bash_complete("edit", "--size", "") == ["1K", "2K", "4K"]
    assert "5:4" in _bash_complete("edit", "x.png", "--ratio", "5")
    assert "api-key" in _bash_complete("config", "set", "api")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_parse(shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    name = {"zsh": "_dmxedit", "fish": "dmxedit.fish"}[shell]
    flag = "-n" if shell == "zsh" else "--no-execute"
    proc = subprocess.run([shell, flag, str(ROOT / "completions" / name)], capture_output=True)
    assert proc.returncode == 0, proc.stderr
