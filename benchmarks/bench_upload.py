"""Upload: 16 x 40 MiB images in one edit (issue 3, points 1 and 2).

Measures, in one run against the project's fake server on 127.0.0.1:
  - dmxedit edit (streamed multipart body)
  - the provider's example, naively: requests with files= (reads every image into memory)
  - curl -F, the reference for a streamed upload
and dmxedit with one 200 KiB image, for the memory-growth check.

    python benchmarks/bench_upload.py [--count 16] [--mib 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from _common import (
    KEY,
    Measure,
    MiB,
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
url, key, *paths = sys.argv[1:]
files = [("image", (p, open(p, "rb").read(), "image/png")) for p in paths]
data = {"prompt": "make it snow", "n": "1", "model": "nano-banana-2"}
r = requests.post(url, headers={"Authorization": "Bearer " + key}, data=data, files=files,
                  timeout=600)
r.raise_for_status()
print(r.json()["data"][0]["url"])
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--mib", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    payload = args.count * args.mib * MiB
    with workdir() as tmp, fake_server() as base_url:
        big = write_images(tmp / "big", args.count, args.mib * MiB)
        small = write_images(tmp / "small", 1, 200 * 1024)
        env = base_env(base_url, tmp)
        url = base_url + "/images/edits"
        out = tmp / "out"

        def dmx(paths: list[Path]) -> list[str]:
            files = [str(p) for p in paths]
            return [*dmxedit_command(), "edit", *files, "-p", "make it snow", "-o", str(out), "-q"]

        curl = ["curl", "-sS", "-o", "/dev/null", "--fail", "-H", f"Authorization: Bearer {KEY}"]
        curl += ["-F", "prompt=make it snow", "-F", "n=1", "-F", "model=nano-banana-2"]
        curl += [arg for p in big for arg in ("-F", f"image=@{p};type=image/png")]
        curl.append(url)

        no_ledger = {**env, "DMXEDIT_NO_HISTORY": "1"}
        cases = {
            "dmxedit, 1 x 200 KiB": dmx(small),
            f"dmxedit, {args.count} x {args.mib} MiB": dmx(big),
            f"dmxedit, ledger off, {args.count} x {args.mib} MiB": (dmx(big), no_ledger),
            f"naive requests files=, {args.count} x {args.mib} MiB": [
                sys.executable,
                "-c",
                NAIVE,
                url,
                KEY,
                *map(str, big),
            ],
            f"curl -F, {args.count} x {args.mib} MiB": curl,
            "python -c 'import requests'": [sys.executable, "-c", "import requests"],
        }
        # Interleaved runs: a busy moment on the machine hits every command alike.
        found: dict[str, list[Measure]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, case in cases.items():
                cmd, case_env = case if isinstance(case, tuple) else (case, env)
                found[name].append(measure(cmd, case_env))
        results = {
            name: Measure(
                statistics.median(m.wall_s for m in runs),
                max(m.peak_mib for m in runs),
                max(m.code for m in runs),
            )
            for name, runs in found.items()
        }
    print(f"machine: {machine()}")
    print(
        f"payload: {args.count} x {args.mib} MiB = {payload / MiB:.0f} MiB, "
        f"median of {args.runs} interleaved runs"
    )
    print(f"{'command':<42} {'wall s':>8} {'peak RSS MiB':>13} {'MiB/s':>8}")
    for name, m in results.items():
        if "MiB" not in name and "KiB" not in name:
            print(f"{name:<42} {m.wall_s:>8.2f} {m.peak_mib:>13.1f}")
            continue
        rate = payload / MiB / m.wall_s if "200 KiB" not in name else 0.2 / 1024 / m.wall_s
        print(f"{name:<42} {m.wall_s:>8.2f} {m.peak_mib:>13.1f} {rate:>8.0f}")
    small_m, dmx_m, off_m, naive_m, curl_m, imports_m = results.values()
    floor = curl_m.wall_s + imports_m.wall_s  # curl's transfer plus importing requests
    print()
    print(f"dmxedit peak RSS: {dmx_m.peak_mib:.1f} MiB (limit 80 MiB)")
    print(
        f"dmxedit peak RSS above the 200 KiB edit: {dmx_m.peak_mib - small_m.peak_mib:.1f} MiB"
        " (limit 10 MiB)"
    )
    print(f"dmxedit peak RSS / naive requests: {ratio(dmx_m.peak_mib, naive_m.peak_mib)}")
    print(f"dmxedit peak RSS / curl: {ratio(dmx_m.peak_mib, curl_m.peak_mib)}")
    print(f"dmxedit wall time / curl: {ratio(dmx_m.wall_s, curl_m.wall_s)} (limit 1.5x)")
    print(f"naive requests wall time / curl: {ratio(naive_m.wall_s, curl_m.wall_s)}")
    print(f"dmxedit wall time, ledger on / ledger off: {ratio(dmx_m.wall_s, off_m.wall_s)}")
    print(
        f"dmxedit wall time / the floor (curl + importing requests, {floor:.2f} s): "
        f"ledger on {ratio(dmx_m.wall_s, floor)} (limit 1.3x), "
        f"ledger off {ratio(off_m.wall_s, floor)}"
    )
    return 1 if any(m.code for m in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
