"""Many edits: a jobs file (JSON Lines) or ``--each``, run concurrently and resumable.

Every job is checked before the first request. Jobs run on worker threads that share
one pause (a 429 holds them all), each through the same :func:`dmxedit.core.execute`
path as a single edit. Each finished job appends one flushed line to the results file;
a job's request is marked ``sent`` there just before its last byte goes out, so a
batch killed at any moment can be re-run without paying twice: jobs already ``ok`` are
skipped, and jobs cut off after their request went out are not resent unless asked.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import queue
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .catalog import tokens_for
from .concurrency import AdaptiveLimit, Concurrency, Limit
from .errors import BatchError, DmxError, ExitCode, InputError, Interrupted, counted
from .events import Events
from .images import InputImage, load_images
from .jobindex import IdTable, PreviousResults, index_jobs
from .names import Naming
from .options import ImageOptions
from .pipeline import Record
from .prepare import check_max_side
from .request import ImageRequest, build_request
from .results import Saver
from .settings import Settings
from .shards import Shard
from .temporaries import Temporaries

if TYPE_CHECKING:
    from .client import Answer, Client
    from .ledger import Ledger
    from .results import Blob

JOB_KEYS = {
    "id",
    "images",
    "prompt",
    "ratio",
    "size",
    "model",
    "format",
    "output",
    "params",
    "name",
}
JOB_KEYS.add("max_side")  # SPEC 9: downscale this job's inputs (overrides --max-side)
MAX_REPORTED = 20
MAX_KEPT_ERRORS = 1000  # messages kept for --json's "invalid" (all are counted)
# O_BINARY (Windows only): without it, os.write turns each "\n" into "\r\n".
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)


@dataclass
class Defaults:
    """What a job leaves out: the command's options, then config, then defaults."""

    settings: Settings
    options: ImageOptions = field(default_factory=ImageOptions)
    prompt: str | None = None


@dataclass
class Job:
    line: int
    id: str
    request: ImageRequest
    output: Path
    naming: Naming | None = None
    obj: dict[str, Any] | None = None  # the job as its line wrote it
    jobs_file: str | None = None  # the jobs file's absolute path (None: stdin, --each)
    variant: int | None = None  # 1..N with --variants N

    def fields(self) -> dict[str, Any]:
        """What a results line says of the job besides its outcome."""
        request = self.request
        out: dict[str, Any] = {
            "job": self.obj,
            "jobs_file": self.jobs_file,
            "prompt": request.prompt,
            "images": [
                str(img.path.resolve()) if img.path else img.display for img in request.images
            ],
            "model": request.model,
            "ratio": request.ratio,
            "size": request.size,
        }
        if self.variant is not None:
            out["variant"] = self.variant
        return out


@dataclass
class BatchSummary:
    total: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    to_send: int = 0
    to_fetch: int = 0
    held_back: int = 0  # ended this run without a result and may have been billed
    retry: int = 0  # failed in a way a re-run sends again
    refetch: int = 0  # paid results a re-run downloads again
    estimated_tokens: int = 0
    estimated_cny: float | None = None  # with a system token and known prices (SPEC 8)
    results: str | None = None
    elapsed_s: float = 0.0
    dry_run: bool = False
    jobs: list[dict[str, Any]] | None = None  # each job's inputs and outcome (--each)
    over_budget: int = 0  # not started: they would pass --max-tokens (no results line)
    max_tokens: int | None = None
    shard: str | None = None  # "K/N" with --shard
    jobs_in_file: int = 0  # every job of the file (all shards)
    concurrency: Concurrency = 4
    throttled: int = 0  # 429 answers seen

    def to_dict(self) -> dict[str, Any]:
        out = self._counts()
        if self.jobs is not None:
            out["jobs"] = sorted(self.jobs, key=lambda j: (j["line"], j.get("variant") or 0))
        return out

    def _counts(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "unknown": self.unknown,
            "to_send": self.to_send,
            "to_fetch": self.to_fetch,
            "held_back": self.held_back,
            "retry": self.retry,
            "refetch": self.refetch,
            "estimated_tokens": self.estimated_tokens,
            "estimated_cny": self.estimated_cny,
            "results": self.results,
            "elapsed_s": self.elapsed_s,
            "dry_run": self.dry_run,
            "over_budget": self.over_budget,
            "max_tokens": self.max_tokens,
            "shard": self.shard,
            "jobs_in_file": self.jobs_in_file,
            "concurrency": self.concurrency,
            "throttled": self.throttled,
        }

    def count(self, record: Mapping[str, Any]) -> None:
        """Count a job's final record, and what a re-run will do with it."""
        if record["status"] == "ok":
            self.ok += 1
            return
        self.failed += 1
        todo = _what_to_do(record, resend_unknown=False)
        if todo == "fetch":
            self.refetch += 1
        elif todo == "unknown":
            self.held_back += 1
        else:
            self.retry += 1

    def next_run(self) -> str:
        """What running the same command again will do, exactly."""
        held = self.unknown + self.held_back
        parts = []
        if self.retry:
            parts.append(f"send {counted(self.retry, 'job')} that failed or did not start")
        if self.over_budget:
            parts.append(
                f"send the {counted(self.over_budget, 'job')} left out by --max-tokens (a new "
                "budget for each run)"
            )
        if self.refetch:
            parts.append(
                f"download {counted(self.refetch, 'paid result')} without generating "
                + ("it" if self.refetch == 1 else "them")
                + " again"
            )
        if held:
            parts.append(
                f"hold back {counted(held, 'job')} that may have been billed (--resend-unknown "
                "sends them)"
            )
        if not parts:
            return "A re-run will skip every finished job."
        return "A re-run skips finished jobs and will " + ", ".join(parts) + "."

    def next_run_unrecorded(self, ledger: bool = True) -> str:
        """What running the same command again will do when no results file was kept
        (`edit --each` or `--variants` without --results): everything again. ``ledger``:
        the ledger kept the paid results not saved (`dmxedit recover` fetches them)."""
        said = (
            "No results file was kept, so running the same command again sends every job "
            "again, the finished ones too (--results FILE makes it resumable)."
        )
        if self.refetch and ledger:
            said += " `dmxedit recover` downloads the paid results that were not saved."
        return said


