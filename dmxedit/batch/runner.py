"""The workers of one batch run: a :class:`Runner` takes the checked jobs and runs
them on threads under the concurrency limit, each through
:func:`dmxedit.engine.pipeline.execute` (or, for a job paid for last time, a download
again), and writes each job's lines in the results file as it goes.

Over 500 lines because its messages are gettext templates (issue #26): each
``T(...)`` names its fields on lines of their own, so a translator sees them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from dmxedit.batch.concurrency import Limit
from dmxedit.batch.jobindex import PreviousResults
from dmxedit.batch.jobrecord import JobEvents, JobRecord
from dmxedit.batch.jobs import Job, job_report
from dmxedit.batch.plan import Spool
from dmxedit.batch.resultsfile import ResultsLog, absolute_files, what_to_do
from dmxedit.batch.summary import BatchEvents, BatchSummary
from dmxedit.core.errors import (
    BatchError,
    DmxError,
    InternalError,
    Interrupted,
    counted,
)
from dmxedit.core.events import Events
from dmxedit.core.i18n import P, T, joined
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings
from dmxedit.core.temporaries import Temporaries
from dmxedit.engine import pipeline
from dmxedit.engine.billing import Clock, Sleep, after_failure
from dmxedit.engine.delivery import verdict
from dmxedit.engine.fetch import fetch_again
from dmxedit.engine.records import LedgerRecord, Records
from dmxedit.media.receipt import receipt
from dmxedit.store.names import literal_template
from dmxedit.store.results import Saver

if TYPE_CHECKING:
    from dmxedit.api.client import Client
    from dmxedit.store.ledger import Ledger


class Runner:
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
        #: the billing check's clock and sleep (the run's own; run_batch sets them)
        self.clock: Clock = time.time
        self.sleep: Sleep = time.sleep
        self.jobs: queue.Queue[tuple[Job, str] | None] = queue.Queue()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.crashes: list[BaseException] = []
        self.problems: list[str] = []
        self.started: set[str] = set()
        self.threads: list[threading.Thread] = []
        self.running = 0
        self.queued = 0
        self.spool: Spool | None = None
        self.limit = Limit(4)
        # The result URLs of the jobs running now that have them (answered, not yet
        # saved): what a second Ctrl-C abandons is printed, as a single edit prints it.
        self.answered: dict[str, list[str]] = {}

    def got_urls(self, job: Job, urls: list[str]) -> None:
        """A running job has its result URLs (its answer came, or it downloads again)."""
        if urls:
            with self.lock:
                self.answered[job.id] = list(urls)

    def run(self, spool: Spool, limit: Limit) -> None:
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
            raise self.wind_down(threads) from None
        not_run: list[str] = []
        if len(self.started) < spool.count:
            not_run = [job.id for job, _ in spool if job.id not in self.started]
        if self.crashes or self.problems or not_run:
            raise self.stopped(not_run)

    def wind_down(self, threads: list[threading.Thread]) -> Interrupted:
        """The first Ctrl-C: no new job starts, the running ones finish and save (a
        second abandons them); the error the run ends with."""
        self.stop.set()
        with self.lock:
            running = self.running
        self.events.warn(
            P(
                "Stopping: {count:,} running job will finish and save (it is paid for); no "
                "new job starts. Press Ctrl-C again to abandon it.",
                "Stopping: {count:,} running jobs will finish and save (they are paid for); "
                "no new job starts. Press Ctrl-C again to abandon them.",
                running,
            )
        )
        try:
            self.join(threads)
        except KeyboardInterrupt:
            return self.interrupted(abandoned=True)
        return self.interrupted(abandoned=False)

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
        shown: str = ", ".join(not_run[:10])
        if len(not_run) > 10:
            shown = T("{listed} and {more:,} more", listed=shown, more=len(not_run) - 10)
        parts: list[str] = [
            T(
                "The batch stopped early: {reasons}.",
                reasons=joined(reasons or [T("a worker stopped")], "; "),
            )
        ]
        if not_run:
            parts.append(
                P(
                    "{count:,} job did not run: {shown}.",
                    "{count:,} jobs did not run: {shown}.",
                    len(not_run),
                    shown=shown,
                )
            )
        parts.append(
            summary.next_run() if self.log.path is not None else summary.next_run_unrecorded()
        )
        message = joined(parts, " ")
        details = {"summary": summary.to_dict(), "not_run": not_run}
        if self.crashes and not self.problems:
            return InternalError(
                message, hint=T("This is a bug in dmxedit: please report it."), details=details
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
            what: str = T(
                "Interrupted twice: {jobs} abandoned.", jobs=counted(running, "running job")
            )
            kept = [
                where
                for where, there in (
                    (T("the results file"), self.log.path is not None),
                    (T("the ledger"), self.book is not None),
                )
                if there
            ]
            if urls:
                # Paid results not saved: their URLs go to standard output, as a single
                # edit's do, so a script keeps them even without a results file.
                printed = urls
                if len(kept) == 2:
                    places: str = T(" and kept in {one} and {other}", one=kept[0], other=kept[1])
                else:
                    places = T(" and kept in {one}", one=kept[0]) if kept else ""
                what = T(
                    "{what}{printed}",
                    what=what,
                    printed=P(
                        " The {count:,} result URL they had received is printed{places}.",
                        " The {count:,} result URLs they had received are printed{places}.",
                        len(urls),
                        places=places,
                    ),
                )
        else:
            what = T("Interrupted: the running jobs finished and were saved.")
        return Interrupted(
            T(
                "{what} {jobs} done, {failed:,} failed. {next_run}",
                what=what,
                jobs=counted(summary.ok, "job"),
                failed=summary.failed,
                next_run=(
                    summary.next_run()
                    if self.log.path is not None
                    else summary.next_run_unrecorded(ledger=self.book is not None)
                ),
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
        job_record: JobRecord | None,
        kept: Any,
        record: dict[str, Any],
    ) -> None:
        """With a system token: did DMXAPI bill this job? The verdict goes in its line."""
        if self.settings is None or not self.settings.has_account:
            return

        verdict = after_failure(
            self.settings,
            error,
            model=job.request.model,
            sent_at=job_record.begun_at if job_record is not None else None,
            book=self.book,
            entry_id=kept.entry_id if kept is not None else None,
            settle_hint="Run the batch again with --reconcile in a minute to settle it.",
            clock=self.clock,
            sleep=self.sleep,
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
        state = JobRecord(self.log, job, self.trouble)
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
                T(
                    "the results file {path} could not record job {id} ({name}: {exc})",
                    path=self.log.path,
                    id=job.id,
                    name=type(exc).__name__,
                    exc=exc,
                )
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
            self.trouble(
                T(
                    "job {id}'s outcome could not be shown ({name}: {exc})",
                    id=job.id,
                    name=type(exc).__name__,
                    exc=exc,
                )
            )
        return bool(record["status"] == "ok")

    def fetch(self, job: Job, client: Client, record: dict[str, Any], state: JobRecord) -> None:
        """A job paid for last time: download its result again, never generate it again."""

        saver = self.saver(job)
        saved = []
        for url in state.urls:
            saved.append(fetch_again(client, saver, url))
            state.kept(saved[-1])
        for note in (n for image in saved for n in saver.notes(image)):
            self.events.warn(
                T("job {id} (line {line}): {note}", id=job.id, line=job.line, note=note)
            )
        files = [str(image.path) for image in saved]
        request = job.request
        delivered, found = receipt(
            request.expected(),
            saved,
            lambda text: self.events.warn(
                T("job {id} (line {line}): {text}", id=job.id, line=job.line, text=text)
            ),
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
                    T(
                        "job {id} (line {line}): the ledger could not record the saved "
                        "files ({name}: {exc}).",
                        id=job.id,
                        line=job.line,
                        name=type(exc).__name__,
                        exc=exc,
                    )
                )

    def saver(self, job: Job) -> Saver:
        return Saver(
            folder=job.output,
            prefix=job.request.prefix,
            temporaries=self.temporaries,
            naming=job.naming,
            exact=job.exact,
        )

    def send(self, job: Job, client: Client, record: dict[str, Any], state: JobRecord) -> None:
        """Send a job's request through the pipeline."""

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
            events=JobEvents(self.events, job),
            save_metadata=self.options.save_metadata,
            record=Records(state, kept),
            hash_inputs=kept is not None,
            digest_cache=self.book,
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

    def failed(self, error: DmxError, job: Job, state: JobRecord, record: dict[str, Any]) -> None:
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
                self.events.warn(T("job {id}: the billing check failed: {exc}", id=job.id, exc=exc))
        if isinstance(error, InternalError):  # a bug, before anything was sent: stop
            with self.lock:
                self.crashes.append(error)
            self.stop.set()
