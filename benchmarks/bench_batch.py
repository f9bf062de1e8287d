"""Batch (issue 5, point 6): throughput with a slow server, and memory as jobs grow.

1. 32 edit jobs against a server that takes 1 s per request, at --concurrency 8:
   the ideal is 4 s; beside it, the naive way (one request after another, as a shell
   loop around the provider's example does) in the same run.
2. Peak RSS of `dmxedit batch` for a small and a large jobs file (generate jobs against
   an instant server): it should stay flat, as the jobs file is streamed.

    python benchmarks/bench_batch.py [--jobs 32] [--concurrency 8] [--delay 1]
                                     [--small 100] [--large 10000] [--skip-naive]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import (
    KEY,
    base_env,
    dmxedit_command,
    fake_server,
    machine,
    measure,
    ratio,
    workdir,
    write_images,
)

NAIVE = """
import sys, requests
url, key, jobs = sys.argv[1], sys.argv[2], sys.argv[3:]
for path in jobs:
    with open(path, "rb") as fh:
        files = [("image", (path, fh.read(), "image/png"))]
    r = requests.post(url, headers={"Authorization": "Bearer " + key},
                      data={"prompt": "make it snow", "n": "1", "model": "nano-banana-2"},
                      files=files, timeout=600)
    r.raise_for_status()
    open(path + ".out", "wb").write(requests.get(r.json()["data"][0]["url"], timeout=60).content)
"""


def write_jobs(path: Path, lines: list[dict[str, object]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    failed = False
    print(f"machine: {machine()}")
    with workdir() as tmp:
        images = write_images(tmp / "images", args.jobs, 200 * 1024)
        jobs = write_jobs(
            tmp / "jobs.jsonl",
            [
                {"id": f"j{i}", "images": [str(p)], "prompt": "make it snow"}
                for i, p in enumerate(images)
            ],
        )
        with fake_server(delay=args.delay) as base_url:
            env = base_env(base_url, tmp)
            cmd = [*dmxedit_command(), "batch", str(jobs), "-o", str(tmp / "out"), "-q"]
            cmd += ["--concurrency", str(args.concurrency)]
            dmx = measure(cmd, env)
            failed |= dmx.code != 0
            ideal = args.jobs / args.concurrency * args.delay
            print(
                f"\n{args.jobs} jobs x {args.delay:g} s at --concurrency {args.concurrency}: "
                f"{dmx.wall_s:.2f} s, ideal {ideal:.2f} s -> {ratio(dmx.wall_s, ideal)} of ideal"
                " (limit 1.25x)"
            )
            if not args.skip_naive:
                naive_cmd = [sys.executable, "-c", NAIVE, base_url + "/images/edits", KEY]
                naive = measure([*naive_cmd, *map(str, images)], env)
                failed |= naive.code != 0
                print(
                    f"naive sequential loop: {naive.wall_s:.2f} s -> dmxedit takes "
                    f"{ratio(dmx.wall_s, naive.wall_s)} of its time"
                )
        with fake_server(mode="b64") as base_url:
            env = base_env(base_url, tmp)
            print(
                f"\npeak RSS of dmxedit batch (generate jobs, instant server, "
                f"{args.concurrency} workers):"
            )
            figures = {}
            for count in (args.small, args.large):
                path = write_jobs(
                    tmp / f"gen{count}.jsonl",
                    [{"id": f"g{i}", "prompt": f"a cat number {i}"} for i in range(count)],
                )
                out = tmp / f"gen{count}"
                cmd = [*dmxedit_command(), "batch", str(path), "-o", str(out), "-q"]
                cmd += ["--concurrency", str(args.concurrency)]
                m = measure(cmd, env)
                failed |= m.code != 0
                figures[count] = m
                print(f"  {count:>6} jobs: {m.peak_mib:6.1f} MiB, {m.wall_s:6.1f} s")
            small, large = figures[args.small], figures[args.large]
            print(
                f"  growth: {large.peak_mib - small.peak_mib:+.1f} MiB for "
                f"{args.large - args.small} more jobs ({ratio(large.peak_mib, small.peak_mib)})"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
