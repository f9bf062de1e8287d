"""Many edits: a jobs file (JSON Lines) or ``--each``, run concurrently and resumable.

Every job is checked before the first request. Jobs run on worker threads that share
one pause (a 429 holds them all), each through the same :func:`dmxedit.core.execute`
path as a single edit. Each finished job appends one flushed line to the results file;
a job's request is marked ``sent`` there just before its last byte goes out, so a
batch killed at any moment can be re-run without paying twice: jobs already ``ok`` are
skipped, and jobs cut off after their request went out are not resent unless asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dmxedit.api.proxies import check_proxy
from dmxedit.api.retry import Pacer
from dmxedit.batch.concurrency import AdaptiveLimit, Concurrency, Limit
from dmxedit.batch.jobindex import PreviousResults, index_jobs
from dmxedit.batch.jobs import (
    Defaults,
    JobSource,
)
from dmxedit.batch.plan import Plan
from dmxedit.batch.plan import estimate_cost as _estimate
from dmxedit.batch.plan import validate as _validate
from dmxedit.batch.resultsfile import ResultsLog
from dmxedit.batch.runner import Runner
from dmxedit.batch.shards import Shard
from dmxedit.batch.summary import BatchEvents, BatchSummary
from dmxedit.core.errors import (
    BatchError,
    InputError,
    counted,
)
from dmxedit.core.events import Events
from dmxedit.core.i18n import T, joined
from dmxedit.core.settings import Settings
from dmxedit.core.temporaries import Temporaries
from dmxedit.engine import pipeline
from dmxedit.engine.billing import Clock, Sleep
from dmxedit.store import ledger
from dmxedit.store.results import Saver

if TYPE_CHECKING:
    from dmxedit.api.client import Client
    from dmxedit.store.ledger import Ledger


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
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
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
    if max_tokens is not None and max_tokens < 0:
        raise InputError(T("--max-tokens {max_tokens} is below 0.", max_tokens=max_tokens))
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
        summary = _summary(plan, shard, max_tokens, concurrency, results, dry_run)
        try:
            _tell_plan(plan, summary, defaults.settings, events, clock)
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
            runner.clock, runner.sleep = clock, sleep
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
        raise _not_all_done(summary, log, results, max_tokens, ledger=book is not None)
    return summary


def _summary(
    plan: Plan,
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
        unknown_tokens=plan.unknown_tokens,
        results=str(results) if results else None,
        dry_run=dry_run,
        jobs=plan.jobs,
    )


def _tell_plan(
    plan: Plan, summary: BatchSummary, settings: Settings, events: BatchEvents, clock: Clock
) -> None:
    """The plan shown (with its cost when the account can tell), and the jobs held back."""
    if plan.unknown:
        check = (
            T("`--reconcile` checks DMXAPI's billing log for them, ")
            if settings.has_account
            else ""
        )
        events.warn(
            T(
                "{counted} went out last time without a result and may have "
                "been billed; they are not sent again ({check}use "
                "--resend-unknown to send them).",
                counted=counted(plan.unknown, "job"),
                check=check,
            )
        )
    if plan.shapes and settings.has_account:
        summary.estimated_cny = _estimate(settings, plan.shapes, clock=clock)
    events.plan(summary)


def _get_ready(plan: Plan, settings: Settings) -> Ledger | None:
    """Before the first job: the key and proxy checked, the output folders made, the
    ledger opened (None: off, or no job to send)."""
    if not plan.spool.count:
        return None
    settings.require_key()  # before any folder is made

    check_proxy(settings.base_url)
    for folder in sorted(plan.outputs):
        Saver(folder=folder).prepare()
    return ledger.open_ledger(settings.history)


def _clients(defaults: Defaults, limit: Limit) -> Callable[[Events], Client]:
    """How each worker makes its client: all share one pause (a 429 holds them all, and
    lowers ``--concurrency auto``)."""

    pacer = Pacer()
    pacer.on_throttle = limit.throttle

    def client_for(job_events: Events) -> Client:
        return pipeline.make_client(
            defaults.settings, defaults.options, events=job_events, pacer=pacer
        )

    return client_for


def _not_all_done(
    summary: BatchSummary,
    log: ResultsLog,
    results: Path | None,
    max_tokens: int | None,
    *,
    ledger: bool,
) -> BatchError:
    """The error of a run that did not do every job: how many, why, what a re-run does."""
    what: list[str] = []
    if summary.failed or summary.unknown:
        what.append(
            T(
                "{failed:,} of {jobs} did not succeed.",
                failed=summary.failed + summary.unknown,
                jobs=counted(summary.total, "job"),
            )
        )
    if summary.over_budget:
        what.append(
            T(
                "{over:,} of {jobs} were not started: they would pass --max-tokens "
                "{max_tokens:,} (the jobs sent were estimated at {tokens:,} tokens). Nothing "
                "was billed for them, and the results file has no line for them.",
                over=summary.over_budget,
                jobs=counted(summary.total, "job"),
                max_tokens=max_tokens,
                tokens=summary.estimated_tokens,
            )
        )
    what.append(
        summary.next_run() if log.path is not None else summary.next_run_unrecorded(ledger=ledger)
    )
    message = joined(what, " ")
    if results and (summary.failed or summary.unknown):
        message = T("{message} Reasons are in {results}.", message=message, results=results)
    return BatchError(
        message,
        details={"summary": summary.to_dict()},
    )
