"""SPEC 8: the system token and user id, `balance`, `usage`, the billing check after a
"may have been billed" failure, `recover --check`, `batch --reconcile`, the plan's cost
estimate, and the fake server's account API. No test sleeps: the check's clock and sleep
are replaced."""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from fakeserver import EDITS, LOG_SELF, SYSTEM_TOKEN, USER_ID, USER_SELF, FakeDMX, Reply
from helpers import KEY, Cli, Run, expect, jobs_file

from dmxedit.engine import billing

ACCOUNT = {"DMXAPI_SYSTEM_TOKEN": SYSTEM_TOKEN, "DMXAPI_USER_ID": USER_ID}


def clean(run: Run, code: int = 0, *phrases: str) -> Run:
    """expect(), and the system token never shown."""
    expect(run, code, *phrases)
    assert SYSTEM_TOKEN not in run.stdout + run.stderr, run.output
    return run


class FakeTime:
    """The billing check's clock and sleep: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.offset += seconds


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """The fake time, passed to the CLI's run context by ``cli`` below. The request
    pipeline and the batch runner do not pass the run's clock on yet: for them the billing
    functions they call get it here."""
    fake = FakeTime()
    return fake


@pytest.fixture
def cli(cli: Cli, request: pytest.FixtureRequest) -> Cli:
    """conftest's ``cli``; with ``later``, its runs read the fake clock and sleep."""
    if "later" not in request.fixturenames:
        return cli
    fake: FakeTime = request.getfixturevalue("later")
    return functools.partial(cli, clock=fake.clock, sleep=fake.sleep)


def log_queries(server: FakeDMX) -> list[dict[str, str]]:
    return [
        {k: v[-1] for k, v in parse_qs(r.query, keep_blank_values=True).items()}
        for r in server.requests
        if r.path == LOG_SELF
    ]


