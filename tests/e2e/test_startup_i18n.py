"""Start-up in Chinese (issue #26, point 5): the catalog is read when the first message is
shown, not before; `--version` does not even import gettext, and `--help` (whose texts
stay English) reads neither the catalog nor the config file for the language."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
sys.argv = ["dmxedit", *json.loads(sys.argv[1])]
from dmxedit.cli.app import run
code = run()
i18n = sys.modules.get("dmxedit.core.i18n")
facts = {
    "code": code,
    "gettext": "gettext" in sys.modules,
    "catalog": bool(i18n is not None and i18n.loaded()),
    "toml": "tomllib" in sys.modules or "tomli" in sys.modules,
}
sys.stdout.flush()
print("\\nPROBE" + json.dumps(facts))
"""


def probe(*args: str, env: dict[str, str]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    marker = proc.stdout.rindex("PROBE")
    result: dict[str, object] = json.loads(proc.stdout[marker + len("PROBE") :])
    return result


ZH = {"LANG": "zh_CN.UTF-8"}


def test_version_imports_no_gettext() -> None:
    assert probe("--version", env=ZH) == {
        "code": 0,
        "gettext": False,
        "catalog": False,
        "toml": False,
    }


@pytest.mark.parametrize("args", [["--help"], ["edit", "--help"], ["ratios", "--help"]])
def test_help_reads_no_catalog_and_no_config(args: list[str], tmp_path: Path) -> None:
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir()
    config.write_text('language = "zh_CN"\n', encoding="utf-8")
    result = probe(*args, env={**ZH, "DMXEDIT_CONFIG": str(config)})
    assert result["code"] == 0 and result["catalog"] is False and result["toml"] is False


def test_the_probe_sees_a_catalog_read(tmp_path: Path) -> None:
    # A command that shows a message in Chinese reads it: the probe would notice.
    result = probe("edit", env=ZH)
    assert result["code"] == 2 and result["catalog"] is True
    assert probe("edit", env={"LANG": "C.UTF-8"})["catalog"] is False  # English: none
