"""One check of the API key, whatever its source (option, environment, config file,
standard input, the hidden prompt), before anything is sent or stored: quotes, a pasted
``Bearer `` or ``Authorization:``, whitespace, characters a header cannot carry. The
message says what to remove and never shows the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeserver import EDITS, FakeDMX
from helpers import KEY, Cli, Run, expect

PASTED = [
    (f'"{KEY}"', "wrapped in quotes", "remove them"),
    (f"'{KEY}'", "wrapped in quotes", "remove them"),
    (f"\u201c{KEY}\u201d", "U+201C LEFT DOUBLE QUOTATION MARK", "remove them"),
    (f'"{KEY}', "starts with a quote", "remove it"),
    (f"{KEY}'", "ends with a quote", "remove it"),
    (f"Bearer {KEY}", "starts with 'Bearer '", "remove it"),
    (f"bearer {KEY}", "starts with 'Bearer '", "remove it"),
    (f"Authorization: Bearer {KEY}", "starts with 'Authorization:'", "remove it"),
    (f"{KEY[:8]} {KEY[8:]}", "U+0020 SPACE", "remove it"),
    (f"{KEY[:8]}\n{KEY[8:]}", "whitespace", "remove it"),
    (f"{KEY[:8]}\u00a0{KEY[8:]}", "U+00A0 NO-BREAK SPACE", "remove it"),
    (f"{KEY}\u200b", "U+200B ZERO WIDTH SPACE", "remove it"),
    (f"{KEY[:8]}\uff4b{KEY[8:]}", "FULLWIDTH LATIN SMALL LETTER K", "remove it"),
]
IDS = [
    "double quotes",
    "single quotes",
    "curly quotes",
    "leading quote",
    "trailing quote",
    "Bearer",
    "bearer",
    "Authorization",
    "space",
    "line break",
    "no-break space",
    "zero width space",
    "fullwidth letter",
]


def _no_secret(run: Run) -> None:
    assert KEY[8:] not in run.stdout + run.stderr, run.output


@pytest.mark.parametrize(("pasted", "said", "fix"), PASTED, ids=IDS)
def test_config_set_from_standard_input_refuses_it_and_stores_nothing(
    cli: Cli, tmp_path: Path, pasted: str, said: str, fix: str
) -> None:
    run = expect(cli("config", "set", "api-key", "-", input=pasted.encode() + b"\n"), 2)
    assert said in run.stderr and fix in run.stderr, run.output
    _no_secret(run)
    assert not (tmp_path / "config" / "config.toml").exists()


@pytest.mark.parametrize(("pasted", "said", "fix"), PASTED[:8], ids=IDS[:8])
def test_config_set_from_an_argument_or_the_prompt_refuses_it(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pasted: str, said: str, fix: str
) -> None:
    run = expect(cli("config", "set", "api-key", pasted), 2)
    assert said in run.stderr and fix in run.stderr
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pasted)
    run = expect(cli("config", "set", "api-key", stdin_isatty=True), 2)
    assert said in run.stderr and fix in run.stderr
    _no_secret(run)
    assert not (tmp_path / "config" / "config.toml").exists()


@pytest.mark.parametrize(("pasted", "said", "fix"), PASTED, ids=IDS)
def test_an_environment_key_is_refused_before_anything_is_sent(
    cli: Cli, server: FakeDMX, png: Path, pasted: str, said: str, fix: str
) -> None:
    run = expect(cli("edit", str(png), "-p", "x", key=pasted), 3)
    assert said in run.stderr and fix in run.stderr and "DMXAPI_API_KEY" in run.stderr
    _no_secret(run)
    assert server.requests == []


def test_a_quoted_key_in_the_config_file_is_refused_before_anything_is_sent(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config" / "config.toml"
    config.parent.mkdir(mode=0o700)
    config.write_text(f"api-key = '\"{KEY}\"'\n", encoding="utf-8")
    config.chmod(0o600)
    run = expect(cli("edit", str(png), "-p", "x", key=None), 3, "wrapped in quotes", str(config))
    _no_secret(run)
    assert server.requests == []


def test_a_library_option_key_is_checked_the_same_way(server: FakeDMX, png: Path) -> None:
    from dmxedit import edit_image
    from dmxedit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="wrapped in quotes") as caught:
        edit_image([png], "x", api_key=f'"{KEY}"', base_url=server.base_url)
    assert KEY not in str(caught.value)
    assert server.requests == []


def test_surrounding_whitespace_is_only_trimmed(cli: Cli, server: FakeDMX, png: Path) -> None:
    expect(cli("edit", str(png), "-p", "x", key=f"  {KEY}\n"))
    assert server.posts(EDITS)[0].headers["authorization"] == f"Bearer {KEY}"
    run = expect(cli("config", "set", "api-key", "-", input=f" {KEY} \r\n".encode()))
    assert KEY not in run.stderr


def test_the_system_token_gets_the_same_check(cli: Cli) -> None:
    run = expect(cli("config", "set", "system-token", "-", input=b'"systok-abcdef012345"\n'), 2)
    assert "wrapped in quotes" in run.stderr and "systok-abcdef012345" not in run.stderr