def ledger_rows(tmp_path: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(tmp_path / "data" / "ledger.db")
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM entries ORDER BY id")]
    db.close()
    return rows


def add_items(server: FakeDMX, count: int, *, model: str = "nano-banana-2", at: int = 0) -> None:
    now = at or int(time.time())
    for i in range(count):
        server.log.append(
            {
                "id": 10_000 + len(server.log),
                "created_at": now - i,
                "type": 2,
                "model_name": model,
                "token_name": "t",
                "quota": 50000,
                "prompt_tokens": 3,
                "completion_tokens": 1210,
                "use_time": 9,
                "request_id": f"old-{len(server.log)}",
                "_visible_after": -1,
            }
        )


# -- 1. credentials ------------------------------------------------------------------


def test_system_token_is_stored_from_stdin_masked_and_revealed_only_on_request(
    cli: Cli, tmp_path: Path
) -> None:
    run = clean(cli("config", "set", "system-token", "-", input=SYSTEM_TOKEN.encode() + b"\n"))
    assert "system-token = …cdef" in run.stderr  # said saved, masked
    stored = (tmp_path / "config" / "config.toml").read_text()
    assert f'system-token = "{SYSTEM_TOKEN}"' in stored
    clean(cli("config", "set", "user-id", "4242"))
    listing = clean(cli("config", "list"))
    assert "…cdef" in listing.stdout and "user-id" in listing.stdout and "4242" in listing.stdout
    assert clean(cli("config", "get", "system-token")).stdout.strip() == "…cdef"
    revealed = cli("config", "get", "system-token", "--reveal")
    assert revealed.code == 0 and revealed.stdout.strip() == SYSTEM_TOKEN
    as_json = json.loads(clean(cli("config", "list", "--json")).stdout)
    assert as_json["settings"]["system-token"]["value"] == "…cdef"


def test_system_token_from_the_environment_wins_and_stays_masked(cli: Cli) -> None:
    run = clean(cli("config", "list", env=ACCOUNT))
    line = next(x for x in run.stdout.splitlines() if x.startswith("system-token"))
    assert "(env)" in line and "…cdef" in line
    assert "4242" in next(x for x in run.stdout.splitlines() if x.startswith("user-id"))


@pytest.mark.parametrize(
    ("key", "value", "phrase"),
    [
        ("system-token", "Bearer abcdefghijkl", "Bearer"),
        ("system-token", "abc def ghi jkl", "U+0020"),
        ("user-id", "12ab", "not a user id"),
        ("user-id", "-5", "not a user id"),
    ],
)
def test_bad_credentials_are_refused_when_set(cli: Cli, key: str, value: str, phrase: str) -> None:
    clean(cli("config", "set", key, value), 2, phrase)


def test_a_token_typed_on_the_command_line_is_warned_about(cli: Cli) -> None:
    run = cli("config", "set", "system-token", SYSTEM_TOKEN)
    assert run.code == 0 and "shell history" in run.stderr
    assert SYSTEM_TOKEN not in run.stderr


# -- 2. balance and usage ------------------------------------------------------------


def test_balance_sends_the_raw_token_and_both_user_headers_to_the_site_root(
    cli: Cli, server: FakeDMX
) -> None:
    run = clean(cli("balance", env=ACCOUNT))
    assert "balance  50.0000 CNY" in run.stdout
    (request,) = server.account_requests()
    assert request.path == USER_SELF  # the base URL without /v1
    assert request.headers["authorization"] == SYSTEM_TOKEN  # no "Bearer"
    assert request.headers["dmx-api-user"] == USER_ID
    assert request.headers["rix-api-user"] == USER_ID
    assert KEY not in json.dumps(request.headers)  # never the API key
    data = json.loads(clean(cli("balance", "--json", env=ACCOUNT)).stdout)
    assert data["balance_cny"] == 50.0 and data["quota"] == 25_000_000


def test_balance_without_a_token_says_how_to_set_it(cli: Cli, server: FakeDMX) -> None:
    clean(cli("balance"), 3, "config set system-token", "config set user-id")
    clean(cli("balance", env={"DMXAPI_SYSTEM_TOKEN": SYSTEM_TOKEN}), 3, "No DMXAPI user id is set")
    assert server.account_requests() == []


def test_a_refused_token_is_exit_3_with_the_apis_message(cli: Cli, server: FakeDMX) -> None:
    clean(cli("balance", env={**ACCOUNT, "DMXAPI_SYSTEM_TOKEN": "wrong-token-123"}), 3, "无效")
    clean(cli("balance", env={**ACCOUNT, "DMXAPI_USER_ID": "1"}), 3, "不匹配")


def test_an_echoed_token_is_masked_and_the_network_is_exit_5(cli: Cli, server: FakeDMX) -> None:
    said = {"success": False, "message": f"token {SYSTEM_TOKEN} is disabled"}
    server.script(USER_SELF, Reply(json=said))
    clean(cli("balance", env=ACCOUNT), 3, "is disabled", "…cdef")
    unreachable = {**ACCOUNT, "DMXAPI_BASE_URL": "http://127.0.0.1:9/v1"}
    clean(cli("balance", env=unreachable), 5, "could not be reached")
    server.script(USER_SELF, Reply(status=502, body=b"<html>bad gateway</html>"))
    clean(cli("balance", env=ACCOUNT), 5, "HTTP 502")


def test_usage_reads_every_page_and_sums_per_model_and_day(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    add_items(server, 230)
    add_items(server, 2, model="gpt-4.1")
    clean(cli("edit", str(png), "-p", "x"))  # one more, billed, and in the ledger
    # --week: the items go back minutes, which may be yesterday just after midnight
    data = json.loads(clean(cli("usage", "--week", "--json", env=ACCOUNT)).stdout)
    pages = [q["p"] for q in log_queries(server)]
    assert pages == ["1", "2", "3"]  # 233 items, 100 a page
    assert all(q["page_size"] == "100" and q["type"] == "0" for q in log_queries(server))
    assert data["total"]["requests"] == 233
    assert data["models"]["nano-banana-2"]["requests"] == 231
    assert data["models"]["gpt-4.1"]["cost_cny"] == 0.2
    assert sum(d["requests"] for d in data["days"].values()) == 233
    assert data["ledger"]["sent"] == 1 and data["ledger"]["saved"] == 1
    assert data["period"]["timezone"].startswith(("UTC", "local"))


def test_usage_in_plain_text_shows_billed_beside_saved(
    cli: Cli, server: FakeDMX, png: Path, later: FakeTime
) -> None:
    clean(cli("edit", str(png), "-p", "one"))
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}))
    clean(cli("edit", str(png), "-p", "two"), 5)  # billed by the fake, no token: unchecked
    run = clean(cli("usage", "--today", "-m", "nano-banana-2", env=ACCOUNT))
    assert "billed 2 requests, 0.2000 CNY" in run.stdout
    assert "sent 2, saved 1, failed 1, may have been billed 1" in run.stdout
    assert "per model:" in run.stdout and "per day:" in run.stdout
    assert log_queries(server)[0]["model_name"] == "nano-banana-2"


