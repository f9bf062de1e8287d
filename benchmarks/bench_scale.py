"""Batch at scale on one machine (issue 13, point 6): a 1,000,000-line jobs file validated
and planned, and resumed from a 1,000,000-line results file, within 80 MiB peak RSS and in
time linear in the file.

The jobs are edits of a handful of images referenced many times, each with its own id.
Figures (peak RSS from wait4, wall time) for:

1. ``batch --dry-run`` on 1,000 (the baseline), 100,000 and 1,000,000 fresh jobs;
2. the same with a results file in which every job is done (``--dry-run``: the plan);
3. the real run on that (resumed: nothing to send; the key is needed, no request goes out).

    python benchmarks/bench_scale.py [--large 1000000] [--medium 100000] [--small 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import base_env, dmxedit_command, machine, measure, ratio, workdir, write_images


def write_files(folder: Path, count: int, images: list[Path]) -> tuple[Path, Path]:
    """``jobs.jsonl`` with ``count`` jobs and ``done.results.jsonl`` with each one ok, with
    the fields final lines carry (the job as written, the prompt, the images...)."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = folder / "jobs.jsonl"
    results = folder / "done.results.jsonl"
    with open(jobs, "w") as jf, open(results, "w") as rf:
        for i in range(count):
            job = {
                "id": f"job-{i:07d}",
                "images": [str(images[i % len(images)])],
                "prompt": f"put product {i} on a white background",
            }
            jf.write(json.dumps(job) + "\n")
            rf.write(json.dumps({"id": job["id"], "line": i + 1, "status": "sent"}) + "\n")
            record = {
                "id": job["id"],
                "line": i + 1,
                "status": "ok",
                "files": [f"/out/edited_20261201_000000_{i}.png"],
                "urls": [f"https://cdn.example/files/{i:07d}.png"],
                "error": None,
                "exit_code": 0,
                "elapsed_s": 21.5,
                "job": job,
                "prompt": job["prompt"],
                "images": job["images"],
                "model": "nano-banana-2",
                "ratio": None,
                "size": "1K",
                "usage": None,
            }
            rf.write(json.dumps(record) + "\n")
    return jobs, results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--medium", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--limit-mib", type=float, default=80.0)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    failed = False
    with workdir() as tmp:
        images = write_images(tmp / "images", 5, 200 * 1024)
        env = base_env("http://127.0.0.1:9/v1", tmp)  # nothing may be sent: a dead port
        figures = {}
        for count in (args.small, args.medium, args.large):
            jobs, done = write_files(tmp / f"n{count}", count, images)
            mib = (jobs.stat().st_size + done.stat().st_size) / 2**20
            base = [*dmxedit_command(), "batch", str(jobs), "-q", "-o", str(tmp / "out")]
            fresh = measure([*base, "--dry-run", "--results", str(tmp / "none.jsonl")], env)
            plan = measure([*base, "--dry-run", "--results", str(done)], env)
            resume = measure([*base, "--results", str(done)], env)
            figures[count] = (fresh, plan, resume)
            failed |= any(m.code != 0 for m in (fresh, plan, resume))
            print(
                f"\n{count:>9,} jobs ({mib:,.0f} MiB of jobs and results):\n"
                f"  fresh --dry-run:    {fresh.peak_mib:6.1f} MiB  {fresh.wall_s:7.2f} s "
                f"({fresh.wall_s / count * 1e6:5.1f} us a line)\n"
                f"  resumed --dry-run:  {plan.peak_mib:6.1f} MiB  {plan.wall_s:7.2f} s "
                f"({plan.wall_s / count * 1e6:5.1f} us a line)\n"
                f"  resumed run:        {resume.peak_mib:6.1f} MiB  {resume.wall_s:7.2f} s"
            )
        small, medium, large = (figures[n] for n in (args.small, args.medium, args.large))
        print("\npeak RSS against the 1,000-job baseline:")
        for name, i in (("fresh --dry-run", 0), ("resumed --dry-run", 1), ("resumed run", 2)):
            peak, floor = large[i].peak_mib, small[i].peak_mib
            print(
                f"  {name:18} {peak:6.1f} MiB = {ratio(peak, floor)} of {floor:.1f} MiB "
                f"(limit {args.limit_mib:g} MiB)"
            )
            failed |= large[i].peak_mib > args.limit_mib
        print(f"time per line, {args.large:,} vs {args.medium:,} lines (1.00x = linear):")
        for name, i in (("fresh --dry-run", 0), ("resumed --dry-run", 1), ("resumed run", 2)):
            per_large = large[i].wall_s / args.large
            per_medium = medium[i].wall_s / args.medium
            print(f"  {name:18} {ratio(per_large, per_medium)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
