"""What a batch job tells as it goes: its :class:`JobRecord` (the ``sent`` and
``answered`` lines in the results file, the moment they happen) and its
:class:`JobEvents` (its warnings, naming the job, on the batch's display)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from dmxedit.batch.jobs import Job
from dmxedit.batch.resultsfile import ResultsLog
from dmxedit.batch.summary import BatchEvents
from dmxedit.core.events import Events
from dmxedit.core.i18n import T
from dmxedit.engine.delivery import Delivery
from dmxedit.engine.records import LedgerRecord

if TYPE_CHECKING:
    from dmxedit.api.client import Answer
    from dmxedit.store.results import Blob


class JobRecord(Delivery):
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
        values: dict[str, object] = {"path": self.log.path, "id": self.job.id, "step": step}
        values.update(kind=type(exc).__name__, exc=exc)
        message = T(
            "the results file {path} could not record that job {id} was {step} ({kind}: {exc})",
            **values,
        )
        if self.on_trouble is not None:
            self.on_trouble(message)
        return T(
            "The results file {path} could not record that job {id} was {step} ({kind}: "
            "{exc}); no new job starts.",
            **values,
        )


class JobEvents(Events):
    """A job's own warnings reach the batch's display, naming the job."""

    def __init__(self, events: BatchEvents, job: Job) -> None:
        self.events = events
        self.job = job

    def warn(self, message: str) -> None:
        self.events.warn(
            T(
                "job {id} (line {line}): {message}",
                id=self.job.id,
                line=self.job.line,
                message=message,
            )
        )

    def note(self, message: str) -> None:
        self.events.note(
            T(
                "job {id} (line {line}): {message}",
                id=self.job.id,
                line=self.job.line,
                message=message,
            )
        )
