"""`dmxedit batch JOBS --status`: done / failed / held back / not started, every shard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dmxedit.cli.context import RunContext
from dmxedit.core.errors import InputError

if TYPE_CHECKING:
    from dmxedit.cli.batch_run import BatchFlags


def show_status(ctx: RunContext, jobs: str, flags: BatchFlags) -> None:
    """Read the jobs file and every results file of it; print the counts. Sends nothing."""
    from dmxedit.batch.jobs import JobSource, spool_stdin
    from dmxedit.batch.shards import INDEX_ENV, Shard, parse_shard, results_file, shard_files
    from dmxedit.batch.status import batch_status

    if flags.dry_run or flags.resend_unknown or flags.max_tokens is not None:
        raise InputError(
            "--status only reports; --dry-run, --resend-unknown and --max-tokens go with a run."
        )
    if str(flags.concurrency) != "4":
        raise InputError("--status only reports; --concurrency goes with a run.")
    asked = parse_shard(flags.shard, {INDEX_ENV: "0"}) if flags.shard is not None else None
    if jobs == "-":
        path, naming = spool_stdin(ctx.claim_stdin("jobs")), Path("stdin.jsonl")
    else:
        path = naming = Path(jobs).expanduser()
        if not path.is_file():
            raise InputError(f"Jobs file {jobs!r} does not exist or is not a file.")
    try:
        found = shard_files(naming)
        files = [results_file(naming, None)] + [p for _, p in found]
        if flags.results:
            files.append(Path(flags.results).expanduser())
        unique: list[Path] = []
        seen: set[Path] = set()
        for file in files:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                unique.append(file)
        sizes = {s.n for s, _ in found} | ({asked.n} if asked else set())
        by_shard = dict(found)
        shards: dict[Shard, Path | None] = {}  # every shard of each N, with its file
        for n in sorted(sizes):
            for k in range(1, n + 1):
                shard = Shard(k, n)
                shards[shard] = by_shard.get(shard)
        source = JobSource(path=path, base=path.parent)
        status = batch_status(source, jobs, unique, shards)
    finally:
        if jobs == "-":
            path.unlink(missing_ok=True)
    if ctx.json:
        ctx.emit_json(status.to_dict())
        return
    lines = [f"{jobs}: {status.counts.describe()}"]
    for each in status.shards:
        where = f"({Path(each.results).name})" if each.results else "(no results file yet)"
        lines.append(f"  shard {each.shard.k} of {each.shard.n}: {each.counts.describe()} {where}")
    if status.not_jobs or status.duplicates:
        lines.append(
            f"  {status.not_jobs + status.duplicates:,} line(s) are not jobs or repeat an id: "
            "the batch refuses the file until they are fixed (--dry-run names them)."
        )
    read = ", ".join(Path(p).name for p in status.results) or "none yet"
    lines.append(f"  results files read: {read}")
    ctx.emit_lines(lines)
    if status.counts.held_back and not ctx.quiet:
        print(
            "dmxedit: held back: sent without a result, so may have been billed (or running "
            "now); a re-run sends them only with --resend-unknown.",
            file=ctx.stderr,
        )
