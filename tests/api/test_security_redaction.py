"""A hostile server echoes the key back: in a redirect, a request id header, an error
message, a result URL, a revised prompt, usage, a model list, the account API. Whatever
dmxedit shows or stores of it (stderr, stdout, --json, the ledger, a batch results file)
has the key masked, and the key goes to no other host."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakeserver import EDITS, MODELS, PNG_BYTES, SYSTEM_TOKEN, USER_ID, USER_SELF, FakeDMX, Reply
from helpers import KEY, Cli, Run, expect, jobs_file

MASKED = "sk-…abcd"


def _stored(tmp_path: Path) -> bytes:
    """Every byte dmxedit keeps under the test's folder: ledger (and its journal), results
    files, sidecars, config."""
    out = b""
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.name.endswith(".png"):
            out += path.read_bytes()
    return out


def _no_key_anywhere(run: Run, tmp_path: Path) -> None:
    assert KEY not in run.stdout + run.stderr, run.output
    assert KEY.encode() not in _stored(tmp_path)


# Each: the answer that echoes the key, and the exit code it leads to.
ECHOES: dict[str, tuple[Callable[[FakeDMX], Reply], int]] = {
    "redirect Location": (
        lambda s: Reply(status=302, headers={"Location": f"https://evil.example/v1?key={KEY}"}),
        3,
    ),
    "307 to a URL path": (
        lambda s: Reply(status=307, headers={"Location": f"{s.origin}/{KEY}/images/edits"}),
        3,
    ),
    "x-rixapi-request-id on an error": (
        lambda s: Reply(
            status=400,
            headers={"X-Rixapi-Request-Id": f"req-{KEY}"},
            json={"error": {"message": "bad request"}},
        ),
        4,
    ),
    "x-request-id on a success": (
        lambda s: Reply(json=s.url_result(), headers={"X-Request-Id": KEY}),
        0,
    ),
    "request-id on a 503": (
        lambda s: Reply(status=503, headers={"Request-Id": KEY, "Retry-After": "0"}),
        5,
    ),
    "error message of a 401": (
        lambda s: Reply(status=401, json={"error": {"message": f"invalid token {KEY}"}}),
        3,
    ),
    "error message of a 500": (
        lambda s: Reply(status=500, body=f"upstream said Bearer {KEY}".encode()),
        5,
    ),
    "error object under 200": (
        lambda s: Reply(json={"error": {"message": f"quota of {KEY} used up"}}),
        4,
    ),
    "refusal in an empty answer": (
        lambda s: Reply(json={"data": [], "message": f"refused for key {KEY}"}),
        4,
    ),
    "revised prompt and usage": (
        lambda s: Reply(
            json={
                "data": [{"url": s.add_file("r.png", PNG_BYTES), "revised_prompt": f"a {KEY}"}],
                "usage": {"note": f"billed to {KEY}", KEY: 1},
            }
        ),
        0,
    ),
    "result URL": (
        lambda s: Reply(json={"data": [{"url": s.add_file("r.png", PNG_BYTES) + f"?k={KEY}"}]}),
        0,
    ),
    "content type (shown by -v)": (
        lambda s: Reply(json=s.url_result(), content_type=f"application/json; owner={KEY}"),
        0,
    ),
}


@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_a_key_the_server_echoes_is_masked_in_output_and_ledger(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, echo: str, json_out: bool
) -> None:
    answer, code = ECHOES[echo]
    server.script(EDITS, answer(server))
    args = ["edit", str(png), "-p", "x", "-v", "--retries", "0"]
    run = expect(cli(*args, *(["--json"] if json_out else [])), code)
    _no_key_anywhere(run, tmp_path)
    if json_out:
        json.loads(run.stdout)  # still one JSON document
    shown = expect(cli("history", "show", "1", "--json"))
    assert KEY not in shown.stdout
    if echo in ("x-request-id on a success", "x-rixapi-request-id on an error"):
        assert MASKED in json.loads(shown.stdout)["request_id"]


def test_a_result_url_holding_the_key_is_never_fetched_with_it(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    url = server.add_file("r.png", PNG_BYTES) + f"?k={KEY}"
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    run = expect(cli("edit", str(png), "-p", "x", "--json"))
    (download,) = server.gets()
    assert KEY not in download.query and "authorization" not in download.headers
    assert json.loads(run.stdout)["urls"] == [url.replace(KEY, MASKED)]


def test_a_redirect_is_reported_with_the_key_masked(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    server.script(EDITS, Reply(status=302, headers={"Location": f"https://x.example/?k={KEY}"}))
    run = expect(cli("edit", str(png), "-p", "x"), 3, "redirect to https://x.example/?k=sk-…abcd")
    _no_key_anywhere(run, tmp_path)


def test_a_batch_results_file_never_holds_an_echoed_key(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, 2)
    server.script(
        EDITS,
        Reply(json=server.url_result(), headers={"X-Request-Id": KEY}),
        Reply(status=400, headers={"X-Request-Id": KEY}, json={"error": {"message": KEY}}),
    )
    run = expect(cli("batch", str(jobs), "--concurrency", "1"), 7)
    results = jobs.with_name("jobs.results.jsonl").read_text(encoding="utf-8")
    assert KEY not in results and MASKED in results
    _no_key_anywhere(run, tmp_path)


def test_the_model_list_and_its_errors_have_the_key_masked(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    server.models.append({"id": f"leak-{KEY}", "owned_by": KEY})
    run = expect(cli("models", "--all"))
    assert "leak-sk-…abcd" in run.stdout
    run = expect(cli("models", "--all", "--json"))
    assert KEY not in run.stdout
    server.script(
        MODELS,
        Reply(status=401, headers={"X-Request-Id": KEY}, json={"error": {"message": KEY}}),
    )
    _no_key_anywhere(expect(cli("models"), 3), tmp_path)
    server.script(MODELS, Reply(json={"success": False, "message": f"bad {KEY}"}))
    _no_key_anywhere(expect(cli("models"), 4), tmp_path)


ACCOUNT = {"DMXAPI_SYSTEM_TOKEN": SYSTEM_TOKEN, "DMXAPI_USER_ID": USER_ID}


@pytest.mark.parametrize(
    "reply",
    [
        Reply(json={"success": False, "message": f"token {SYSTEM_TOKEN} key {KEY}"}),
        Reply(status=401, json={"message": f"{SYSTEM_TOKEN} / {KEY}"}),
        Reply(status=500, headers={"X-Request-Id": KEY}, body=SYSTEM_TOKEN.encode()),
    ],
    ids=["success false", "401", "500"],
)
def test_the_account_api_has_the_token_and_the_key_masked(
    cli: Cli, server: FakeDMX, tmp_path: Path, reply: Reply
) -> None:
    server.script(USER_SELF, reply, reply)
    for args in (["balance"], ["balance", "--json"]):
        run = cli(*args, env=ACCOUNT)
        assert run.code in (3, 5), run.output
        assert SYSTEM_TOKEN not in run.stdout + run.stderr
        _no_key_anywhere(run, tmp_path)


def test_an_account_answer_echoing_the_key_is_masked(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    def echo(recorded: Any) -> Reply | None:
        if recorded.path == USER_SELF:
            data = {"quota": 100, "username": f"{KEY} {SYSTEM_TOKEN}"}
            return Reply(json={"success": True, "data": data})
        return None

    server.on_request = echo
    run = expect(cli("balance", "--json", env=ACCOUNT))
    assert SYSTEM_TOKEN not in run.stdout
    _no_key_anywhere(run, tmp_path)


def test_redact_masks_texts_inside_json_values() -> None:
    from dmxedit.core.text import redact

    value = {"a": [f"x{KEY}y", 1, None], KEY: (KEY,), "n": 2.5}
    assert redact(value, KEY, None) == {
        "a": [f"x{MASKED}y", 1, None],
        MASKED: (MASKED,),
        "n": 2.5,
    }
    assert redact("nothing", None, "") == "nothing"
