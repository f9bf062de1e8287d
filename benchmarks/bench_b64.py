"""Receive: a b64_json answer carrying a 25 MB PNG (issue 3, point 3).

dmxedit decodes the base64 while the answer streams in; the naive way (requests'
``.json()`` then ``b64decode``) holds the body, the parsed string and the image at once.
The figure that matters is peak RSS above the same command receiving a tiny image
(the interpreter with dmxedit's imports: its own baseline).

    python benchmarks/bench_b64.py [--mb 25] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys

from _common import KEY, Measure, base_env, best_of, dmxedit_command, fake_server, machine, workdir

NAIVE = """
import base64, sys, requests
url, key, out = sys.argv[1:]
r = requests.post(url, headers={"Authorization": "Bearer " + key},
                  json={"model": "nano-banana-2", "prompt": "x", "n": 1,
                        "response_format": "b64_json"}, timeout=600)
r.raise_for_status()
with open(out, "wb") as fh:
    fh.write(base64.b64decode(r.json()["data"][0]["b64_json"]))
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=25.0, help="size of the result PNG, in MB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = int(args.mb * 1_000_000)
    results: dict[str, Measure] = {}
    with workdir() as tmp:
        cmd = [*dmxedit_command(), "generate", "-p", "x", "--format", "b64_json", "-q"]
        cmd += ["-o", str(tmp / "out")]
        with fake_server(mode="b64") as base_url:
            env = base_env(base_url, tmp)
            results["dmxedit, tiny image (baseline)"] = best_of(args.runs, cmd, env)
            results["python -c pass"] = best_of(args.runs, [sys.executable, "-c", "pass"], env)
        with fake_server(mode="b64", result_bytes=size) as base_url:
            env = base_env(base_url, tmp)
            results[f"dmxedit, {args.mb:g} MB PNG"] = best_of(args.runs, cmd, env)
            naive = [sys.executable, "-c", NAIVE, base_url + "/images/generations", KEY]
            naive.append(str(tmp / "naive.png"))
            results[f"naive requests .json(), {args.mb:g} MB PNG"] = best_of(args.runs, naive, env)
    print(f"machine: {machine()}")
    print(f"answer: a {size / 1e6:g} MB PNG as b64_json (~{size * 4 / 3 / 1e6:.0f} MB of JSON)")
    print(f"{'command':<40} {'wall s':>8} {'peak RSS MiB':>13}")
    for name, m in results.items():
        print(f"{name:<40} {m.wall_s:>8.2f} {m.peak_mib:>13.1f}")
    base, interp, dmx, naive_m = results.values()
    png_mib = size / 1024 / 1024
    above = dmx.peak_mib - base.peak_mib
    print()
    print(
        f"dmxedit peak RSS above its baseline: {above:.1f} MiB = {above / png_mib:.2f}x the PNG"
        " (limit 1.5x)"
    )
    print(
        f"dmxedit peak RSS above python -c pass: {dmx.peak_mib - interp.peak_mib:.1f} MiB"
        f" = {(dmx.peak_mib - interp.peak_mib) / png_mib:.2f}x the PNG"
    )
    naive_above = naive_m.peak_mib - interp.peak_mib
    print(
        f"naive peak RSS above python -c pass: {naive_above:.1f} MiB = "
        f"{naive_above / png_mib:.2f}x the PNG"
    )
    return 1 if any(m.code for m in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