class BatchEvents:
    """Callbacks of a batch (no-ops); the CLI shows them as one live display."""

    def plan(self, summary: BatchSummary) -> None:
        """Jobs counted and checked; ``summary`` has totals and the token estimate."""

    def job_started(self, job_id: str) -> None: ...

    def job_finished(self, record: Mapping[str, Any]) -> None: ...

    def warn(self, message: str) -> None: ...

    def note(self, message: str) -> None:
        """A change made to a job's input (converted for upload)."""

    def concurrency_changed(self, old: int, new: int, why: str) -> None:
        """``--concurrency auto`` changed the number of jobs at once."""


def job_id(obj: Mapping[str, Any]) -> str:
    """A job's own ``id``, or a stable hash of its fields."""
    own = obj.get("id")
    if own is not None:
        return str(own)
    canonical = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def entry_id(obj: Mapping[str, Any], variant: int = 1, variants: int = 1) -> str:
    """The id of one job of a line: the line's own id, with ``-vN`` under --variants."""
    return job_id(obj) if variants == 1 else f"{job_id(obj)}-v{variant}"


def job_report(job: Job) -> dict[str, Any]:
    """What identifies a job in a summary: its place, id and inputs."""
    out: dict[str, Any] = {
        "line": job.line,
        "id": job.id,
        "inputs": [i.display for i in job.request.images],
    }
    if job.variant is not None:
        out["variant"] = job.variant
    return out