def test_usage_since_until_is_one_local_period(cli: Cli, server: FakeDMX) -> None:
    clean(cli("usage", "--since", "2026-11-01", "--until", "2026-11-30", "--json", env=ACCOUNT))
    (query,) = log_queries(server)
    start, end = int(query["start_timestamp"]), int(query["end_timestamp"])
    assert time.localtime(start)[:6] == (2026, 11, 1, 0, 0, 0)
    assert time.localtime(end)[:6] == (2026, 11, 30, 23, 59, 59)
    clean(cli("usage", "--today", "--week", env=ACCOUNT), 2, "contradict")
    clean(cli("usage", "--until", "2026-11-30", env=ACCOUNT), 2, "--since")


# -- 3. the billing check ----------------------------------------------------------------


def test_without_a_token_a_failure_is_unchanged_and_nothing_asks_the_account_api(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}))
    run = clean(cli("edit", str(png), "-p", "x"), 5, "Check your DMXAPI usage log")
    assert "Billing check" not in run.stderr
    assert server.account_requests() == []


def test_a_500_that_was_billed_says_so_with_cost_and_time(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, later: FakeTime
) -> None:
    server.log_lag = 1  # the log lists the charge one query late
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}))
    run = clean(cli("edit", str(png), "-p", "x", "--json", env=ACCOUNT), 5)
    error = json.loads(run.stdout)["error"]
    assert error["billed"] is True
    assert error["billing"]["how"] == "request_id" and error["billing"]["cost_cny"] == 0.1
    assert "DMXAPI billed it: 0.1000 CNY at" in error["message"]
    rid = server.log[0]["request_id"]
    assert error["billing"]["request_id"] == rid == error["request_id"]
    assert log_queries(server)[0]["request_id"] == rid
    assert later.slept == [1.0]  # one short wait for the log, and no real sleep
    (row,) = ledger_rows(tmp_path)
    assert row["billed"] == 1 and json.loads(row["billing"])["cost_cny"] == 0.1
    assert row["request_id"] == rid


