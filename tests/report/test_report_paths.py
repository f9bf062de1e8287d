"""`dmxedit report` finds the outputs wherever it runs, and shows each job's billing
verdict and tokens (issue 21, point 8; SPEC 10).

A results file records its saved files as absolute paths; older ones recorded them
relative to the folder the batch ran in, and are read trying the results file's folder
first, then as recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakeserver import SYSTEM_TOKEN, USER_ID, FakeDMX, Reply, make_png
from helpers import Cli, expect

from dmxedit.report import card
from dmxedit.report import page as core

EDITS = "/v1/images/edits"


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _jobs(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(count):
        (folder / f"i{i}.png").write_bytes(make_png(10 + i, 8, filler=i))
        lines.append({"id": f"j{i}", "images": [f"i{i}.png"], "prompt": f"job-{i}"})
    return _write(folder / "jobs.jsonl", lines)


def _results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_batch_records_absolute_output_paths(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    jobs = _jobs(tmp_path / "proj")
    run = expect(cli("batch", str(jobs)))  # run from tmp_path: output/ is relative to it
    finals = [r for r in _results(tmp_path / "proj" / "jobs.results.jsonl") if "files" in r]
    assert len(finals) == 2
    for record in finals:
        (path,) = record["files"]
        assert Path(path).is_absolute() and Path(path).is_file()
        assert Path(path).parent == tmp_path / "output"
    # standard output is unchanged: the paths as an edit prints them
    assert all(not Path(line).is_absolute() for line in run.stdout.splitlines())


def test_report_from_the_results_files_folder_finds_the_outputs(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = _jobs(tmp_path / "proj")
    expect(cli("batch", str(jobs)))
    monkeypatch.chdir(tmp_path / "proj")  # another folder than the batch ran in
    expect(cli("report", "jobs.results.jsonl"))
    page = (tmp_path / "proj" / "jobs.report.html").read_text(encoding="utf-8")
    assert "missing" not in page
    assert page.count('src="../output/') == 2


def test_older_relative_paths_try_the_results_folder_then_as_recorded(
    tmp_path: Path,
) -> None:
    beside = tmp_path / "proj" / "out" / "a.png"  # relative to the results file
    elsewhere = tmp_path / "ran-here" / "out" / "b.png"  # relative to where it ran
    shadow = tmp_path / "ran-here" / "out" / "a.png"  # the results file's folder wins
    for path in (beside, elsewhere, shadow):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make_png(4, 4))
    results = _write(
        tmp_path / "proj" / "old.results.jsonl",
        [
            {"id": "a", "line": 1, "status": "ok", "files": ["out/a.png"]},
            {"id": "b", "line": 2, "status": "ok", "files": ["out/b.png"]},
        ],
    )
    report = core.read_results([results], cwd=tmp_path / "ran-here")
    assert [j.outputs for j in report.jobs] == [[str(beside)], [str(elsewhere)]]


def _records() -> list[dict[str, Any]]:
    ok = {"status": "ok", "files": [], "exit_code": 0, "model": "nano-banana-2"}
    return [
        {"id": "used", "line": 1, **ok, "size": "4K", "usage": {"total_tokens": 2090}},
        {"id": "guess", "line": 2, **ok, "size": "2K"},
        {"id": "refused", "line": 3, "status": "failed", "exit_code": 4, "error": "400"},
        {"id": "unknown", "line": 4, "status": "failed", "exit_code": 5, "may_be_billed": True},
        {
            "id": "charged",
            "line": 5,
            "status": "failed",
            "exit_code": 5,
            "may_be_billed": True,
            "billed": True,
            "billing": {"billed": True, "cost_cny": 0.2, "charged_at": 1_700_000_000},
        },
        {
            "id": "free",
            "line": 6,
            "status": "failed",
            "exit_code": 5,
            "may_be_billed": True,
            "billed": False,
            "billing": {"billed": False},
        },
    ]


def test_each_job_shows_its_billing_verdict_and_tokens(tmp_path: Path) -> None:
    results = _write(tmp_path / "r.results.jsonl", _records())
    report = core.read_results([results], cwd=tmp_path)
    text = core.render(report, folder=tmp_path)
    facts = {
        job.id: card.facts(job)  # the job's fact list as the page has it
        for job in report.jobs
    }
    assert "<dt>Tokens</dt><dd>2090</dd>" in facts["used"]
    assert "1210 (estimated from the size" in facts["guess"]
    assert "<dd>0 (not billed)</dd>" in facts["refused"]
    assert "<dt>Billing</dt><dd>not billed</dd>" in facts["refused"]
    assert "may have been billed (not checked" in facts["unknown"]
    assert "unknown (may have been billed)" in facts["unknown"]
    assert "billed: 0.2000 CNY at" in facts["charged"]
    assert "not billed (no charge in DMXAPI" in facts["free"]
    assert "<dt>Billing</dt><dd>billed</dd>" in facts["used"]
    # 2090 + 1210 + 1210 (the charged one, estimated at 1K); the unknown left out
    assert "4510 tokens (some estimated)" in text


def test_a_real_billing_check_reaches_the_page(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    jobs = _jobs(tmp_path / "proj", count=1)
    server.script(EDITS, Reply(status=500, json={"error": {"message": "upstream"}}))
    account = {"DMXAPI_SYSTEM_TOKEN": SYSTEM_TOKEN, "DMXAPI_USER_ID": USER_ID}
    expect(cli("batch", str(jobs), env=account), 7)
    (final,) = [r for r in _results(tmp_path / "proj" / "jobs.results.jsonl") if "billed" in r]
    expect(cli("report", str(tmp_path / "proj" / "jobs.results.jsonl")))
    page = (tmp_path / "proj" / "jobs.report.html").read_text(encoding="utf-8")
    word = "billed: " if final["billed"] else "not billed (no charge"
    assert f"<dt>Billing</dt><dd>{word}" in page


def test_the_history_page_shows_the_ledgers_verdict(
    cli: Cli, server: FakeDMX, tmp_path: Path, png: Path
) -> None:
    expect(cli("edit", str(png), "-p", "x"))
    expect(cli("report", "--history"))
    page = (tmp_path / "history.report.html").read_text(encoding="utf-8")
    assert "<dt>Billing</dt><dd>billed</dd>" in page
    assert "<dt>Tokens</dt><dd>" in page
