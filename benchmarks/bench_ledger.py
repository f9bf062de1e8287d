"""Ledger: what writing the SQLite ledger costs per request ("at most 5 ms per request").

Each simulated request goes through a record as ``pipeline.execute`` drives it, with no
network: ``begin`` (a real edit ``ImageRequest`` with one small PNG), ``sent``,
``answered`` (one URL and the input's SHA-256, as a send with the ledger on carries;
that makes the ledger read the entry back) and ``saved`` (an ``ImageResult`` with one
small real file, whose SHA-256 the ledger computes). Each is a committed SQLite write.
The baseline is the no-op ``records.Record`` run the same way in the same process;
then the same with several threads sharing one ``Ledger``, as batch workers do.

The database is in a temporary folder (``DMXEDIT_DATA_DIR`` points there, never the
user's data folder); ``--dir`` puts that folder on another file system. Exits 1 if a
mean exceeds the limit.

    python benchmarks/bench_ledger.py [--requests 200] [--threads 4] [--limit-ms 5]
                                      [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _common import machine

from dmxedit.api.client import Answer, AnswerItem
from dmxedit.api.request import ImageRequest, build_request
from dmxedit.core.settings import Settings
from dmxedit.engine.records import LedgerRecord, Record
from dmxedit.engine.result import ImageResult
from dmxedit.media.images import load_images
from dmxedit.store.ledger import ENV_DATA_DIR, Ledger, ledger_path
from dmxedit.store.results import Blob

WARMUP = 10


@dataclass
class Run:
    per_request_ms: list[float]
    wall_s: float

    @property
    def mean(self) -> float:
        return statistics.fmean(self.per_request_ms)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.per_request_ms, n=20, method="inclusive")[18]

    @property
    def max(self) -> float:
        return max(self.per_request_ms)

    def over(self, limit_ms: float) -> int:
        return sum(ms > limit_ms for ms in self.per_request_ms)

    @property
    def wall_per_request_ms(self) -> float:
        return self.wall_s * 1000 / len(self.per_request_ms)


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG (as the fake server's ``make_png``)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress((b"\x00" + bytes(x % 256 for x in range(width * 3))) * height, 1)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def simulate(
    make_record: Callable[[int], Record],
    request: ImageRequest,
    answer: Answer[Blob],
    result: ImageResult,
    first: int,
    count: int,
    out: list[float],
) -> None:
    """``count`` requests through fresh records: begin, sent, answered, saved."""
    for i in range(first, first + count):
        record = make_record(i)
        started = time.perf_counter()
        record.begin(request)
        record.sent()
        record.answered(answer)
        record.saved(result)
        out.append((time.perf_counter() - started) * 1000)


def run(
    make_record: Callable[[int], Record],
    request: ImageRequest,
    answer: Answer[Blob],
    result: ImageResult,
    requests: int,
    threads: int,
) -> Run:
    """``requests`` requests split over ``threads`` threads (1: in this thread)."""
    simulate(make_record, request, answer, result, -WARMUP, WARMUP, [])
    shares = [requests // threads + (1 if t < requests % threads else 0) for t in range(threads)]
    outs: list[list[float]] = [[] for _ in range(threads)]
    starts = [sum(shares[:t]) for t in range(threads)]
    started = time.perf_counter()
    if threads == 1:
        simulate(make_record, request, answer, result, 0, requests, outs[0])
    else:
        gate = threading.Barrier(threads)

        def worker(t: int) -> None:
            gate.wait()
            simulate(make_record, request, answer, result, starts[t], shares[t], outs[t])

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    wall = time.perf_counter() - started
    return Run([ms for out in outs for ms in out], wall)


def file_system(path: Path) -> str:
    """The type of the file system holding ``path`` (from /proc/mounts), if known."""
    best, kind = "", "unknown"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and (target + "/").startswith(parts[1].rstrip("/") + "/"):
            if len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    return kind


def sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--limit-ms", type=float, default=5.0)
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary folder goes")
    args = parser.parse_args()
    if args.requests < args.threads or args.threads < 2:
        parser.error("--threads must be at least 2 and at most --requests")
    with tempfile.TemporaryDirectory(prefix="dmxedit-bench-", dir=args.dir) as name:
        tmp = Path(name)
        os.environ[ENV_DATA_DIR] = str(tmp / "data")
        image = tmp / "input.png"
        image.write_bytes(png(64, 48))
        saved_file = tmp / "output" / "edited-1.png"
        saved_file.parent.mkdir()
        saved_file.write_bytes(png(64, 48))
        settings = Settings(base_url="http://127.0.0.1:9/v1")
        request = build_request("edit", settings, prompt="x", images=load_images([str(image)]))
        answer: Answer[Blob] = Answer(
            items=[AnswerItem(url="https://x/y.png")],
            status=200,
            input_sha256=[hashlib.sha256(image.read_bytes()).hexdigest()],
        )
        result = ImageResult(
            files=[saved_file],
            urls=["https://x/y.png"],
            model=request.model,
            prompt=request.prompt,
            aspect_ratio=request.ratio,
            size=request.size,
            response_format=request.response_format,
            elapsed_s=0.0,
        )
        path = ledger_path()
        assert path.is_relative_to(tmp), path
        book = Ledger(path)
        output = str(saved_file.parent.resolve())
        try:

            def noop(i: int) -> Record:
                return Record()

            def kept(i: int) -> Record:
                return LedgerRecord(book, output=output)

            def kept_job(i: int) -> Record:
                return LedgerRecord(book, output=output, job_id=f"job-{i}")

            n, t = args.requests, args.threads
            results = {
                "no-op Record (baseline), 1 thread": run(noop, request, answer, result, n, 1),
                "LedgerRecord, 1 thread": run(kept, request, answer, result, n, 1),
                f"no-op Record (baseline), {t} threads": run(noop, request, answer, result, n, t),
                f"LedgerRecord, {t} threads, one Ledger": run(
                    kept_job, request, answer, result, n, t
                ),
            }
            entries = book.query(limit=None)
        finally:
            book.close()
        db_bytes = path.stat().st_size
        fs = file_system(path)
    expected = 2 * (n + WARMUP)
    wrong = [e.id for e in entries if e.status != "saved" or not e.files or not e.inputs]
    print(f"machine: {machine()}, SQLite {sqlite_version()}")
    print(
        f"{n} requests of begin + sent + answered + saved; database on {fs}, WAL,"
        f" synchronous=NORMAL; {len(entries)} entries, {db_bytes / 1024:.0f} KiB at the end"
    )
    print(
        f"{'record':<40} {'mean ms':>8} {'p95 ms':>8} {'max ms':>8}"
        f" {'> ' + format(args.limit_ms, 'g') + ' ms':>7} {'wall ms/request':>16}"
    )
    for label, r in results.items():
        print(
            f"{label:<40} {r.mean:>8.3f} {r.p95:>8.3f} {r.max:>8.3f}"
            f" {r.over(args.limit_ms):>7} {r.wall_per_request_ms:>16.3f}"
        )
    base1, one, base_t, many = results.values()
    print()
    failed = False
    for label, r, base in (("1 thread", one, base1), (f"{t} threads", many, base_t)):
        ok = r.mean <= args.limit_ms
        failed = failed or not ok
        print(
            f"ledger, {label}: mean {r.mean:.3f} ms, p95 {r.p95:.3f} ms per request"
            f" = {r.mean / base.mean:.0f}x the no-op Record's mean ({base.mean * 1000:.1f} us);"
            f" {r.mean - base.mean:.3f} ms added = {r.mean / args.limit_ms:.2f}x the"
            f" {args.limit_ms:g} ms limit: {'ok' if ok else 'OVER THE LIMIT'}"
        )
    print(
        f"ledger, {t} threads: {many.wall_per_request_ms:.3f} ms of wall time per request"
        f" (throughput {1000 / many.wall_per_request_ms:.0f} requests/s)"
    )
    if len(entries) != expected or wrong:
        print(f"error: {len(entries)} entries (expected {expected}); not saved: {wrong[:5]}")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
