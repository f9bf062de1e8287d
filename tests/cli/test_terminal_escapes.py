"""A hostile relay puts terminal escapes in what it says (an error message, a result URL,
a request id, a revised prompt, a model name): dmxedit shows them escaped on stdout,
stderr and in `history`, never raw, on a terminal or not; --json keeps them exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import EDITS, LOG_SELF, MODELS, SYSTEM_TOKEN, USER_ID, FakeDMX, Reply
from helpers import Cli, expect, jobs_file

TITLE = "\x1b]0;pwned\x07"  # retitles the window
CLEAR = "\x1b[2J"  # clears the screen
FAKE_LINE = "\nSaved output/fake.png\r"  # a line dmxedit never wrote
C1 = "\x9b31m"  # CSI as one C1 character
HOSTILE = f"bad{TITLE}{CLEAR}{FAKE_LINE}{C1}\u202eend"


def no_raw_controls(text: str, *, terminal: bool = False) -> None:
    """No control character but dmxedit's own line breaks (on a terminal, rich's own
    styling, but none of the server's sequences), and no line the server wrote."""
    hostile = ("\x07", "\x9b", "\u202e", "\x1b]", "\x1b[2J")
    for raw in hostile if terminal else ("\x1b", "\r", *hostile):
        assert raw not in text, repr(text)
    for line in text.splitlines():
        assert not line.startswith("Saved output/fake.png"), repr(text)


def test_an_error_message_with_escapes_is_shown_escaped_and_exact_in_json(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(status=400, json={"error": {"message": HOSTILE}}))
    run = expect(cli("edit", str(png), "-p", "x"), 4)
    no_raw_controls(run.stderr)
    assert "\\x1b]0;pwned\\x07" in run.stderr and "\\x1b[2J" in run.stderr
    assert "\\x9b31m" in run.stderr and "\\u202e" in run.stderr
    server.script(EDITS, Reply(status=400, json={"error": {"message": f"bad{TITLE}{CLEAR}"}}))
    run = expect(cli("edit", str(png), "-p", "x", "--json"), 4)
    message = json.loads(run.stdout)["error"]["message"]
    assert TITLE in message and CLEAR in message  # exact, as JSON escapes them
    assert "\x1b" not in run.stdout  # ... and the JSON text itself carries no raw escape


def test_on_a_terminal_the_error_panel_shows_escapes_escaped(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(status=400, json={"error": {"message": HOSTILE}}))
    run = expect(cli("edit", str(png), "-p", "x", stderr_isatty=True), 4)
    no_raw_controls(run.stderr, terminal=True)
    assert "\\x1b]0;pwned\\x07" in run.stderr


