"""SPEC 7: "may have been billed" is true. A 4xx answer, a 503, a connection never opened
are recorded as not billed; whatever else ends a request after its body went out may
have been. The verdict (``engine.delivery.verdict``) maps any exception."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest
from fakeserver import GENERATIONS, FakeDMX, Reply
from helpers import Cli, expect, ledger_rows

from dmxedit.core.errors import (
    ApiError,
    AuthError,
    DmxError,
    InternalError,
    Interrupted,
    NetworkError,
    SaveError,
)
from dmxedit.engine.delivery import Delivery, verdict


@pytest.mark.parametrize(
    ("status", "code"), [(401, 3), (403, 3), (404, 4), (400, 4), (422, 4), (503, 5)]
)
def test_a_4xx_or_503_answer_is_recorded_as_not_billed(
    cli: Cli, server: FakeDMX, tmp_path: Path, status: int, code: int
) -> None:
    server.script(GENERATIONS, *[Reply(status=status, json={"error": {"message": "no"}})] * 4)
    run = expect(cli("generate", "-p", "x", "--json", "--retries", "0"), code)
    assert "may_be_billed" not in json.loads(run.stdout)["error"]
    (entry,) = ledger_rows(tmp_path)
    assert entry["status"] == "failed" and entry["may_be_billed"] == 0
    shown = json.loads(expect(cli("history", "show", "1", "--json")).stdout)
    assert shown["may_be_billed"] is False
    assert "sent without an answer" not in expect(cli("recover")).stderr


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=500, json={"error": {"message": "boom"}}),
        Reply(status=200, json={"error": {"message": "refused after the work"}}),
        Reply(status=200, json={"data": []}),
        Reply(status=200, body=b"{not json", content_type="application/json"),
        Reply(drop=True),
    ],
    ids=["500", "200-error", "200-empty", "200-malformed", "dropped"],
)
def test_anything_else_after_the_body_went_out_may_have_been_billed(
    cli: Cli, server: FakeDMX, tmp_path: Path, reply: Reply
) -> None:
    server.script(GENERATIONS, reply)
    run = cli("generate", "-p", "x", "--json")
    assert run.code in (4, 5), run.output
    assert json.loads(run.stdout)["error"]["may_be_billed"] is True
    assert ledger_rows(tmp_path)[0]["may_be_billed"] == 1
    assert "sent without an answer; it may have been billed" in expect(cli("recover")).stderr


def test_a_connection_never_opened_is_not_billed(cli: Cli, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    run = cli(
        "generate",
        "-p",
        "x",
        "--retries",
        "0",
        env={"DMXAPI_BASE_URL": f"http://127.0.0.1:{port}/v1"},
    )
    assert run.code == 5, run.output
    assert "may have" not in run.stderr
    assert ledger_rows(tmp_path)[0]["may_be_billed"] == 0


def test_recover_lists_a_settled_entry_only_with_all(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    server.script(GENERATIONS, Reply(drop=True))
    expect(cli("generate", "-p", "x"), 5)
    assert "entry 1" in expect(cli("recover")).stderr
    db = sqlite3.connect(tmp_path / "data" / "ledger.db")
    db.execute("UPDATE entries SET billed = 0")
    db.commit()
    db.close()
    assert "entry 1" not in expect(cli("recover"), 0, "Nothing to recover").stderr
    assert "checked before: DMXAPI did not bill it" in expect(cli("recover", "--all")).stderr


# -- the verdict itself ----------------------------------------------------------------


def sent() -> Delivery:
    state = Delivery()
    state.sent()
    return state


@pytest.mark.parametrize(
    ("error", "billed"),
    [
        (AuthError("no", status=401), None),
        (ApiError("no", status=404), None),
        (NetworkError("busy", status=503), None),
        (NetworkError("failed", status=500), True),
        (NetworkError("failed", status=502), True),
        (ApiError("malformed", status=200), True),
        (NetworkError("dropped"), True),
    ],
)
def test_the_verdict_follows_spec_7(error: DmxError, billed: bool | None) -> None:
    out = verdict(error, sent())
    assert out is error and out.may_be_billed is billed


@pytest.mark.parametrize("kind", [RuntimeError, RecursionError, UnicodeEncodeError, GeneratorExit])
def test_the_verdict_maps_any_exception(kind: type[BaseException]) -> None:
    exc = kind("utf-8", "x", 0, 1, "bad") if kind is UnicodeEncodeError else kind("x")
    assert isinstance(verdict(exc, Delivery()), InternalError)  # not sent: a bug, not billed
    after = verdict(exc, sent())
    assert isinstance(after, ApiError) and after.may_be_billed is True


def test_the_verdict_keeps_the_urls_not_saved() -> None:
    state = sent()
    state.urls = ["https://r/1.png", "https://r/2.png"]
    state.saved_urls = ["https://r/1.png"]
    state.answer = object()  # type: ignore[assignment]
    state.files = ["/out/1.png"]
    out = verdict(ValueError("x"), state)
    assert isinstance(out, SaveError) and out.exit_code == 6
    assert out.urls == ["https://r/2.png"] and out.files == ["/out/1.png"]
    assert out.to_dict()["urls"] == ["https://r/2.png"]


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
def test_interrupts_keep_their_meaning(kind: type[BaseException]) -> None:
    assert verdict(kind(), sent()) is None


def test_error_facts_are_typed_and_serialised_as_before() -> None:
    error = NetworkError("x", details={"may_be_billed": True, "retry_after_s": 3})
    assert error.may_be_billed is True and error.details == {"retry_after_s": 3}
    assert error.to_dict()["may_be_billed"] is True and error.to_dict()["retry_after_s"] == 3
    save = SaveError("y", urls=["u"], files=["f"])
    assert save.to_dict()["urls"] == ["u"] and save.to_dict()["files"] == ["f"]
    stop = Interrupted("z", urls=[], may_be_billed=False)
    assert stop.to_dict()["may_be_billed"] is False and stop.to_dict()["urls"] == []
    assert "may_be_billed" not in ApiError("a").to_dict()