def test_a_500_that_was_not_billed_says_running_it_again_is_safe(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, later: FakeTime
) -> None:
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}, bill=False))
    run = clean(cli("edit", str(png), "-p", "x", env=ACCOUNT), 5, "Billing check", "safe")
    assert "no charge under its request id" in run.stderr
    assert "Check your DMXAPI usage log" not in run.stderr
    assert sum(later.slept) >= billing.LOG_LAG  # it waited (on the fake clock) for the log
    assert ledger_rows(tmp_path)[0]["billed"] == 0


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_timeout_is_checked_by_model_and_time_and_settled_later_by_recover_check(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, later: FakeTime
) -> None:
    server.script(EDITS, Reply(delay=1.0))  # answered after the client gave up
    run = clean(cli("edit", str(png), "-p", "x", "--timeout", "0.3", env=ACCOUNT), 5)
    assert "No charge found in DMXAPI's log yet" in run.stderr
    assert "recover --check" in run.stderr
    assert ledger_rows(tmp_path)[0]["billed"] is None
    first = log_queries(server)[0]
    assert first["model_name"] == "nano-banana-2" and first["request_id"] == ""
    deadline = time.monotonic() + 10
    while not server.log and time.monotonic() < deadline:  # the fake bills after its delay
        time.sleep(0.02)
    later.offset = 200  # the window has closed
    checked = clean(cli("recover", "--check", "--json", env=ACCOUNT))
    (verdict,) = json.loads(checked.stdout)["checked"]
    assert verdict["billed"] is True and verdict["how"] == "window"
    assert ledger_rows(tmp_path)[0]["billed"] == 1


def test_recover_check_finds_a_drop_was_not_billed_once_the_window_closed(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, later: FakeTime
) -> None:
    server.script(EDITS, Reply(drop=True, bill=False))
    clean(cli("edit", str(png), "-p", "x"), 5)  # no token: no check now
    assert server.account_requests() == []
    clean(cli("recover", "--check"), 3, "config set system-token")
    later.offset = 200
    run = clean(cli("recover", "--check", env=ACCOUNT), 0, "it was not billed")
    assert ledger_rows(tmp_path)[0]["billed"] == 0
    settled = clean(cli("recover", env=ACCOUNT), 0, "Nothing to recover")  # SPEC 7: settled
    assert "entry 1" not in settled.stderr
    again = clean(cli("recover", "--all", env=ACCOUNT), 0, "checked before: DMXAPI did not bill it")
    assert len(log_queries(server)) == 1 and "it was not billed" in run.stderr + again.stderr


def test_a_charge_the_ledger_knows_is_another_requests_is_not_taken_for_this_one(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, later: FakeTime
) -> None:
    clean(cli("edit", str(png), "-p", "ok"))  # billed, its request id in the ledger
    server.script(EDITS, Reply(drop=True, bill=False))
    clean(cli("edit", str(png), "-p", "cut"), 5)
    later.offset = 200
    run = clean(cli("recover", "--check", "--json", env=ACCOUNT))
    (verdict,) = json.loads(run.stdout)["checked"]
    assert verdict["billed"] is False  # the only charge in the window was the other one


def test_an_unreachable_account_api_leaves_the_verdict_open(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, later: FakeTime
) -> None:
    server.script(EDITS, Reply(status=502, body=b"bad gateway"))
    server.script(LOG_SELF, *[Reply(status=500, body=b"down")] * 3)
    run = clean(cli("edit", str(png), "-p", "x", env=ACCOUNT), 5, "could not be made")
    assert ledger_rows(tmp_path)[0]["billed"] is None
    assert "HTTP 502" in run.stderr


# -- batch: the verdict in the results line, the re-run rule, --reconcile -------------


def finals(path: Path) -> dict[str, dict[str, Any]]:
    last: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["status"] in ("ok", "failed"):
            last[record["id"]] = record
    return last


def posted_prompts(server: FakeDMX) -> list[str]:
    return [p.fields["prompt"] for p in server.posts(EDITS)]


