"""A batch's plan: every line of the jobs file checked before the first request, and what
this run does with each job (send, fetch again, skip, hold back), with its estimated
tokens and cost.

Memory stays flat: job ids live in an :class:`~dmxedit.batch.jobindex.IdTable`, images
are checked once per list, the jobs to run go to a :class:`Spool` on disk, and at most
``MAX_KEPT_ERRORS`` messages are kept (all are counted).
"""

from __future__ import annotations

import pickle
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dmxedit.batch.jobindex import IdTable, index_jobs
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
from dmxedit.batch.resultsfile import what_to_do
from dmxedit.batch.shards import Shard
from dmxedit.core.errors import DmxError, InputError
from dmxedit.core.i18n import T, joined
from dmxedit.core.settings import Settings
from dmxedit.engine import billing
from dmxedit.store import ledger

#: What a jobs file's line holds, for the message that lists invalid lines.
LINE_HINT = T(
    "Each line is a JSON object: images (list), prompt, and optionally id, ratio, "
    "size, model, format, output, params, name, and the model's options (quality, "
    "background, image_format, compression, moderation, mask, count, search, api)."
)


class Spool:
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
class Plan:
    """What this run does: the counts, the jobs to run (``spool``), their tokens, the
    (model, size) shapes sent (for the cost estimate) and the output folders."""

    spool: Spool
    total: int = 0
    to_send: int = 0
    to_fetch: int = 0
    skipped: int = 0
    unknown: int = 0
    tokens: int = 0  # the documented tokens of the jobs to send
    #: jobs to send whose model documents no tokens (gpt-image, Seedream, qwen, a model
    #: not in the table): their cost is unknown, never guessed
    unknown_tokens: int = 0
    shapes: dict[tuple[str, str | None], int] = field(default_factory=dict)  # (model, size)
    outputs: set[Path] = field(default_factory=set)
    jobs: list[dict[str, Any]] | None = None
    elsewhere: int = 0  # jobs of other shards (checked all the same)
    over_budget: int = 0  # would pass --max-tokens: not started
    budget_spent: bool = False  # once a job would pass --max-tokens, none more starts

    def over_budget_with(self, job: Job, todo: str, max_tokens: int | None) -> bool:
        """Whether ``job`` is left out because sending it would pass ``max_tokens`` (from
        the first such job on, every job to send is)."""
        if todo != "send" or max_tokens is None:
            return False
        spent = self.tokens + (job.request.tokens() or 0) > max_tokens
        self.budget_spent = self.budget_spent or spent
        if self.budget_spent:
            self.over_budget += 1
        return self.budget_spent

    def take(self, job: Job, todo: str, before: Mapping[str, Any] | None, *, spool: bool) -> None:
        """Count a job of this shard by what this run does with it; spool it to run."""
        if todo in ("skip", "unknown") and self.jobs is not None:
            before = before or {}
            self.jobs.append(
                {
                    **job_report(job),
                    "status": "skipped" if todo == "skip" else "held back",
                    "files": list(before.get("files") or []),
                    "urls": list(before.get("urls") or []),
                }
            )
        if todo == "skip":
            self.skipped += 1
            return
        if todo == "unknown":
            self.unknown += 1
            return
        if todo == "send":
            self.to_send += 1
            tokens = job.request.tokens()  # count x the documented tokens; None: unknown
            if tokens is None:
                self.unknown_tokens += 1
            else:
                self.tokens += tokens
            shape = (job.request.model, job.request.size)
            self.shapes[shape] = self.shapes.get(shape, 0) + job.request.count
        else:
            self.to_fetch += 1
        self.outputs.add(job.output)
        if spool:
            self.spool.add(job, todo)


@dataclass
class _Problems:
    """The invalid lines: every one counted, the first MAX_KEPT_ERRORS kept."""

    kept: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, message: str | None) -> None:
        """Count a problem; keep its message when there is one and room for it."""
        self.count += 1
        if message is not None and len(self.kept) < MAX_KEPT_ERRORS:
            self.kept.append(message)

    def add_once(self, message: str) -> None:
        """Count a problem unless it repeats the one just counted (another variant)."""
        if not self.kept or self.kept[-1] != message:
            self.add(message)

    def add_error(self, where: str, error: InputError, variant: int) -> None:
        """Each problem of a job that could not be built (the first variant's: the other
        variants of the line say the same)."""
        if variant == 1:
            for message in error.details.get("problems") or [error.message]:
                self.add(T("{where}: {message}", where=where, message=message))

    def __bool__(self) -> bool:
        return bool(self.kept)

    def error(self, each: bool) -> InputError:
        """The one error that lists them (``each``: the jobs are ``--each``'s images)."""
        shown = self.kept[:MAX_REPORTED]
        more = (
            T("\n... and {count} more", count=self.count - MAX_REPORTED)
            if self.count > MAX_REPORTED
            else ""
        )
        return InputError(
            T(
                "{what}; nothing was sent.\n{problems}{more}",
                what=T("Some images cannot be edited") if each else T("The jobs are invalid"),
                problems=joined(shown),
                more=more,
            ),
            hint=None if each else LINE_HINT,
            details={"invalid": self.kept},
        )


