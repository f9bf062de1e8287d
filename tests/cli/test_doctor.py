"""`dmxedit doctor` (SPEC section 11, issue 16): every check's ok, warn and fail paths,
its exit codes, and that it never generates anything nor prints the key."""

from __future__ import annotations

import json
import os
import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeserver import MODELS, QUOTA_PER_CNY, SYSTEM_TOKEN, USER_ID, FakeDMX, Reply, model_entry
from helpers import KEY, Cli, Run, expect

from dmxedit.core.errors import ExitCode
from dmxedit.engine import checks, doctor

pytestmark = pytest.mark.e2e
NAMES = ["config", "key", "base-url", "proxy", "site", "auth", "model", "output", "ledger"]


def lines(run: Run) -> dict[str, tuple[str, str]]:
    """Each check's line on standard output, by name: (status, the rest)."""
    found: dict[str, tuple[str, str]] = {}
    for line in run.stdout.splitlines():
        status, name, rest = line.split(None, 2)
        found[name] = (status, rest)
    return found


def status(run: Run) -> dict[str, str]:
    return {name: s for name, (s, _) in lines(run).items()}


def nothing_generated(server: FakeDMX) -> None:
    assert server.posts() == []
    assert all(r.path in ("/", MODELS, "/models") for r in server.requests), server.requests


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield int(sock.getsockname()[1])
    sock.close()


def config_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# -- the whole run ------------------------------------------------------------------------


