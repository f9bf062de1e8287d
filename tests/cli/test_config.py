"""`dmxedit config`: get, set, list, and the config file's values."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import (
    KEY,
    expect,
    run_in_process,
)


def test_config_output_outside_the_bmp_stays_parsable() -> None:
    assert run_in_process(["config", "set", "output", "pics-😀"]).code == 0
    listed = run_in_process(["config", "list", "--json"])
    assert listed.code == 0, listed.output
    assert json.loads(listed.stdout)["settings"]["output"]["value"] == "pics-😀"


@pytest.mark.parametrize("value", ["²:1", "1:²", "٣:٤", "wide", "0:1", "5:"])
def test_bad_ratios_are_exit_2_on_the_command_line_and_in_config(png: Path, value: str) -> None:
    run = run_in_process(["edit", str(png), "-p", "x", "--ratio", value, "--dry-run"])
    assert run.code == 2, run.output
    assert "Traceback" not in run.stderr and "ratio" in run.stderr.lower()
    stored = run_in_process(["config", "set", "ratio", value])
    assert stored.code == 2, stored.output


def test_config_ratio_auto_and_w_h_are_accepted() -> None:
    assert run_in_process(["config", "set", "ratio", "auto"]).code == 0
    assert run_in_process(["config", "set", "ratio", " 16:9 "]).code == 0
    assert run_in_process(["config", "get", "ratio"]).stdout == "16:9\n"


def test_the_command_line_secret_warning_says_an_api_key(cli) -> None:  # type: ignore[no-untyped-def]
    run = expect(cli("config", "set", "api-key", "sk-review0000abcd"), 0)
    assert "an API key on the command line" in run.stderr, run.stderr
    token = expect(cli("config", "set", "system-token", "review-token-0000"), 0)
    assert "a system token on the command line" in token.stderr, token.stderr
    assert "review-token-0000" not in token.stdout + token.stderr


@pytest.mark.e2e
def test_a_negative_number_is_a_config_value_not_an_option() -> None:
    run = run_in_process(["config", "set", "timeout", "-1"])
    assert run.code == 2 and "not a positive number" in run.stderr, run.output


@pytest.mark.e2e
def test_config_get_api_key_masks_reveals_and_says_when_unset() -> None:
    unset = run_in_process(["config", "get", "api-key"])
    assert unset.code == 3 and "config set api-key" in unset.stderr and unset.stdout == ""
    assert run_in_process(["config", "set", "api-key", "-"], input=KEY.encode()).code == 0
    assert run_in_process(["config", "get", "api-key"]).stdout == "sk-…abcd\n"
    assert run_in_process(["config", "get", "api-key", "--reveal"]).stdout == KEY + "\n"
    assert run_in_process(["config", "get", "model", "--reveal"]).code == 2


@pytest.mark.e2e
def test_config_list_survives_an_invalid_environment_variable() -> None:
    run = run_in_process(["config", "list"], env={"DMXAPI_BASE_URL": "not a url"})
    assert run.code == 0, run.output
    assert "not a url (invalid:" in run.stdout
    listed = json.loads(
        run_in_process(["config", "list", "--json"], env={"DMXAPI_BASE_URL": "x"}).stdout
    )
    assert listed["settings"]["base-url"]["invalid"]
    assert run_in_process(["edit", "a.png", "-p", "x"], env={"DMXAPI_BASE_URL": "x"}).code == 2


@pytest.mark.e2e
def test_config_list_json_gives_numbers_as_numbers() -> None:
    settings = json.loads(run_in_process(["config", "list", "--json"]).stdout)["settings"]
    assert settings["timeout"]["value"] == 600.0 and settings["retries"]["value"] == 2
    assert settings["history"]["value"] is True and settings["ratio"]["value"] is None


@pytest.mark.e2e
def test_a_config_file_with_a_bom_says_so() -> None:
    path = Path(os.environ["DMXEDIT_CONFIG"])
    path.parent.mkdir(parents=True)
    path.write_bytes(b'\xef\xbb\xbfmodel = "m"\n')
    run = run_in_process(["config", "list"])
    assert run.code == 3 and "byte order mark" in run.stderr
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # never overwritten


@pytest.mark.e2e
@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_config_set_through_a_symlink_updates_the_target_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    target = tmp_path / "dotfiles" / "dmxedit.toml"
    target.parent.mkdir()
    target.write_text('model = "old"\n')
    link = Path(os.environ["DMXEDIT_CONFIG"])
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    assert run_in_process(["config", "set", "model", "new"]).code == 0
    assert link.is_symlink() and 'model = "new"' in target.read_text()
