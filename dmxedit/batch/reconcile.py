"""`batch --reconcile`: the billing check (SPEC 8) for every job of a results file
whose last line says it may have been billed, recorded as a line of its own."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmxedit.api.account import Account
from dmxedit.batch.jobs import job_id
from dmxedit.batch.resultsfile import ResultsLog, what_to_do
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.engine.billing import (
    UPLOAD_BEFORE,
    Clock,
    Target,
    Verdict,
    claimed_ids,
    record,
    safe_check,
)
from dmxedit.store import ledger

if TYPE_CHECKING:
    from dmxedit.batch.jobs import Defaults, JobSource
    from dmxedit.store.ledger import Entry, Ledger

LOG_LAG = 5.0  # seconds DMXAPI may take to list a charge
WINDOW_AFTER = 60.0  # the window ends this long after the failure (SPEC 8)
SLACK = 3.0  # seconds added on both sides of the window for the clocks
SKEW_MIN = 2.0  # the server's clock is trusted to differ only beyond this (Date: 1 s steps)
RETRY_DELAYS = (1.0, 2.0, 2.0)  # right after a failure: at most 5 s of waiting for the log
ESTIMATE_DAYS = 7  # the cost estimate reads the last week's log, one bounded page
ESTIMATE_ITEMS = 100


@dataclass
class Reconciled:
    """What `batch --reconcile` found, job by job."""

    results: str
    checked: list[dict[str, Any]] = field(default_factory=list)

    def count(self, billed: bool | None) -> int:
        return sum(1 for j in self.checked if j["billed"] is billed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "results": self.results,
            "checked": self.checked,
            "billed": self.count(True),
            "not_billed": self.count(False),
            "unknown": self.count(None),
        }


def reconcile(
    source: JobSource,
    defaults: Defaults,
    results: Path,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock = time.time,
) -> Reconciled:
    """Check every job of a results file held back as "may have been billed" and append
    a line with the verdict: a re-run then resends the jobs found not billed. ``env`` is
    the environment the ledger is found from (the process's by default)."""

    settings = defaults.settings
    settings.require_account()
    log = ResultsLog(results)
    log.lock()
    book = None
    report = Reconciled(results=str(results))
    try:
        previous = log.previous()
        sent_at = _sent_times(results)
        book = ledger.open_ledger(settings.history, env, create=False)
        resolved = str(results.resolve())
        todo: list[tuple[str, Mapping[str, Any], str]] = []
        for _line, obj in source.lines():
            if isinstance(obj, InputError) or not isinstance(obj, dict):
                continue
            ident = job_id(obj)
            before = previous.get(ident)
            if before is None or what_to_do(before, resend_unknown=False) != "unknown":
                continue
            if before.get("urls") or before.get("billed") is not None:
                continue  # answered (paid, nothing to check) or settled already
            model = obj.get("model") if isinstance(obj.get("model"), str) else None
            todo.append((ident, before, model or settings.model))
        if not todo:
            return report
        log.open()
        with Account(settings) as account:
            for ident, last, model in todo:
                entry = book.newest_for_job(resolved, ident) if book is not None else None
                verdict = _check_job(account, book, entry, last, (model, sent_at.get(ident)), clock)
                if entry is not None:
                    record(book, entry.id, verdict)
                log.append({**last, "billed": verdict.billed, "billing": verdict.to_dict()})
                report.checked.append({"id": ident, "line": last.get("line"), **verdict.to_dict()})
    finally:
        log.close()
        if book is not None:
            book.close()
    return report


def _check_job(
    account: Account,
    book: Ledger | None,
    entry: Entry | None,
    last: Mapping[str, Any],
    sent: tuple[str, float | None],
    clock: Clock,
) -> Verdict:
    model, sent_at = sent
    if entry is not None:
        target = Target(entry.model or model, entry.created, entry.updated, entry.request_id)
        return safe_check(account, claimed_ids(book, target, entry.id), delays=(), clock=clock)
    if sent_at is None:
        return Verdict(
            None,
            "unavailable",
            T(
                "dmxedit has no record of when it was sent (no ledger entry, "
                "and the results file's line has no time), so the log cannot "
                "be searched for it.",
            ),
            [],
            clock(),
        )
    elapsed = float(last.get("elapsed_s") or 0.0)
    target = Target(
        model, sent_at - UPLOAD_BEFORE, sent_at + elapsed, last.get("request_id") or None
    )
    return safe_check(account, claimed_ids(book, target), delays=(), clock=clock)


def _sent_times(results: Path) -> dict[str, float]:
    """When each job's request last went out, from the results file's ``sent`` lines."""
    out: dict[str, float] = {}
    try:
        with open(results, "rb") as fh:
            for raw in fh:
                try:
                    line = json.loads(raw.decode("utf-8"))
                except ValueError:
                    continue
                if isinstance(line, dict) and line.get("status") == "sent":
                    at = line.get("sent_at")
                    if isinstance(at, (int, float)) and not isinstance(at, bool):
                        out[str(line.get("id"))] = float(at)
    except OSError:
        pass
    return out


# -- the batch plan's cost estimate --------------------------------------------------------