def test_batch_records_the_verdict_and_a_rerun_resends_only_the_unbilled(
    cli: Cli, server: FakeDMX, tmp_path: Path, later: FakeTime
) -> None:
    jobs = jobs_file(tmp_path, 2)

    def hook(recorded: Any) -> Reply | None:
        if recorded.path != EDITS or len(server.posts(EDITS)) > 2:
            return None
        boom = {"error": {"message": "boom"}}
        if recorded.fields["prompt"] == "job-0":
            return Reply(status=500, json=boom, bill=True)
        return Reply(status=500, json=boom, bill=False)

    server.on_request = hook
    run = clean(cli("batch", str(jobs), "--concurrency", "1", env=ACCOUNT), 7)
    results = jobs.with_name("jobs.results.jsonl")
    last = finals(results)
    assert last["j0"]["billed"] is True and last["j0"]["billing"]["cost_cny"] == 0.1
    assert last["j1"]["billed"] is False
    assert "Billing check" in last["j1"]["error"]
    sent_lines = [json.loads(x) for x in results.read_text().splitlines()]
    assert all("sent_at" in x for x in sent_lines if x["status"] == "sent")
    assert "send 1 job" in run.stderr and "hold back 1" in run.stderr
    clean(cli("batch", str(jobs), env=ACCOUNT), 7)  # without --resend-unknown
    assert posted_prompts(server) == ["job-0", "job-1", "job-1"]
    assert finals(results)["j1"]["status"] == "ok"


def test_batch_reconcile_settles_held_back_jobs_for_the_next_run(
    cli: Cli, server: FakeDMX, tmp_path: Path, later: FakeTime
) -> None:
    jobs = jobs_file(tmp_path, 3)

    def hook(recorded: Any) -> Reply | None:
        if recorded.path != EDITS or len(server.posts(EDITS)) > 3:
            return None
        prompt = recorded.fields["prompt"]
        if prompt == "job-0":
            return Reply(drop=True, bill=True)
        if prompt == "job-1":
            return Reply(drop=True, bill=False)
        return None

    server.on_request = hook
    clean(cli("batch", str(jobs), "--concurrency", "1"), 7)  # no token: held back
    assert server.account_requests() == []
    # As if job 0 had run a minute before the others (the fake answers in milliseconds;
    # in the same second two requests of one model cannot be told apart by time).
    assert server.log[0]["request_id"] not in {r["request_id"] for r in ledger_rows(tmp_path)}
    server.log[0]["created_at"] -= 60
    db = sqlite3.connect(tmp_path / "data" / "ledger.db")
    db.execute(
        "UPDATE entries SET created = created - 60, updated = updated - 60 WHERE job_id = 'j0'"
    )
    db.commit()
    db.close()
    clean(cli("batch", str(jobs), "--reconcile"), 3, "config set system-token")
    later.offset = 200
    run = clean(cli("batch", str(jobs), "--reconcile", "--json", env=ACCOUNT))
    found = json.loads(run.stdout)
    assert {j["id"]: j["billed"] for j in found["checked"]} == {"j0": True, "j1": False}
    assert posted_prompts(server) == ["job-0", "job-1", "job-2"]  # reconcile sends nothing
    clean(cli("batch", str(jobs)), 7)
    assert posted_prompts(server) == ["job-0", "job-1", "job-2", "job-1"]
    again = clean(cli("batch", str(jobs), "--reconcile", env=ACCOUNT), 0, "Nothing to reconcile")
    assert again.stdout == ""


def test_two_cut_off_requests_of_one_model_at_once_both_read_as_billed(
    cli: Cli, server: FakeDMX, tmp_path: Path, later: FakeTime
) -> None:
    """What the check cannot prove: one charge, two candidates, no request ids. Both are
    held back (the safe side), never one resent on a guess."""
    jobs = jobs_file(tmp_path, 2)
    server.script(EDITS, Reply(drop=True, bill=True), Reply(drop=True, bill=False))
    clean(cli("batch", str(jobs), "--concurrency", "1"), 7)
    later.offset = 200
    found = json.loads(clean(cli("batch", str(jobs), "--reconcile", "--json", env=ACCOUNT)).stdout)
    assert [j["billed"] for j in found["checked"]] == [True, True]
    assert all(j["how"] == "window" for j in found["checked"])