def _check_fields(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError("a job must be a JSON object")
    unknown = sorted(set(obj) - JOB_KEYS)
    if unknown:
        raise InputError(
            f"unknown {'key' if len(unknown) == 1 else 'keys'} {', '.join(unknown)}; known: "
            f"{', '.join(sorted(JOB_KEYS))}"
        )
    if "id" in obj and not isinstance(obj["id"], (str, int)) or obj.get("id") == "":
        raise InputError("id must be a non-empty text or a number")
    for key in ("prompt", "ratio", "size", "model", "format", "output", "name"):
        if key in obj and not isinstance(obj[key], str):
            raise InputError(f"{key} must be a text")
    images = obj.get("images")
    if images is not None and (
        not isinstance(images, list) or not all(isinstance(i, str) for i in images)
    ):
        raise InputError("images must be a list of paths")
    params = obj.get("params")
    if params is not None and (
        not isinstance(params, dict)
        or not all(isinstance(v, (str, int, float, bool)) for v in params.values())
    ):
        raise InputError("params must be an object of texts, numbers or booleans")
    return obj


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ImageChecks:
    """Each list of images checked once, however many jobs name it (the last 1,024 lists
    are kept): a million jobs over a handful of images read a handful of files."""

    def __init__(self, keep: int = 1024) -> None:
        self.keep = keep
        self._checked: OrderedDict[
            tuple[tuple[str, ...], int | None], list[InputImage] | InputError
        ] = OrderedDict()

    def load(self, args: list[str], max_side: int | None = None) -> list[InputImage]:
        key = (tuple(args), max_side)
        found = self._checked.get(key)
        if found is None:
            try:
                found = load_images(args, max_side=max_side)
            except InputError as exc:
                found = exc
            self._checked[key] = found
            if len(self._checked) > self.keep:
                self._checked.popitem(last=False)
        else:
            self._checked.move_to_end(key)
        if isinstance(found, InputError):
            raise found.with_traceback(None)  # a traceback would grow with every raise
        return found


def build_job(
    obj: Any,
    line: int,
    base: Path,
    defaults: Defaults,
    *,
    variant: int = 1,
    variants: int = 1,
    jobs_file: str | None = None,
    checks: ImageChecks | None = None,
) -> Job:
    """Check one job against the defaults; raises InputError (without the line number).
    With ``variants`` > 1 it is variant ``variant`` of that many copies of the job;
    ``checks`` checks each list of images once."""
    obj = _check_fields(obj)
    image_args = [
        str(base / p) if not os.path.isabs(p) and p != "-" else p for p in obj.get("images") or []
    ]
    if "-" in image_args:
        raise InputError("a job's image cannot be '-' (standard input)")
    if obj.get("images") == []:
        raise InputError("images is empty; leave it out for a generate job")
    max_side = check_max_side(obj.get("max_side", defaults.options.max_side))
    if not image_args:
        images = []
    elif checks is not None:
        images = checks.load(image_args, max_side)
    else:
        images = load_images(image_args, max_side=max_side)
    params = list(defaults.options.params)
    params += [f"{k}={_param_text(v)}" for k, v in (obj.get("params") or {}).items()]
    settings = defaults.settings.overridden(
        {key: obj.get(name) for name, key in _JOB_SETTINGS.items()}, "job"
    )
    request = build_request(
        "edit" if images else "generate",
        settings,
        prompt=obj.get("prompt", defaults.prompt),
        params=params,
        images=images,
    )
    if "output" in obj:
        output = Path(obj["output"]).expanduser()
        output = output if output.is_absolute() else base / output
    else:
        output = Path(settings.output).expanduser()
    own_id = entry_id(obj, variant, variants)
    template = obj.get("name", defaults.options.name)
    naming = Naming.make(
        request.prefix,
        template,
        inputs=[img.display for img in images],
        ratio=request.ratio,
        size=request.size,
        model=request.model,
        job_id=own_id,
        variant=variant,
        variants=variants,
        id_in_default=True,  # which job made a file shows in its default name
    )
    naming.check()
    return Job(
        line=line,
        id=own_id,
        request=request,
        output=output,
        naming=naming,
        obj=obj,
        jobs_file=jobs_file,
        variant=variant if variants > 1 else None,
    )


#: A job's keys that are settings, with the setting each stands for.
_JOB_SETTINGS = {"model": "model", "ratio": "ratio", "size": "size", "format": "format"}


@dataclass
class JobSource:
    """Where jobs come from: a JSON Lines file, read line by line (never all at once)."""

    path: Path | None = None  # a jobs file
    objects: list[dict[str, Any]] | None = None  # --each: jobs made on the command line
    base: Path = field(default_factory=Path.cwd)
    variants: int = 1  # --variants N: each job N times, saved as N files
    stdin: bool = False  # the jobs file is a copy of standard input

    @property
    def jobs_file(self) -> str | None:
        """The jobs file's absolute path, for results lines (None: stdin, --each)."""
        if self.path is None or self.stdin:
            return None
        return str(self.path.resolve())

    def entries(self) -> Iterator[tuple[int, Any, int]]:
        """(line number, parsed object or an InputError, variant) for every job: each
        line ``variants`` times."""
        for line, obj in self.lines():
            for variant in range(1, self.variants + 1):
                yield line, obj, variant

    def lines(self) -> Iterator[tuple[int, Any]]:
        """(line number, parsed object or an InputError) for every non-blank line."""
        if self.objects is not None:
            yield from enumerate(self.objects, start=1)
            return
        assert self.path is not None
        with open(self.path, "rb") as fh:
            for number, data in enumerate(fh, start=1):
                if number == 1 and data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]  # a UTF-8 BOM (Windows editors write one)
                try:
                    raw = data.decode("utf-8")
                except UnicodeDecodeError:
                    yield number, InputError("not UTF-8 text (save the jobs file as UTF-8)")
                    continue
                if not raw.strip():
                    continue
                try:
                    yield number, json.loads(raw)
                except ValueError as exc:
                    yield number, InputError(f"not valid JSON ({exc.args[0] if exc.args else exc})")


def spool_stdin(stream: IO[bytes]) -> Path:
    """Copy jobs from standard input to a temporary file so they can be read twice."""
    fd, name = tempfile.mkstemp(prefix="dmxedit-jobs-", suffix=".jsonl")
    with os.fdopen(fd, "wb") as fh:
        shutil.copyfileobj(stream, fh)
    return Path(name)


