"""`dmxedit completion bash|zsh|fish` prints the completion script that ships in the
package, the same as completions/ (issue 21, point 14), without importing anything
heavy; bash can source it and complete with it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import Cli, expect, run_in_process
from helpers import probe_imports as _probe

ROOT = Path(__file__).resolve().parents[2]
FILES = {"bash": "dmxedit.bash", "zsh": "_dmxedit", "fish": "dmxedit.fish"}


@pytest.mark.parametrize("shell", sorted(FILES))
def test_it_prints_the_same_script_as_completions(shell: str) -> None:
    run = expect(run_in_process(["completion", shell]))
    assert run.stdout == (ROOT / "completions" / FILES[shell]).read_text(encoding="utf-8")
    packaged = ROOT / "dmxedit" / "completions" / FILES[shell]
    assert packaged.read_bytes() == (ROOT / "completions" / FILES[shell]).read_bytes()


def test_an_unknown_shell_is_a_usage_error() -> None:
    run = expect(run_in_process(["completion", "powershell"]), 2, "bash, zsh and fish")
    assert run.stdout == ""
    expect(run_in_process(["completion"]), 2, "Missing argument")


def test_it_is_in_the_root_help_and_imports_nothing_heavy() -> None:
    assert "completion" in run_in_process(["--help"]).stdout
    assert _probe("completion", "bash") == {"code": 0, "heavy": []}


def test_the_installed_command_prints_it(cli_process: Cli) -> None:
    run = expect(cli_process("completion", "fish"))
    assert run.stdout == (ROOT / "completions" / "dmxedit.fish").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_sources_it_and_completes(tmp_path: Path) -> None:
    script = tmp_path / "dmxedit.bash"
    script.write_text(run_in_process(["completion", "bash"]).stdout, encoding="utf-8")

    def complete(*words: str) -> list[str]:
        quoted = " ".join(f"'{w}'" for w in words)
        program = (
            f"source '{script}' && complete -p dmxedit >/dev/null && "
            f"COMP_WORDS=(dmxedit {quoted}); COMP_CWORD={len(words)}; _dmxedit; "
            "printf '%s\\n' \"${COMPREPLY[@]}\""
        )
        proc = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return [line for line in proc.stdout.splitlines() if line]

    assert "completion" in complete("comp")
    assert complete("completion", "") == ["bash", "zsh", "fish"]
    assert "--ratio" in complete("edit", "--ra")


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_parse_what_it_prints(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    script = tmp_path / FILES[shell]
    script.write_text(run_in_process(["completion", shell]).stdout, encoding="utf-8")
    flag = "-n" if shell == "zsh" else "--no-execute"
    proc = subprocess.run([shell, flag, str(script)], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
