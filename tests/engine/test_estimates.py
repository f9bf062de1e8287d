"""Estimates only from documented tokens (SPEC 12 "Estimates"): a request's tokens, the
batch plan and its summary, --max-tokens, --variants and the report say "unknown" for
models whose tokens DMXAPI does not document, never a guess; a count job counts count x
tokens."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from fakeserver import FakeDMX
from helpers import Cli, expect

from dmxedit.api.request import build_request
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings
from dmxedit.report.read import ReportJob

SEEDREAM = "doubao-seedream-4-5-251128"


def tokens(model: str, size: str | None = None, **options: object) -> int | None:
    settings = Settings(base_url="http://127.0.0.1:9/v1", model=model, size=size)
    request = build_request("generate", settings, prompt="x", options=ImageOptions.of(**options))
    return request.tokens()


def test_documented_tokens_per_model_and_size() -> None:
    assert tokens("nano-banana-2") == 1210 and tokens("nano-banana-2", "4K") == 2000
    assert tokens("gemini-3.1-flash-image", "2K") == 1120
    assert tokens("gemini-3-pro-image", "4K") == 2000
    assert tokens("gemini-3.1-flash-lite-image") == 1120


@pytest.mark.parametrize(
    ("model", "size", "options"),
    [
        ("gpt-image-2", "1024x1024", {}),
        ("gpt-image-2", None, {"count": 3}),
        ("gpt-image-1.5", None, {}),
        (SEEDREAM, "2K", {"count": 2}),
        ("some-new-model", "2K", {}),  # not in the table: never a guess
        ("some-new-model", "1K", {"api": "gemini"}),
    ],
)
def test_no_documented_tokens_is_none(
    model: str, size: str | None, options: dict[str, object]
) -> None:
    assert tokens(model, size, **options) is None


def test_a_count_request_counts_count_times_the_tokens() -> None:
    settings = Settings(base_url="http://127.0.0.1:9/v1", size="4K")
    request = build_request("generate", settings, prompt="x")
    assert replace(request, count=3).tokens() == 3 * 2000


def write_jobs(path: Path, jobs: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs), encoding="utf-8")
    return path


MIXED: list[dict[str, object]] = [
    {"prompt": "a"},
    {"prompt": "b", "size": "1K"},
    {"prompt": "c", "model": "gpt-image-2", "count": 2},
    {"prompt": "d", "model": SEEDREAM, "size": "2K"},
    {"prompt": "e", "model": "some-new-model"},
]


@pytest.mark.e2e
def test_the_batch_plan_says_unknown_for_undocumented_tokens(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = write_jobs(tmp_path / "jobs.jsonl", MIXED)
    run = expect(cli("batch", str(jobs), "--dry-run"))
    assert "about 2,420 tokens, plus 3 jobs of unknown tokens" in run.stdout
    summary = json.loads(expect(cli("batch", str(jobs), "--dry-run", "--json")).stdout)
    assert summary["estimated_tokens"] == 2420 and summary["unknown_tokens"] == 3
    only = write_jobs(tmp_path / "only.jsonl", MIXED[2:4])
    run = expect(cli("batch", str(only), "--dry-run"))
    assert "tokens unknown (2 jobs of models whose tokens DMXAPI does not document)" in run.stdout
    assert "about 0 tokens" not in run.stdout
    assert server.posts() == []


@pytest.mark.e2e
def test_the_plan_line_before_sending_says_unknown(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = write_jobs(tmp_path / "jobs.jsonl", [MIXED[0], MIXED[3]])
    run = expect(cli("batch", str(jobs)))
    assert "about 1,210 tokens, plus 1 job of unknown tokens" in run.stderr


@pytest.mark.e2e
def test_max_tokens_refuses_jobs_of_unknown_tokens_before_sending(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = write_jobs(tmp_path / "jobs.jsonl", MIXED)
    run = expect(cli("batch", str(jobs), "--max-tokens", "100000"), 2)
    assert "line 3: DMXAPI documents no tokens for gpt-image-2" in run.stderr
    assert f"line 4: DMXAPI documents no tokens for {SEEDREAM}" in run.stderr
    assert "line 5:" in run.stderr and "cannot keep a cap" in run.stderr
    assert "line 1:" not in run.stderr and "line 2:" not in run.stderr
    assert server.posts() == []
    # documented tokens only: the budget is kept as before
    known = write_jobs(tmp_path / "known.jsonl", MIXED[:2])
    run = expect(cli("batch", str(known), "--max-tokens", "1300"), 7)
    assert len(server.posts()) == 1


@pytest.mark.e2e
def test_variants_estimate_line_says_unknown(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("generate", "-p", "x", "-m", "gpt-image-2", "--variants", "3", "--dry-run"))
    assert "tokens unknown (3 jobs" in run.stdout
    run = expect(cli("generate", "-p", "x", "--variants", "2", "--dry-run"))
    assert "about 2,420 tokens" in run.stdout and "unknown" not in run.stdout


def test_the_report_says_unknown_for_undocumented_tokens() -> None:
    job = ReportJob(id="1", source="x", status="ok", model="gpt-image-2", outputs=["a", "b"])
    assert job.token_text() == (
        None,
        "unknown (the API sent no usage; DMXAPI documents no tokens for it)",
    )
    banana = ReportJob(id="2", source="x", status="ok", size="4K", outputs=["a", "b"])
    assert banana.token_text()[0] == 4000
    used = ReportJob(id="3", source="x", status="ok", model=SEEDREAM, usage={"total_tokens": 9})
    assert used.token_text() == (9, "9")
    qwen = ReportJob(
        id="4", source="x", status="ok", model="qwen-image-edit",
        usage={"height": 1024, "width": 1024, "image_count": 1},
    )  # fmt: skip
    assert qwen.token_text()[0] is None
    flash = ReportJob(id="5", source="x", status="ok", model="gemini-3.1-flash-image",
                      ratio="8:1", size="1K")  # fmt: skip
    assert flash.requested() == "8:1 1K (3072x384)"