def test_a_good_setup_passes_every_check_in_order_and_generates_nothing(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    run = expect(cli("doctor"), 0, "in order")
    assert list(lines(run)) == NAMES
    assert set(status(run).values()) == {"ok"}
    assert "sk-…abcd" in run.stdout  # the key masked, never whole
    nothing_generated(server)
    (listing,) = [r for r in server.requests if r.path == MODELS]
    assert listing.method == "GET" and listing.headers["authorization"] == f"Bearer {KEY}"
    (probe,) = [r for r in server.requests if r.path == "/"]
    assert probe.method == "HEAD" and "authorization" not in probe.headers
    assert not (tmp_path / "output").exists()  # checked, not created
    assert not (tmp_path / "data" / "ledger.db").exists()


def test_json_is_a_list_of_checks_and_keeps_the_exit_code(cli: Cli, server: FakeDMX) -> None:
    server.key = "sk-another-key-0000"
    run = expect(cli("doctor", "--json"), 3)
    checks = json.loads(run.stdout)
    assert [c["name"] for c in checks] == NAMES
    assert all(set(c) == {"name", "status", "detail", "hint"} for c in checks)
    by_name = {c["name"]: c for c in checks}
    assert by_name["auth"]["status"] == "fail" and "401" in by_name["auth"]["detail"]
    assert by_name["model"]["status"] == "skip"
    assert by_name["config"]["hint"] is None


def test_the_exit_code_is_the_first_failures_kind(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x")
    # The key (exit 3) fails before the output folder (exit 2).
    run = expect(cli("doctor", "-o", str(tmp_path / "afile" / "out"), key=None), 3)
    assert status(run)["key"] == "fail" and status(run)["output"] == "fail"
    # With the key fixed, the output folder's failure decides.
    run = expect(cli("doctor", "-o", str(tmp_path / "afile" / "out")), 2)


def test_warnings_alone_exit_0(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", "-m", "gpt-4o"), 0, "1 warning")
    assert status(run)["model"] == "warn"
    assert "not look like an image model" in lines(run)["model"][1]


def test_quiet_prints_no_summary(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", "-q"))
    assert run.stderr == "" and len(run.stdout.splitlines()) == len(NAMES)


def test_a_bad_option_is_a_usage_error(cli: Cli, server: FakeDMX) -> None:
    expect(cli("doctor", "--connect-timeout", "-1"), 2, "--connect-timeout")
    assert server.requests == []


# -- 1. the config file ------------------------------------------------------------------


def test_no_config_file_is_fine(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor"))
    assert "No config file at" in lines(run)["config"][1]


def test_a_config_file_readable_by_others_is_a_warning(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    path = config_file(tmp_path, f'api-key = "{KEY}"\n', 0o644)
    run = expect(cli("doctor", key=None), 0)
    state, rest = lines(run)["config"]
    assert state == "warn" and "others can read it (0644)" in rest
    assert f"chmod 600 {path}" in rest
    assert status(run)["key"] == "ok" and "from the config file" in lines(run)["key"][1]
    path.chmod(0o600)
    assert status(expect(cli("doctor", key=None)))["config"] == "ok"


def test_a_config_file_others_can_change_is_refused(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    path = config_file(tmp_path, 'model = "nano-banana-2"\n', 0o666)
    run = expect(cli("doctor"), 3)
    state, rest = lines(run)["config"]
    assert state == "fail" and "writable by group and others" in rest
    assert f"chmod go-w {path}" in rest


def test_a_config_folder_anyone_can_write_is_refused(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    path = config_file(tmp_path, 'model = "nano-banana-2"\n')
    path.parent.chmod(0o777)
    run = expect(cli("doctor"), 3)
    state, rest = lines(run)["config"]
    assert state == "fail" and f"chmod go-w {path.parent}" in rest


def test_an_unparsable_config_file_fails_and_the_rest_is_still_checked(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    config_file(tmp_path, "api-key = \n")
    run = expect(cli("doctor"), 3)
    assert status(run)["config"] == "fail" and "cannot be parsed" in lines(run)["config"][1]
    assert status(run)["auth"] == "ok"  # the key from the environment still works


def test_an_invalid_value_in_the_config_file_fails_with_exit_2(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    config_file(tmp_path, 'ratio = "wide"\nmodel = "nano-banana-3"\n')
    run = expect(cli("doctor"), 2)
    assert status(run)["config"] == "fail" and "wide" in lines(run)["config"][1]
    # The file's valid settings are still used by the checks that follow.
    assert status(run)["model"] == "warn" and "nano-banana-3" in lines(run)["model"][1]


# -- 2. the key ---------------------------------------------------------------------------


def test_no_key_fails_with_how_to_set_it_and_nothing_is_sent(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", key=None), 3)
    state, rest = lines(run)["key"]
    assert state == "fail" and "dmxedit config set api-key" in rest
    assert status(run)["auth"] == "skip" and status(run)["model"] == "skip"
    assert [r for r in server.requests if r.path == MODELS] == []


@pytest.mark.parametrize(
    ("pasted", "phrase"),
    [
        (f"Bearer {KEY}", "starts with 'Bearer '"),
        (f"{KEY}\u200b", "U+200B"),
        (f'"{KEY}"', "wrapped in quotes"),
    ],
)
def test_a_key_that_cannot_be_sent_fails_and_is_never_sent(
    cli: Cli, server: FakeDMX, pasted: str, phrase: str
) -> None:
    run = expect(cli("doctor", key=pasted), 3)
    state, rest = lines(run)["key"]
    assert state == "fail" and phrase in rest and "DMXAPI_API_KEY" in rest
    assert status(run)["auth"] == "skip"
    assert [r for r in server.requests if r.path == MODELS] == []


def test_a_key_without_sk_is_a_warning(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", key="0123456789abcdef0123"), 0)
    assert status(run)["key"] == "warn" and "does not start with sk-" in lines(run)["key"][1]
    assert "0123456789abcdef0123" not in run.stdout + run.stderr


def test_an_environment_key_hiding_another_stored_one_is_a_warning(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    stored = "sk-stored0000000000wxyz"
    config_file(tmp_path, f'api-key = "{stored}"\n')
    run = expect(cli("doctor"), 0)
    state, rest = lines(run)["key"]
    assert state == "warn" and "overrides the config file's other key (sk-…wxyz)" in rest
    assert stored not in run.stdout + run.stderr


# -- 3. the base URL ----------------------------------------------------------------------


def test_a_base_url_without_v1_warns_and_the_404_says_to_add_it(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", env={"DMXAPI_BASE_URL": server.origin}), 4)
    assert status(run)["base-url"] == "warn"
    assert f"{server.origin}/v1" in lines(run)["base-url"][1]
    state, rest = lines(run)["auth"]
    assert state == "fail" and "404" in rest and "does not end in /v1" in rest
    nothing_generated(server)


def test_a_dmxapi_base_url_without_v1_fails_with_exit_2(cli: Cli, server: FakeDMX) -> None:
    # http://www.dmxapi.cn through the fake server as a proxy: no real host is reached.
    env = {"DMXAPI_BASE_URL": "http://www.dmxapi.cn", "HTTP_PROXY": server.origin, "NO_PROXY": ""}
    run = expect(cli("doctor", env=env), 2)
    state, rest = lines(run)["base-url"]
    assert state == "fail" and "DMXAPI answers 404" in rest
    assert "dmxedit config set base-url http://www.dmxapi.cn/v1" in rest
    assert status(run)["proxy"] == "ok" and status(run)["site"] == "ok"


def test_a_pasted_endpoint_url_fails_with_the_base_to_use(cli: Cli, server: FakeDMX) -> None:
    url = server.base_url + "/images/edits"
    run = expect(cli("doctor", "--base-url", url), 2)
    state, rest = lines(run)["base-url"]
    assert state == "fail" and f"set base-url {server.base_url}" in rest
    nothing_generated(server)


def test_a_dmxapi_site_is_named(cli: Cli, server: FakeDMX) -> None:
    env = {
        "DMXAPI_BASE_URL": "http://www.dmxapi.com/v1",
        "HTTP_PROXY": server.origin,
        "NO_PROXY": "",
    }
    run = expect(cli("doctor", env=env), 0)
    state, rest = lines(run)["base-url"]
    assert state == "warn" and "international site, prices in USD" in rest
    assert "plain http" in rest  # the key would travel unencrypted


def test_an_invalid_base_url_in_the_environment_fails_and_skips_the_network(
    cli: Cli, server: FakeDMX
) -> None:
    run = expect(cli("doctor", env={"DMXAPI_BASE_URL": "ftp://example.com/v1"}), 2)
    assert status(run)["base-url"] == "fail"
    assert [status(run)[n] for n in ("proxy", "site", "auth", "model")] == ["skip"] * 4
    assert server.requests == []


# -- 4. proxies ---------------------------------------------------------------------------


def test_no_proxy_means_a_direct_connection(cli: Cli, server: FakeDMX) -> None:
    assert "connects directly" in lines(expect(cli("doctor")))["proxy"][1]


def test_a_proxy_bypassed_by_no_proxy_is_named(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", env={"HTTP_PROXY": "http://127.0.0.1:9"}))
    assert "HTTP_PROXY is set, but NO_PROXY excludes 127.0.0.1" in lines(run)["proxy"][1]


def test_an_http_proxy_is_used_and_its_password_never_shown(cli: Cli, server: FakeDMX) -> None:
    proxy = server.origin.replace("http://", "http://me:s3cret@")
    run = expect(cli("doctor", env={"http_proxy": proxy, "NO_PROXY": ""}), 0)
    state, rest = lines(run)["proxy"]
    assert state == "ok" and "me:***@127.0.0.1" in rest and "(from http_proxy)" in rest
    assert "s3cret" not in run.stdout + run.stderr
    assert status(run)["auth"] == "ok"  # the fake answered as the proxy


def test_proxy_variables_that_differ_in_case_are_a_warning(cli: Cli, server: FakeDMX) -> None:
    env = {"https_proxy": "http://127.0.0.1:1", "HTTPS_PROXY": "http://127.0.0.1:2"}
    run = expect(cli("doctor", env=env), 0)
    assert status(run)["proxy"] == "warn"
    assert "https_proxy and HTTPS_PROXY differ" in lines(run)["proxy"][1]


def test_a_socks_proxy_without_pysocks_fails_and_says_what_to_install(
    cli: Cli, server: FakeDMX, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "socks", None)  # PySocks not importable
    env = {"ALL_PROXY": "socks5h://127.0.0.1:1080", "NO_PROXY": ""}
    run = expect(cli("doctor", env=env), 3)
    state, rest = lines(run)["proxy"]
    assert state == "fail" and "ALL_PROXY (socks5h://127.0.0.1:1080)" in rest
    assert "SOCKS support is not installed" in rest and "pip install 'requests[socks]'" in rest
    assert status(run)["site"] == "skip" and status(run)["auth"] == "skip"
    assert server.requests == []


def test_a_socks_proxy_with_pysocks_is_ok(
    cli: Cli, server: FakeDMX, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "socks", types.ModuleType("socks"))
    env = {"ALL_PROXY": "socks5h://127.0.0.1:1080", "NO_PROXY": ""}
    run = cli("doctor", env=env)
    assert lines(run)["proxy"][0] == "ok", run.output
    assert "Through socks5h://127.0.0.1:1080 (from ALL_PROXY)" in lines(run)["proxy"][1]


def test_a_proxy_with_an_unknown_scheme_fails(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", env={"HTTP_PROXY": "ftp://127.0.0.1:21", "NO_PROXY": ""}), 3)
    assert "scheme ftp://" in lines(run)["proxy"][1]


# -- 5. the site ----------------------------------------------------------------------------


def test_an_unreachable_port_fails_fast_with_exit_5(
    cli: Cli, server: FakeDMX, closed_port: int
) -> None:
    url = f"http://127.0.0.1:{closed_port}/v1"
    run = expect(cli("doctor", "--base-url", url), 5)
    state, rest = lines(run)["site"]
    assert state == "fail" and "was refused" in rest
    assert status(run)["auth"] == "skip" and status(run)["model"] == "skip"
    assert status(run)["output"] == "ok"  # the local checks still run


def test_a_site_that_never_answers_fails_within_the_connect_timeout(
    cli: Cli, server: FakeDMX, silent_port: int
) -> None:
    url = f"http://127.0.0.1:{silent_port}/v1"
    run = expect(cli("doctor", "--base-url", url, "--connect-timeout", "0.3"), 5)
    state, rest = lines(run)["site"]
    assert state == "fail" and "did not answer within 0.3 s" in rest


def test_an_unknown_host_name_is_a_dns_failure(
    cli: Cli, server: FakeDMX, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_such_name(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    run = expect(cli("doctor", "--base-url", "http://no-such-host.invalid/v1"), 5)
    assert "no-such-host.invalid could not be resolved (DNS)" in lines(run)["site"][1]


def test_a_proxy_asking_for_a_login_fails_with_exit_3(cli: Cli, server: FakeDMX) -> None:
    server.script("/", Reply(status=407))
    env = {
        "DMXAPI_BASE_URL": "http://www.dmxapi.cn/v1",
        "HTTP_PROXY": server.origin,
        "NO_PROXY": "",
    }
    run = expect(cli("doctor", env=env), 3)
    assert status(run)["site"] == "fail" and "USER:PASSWORD" in lines(run)["site"][1]


def test_a_site_answering_5xx_is_a_warning(cli: Cli, server: FakeDMX) -> None:
    server.script("/", Reply(status=502))
    run = expect(cli("doctor"), 0)
    assert status(run)["site"] == "warn" and "HTTP 502" in lines(run)["site"][1]


# -- 6. the key accepted, 7. the model --------------------------------------------------------


def test_a_key_from_another_site_fails_naming_the_other_sites(cli: Cli, server: FakeDMX) -> None:
    server.key = "sk-made-on-the-com-site"
    env = {
        "DMXAPI_BASE_URL": "http://www.dmxapi.cn/v1",
        "HTTP_PROXY": server.origin,
        "NO_PROXY": "",
    }
    run = expect(cli("doctor", env=env), 3)
    state, rest = lines(run)["auth"]
    assert state == "fail" and "HTTP 401: 无效的令牌" in rest
    assert "https://www.dmxapi.com/v1 or https://ssvip.dmxapi.com/v1" in rest
    assert status(run)["model"] == "skip"
    nothing_generated(server)


def test_a_listing_that_fails_is_exit_5_and_not_retried(cli: Cli, server: FakeDMX) -> None:
    server.script(MODELS, Reply(status=503, json={"error": {"message": "busy"}}))
    run = expect(cli("doctor"), 5)
    assert status(run)["auth"] == "fail" and "busy" in lines(run)["auth"][1]
    assert len([r for r in server.requests if r.path == MODELS]) == 1


def test_an_empty_model_list_is_a_warning_and_so_is_the_model(cli: Cli, server: FakeDMX) -> None:
    server.models = []
    run = expect(cli("doctor"))
    assert status(run)["auth"] == "warn" and status(run)["model"] == "warn"


def test_a_model_the_key_lacks_is_warned_with_a_suggestion(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", "-m", "nano-banana-3"))
    state, rest = lines(run)["model"]
    assert state == "warn" and "able to use the model nano-banana-3 (from --model)" in rest
    assert '503 "no available channel"' in rest
    assert "Did you mean nano-banana-2?" in rest and "dmxedit models" in rest
    nothing_generated(server)


def test_a_model_in_the_wrong_case_is_suggested_in_the_right_one(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("doctor", "-m", "NANO-BANANA-2"))
    assert "Did you mean nano-banana-2?" in lines(run)["model"][1]


def test_a_model_listed_only_by_its_endpoint_types_is_an_image_model(
    cli: Cli, server: FakeDMX
) -> None:
    server.models.append(model_entry("painter-x", "acme", "image-generation"))
    run = expect(cli("doctor", "-m", "painter-x"), 0)
    # usable, but not in dmxedit's model table (SPEC 12): a warning, not a failure
    assert status(run)["model"] == "warn"
    assert "not look like an image model" not in lines(run)["model"][1]


# -- 8. the output folder ------------------------------------------------------------------


def test_an_output_folder_under_a_file_cannot_be_created(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x")
    run = expect(cli("doctor", "-o", str(tmp_path / "afile" / "out")), 2)
    state, rest = lines(run)["output"]
    assert state == "fail" and "cannot be created" in rest and "is not a folder" in rest


def test_an_output_that_is_a_file_fails(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    run = expect(cli("doctor", "-o", str(tmp_path / "out")), 2)
    assert "exists and is not a folder" in lines(run)["output"][1]


def test_an_output_folder_that_cannot_be_written_fails(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    real = checks._probe

    def refuse(path: Path) -> None:
        if path == folder:
            raise PermissionError(13, "Permission denied")
        real(path)

    monkeypatch.setattr(checks, "_probe", refuse)  # root writes anywhere: fake the refusal
    run = expect(cli("doctor", "-o", str(folder)), 2)
    state, rest = lines(run)["output"]
    assert state == "fail" and "cannot be written: Permission denied" in rest
    assert "dmxedit config set output DIR" in rest


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_output_folder_fails(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir(mode=0o500)
    run = expect(cli("doctor", "-o", str(folder)), 2)
    assert "cannot be written" in lines(run)["output"][1]


def test_a_writable_output_folder_is_ok_and_left_as_it_was(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    run = expect(cli("doctor", "-o", str(folder)))
    assert lines(run)["output"] == ("ok", f"{folder} (from --output) is writable.")
    assert list(folder.iterdir()) == []


def test_little_free_space_is_a_warning(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    usage = shutil._ntuple_diskusage(1 << 30, 1 << 30, 5 << 20)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage)
    (tmp_path / "out").mkdir()
    run = expect(cli("doctor", "-o", str(tmp_path / "out")), 0)
    assert status(run)["output"] == "warn" and "only 5 MiB are free" in lines(run)["output"][1]


# -- 9. the ledger ----------------------------------------------------------------------------


def test_the_ledger_turned_off_is_not_created(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    run = expect(cli("doctor", env={"DMXEDIT_NO_HISTORY": "1"}))
    assert "Turned off (DMXEDIT_NO_HISTORY is set)" in lines(run)["ledger"][1]
    assert not (tmp_path / "data").exists()


def test_an_existing_ledger_is_checked_writable(
    cli: Cli, server: FakeDMX, tmp_path: Path, png: Path
) -> None:
    expect(cli("edit", str(png), "-p", "x", "-o", str(tmp_path / "out")))
    run = expect(cli("doctor"))
    assert lines(run)["ledger"] == ("ok", f"{tmp_path / 'data' / 'ledger.db'}: 1 entry, writable.")


def test_a_ledger_others_can_read_is_a_warning(
    cli: Cli, server: FakeDMX, tmp_path: Path, png: Path
) -> None:
    expect(cli("edit", str(png), "-p", "x", "-o", str(tmp_path / "out")))
    (tmp_path / "data" / "ledger.db").chmod(0o644)
    run = expect(cli("doctor"), 0)
    assert status(run)["ledger"] == "warn" and "chmod 600" in lines(run)["ledger"][1]


def test_a_ledger_that_cannot_be_created_fails_with_exit_3(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("x")
    run = expect(cli("doctor", env={"DMXEDIT_DATA_DIR": str(tmp_path / "afile" / "data")}), 3)
    state, rest = lines(run)["ledger"]
    assert state == "fail" and "cannot be created" in rest and "history off" in rest


def test_a_ledger_that_is_not_a_database_fails(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ledger.db").write_bytes(b"not sqlite" * 100)
    run = expect(cli("doctor"), 3)
    assert status(run)["ledger"] == "fail"


# -- 10. the balance (with a system token, SPEC 8) ------------------------------------------


def account_env(token: str = SYSTEM_TOKEN, user: str | None = USER_ID) -> dict[str, str]:
    env = {"DMXAPI_SYSTEM_TOKEN": token}
    if user is not None:
        env["DMXAPI_USER_ID"] = user
    return env


def test_no_balance_check_without_a_system_token(cli: Cli, server: FakeDMX) -> None:
    assert "balance" not in lines(expect(cli("doctor")))


@pytest.mark.parametrize(
    ("quota", "state", "code"),
    [(12.5, "ok", 0), (0.4, "warn", 0), (0.0, "fail", 3)],
)
def test_the_balance_with_a_system_token(
    cli: Cli, server: FakeDMX, quota: float, state: str, code: int
) -> None:
    server.quota = int(quota * QUOTA_PER_CNY)
    run = expect(cli("doctor", env=account_env()), code)
    assert list(lines(run))[-1] == "balance" and status(run)["balance"] == state
    assert f"{quota:.2f} CNY" in lines(run)["balance"][1]
    assert SYSTEM_TOKEN not in run.stdout + run.stderr
    assert server.posts() == []


def test_a_refused_system_token_fails_with_exit_3_and_is_never_shown(
    cli: Cli, server: FakeDMX
) -> None:
    token = "systok-wrong-0000000000000000"
    run = expect(cli("doctor", env=account_env(token)), 3)
    assert status(run)["balance"] == "fail"
    assert token not in run.stdout + run.stderr


def test_a_system_token_without_a_user_id_fails_saying_how_to_set_it(
    cli: Cli, server: FakeDMX
) -> None:
    run = expect(cli("doctor", env=account_env(user=None)), 3)
    assert status(run)["balance"] == "fail" and "user-id" in lines(run)["balance"][1]
    assert [r for r in server.requests if r.path.startswith("/api/")] == []


def test_the_balance_is_not_asked_of_a_site_that_cannot_be_reached(
    cli: Cli, server: FakeDMX, closed_port: int
) -> None:
    url = f"http://127.0.0.1:{closed_port}/v1"
    run = expect(cli("doctor", "--base-url", url, env=account_env()), 5)
    assert status(run)["balance"] == "skip"


# -- the core, as a library ---------------------------------------------------------------


def test_the_core_reports_each_check_as_it_is_made(
    server: FakeDMX, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DMXAPI_API_KEY", KEY)
    monkeypatch.setenv("DMXAPI_BASE_URL", server.base_url)
    seen: list[str] = []
    checks = doctor.run(on_check=lambda c: seen.append(c.name))
    assert seen == [c.name for c in checks] == NAMES
    assert doctor.exit_code(checks) == 0
    failed = [
        doctor.Check("a", "warn", ""),
        doctor.Check("b", "fail", "", code=ExitCode.NETWORK),
    ]
    assert doctor.exit_code(failed) == 5
