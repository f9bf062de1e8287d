"""`dmxedit batch JOBS --status`: done / failed / held back / not started, every shard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dmxedit.cli.context import RunContext
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import N_, P, T, shown

if TYPE_CHECKING:
    from dmxedit.batch.status import BatchStatus
    from dmxedit.cli.batch_run import BatchFlags


def show_status(ctx: RunContext, jobs: str, flags: BatchFlags) -> None:
    """Read the jobs file and every results file of it; print the counts. Sends nothing."""
    from dmxedit.batch.jobs import spool_stdin
    from dmxedit.batch.shards import INDEX_ENV, parse_shard
    from dmxedit.batch.status import status_of

    if flags.dry_run or flags.resend_unknown or flags.max_tokens is not None:
        raise InputError(
            T("--status only reports; --dry-run, --resend-unknown and --max-tokens go with a run.")
        )
    if str(flags.concurrency) != "4":
        raise InputError(T("--status only reports; --concurrency goes with a run."))
    asked = parse_shard(flags.shard, {INDEX_ENV: "0"}) if flags.shard is not None else None
    if jobs == "-":
        path, naming = spool_stdin(ctx.claim_stdin(N_("jobs"))), Path("stdin.jsonl")
    else:
        path = naming = Path(jobs).expanduser()
        if not path.is_file():
            raise InputError(T("Jobs file {path!r} does not exist or is not a file.", path=jobs))
    results = Path(flags.results).expanduser() if flags.results else None
    try:
        status = status_of(path, naming, jobs, asked, results)
    finally:
        if jobs == "-":
            path.unlink(missing_ok=True)
    if ctx.json:
        ctx.emit_json(status.to_dict())
        return
    ctx.emit_lines(_lines(jobs, status))
    if status.counts.held_back and not ctx.quiet:
        held = T(
            "held back: sent without a result, so may have been billed (or running now); a "
            "re-run sends them only with --resend-unknown."
        )
        print(f"dmxedit: {shown(held)}", file=ctx.stderr)


def _lines(jobs: str, status: BatchStatus) -> list[str]:
    lines = [f"{jobs}: {shown(status.counts.describe())}"]
    for each in status.shards:
        if each.results:
            where = "(" + Path(each.results).name + ")"
        else:
            where = shown(T("(no results file yet)"))
        shard = T(
            "shard {k} of {n}: {counts} {where}",
            k=each.shard.k,
            n=each.shard.n,
            counts=each.counts.describe(),
            where=where,
        )
        lines.append("  " + shown(shard))
    if status.not_jobs or status.duplicates:
        bad = P(
            "{count:,} line is not a job or repeats an id: the batch refuses the file until "
            "it is fixed (--dry-run names it).",
            "{count:,} lines are not jobs or repeat an id: the batch refuses the file until "
            "they are fixed (--dry-run names them).",
            status.not_jobs + status.duplicates,
        )
        lines.append("  " + shown(bad))
    read = ", ".join(Path(p).name for p in status.results) or shown(T("none yet"))
    lines.append("  " + shown(T("results files read: {files}", files=read)))
    return lines
