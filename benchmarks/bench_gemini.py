"""The gemini door (issue 23, point 2): its streamed JSON body and its streamed answer.

Measures, against the project's fake server on 127.0.0.1 (which decodes the body's
base64 images as they stream in, holding none of them):
  - dmxedit edit with 14 x 40 MiB inputs on gemini-3.1-flash-image: peak RSS (limit
    80 MiB) and wall time against the same bytes as a multipart upload on the images
    door (limit 1.5x), and against a one-image gemini edit;
  - dmxedit generate receiving a 25 MB PNG as ``inlineData``: peak RSS above the same
    command receiving a tiny image (limit 1.5x the PNG).

    python benchmarks/bench_gemini.py [--count 14] [--mib 40] [--mb 25] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from _common import (
    Measure,
    MiB,
    base_env,
    best_of,
    dmxedit_command,
    fake_server,
    machine,
    measure,
    ratio,
    workdir,
    write_images,
)

FLASH = "gemini-3.1-flash-image"


def _upload(args: argparse.Namespace) -> dict[str, Measure]:
    with workdir() as tmp, fake_server() as base_url:
        big = [str(p) for p in write_images(tmp / "big", args.count, args.mib * MiB)]
        small = [str(p) for p in write_images(tmp / "small", 1, 200 * 1024)]
        env = base_env(base_url, tmp)
        out = ["-p", "make it snow", "-o", str(tmp / "out"), "-q"]
        cases = {
            "gemini, 1 x 200 KiB": [*dmxedit_command(), "edit", *small, "-m", FLASH, *out],
            f"gemini JSON, {args.count} x {args.mib} MiB": [
                *dmxedit_command(),
                "edit",
                *big,
                "-m",
                FLASH,
                *out,
            ],
            f"images multipart, {args.count} x {args.mib} MiB": [
                *dmxedit_command(),
                "edit",
                *big,
                *out,
            ],
        }
        found: dict[str, list[Measure]] = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved: a busy moment hits every command alike
            for name, cmd in cases.items():
                found[name].append(measure(cmd, env))
    return {
        name: Measure(
            statistics.median(m.wall_s for m in runs),
            max(m.peak_mib for m in runs),
            max(m.code for m in runs),
        )
        for name, runs in found.items()
    }


def _answer(args: argparse.Namespace) -> dict[str, Measure]:
    size = int(args.mb * 1_000_000)
    results: dict[str, Measure] = {}
    with workdir() as tmp:
        cmd = [*dmxedit_command(), "generate", "-p", "x", "-m", FLASH, "-q"]
        cmd += ["-o", str(tmp / "out")]
        with fake_server() as base_url:
            results["gemini answer, tiny PNG (baseline)"] = best_of(
                args.runs, cmd, base_env(base_url, tmp)
            )
        with fake_server(result_bytes=size) as base_url:
            results[f"gemini answer, {args.mb:g} MB PNG"] = best_of(
                args.runs, cmd, base_env(base_url, tmp)
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=14)
    parser.add_argument("--mib", type=int, default=40)
    parser.add_argument("--mb", type=float, default=25.0, help="size of the answer's PNG, MB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    upload = _upload(args)
    answer = _answer(args)
    print(f"machine: {machine()}")
    print(f"median of {args.runs} interleaved runs; peak RSS the largest")
    print(f"{'command':<42} {'wall s':>8} {'peak RSS MiB':>13}")
    for name, m in {**upload, **answer}.items():
        print(f"{name:<42} {m.wall_s:>8.2f} {m.peak_mib:>13.1f}")
    small, gem, multi = upload.values()
    base, big = answer.values()
    png_mib = args.mb * 1_000_000 / MiB
    above = big.peak_mib - base.peak_mib
    print()
    print(
        f"gemini body peak RSS: {gem.peak_mib:.1f} MiB (limit 80 MiB); "
        f"{gem.peak_mib - small.peak_mib:.1f} MiB above the 200 KiB edit"
    )
    print(
        f"gemini body wall time / multipart upload: {ratio(gem.wall_s, multi.wall_s)} (limit 1.5x)"
    )
    print(
        f"gemini answer peak RSS above its baseline: {above:.1f} MiB = "
        f"{above / png_mib:.2f}x the PNG (limit 1.5x)"
    )
    return 1 if any(m.code for m in [*upload.values(), *answer.values()]) else 0


if __name__ == "__main__":
    sys.exit(main())
