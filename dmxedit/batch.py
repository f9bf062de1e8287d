"""Many edits: a jobs file (JSON Lines) or ``--each``, run concurrently and resumable.

Every job is checked before the first request. Jobs run on worker threads that share
one pause (a 429 holds them all), each through the same :func:`dmxedit.core.execute`
path as a single edit. Each finished job appends one flushed line to the results file;
a job's request is marked ``sent`` there just before its last byte goes out, so a
batch killed at any moment can be re-run without paying twice: jobs already ``ok`` are
skipped, and jobs cut off after their request went out are not resent unless asked.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .catalog import tokens_for
from .errors import BatchError, DmxError, ExitCode, InputError
from .events import Events
from .images import load_images
from .request import ImageRequest, build_request
from .results import Saver
from .settings import Settings

JOB_KEYS = {"id", "images", "prompt", "ratio", "size", "model", "format", "output", "params"}
MAX_REPORTED = 20


@dataclass
class Defaults:
    """What a job leaves out: the command's options, then config, then defaults."""

    settings: Settings
    prompt: str | None = None
    params: tuple[str, ...] = ()
    output: str | None = None  # the command's -o (relative to the working folder)
    save_metadata: bool = False


@dataclass
class Job:
    line: int
    id: str
    request: ImageRequest
    output: Path


@dataclass
class BatchSummary:
    total: int = 0
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    to_send: int = 0
    estimated_tokens: int = 0
    results: str | None = None
    elapsed_s: float = 0.0
    files: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "skipped": self.skipped,
            "unknown": self.unknown,
            "to_send": self.to_send,
            "estimated_tokens": self.estimated_tokens,
            "results": self.results,
            "elapsed_s": self.elapsed_s,
            "dry_run": self.dry_run,
        }


class BatchEvents:
    """Callbacks of a batch (no-ops); the CLI shows them as one live display."""

    def plan(self, summary: BatchSummary) -> None:
        """Jobs counted and checked; ``summary`` has totals and the token estimate."""

    def job_started(self, job_id: str) -> None: ...

    def job_finished(self, record: Mapping[str, Any]) -> None: ...

    def warn(self, message: str) -> None: ...


def job_id(obj: Mapping[str, Any]) -> str:
    """A job's own ``id``, or a stable hash of its fields."""
    own = obj.get("id")
    if own is not None:
        return str(own)
    canonical = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _check_fields(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError("a job must be a JSON object")
    unknown = sorted(set(obj) - JOB_KEYS)
    if unknown:
        raise InputError(
            f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(JOB_KEYS))}"
        )
    if "id" in obj and not isinstance(obj["id"], (str, int)) or obj.get("id") == "":
        raise InputError("id must be a non-empty text or a number")
    for key in ("prompt", "ratio", "size", "model", "format", "output"):
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


def build_job(obj: Any, line: int, base: Path, defaults: Defaults) -> Job:
    """Check one job against the defaults; raises InputError (without the line number)."""
    obj = _check_fields(obj)
    settings = defaults.settings
    image_args = [
        str(base / p) if not os.path.isabs(p) and p != "-" else p for p in obj.get("images") or []
    ]
    if "-" in image_args:
        raise InputError("a job's image cannot be '-' (standard input)")
    if obj.get("images") == []:
        raise InputError("images is empty; leave it out for a generate job")
    images = load_images(image_args) if image_args else []
    params = list(defaults.params)
    params += [f"{k}={_param_text(v)}" for k, v in (obj.get("params") or {}).items()]
    request = build_request(
        "edit" if images else "generate",
        base_url=settings.get("base-url"),
        prompt=obj.get("prompt", defaults.prompt),
        model=obj.get("model") or settings.get("model"),
        ratio=obj.get("ratio") or settings.get("ratio"),
        size=obj.get("size") or settings.get("size"),
        response_format=obj.get("format") or settings.get("format"),
        params=params,
        images=images,
    )
    if "output" in obj:
        output = Path(obj["output"]).expanduser()
        output = output if output.is_absolute() else base / output
    else:
        output = Path(defaults.output or settings.get("output"))
    return Job(line=line, id=job_id(obj), request=request, output=output)


