"""What a batch run tells its caller: the :class:`BatchSummary` it returns (and puts in
its errors' details), and the :class:`BatchEvents` callbacks the CLI shows live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dmxedit.batch.concurrency import Concurrency
from dmxedit.batch.resultsfile import what_to_do
from dmxedit.core.errors import counted
from dmxedit.core.i18n import P, T, joined


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
    estimated_tokens: int = 0  # documented tokens of the jobs to send
    unknown_tokens: int = 0  # jobs to send whose models document no tokens (SPEC 12)
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
            "unknown_tokens": self.unknown_tokens,
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

    def tokens_text(self) -> str:
        """The token estimate in words: "about 2,420 tokens, plus 3 jobs of unknown
        tokens" (DMXAPI documents none for their models; never a guess)."""
        return estimate_words(self.estimated_tokens, self.unknown_tokens)

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
            parts.append(
                P(
                    "send {count:,} job that failed or did not start",
                    "send {count:,} jobs that failed or did not start",
                    self.retry,
                )
            )
        if self.over_budget:
            parts.append(
                P(
                    "send the {count:,} job left out by --max-tokens (a new budget for each run)",
                    "send the {count:,} jobs left out by --max-tokens (a new budget for each run)",
                    self.over_budget,
                )
            )
        if self.refetch:
            parts.append(
                P(
                    "download {count:,} paid result without generating it again",
                    "download {count:,} paid results without generating them again",
                    self.refetch,
                )
            )
        if held:
            parts.append(
                P(
                    "hold back {count:,} job that may have been billed (--resend-unknown "
                    "sends them)",
                    "hold back {count:,} jobs that may have been billed (--resend-unknown "
                    "sends them)",
                    held,
                )
            )
        if not parts:
            return T("A re-run will skip every finished job.")
        return T("A re-run skips finished jobs and will {parts}.", parts=joined(parts, ", "))

    def next_run_unrecorded(self, ledger: bool = True) -> str:
        """What running the same command again will do when no results file was kept
        (`edit --each` or `--variants` without --results): everything again. ``ledger``:
        the ledger kept the paid results not saved (`dmxedit recover` fetches them)."""
        if self.refetch and ledger:
            return T(
                "No results file was kept, so running the same command again sends every job "
                "again, the finished ones too (--results FILE makes it resumable). `dmxedit "
                "recover` downloads the paid results that were not saved."
            )
        return T(
            "No results file was kept, so running the same command again sends every job "
            "again, the finished ones too (--results FILE makes it resumable)."
        )


def estimate_words(tokens: int, unknown: int) -> str:
    """``tokens`` documented, plus ``unknown`` jobs (or requests) whose tokens DMXAPI
    does not document, in words."""
    if not unknown:
        return T("about {tokens:,} tokens", tokens=tokens)
    jobs = counted(unknown, "job")
    if not tokens:
        return T(
            "tokens unknown ({jobs} of models whose tokens DMXAPI does not document)", jobs=jobs
        )
    return T("about {tokens:,} tokens, plus {jobs} of unknown tokens", tokens=tokens, jobs=jobs)


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
