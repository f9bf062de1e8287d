"""Many edits: a jobs file (JSON Lines) or ``--each``, run concurrently and resumable.

Every job is checked before the first request. Jobs run on worker threads that share
one pause (a 429 holds them all), each through the same :func:`dmxedit.core.execute`
path as a single edit. Each finished job appends one flushed line to the results file;
a job's request is marked ``sent`` there just before its last byte goes out, so a
batch killed at any moment can be re-run without paying twice: jobs already ``ok`` are
skipped, and jobs cut off after their request went out are not resent unless asked.
"""

from __future__ import annotations

import pickle
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dmxedit.batch.concurrency import AdaptiveLimit, Concurrency, Limit
from dmxedit.batch.jobindex import IdTable, PreviousResults, index_jobs
from dmxedit.batch.jobs import (
    MAX_KEPT_ERRORS,
    MAX_REPORTED,
    Defaults,
    ImageChecks,
    Job,
    JobSource,
    build_job,
    job_report,
)
from dmxedit.batch.resultsfile import ResultsLog, what_to_do
from dmxedit.batch.runner import Runner
from dmxedit.batch.shards import Shard
from dmxedit.batch.summary import BatchEvents, BatchSummary
from dmxedit.core.catalog import tokens_for
from dmxedit.core.errors import (
    BatchError,
    DmxError,
    InputError,
    counted,
)
from dmxedit.core.events import Events
from dmxedit.core.settings import Settings
from dmxedit.core.temporaries import Temporaries
from dmxedit.store.results import Saver

if TYPE_CHECKING:
    from dmxedit.api.client import Client
    from dmxedit.store.ledger import Ledger


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
    files: dict[Path, int] = {}  # a job's own output file -> its line (two cannot share)
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
        todo = what_to_do(previous.get(job.id), resend_unknown)
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
        if job.exact is not None and todo in ("send", "fetch"):
            taken = files.setdefault(job.exact.absolute(), line)
            named = (job.obj or {}).get("output", str(job.exact))
            problem = None
            if taken != line:
                problem = f"output {named!r} is line {taken}'s output too"
            elif todo == "send" and (job.exact.exists() or job.exact.is_symlink()):
                problem = f"output {named!r} exists, and dmxedit never replaces a file"
            if problem is not None:
                error_count += 1
                if len(errors) < MAX_KEPT_ERRORS:
                    errors.append(f"{where}: {problem}")
                continue
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

    ``concurrency``: jobs at once, or ``"auto"`` (:mod:`dmxedit.batch.concurrency`). ``shard``:
    run only the jobs of that shard (every line is still checked). ``max_tokens``: stop
    starting jobs once the estimated tokens of the jobs sent would pass it; those left out
    get no results line, so a re-run sends them (BatchError, exit 7).

    The first KeyboardInterrupt (Ctrl-C, SIGTERM) stops starting jobs and lets the running
    ones finish and save; a second abandons them (their URLs are already recorded).
    Either way the run ends with :class:`Interrupted`.
    """
    events = events or BatchEvents()
    temporaries = Temporaries() if temporaries is None else temporaries
    log = ResultsLog(results)
    if not dry_run:
        log.lock()
    book: Ledger | None = None
    previous: PreviousResults | None = None
    if max_tokens is not None and max_tokens < 0:
        raise InputError(f"--max-tokens {max_tokens} is below 0.")
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
        summary = _summary(plan, shard, max_tokens, concurrency, results, dry_run)
        try:
            _tell_plan(plan, summary, defaults.settings, events)
            if dry_run:
                return summary
            book = _get_ready(plan, defaults.settings)
            log.open()
            started = time.monotonic()
            limit = AdaptiveLimit() if concurrency == "auto" else Limit(max(1, concurrency))
            limit.on_change = events.concurrency_changed
            client_for = make_client or _clients(defaults, limit)
            runner = Runner(
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
        raise _not_all_done(summary, log, results, max_tokens)
    return summary


def _summary(
    plan: _Plan,
    shard: Shard | None,
    max_tokens: int | None,
    concurrency: Concurrency,
    results: Path | None,
    dry_run: bool,
) -> BatchSummary:
    """The summary of a checked plan, before any job runs."""
    return BatchSummary(
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


def _tell_plan(plan: _Plan, summary: BatchSummary, settings: Settings, events: BatchEvents) -> None:
    """The plan shown (with its cost when the account can tell), and the jobs held back."""
    if plan.unknown:
        check = (
            "`--reconcile` checks DMXAPI's billing log for them, " if settings.has_account else ""
        )
        events.warn(
            f"{counted(plan.unknown, 'job')} went out last time without a result and may "
            f"have been billed; they are not sent again ({check}use --resend-unknown to "
            "send them)."
        )
    if plan.shapes and settings.has_account:
        summary.estimated_cny = _estimate(settings, plan.shapes)
    events.plan(summary)


def _get_ready(plan: _Plan, settings: Settings) -> Ledger | None:
    """Before the first job: the key and proxy checked, the output folders made, the
    ledger opened (None: off, or no job to send)."""
    if not plan.spool.count:
        return None
    settings.require_key()  # before any folder is made
    from dmxedit.api.proxies import check_proxy
    from dmxedit.store import ledger

    check_proxy(settings.base_url)
    for folder in sorted(plan.outputs):
        Saver(folder=folder).prepare()
    return ledger.open_ledger(settings.history)


def _clients(defaults: Defaults, limit: Limit) -> Callable[[Events], Client]:
    """How each worker makes its client: all share one pause (a 429 holds them all, and
    lowers ``--concurrency auto``)."""
    from dmxedit.api.retry import Pacer
    from dmxedit.engine import pipeline

    pacer = Pacer()
    pacer.on_throttle = limit.throttle

    def client_for(job_events: Events) -> Client:
        return pipeline.make_client(
            defaults.settings, defaults.options, events=job_events, pacer=pacer
        )

    return client_for


def _not_all_done(
    summary: BatchSummary, log: ResultsLog, results: Path | None, max_tokens: int | None
) -> BatchError:
    """The error of a run that did not do every job: how many, why, what a re-run does."""
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
    return BatchError(
        " ".join(what)
        + " "
        + (summary.next_run() if log.path is not None else summary.next_run_unrecorded())
        + (
            f" Reasons are in {results}." if results and (summary.failed or summary.unknown) else ""
        ),
        details={"summary": summary.to_dict()},
    )


def _estimate(settings: Settings, shapes: Mapping[tuple[str, str | None], int]) -> float | None:
    """The plan's cost in CNY from recent charges; None when unknown (never an error)."""
    from dmxedit.engine import billing
    from dmxedit.store import ledger

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
