"""The gemini door (issue 23, point 2): its streamed JSON body and its streamed answer.

Measures, against a sink server on 127.0.0.1 for the upload (it reads and drops the body,
then answers a tiny image: the send is measured, not a server's parsing) and the
project's fake server for the answer:
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
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

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

#: A server that reads each request body and throws it away, then answers with a tiny
#: image in the door's shape: the send is measured, not the fake server's parsing.
SINK = r"""
import base64, json, sys, zlib, struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00")) + chunk(b"IEND", b"")
data = base64.b64encode(png).decode()
GEMINI = {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png",
          "data": data}}]}, "finishReason": "STOP"}]}
IMAGES = {"data": [{"b64_json": data}]}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        left = int(self.headers.get("Content-Length") or 0)
        while left:
            got = self.rfile.read1(min(left, 1 << 20))
            if not got: return
            left -= len(got)
        body = json.dumps(GEMINI if "generateContent" in self.path else IMAGES).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
server.serve_forever()
"""


@contextmanager
def sink_server() -> Iterator[str]:
    """The sink server in a process of its own; yields its base URL."""
    proc = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _upload(args: argparse.Namespace) -> dict[str, Measure]:
    with workdir() as tmp, sink_server() as base_url:
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
