"""A config file (or its folder) that others could have written is not trusted, as ssh's
StrictModes: exit 3 with the fix, and nothing is sent, not even with a key that came only
from the environment. A plain-http base URL to another machine is warned about before the
key is sent."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fakeserver import EDITS, FakeDMX
from helpers import KEY, Cli, Run, expect, run_in_process

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _config(path: Path, text: str, mode: int = 0o600, folder_mode: int = 0o700) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    path.parent.chmod(folder_mode)
    return path


def _edit_with_the_files_base_url(png: Path, config: Path) -> Run:
    """An edit whose key comes from the environment and whose base URL is the file's."""
    return run_in_process(
        ["edit", str(png), "-p", "x"],
        env={"DMXAPI_API_KEY": KEY, "DMXAPI_BASE_URL": None, "DMXEDIT_CONFIG": str(config)},
    )


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        (0o666, "writable by group and others (mode 0666)"),
        (0o620, "writable by its group (mode 0620)"),
        (0o602, "writable by others (mode 0602)"),
    ],
)
def test_a_config_file_others_can_write_is_refused_and_nothing_is_sent(
    server: FakeDMX, png: Path, tmp_path: Path, mode: int, said: str
) -> None:
    config = _config(tmp_path / "cfg" / "config.toml", f'base-url = "{server.base_url}"\n', mode)
    run = expect(_edit_with_the_files_base_url(png, config), 3, said, f"chmod go-w {config}")
    assert server.requests == []
    assert "base-url" in run.stderr


def test_a_config_folder_others_can_write_is_refused(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    config = _config(
        tmp_path / "cfg" / "config.toml", f'base-url = "{server.base_url}"\n', folder_mode=0o777
    )
    expect(_edit_with_the_files_base_url(png, config), 3, f"chmod go-w {config.parent}")
    assert server.requests == []


def test_dmxedit_s_own_folder_others_can_write_is_refused_with_chmod_700(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    home_config = Path(os.environ["XDG_CONFIG_HOME"]) / "dmxedit" / "config.toml"
    _config(home_config, f'base-url = "{server.base_url}"\n', folder_mode=0o777)
    run = run_in_process(
        ["edit", str(png), "-p", "x"],
        env={"DMXAPI_API_KEY": KEY, "DMXAPI_BASE_URL": None, "DMXEDIT_CONFIG": None},
    )
    expect(run, 3, f"chmod 700 {home_config.parent}")
    assert server.requests == []


def test_a_sticky_world_writable_folder_like_tmp_is_accepted_for_dmxedit_config(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-tmp"
    config = _config(
        shared / "config.toml", f'base-url = "{server.base_url}"\n', folder_mode=0o1777
    )
    expect(_edit_with_the_files_base_url(png, config))
    assert len(server.posts(EDITS)) == 1


def test_a_missing_file_in_a_loose_folder_is_no_problem(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "loose"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    expect(cli("config", "list", env={"DMXEDIT_CONFIG": str(folder / "none.toml")}))


def test_config_commands_refuse_the_file_too_and_leave_it_as_it_is(
    cli: Cli, tmp_path: Path
) -> None:
    config = _config(tmp_path / "config" / "config.toml", 'model = "x"\n', 0o666)
    for args in (["config", "list"], ["config", "get", "model"], ["config", "set", "size", "2K"]):
        expect(cli(*args), 3, "chmod go-w")
    assert config.read_text(encoding="utf-8") == 'model = "x"\n'
    config.chmod(0o600)
    expect(cli("config", "set", "size", "2K"))


def test_a_file_owned_by_another_user_is_refused(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a file to another user")
    config = _config(tmp_path / "cfg" / "config.toml", f'base-url = "{server.base_url}"\n')
    os.chown(config, 65534, -1)
    expect(_edit_with_the_files_base_url(png, config), 3, "owned by another user (uid 65534)")
    assert server.requests == []


def test_a_private_file_is_used(server: FakeDMX, png: Path, tmp_path: Path) -> None:
    config = _config(tmp_path / "cfg" / "config.toml", f'base-url = "{server.base_url}"\n')
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    expect(_edit_with_the_files_base_url(png, config))
    assert server.posts(EDITS)[0].headers["authorization"] == f"Bearer {KEY}"


# -- plain http ------------------------------------------------------------------------------


def test_plain_http_to_another_host_is_warned_about_before_the_key_is_sent(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    # The fake serves as an HTTP proxy for a host that is not this machine.
    env = {
        "DMXAPI_BASE_URL": "http://dmx.example/v1",
        "HTTP_PROXY": server.origin,
        "NO_PROXY": "",
    }
    run = expect(cli("edit", str(png), "-p", "x", env=env), 0, "plain http:// to dmx.example")
    assert run.stderr.index("plain http://") < run.stderr.index("sending the request")
    assert server.posts(EDITS)[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://dmx.example/v1", True),
        ("http://10.0.0.5:3000/v1", True),
        ("https://dmx.example/v1", False),
        ("http://127.0.0.1:8080/v1", False),
        ("http://127.9.9.9/v1", False),
        ("http://localhost:3000/v1", False),
        ("http://[::1]:3000/v1", False),
    ],
)
def test_plain_http_warning_in_dry_run_and_config_list(
    cli: Cli, png: Path, url: str, warned: bool
) -> None:
    for args in (["edit", str(png), "-p", "x", "--dry-run"], ["config", "list"]):
        run = expect(cli(*args, env={"DMXAPI_BASE_URL": url}))
        assert ("unencrypted" in run.stderr) is warned, run.output
