"""`dmxedit batch` and `edit --each`, end to end (issue 5; generate jobs from issue 6).

Jobs carry unique prompts so the server's log says which job each request was.
"""

from __future__ import annotations

import json
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fakeserver import EDITS, GENERATIONS, PNG_BYTES, FakeDMX, Recorded, Reply, make_png
from helpers import (
    Cli,
    close_pipes,
    expect,
    fifteen_images,
    jobs_file,
    read_records,
    run_in_process,
    start,
    wait_until,
)

from dmxedit.batch import jobs as batch_module

pytestmark = pytest.mark.e2e

ok = expect
_start = start
_when = wait_until
_close = close_pipes


def write_jobs(path: Path, jobs: list[dict[str, Any] | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [job if isinstance(job, str) else json.dumps(job) for job in jobs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def final(path: Path) -> dict[str, dict[str, Any]]:
    """The last finished record of each job id."""
    last: dict[str, dict[str, Any]] = {}
    for record in results(path):
        if record["status"] in ("ok", "failed"):
            last[record["id"]] = record
    return last


def prompts(server: FakeDMX) -> Counter[str]:
    found: Counter[str] = Counter()
    for post in server.posts():
        if not post.complete:  # cut off during the upload: never billed
            continue
        found[post.fields["prompt"] if post.parts else post.json["prompt"]] += 1
    return found


def images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img{i}.png"
        path.write_bytes(make_png(16 + i, 12, filler=i))
        paths.append(path)
    return paths


def edit_jobs(tmp: Path, count: int) -> Path:
    paths = images(tmp / "jobs" / "in", count)
    return write_jobs(
        tmp / "jobs" / "jobs.jsonl",
        [
            {"id": f"j{i}", "images": [f"in/{p.name}"], "prompt": f"job-{i}"}
            for i, p in enumerate(paths)
        ],
    )


# -- 1. one engine, two doors ----------------------------------------------------------------


def test_batch_runs_every_job_and_writes_the_results_file(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 3)
    run = ok(cli("batch", str(jobs)))
    assert prompts(server) == Counter({"job-0": 1, "job-1": 1, "job-2": 1})
    out = final(tmp_path / "jobs" / "jobs.results.jsonl")
    assert set(out) == {"j0", "j1", "j2"}
    for record in out.values():
        assert record["status"] == "ok" and record["exit_code"] == 0 and record["error"] is None
        assert set(record) >= {"id", "status", "files", "urls", "error", "exit_code", "elapsed_s"}
        (file,) = record["files"]
        assert (tmp_path / file).read_bytes() == PNG_BYTES
        assert record["urls"][0].startswith(server.origin)
    # stdout as an edit prints them; the results file absolute (it is read from anywhere)
    printed = sorted(str(tmp_path / line) for line in run.stdout.split())
    assert printed == sorted(r["files"][0] for r in out.values())
    # Images are sent from the paths relative to the jobs file, with sniffed types.
    sent = {p.fields["prompt"]: p.images[0] for p in server.posts()}
    assert sent["job-1"].data == (tmp_path / "jobs" / "in" / "img1.png").read_bytes()
    assert sent["job-1"].content_type == "image/png"


def test_edit_each_is_one_job_per_image(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    paths = images(tmp_path / "many", 3)
    log = tmp_path / "each.jsonl"
    run = ok(cli("edit", "--each", *map(str, paths), "-p", "same", "--results", str(log)))
    assert len(server.posts()) == 3
    assert all(p.fields["prompt"] == "same" and len(p.images) == 1 for p in server.posts())
    assert {p.images[0].data for p in server.posts()} == {p.read_bytes() for p in paths}
    assert len(run.stdout.split()) == 3
    assert len(final(log)) == 3
    # Resumable like a batch: the same command again sends nothing.
    ok(cli("edit", "--each", *map(str, paths), "-p", "same", "--results", str(log)))
    assert len(server.posts()) == 3


def test_jobs_from_standard_input(cli: Cli, server: FakeDMX, png: Path) -> None:
    text = json.dumps({"images": [str(png)], "prompt": "from stdin"}) + "\n"
    ok(cli("batch", "-", input=text.encode()))
    assert prompts(server) == Counter({"from stdin": 1})


def test_jobs_take_options_as_defaults_and_override_them(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (a, b) = images(tmp_path / "in", 2)
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"images": [str(a)], "prompt": "defaults"},
            {
                "images": [str(b)],
                "prompt": "own",
                "ratio": "16:9",
                "size": "1k",
                "model": "other-model",
                "output": "elsewhere",
                "params": {"quality": "high"},
            },
        ],
    )
    ok(cli("batch", str(jobs), "--ratio", "5:4", "--size", "4K"))
    fields = {p.fields["prompt"]: p.fields for p in server.posts()}
    assert (fields["defaults"]["aspect_ratio"], fields["defaults"]["size"]) == ("5:4", "4K")
    assert fields["defaults"]["model"] == "nano-banana-2"
    own = fields["own"]
    assert (own["aspect_ratio"], own["size"], own["model"]) == ("16:9", "1K", "other-model")
    assert own["quality"] == "high"
    assert len(list((tmp_path / "elsewhere").glob("edited_*.png"))) == 1


def test_a_job_without_images_is_a_generate_job(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    (a,) = images(tmp_path / "in", 1)
    jobs = write_jobs(
        tmp_path / "mixed.jsonl",
        [
            {"images": [str(a)], "prompt": "edit me"},
            {"prompt": "draw me", "ratio": "1:1", "params": {"seed": 3}},
        ],
    )
    ok(cli("batch", str(jobs)))
    (gen,) = server.posts(GENERATIONS)
    assert gen.json == {
        "model": "nano-banana-2",
        "prompt": "draw me",
        "n": 1,
        "aspect_ratio": "1:1",
        "response_format": "url",
        "seed": 3,
    }
    assert len(server.posts(EDITS)) == 1
    names = sorted(p.name.split("_")[0] for p in (tmp_path / "output").glob("*.png"))
    assert names == ["edited", "generated"]


# -- 2. validation before anything is sent ----------------------------------------------------


def test_invalid_lines_are_named_and_nothing_is_sent(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (a,) = images(tmp_path / "in", 1)
    jobs = write_jobs(
        tmp_path / "bad.jsonl",
        [
            {"images": [str(a)], "prompt": "fine", "id": "one"},
            "",
            "{not json",
            {"images": [str(a)], "prompt": "fine too"},
            {"images": [str(a)]},
            {"images": ["missing.png"], "prompt": "x"},
            {"images": [str(a)], "prompt": "x", "ratio": "7:3"},
            {"images": [str(a)], "prompt": "x", "size": "3K"},
            {"images": [str(a)], "prompt": "dup", "id": "one"},
            "[1, 2]",
        ],
    )
    run = ok(cli("batch", str(jobs)), 2)
    for line in (3, 5, 6, 7, 8, 9, 10):
        assert f"line {line}:" in run.stderr, run.output
    for line in (1, 2, 4):
        assert f"line {line}:" not in run.stderr
    assert "missing.png" in run.stderr and "7:3" in run.stderr and "'one'" in run.stderr
    assert server.requests == []
    assert (
        not (tmp_path / "bad.results.jsonl").exists()
        or results(tmp_path / "bad.results.jsonl") == []
    )


def test_empty_or_missing_jobs_file_is_exit_2(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    empty = write_jobs(tmp_path / "empty.jsonl", [""])
    ok(cli("batch", str(empty)), 2)
    ok(cli("batch", str(tmp_path / "nope.jsonl")), 2)
    ok(cli("batch", str(empty), "-o", "-"), 2)
    assert server.requests == []


# -- 3. concurrency, shared backoff, results file ----------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_concurrency_default_is_4_and_the_option_is_honoured(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    server.default_delay = 0.2
    jobs = edit_jobs(tmp_path, 8)
    ok(cli("batch", str(jobs)))
    assert server.max_active == 4
    server.max_active = 0
    ok(cli("batch", str(jobs), "--results", str(tmp_path / "again.jsonl"), "--concurrency", "2"))
    assert server.max_active == 2
    assert len(server.posts()) == 16


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_429_pauses_every_worker(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    server.default_delay = 0.15
    limited: list[Recorded] = []
    lock = threading.Lock()

    def hook(recorded: Recorded) -> Reply | None:
        if recorded.method == "POST" and recorded.fields.get("prompt") == "job-4":
            with lock:
                if not limited:
                    limited.append(recorded)
                    return Reply(status=429, headers={"Retry-After": "0.9"})
        return None

    server.on_request = hook
    jobs = edit_jobs(tmp_path, 12)
    ok(cli("batch", str(jobs), "--concurrency", "4"))
    assert prompts(server)["job-4"] == 2  # retried after the pause
    assert sum(prompts(server).values()) == 13
    answered = limited[0].finished
    # No request starts while the pause runs: not just the worker that got the 429.
    # (0.3 s of slack for the client to read the 429 and set the pause on a busy machine)
    during = [p for p in server.posts() if answered + 0.3 < p.started < answered + 0.8]
    assert during == [], [(p.fields["prompt"], p.started - answered) for p in during]
    assert all(
        r["status"] == "ok" for r in final(tmp_path / "jobs" / "jobs.results.jsonl").values()
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_each_finished_job_is_on_disk_while_the_batch_runs(server: FakeDMX, tmp_path: Path) -> None:
    server.default_delay = 0.15
    jobs = edit_jobs(tmp_path, 6)
    log = tmp_path / "jobs" / "jobs.results.jsonl"
    proc = _start(server, tmp_path, "batch", str(jobs), "--concurrency", "1")
    try:
        _when(lambda: log.exists() and len(final(log)) >= 2)
        assert proc.poll() is None  # still running, yet two results are readable
    finally:
        proc.wait(timeout=30)
        _close(proc)
    assert len(final(log)) == 6


# -- 4. resume: no finished result is paid for twice ------------------------------------------


def test_failed_jobs_are_retried_on_the_next_run_and_ok_ones_skipped(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 4)
    server.on_request = lambda r: (
        Reply(status=400, json={"error": {"message": "refused job"}})
        if r.fields.get("prompt") == "job-2"
        else None
    )
    run = ok(cli("batch", str(jobs)), 7)
    assert "refused job" in run.stderr and "j2" in run.stderr
    log = tmp_path / "jobs" / "jobs.results.jsonl"
    assert final(log)["j2"]["status"] == "failed" and final(log)["j2"]["exit_code"] == 4
    server.on_request = None
    ok(cli("batch", str(jobs)))
    assert prompts(server) == Counter({"job-0": 1, "job-1": 1, "job-2": 2, "job-3": 1})
    assert all(r["status"] == "ok" for r in final(log).values())
    ok(cli("batch", str(jobs)))  # and a third run has nothing left to do
    assert len(server.posts()) == 5


def test_a_failed_download_is_fetched_again_without_a_new_generation(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 1)
    url = server.add_file("keep.png", PNG_BYTES)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/keep.png", *[Reply(status=500)] * 4)
    run = ok(cli("batch", str(jobs)), 7)
    assert run.stdout.strip() == url and url in run.stderr  # the paid result is not lost
    log = tmp_path / "jobs" / "jobs.results.jsonl"
    assert final(log)["j0"]["exit_code"] == 6 and final(log)["j0"]["urls"] == [url]
    ok(cli("batch", str(jobs)))
    assert len(server.posts()) == 1  # no second generation
    assert final(log)["j0"]["status"] == "ok"
    assert (tmp_path / final(log)["j0"]["files"][0]).read_bytes() == PNG_BYTES


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_batch_resumes_without_paying_twice(
    cli: Cli, server: FakeDMX, tmp_path: Path, sig: int
) -> None:
    server.default_delay = 0.2
    jobs = edit_jobs(tmp_path, 10)
    log = tmp_path / "jobs" / "jobs.results.jsonl"
    proc = _start(server, tmp_path, "batch", str(jobs), "--concurrency", "2")
    _when(lambda: log.exists() and len(final(log)) >= 3)
    proc.send_signal(sig)
    code = proc.wait(timeout=10)
    _close(proc)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
    done_before = {i for i, r in final(log).items() if r["status"] == "ok"}
    # Cut off after sending, with no answer: held back. Answered but not saved: fetched.
    answered = {r["id"] for r in results(log) if r["status"] == "answered"} - set(final(log))
    cut_off = {r["id"] for r in results(log) if r["status"] == "sent"} - set(final(log)) - answered
    posts_before = prompts(server)
    assert len(done_before) >= 3
    # Every finished job's image is on disk, whole.
    for record in final(log).values():
        assert (tmp_path / record["files"][0]).read_bytes() == PNG_BYTES
    # Re-run: finished jobs are skipped; jobs cut off after sending are not resent
    # (they may have been billed) and make the run exit 7 until the user decides.
    run = cli("batch", str(jobs), "--concurrency", "2")
    assert run.code == (7 if cut_off else 0), run.output
    assert ("--resend-unknown" in run.stderr) == bool(cut_off)
    for job in done_before:
        assert prompts(server)[f"job-{job[1:]}"] == 1
    for job in cut_off | answered:
        assert prompts(server)[f"job-{job[1:]}"] == posts_before[f"job-{job[1:]}"]
    ok(cli("batch", str(jobs), "--resend-unknown"))
    assert set(final(log)) == {f"j{i}" for i in range(10)}
    assert all(r["status"] == "ok" for r in final(log).values())
    for job in done_before:
        assert prompts(server)[f"job-{job[1:]}"] == 1
    assert all(prompts(server)[f"job-{i}"] >= 1 for i in range(10))
    assert list((tmp_path / "output").glob(".dmxedit-*")) == []


# -- 5. the plan, dry runs, the summary -------------------------------------------------------


def test_plan_shows_jobs_and_tokens_and_dry_run_stops_there(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = write_jobs(
        tmp_path / "plan.jsonl",
        [{"prompt": "a", "size": "4K"}, {"prompt": "b", "size": "4K"}, {"prompt": "c"}],
    )
    run = ok(cli("batch", str(jobs), "--dry-run"))
    assert server.requests == []
    assert "3 jobs" in run.stdout and "5,210 tokens" in run.stdout  # 2000 + 2000 + 1210
    run = ok(cli("batch", str(jobs), "--size", "2K"))
    assert "3 jobs" in run.stderr and "5,210" in run.stderr
    assert "\x1b" not in run.stderr and "\r" not in run.stderr  # plain lines off a terminal


def test_json_summary(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    jobs = edit_jobs(tmp_path, 3)
    server.on_request = lambda r: Reply(status=400) if r.fields.get("prompt") == "job-1" else None
    run = ok(cli("batch", str(jobs), "--json"), 7)
    summary = json.loads(run.stdout)
    assert (summary["total"], summary["ok"], summary["failed"]) == (3, 2, 1)
    assert summary["results"].endswith("jobs.results.jsonl")
    assert summary["error"]["exit_code"] == 7
    server.on_request = None
    summary = json.loads(ok(cli("batch", str(jobs), "--json")).stdout)
    assert (summary["ok"], summary["skipped"], summary["failed"]) == (1, 2, 0)


# -- 6. exit codes and a mix of failures ------------------------------------------------------


def test_mixed_failures_are_each_recorded_with_their_exit_code(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = edit_jobs(tmp_path, 4)
    dead = server.add_file("dead.png", PNG_BYTES)
    server.script("/files/dead.png", *[Reply(status=500)] * 4)

    def hook(recorded: Recorded) -> Reply | None:
        prompt = recorded.fields.get("prompt")
        if prompt == "job-0":
            return Reply(status=400, json={"error": {"message": "bad job"}})
        if prompt == "job-1":
            return Reply(status=500, json={"error": {"message": "server fell over"}})
        if prompt == "job-2":
            return Reply(json={"data": [{"url": dead}]})
        return None

    server.on_request = hook
    run = ok(cli("batch", str(jobs)), 7)
    out = final(tmp_path / "jobs" / "jobs.results.jsonl")
    assert {i: r["exit_code"] for i, r in out.items()} == {"j0": 4, "j1": 5, "j2": 6, "j3": 0}
    assert "bad job" in out["j0"]["error"] and "server fell over" in out["j1"]["error"]
    assert out["j2"]["urls"] == [dead] and out["j3"]["status"] == "ok"
    for phrase in ("bad job", "server fell over", "3 of 4"):
        assert phrase in run.stderr, run.output
    assert len(server.posts()) == 4  # nothing resent on its own


# -- streaming: a big jobs file is never held in memory -----------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_10000_line_jobs_file_is_planned_without_sending(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = write_jobs(tmp_path / "big.jsonl", [{"prompt": f"cat {i}"} for i in range(10_000)])
    run = ok(cli("batch", str(jobs), "--dry-run"))
    assert "10,000 jobs" in run.stdout and "12,100,000 tokens" in run.stdout
    assert server.requests == []


def test_the_jobs_file_is_read_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from dmxedit.batch import jobs as batch

    jobs = write_jobs(
        tmp_path / "big.jsonl", [{"prompt": "x" * 900 + str(i)} for i in range(10_000)]
    )
    consumed = [0]

    class Counting(io.FileIO):
        def readinto(self, buffer: Any) -> int | None:
            n = super().readinto(buffer)
            consumed[0] += n or 0
            return n

    def counting_open(path: Any, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(Counting(path))

    monkeypatch.setattr(batch, "open", counting_open, raising=False)
    lines = batch.JobSource(path=jobs, base=tmp_path).lines()
    first = next(lines)
    assert first[0] == 1
    size = jobs.stat().st_size
    assert size > 9_000_000
    assert consumed[0] < 100_000  # the first job came from the first few KiB
    count = 1 + sum(1 for _ in lines)
    assert count == 10_000 and consumed[0] == size


_jobs = jobs_file


def test_batch_without_a_key_creates_no_folder(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, 1)
    run = run_in_process(["batch", str(jobs), "-o", str(tmp_path / "made")])
    assert run.code == 3, run.output
    assert not (tmp_path / "made").exists()


def test_each_batch_job_is_built_once(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    real = batch_module.load_images  # type: ignore[attr-defined]

    def counting(args: list[str], *rest: Any, **given: Any) -> Any:
        calls.append(args)
        return real(args, *rest, **given)

    monkeypatch.setattr(batch_module, "load_images", counting)
    expect(cli("batch", str(_jobs(tmp_path, 3))))
    assert len(calls) == 3


def test_a_bug_inside_a_batch_job_is_exit_1_not_a_failed_job(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dmxedit.engine import pipeline

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pipeline, "execute", broken)
    jobs = _jobs(tmp_path, 2)
    run = cli("batch", str(jobs), "--concurrency", "1")
    assert run.code == 1, run.output
    assert "ZeroDivisionError" in run.stderr and "bug" in run.stderr
    assert "Traceback" not in run.stderr
    failed = [
        r for r in read_records(jobs.with_name("jobs.results.jsonl")) if r["status"] == "failed"
    ]
    assert failed and failed[0]["exit_code"] == 1
    debug = cli("batch", str(jobs), env={"DMXEDIT_DEBUG": "1"})
    assert debug.code == 1 and "Traceback" in debug.stderr


def test_more_than_14_images_is_warned_about_in_a_batch(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "many.jsonl"
    jobs.write_text(json.dumps({"images": fifteen_images(tmp_path), "prompt": "x"}) + "\n")
    run = expect(cli("batch", str(jobs)))
    assert "15 images" in run.stderr and "says 14" in run.stderr


@pytest.mark.e2e
def test_a_batch_off_a_terminal_prints_progress_every_10_percent(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(20)))
    run = expect(cli("batch", str(jobs), "--concurrency", "1"))
    status = [line for line in run.stderr.splitlines() if line.startswith("dmxedit: done ")]
    assert len(status) == 10, run.stderr
    assert "20 jobs; sending 20" in run.stderr


@pytest.mark.e2e
def test_one_job_is_one_job(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    jobs = tmp_path / "one.jsonl"
    jobs.write_text(json.dumps({"prompt": "p"}) + "\n")
    assert "1 job; sending 1" in expect(cli("batch", str(jobs))).stderr


@pytest.mark.e2e
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
