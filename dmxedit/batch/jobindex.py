"""Compact indexes over a batch's job ids, so that memory does not grow with the jobs.

A million-line jobs file, resumed from a million-line results file, must be planned in a
few tens of MiB. Python objects cost about 1 KiB a job there (a dict of every previous
record, a dict of every id seen); here each job costs one slot of a few flat arrays:

- :class:`IdTable`: an open-addressing hash table of 8-byte keys (a keyed BLAKE2b of the
  id) with the line each id was first seen on: the duplicate check.
- :class:`PreviousResults`: for each job id, where its deciding line of the results file
  starts (an offset, with a flag for ``ok``); the record itself is read back from the file
  when it is needed, and its id is compared with the job's before it is used.

Collisions never change what runs: :func:`index_jobs` compares the ids of lines whose
keys match and builds the table again with another key when two different ids collide,
so the table holds each job id of the file exactly; and :class:`PreviousResults` checks
the id of every record it hands out, falling back to reading the whole results file for
that id when the record in its slot belongs to another id (a job that is not in the jobs
file any more whose key matched). A collision costs time, never a skipped or repeated job.
"""

from __future__ import annotations

import hashlib
import json
import threading
from array import array
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmxedit.batch.jobs import entry_id
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T

if TYPE_CHECKING:
    from dmxedit.batch.jobs import JobSource

OK_BIT = 1 << 63  # in PreviousResults' offsets: the deciding line is an ``ok`` (final)
LOAD = 0.75  # the most of the table's slots in use
MAX_SUSPECTS = 10_000  # lines whose key matched an earlier line's, compared by their ids


def _is_prime(n: int) -> bool:
    if n < 4:
        return n >= 2
    if n % 2 == 0:
        return False
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


def _prime_at_least(n: int) -> int:
    while not _is_prime(n):
        n += 1
    return n


class IdTable:
    """Job ids as 8-byte keys in flat arrays (double hashing over a prime-sized table),
    each with the line it was first seen on: 12 bytes a slot, about 16 a job."""

    def __init__(self, capacity: int, salt: int = 0) -> None:
        self.size = _prime_at_least(max(11, int(capacity / LOAD) + 1))
        self.keys = array("Q", [0]) * self.size
        self.lines = array("I", [0]) * self.size
        self.count = 0
        self.salt = salt
        self._hash_key = salt.to_bytes(8, "big") if salt else b""

    def key(self, job_id: str) -> int:
        data = job_id.encode("utf-8", "surrogatepass")
        digest = hashlib.blake2b(data, digest_size=8, key=self._hash_key).digest()
        return int.from_bytes(digest, "big") or 1  # 0 marks an empty slot

    def _find(self, key: int) -> int:
        """The slot that holds ``key``, or the empty slot where it would go."""
        size, keys = self.size, self.keys
        at = key % size
        step = 1 + (key >> 20) % (size - 1)  # never 0: the size is prime
        while True:
            found = keys[at]
            if found == key or found == 0:
                return at
            at += step
            if at >= size:
                at -= size

    def slot(self, job_id: str) -> int:
        """The id's slot, or -1 when it is not in the table."""
        at = self._find(self.key(job_id))
        return at if self.keys[at] else -1

    def insert(self, job_id: str, line: int) -> int | None:
        """Add an id first seen on ``line``; the earlier line when its key is there already."""
        key = self.key(job_id)
        at = self._find(key)
        if self.keys[at]:
            return int(self.lines[at])
        if (self.count + 1) > self.size * 0.9:
            self._grow()
            at = self._find(key)
        self.keys[at] = key
        self.lines[at] = line
        self.count += 1
        return None

    def line_of(self, job_id: str) -> int | None:
        at = self.slot(job_id)
        return int(self.lines[at]) if at >= 0 else None

    def _grow(self) -> None:
        old_keys, old_lines = self.keys, self.lines
        self.size = _prime_at_least(self.size * 2 + 1)
        self.keys = array("Q", [0]) * self.size
        self.lines = array("I", [0]) * self.size
        for key, line in zip(old_keys, old_lines, strict=True):
            if key:
                at = self._find(key)
                self.keys[at] = key
                self.lines[at] = line


def count_lines(path: Path) -> int:
    """An upper bound of the non-blank lines of a file, counted in 1 MiB pieces."""
    count = 1
    with open(path, "rb") as fh:
        while piece := fh.read(1 << 20):
            count += piece.count(b"\n")
    return count


def entry_ids(source: JobSource) -> Iterator[tuple[int, str]]:
    """(line, job id) of every job of ``source``: each line once per variant."""

    variants = source.variants
    for line, obj in source.lines():
        if isinstance(obj, dict):  # other lines are reported by the validation
            for variant in range(1, variants + 1):
                yield line, entry_id(obj, variant, variants)


