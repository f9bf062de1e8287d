"""Batch beyond one machine and at scale (issue 13 points 4-6): --shard, --status,
--max-tokens, and memory that does not grow with the jobs."""

from __future__ import annotations

import json
import re
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeDMX, Reply, make_png
from helpers import Cli, expect

from dmxedit.batch import jobindex
from dmxedit.batch.jobindex import IdTable, PreviousResults, index_jobs
from dmxedit.batch.jobs import Defaults, JobSource
from dmxedit.batch.run import run_batch
from dmxedit.batch.shards import Shard, parse_shard, results_file, shard_of
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import resolve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def write_jobs(path: Path, jobs: list[dict[str, Any] | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [job if isinstance(job, str) else json.dumps(job) for job in jobs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def edit_jobs(tmp: Path, count: int, **extra: Any) -> Path:
    folder = tmp / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.png").write_bytes(make_png(20, 10))
    return write_jobs(
        folder / "jobs.jsonl",
        [{"id": f"j{i}", "images": ["a.png"], "prompt": f"job-{i}", **extra} for i in range(count)],
    )


def prompts(server: FakeDMX) -> Counter[str]:
    return Counter(p.fields["prompt"] for p in server.posts() if p.complete)


def finals(path: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["status"] in ("ok", "failed"):
            out[record["id"]] = record
    return out


# -- --shard -------------------------------------------------------------------------------


def test_shard_of_is_sha256_of_the_id_mod_n_and_stable() -> None:
    # Fixed values: the split must be the same on every machine and Python (never hash()).
    assert [shard_of(i, 4) for i in ("j0", "j1", "j2", "j3", "x")] == [4, 2, 4, 4, 2]
    assert [shard_of(i, 3) for i in ("j0", "j1", "j3")] == [3, 2, 1]
    assert parse_shard("2/4") == Shard(2, 4)
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "0"}) == Shard(1, 4)
    assert parse_shard("auto/4", {"JOB_COMPLETION_INDEX": "3"}) == Shard(4, 4)
    assert results_file(Path("d/jobs.jsonl"), Shard(2, 4)) == Path(
        "d/jobs.shard-2-of-4.results.jsonl"
    )


def test_four_shards_run_separately_cover_every_job_exactly_once(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 40)
    seen: Counter[str] = Counter()
    for k in range(1, 5):
        run = expect(cli("batch", str(jobs), "--shard", f"{k}/4"))
        mine = {f"j{i}" for i in range(40) if shard_of(f"j{i}", 4) == k}
        assert f"shard {k} of 4: {len(mine)} of the 40 jobs" in run.stderr, run.output
        out = finals(tmp_path / "jobs" / f"jobs.shard-{k}-of-4.results.jsonl")
        assert set(out) == mine and all(r["status"] == "ok" for r in out.values())
        seen.update(list(out))
    assert seen == Counter({f"j{i}": 1 for i in range(40)})
    assert prompts(server) == Counter({f"job-{i}": 1 for i in range(40)})
    assert not (tmp_path / "jobs" / "jobs.results.jsonl").exists()
    # Each shard resumes on its own: nothing is sent again.
    expect(cli("batch", str(jobs), "--shard", "3/4"))
    assert len(server.posts()) == 40


def test_shard_auto_takes_k_from_job_completion_index(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 8)
    run = expect(cli("batch", str(jobs), "--shard", "auto/3", env={"JOB_COMPLETION_INDEX": "1"}))
    mine = {f"job-{i}" for i in range(8) if shard_of(f"j{i}", 3) == 2}
    assert set(prompts(server)) == mine
    assert "shard 2 of 3" in run.stderr
    assert (tmp_path / "jobs" / "jobs.shard-2-of-3.results.jsonl").exists()


@pytest.mark.parametrize(
    ("value", "env", "phrase"),
    [
        ("auto/3", {}, "JOB_COMPLETION_INDEX"),
        ("auto/3", {"JOB_COMPLETION_INDEX": "3"}, "only 3"),
        ("auto/3", {"JOB_COMPLETION_INDEX": "x"}, "not a number"),
        ("0/4", {}, "K must be from 1 to 4"),
        ("5/4", {}, "K must be from 1 to 4"),
        ("2", {}, "not K/N"),
        ("1/0", {}, "not K/N"),
    ],
)
def test_bad_shards_are_usage_errors(
    cli: Cli, server: FakeDMX, tmp_path: Path, value: str, env: dict[str, str], phrase: str
) -> None:
    jobs = edit_jobs(tmp_path, 2)
    environ = {"JOB_COMPLETION_INDEX": None, **env}
    expect(cli("batch", str(jobs), "--shard", value, env=environ), 2, phrase)
    assert server.posts() == []


def test_an_invalid_line_in_another_shard_stops_every_shard(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 6)
    text = jobs.read_text() + json.dumps({"id": "x", "prompt": "p", "size": "9K"}) + "\n"
    text += json.dumps({"id": "j1", "prompt": "again"}) + "\n"  # a duplicate id, shard 2
    jobs.write_text(text)
    assert shard_of("x", 4) == 2
    for k in (1, 2, 3, 4):
        run = expect(cli("batch", str(jobs), "--shard", f"{k}/4"), 2, "line 7", "line 8")
        assert "already used on line 2" in run.stderr
    assert server.posts() == []


# -- --status ------------------------------------------------------------------------------


def test_status_merges_every_shard_and_sends_nothing(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 20)
    shard2 = [f"j{i}" for i in range(20) if shard_of(f"j{i}", 4) == 2]
    shard1 = [f"j{i}" for i in range(20) if shard_of(f"j{i}", 4) == 1]
    # In shard 2, one job fails after a fault that may have been billed (held back) and one
    # is refused (a re-run sends it again).
    held, failed = f"job-{shard2[0][1:]}", f"job-{shard2[1][1:]}"

    def hook(recorded: Any) -> Reply | None:
        prompt = recorded.fields.get("prompt")
        if prompt == held:
            return Reply(status=500, json={"error": {"message": "boom"}})
        if prompt == failed:
            return Reply(status=400, json={"error": {"message": "bad"}})
        return None

    server.on_request = hook
    expect(cli("batch", str(jobs), "--shard", "1/4"))
    expect(cli("batch", str(jobs), "--shard", "2/4"), 7)
    posts = len(server.posts())
    run = expect(cli("batch", str(jobs), "--status", "--json", key=None))
    assert len(server.posts()) == posts  # nothing sent, no key needed
    status = json.loads(run.stdout)
    done = len(shard1) + len(shard2) - 2
    assert status["total"] == 20 and status["done"] == done
    assert status["failed"] == 1 and status["held_back"] == 1
    assert status["not_started"] == 20 - len(shard1) - len(shard2)
    assert status["complete"] is False
    by = {s["shard"]: s for s in status["shards"]}
    assert set(by) == {"1/4", "2/4", "3/4", "4/4"}
    assert by["1/4"]["done"] == len(shard1) and by["1/4"]["results"].endswith(
        "jobs.shard-1-of-4.results.jsonl"
    )
    assert by["2/4"]["held_back"] == 1 and by["2/4"]["failed"] == 1
    assert by["3/4"]["results"] is None and by["3/4"]["not_started"] == by["3/4"]["total"]
    text = expect(cli("batch", str(jobs), "--status", key=None)).stdout
    assert f"20 jobs: {done} done, 1 failed, 1 held back" in text
    assert "shard 3 of 4:" in text and "(no results file yet)" in text


def test_status_counts_the_default_results_file_and_an_ok_is_final(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 3)
    log = tmp_path / "jobs" / "jobs.results.jsonl"
    log.write_text(
        json.dumps({"id": "j0", "status": "ok", "files": []})
        + "\n"
        + json.dumps({"id": "j0", "status": "sent"})  # a later marker never hides an ok
        + "\n"
        + json.dumps({"id": "j1", "status": "answered", "urls": ["http://x/a.png"]})
        + "\n"
        + '{"id": "j2", "status": "o'  # torn
    )
    status = json.loads(expect(cli("batch", str(jobs), "--status", "--json")).stdout)
    assert (status["done"], status["refetch"], status["not_started"]) == (1, 1, 1)
    assert status["results"] == [str(log)]


def test_status_refuses_run_options(cli: Cli, tmp_path: Path) -> None:
    jobs = edit_jobs(tmp_path, 1)
    expect(cli("batch", str(jobs), "--status", "--dry-run"), 2, "only reports")
    expect(cli("batch", str(jobs), "--status", "--concurrency", "8"), 2, "only reports")


# -- --max-tokens --------------------------------------------------------------------------


def test_max_tokens_stops_starting_jobs_and_a_rerun_sends_the_rest(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 5)  # 1K: 1210 tokens each
    run = expect(cli("batch", str(jobs), "--max-tokens", "3000", "--json"), 7, "--max-tokens")
    assert prompts(server) == Counter({"job-0": 1, "job-1": 1})
    summary = json.loads(run.stdout)
    assert summary["over_budget"] == 3 and summary["to_send"] == 2
    assert summary["estimated_tokens"] == 2420 and summary["ok"] == 2
    assert "Nothing was billed for them" in summary["error"]["message"]
    log = tmp_path / "jobs" / "jobs.results.jsonl"
    assert set(finals(log)) == {"j0", "j1"}  # no line for the jobs not started
    assert '"j2"' not in log.read_text()
    expect(cli("batch", str(jobs), "--max-tokens", "100000"))
    assert prompts(server) == Counter({f"job-{i}": 1 for i in range(5)})


def test_max_tokens_stops_at_the_first_job_that_would_pass(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(make_png(8, 8))
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": "a", "images": ["a.png"], "prompt": "a"},  # 1210
            {"id": "b", "images": ["a.png"], "prompt": "b", "size": "4K"},  # 2000: passes
            {"id": "c", "images": ["a.png"], "prompt": "c"},  # would fit, but not started
        ],
    )
    dry = expect(cli("batch", str(jobs), "--max-tokens", "2500", "--dry-run"))
    assert "2 over --max-tokens" in dry.stdout and "about 1,210 tokens" in dry.stdout
    expect(cli("batch", str(jobs), "--max-tokens", "2500"), 7)
    assert prompts(server) == Counter({"a": 1})


# -- memory that does not grow with the jobs -----------------------------------------------


def _plan_peak(tmp: Path, count: int) -> int:
    """tracemalloc's peak while a batch of ``count`` jobs is validated and planned, resumed
    from a results file in which every job is done."""
    folder = tmp / f"n{count}"
    folder.mkdir()
    for i in range(3):
        (folder / f"i{i}.png").write_bytes(make_png(8 + i, 8))
    with open(folder / "jobs.jsonl", "w") as fh:
        for i in range(count):
            fh.write(json.dumps({"id": f"job-{i:06d}", "images": [f"i{i % 3}.png"], "prompt": "p"}))
            fh.write("\n")
    results = folder / "jobs.results.jsonl"
    with open(results, "w") as fh:
        for i in range(count):
            record = {"id": f"job-{i:06d}", "line": i + 1, "status": "ok", "files": [], "urls": []}
            fh.write(json.dumps(record) + "\n")
    defaults = Defaults(settings=resolve(ImageOptions()))
    source = JobSource(path=folder / "jobs.jsonl", base=folder)
    tracemalloc.start()
    try:
        summary = run_batch(source, defaults, results=results, dry_run=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.skipped == count
    return peak


def test_planning_memory_does_not_grow_per_job(tmp_path: Path) -> None:
    small, large = _plan_peak(tmp_path, 2_000), _plan_peak(tmp_path, 20_000)
    per_job = (large - small) / 18_000
    # Flat arrays: about 40 bytes a job. A dict of ids, or of every previous record, costs
    # 150 bytes to 1 KiB a job.
    print(f"{per_job:.0f} bytes a job ({small} -> {large})")
    assert per_job < 80, f"{per_job:.0f} bytes a job ({small} -> {large})"


# -- collisions never change what runs -----------------------------------------------------


def _colliding(monkeypatch: pytest.MonkeyPatch, ids: set[str], every_salt: bool = False) -> None:
    real = IdTable.key

    def key(self: IdTable, job_id: str) -> int:
        if job_id in ids and (every_salt or self.salt == 0):
            return 12345
        return real(self, job_id)

    monkeypatch.setattr(IdTable, "key", key)


def test_colliding_ids_in_a_jobs_file_are_told_apart(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _colliding(monkeypatch, {"a", "b"})
    jobs = write_jobs(
        tmp_path / "j.jsonl", [{"id": "a", "prompt": "1"}, {"id": "b", "prompt": "2"}]
    )
    table = index_jobs(JobSource(path=jobs, base=tmp_path))
    assert table.salt == 1  # built again under another key
    assert (table.line_of("a"), table.line_of("b")) == (1, 2)


def test_a_results_record_of_another_id_with_the_same_key_is_never_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _colliding(monkeypatch, {"job", "gone", "other"}, every_salt=True)
    jobs = write_jobs(tmp_path / "j.jsonl", [{"id": "job", "prompt": "1"}])
    table = index_jobs(JobSource(path=jobs, base=tmp_path))
    results = tmp_path / "r.jsonl"
    # "gone" (no longer in the jobs file) shares the job's key and its ok comes first.
    results.write_text(
        json.dumps({"id": "gone", "status": "ok"})
        + "\n"
        + json.dumps({"id": "job", "status": "sent"})
        + "\n"
    )
    previous = PreviousResults(results, table)
    assert previous.get("job") == {"id": "job", "status": "sent"}  # not gone's ok
    previous.close()
    results.write_text(json.dumps({"id": "other", "status": "ok"}) + "\n")
    previous = PreviousResults(results, table)
    assert previous.get("job") is None  # sent, never skipped
    previous.close()


def test_previous_results_reads_long_lines_and_what_was_added(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path / "j.jsonl", [{"id": "a", "prompt": "1"}, {"id": "b"}])
    table = index_jobs(JobSource(path=jobs, base=tmp_path))
    results = tmp_path / "r.jsonl"
    long = {"id": "a", "status": "failed", "error": "x" * 200_000}
    results.write_text(json.dumps(long) + "\n")
    previous = PreviousResults(results, table)
    assert previous["a"]["error"] == "x" * 200_000
    assert "b" not in previous
    with open(results, "a") as fh:
        fh.write(json.dumps({"id": "b", "status": "ok"}) + "\n")
    previous.read()
    assert previous["b"]["status"] == "ok" and sorted(previous) == ["a", "b"]
    previous.close()


def test_count_lines_bounds_the_table(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"a\nb\n\nc")
    assert jobindex.count_lines(path) == 4
    assert re.fullmatch(r"\d+", str(IdTable(10).size))


def test_status_reads_a_results_file_given_and_jobs_from_stdin(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 4)
    own = tmp_path / "elsewhere.jsonl"
    expect(cli("batch", str(jobs), "--results", str(own)))
    status = json.loads(expect(cli("batch", str(jobs), "--status", "--json")).stdout)
    assert status["done"] == 0 and status["not_started"] == 4  # not found without --results
    status = json.loads(
        expect(cli("batch", str(jobs), "--status", "--json", "--results", str(own))).stdout
    )
    assert status["done"] == 4 and status["complete"] is True
    text = jobs.read_bytes()
    status = json.loads(
        expect(cli("batch", "-", "--status", "--json", "--results", str(own), input=text)).stdout
    )
    assert status["done"] == 4