@dataclass
class JobSource:
    """Where jobs come from: a JSON Lines file, read line by line (never all at once)."""

    path: Path | None = None  # a jobs file
    objects: list[dict[str, Any]] | None = None  # --each: jobs made on the command line
    base: Path = field(default_factory=Path.cwd)

    def lines(self) -> Iterator[tuple[int, Any]]:
        """(line number, parsed object or an InputError) for every non-blank line."""
        if self.objects is not None:
            yield from enumerate(self.objects, start=1)
            return
        assert self.path is not None
        with open(self.path, encoding="utf-8") as fh:
            for number, raw in enumerate(fh, start=1):
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


class ResultsLog:
    """The results file: one JSON line per event, appended, flushed and synced."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fh: IO[str] | None = None

    def previous(self) -> dict[str, dict[str, Any]]:
        """The last record of every job id already in the file (a torn last line is ignored)."""
        last: dict[str, dict[str, Any]] = {}
        if self.path is None or not self.path.exists():
            return last
        try:
            with open(self.path, encoding="utf-8") as fh:
                for raw in fh:
                    try:
                        record = json.loads(raw)
                    except ValueError:
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
            self._fh = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"Cannot write the results file {self.path}: {exc.strerror or exc}."
            ) from None

    def append(self, record: Mapping[str, Any]) -> None:
        if self._fh is None:
            return
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@dataclass
class _Plan:
    total: int = 0
    to_send: int = 0
    skipped: int = 0
    unknown: int = 0
    tokens: int = 0
    outputs: set[Path] = field(default_factory=set)


def _what_to_do(record: Mapping[str, Any] | None, resend_unknown: bool) -> str:
    """send, skip (already ok), unknown (may have been billed) or fetch (download only)."""
    if record is None:
        return "send"
    status = record.get("status")
    if status == "ok":
        return "skip"
    if status == "sent":
        return "send" if resend_unknown else "unknown"
    if status == "failed" and record.get("exit_code") == ExitCode.NOT_SAVED and record.get("urls"):
        return "fetch"
    return "send"


def _validate(
    source: JobSource,
    defaults: Defaults,
    previous: Mapping[str, Mapping[str, Any]],
    resend_unknown: bool,
) -> _Plan:
    plan = _Plan()
    errors: list[str] = []
    seen: dict[str, int] = {}
    for line, obj in source.lines():
        plan.total += 1
        try:
            if isinstance(obj, InputError):
                raise obj
            job = build_job(obj, line, source.base, defaults)
        except InputError as exc:
            errors.append(f"line {line}: {exc.message}")
            continue
        if job.id in seen:
            own = isinstance(obj, dict) and "id" in obj
            errors.append(
                f"line {line}: id {job.id!r} is already used on line {seen[job.id]}"
                if own
                else f"line {line}: the same job as line {seen[job.id]} (give each an id to "
                "run both)"
            )
            continue
        seen[job.id] = line
        todo = _what_to_do(previous.get(job.id), resend_unknown)
        if todo == "skip":
            plan.skipped += 1
        elif todo == "unknown":
            plan.unknown += 1
        else:
            plan.to_send += todo == "send"
            plan.tokens += tokens_for(job.request.size) if todo == "send" else 0
            plan.outputs.add(job.output)
    if plan.total == 0:
        errors.append("no jobs (the file is empty)")
    if errors:
        shown = errors[:MAX_REPORTED]
        more = f"\n... and {len(errors) - MAX_REPORTED} more" if len(errors) > MAX_REPORTED else ""
        raise InputError(
            "The jobs are invalid; nothing was sent.\n" + "\n".join(shown) + more,
            hint="Each line is a JSON object: images (list), prompt, and optionally id, ratio, "
            "size, model, format, output, params.",
            details={"invalid": errors},
        )
    return plan


def run_batch(
    source: JobSource,
    defaults: Defaults,
    *,
    results: Path | None,
    concurrency: int = 4,
    dry_run: bool = False,
    retry_server_errors: bool = False,
    resend_unknown: bool = False,
    events: BatchEvents | None = None,
    client_factory: Callable[[Events], Any] | None = None,
) -> BatchSummary:
    """Run every job that still needs running; raises BatchError when some failed."""
    from .core import execute, make_client
    from .transfer import Pacer

    events = events or BatchEvents()
    log = ResultsLog(results)
    previous = log.previous()
    plan = _validate(source, defaults, previous, resend_unknown)
    summary = BatchSummary(
        total=plan.total,
        skipped=plan.skipped,
        unknown=plan.unknown,
        to_send=plan.to_send,
        estimated_tokens=plan.tokens,
        results=str(results) if results else None,
        dry_run=dry_run,
    )
    if plan.unknown:
        events.warn(
            f"{plan.unknown} job(s) were cut off after their request went out last time and may "
            "have been billed; they are not sent again (use --resend-unknown to send them)."
        )
    events.plan(summary)
    if dry_run:
        return summary
    if plan.to_send or any(_what_to_do(r, resend_unknown) == "fetch" for r in previous.values()):
        for folder in sorted(plan.outputs):
            Saver(folder=folder).prepare()
    defaults.settings.require_key()
    log.open()
    started = time.monotonic()
    pacer = Pacer()
    jobs: queue.Queue[tuple[Job, str] | None] = queue.Queue(maxsize=concurrency * 2)
    stop = threading.Event()
    lock = threading.Lock()

    def make(job_events: Events) -> Any:
        if client_factory is not None:
            return client_factory(job_events)
        return make_client(
            defaults.settings,
            events=job_events,
            pacer=pacer,
            retry_server_errors=retry_server_errors,
        )

    def run_one(job: Job, todo: str, client: Any) -> None:
        t0 = time.monotonic()
        events.job_started(job.id)
        saver = Saver(folder=job.output, prefix=job.request.prefix)
        record: dict[str, Any] = {"id": job.id, "line": job.line}
        try:
            if todo == "fetch":
                urls = list(previous[job.id].get("urls") or [])
                files = [str(saver.finish(client.download(u, saver), u).path) for u in urls]
                record.update(status="ok", files=files, urls=urls, error=None, exit_code=0)
            else:
                result = execute(
                    job.request,
                    client,
                    saver,
                    save_metadata=defaults.save_metadata,
                    on_sent=lambda: log.append({"id": job.id, "line": job.line, "status": "sent"}),
                )
                record.update(
                    status="ok",
                    files=[str(p) for p in result.files],
                    urls=result.urls,
                    error=None,
                    exit_code=0,
                )
        except DmxError as exc:
            record.update(
                status="failed",
                files=list(exc.details.get("files") or []),
                urls=list(exc.details.get("urls") or []),
                error=exc.message,
                exit_code=int(exc.exit_code),
            )
        except Exception as exc:  # a bug in one job must not lose the others' results
            record.update(
                status="failed",
                files=[],
                urls=[],
                error=f"internal error: {type(exc).__name__}: {exc}",
                exit_code=int(ExitCode.INTERNAL),
            )
        record["elapsed_s"] = round(time.monotonic() - t0, 3)
        log.append(record)
        with lock:
            if record["status"] == "ok":
                summary.ok += 1
            else:
                summary.failed += 1
        events.job_finished(record)

    def worker() -> None:
        client = make(Events())
        try:
            while not stop.is_set():
                item = jobs.get()
                if item is None:
                    return
                run_one(item[0], item[1], client)
        finally:
            client.close()

    threads = [
        threading.Thread(target=worker, name=f"dmxedit-job-{i}", daemon=True)
        for i in range(max(1, concurrency))
    ]
    for thread in threads:
        thread.start()
    try:
        for line, obj in source.lines():
            job = build_job(obj, line, source.base, defaults)
            todo = _what_to_do(previous.get(job.id), resend_unknown)
            if todo in ("skip", "unknown"):
                continue
            while True:
                try:
                    jobs.put((job, todo), timeout=0.2)
                    break
                except queue.Full:
                    continue
        for _ in threads:
            while True:
                try:
                    jobs.put(None, timeout=0.2)
                    break
                except queue.Full:
                    continue
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)
    except BaseException:
        stop.set()
        raise
    finally:
        log.close()
    summary.elapsed_s = round(time.monotonic() - started, 3)
    if summary.failed or summary.unknown:
        raise BatchError(
            f"{summary.failed + summary.unknown} of {summary.total} jobs did not succeed"
            + (
                f" ({summary.unknown} not resent: they may have been billed)"
                if summary.unknown
                else ""
            )
            + "."
            + (f" Reasons are in {results}." if results else ""),
            hint="Run the same command again to retry the failed jobs; finished ones are skipped.",
            details={"summary": summary.to_dict()},
        )
    return summary
