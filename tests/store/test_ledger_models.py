"""Every promise of the ledger for every model (SPEC 12 "keeps every promise of sections
3-11"): the answer's own ``usage`` recorded whatever its shape (Seedream's, qwen's,
Google's), `history`, `history show`, `recover` (all N files of a count entry),
`report`, `--name` fields and the billing check, for entries of every model, count
entries and gemini-door entries."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from fakeserver import EDITS, GENERATIONS, LOG_SELF, SYSTEM_TOKEN, USER_ID, FakeDMX, Reply, make_png
from helpers import Cli, expect

from dmxedit.report.read import read_history
from dmxedit.store.ledger import Entry, Ledger

pytestmark = pytest.mark.e2e

SEEDREAM = "doubao-seedream-4-0-250828"
SEEDREAM_USAGE = {
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "total_tokens": 16464,
    "output_tokens": 16464,
}
QWEN_USAGE = {"height": 1024, "width": 1024, "image_count": 1}
GEMINI_USAGE = {
    "promptTokenCount": 32,
    "candidatesTokenCount": 1772,
    "totalTokenCount": 2552,
    "thoughtsTokenCount": 748,
}
ACCOUNT = {"DMXAPI_SYSTEM_TOKEN": SYSTEM_TOKEN, "DMXAPI_USER_ID": USER_ID}


def ledger() -> Ledger:
    return Ledger(Path(os.environ["DMXEDIT_DATA_DIR"]) / "ledger.db")


def entries() -> list[Entry]:
    book = ledger()
    try:
        return list(reversed(book.query(limit=None)))
    finally:
        book.close()


def urls_answer(server: FakeDMX, count: int, usage: dict[str, Any], *names: str) -> Reply:
    data = []
    for i in range(count):
        name = names[i] if i < len(names) else None
        data.append(server.url_result(make_png(20 + i, 20), name=name)["data"][0])
    return Reply(json={"created": 1, "data": data, "usage": usage})


def test_seedream_count_entry_records_usage_and_its_n_files(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    server.script(GENERATIONS, urls_answer(server, 3, SEEDREAM_USAGE))
    run = expect(cli("generate", "-p", "series", "-m", SEEDREAM, "--size", "2K", "-n", "3"))
    assert len(run.stdout.split()) == 3
    (entry,) = entries()
    assert entry.model == SEEDREAM and entry.status == "saved"
    assert entry.usage == SEEDREAM_USAGE  # as the answer carried it
    assert entry.options["count"] == 3 and len(entry.saved_files) == 3
    listed = expect(cli("history")).stdout
    assert SEEDREAM in listed and "(+2)" in listed and "2K" in listed
    shown = expect(cli("history", "show", "1")).stdout
    assert '"output_tokens": 16464' in shown and '"count": 3' in shown
    assert json.loads(expect(cli("history", "show", "1", "--json")).stdout)["usage"] == (
        SEEDREAM_USAGE
    )


def test_qwen_usage_is_recorded_and_history_and_report_read_it(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    server.script(EDITS, urls_answer(server, 1, QWEN_USAGE))
    expect(cli("edit", str(png), "-p", "q", "-m", "qwen-image-edit", "--size", "1024x1024"))
    (entry,) = entries()
    assert entry.usage == QWEN_USAGE
    assert '"image_count": 1' in expect(cli("history", "show", "1")).stdout
    assert "1024x1024" in expect(cli("history")).stdout
    page = tmp_path / "page.html"
    expect(cli("report", "--history", "-o", str(page)))
    assert page.is_file()


def test_a_gemini_door_entry_goes_through_history_show_report_and_billing(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    book = ledger()
    model = "gemini-3-pro-image"
    options = {"model": model, "aspect_ratio": "4:3", "size": "2K", "api": "gemini"}
    done = book.create(kind="generate", status="saved", model=model, prompt="g",
                       options=options, usage=GEMINI_USAGE,
                       files=[{"path": str(tmp_path / "g.jpg"), "sha256": None}])  # fmt: skip
    lost = book.create(kind="generate", status="sent", model=model, prompt="lost",
                       options=options, may_be_billed=1)  # fmt: skip
    book.close()
    listed = expect(cli("history")).stdout
    assert model in listed and "4:3/2K" in listed
    shown = expect(cli("history", "show", str(done))).stdout
    assert '"api": "gemini"' in shown and '"totalTokenCount": 2552' in shown
    reading = ledger()
    try:
        report, _ = read_history(reading)
    finally:
        reading.close()
    job = next(j for j in report.jobs if j.id == f"ledger-{done}")
    assert job.token_text()[0] == 2552 and job.redo["api"] == "gemini"
    assert job.requested() == "4:3 2K (2400x1792)"
    # the billing check: by model and window, whatever the model
    server.log.append(
        {"id": 1, "created_at": int(time.time()), "type": 2, "model_name": model,
         "token_name": "dmxedit-test", "quota": 60000, "prompt_tokens": 0,
         "completion_tokens": 1210, "use_time": 1, "request_id": "rid-g",
         "_visible_after": 0}
    )  # fmt: skip
    checked = json.loads(expect(cli("recover", "--check", "--json", env=ACCOUNT)).stdout)
    (verdict,) = checked["checked"]
    assert verdict["billed"] is True and verdict["how"] == "window"
    queried = [parse_qs(r.query) for r in server.account_requests() if r.path == LOG_SELF]
    assert queried and all(q["model_name"] == [model] for q in queried)
    assert next(e for e in entries() if e.id == lost).billed == 1


def test_a_gpt_image_failure_is_checked_against_the_billing_log_by_its_model(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    server.script(GENERATIONS, Reply(status=500, json={"error": {"message": "boom"}}))
    run = cli("generate", "-p", "x", "-m", "gpt-image-2", "--json", env=ACCOUNT)
    expect(run, 5)
    error = json.loads(run.stdout)["error"]
    assert error["billed"] is True and server.log[0]["model_name"] == "gpt-image-2"
    assert entries()[0].billed == 1


def test_recover_of_a_count_entry_downloads_every_file(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    server.script(GENERATIONS, urls_answer(server, 3, SEEDREAM_USAGE, "a.png", "b.png", "c.png"))
    server.script("/files/b.png", Reply(status=404))
    server.script("/files/c.png", Reply(status=404))
    run = cli("generate", "-p", "series", "-m", SEEDREAM, "--size", "2K", "-n", "3")
    assert run.code == 6, run.output
    recovered = expect(cli("recover")).stdout.split()
    assert len(recovered) == 2
    (entry,) = entries()
    assert entry.status == "saved" and len(entry.saved_files) == 3
    assert all(Path(f).is_file() for f in entry.saved_files)


def test_name_fields_of_a_pixel_size_count_request_make_valid_names(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    png = make_png(1536, 1024)
    payload = [{"b64_json": base64.b64encode(png).decode()} for _ in range(2)]
    server.script(GENERATIONS, Reply(json={"created": 1, "data": payload}))
    out = tmp_path / "out"
    run = expect(
        cli("generate", "-p", "n", "-m", "gpt-image-2", "--size", "1536x1024", "-n", "2",
            "--name", "{model}_{size}_{ratio}_{i}", "-o", str(out))
    )  # fmt: skip
    names = sorted(Path(p).name for p in run.stdout.split())
    assert names == [
        "gpt-image-2_1536x1024_default_1.png",
        "gpt-image-2_1536x1024_default_2.png",
    ]
    server.script(GENERATIONS, Reply(json={"created": 1, "data": payload[:1]}))
    run = expect(
        cli("generate", "-p", "n", "-m", "gpt-image-2", "--ratio", "3:2", "--size", "1K",
            "--name", "{model}_{ratio}_{size}", "-o", str(out))
    )  # fmt: skip
    assert Path(run.stdout.split()[0]).name == "gpt-image-2_3x2_1K.png"
