"""Answers shaped the way relays really send them, and inputs a new user gives
(issue 11, the points built so far)."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import KEY, Run, default_signals, dmxedit_command, expect, run_in_process
from fakeserver import EDITS, JPEG_BYTES, PNG_BYTES, FakeDMX, Reply, make_big_png

pytestmark = pytest.mark.e2e
Cli = Callable[..., Run]


def test_a_json_answer_with_a_utf8_bom_is_read(cli: Cli, server: FakeDMX, png: Path) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(server.url_result(PNG_BYTES)).encode()
    server.script(EDITS, Reply(body=body, content_type="application/json"))
    (saved,) = expect(cli("edit", str(png), "-p", "x")).stdout.split()
    assert Path(saved).read_bytes() == PNG_BYTES


def test_a_data_uri_in_url_is_decoded_and_saved_never_printed(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    image = make_big_png(300_000)
    uri = "data:image/png;base64," + base64.b64encode(image).decode()
    server.script(EDITS, Reply(json={"data": [{"url": uri}]}))
    run = expect(cli("edit", str(png), "-p", "x", "--json"))
    out = json.loads(run.stdout)
    assert Path(out["files"][0]).read_bytes() == image
    assert out["urls"] == [] and "base64" not in run.stdout + run.stderr
    assert server.gets() == []


def test_dmxapis_request_id_header_is_shown(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(
        EDITS,
        Reply(
            status=400,
            json={"error": {"message": "bad"}},
            headers={"X-Rixapi-Request-Id": "2026120112345678"},
        ),
    )
    run = expect(cli("edit", str(png), "-p", "x", "--json"), 4)
    assert json.loads(run.stdout)["error"]["request_id"] == "2026120112345678"
    assert "2026120112345678" in run.stderr


def test_an_error_body_is_decoded_with_its_declared_charset(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    text = json.dumps({"error": {"message": "无可用渠道"}}, ensure_ascii=False)
    server.script(
        EDITS,
        Reply(status=400, body=text.encode("gbk"), content_type="application/json; charset=GBK"),
    )
    run = expect(cli("edit", str(png), "-p", "x"), 4)
    assert "无可用渠道" in run.stderr and "\ufffd" not in run.stderr


def test_a_broken_download_is_described_in_words(cli: Cli, server: FakeDMX, png: Path) -> None:
    url = server.add_file("cut.png", PNG_BYTES * 20)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/cut.png", *[Reply(body=PNG_BYTES * 20, truncate_to=100)] * 4)
    run = expect(cli("edit", str(png), "-p", "x"), 6)
    assert "the connection broke before all the data arrived" in run.stderr
    for raw in ("IncompleteRead", "Connection broken", "('", ".;"):
        assert raw not in run.stderr
    assert run.stdout.split() == [url]


def test_standard_input_closed_is_exit_2(png: Path) -> None:
    for args in (["edit", str(png), "-p", "-"], ["edit", "-", "-p", "x"]):
        run = run_in_process([*args, "--dry-run"], input=None)
        assert run.code == 2 and "Standard input is closed" in run.stderr, run.output


def test_image_and_prompt_cannot_both_come_from_standard_input() -> None:
    run = run_in_process(["edit", "-", "-p", "-", "--dry-run"], input=PNG_BYTES)
    assert run.code == 2
    assert "already used for the image" in run.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["-q", "-v"],
        ["--concurrency", "2"],
        ["--results", "r.jsonl"],
    ],
)
def test_meaningless_combinations_are_refused(png: Path, args: list[str]) -> None:
    run = run_in_process(["edit", str(png), "-p", "x", "--dry-run", *args])
    assert run.code == 2, run.output


def test_a_tilde_in_the_output_setting_is_the_home_folder(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    assert run_in_process(["config", "set", "output", "~/Pictures/dmx"]).code == 0
    (saved,) = expect(cli("edit", str(png), "-p", "x")).stdout.split()
    assert Path(saved).parent == Path(os.environ["HOME"]) / "Pictures" / "dmx"
    assert not (tmp_path / "~").exists()


@pytest.mark.skipif(os.name != "posix", reason="file modes")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_images_and_sidecars_get_the_umasks_mode(
    server: FakeDMX, tmp_path: Path, umask: int, mode: int
) -> None:
    image = tmp_path / "in.jpg"
    image.write_bytes(JPEG_BYTES)

    def child() -> None:
        default_signals()
        os.umask(umask)

    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        [*dmxedit_command(), "edit", str(image), "-p", "x", "--save-metadata"],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        preexec_fn=child,
    )
    assert proc.returncode == 0, proc.stderr
    (saved,) = proc.stdout.decode().split()
    assert stat.S_IMODE(Path(saved).stat().st_mode) == mode
    assert stat.S_IMODE(Path(saved + ".json").stat().st_mode) == mode


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("sk-abc\u200bdef0123456789", "U+200B ZERO WIDTH SPACE"),
        ("\u201csk-abcdef0123456789\u201d", "U+201C LEFT DOUBLE QUOTATION MARK"),
        ("Bearer sk-abcdef0123456789", "starts with 'Bearer '"),
        ("sk-abcdef 0123456789", "U+0020 SPACE"),
    ],
)
def test_a_key_that_cannot_go_in_a_header_is_exit_3_before_sending(
    cli: Cli, server: FakeDMX, png: Path, key: str, said: str
) -> None:
    run = cli("edit", str(png), "-p", "x", key=key)
    assert run.code == 3, run.output
    assert said in run.stderr and "config set api-key" in run.stderr
    assert key not in run.stdout + run.stderr and "abcdef0123456789" not in run.stderr
    assert server.requests == []


@pytest.mark.skipif(os.name != "posix", reason="bytes in file names")
def test_an_image_whose_name_is_not_utf8_is_sent_under_a_safe_name(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    with open(raw, "wb") as fh:
        fh.write(PNG_BYTES)
    name = os.fsdecode(raw)
    assert expect(cli("edit", name, "-p", "x", "--dry-run")).code == 0
    expect(cli("edit", name, "-p", "x"))
    (post,) = server.posts()
    assert post.images[0].filename == "image.png"


def test_a_jobs_file_that_is_not_utf8_names_the_line_and_a_bom_is_accepted(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(b'{"prompt": "one"}\n{"prompt": "caf\xe9"}\n')
    run = cli("batch", str(jobs))
    assert run.code == 2 and "line 2: not UTF-8" in run.stderr, run.output
    assert server.requests == []
    jobs.write_bytes(b'\xef\xbb\xbf{"prompt": "one"}\n{"prompt": "two"}\n')
    expect(cli("batch", str(jobs)))
    assert len(server.posts()) == 2


def test_errors_off_a_terminal_are_plain_lines(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script(EDITS, Reply(status=400, json={"error": {"message": "bad prompt"}}))
    run = cli("edit", str(png), "-p", "x")
    assert run.code == 4
    assert "dmxedit: error: The API refused the request (HTTP 400: bad prompt)." in run.stderr
    assert "  HTTP status: 400" in run.stderr
    assert not any(c in run.stderr for c in "╭╮╰╯│─")


@pytest.mark.parametrize(
    "args",
    [["edit", "a.png", "--bogus"], ["edit"], ["ratios", "--size"], ["nonsense"]],
)
def test_usage_errors_look_like_dmxedits_own_and_exit_2(args: list[str]) -> None:
    run = run_in_process(args)
    assert run.code == 2, run.output
    assert run.stderr.startswith("dmxedit: error: "), run.stderr
    assert "Traceback" not in run.stderr


def test_a_negative_number_is_a_config_value_not_an_option() -> None:
    run = run_in_process(["config", "set", "timeout", "-1"])
    assert run.code == 2 and "not a positive number" in run.stderr, run.output


def test_config_get_api_key_masks_reveals_and_says_when_unset() -> None:
    unset = run_in_process(["config", "get", "api-key"])
    assert unset.code == 3 and "config set api-key" in unset.stderr and unset.stdout == ""
    assert run_in_process(["config", "set", "api-key", "-"], input=KEY.encode()).code == 0
    assert run_in_process(["config", "get", "api-key"]).stdout == "sk-…abcd\n"
    assert run_in_process(["config", "get", "api-key", "--reveal"]).stdout == KEY + "\n"
    assert run_in_process(["config", "get", "model", "--reveal"]).code == 2


def test_dry_run_says_how_to_give_curl_a_stored_key(png: Path) -> None:
    assert run_in_process(["config", "set", "api-key", "-"], input=KEY.encode()).code == 0
    run = run_in_process(["edit", str(png), "-p", "x", "--dry-run"])
    assert 'export DMXAPI_API_KEY="$(dmxedit config get api-key --reveal)"' in run.stdout
    assert KEY not in run.stdout


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


def test_a_404_from_a_base_url_without_v1_gets_a_hint(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.script("/images/edits", Reply(status=404, body=b"Not Found"))
    run = cli("edit", str(png), "-p", "x", env={"DMXAPI_BASE_URL": server.origin})
    assert run.code == 4 and "does not end in /v1" in run.stderr, run.output


def test_config_list_survives_an_invalid_environment_variable() -> None:
    run = run_in_process(["config", "list"], env={"DMXAPI_BASE_URL": "not a url"})
    assert run.code == 0, run.output
    assert "not a url (invalid:" in run.stdout
    listed = json.loads(
        run_in_process(["config", "list", "--json"], env={"DMXAPI_BASE_URL": "x"}).stdout
    )
    assert listed["settings"]["base-url"]["invalid"]
    assert run_in_process(["edit", "a.png", "-p", "x"], env={"DMXAPI_BASE_URL": "x"}).code == 2


def test_config_list_json_gives_numbers_as_numbers() -> None:
    settings = json.loads(run_in_process(["config", "list", "--json"]).stdout)["settings"]
    assert settings["timeout"]["value"] == 600.0 and settings["retries"]["value"] == 2
    assert settings["history"]["value"] is True and settings["ratio"]["value"] is None


def test_a_config_file_with_a_bom_says_so() -> None:
    path = Path(os.environ["DMXEDIT_CONFIG"])
    path.parent.mkdir(parents=True)
    path.write_bytes(b'\xef\xbb\xbfmodel = "m"\n')
    run = run_in_process(["config", "list"])
    assert run.code == 3 and "byte order mark" in run.stderr
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # never overwritten


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


def test_validation_names_every_problem_at_once(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(PNG_BYTES)
    (tmp_path / "notes.txt").write_text("hello")
    run = run_in_process(
        [
            "edit",
            str(good),
            "missing.png",
            str(tmp_path / "notes.txt"),
            "-p",
            " ",
            "--ratio",
            "7:3",
            "--size",
            "8K",
            "--dry-run",
        ]
    )
    assert run.code == 2, run.output
    for said in ("5 problems", "missing.png", "notes.txt", "prompt is empty", "7:3", "8K"):
        assert said in run.stderr, run.output
    assert run.stdout == ""
    one = run_in_process(["edit", str(good), "-p", "x", "--size", "8K", "--dry-run"])
    assert one.code == 2 and "problems" not in one.stderr and "is not one of" in one.stderr


def test_each_json_summary_lists_every_job_with_its_inputs_in_order(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    names = []
    for i in range(3):
        path = tmp_path / f"p{i}.png"
        path.write_bytes(PNG_BYTES[:30] + bytes([i]) + PNG_BYTES[31:])
        names.append(str(path))
    server.on_request = lambda r: (
        Reply(status=400, json={"error": {"message": "no"}})
        if r.images and r.images[0].filename == "p1.png"
        else None
    )
    run = cli("edit", "--each", *names, "-p", "x", "--json")
    assert run.code == 7, run.output
    jobs = json.loads(run.stdout)["jobs"]
    assert [j["inputs"] for j in jobs] == [[str(Path(n).resolve())] for n in names]
    assert [j["status"] for j in jobs] == ["ok", "failed", "ok"]
    assert len(jobs[0]["files"]) == 1 and jobs[1]["files"] == [] and jobs[1]["exit_code"] == 4
    bad = cli("edit", "--each", names[0], str(tmp_path / "missing.png"), "-p", "x")
    assert bad.code == 2 and "image 2:" in bad.stderr and "line" not in bad.stderr


def test_reading_from_a_terminal_says_what_it_waits_for() -> None:
    run = run_in_process(["edit", "-", "-p", "x", "--dry-run"], input=PNG_BYTES, stdin_isatty=True)
    assert run.code == 0, run.output
    assert "Reading the image from standard input (end it with Ctrl-D)" in run.stderr
    piped = run_in_process(["edit", "-", "-p", "x", "--dry-run"], input=PNG_BYTES)
    assert "Ctrl-D" not in piped.stderr


def test_json_timings_include_the_download_and_add_up(cli: Cli, server: FakeDMX, png: Path) -> None:
    timings = json.loads(expect(cli("edit", str(png), "-p", "x", "--json")).stdout)["timings"]
    stages = ("upload_s", "wait_s", "receive_s", "download_s")
    assert all(stage in timings for stage in stages), timings
    assert sum(timings[s] for s in stages) <= timings["total_s"] + 0.01


def test_a_batch_off_a_terminal_prints_progress_every_10_percent(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(20)))
    run = expect(cli("batch", str(jobs), "--concurrency", "1"))
    status = [line for line in run.stderr.splitlines() if line.startswith("dmxedit: done ")]
    assert len(status) == 10, run.stderr
    assert "20 jobs; sending 20" in run.stderr


def test_one_job_is_one_job(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    jobs = tmp_path / "one.jsonl"
    jobs.write_text(json.dumps({"prompt": "p"}) + "\n")
    assert "1 job; sending 1" in expect(cli("batch", str(jobs))).stderr


def test_help_texts_name_what_users_look_for() -> None:
    root = run_in_process(["--help"]).stdout
    assert "DMXAPI_API_KEY" in root and "DMXEDIT_DATA_DIR" in root
    assert "..." not in root.split("Commands:")[1]  # no summary cut short
    edit = " ".join(run_in_process(["edit", "--help"]).stdout.split())
    for said in (
        "auto: the first image's shape",
        "'-': standard input",
        "https://www.dmxapi.cn/v1",
    ):
        assert said in edit
    batch = " ".join(run_in_process(["batch", "--help"]).stdout.split())
    assert "-o, --output DIR Output folder [default: output]." in batch
    assert "standard output" not in batch.split("--output", 1)[1].split("--", 1)[0]


@pytest.mark.skipif(os.name != "posix", reason="pipes")
def test_o_dash_into_a_closed_pipe_keeps_the_result_and_says_where(
    server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: writing the image fails with EPIPE
    env = dict(os.environ, DMXAPI_BASE_URL=server.base_url, DMXAPI_API_KEY=KEY)
    proc = subprocess.run(
        [*dmxedit_command(), "edit", str(png), "-p", "x", "-o", "-"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
        timeout=60,
        preexec_fn=default_signals,
    )
    os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 6, err
    assert "Traceback" not in err
    kept = [w for w in err.split() if w.startswith(os.environ["DMXEDIT_RESCUE_DIR"])]
    assert kept and Path(kept[0].rstrip(".")).read_bytes() == PNG_BYTES


def test_on_one_terminal_batch_paths_print_above_the_live_line(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(3)))
    run = cli("batch", str(jobs), stderr_isatty=True, stdout_isatty=True)
    assert run.code == 0, run.output
    assert run.stdout == ""  # nothing written past the display
    import re

    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", run.stderr).replace("\r", "\n")
    paths = [line.strip() for line in screen.splitlines() if line.strip().startswith("output/")]
    assert len(set(paths)) == 3 and all(p.endswith(".png") for p in paths), screen


def test_verbose_shows_settings_request_answer_and_timings(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(
        EDITS,
        Reply(status=429, headers={"Retry-After": "0"}),
        Reply(json=server.url_result(PNG_BYTES), headers={"X-Rixapi-Request-Id": "rid-77"}),
    )
    run = expect(cli("edit", str(png), "-p", "snow", "--ratio", "auto", "-v"))
    err = run.stderr
    assert f"setting base-url = {server.base_url} (env)" in err
    assert "setting api-key = sk-…abcd (env)" in err and KEY not in err
    assert "--ratio auto picked 4:3" in err and "(40x30)" in err
    assert "field prompt = 'snow'" in err and "part image:" in err and "image/png" in err
    assert "answer: HTTP 429" in err and "answer: HTTP 200, request id rid-77" in err
    assert "trying again in" in err  # the retry decision
    assert "timings: upload" in err and "download" in err
    quiet = expect(cli("edit", str(png), "-p", "snow"))
    assert "setting base-url" not in quiet.stderr


def _command_paths() -> list[list[str]]:
    from dmxedit.cli.tree import build, click_command

    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(click_command(build()), [])
    return paths


def test_usage_lines_have_no_braces_around_arguments(cli: Cli) -> None:
    paths = _command_paths()
    assert ["edit"] in paths and ["config", "set"] in paths and ["history", "show"] in paths
    for path in paths:
        usage = expect(cli(*path, "--help")).stdout.splitlines()[0]
        assert usage.startswith("Usage: dmxedit"), usage
        assert "{" not in usage and "}" not in usage, usage
    edit = expect(cli("edit", "--help")).stdout.splitlines()[0]
    assert edit == "Usage: dmxedit edit [OPTIONS] IMAGE..."
