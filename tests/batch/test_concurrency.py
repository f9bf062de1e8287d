"""`--concurrency auto` (issue 13 point 7): the controller on a fake clock, and end to end
against the fake server admitting K requests at once and answering 429 beyond."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fakeserver import FakeDMX, make_png
from helpers import Cli, expect

from dmxedit.batch.concurrency import AdaptiveLimit, Limit, parse_concurrency
from dmxedit.core.errors import InputError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_job(limit: Limit, answered: bool = True) -> None:
    """Fill every place, then one job ends (``answered``) and the others fail."""
    stop = threading.Event()
    held = 0
    while limit.running < limit.limit:
        assert limit.acquire(stop)
        held += 1
    limit.release(answered)
    for _ in range(held - 1):
        limit.release(False)


def refused(limit: Limit) -> None:
    """A job whose request is answered 429, in a thread of its own."""

    def job() -> None:
        assert limit.acquire(threading.Event())
        limit.throttle()
        limit.release(False)

    in_thread(job)


def in_thread(action: Callable[[], None]) -> None:
    thread = threading.Thread(target=action)
    thread.start()
    thread.join()


def test_parse_concurrency() -> None:
    assert parse_concurrency("auto") == "auto" and parse_concurrency(" AUTO ") == "auto"
    assert parse_concurrency("8") == 8 and parse_concurrency(64) == 64
    for bad in ("0", "65", "x", "-1", "2.5"):
        with pytest.raises(InputError, match="1 to 64, or auto"):
            parse_concurrency(bad)


def test_auto_starts_at_2_and_grows_by_one_an_answer_up_to_16() -> None:
    limit = AdaptiveLimit(clock=Clock())
    assert limit.limit == 2 and limit.workers == 16
    assert limit.acquire(threading.Event())
    limit.release(True)  # one job of two places: the limit is not in full use
    assert limit.limit == 2
    run_job(limit, answered=False)  # a failure that is not a 429 changes nothing
    assert limit.limit == 2
    for expected in range(3, 17):
        run_job(limit)
        assert limit.limit == expected
    run_job(limit)
    assert limit.limit == 16


def test_a_429_halves_once_per_overload_and_sets_the_ceiling() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock, probe_every=10)
    for _ in range(6):
        run_job(limit)
    assert limit.limit == 8
    stop = threading.Event()
    started = threading.Barrier(3)
    go = threading.Event()
    done = []

    def request() -> None:  # out before the decrease, answered 429 after it
        assert limit.acquire(stop)
        started.wait()
        go.wait()
        limit.throttle()
        done.append(1)
        limit.release(False)

    workers = [threading.Thread(target=request) for _ in range(2)]
    for w in workers:
        w.start()
    started.wait()
    assert limit.running == 2
    refused(limit)
    assert limit.limit == 4 and limit.ceiling == 2  # 3 were out: the ceiling is 2
    go.set()
    for w in workers:
        w.join()
    assert limit.limit == 4 and limit.throttled == 3  # counted, but one decrease
    assert limit.ceiling == 1  # the two refused as well were not among those taken
    # A 429 to a request started after the decrease halves again.
    refused(limit)
    assert limit.limit == 2 and limit.epoch == 2


def test_regrows_fast_to_the_ceiling_then_probes_above_it_now_and_then() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock, probe_every=10)
    limit.limit, limit.ceiling = 3, 6  # as just after a 429 at time 0
    limit._probe_at = 10
    for expected in (4, 5, 6):
        run_job(limit)
        assert limit.limit == expected
    for _ in range(20):  # at the ceiling: no growth before probe_every has passed
        run_job(limit)
    assert limit.limit == 6
    clock.now = 11
    run_job(limit)
    assert limit.limit == 7 and limit.ceiling == 6
    for _ in range(20):
        run_job(limit)
    assert limit.limit == 7  # the next probe waits another probe_every
    clock.now = 21
    run_job(limit)
    assert limit.limit == 8 and limit.ceiling == 7  # 7 held for a whole window


def test_changes_are_reported() -> None:
    seen: list[tuple[int, int, str]] = []
    limit = AdaptiveLimit(clock=Clock())
    limit.on_change = lambda old, new, why: seen.append((old, new, why))
    run_job(limit)
    refused(limit)
    assert seen == [(2, 3, "answers without a 429"), (3, 1, "the API answered 429")]


def test_a_fixed_limit_never_changes_but_counts_429s() -> None:
    limit = Limit(4)
    run_job(limit)
    limit.throttle()
    assert (limit.limit, limit.throttled, limit.workers) == (4, 1, 4)


def test_acquire_gives_up_when_the_batch_stops() -> None:
    limit = Limit(1)
    stop = threading.Event()
    assert limit.acquire(stop)
    stop.set()
    assert limit.acquire(stop) is False


# -- end to end ---------------------------------------------------------------------------


def jobs_of(tmp_path: Path, count: int) -> Path:
    (tmp_path / "a.png").write_bytes(make_png(12, 8))
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"j{i}", "images": ["a.png"], "prompt": f"p{i}"}) + "\n"
            for i in range(count)
        )
    )
    return path


def test_auto_works_and_halves_after_429s(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    server.capacity, server.retry_after_ms, server.default_delay = 2, 100, 0.05
    jobs = jobs_of(tmp_path, 16)
    run = expect(cli("batch", str(jobs), "--concurrency", "auto", "--retries", "6", "--json"))
    summary = json.loads(run.stdout)
    assert summary["ok"] == 16 and summary["concurrency"] == "auto"
    assert server.throttled >= 1 and summary["throttled"] == server.throttled
    decreases = re.findall(r"concurrency (\d+) -> (\d+) \(the API answered 429\)", run.stderr)
    assert decreases, run.output
    assert all(int(new) == max(1, int(old) // 2) for old, new in decreases)
    assert len(server.posts()) == 16 + server.throttled  # each 429 resent, nothing else


def test_fixed_concurrency_counts_429s_too(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    server.capacity, server.retry_after_ms, server.default_delay = 1, 50, 0.1
    jobs = jobs_of(tmp_path, 4)
    run = expect(cli("batch", str(jobs), "--concurrency", "4", "--retries", "8", "--json"))
    summary = json.loads(run.stdout)
    assert summary["ok"] == 4 and summary["throttled"] == server.throttled >= 1
    assert summary["concurrency"] == 4


def test_bad_concurrency_is_a_usage_error(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    jobs = jobs_of(tmp_path, 1)
    expect(cli("batch", str(jobs), "--concurrency", "lots"), 2, "1 to 64, or auto")
    assert server.posts() == []


def test_edit_each_takes_auto_too(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    paths = []
    for i in range(3):
        path = tmp_path / f"e{i}.png"
        path.write_bytes(make_png(10 + i, 8))
        paths.append(str(path))
    run = expect(cli("edit", "--each", *paths, "-p", "x", "--concurrency", "auto", "--json"))
    assert json.loads(run.stdout)["concurrency"] == "auto"
    assert len(server.posts()) == 3
    expect(cli("edit", paths[0], "-p", "x", "--concurrency", "auto"), 2, "--concurrency go with")