def _duplicate(job: Job, obj: Any, line: int, ids: IdTable) -> str | None:
    """Why ``job`` repeats an earlier line's job, or None."""
    first = ids.line_of(job.id)
    if first is None or first == line:
        return None
    if isinstance(obj, dict) and "id" in obj:
        return T(
            "line {line}: id {id!r} is already used on line {first}",
            line=line,
            id=job.id,
            first=first,
        )
    return T(
        "line {line}: the same job as line {first} (give each an id to run both)",
        line=line,
        first=first,
    )


def _no_cap(job: Job, todo: str, max_tokens: int | None) -> str | None:
    """Why --max-tokens cannot take a job to send whose tokens are not documented (None:
    it can)."""
    if max_tokens is None or todo != "send" or job.request.tokens() is not None:
        return None
    return T(
        "DMXAPI documents no tokens for {model}, so --max-tokens "
        "cannot keep a cap on its cost (leave out --max-tokens, or run "
        "this job in a batch of its own)",
        model=job.request.model,
    )


def _exact_problem(job: Job, todo: str, line: int, files: dict[Path, int]) -> str | None:
    """Why a job's own output file (``-o NAME.png``, a job's ``output``) cannot be
    written: another line's output too, or (to send) it exists already. ``files`` holds
    the output files of the lines before."""
    if job.exact is None or todo not in ("send", "fetch"):
        return None
    taken = files.setdefault(job.exact.absolute(), line)
    named = (job.obj or {}).get("output", str(job.exact))
    if taken != line:
        return T(
            "output {named!r} is line {taken}'s output too",
            named=named,
            taken=taken,
        )
    if todo == "send" and (job.exact.exists() or job.exact.is_symlink()):
        return T(
            "output {named!r} exists, and dmxedit never replaces a file",
            named=named,
        )
    return None


def _job(
    source: JobSource,
    defaults: Defaults,
    obj: Any,
    line: int,
    variant: int,
    jobs_file: str | None,
    checks: ImageChecks,
) -> Job:
    """One entry of the jobs file checked into a job (an unreadable line raises its error)."""
    if isinstance(obj, InputError):
        raise obj
    return build_job(
        obj,
        line,
        source.base,
        defaults,
        variant=variant,
        variants=source.variants,
        jobs_file=jobs_file,
        checks=checks,
    )


def validate(
    source: JobSource,
    defaults: Defaults,
    previous: Mapping[str, Mapping[str, Any]],
    resend_unknown: bool,
    *,
    ids: IdTable | None = None,
    shard: Shard | None = None,
    max_tokens: int | None = None,
    spool: bool = True,
) -> Plan:
    """Check every line (of every shard); plan this shard's jobs. ``ids`` is built here
    when not given; with ``spool`` false (a dry run) no job is spooled. Raises one
    InputError listing the invalid lines."""
    plan = Plan(spool=Spool(), jobs=[] if source.objects is not None else None)
    problems = _Problems()
    ids = index_jobs(source) if ids is None else ids
    checks = ImageChecks()
    jobs_file = source.jobs_file  # resolved once, not once a job
    files: dict[Path, int] = {}  # a job's own output file -> its line (two cannot share)
    for line, obj, variant in source.entries():
        plan.total += 1
        where = (
            T("line {line}", line=line) if source.objects is None else T("image {line}", line=line)
        )
        try:
            job = _job(source, defaults, obj, line, variant, jobs_file, checks)
        except InputError as exc:
            problems.add_error(where, exc, variant)
            continue
        repeated = _duplicate(job, obj, line, ids)
        if repeated is not None:
            problems.add(repeated)
            continue
        if shard is not None and not shard.owns(job.id):
            plan.elsewhere += 1
            continue
        todo = what_to_do(previous.get(job.id), resend_unknown)
        problem = _no_cap(job, todo, max_tokens)
        if problem is None and plan.over_budget_with(job, todo, max_tokens):
            continue
        problem = problem or _exact_problem(job, todo, line, files)
        if problem is not None:
            problems.add_once(
                T("{where}: {problem}", where=where, problem=problem)
            )  # once for the N variants of a line
            continue
        plan.take(job, todo, previous.get(job.id), spool=spool and not problems)
    return _checked(plan, problems, each=source.objects is not None)


def _checked(plan: Plan, problems: _Problems, *, each: bool) -> Plan:
    """The plan, or the one error that lists every problem found (nothing is sent)."""
    if plan.total == 0:
        problems.add(T("no jobs (the file is empty)"))
    if problems:
        plan.spool.close()
        raise problems.error(each=each)
    return plan


def estimate_cost(
    settings: Settings,
    shapes: Mapping[tuple[str, str | None], int],
    env: Mapping[str, str] | None = None,
    *,
    clock: billing.Clock = time.time,
) -> float | None:
    """The plan's cost in CNY from recent charges; None when unknown (never an error).
    ``env`` is the environment the ledger is found from (the process's by default)."""

    try:
        book = ledger.open_ledger(settings.history, env, create=False)
    except DmxError:
        return None
    try:
        found = billing.estimate(settings, shapes, book, clock=clock)
    finally:
        if book is not None:
            book.close()
    return found[0] if found else None


__all__ = ["Plan", "Spool", "estimate_cost", "validate"]