def index_jobs(source: JobSource) -> IdTable:
    """Every job id of ``source`` with the line it first appears on, exactly: when two
    ids' keys match, the ids are compared, and a true collision (two different ids)
    builds the table again with another key."""
    lines = len(source.objects) if source.objects is not None else count_lines(_path(source))
    for salt in range(8):
        table = IdTable(lines * source.variants, salt)
        suspects: list[tuple[int, str]] = []  # (an earlier line, the later job's id)
        for line, own in entry_ids(source):
            earlier = table.insert(own, line)
            if earlier is not None and len(suspects) < MAX_SUSPECTS:
                suspects.append((earlier, own))
        if not suspects or _same_ids(source, suspects):
            return table
    raise RuntimeError("the job ids collide under eight hash keys")  # never, in practice


def _path(source: JobSource) -> Path:
    assert source.path is not None
    return source.path


def _same_ids(source: JobSource, suspects: list[tuple[int, str]]) -> bool:
    """Whether each suspect id is one of the ids of the earlier line its key matched."""
    wanted = {line for line, _ in suspects}
    ids: dict[int, set[str]] = {}
    for line, own in entry_ids(source):
        if line in wanted:
            ids.setdefault(line, set()).add(own)
    return all(own in ids.get(line, ()) for line, own in suspects)


class PreviousResults(Mapping[str, dict[str, Any]]):
    """The deciding record of every job id in a results file (the last line of the id, or
    its ``ok``, which is final), kept as offsets into the file: a record is read back when
    it is asked for, and handed out only if its id is the one asked for."""

    def __init__(self, path: Path | None, table: IdTable) -> None:
        self.path = path
        self.table = table
        self.offsets = array("Q")
        self._end = 0  # how far the file has been read
        self._fh: Any = None
        self._lock = threading.Lock()
        self.read()

    def read(self) -> None:
        """Read what the file holds beyond what was read (all of it the first time)."""
        if self.path is None or not self.path.exists():
            return
        if not self.offsets:
            self.offsets = array("Q", [0]) * self.table.size
        table, offsets = self.table, self.offsets
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._end)
                offset = self._end
                for raw in fh:
                    start, offset = offset, offset + len(raw)
                    if not raw.endswith(b"\n"):
                        offset = start  # torn, or still being written: read again next time
                    record = parse_record(raw)
                    if record is None:
                        continue
                    at = table.slot(str(record["id"]))
                    if at < 0 or offsets[at] & OK_BIT:
                        continue  # not a job of this file; or its ok is final
                    offsets[at] = (start + 1) | (OK_BIT if record["status"] == "ok" else 0)
                self._end = offset
        except OSError as exc:
            raise InputError(
                T(
                    "Cannot read the results file {path}: {strerror}.",
                    path=self.path,
                    strerror=exc.strerror,
                )
            ) from None

    def _at(self, offset: int) -> dict[str, Any] | None:
        """The record on the line that starts at ``offset``."""
        assert self.path is not None
        if self._fh is None:
            self._fh = open(self.path, "rb")  # noqa: SIM115 - kept open for the lookups
        line = b""
        with self._lock:  # workers look up records at once (a fetch job's URLs)
            self._fh.seek(offset)
            while True:
                data = self._fh.read(1 << 16)
                end = data.find(b"\n")
                if end >= 0:
                    return parse_record(line + data[:end])
                line += data
                if not data:
                    return parse_record(line)

    def _scan(self, job_id: str) -> dict[str, Any] | None:
        """The deciding record of ``job_id``, read from the whole file (after a collision)."""
        assert self.path is not None
        found: dict[str, Any] | None = None
        with open(self.path, "rb") as fh:
            for raw in fh:
                record = parse_record(raw)
                if record is not None and str(record["id"]) == job_id:
                    if found is None or found.get("status") != "ok":
                        found = record
        return found

    def get(self, job_id: str, default: Any = None) -> Any:
        at = self.table.slot(job_id)
        if at < 0 or not self.offsets or not self.offsets[at]:
            return default
        record = self._at((self.offsets[at] & ~OK_BIT) - 1)
        if record is None or str(record["id"]) != job_id:
            record = self._scan(job_id)  # another id's record had the same key
        return default if record is None else record

    def __getitem__(self, job_id: str) -> dict[str, Any]:
        record = self.get(job_id)
        if record is None:
            raise KeyError(job_id)
        return dict(record)

    def __contains__(self, job_id: object) -> bool:
        return isinstance(job_id, str) and self.get(job_id) is not None

    def __iter__(self) -> Iterator[str]:
        if not self.offsets:
            return
        for value in self.offsets:
            if value:
                record = self._at((value & ~OK_BIT) - 1)
                if record is not None:
                    yield str(record["id"])

    def __len__(self) -> int:
        return sum(1 for value in self.offsets if value)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def parse_record(raw: bytes) -> dict[str, Any] | None:
    """A results line as a record with an id and a status, or None (torn, not a record)."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except ValueError:  # a torn line (UnicodeDecodeError is one too)
        return None
    if isinstance(record, dict) and "id" in record and "status" in record:
        return record
    return None
