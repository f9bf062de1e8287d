"""Settings: precedence, the config file and its folder, the base URL, the key's mask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fakeserver import (
    FakeDMX,
)
from helpers import (
    KEY,
    Cli,
    expect,
    run_in_process,
)

from dmxedit.core.errors import ConfigError, ExitCode
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import config_path, mask, read_config, resolve, set_value


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_the_config_folder_mode_is_corrected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dmxedit.core.settings import default_config_path

    monkeypatch.delenv("DMXEDIT_CONFIG")
    folder = default_config_path().parent
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    assert str(folder).startswith(str(tmp_path))
    assert run_in_process(["config", "set", "model", "m"]).code == 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "config.toml").stat().st_mode) == 0o600


def test_a_folder_named_by_dmxedit_config_keeps_its_mode(tmp_path: Path) -> None:
    folder = Path(os.environ["DMXEDIT_CONFIG"]).parent
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    assert run_in_process(["config", "set", "model", "m"]).code == 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


@pytest.mark.e2e
def test_a_tilde_in_the_output_setting_is_the_home_folder(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    assert run_in_process(["config", "set", "output", "~/Pictures/dmx"]).code == 0
    (saved,) = expect(cli("edit", str(png), "-p", "x")).stdout.split()
    assert Path(saved).parent == Path(os.environ["HOME"]) / "Pictures" / "dmx"
    assert not (tmp_path / "~").exists()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:99999/v1", "port"),
        ("http://127.0.0.1:0/v1", "port"),
        ("http://127.0.0.1:8080/v1?x=1", "query"),
        ("http://127.0.0.1:8080/v1#top", "query"),
        ("http://127.0.0.1:8080/my v1", "space"),
        ("ftp://127.0.0.1/v1", "http(s)"),
        ("http:///v1", "host"),
    ],
)
def test_a_base_url_is_checked_whole_before_sending(png: Path, url: str, said: str) -> None:
    run = run_in_process(
        ["edit", str(png), "-p", "x", "--base-url", url], env={"DMXAPI_API_KEY": KEY}
    )
    assert run.code == 2 and said in run.stderr, run.output
    assert run_in_process(["config", "set", "base-url", url]).code == 2


def test_config_file_is_0600_in_a_0700_folder_and_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    set_value(path, "api-key", "sk-abc0000000000000")
    set_value(path, "model", "m2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_config(path) == {"api-key": "sk-abc0000000000000", "model": "m2"}
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


def test_unparsable_config_names_the_file_and_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("api-key = 'unterminated\n")
    with pytest.raises(ConfigError) as info:
        set_value(path, "model", "x")
    assert str(path) in info.value.message and info.value.exit_code == ExitCode.AUTH
    assert path.read_text() == "api-key = 'unterminated\n"


def test_precedence_flag_env_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config_path()
    set_value(path, "model", "from-file")
    set_value(path, "base-url", "http://file/v1")
    set_value(path, "api-key", "sk-file000000000000")
    monkeypatch.setenv("DMXAPI_BASE_URL", "http://env/v1")
    monkeypatch.setenv("DMXAPI_API_KEY", "sk-env0000000000000")
    found = resolve(ImageOptions(model="from-flag"))
    assert (found.model, found.sources["model"]) == ("from-flag", "flag")
    assert (found.base_url, found.sources["base-url"]) == ("http://env/v1", "env")
    assert (found.api_key, found.sources["api-key"]) == ("sk-env0000000000000", "env")
    assert (found.timeout, found.sources["timeout"]) == (600.0, "default")
    monkeypatch.delenv("DMXAPI_API_KEY")
    assert resolve().sources["api-key"] == "file"


def test_mask_never_shows_the_middle_of_a_key() -> None:
    assert mask("sk-abcdefghijklmnop1234") == "sk-…1234"
    assert "abcdefgh" not in mask("abcdefghijklmnop")
    assert mask("short") == "…" * 3