def test_reconcile_without_a_ledger_uses_the_results_files_times(
    cli: Cli, server: FakeDMX, tmp_path: Path, later: FakeTime
) -> None:
    jobs = jobs_file(tmp_path, 1)
    server.script(EDITS, Reply(drop=True, bill=False))
    off = {"DMXEDIT_NO_HISTORY": "1"}
    clean(cli("batch", str(jobs), env=off), 7)
    later.offset = 200
    run = clean(cli("batch", str(jobs), "--reconcile", "--json", env={**ACCOUNT, **off}))
    assert json.loads(run.stdout)["checked"][0]["billed"] is False


# -- 4. the plan's cost estimate -------------------------------------------------------------


def test_the_plan_line_estimates_the_cost_from_recent_charges(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    clean(cli("edit", str(png), "-p", "priced"))  # a 1K charge the ledger can size
    jobs = jobs_file(tmp_path, 3)
    run = clean(cli("batch", str(jobs), "--dry-run", env=ACCOUNT))
    assert "about 0.30 CNY" in run.stdout
    (query,) = log_queries(server)
    assert query["p"] == "1" and query["model_name"] == "nano-banana-2"
    run = clean(cli("batch", str(jobs), env=ACCOUNT))
    assert "about 0.30 CNY (prices of your recent DMXAPI charges)" in run.stderr


def test_no_estimate_when_the_price_is_unknown_or_the_account_api_is_down(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    clean(cli("edit", str(png), "-p", "priced"))
    jobs = jobs_file(tmp_path, 2)
    four_k = clean(cli("batch", str(jobs), "--dry-run", "--size", "4K", env=ACCOUNT))
    assert "CNY" not in four_k.stdout  # no recent 4K charge: no price
    server.script(LOG_SELF, Reply(status=500, body=b"down"))
    run = clean(cli("batch", str(jobs), env=ACCOUNT))
    assert "CNY" not in run.stderr and len(server.posts(EDITS)) == 3
    no_token = clean(cli("batch", str(jobs), "--dry-run"))
    assert "CNY" not in no_token.stdout


# -- 8. the fake server's account API -----------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "billed"),
    [
        (Reply(), True),
        (Reply(status=500, json={"error": {"message": "x"}}), True),
        (Reply(status=502, body=b"bad gateway"), True),
        (Reply(drop=True), True),
        (Reply(truncate_to=5), True),
        (Reply(status=503, json={"error": {"message": "x"}}), False),
        (Reply(status=429, json={"error": {"message": "x"}}), False),
        (Reply(status=400, json={"error": {"message": "x"}}), False),
        (Reply(drop_before_read=True), False),
    ],
)
def test_the_fake_bills_what_did_the_work(server: FakeDMX, reply: Reply, billed: bool) -> None:
    import requests

    server.script(EDITS, reply)
    try:
        answer = requests.post(
            server.base_url + "/images/edits",
            files={"image": ("a.png", b"png")},
            data={"model": "nano-banana-2", "prompt": "p", "size": "1K"},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=5,
        )
        rid = answer.headers.get("X-Rixapi-Request-Id")
        assert rid  # every answer carries one
    except requests.exceptions.RequestException:
        rid = None
    assert len(server.log) == (1 if billed else 0)
    if billed and rid:
        assert server.log[0]["request_id"] == rid and server.log[0]["quota"] == 50000


def test_the_fake_log_filters_and_pages(server: FakeDMX) -> None:
    import requests

    add_items(server, 25, at=1_000_000)
    add_items(server, 3, model="other", at=2_000_000)
    headers = {"Authorization": SYSTEM_TOKEN, "Dmx-Api-User": USER_ID, "Rix-Api-User": USER_ID}

    def ask(**params: Any) -> dict[str, Any]:
        answer = requests.get(server.origin + LOG_SELF, params=params, headers=headers, timeout=5)
        body: dict[str, Any] = answer.json()
        return body

    page = ask(p=2, page_size=10, model_name="nano-banana-2")["data"]
    assert page["total"] == 25 and len(page["items"]) == 10 and page["page"] == 2
    assert ask(request_id="old-3")["data"]["items"][0]["request_id"] == "old-3"
    window = ask(start_timestamp=1_999_999, end_timestamp=2_000_000)["data"]
    assert {i["model_name"] for i in window["items"]} == {"other"} and window["total"] == 2
    one_header = {"Authorization": SYSTEM_TOKEN, "Dmx-Api-User": USER_ID}
    refused = requests.get(server.origin + LOG_SELF, headers=one_header, timeout=5).json()
    assert refused["success"] is False
    bearer = {**headers, "Authorization": f"Bearer {SYSTEM_TOKEN}"}
    assert requests.get(server.origin + USER_SELF, headers=bearer, timeout=5).status_code == 401


def test_a_ledger_made_before_the_billing_column_keeps_working(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, later: FakeTime
) -> None:
    from dmxedit.store import migrations

    old_schema = migrations.SCHEMA.replace(",\n    billing TEXT", "")
    assert old_schema != migrations.SCHEMA
    (tmp_path / "data").mkdir()
    db = sqlite3.connect(tmp_path / "data" / "ledger.db")
    db.executescript(old_schema)
    db.execute(
        "INSERT INTO entries (created, updated, kind, status, model) VALUES (1, 1, 'edit', "
        "'saved', 'nano-banana-2')"
    )
    db.commit()
    db.close()
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}))
    clean(cli("edit", str(png), "-p", "x", env=ACCOUNT), 5, "DMXAPI billed it")
    rows = ledger_rows(tmp_path)
    assert len(rows) == 2 and rows[1]["billed"] == 1 and json.loads(rows[1]["billing"])
    assert rows[0]["billing"] is None


