"""Many edits: a jobs file (JSON Lines) or ``--each``, run concurrently and resumable.

Every job is checked before the first request. Jobs run on worker threads that share
one pause (a 429 holds them all), each through the same :func:`dmxedit.core.execute`
path as a single edit. Each finished job appends one flushed line to the results file;
a job's request is marked ``sent`` there just before its last byte goes out, so a
batch killed at any moment can be re-run without paying twice: jobs already ``ok`` are
skipped, and jobs cut off after their request went out are not resent unless asked.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmxedit.batch.concurrency import AdaptiveLimit, Concurrency, Limit
from dmxedit.batch.jobindex import PreviousResults, index_jobs
from dmxedit.batch.jobs import (
    Defaults,
    Job,
    JobSource,
    job_report,
)
from dmxedit.batch.plan import Spool as _Spool
from dmxedit.batch.plan import estimate_cost as _estimate
from dmxedit.batch.plan import validate as _validate
from dmxedit.batch.resultsfile import ResultsLog, absolute_files, what_to_do
from dmxedit.batch.shards import Shard
from dmxedit.core.errors import (
    BatchError,
    DmxError,
    InputError,
    InternalError,
    Interrupted,
    counted,
)
from dmxedit.core.events import Events
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings
from dmxedit.core.temporaries import Temporaries
from dmxedit.engine.delivery import Delivery, verdict
from dmxedit.engine.fetch import fetch_again
from dmxedit.engine.records import LedgerRecord, Records
from dmxedit.store.names import literal_template
from dmxedit.store.results import Saver

if TYPE_CHECKING:
    from dmxedit.api.client import Answer, Client
    from dmxedit.store.ledger import Ledger
    from dmxedit.store.results import Blob


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
        todo = what_to_do(record, resend_unknown=False)
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


class _JobRecord(Delivery):
    """A job's progress in the results file: ``sent`` just before its last byte goes out.

    A line that cannot be written never stops the job (its result is paid for); it stops
    the batch from starting more jobs (``on_trouble``), since a re-run could not tell
    what this run did."""

    def __init__(
        self, log: ResultsLog, job: Job, on_trouble: Callable[[str], None] | None = None
    ) -> None:
        super().__init__()
        self.log = log
        self.job = job
        self.on_trouble = on_trouble
        self.begun_at: float | None = None  # before the upload (the billing check's window)
        self.sent_at: float | None = None
        self.kept_record: LedgerRecord | None = None  # the job's ledger entry, if any
        # Told the result URLs the moment they arrive (a second Ctrl-C prints them).
        self.on_urls: Callable[[Job, list[str]], None] | None = None

    def sent(self) -> None:
        super().sent()
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
        super().answered(answer)
        self.log.append(
            {"id": self.job.id, "line": self.job.line, "status": "answered", "urls": self.urls}
        )
        if self.on_urls is not None:
            self.on_urls(self.job, self.urls)

    def trouble(self, step: str, exc: BaseException) -> str:
        message = (
            f"the results file {self.log.path} could not record that job {self.job.id} was "
            f"{step} ({type(exc).__name__}: {exc})"
        )
        if self.on_trouble is not None:
            self.on_trouble(message)
        return message[0].upper() + message[1:] + "; no new job starts."


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

    ``concurrency``: jobs at once, or ``"auto"`` (:mod:`dmxedit.batch.concurrency`). ``shard``:
    run only the jobs of that shard (every line is still checked). ``max_tokens``: stop
    starting jobs once the estimated tokens of the jobs sent would pass it; those left out
    get no results line, so a re-run sends them (BatchError, exit 7).

    The first KeyboardInterrupt (Ctrl-C, SIGTERM) stops starting jobs and lets the running
    ones finish and save; a second abandons them (their URLs are already recorded).
    Either way the run ends with :class:`Interrupted`.
    """
    from dmxedit.api.retry import Pacer
    from dmxedit.engine import pipeline
    from dmxedit.store import ledger

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
                from dmxedit.api.proxies import check_proxy

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
        self.problems: list[str] = []
        self.started: set[str] = set()
        self.threads: list[threading.Thread] = []
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
        self.threads = threads
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
        not_run: list[str] = []
        if len(self.started) < spool.count:
            not_run = [job.id for job, _ in spool if job.id not in self.started]
        if self.crashes or self.problems or not_run:
            raise self.stopped(not_run)

    def trouble(self, message: str) -> None:
        """Something the batch cannot go on without failed (the results file, standard
        output, a worker): no new job starts; the run ends with an error saying it."""
        with self.lock:
            self.problems.append(message)
        self.stop.set()

    def stopped(self, not_run: list[str]) -> DmxError:
        """The error a batch that stopped early ends with: why, and the jobs not run."""
        summary = self.summary
        if not_run:
            summary.retry += len(not_run)
        reasons = [f"{type(c).__name__}: {c}" for c in self.crashes] + self.problems
        shown = ", ".join(not_run[:10])
        if len(not_run) > 10:
            shown += f" and {len(not_run) - 10:,} more"
        message = "The batch stopped early: " + "; ".join(reasons or ["a worker stopped"]) + "."
        if not_run:
            message += f" {counted(len(not_run), 'job')} did not run: {shown}."
        message += " " + (
            summary.next_run() if self.log.path is not None else summary.next_run_unrecorded()
        )
        details = {"summary": summary.to_dict(), "not_run": not_run}
        if self.crashes and not self.problems:
            return InternalError(
                message, hint="This is a bug in dmxedit: please report it.", details=details
            )
        return BatchError(message, details=details)

    def interrupted(self, abandoned: bool) -> Interrupted:
        summary = self.summary
        with self.lock:
            running = self.running
            urls = [url for found in self.answered.values() for url in found]
        self.next_run_after_interrupt()
        printed: list[str] | None = None
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
                printed = urls
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
            details={"summary": summary.to_dict()},
            urls=printed,
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
            todo = what_to_do(latest.get(job.id), resend_unknown=False)
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
            if self.threads and not any(t.is_alive() for t in self.threads):
                return False  # every worker is gone: nobody would take it (never a hang)
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
        try:
            self._work()
        except BaseException as exc:  # noqa: BLE001 - a worker never dies silently
            with self.lock:
                self.crashes.append(exc)
            self.stop.set()

    def _work(self) -> None:
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
        from dmxedit.engine.billing import after_failure

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
        """Run one job and write its final line; True when it succeeded. Whatever
        happens, the line says what the pipeline's verdict says (never a bare failure
        after the request went out), and nothing escapes to kill the worker."""
        t0 = time.monotonic()
        with self.lock:
            self.running += 1
            self.started.add(job.id)
        record: dict[str, Any] = {"id": job.id, "line": job.line}
        state = _JobRecord(self.log, job, self.trouble)
        state.on_urls = self.got_urls
        try:
            self.events.job_started(job.id)
            if todo == "fetch":
                state.was_sent = True  # paid last time: only downloaded now
                state.urls = list(self.previous[job.id].get("urls") or [])
                self.got_urls(job, state.urls)
                self.fetch(job, client, record, state)
            else:
                self.send(job, client, record, state)
        except BaseException as exc:
            error = verdict(exc, state)
            if error is None:  # KeyboardInterrupt, SystemExit keep their meaning
                with self.lock:
                    self.running -= 1
                raise
            self.failed(error, job, state, record)
        record["elapsed_s"] = round(time.monotonic() - t0, 3)
        record.update(job.fields())
        try:
            self.log.append(absolute_files(record))
        except Exception as exc:  # noqa: BLE001 - the job's result stands; the batch stops
            self.trouble(
                f"the results file {self.log.path} could not record job {job.id} "
                f"({type(exc).__name__}: {exc})"
            )
        with self.lock:
            self.answered.pop(job.id, None)
            self.running -= 1
            self.summary.count(record)
            if self.summary.jobs is not None:
                self.summary.jobs.append({**job_report(job), **record})
        try:
            self.events.job_finished(record)
        except Exception as exc:  # noqa: BLE001 - e.g. standard output gone
            self.trouble(f"job {job.id}'s outcome could not be shown ({type(exc).__name__}: {exc})")
        return bool(record["status"] == "ok")

    def fetch(self, job: Job, client: Client, record: dict[str, Any], state: _JobRecord) -> None:
        """A job paid for last time: download its result again, never generate it again."""
        from dmxedit.media.receipt import receipt

        saver = self.saver(job)
        saved = []
        for url in state.urls:
            saved.append(fetch_again(client, saver, url))
            state.kept(saved[-1])
        for note in (n for image in saved for n in saver.notes(image)):
            self.events.warn(f"job {job.id} (line {job.line}): {note}")
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
            urls=state.urls,
            error=None,
            exit_code=0,
            delivered=delivered,
            mismatch=found,
        )
        if self.book is not None and self.log.path is not None:
            try:
                self.book.job_saved(
                    str(self.log.path.resolve()),
                    job.id,
                    files,
                    delivered=record["delivered"],
                    mismatch=record["mismatch"],
                )
            except Exception as exc:  # noqa: BLE001 - saved: the ledger only lags behind
                self.events.warn(
                    f"job {job.id} (line {job.line}): the ledger could not record the saved "
                    f"files ({type(exc).__name__}: {exc})."
                )

    def saver(self, job: Job) -> Saver:
        return Saver(
            folder=job.output,
            prefix=job.request.prefix,
            temporaries=self.temporaries,
            naming=job.naming,
            exact=job.exact,
        )

    def send(self, job: Job, client: Client, record: dict[str, Any], state: _JobRecord) -> None:
        """Send a job's request through the pipeline."""
        from dmxedit.engine import pipeline

        kept = None
        if self.book is not None:
            template = job.naming.template if job.naming else None
            if job.exact is not None:
                template = literal_template(job.exact.stem)
            kept = LedgerRecord(
                self.book,
                output=str(job.output.resolve()),
                name=template,
                results_file=str(self.log.path.resolve()) if self.log.path else None,
                job_id=job.id,
            )
        state.begun_at = time.time()
        state.kept_record = kept
        result = pipeline.execute(
            job.request,
            client,
            self.saver(job),
            events=_JobEvents(self.events, job),
            save_metadata=self.options.save_metadata,
            record=Records(state, kept),
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

    def failed(self, error: DmxError, job: Job, state: _JobRecord, record: dict[str, Any]) -> None:
        """The job's final line from the verdict: what a re-run must do follows from it."""
        record.update(
            status="failed",
            files=error.file_list,
            urls=error.url_list,
            error=error.message,
            exit_code=int(error.exit_code),
        )
        if error.may_be_billed:
            record["may_be_billed"] = True
            if error.request_id:
                record["request_id"] = error.request_id
            try:
                self.check_billing(error, job, state, state.kept_record, record)
            except Exception as exc:  # noqa: BLE001 - the check is extra; the verdict stands
                self.events.warn(f"job {job.id}: the billing check failed: {exc}")
        if isinstance(error, InternalError):  # a bug, before anything was sent: stop
            with self.lock:
                self.crashes.append(error)
            self.stop.set()
