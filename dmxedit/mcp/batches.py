"""start_batch and batch_status: a jobs file run in the background on the batch engine.

The run is :func:`dmxedit.batch.run.run_batch` on a thread of its own, with every
guarantee of ``dmxedit batch``: each line checked first, a results file (under the
server's output folder) that makes a re-run resume without paying twice, one lock per
results file. The jobs file and every image it names must be under the roots; its jobs
save into the output folder (a job's own ``output`` key is refused).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmxedit.batch.concurrency import Concurrency, parse_concurrency
from dmxedit.batch.jobindex import PreviousResults, index_jobs
from dmxedit.batch.jobs import Defaults, JobSource, spool_stdin
from dmxedit.batch.plan import Plan, validate
from dmxedit.batch.run import run_batch
from dmxedit.batch.summary import BatchEvents, BatchSummary
from dmxedit.core.errors import DmxError, InputError, counted
from dmxedit.core.events import Events
from dmxedit.core.i18n import T
from dmxedit.core.settings import resolve
from dmxedit.mcp import schemas
from dmxedit.mcp.tools import Block, Output, Session, options_of

_numbers = itertools.count(1)


@dataclass
class Background:
    """One batch running (or run) in the background."""

    handle: str
    jobs: str
    results: str
    state: str = "starting"  # running, done, failed
    planned: dict[str, Any] | None = None
    finished: int = 0
    last: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    reserved: int = 0  # tokens counted against the session's cap for it
    started: float = field(default_factory=time.time)
    thread: threading.Thread | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "handle": self.handle,
            "jobs": self.jobs,
            "results": self.results,
            "state": self.state,
            "jobs_finished": self.finished,
            "plan": self.planned,
            "summary": self.summary,
            "error": self.error,
            "recent": self.last[-5:],
            "warnings": list(self.warnings),
            "tokens_reserved": self.reserved,
            "elapsed_s": round(time.time() - self.started, 3),
        }


class _Events(BatchEvents):
    def __init__(self, run: Background, tokens: Mapping[str, int]) -> None:
        self.run, self.tokens = run, tokens
        self.used = 0  # the reserved tokens of the jobs sent that were (or may be) billed

    def plan(self, summary: BatchSummary) -> None:
        self.run.planned = summary.to_dict()
        self.run.state = "running"

    def job_finished(self, record: Mapping[str, Any]) -> None:
        self.run.finished += 1
        self.run.last = [*self.run.last[-4:], dict(record)]
        if record.get("status") == "ok" or record.get("may_be_billed"):
            self.used += self.tokens.get(str(record.get("id")), 0)

    def warn(self, message: str) -> None:
        self.run.warnings.append(message)


def _confined_jobs(session: Session, source: JobSource, roots: Sequence[Path]) -> None:
    """Every image and mask a job names under the roots (relative: to the jobs file's
    folder, as the batch reads them); no job writes outside the output. The lines are
    read exactly as the batch reads them."""
    for number, obj in source.lines():
        if not isinstance(obj, dict):
            continue  # the batch's own check reports it, with every other problem
        if "output" in obj:
            raise InputError(
                T(
                    "line {number}: a job's own output is not taken here; jobs "
                    "save into the server's output folder ({output}).",
                    number=number,
                    output=session.confinement.output,
                )
            )
        images = obj.get("images") or []
        named = [(i, "image") for i in (images if isinstance(images, list) else [])]
        for given, what in [*named, (obj.get("mask"), "mask")]:
            if isinstance(given, str):
                path = given if os.path.isabs(given) or given == "-" else str(source.base / given)
                session.confinement.image(path, roots, what)


def _planned(
    source: JobSource, defaults: Defaults, results: Path, resend_unknown: bool
) -> tuple[Plan, dict[str, int]]:
    """The batch engine's own plan of the jobs (every line checked, as ``dmxedit batch``
    does first) and the documented tokens of each job to send."""
    ids = index_jobs(source)
    previous = PreviousResults(results, ids)
    try:
        plan = validate(source, defaults, previous, resend_unknown, ids=ids)
        try:
            tokens = {
                job.id: job.request.tokens() or 0 for job, todo in plan.spool if todo == "send"
            }
        finally:
            plan.spool.close()
    finally:
        previous.close()
    return plan, tokens


def _reserve(session: Session, plan: Plan) -> None:
    """The batch's estimated tokens counted against the session's cap before it starts."""
    if session.max_tokens is not None and plan.unknown_tokens:
        raise InputError(
            T(
                "{counted} of this batch use models whose tokens DMXAPI does "
                "not document, and this server caps the session at "
                "{max_tokens:,} tokens, so the batch was refused; nothing was "
                "sent.",
                counted=counted(plan.unknown_tokens, "job"),
                max_tokens=session.max_tokens,
            ),
            hint=T(
                "Run those jobs with a model whose tokens are known (see "
                "list_models and ratios), or start `dmxedit mcp` without "
                "--max-tokens.",
            ),
        )
    session.reserve(plan.tokens, "this batch")


def _private_copy(path: Path) -> Path:
    """The jobs file copied to a private temporary file: the batch runs the very lines
    that were checked, whatever happens to the file meanwhile."""
    with path.open("rb") as given:
        return spool_stdin(given)


def _concurrency(value: Any) -> Concurrency:
    if value is None:
        return 4
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError(
            T(
                "concurrency {value!r} is not a number from 1 to 64, or auto.",
                value=value,
            )
        )
    return parse_concurrency(value)


def start(session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]) -> Output:
    allowed = schemas.schemas()["start_batch"]["properties"]
    jobs = args.get("jobs")
    if not isinstance(jobs, str) or not jobs:
        raise InputError(T("start_batch needs jobs: the path of a JSON Lines jobs file."))
    path = Path(session.confinement.image(jobs, roots, "jobs file"))
    if not path.is_file():
        raise InputError(T("Jobs file {jobs!r} does not exist or is not a file.", jobs=jobs))
    concurrency = _concurrency(args.get("concurrency"))
    rest = {k: v for k, v in args.items() if k not in ("jobs", "concurrency", "resend_unknown")}
    options = options_of(session, rest, allowed)
    results = session.confinement.output_file(None, f"{path.stem}.results.jsonl")
    copy = _private_copy(path)
    try:
        source = JobSource(path=copy, base=path.parent, named=path)
        _confined_jobs(session, source, roots)
        defaults = Defaults(settings=resolve(options, env=session.env), options=options)
        resend = bool(args.get("resend_unknown"))
        plan, tokens = _planned(source, defaults, results, resend)
        run = _register(session, path, results, plan)
    except BaseException:
        copy.unlink(missing_ok=True)
        raise
    results.parent.mkdir(parents=True, exist_ok=True)
    reported = _Events(run, tokens)

    def work() -> None:
        try:
            summary = run_batch(
                source,
                defaults,
                results=results,
                concurrency=concurrency,
                resend_unknown=resend,
                events=reported,
                max_tokens=plan.tokens if session.max_tokens is not None else None,
            )
            run.summary, run.state = summary.to_dict(), "done"
        except DmxError as error:
            run.summary = error.details.get("summary")
            run.error, run.state = (
                {**error.to_dict(), "exit_code_name": error.exit_code.name},
                "failed",
            )
        except Exception as exc:  # noqa: BLE001 - a bug: said in the status, never lost
            run.error, run.state = {"type": type(exc).__name__, "message": str(exc)}, "failed"
        finally:
            session.refund(max(0, plan.tokens - reported.used))  # what was not spent
            copy.unlink(missing_ok=True)

    run.thread = threading.Thread(target=work, name=run.handle)  # not a daemon: finishes
    run.thread.start()
    text = f"Started {run.handle} on {path.name}; results in {results}. Ask batch_status."
    if plan.tokens:
        text += f" About {plan.tokens:,} tokens reserved."
    return Output([Block("text", text=text)], run.to_dict())


def _register(session: Session, path: Path, results: Path, plan: Plan) -> Background:
    """The batch's tokens reserved and its handle made: one batch per results file."""
    _reserve(session, plan)
    with session.lock:
        busy = [
            other.handle
            for other in session.batches.values()
            if other.results == str(results) and other.state in ("starting", "running")
        ]
        if not busy:
            run = Background(f"batch-{next(_numbers)}", str(path), str(results))
            run.reserved = plan.tokens
            session.batches[run.handle] = run
    if busy:
        session.refund(plan.tokens)
        raise InputError(
            T(
                "A batch on {results} is already running ({busy}); one at a time.",
                results=results,
                busy=busy[0],
            )
        )
    return run


def status(session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]) -> Output:
    handle = args.get("handle")
    with session.lock:
        runs = list(session.batches.values())
    if handle is not None:
        runs = [r for r in runs if r.handle == handle]
        if not runs:
            raise InputError(T("No batch {handle!r} in this session.", handle=handle))
    listed = [r.to_dict() for r in runs]
    lines = []
    for r in listed:
        lines.append(f"{r['handle']}: {r['state']}, {r['jobs_finished']} jobs finished")
        lines += [f"  warning: {w}" for w in r["warnings"]]
        if r["error"]:
            lines.append(f"  error: {r['error'].get('message')}")
    return Output(
        [Block("text", text="\n".join(lines) or "No batch in this session.")], {"batches": listed}
    )
