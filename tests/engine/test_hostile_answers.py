"""Answers a relay really sends when it misbehaves, served by the fake server on
127.0.0.1: half an emoji, JSON nested past any parser's stack, a malformed billed 200,
a ledger locked by another process. Each keeps the paid result and a batch re-run never
pays twice."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeDMX, Recorded, Reply
from helpers import Cli, expect, jobs_file, ledger_rows

from dmxedit.store import ledger as ledger_module


def results_of(jobs: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    raw = jobs.with_name("jobs.results.jsonl").read_bytes()
    for line in raw.decode("utf-8").splitlines():  # valid UTF-8, every line JSON
        record = json.loads(line)
        out[record["id"]] = record
    return out


def half_emoji(server: FakeDMX) -> Callable[[Recorded], Reply | None]:
    """A 200 whose revised_prompt and usage hold a lone surrogate escape."""

    def reply(recorded: Recorded) -> Reply | None:
        if recorded.method != "POST":
            return None
        url = server.url_result()["data"][0]["url"]
        body = (
            '{"created": 1, "data": [{"url": "URL", "revised_prompt": "a cat \\ud83d"}], '
            '"usage": {"note": "\\ud83d\\u0000", "total_tokens": 10}}'
        ).replace("URL", url)
        return Reply(body=body.encode(), content_type="application/json")

    return reply


def test_a_lone_surrogate_in_the_answer_is_stored_escaped(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    server.on_request = half_emoji(server)
    run = expect(cli("generate", "-p", "x", "--json"))
    out = json.loads(run.stdout)
    assert Path(out["files"][0]).is_file()
    assert out["revised_prompt"] == "a cat \\ud83d"
    (entry,) = ledger_rows(tmp_path)
    assert entry["status"] == "saved" and entry["revised_prompt"] == "a cat \\ud83d"
    assert json.loads(entry["usage"])["note"] == "\\ud83d\\u0000"


def test_a_batch_with_half_an_emoji_is_not_sent_again(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, 2)
    server.on_request = half_emoji(server)
    expect(cli("batch", str(jobs)))
    assert all(r["status"] == "ok" for r in results_of(jobs).values())
    server.on_request = None  # an honest server now
    expect(cli("batch", str(jobs)), 0, "2 already done")
    assert len(server.posts()) == 2


def nested(server: FakeDMX, depth: int = 200_000) -> Callable[[Recorded], Reply | None]:
    def reply(recorded: Recorded) -> Reply | None:
        if recorded.method != "POST":
            return None
        url = server.url_result()["data"][0]["url"]
        body = '{"data": [{"url": "URL"}], "x": '.replace("URL", url)
        body += "[" * depth + "]" * depth + "}"
        return Reply(body=body.encode(), content_type="application/json")

    return reply


def test_deeply_nested_json_after_data_is_a_verdict_not_a_bug(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    server.on_request = nested(server)
    run = cli("generate", "-p", "x", "--json")
    assert run.code in (0, 4, 6), run.output  # read (a depth limit) or refused; never 1
    assert "Traceback" not in run.stderr
    if run.code != 0:
        error = json.loads(run.stdout)["error"]
        assert error["may_be_billed"] is True
        assert ledger_rows(tmp_path)[0]["may_be_billed"] == 1
    assert len(server.posts()) == 1


def test_a_batch_with_deeply_nested_answers_holds_them_back(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, 2)
    server.on_request = nested(server)
    first = cli("batch", str(jobs))
    assert first.code in (0, 7) and "Traceback" not in first.stderr
    server.on_request = None
    cli("batch", str(jobs))
    assert len(server.posts()) == 2  # held back, downloaded or done: never sent again


def test_a_billed_200_with_malformed_json_may_have_been_billed(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, 2)
    server.on_request = lambda r: (
        Reply(body=b'{"data": [{"url": "http://x', content_type="application/json")
        if r.method == "POST"
        else None
    )
    run = expect(cli("batch", str(jobs)), 7, "may have been billed")
    assert all(r["may_be_billed"] is True for r in results_of(jobs).values())
    assert "hold back 2 jobs" in run.stderr
    server.on_request = None
    expect(cli("batch", str(jobs)), 7, "hold back 2 jobs")
    assert len(server.posts()) == 2
    expect(cli("generate", "-p", "y"))  # the server is fine again


def test_a_ledger_locked_by_another_process_when_the_answer_arrives(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_module, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(ledger_module, "RETRY_FOR_S", 0.1)
    expect(cli("generate", "-p", "warm-up"))  # the ledger exists
    held: list[sqlite3.Connection] = []
    lock = threading.Lock()

    def take_lock(recorded: Recorded) -> Reply | None:
        if recorded.method == "POST":
            with lock:
                other = sqlite3.connect(
                    tmp_path / "data" / "ledger.db", isolation_level=None, check_same_thread=False
                )
                other.execute("BEGIN EXCLUSIVE")  # another process, holding it long
                held.append(other)
        return None

    server.on_request = take_lock
    try:
        run = expect(
            cli("generate", "-p", "x", "-o", str(tmp_path / "out")),
            0,
            "The ledger could not record",
            "locked",
        )
    finally:
        for other in held:
            other.execute("ROLLBACK")
            other.close()
    (path,) = run.stdout.split()
    assert Path(path).is_file() and server.origin in run.stderr
    assert len(server.posts()) == 2
