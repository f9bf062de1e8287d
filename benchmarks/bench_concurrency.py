"""``--concurrency auto`` (issue 13, point 7) against the fake server admitting K image
requests at once and answering 429 (with a Retry-After) beyond: throughput and 429s of
fixed concurrencies 1, 2, K and 2K beside ``auto``, in the same run.

Limits: auto's throughput within 1.2x of the best fixed concurrency, and fewer 429s than
a fixed concurrency of 2K.

    python benchmarks/bench_concurrency.py [--capacity 8] [--jobs 320] [--delay 0.25]
                                           [--retry-after-ms 500] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import ROOT, base_env, dmxedit_command, machine, workdir


@contextmanager
def server(capacity: int, delay: float, retry_after_ms: int) -> Iterator[str]:
    cmd = [sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--delay", str(delay)]
    cmd += ["--capacity", str(capacity), "--retry-after-ms", str(retry_after_ms)]
    cmd += ["--mode", "b64"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(jobs: Path, out: Path, concurrency: str, env: dict[str, str]) -> dict[str, float]:
    cmd = [*dmxedit_command(), "batch", str(jobs), "-q", "--json", "-o", str(out)]
    cmd += ["--concurrency", concurrency, "--results", str(out / "results.jsonl")]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    summary = json.loads(proc.stdout)
    return {
        "wall": wall,
        "ok": summary["ok"],
        "failed": summary["failed"],
        "throttled": summary["throttled"],
        "per_s": summary["ok"] / wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--capacity", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=320)
    parser.add_argument("--delay", type=float, default=0.25)
    parser.add_argument("--retry-after-ms", type=int, default=500)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    k = args.capacity
    print(f"machine: {machine()}")
    print(
        f"{args.jobs} generate jobs; the server takes {args.delay:g} s a request, admits {k} "
        f"at once and answers 429 (Retry-After {args.retry_after_ms} ms) beyond"
    )
    settings = ["1", "2", str(k), str(2 * k), "auto"]
    found: dict[str, list[dict[str, float]]] = {s: [] for s in settings}
    with workdir() as tmp:
        jobs = tmp / "jobs.jsonl"
        jobs.write_text(
            "".join(
                json.dumps({"id": f"g{i}", "prompt": f"a cat number {i}"}) + "\n"
                for i in range(args.jobs)
            )
        )
        for attempt in range(args.runs):
            for setting in settings:  # interleaved, so a busy moment hits all alike
                with server(k, args.delay, args.retry_after_ms) as base_url:
                    env = base_env(base_url, tmp)
                    out = tmp / f"out-{setting}-{attempt}"
                    out.mkdir()
                    found[setting].append(run(jobs, out, setting, env))
    print("\n| --concurrency | wall s | jobs/s | ok | failed | 429s |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for setting in settings:
        rows = found[setting]
        m = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        medians[setting] = m
        print(
            f"| {setting} | {m['wall']:.2f} | {m['per_s']:.1f} | {m['ok']:.0f} | "
            f"{m['failed']:.0f} | {m['throttled']:.0f} |"
        )
    fixed = [s for s in settings if s != "auto"]
    best = max(fixed, key=lambda s: medians[s]["per_s"])
    auto = medians["auto"]
    slower = medians[best]["per_s"] / auto["per_s"]
    print(
        f"\nbest fixed: {best} at {medians[best]['per_s']:.1f} jobs/s; auto "
        f"{auto['per_s']:.1f} jobs/s: the best fixed is {slower:.2f}x auto (limit 1.2x)"
    )
    print(
        f"429s: auto {auto['throttled']:.0f}, fixed {2 * k}: {medians[str(2 * k)]['throttled']:.0f}"
    )
    ok = slower <= 1.2 and auto["throttled"] < medians[str(2 * k)]["throttled"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
