"""start_batch and batch_status: a jobs file run in the background on the batch engine.

The run is :func:`dmxedit.batch.run.run_batch` on a thread of its own, with every
guarantee of ``dmxedit batch``: each line checked first, a results file (under the
server's output folder) that makes a re-run resume without paying twice, one lock per
results file. The jobs file and every image it names must be under the roots; its jobs
save into the output folder (a job's own ``output`` key is refused).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmxedit.batch.jobs import Defaults, JobSource
from dmxedit.batch.run import run_batch
from dmxedit.batch.summary import BatchEvents, BatchSummary
from dmxedit.core.errors import DmxError, InputError
from dmxedit.core.events import Events
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
            "elapsed_s": round(time.time() - self.started, 3),
        }


class _Events(BatchEvents):
    def __init__(self, run: Background, session: Session) -> None:
        self.run, self.session = run, session

    def plan(self, summary: BatchSummary) -> None:
        self.run.planned = summary.to_dict()
        self.run.state = "running"
        with self.session.lock:
            self.session.spent += summary.estimated_tokens

    def job_finished(self, record: Mapping[str, Any]) -> None:
        self.run.finished += 1
        self.run.last = [*self.run.last[-4:], dict(record)]

    def warn(self, message: str) -> None:
        pass


def _confined_jobs(session: Session, path: Path, roots: Sequence[Path]) -> None:
    """Every image a job names under the roots; no job writes outside the output."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            try:
                obj = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue  # the batch's own check reports it, with every other problem
            if not isinstance(obj, dict):
                continue
            if "output" in obj:
                raise InputError(
                    f"{path.name} line {number}: a job's own output is not taken here; jobs "
                    f"save into the server's output folder ({session.confinement.output})."
                )
            images = obj.get("images") or []
            for image in images if isinstance(images, list) else []:
                if isinstance(image, str):
                    given = image if Path(image).is_absolute() else str(path.parent / image)
                    session.confinement.image(given, roots)


def start(session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]) -> Output:
    allowed = schemas.schemas()["start_batch"]["properties"]
    jobs = args.get("jobs")
    if not isinstance(jobs, str) or not jobs:
        raise InputError("start_batch needs jobs: the path of a JSON Lines jobs file.")
    path = Path(session.confinement.image(jobs, roots, "jobs file"))
    if not path.is_file():
        raise InputError(f"Jobs file {jobs!r} does not exist or is not a file.")
    _confined_jobs(session, path, roots)
    rest = {k: v for k, v in args.items() if k not in ("jobs", "concurrency", "resend_unknown")}
    options = options_of(session, rest, allowed)
    results = session.confinement.output_file(None, f"{path.stem}.results.jsonl")
    with session.lock:
        for other in session.batches.values():
            if other.results == str(results) and other.state in ("starting", "running"):
                raise InputError(
                    f"A batch on {results} is already running ({other.handle}); one at a time."
                )
        run = Background(f"batch-{next(_numbers)}", str(path), str(results))
        session.batches[run.handle] = run
    defaults = Defaults(settings=resolve(options, env=session.env), options=options)
    concurrency = int(args.get("concurrency") or 4)
    results.parent.mkdir(parents=True, exist_ok=True)

    def work() -> None:
        try:
            summary = run_batch(
                JobSource(path=path, base=path.parent),
                defaults,
                results=results,
                concurrency=concurrency,
                resend_unknown=bool(args.get("resend_unknown")),
                events=_Events(run, session),
                max_tokens=session.left(),
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

    run.thread = threading.Thread(target=work, name=run.handle)  # not a daemon: finishes
    run.thread.start()
    text = f"Started {run.handle} on {path.name}; results in {results}. Ask batch_status."
    return Output([Block("text", text=text)], run.to_dict())


def status(session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]) -> Output:
    handle = args.get("handle")
    with session.lock:
        runs = list(session.batches.values())
    if handle is not None:
        runs = [r for r in runs if r.handle == handle]
        if not runs:
            raise InputError(f"No batch {handle!r} in this session.")
    listed = [r.to_dict() for r in runs]
    lines = [f"{r['handle']}: {r['state']}, {r['jobs_finished']} jobs finished" for r in listed]
    return Output(
        [Block("text", text="\n".join(lines) or "No batch in this session.")], {"batches": listed}
    )
