"""``dmxedit batch JOBS --status``: where a batch stands, from its files alone.

It reads the jobs file (the ids) and every results file that belongs to it — the default
one, each shard's, and ``--results`` — and counts each job once by its deciding record
(an ``ok`` anywhere is final; otherwise the last line, files read in that order): done,
failed (a re-run sends it again), to download (paid, a re-run downloads it), held back
(went out without a result: may have been billed, or is running now), not started. It
sends nothing and needs no key; memory stays flat (one byte a job besides the id table).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmxedit.batch.jobindex import IdTable, entry_ids, index_jobs, parse_record
from dmxedit.batch.jobs import JobSource
from dmxedit.batch.resultsfile import what_to_do
from dmxedit.batch.shards import Shard, results_file, shard_files, shard_of
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import P, T, joined

NONE, DONE, FAILED, REFETCH, HELD = range(5)
_CATEGORY = {"skip": DONE, "send": FAILED, "fetch": REFETCH, "unknown": HELD}


@dataclass
class Counts:
    total: int = 0
    done: int = 0
    failed: int = 0
    refetch: int = 0
    held_back: int = 0
    not_started: int = 0

    def add(self, state: int) -> None:
        self.total += 1
        if state == DONE:
            self.done += 1
        elif state == FAILED:
            self.failed += 1
        elif state == REFETCH:
            self.refetch += 1
        elif state == HELD:
            self.held_back += 1
        else:
            self.not_started += 1

    def to_dict(self) -> dict[str, int]:
        return {
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "refetch": self.refetch,
            "held_back": self.held_back,
            "not_started": self.not_started,
        }

    def describe(self) -> str:
        parts = [T("{count:,} done", count=self.done)]
        for count, what in (
            (self.failed, T("{count:,} failed", count=self.failed)),
            (self.refetch, T("{count:,} to download again", count=self.refetch)),
            (self.held_back, T("{count:,} held back", count=self.held_back)),
            (self.not_started, T("{count:,} not started", count=self.not_started)),
        ):
            if count:
                parts.append(what)
        return P(
            "{count:,} job: {parts}",
            "{count:,} jobs: {parts}",
            self.total,
            parts=joined(parts, ", "),
        )


@dataclass
class ShardStatus:
    shard: Shard
    counts: Counts = field(default_factory=Counts)
    results: str | None = None  # its results file, when there is one

    def to_dict(self) -> dict[str, Any]:
        return {"shard": str(self.shard), "results": self.results, **self.counts.to_dict()}


@dataclass
class BatchStatus:
    jobs: str
    counts: Counts
    results: list[str]  # the results files read, in order
    shards: list[ShardStatus]
    not_jobs: int = 0  # lines that are not job objects (the batch would refuse them)
    duplicates: int = 0  # lines whose id an earlier line has

    @property
    def complete(self) -> bool:
        return self.counts.done == self.counts.total and not (self.not_jobs or self.duplicates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs,
            **self.counts.to_dict(),
            "complete": self.complete,
            "not_jobs": self.not_jobs,
            "duplicates": self.duplicates,
            "results": self.results,
            "shards": [s.to_dict() for s in self.shards],
        }


def _read_states(ids: IdTable, files: list[Path]) -> tuple[array[int], list[str]]:
    """Each job's state by its deciding record in ``files`` (read in that order, those
    missing skipped), and the files read."""

    state = array("B", [NONE]) * ids.size
    read: list[str] = []
    for path in files:
        try:
            with open(path, "rb") as fh:
                for raw in fh:
                    record = parse_record(raw)
                    if record is None:
                        continue
                    at = ids.slot(str(record["id"]))
                    if at < 0 or state[at] == DONE:
                        continue  # not a job of this file, or already done (final)
                    state[at] = _CATEGORY[what_to_do(record, resend_unknown=False)]
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InputError(
                T(
                    "Cannot read the results file {path}: {strerror}.",
                    path=path,
                    strerror=exc.strerror,
                )
            ) from None
        read.append(str(path))
    return state, read


def status_of(
    path: Path, naming: Path, jobs: str, asked: Shard | None, results: Path | None
) -> BatchStatus:
    """Where the batch of the jobs file ``path`` stands: every results file of it (named
    after ``naming``: the default one, each shard's, ``results``), counted in total and
    for every shard of each shard count found (and of ``asked``'s)."""

    found = shard_files(naming)
    files = [results_file(naming, None)] + [p for _, p in found]
    if results is not None:
        files.append(results)
    unique: list[Path] = []
    seen: set[Path] = set()
    for file in files:
        key = file.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(file)
    sizes = {s.n for s, _ in found} | ({asked.n} if asked else set())
    by_shard = dict(found)
    shards: dict[Shard, Path | None] = {}  # every shard of each N, with its file
    for n in sorted(sizes):
        for k in range(1, n + 1):
            shards[Shard(k, n)] = by_shard.get(Shard(k, n))
    return batch_status(JobSource(path=path, base=path.parent), jobs, unique, shards)


def batch_status(
    source: Any, jobs: str, files: list[Path], shards: dict[Shard, Path | None]
) -> BatchStatus:
    """Count the jobs of ``source`` by their deciding records in ``files`` (read in that
    order), in total and for each shard in ``shards`` (with its results file, if any)."""
    ids = index_jobs(source)
    state, read = _read_states(ids, files)
    status = BatchStatus(
        jobs=jobs,
        counts=Counts(),
        results=read,
        shards=[
            ShardStatus(s, results=str(p) if p else None)
            for s, p in sorted(shards.items(), key=lambda i: (i[0].n, i[0].k))
        ],
    )
    by_shard = {(s.shard.n, s.shard.k): s.counts for s in status.shards}
    sizes = sorted({s.shard.n for s in status.shards})
    status.not_jobs = sum(1 for _, obj in source.lines() if not isinstance(obj, dict))
    for line, own in entry_ids(source):
        at = ids.slot(own)
        if ids.lines[at] != line:
            status.duplicates += 1
            continue
        status.counts.add(state[at])
        for n in sizes:
            counts = by_shard.get((n, shard_of(own, n)))
            if counts is not None:
                counts.add(state[at])
    return status