def test_usage_on_a_terminal_is_a_table(cli: Cli, server: FakeDMX) -> None:
    add_items(server, 2)
    run = clean(cli("usage", env=ACCOUNT, stdout_isatty=True))
    assert "per model" in run.stdout and "│" in run.stdout and "nano-banana-2" in run.stdout


def test_the_token_is_asked_without_echo_and_never_stored_outside_the_config(
    cli: Cli,
    server: FakeDMX,
    png: Path,
    tmp_path: Path,
    later: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import getpass

    asked: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        asked.append(prompt)
        return SYSTEM_TOKEN

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    clean(cli("config", "set", "system-token", stdin_isatty=True))
    assert asked == ["System token (input hidden): "]
    clean(cli("config", "set", "system-token"), 2, "not a terminal", "system-token -")
    clean(cli("config", "set", "user-id", USER_ID))
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}))
    verbose = clean(cli("edit", str(png), "-p", "x", "-v"), 5, "DMXAPI billed it")
    assert "setting system-token = …cdef" in verbose.stderr
    jobs = jobs_file(tmp_path, 1)
    server.script(EDITS, Reply(status=500, json={"error": {"message": "boom"}}))
    clean(cli("batch", str(jobs)), 7)
    for path in [*(tmp_path / "data").glob("ledger.db*"), jobs.with_name("jobs.results.jsonl")]:
        assert SYSTEM_TOKEN.encode() not in path.read_bytes()
    assert all(
        SYSTEM_TOKEN not in json.dumps(r.headers) for r in server.requests if r.path == EDITS
    )