class ResultsLock:
    """An exclusive lock on ``path`` that the OS drops when its process dies; the file is
    removed when the lock is released, so none is left beside a results file.

    On POSIX it is ``flock`` on the file, and the holder unlinks the file while it still
    holds the lock. A second batch that opened the file before that unlink may get its
    flock just after, on a file no longer at ``path``: so after each flock the path's
    file is compared with the one locked (device and inode), and on a difference the
    lock is taken again on the file now there. Whoever holds the lock on the file at
    ``path`` is the one holder; anyone else is refused. Elsewhere (Windows, or a file
    system without flock) ``filelock`` does it (on Windows it removes the file too).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._fallback: Any = None

    def acquire(self) -> bool:
        """Take the lock at once; False when another process holds it."""
        try:
            import fcntl
        except ImportError:  # Windows
            return self._acquire_fallback()
        for _ in range(100):  # each round means another batch just released the file
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    return False
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    return self._acquire_fallback()  # a file system without flock
                raise
            if self._is_at_path(fd):
                self._fd = fd
                return True
            os.close(fd)  # unlinked (and perhaps made again) since it was opened
        return False

    def _is_at_path(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _acquire_fallback(self) -> bool:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return False
        self._fallback = lock
        return True

    def release(self) -> None:
        if self._fallback is not None:
            self._fallback.release()
            self._fallback = None
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            if self._is_at_path(fd):  # never another's file (if someone removed ours)
                self.path.unlink()  # still holding the lock: see the class's words
        except OSError:
            pass
        finally:
            os.close(fd)  # and with it the lock


class ResultsLog:
    """The results file: one JSON line per event, each written whole in one write and
    synced; read back ignoring a torn last line (even one cut inside a character)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = -1
        self._file_lock: Any = None

    def lock(self) -> None:
        """One batch at a time per results file; released when this process dies, and
        its lock file (``<results>.lock``) removed when the batch ends."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = ResultsLock(Path(str(self.path.resolve()) + ".lock"))  # one lock per file
        if not lock.acquire():
            raise InputError(
                f"Another dmxedit batch is writing {self.path} right now.",
                hint="Wait for it to finish, or give this run its own --results file.",
            )
        self._file_lock = lock

    def previous(self) -> dict[str, dict[str, Any]]:
        """The last record of every job id already in the file."""
        last: dict[str, dict[str, Any]] = {}
        if self.path is None or not self.path.exists():
            return last
        try:
            with open(self.path, "rb") as fh:
                for raw in fh:
                    try:
                        record = json.loads(raw.decode("utf-8"))
                    except ValueError:  # a torn line (UnicodeDecodeError is one too)
                        continue
                    if isinstance(record, dict) and "id" in record and "status" in record:
                        previous = last.get(str(record["id"]))
                        # an ok is final: a later marker never hides a saved result
                        if previous is None or previous.get("status") != "ok":
                            last[str(record["id"])] = record
        except OSError as exc:
            raise InputError(f"Cannot read the results file {self.path}: {exc.strerror}.") from None
        return last

    def open(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, _APPEND_FLAGS, 0o666)
            size = os.fstat(self._fd).st_size
            if size:
                with open(self.path, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":  # a torn last line: start on a line of our own
                        self._write(b"\n")
        except OSError as exc:
            raise InputError(
                f"Cannot write the results file {self.path}: {exc.strerror or exc}."
            ) from None

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def append(self, record: Mapping[str, Any]) -> None:
        if self._fd < 0:
            return
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self._write(line)  # the whole line and its newline in one write
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None


class _Spool:
    """The checked jobs still to run, pickled to a temporary file as they are checked,
    so each job is built (its images read) once and memory does not grow with the file."""

    def __init__(self) -> None:
        self._fh: IO[bytes] = tempfile.TemporaryFile(prefix="dmxedit-jobs-")
        self.count = 0

    def add(self, job: Job, todo: str) -> None:
        pickle.dump((job, todo), self._fh, protocol=pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def __iter__(self) -> Iterator[tuple[Job, str]]:
        self._fh.seek(0)
        for _ in range(self.count):
            yield pickle.load(self._fh)

    def close(self) -> None:
        self._fh.close()


@dataclass
class _Plan:
    spool: _Spool
    total: int = 0
    to_send: int = 0
    to_fetch: int = 0
    skipped: int = 0
    unknown: int = 0
    tokens: int = 0
    shapes: dict[tuple[str, str | None], int] = field(default_factory=dict)  # (model, size)
    outputs: set[Path] = field(default_factory=set)
    jobs: list[dict[str, Any]] | None = None
    elsewhere: int = 0  # jobs of other shards (checked all the same)
    over_budget: int = 0  # would pass --max-tokens: not started


def _what_to_do(record: Mapping[str, Any] | None, resend_unknown: bool) -> str:
    """send, skip (already ok), unknown (may have been billed) or fetch (download only)."""
    if record is None:
        return "send"
    status = record.get("status")
    if status == "ok":
        return "skip"
    if record.get("urls") and (
        status == "answered" or record.get("exit_code") in (ExitCode.NOT_SAVED, 130)
    ):
        return "fetch"  # paid and answered: download again, never generate again
    if status in ("sent", "answered") or record.get("may_be_billed"):
        if record.get("billed") is False:
            return "send"  # the billing check found no charge for it (SPEC 8)
        return "send" if resend_unknown else "unknown"
    if record.get("exit_code") == ExitCode.NOT_SAVED:
        # Generated (paid) but nothing to download again: a b64 result that could not be
        # saved, or one kept in the rescue folder. Never generated again on its own.
        return "send" if resend_unknown else "unknown"
    return "send"


def _validate(
    source: JobSource,
    defaults: Defaults,
    previous: Mapping[str, Mapping[str, Any]],
    resend_unknown: bool,
    *,
    ids: IdTable | None = None,
    shard: Shard | None = None,
    max_tokens: int | None = None,
    spool: bool = True,
) -> _Plan:
    """Check every line (of every shard); plan this shard's jobs. Memory stays flat: ids
    live in ``ids`` (built here when not given), images are checked once per list, the
    jobs to run go to a spool on disk, and at most MAX_KEPT_ERRORS messages are kept."""
    plan = _Plan(spool=_Spool(), jobs=[] if source.objects is not None else None)
    errors: list[str] = []
    error_count = 0
    ids = index_jobs(source) if ids is None else ids
    checks = ImageChecks()
    budget_spent = False
    jobs_file = source.jobs_file  # resolved once, not once a job
    for line, obj, variant in source.entries():
        plan.total += 1
        where = f"line {line}" if source.objects is None else f"image {line}"
        try:
            if isinstance(obj, InputError):
                raise obj
            job = build_job(
                obj,
                line,
                source.base,
                defaults,
                variant=variant,
                variants=source.variants,
                jobs_file=jobs_file,
                checks=checks,
            )
        except InputError as exc:
            if variant == 1:  # the other variants of the line say the same
                error_count += 1
            if variant == 1 and len(errors) < MAX_KEPT_ERRORS:
                errors.append(f"{where}: {exc.message}")
            continue
        first = ids.line_of(job.id)
        if first is not None and first != line:
            own = isinstance(obj, dict) and "id" in obj
            error_count += 1
            if len(errors) < MAX_KEPT_ERRORS:
                errors.append(
                    f"line {line}: id {job.id!r} is already used on line {first}"
                    if own
                    else f"line {line}: the same job as line {first} (give each an id to run both)"
                )
            continue
        if shard is not None and not shard.owns(job.id):
            plan.elsewhere += 1
            continue
        todo = _what_to_do(previous.get(job.id), resend_unknown)
        if todo == "send" and max_tokens is not None:
            budget_spent = budget_spent or plan.tokens + tokens_for(job.request.size) > max_tokens
            if budget_spent:  # stop starting jobs once the next would pass the budget
                plan.over_budget += 1
                continue
        if todo in ("skip", "unknown") and plan.jobs is not None:
            before = previous.get(job.id) or {}
            plan.jobs.append(
                {
                    **job_report(job),
                    "status": "skipped" if todo == "skip" else "held back",
                    "files": list(before.get("files") or []),
                    "urls": list(before.get("urls") or []),
                }
            )
        if todo == "skip":
            plan.skipped += 1
        elif todo == "unknown":
            plan.unknown += 1
        else:
            if todo == "send":
                plan.to_send += 1
                plan.tokens += tokens_for(job.request.size)
                shape = (job.request.model, job.request.size)
                plan.shapes[shape] = plan.shapes.get(shape, 0) + 1
            else:
                plan.to_fetch += 1
            plan.outputs.add(job.output)
            if not errors and spool:
                plan.spool.add(job, todo)
    if plan.total == 0:
        errors.append("no jobs (the file is empty)")
        error_count += 1
    if errors:
        plan.spool.close()
        shown = errors[:MAX_REPORTED]
        more = f"\n... and {error_count - MAX_REPORTED} more" if error_count > MAX_REPORTED else ""
        each = source.objects is not None
        raise InputError(
            ("Some images cannot be edited" if each else "The jobs are invalid")
            + "; nothing was sent.\n"
            + "\n".join(shown)
            + more,
            hint=None
            if each
            else "Each line is a JSON object: images (list), prompt, and optionally id, ratio, "
            "size, model, format, output, params, name.",
            details={"invalid": errors},
        )
    return plan


class _JobRecord(Record):
    """A job's progress in the results file: ``sent`` just before its last byte goes out."""

    def __init__(
        self,
        log: ResultsLog,
        job: Job,
        on_urls: Callable[[Job, list[str]], None] | None = None,
    ) -> None:
        self.log = log
        self.job = job
        self.on_urls = on_urls
        self.begun_at: float | None = None  # before the upload (the billing check's window)
        self.sent_at: float | None = None

    def sent(self) -> None:
        self.sent_at = time.time()
        self.log.append(
            {
                "id": self.job.id,
                "line": self.job.line,
                "status": "sent",
                "sent_at": round(self.sent_at, 3),  # where a billing check looks (SPEC 8)
            }
        )

    def answered(self, answer: Answer[Blob]) -> None:
        urls = [item.url for item in answer.items if item.url]
        self.log.append(
            {"id": self.job.id, "line": self.job.line, "status": "answered", "urls": urls}
        )
        if self.on_urls is not None:
            self.on_urls(self.job, urls)