def test_a_result_url_with_escapes_is_escaped_on_stdout_stderr_and_in_history(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    url = f"javascript:alert(1){TITLE}{FAKE_LINE}{CLEAR}"
    revised = f"a cat{TITLE}\nSaved output/fake.png"
    server.script(
        EDITS,
        Reply(
            json={"data": [{"url": url, "revised_prompt": revised}]},
            headers={"X-Rixapi-Request-Id": f"id{CLEAR}"},
        ),
    )
    run = expect(cli("edit", str(png), "-p", "x"), 6)
    no_raw_controls(run.stdout)
    no_raw_controls(run.stderr)
    assert run.stdout.count("\n") == 1  # the URL stays one line of data
    assert "javascript:alert(1)\\x1b]0;pwned\\x07\\nSaved output/fake.png\\r" in run.stdout
    for args in (["history"], ["history", "show", "1"], ["history", "--failed"]):
        shown = expect(cli(*args))
        no_raw_controls(shown.stdout)
        no_raw_controls(shown.stderr)
    show = expect(cli("history", "show", "1")).stdout
    assert "a cat\\x1b]0;pwned\\x07\\nSaved output/fake.png" in show
    assert "id\\x1b[2J" in show
    exact = json.loads(expect(cli("history", "show", "1", "--json")).stdout)
    assert exact["urls"] == [url] and exact["revised_prompt"] == revised


def test_recover_warns_about_a_dead_url_with_its_escapes_escaped(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    dead = f"{server.origin}/files/gone.png?{TITLE}"
    server.script(EDITS, Reply(json={"data": [{"url": dead}]}))
    server.script("/files/gone.png", *[Reply(status=404)] * 10)
    expect(cli("edit", str(png), "-p", "x"), 6)
    run = cli("recover")
    assert run.code == 6, run.output
    no_raw_controls(run.stdout)
    no_raw_controls(run.stderr)


def test_model_names_with_escapes_are_escaped_and_exact_in_json(cli: Cli, server: FakeDMX) -> None:
    server.models.append({"id": f"evil{TITLE}{FAKE_LINE}", "supported_endpoint_types": []})
    run = expect(cli("models", "--all"))
    no_raw_controls(run.stdout)
    assert "evil\\x1b]0;pwned\\x07\\nSaved output/fake.png\\r" in run.stdout
    listed = json.loads(expect(cli("models", "--all", "--json")).stdout)
    assert f"evil{TITLE}{FAKE_LINE}" in [m["id"] for m in listed]


@pytest.mark.parametrize("isatty", [False, True], ids=["plain", "terminal"])
def test_a_batch_failure_with_escapes_or_markup_is_shown_escaped(
    cli: Cli, server: FakeDMX, tmp_path: Path, isatty: bool
) -> None:
    jobs = jobs_file(tmp_path, 1)
    message = f"[/][link=javascript:x]bad[/link]{TITLE}{FAKE_LINE}"
    server.script(EDITS, Reply(status=400, json={"error": {"message": message}}))
    run = expect(cli("batch", str(jobs), stderr_isatty=isatty, stdout_isatty=isatty), 7)
    no_raw_controls(run.stderr, terminal=isatty)
    assert "[/][link=javascript:x]bad[/link]" in run.stderr  # text, not rich markup
    assert "\x1b]8;" not in run.stderr  # no terminal hyperlink


def test_usage_shows_model_names_from_the_log_escaped(cli: Cli, server: FakeDMX) -> None:
    import time

    server.log.append(
        {
            "id": 1,
            "created_at": int(time.time()) - 60,
            "type": 2,
            "model_name": f"m[bold]x[/]{TITLE}",
            "quota": 50000,
            "_visible_after": 0,
        }
    )
    env = {"DMXAPI_SYSTEM_TOKEN": SYSTEM_TOKEN, "DMXAPI_USER_ID": USER_ID}
    for isatty in (False, True):
        run = expect(cli("usage", "--today", env=env, stdout_isatty=isatty))
        no_raw_controls(run.stdout, terminal=isatty)
        assert "m[bold]x[/]\\x1b]0;pwned\\x07" in run.stdout
    assert server.account_requests()[-1].path == LOG_SELF


def test_dry_run_keeps_its_own_lines_and_escapes_the_rest(cli: Cli, png: Path) -> None:
    run = expect(cli("edit", str(png), "-p", f"two\nlines{TITLE}", "--dry-run"))
    no_raw_controls(run.stdout)
    assert "curl" in run.stdout and " \\\n" in run.stdout  # the curl command's own breaks


def test_escaped_and_dumps_units() -> None:
    from dmxedit.core.text import dumps, escaped

    assert escaped("a\x1b[2J\nb\t\x7f\x9b\u202e\udce9é中") == (
        "a\\x1b[2J\\nb\\t\\x7f\\x9b\\u202e\\xe9é中"
    )
    assert escaped("one\ntwo\x07", keep_newlines=True) == "one\ntwo\\x07"
    value = {"k": "\x1b\x7f\x9b\udce9\ud800é"}
    text = dumps(value)
    assert text.isascii() or "é" in text
    assert json.loads(text) == value and "\x9b" not in text and "\x7f" not in text
    text.encode("utf-8")  # valid UTF-8: no lone surrogate left
    assert MODELS  # the fake's model path is what `models` reads