class StubAccount:
    """An Account that answers log queries from a list (the check's logic alone)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        from dmxedit.api.account import LogItem

        self.items = [LogItem.of(i) for i in items]
        self.asked: list[dict[str, Any]] = []

    def log(self, **query: Any) -> Any:
        from dmxedit.api.account import LogRead

        self.asked.append(query)
        found = [
            i
            for i in self.items
            if (not query.get("request_id") or i.request_id == query["request_id"])
            and (not query.get("model") or i.model_name == query["model"])
            and query["start"] <= i.created_at <= query["end"]
        ]
        return LogRead(items=found, total=len(found))


def _item(at: float, **extra: Any) -> dict[str, Any]:
    base = {"created_at": int(at), "model_name": "m", "quota": 50000, "type": 2}
    return {**base, **extra}


def test_check_by_request_id_an_item_without_a_charge_is_not_billed() -> None:
    now = time.time()
    stub = StubAccount([_item(now, request_id="r1", quota=0, type=5)])
    verdict = billing.check(stub, billing.Target("m", now - 10, now, "r1"), delays=())  # type: ignore[arg-type]
    assert verdict.billed is False and verdict.how == "request_id"


def test_check_by_request_id_with_unlabelled_charges_around_it_cannot_tell() -> None:
    now = time.time()
    stub = StubAccount([_item(now - 9)])  # a charge of the model with no request id
    target = billing.Target("m", now - 10, now - 8, "r1")
    verdict = billing.check(stub, target, delays=(), clock=lambda: now + 100)  # type: ignore[arg-type]
    assert verdict.billed is None and verdict.how == "ambiguous"
    labelled = StubAccount([_item(now - 9, request_id="someone-else")])
    verdict = billing.check(labelled, target, delays=(), clock=lambda: now + 100)  # type: ignore[arg-type]
    assert verdict.billed is False


def test_check_by_time_ignores_work_that_began_after_the_request_was_given_up() -> None:
    now = time.time()
    target = billing.Target("m", now - 100, now - 90)
    later_work = StubAccount([_item(now - 60, use_time=5)])  # began at now-65: after the failure
    verdict = billing.check(later_work, target, delays=(), clock=lambda: now + 100)  # type: ignore[arg-type]
    assert verdict.billed is False
    long_work = StubAccount([_item(now - 60, use_time=40)])  # began at now-100: ours, maybe
    verdict = billing.check(long_work, target, delays=(), clock=lambda: now + 100)  # type: ignore[arg-type]
    assert verdict.billed is True and verdict.how == "window"


def test_usage_until_that_is_not_a_date_names_until(cli: Cli) -> None:
    clean(cli("usage", "--since", "3d", "--until", "soon", env=ACCOUNT), 2, "--until 'soon'")


def _log_page(items: list[dict[str, Any]], **extra: Any) -> Any:
    from fakeserver import Reply

    return Reply(json={"success": True, "message": "", "data": {"items": items, **extra}})


def _items(first: int, count: int) -> list[dict[str, Any]]:
    import time

    now = int(time.time()) - 120
    return [
        {
            "id": first + i,
            "created_at": now - i,
            "model_name": "nano-banana-2",
            "token_name": "t",
            "quota": 50000,
            "prompt_tokens": 0,
            "completion_tokens": 1210,
            "use_time": 9,
            "request_id": f"r{first + i}",
        }
        for i in range(count)
    ]


PERIOD = ("--since", "2020-01-01", "--until", "2099-12-31")


def test_usage_reads_every_page_of_a_log_that_gives_no_total(cli, server) -> None:  # type: ignore[no-untyped-def]
    import json

    from fakeserver import LOG_SELF

    server.script(LOG_SELF, _log_page(_items(0, 100)), _log_page(_items(100, 7)))
    run = expect(cli("usage", *PERIOD, "--json", env=ACCOUNT))
    assert json.loads(run.stdout)["total"]["requests"] == 107
    assert len([r for r in server.requests if r.path == LOG_SELF]) == 2


def test_usage_stops_when_a_site_answers_the_same_page_again(cli, server) -> None:  # type: ignore[no-untyped-def]
    import json

    from fakeserver import LOG_SELF

    same = _items(0, 100)
    server.script(LOG_SELF, *[_log_page(same, total=1000)] * 600)
    run = cli("usage", *PERIOD, "--json", env=ACCOUNT)
    assert len([r for r in server.requests if r.path == LOG_SELF]) == 2, run.output
    assert json.loads(run.stdout)["complete"] is False