class _JobEvents(Events):
    """A job's own warnings reach the batch's display, naming the job."""

    def __init__(self, events: BatchEvents, job: Job) -> None:
        self.events = events
        self.job = job

    def warn(self, message: str) -> None:
        self.events.warn(f"job {self.job.id} (line {self.job.line}): {message}")

    def note(self, message: str) -> None:
        self.events.note(f"job {self.job.id} (line {self.job.line}): {message}")


def run_batch(
    source: JobSource,
    defaults: Defaults,
    *,
    results: Path | None,
    concurrency: Concurrency = 4,
    dry_run: bool = False,
    resend_unknown: bool = False,
    events: BatchEvents | None = None,
    temporaries: Temporaries | None = None,
    make_client: Callable[[Events], Client] | None = None,
    shard: Shard | None = None,
    max_tokens: int | None = None,
) -> BatchSummary:
    """Run every job that still needs running; raises BatchError when some failed.

    ``concurrency``: jobs at once, or ``"auto"`` (:mod:`dmxedit.concurrency`). ``shard``:
    run only the jobs of that shard (every line is still checked). ``max_tokens``: stop
    starting jobs once the estimated tokens of the jobs sent would pass it; those left out
    get no results line, so a re-run sends them (BatchError, exit 7).

    The first KeyboardInterrupt (Ctrl-C, SIGTERM) stops starting jobs and lets the running
    ones finish and save; a second abandons them (their URLs are already recorded).
    Either way the run ends with :class:`Interrupted`.
    """
    from . import ledger, pipeline
    from .retry import Pacer

    events = events or BatchEvents()
    temporaries = Temporaries() if temporaries is None else temporaries
    if max_tokens is not None and max_tokens < 0:
        raise InputError(f"--max-tokens {max_tokens} is below 0.")
    log = ResultsLog(results)
    if not dry_run:
        log.lock()
    book: Ledger | None = None
    previous: PreviousResults | None = None
    try:
        ids = index_jobs(source)
        previous = PreviousResults(results, ids)
        plan = _validate(
            source,
            defaults,
            previous,
            resend_unknown,
            ids=ids,
            shard=shard,
            max_tokens=max_tokens,
            spool=not dry_run,
        )
        summary = BatchSummary(
            total=plan.total - plan.elsewhere,
            jobs_in_file=plan.total,
            shard=str(shard) if shard else None,
            over_budget=plan.over_budget,
            max_tokens=max_tokens,
            concurrency=concurrency,
            skipped=plan.skipped,
            unknown=plan.unknown,
            to_send=plan.to_send,
            to_fetch=plan.to_fetch,
            estimated_tokens=plan.tokens,
            results=str(results) if results else None,
            dry_run=dry_run,
            jobs=plan.jobs,
        )
        try:
            if plan.unknown:
                check = (
                    "`--reconcile` checks DMXAPI's billing log for them, "
                    if defaults.settings.has_account
                    else ""
                )
                events.warn(
                    f"{counted(plan.unknown, 'job')} went out last time without a result and may "
                    f"have been billed; they are not sent again ({check}use --resend-unknown to "
                    "send them)."
                )
            if plan.shapes and defaults.settings.has_account:
                summary.estimated_cny = _estimate(defaults.settings, plan.shapes)
            events.plan(summary)
            if dry_run:
                return summary
            if plan.spool.count:
                defaults.settings.require_key()  # before any folder is made
                from .proxies import check_proxy

                check_proxy(defaults.settings.base_url)
                for folder in sorted(plan.outputs):
                    Saver(folder=folder).prepare()
                book = ledger.open_ledger(defaults.settings.history)
            log.open()
            started = time.monotonic()
            pacer = Pacer()
            limit = AdaptiveLimit() if concurrency == "auto" else Limit(max(1, concurrency))
            limit.on_change = events.concurrency_changed
            pacer.on_throttle = limit.throttle

            def client_for(job_events: Events) -> Client:
                if make_client is not None:
                    return make_client(job_events)
                return pipeline.make_client(
                    defaults.settings, defaults.options, events=job_events, pacer=pacer
                )

            runner = _Runner(
                previous, log, summary, events, temporaries, client_for, defaults.options, book
            )
            runner.settings = defaults.settings  # for billing checks (SPEC 8)
            try:
                runner.run(plan.spool, limit)
            finally:
                summary.throttled = limit.throttled
        finally:
            plan.spool.close()
    finally:
        log.close()
        if previous is not None:
            previous.close()
        if book is not None:
            book.close()
    summary.elapsed_s = round(time.monotonic() - started, 3)
    if summary.failed or summary.unknown or summary.over_budget:
        what = []
        if summary.failed or summary.unknown:
            what.append(
                f"{summary.failed + summary.unknown:,} of {counted(summary.total, 'job')} did "
                "not succeed."
            )
        if summary.over_budget:
            what.append(
                f"{summary.over_budget:,} of {counted(summary.total, 'job')} were not started: "
                f"they would pass --max-tokens {max_tokens:,} (the jobs sent were estimated at "
                f"{summary.estimated_tokens:,} tokens). Nothing was billed for them, and the "
                "results file has no line for them."
            )
        raise BatchError(
            " ".join(what)
            + " "
            + (
                summary.next_run()
                if log.path is not None
                else summary.next_run_unrecorded(ledger=book is not None)
            )
            + (
                f" Reasons are in {results}."
                if results and (summary.failed or summary.unknown)
                else ""
            ),
            details={"summary": summary.to_dict()},
        )
    return summary


def _estimate(settings: Settings, shapes: Mapping[tuple[str, str | None], int]) -> float | None:
    """The plan's cost in CNY from recent charges; None when unknown (never an error)."""
    from . import billing, ledger

    try:
        book = ledger.open_ledger(settings.history, create=False)
    except DmxError:
        return None
    try:
        found = billing.estimate(settings, shapes, book)
    finally:
        if book is not None:
            book.close()
    return found[0] if found else None


class _Runner:
    """The workers of one batch run."""

    settings: Settings | None = None

    def __init__(
        self,
        previous: Mapping[str, Mapping[str, Any]],
        log: ResultsLog,
        summary: BatchSummary,
        events: BatchEvents,
        temporaries: Temporaries,
        client_for: Callable[[Events], Client],
        options: ImageOptions,
        book: Ledger | None,
    ) -> None:
        self.previous = previous
        self.log = log
        self.summary = summary
        self.events = events
        self.temporaries = temporaries
        self.client_for = client_for
        self.options = options
        self.book = book
        self.jobs: queue.Queue[tuple[Job, str] | None] = queue.Queue()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.crashes: list[BaseException] = []
        self.running = 0
        self.queued = 0
        self.spool: _Spool | None = None
        self.limit = Limit(4)
        # The result URLs of the jobs running now that have them (answered, not yet
        # saved): what a second Ctrl-C abandons is printed, as a single edit prints it.
        self.answered: dict[str, list[str]] = {}

    def got_urls(self, job: Job, urls: list[str]) -> None:
        """A running job has its result URLs (its answer came, or it downloads again)."""
        if urls:
            with self.lock:
                self.answered[job.id] = list(urls)

    def run(self, spool: _Spool, limit: Limit) -> None:
        self.spool = spool
        self.limit = limit
        threads = [
            threading.Thread(target=self.worker, name=f"dmxedit-job-{i}", daemon=True)
            for i in range(max(1, min(limit.workers, spool.count)))
        ]
        for thread in threads:
            thread.start()
        try:
            for item in spool:
                if not self.put(item):
                    break
            for _ in threads:
                self.jobs.put(None)
            self.join(threads)
        except KeyboardInterrupt:
            self.stop.set()
            with self.lock:
                running = self.running
            self.events.warn(
                f"Stopping: {counted(running, 'running job')} will finish and save "
                + ("(it is paid for)" if running == 1 else "(they are paid for)")
                + "; no new job starts. Press Ctrl-C again to abandon "
                + ("it." if running == 1 else "them.")
            )
            try:
                self.join(threads)
            except KeyboardInterrupt:
                raise self.interrupted(abandoned=True) from None
            raise self.interrupted(abandoned=False) from None
        if self.crashes:
            raise self.crashes[0]

    def interrupted(self, abandoned: bool) -> Interrupted:
        summary = self.summary
        with self.lock:
            running = self.running
            urls = [url for found in self.answered.values() for url in found]
        self.next_run_after_interrupt()
        details: dict[str, Any] = {"summary": summary.to_dict()}
        if abandoned:
            what = f"Interrupted twice: {counted(running, 'running job')} abandoned."
            kept = [
                where
                for where, there in (
                    ("the results file", self.log.path is not None),
                    ("the ledger", self.book is not None),
                )
                if there
            ]
            if urls:
                # Paid results not saved: their URLs go to standard output, as a single
                # edit's do, so a script keeps them even without a results file.
                details["urls"] = urls
                what += (
                    f" The {counted(len(urls), 'result URL')} they had received "
                    + ("is" if len(urls) == 1 else "are")
                    + " printed"
                    + (f" and kept in {' and '.join(kept)}" if kept else "")
                    + "."
                )
        else:
            what = "Interrupted: the running jobs finished and were saved."
        return Interrupted(
            f"{what} {counted(summary.ok, 'job')} done, {summary.failed:,} failed. "
            + (
                summary.next_run()
                if self.log.path is not None
                else summary.next_run_unrecorded(ledger=self.book is not None)
            ),
            details=details,
        )

    def next_run_after_interrupt(self) -> None:
        """Count what a re-run will do with every job of this run, from the results file
        as it now stands (jobs not started, finished, answered, cut off)."""
        if self.spool is None:
            return
        latest: Mapping[str, Mapping[str, Any]]
        if self.log.path is None:  # no results file: what this run knows of its jobs
            with self.lock:
                latest = {
                    job_id: {"status": "answered", "urls": urls}
                    for job_id, urls in self.answered.items()
                }
        elif isinstance(self.previous, PreviousResults):
            self.previous.read()  # the lines this run added
            latest = self.previous
        else:
            latest = self.log.previous()
        summary = self.summary
        summary.retry = summary.refetch = summary.held_back = 0
        for job, _todo in self.spool:
            todo = _what_to_do(latest.get(job.id), resend_unknown=False)
            if todo == "send":
                summary.retry += 1
            elif todo == "fetch":
                summary.refetch += 1
            elif todo == "unknown":
                summary.held_back += 1

    @staticmethod
    def join(threads: list[threading.Thread]) -> None:
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)

    def put(self, item: tuple[Job, str]) -> bool:
        """Queue a job once a worker is about to be free; False when the batch stops."""
        while not self.stop.is_set():
            with self.lock:
                room = self.queued < self.limit.limit * 2
                if room:
                    self.queued += 1
            if room:
                self.jobs.put(item)
                return True
            time.sleep(0.05)
        return False

    def worker(self) -> None:
        client = self.client_for(Events())
        try:
            while not self.stop.is_set():
                if not self.limit.acquire(self.stop):  # room under the concurrency limit
                    return
                answered = False
                try:
                    try:
                        item = self.jobs.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    if item is None:
                        return
                    with self.lock:
                        self.queued -= 1
                    if self.stop.is_set():
                        return
                    answered = self.run_one(item[0], item[1], client)
                finally:
                    self.limit.release(answered)
        finally:
            client.close()

    def check_billing(
        self,
        error: DmxError,
        job: Job,
        job_record: _JobRecord | None,
        kept: Any,
        record: dict[str, Any],
    ) -> None:
        """With a system token: did DMXAPI bill this job? The verdict goes in its line."""
        if self.settings is None or not self.settings.has_account:
            return
        from .billing import after_failure

        verdict = after_failure(
            self.settings,
            error,
            model=job.request.model,
            sent_at=job_record.begun_at if job_record is not None else None,
            book=self.book,
            entry_id=kept.entry_id if kept is not None else None,
            settle_hint="Run the batch again with --reconcile in a minute to settle it.",
        )
        if verdict is not None:
            record.update(error=error.message, billed=verdict.billed, billing=verdict.to_dict())

    def run_one(self, job: Job, todo: str, client: Client) -> bool:
        """Run one job and write its final line; True when it succeeded."""
        from . import ledger, pipeline

        t0 = time.monotonic()
        with self.lock:
            self.running += 1
        self.events.job_started(job.id)
        saver = Saver(
            folder=job.output,
            prefix=job.request.prefix,
            temporaries=self.temporaries,
            naming=job.naming,
        )
        record: dict[str, Any] = {"id": job.id, "line": job.line}
        kept: Any = None
        job_record: _JobRecord | None = None
        try:
            if todo == "fetch":
                from .receipt import receipt

                urls = list(self.previous[job.id].get("urls") or [])
                self.got_urls(job, urls)
                saved = [saver.finish(client.download(u, saver.new_blob), u) for u in urls]
                files = [str(image.path) for image in saved]
                request = job.request
                delivered, found = receipt(
                    request.model,
                    request.ratio,
                    request.size,
                    request.params,
                    saved,
                    lambda text: self.events.warn(f"job {job.id} (line {job.line}): {text}"),
                )
                record.update(
                    status="ok",
                    files=files,
                    urls=urls,
                    error=None,
                    exit_code=0,
                    delivered=delivered,
                    mismatch=found,
                )
                if self.book is not None and self.log.path is not None:
                    self.book.job_saved(
                        str(self.log.path.resolve()),
                        job.id,
                        files,
                        delivered=record["delivered"],
                        mismatch=record["mismatch"],
                    )
            else:
                if self.book is not None:
                    kept = ledger.LedgerRecord(
                        self.book,
                        output=str(job.output.resolve()),
                        name=job.naming.template if job.naming else None,
                        results_file=str(self.log.path.resolve()) if self.log.path else None,
                        job_id=job.id,
                    )
                job_record = _JobRecord(self.log, job, self.got_urls)
                job_record.begun_at = time.time()
                result = pipeline.execute(
                    job.request,
                    client,
                    saver,
                    events=_JobEvents(self.events, job),
                    save_metadata=self.options.save_metadata,
                    record=pipeline.Records(job_record, kept),
                    hash_inputs=kept is not None,
                )
                record.update(
                    status="ok",
                    files=[str(p) for p in result.files],
                    urls=result.urls,
                    error=None,
                    exit_code=0,
                    usage=result.usage,
                    delivered=result.delivered,
                    mismatch=result.mismatch,
                )
                if any(item["changes"] for item in result.inputs):  # SPEC 9: prepared
                    record["inputs"] = result.inputs
        except DmxError as exc:
            record.update(
                status="failed",
                files=list(exc.details.get("files") or []),
                urls=list(exc.details.get("urls") or []),
                error=exc.message,
                exit_code=int(exc.exit_code),
            )
            if exc.details.get("may_be_billed"):
                record["may_be_billed"] = True
                if exc.request_id:
                    record["request_id"] = exc.request_id
                self.check_billing(exc, job, job_record, kept, record)
        except Exception as exc:  # a bug: record it, stop the batch, surface it (exit 1)
            record.update(
                status="failed",
                files=[],
                urls=[],
                error=f"internal error: {type(exc).__name__}: {exc}",
                exit_code=int(ExitCode.INTERNAL),
            )
            with self.lock:
                self.crashes.append(exc)
            self.stop.set()
        record["elapsed_s"] = round(time.monotonic() - t0, 3)
        record.update(job.fields())
        self.log.append(record)
        with self.lock:
            self.answered.pop(job.id, None)
            self.running -= 1
            self.summary.count(record)
            if self.summary.jobs is not None:
                self.summary.jobs.append({**job_report(job), **record})
        self.events.job_finished(record)
        return bool(record["status"] == "ok")
