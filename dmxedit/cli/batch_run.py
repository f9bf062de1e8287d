"""The batch engine's glue for `dmxedit batch` and `edit --each`: events and runs.

Imported only when a batch runs, so the light commands stay fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmxedit.batch.jobs import Defaults, JobSource, spool_stdin
from dmxedit.batch.run import run_batch
from dmxedit.batch.shards import Shard
from dmxedit.batch.summary import BatchEvents, BatchSummary
from dmxedit.cli.common import deliver
from dmxedit.cli.context import RunContext
from dmxedit.core.errors import BatchError, ExitCode, InputError, Interrupted
from dmxedit.core.i18n import N_, P, T, shown
from dmxedit.core.options import ImageOptions


def _data_lines(record: Mapping[str, Any]) -> list[str]:
    """What a finished job puts on stdout: its saved files, or the URLs of a paid result
    that could not be saved (exit 6), so that a script never loses one."""
    if record["status"] == "ok":
        return list(record["files"])
    if record.get("exit_code") == ExitCode.NOT_SAVED:
        return list(record.get("files") or []) + list(record.get("urls") or [])
    return []


def _closing(summary: BatchSummary) -> str:
    """What a batch in which every job succeeded says last."""
    if summary.ok:
        done = P(
            "{count:,} job done in {seconds:.1f} s",
            "{count:,} jobs done in {seconds:.1f} s",
            summary.ok,
            seconds=summary.elapsed_s,
        )
        text = shown(done)
        if summary.skipped:
            text += shown(T(" ({count:,} done before)", count=summary.skipped))
    else:
        text = shown(
            P(
                "Nothing to do: {count:,} job done before",
                "Nothing to do: {count:,} jobs done before",
                summary.skipped,
            )
        )
    if summary.results:
        text += shown(T("; results in {path}", path=summary.results))
    return text + shown(T("."))


def _failure(record: Mapping[str, Any]) -> str:
    text = shown(
        T(
            "job {id} (line {line}) failed: {error}",
            id=record["id"],
            line=record["line"],
            error=shown(record["error"]),
        )
    )
    urls = record.get("urls") or []
    if record.get("exit_code") == ExitCode.NOT_SAVED and urls:
        text += " " + shown(T("Result URL: {url}", url=" ".join(urls)))
    return text


class PlainBatchEvents(BatchEvents):
    """Plain lines: the plan, each finished job, and a status line every 10 s."""

    def __init__(self, ctx: RunContext, quiet: bool, print_files: bool) -> None:
        self.ctx = ctx
        self.quiet = quiet
        self.print_files = print_files
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()  # one whole line at a time on stderr
        self.total = 0
        self.done = 0
        self.failed = 0
        self.running = 0
        self.started = time.monotonic()
        self.last_status = self.started
        self.verbose = False
        # `--each` / `--variants`: the saved paths go out in the jobs' order (image, then
        # variant), not in the order the jobs finished, once the batch ends.
        self.ordered = False
        self._held: list[tuple[tuple[int, int], list[str]]] = []

    def data(self, record: Mapping[str, Any]) -> None:
        """A finished job's lines for standard output: now, or held for ``ordered``."""
        if not self.print_files:
            return
        lines = _data_lines(record)
        if self.ordered:
            self._held.append(((int(record["line"]), int(record.get("variant") or 0)), lines))
        else:
            self.emit(lines)

    def emit(self, lines: list[str]) -> None:
        deliver(self.ctx, lambda: self.ctx.emit_lines(lines), lines)

    def flush_held(self) -> None:
        held, self._held = self._held, []
        lines = [line for _, each in sorted(held, key=lambda item: item[0]) for line in each]
        if lines:
            PlainBatchEvents.emit(self, lines)  # after the live line: plain lines

    def _line(self, text: str) -> None:
        """One line on stderr in one write: print() writes the text and the newline
        apart, so lines from two job threads could run into each other."""
        from dmxedit.cli.ui import shown

        with self.write_lock:
            self.ctx.stderr.write(shown(text) + "\n")
            self.ctx.stderr.flush()

    def _say(self, message: str) -> None:
        if not self.quiet:
            self._line("dmxedit: " + shown(message))

    def plan(self, summary: BatchSummary) -> None:
        self.total = summary.to_send + summary.to_fetch
        self._say(_plan_line(summary))

    def job_started(self, job_id: str) -> None:
        with self.lock:
            self.running += 1

    def eta(self) -> str:
        finished = self.done + self.failed
        if not finished:
            return "?"
        per_job = (time.monotonic() - self.started) / finished
        return T("{seconds:.0f} s", seconds=per_job * (self.total - finished))

    def job_finished(self, record: Mapping[str, Any]) -> None:
        with self.lock:
            self.running -= 1
            if record["status"] == "ok":
                self.done += 1
            else:
                self.failed += 1
            position = self.done + self.failed
            self.data(record)
            if record["status"] != "ok":
                self._line("dmxedit: " + _failure(record))
            now = time.monotonic()
            step = max(1, self.total // 10)  # every 10 % of the jobs, or every 10 s
            if now - self.last_status >= 10 or position == self.total or position % step == 0:
                self.last_status = now
                self._say(
                    T(
                        "done {done}, failed {failed}, running {running}, total {total}, ETA {eta}",
                        done=self.done,
                        failed=self.failed,
                        running=self.running,
                        total=self.total,
                        eta=self.eta(),
                    )
                )

    def warn(self, message: str) -> None:
        self._line("dmxedit: warning: " + shown(message))  # the English prefix: see ui.warn

    def note(self, message: str) -> None:
        self._say(message)

    def concurrency_changed(self, old: int, new: int, why: str) -> None:
        if self.verbose or (new < old and not self.quiet):
            self._note(T("concurrency {old} -> {new} ({why})", old=old, new=new, why=why))

    def _note(self, message: str) -> None:
        self._line("dmxedit: " + shown(message))

    def finished(self, summary: BatchSummary) -> None:
        """The closing line of a batch in which every job succeeded."""
        self._say(_closing(summary))

    def close(self) -> None:
        self.flush_held()


class LiveBatchEvents(PlainBatchEvents):
    """On a terminal: one live line with done / failed / running / total and an ETA."""

    def __init__(self, ctx: RunContext, quiet: bool, print_files: bool) -> None:
        super().__init__(ctx, quiet, print_files)
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeRemainingColumn(),
            console=ctx.console(),
            transient=False,
            # Standard output carries data (the saved paths): never through the display.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.task = self.progress.add_task(shown(T("Batch")), total=None, counts="")

    def plan(self, summary: BatchSummary) -> None:
        super().plan(summary)
        self.progress.update(self.task, total=self.total, counts=self._counts())
        if self.total:
            self.progress.start()

    def _counts(self) -> str:
        counts = T(
            "done {done}  failed {failed}  running {running}  total {total}",
            done=self.done,
            failed=self.failed,
            running=self.running,
            total=self.total,
        )
        return shown(counts)

    def job_started(self, job_id: str) -> None:
        super().job_started(job_id)
        self.progress.update(self.task, counts=self._counts())

    def emit(self, lines: list[str]) -> None:
        from dmxedit.cli.ui import field

        if self.ctx.stdout_isatty:
            # The same terminal: print above the live line, through its console, or the
            # paths and the line overwrite each other.
            for line in lines:
                self.progress.console.print(
                    field(line), highlight=False, soft_wrap=True, markup=False
                )
        else:
            deliver(self.ctx, lambda: self.ctx.emit_lines(lines), lines)

    def job_finished(self, record: Mapping[str, Any]) -> None:
        from dmxedit.cli import ui

        with self.lock:
            self.running -= 1
            self.data(record)
            if record["status"] == "ok":
                self.done += 1
            else:
                self.failed += 1
                self.progress.console.print(
                    ui.shown(_failure(record)), style="red", highlight=False, markup=False
                )
            self.progress.update(
                self.task, completed=self.done + self.failed, counts=self._counts()
            )

    def warn(self, message: str) -> None:
        from dmxedit.cli import ui

        ui.warn(self.ctx, message)

    def _note(self, message: str) -> None:
        from dmxedit.cli import ui

        self.progress.console.print("dmxedit: " + ui.shown(message), highlight=False, markup=False)

    def finished(self, summary: BatchSummary) -> None:
        # After the live line: it stays as the last state of the bar, with this below it.
        self.progress.stop()
        if not self.quiet:
            from rich.text import Text

            from dmxedit.cli import ui

            self.ctx.console().print(Text(ui.shown(_closing(summary)), style="green"))

    def close(self) -> None:
        self.progress.stop()
        self.flush_held()


@dataclass(frozen=True)
class BatchFlags:
    """The options of a batch run as such (for `batch` and `edit --each` alike)."""

    dry_run: bool = False
    concurrency: int | str = 4
    results: str | None = None
    resend_unknown: bool = False
    shard: str | None = None  # K/N or auto/N (batch)
    max_tokens: int | None = None


def _execute(
    ctx: RunContext,
    source: JobSource,
    defaults: Defaults,
    flags: BatchFlags,
    default_results: Path | None,
    shard: Shard | None = None,
) -> None:
    from dmxedit.batch.concurrency import parse_concurrency

    dry_run = flags.dry_run
    concurrency = parse_concurrency(flags.concurrency)
    live = ctx.live and not dry_run
    kind = LiveBatchEvents if live else PlainBatchEvents
    events = kind(ctx, ctx.quiet or dry_run, not ctx.json)
    events.verbose = ctx.verbose
    events.ordered = source.objects is not None  # --each, --variants: in the jobs' order
    try:
        summary = run_batch(
            source,
            defaults,
            results=Path(flags.results) if flags.results else default_results,
            concurrency=concurrency,
            dry_run=dry_run,
            resend_unknown=flags.resend_unknown,
            events=events,
            temporaries=ctx.temporaries,
            shard=shard,
            max_tokens=flags.max_tokens,
            clock=ctx.clock,
            sleep=ctx.sleep,
        )
    except (BatchError, Interrupted) as error:
        if (
            ctx.json and "summary" in error.details
        ):  # the summary, with the error inside it, is the one JSON object
            ctx.emit_json({**error.details["summary"], "error": error.to_dict()})
            error.json_printed = True
        raise
    else:
        if not dry_run and summary.total:
            events.finished(summary)
    finally:
        events.close()
    if ctx.json:
        ctx.emit_json(summary.to_dict())
    elif dry_run:
        ctx.emit_lines([_dry_run_line(summary)])


def _plan_line(summary: BatchSummary) -> str:
    """The first line of a batch: what it will do, the tokens and the estimated cost."""
    extra = []
    if summary.skipped:
        extra.append(shown(T("{n} already done", n=summary.skipped)))
    if summary.unknown:
        extra.append(shown(T("{n} not resent", n=summary.unknown)))
    if summary.over_budget:
        extra.append(shown(T("{n:,} left out by --max-tokens", n=summary.over_budget)))
    head = shown(P("{count:,} job", "{count:,} jobs", summary.total))
    if summary.shard:
        k, n = summary.shard.split("/")
        head = shown(
            T(
                "shard {k} of {n}: {total:,} of the {jobs:,} jobs",
                k=k,
                n=n,
                total=summary.total,
                jobs=summary.jobs_in_file,
            )
        )
    if extra:
        head += " (" + SEP.join(extra) + ")"
    text = head + shown(T("; sending {n}", n=summary.to_send))
    if summary.to_fetch:
        text += shown(T(", downloading {n} already paid", n=summary.to_fetch))
    text += ", " + shown(summary.tokens_text())
    if summary.estimated_cny is not None:
        cost = T(
            ", about {cny:.2f} CNY (prices of your recent DMXAPI charges)",
            cny=summary.estimated_cny,
        )
        text += shown(cost)
    if summary.max_tokens is not None:
        text += shown(T(" (budget {n:,})", n=summary.max_tokens))
    if summary.concurrency == "auto":
        text += shown(T(", concurrency auto"))
    return text


#: Between the items of a list in a sentence.
SEP = N_(", ")


def _dry_run_line(summary: BatchSummary) -> str:
    """`batch --dry-run`'s one line: what a run would do, and its estimated cost."""
    where = shown(T("Shard {shard}: ", shard=summary.shard)) if summary.shard else ""
    text = where + shown(
        T(
            "{jobs}: {send} to send, {fetch} to download again, {done} already done, "
            "{held} held back",
            jobs=P("{count:,} job", "{count:,} jobs", summary.total),
            send=summary.to_send,
            fetch=summary.to_fetch,
            done=summary.skipped,
            held=summary.unknown,
        )
    )
    if summary.over_budget:
        text += shown(T(", {n} over --max-tokens", n=summary.over_budget))
    text += "; " + shown(summary.tokens_text())
    if summary.estimated_cny is not None:
        text += shown(T(", about {cny:.2f} CNY", cny=summary.estimated_cny))
    return text + shown(T(". Dry run: nothing sent."))


def _defaults(ctx: RunContext, options: ImageOptions, prompt: str | None) -> Defaults:
    from dmxedit.core.settings import resolve

    if options.output == "-":
        raise InputError(T("A batch cannot write images to standard output (-o -)."))
    from dmxedit.store.results import file_target

    if file_target(options.output) is not None:  # -o NAME.png: one file, several results
        raise InputError(
            T(
                "-o {output!r} names one file, and this run saves several images (a batch, "
                "--each, --variants).",
                output=options.output,
            ),
            hint=T("Give -o a folder. In a jobs file, a job's output key may name its own file."),
        )
    settings = resolve(options, env=ctx.env)
    from dmxedit.cli import ui

    for message in settings.warnings:
        ui.warn(ctx, message)
    return Defaults(settings=settings, options=options, prompt=prompt)  # checks --max-side


def run_jobs_file(
    ctx: RunContext,
    jobs: str,
    options: ImageOptions,
    prompt: str | None,
    flags: BatchFlags,
) -> None:
    """`dmxedit batch JOBS.jsonl`: the jobs file (or standard input) on the batch engine."""
    from dmxedit.batch.shards import parse_shard, results_file

    shard = parse_shard(flags.shard, ctx.env) if flags.shard is not None else None
    defaults = _defaults(ctx, options, prompt)
    if jobs == "-":
        path = spool_stdin(ctx.claim_stdin(N_("jobs")))
        base = Path.cwd()
        default_results = results_file(Path("stdin.jsonl"), shard)
    else:
        path = Path(jobs).expanduser()
        if not path.is_file():
            raise InputError(T("Jobs file {path!r} does not exist or is not a file.", path=jobs))
        base = path.parent
        default_results = results_file(path, shard)
    try:
        source = JobSource(path=path, base=base, stdin=jobs == "-")
        _execute(ctx, source, defaults, flags, default_results, shard)
    finally:
        if jobs == "-":
            path.unlink(missing_ok=True)


def run_each(
    ctx: RunContext,
    kind: str,
    images: list[str],
    options: ImageOptions,
    prompt: str | None,
    flags: BatchFlags,
    *,
    each: bool = True,
    variants: int = 1,
) -> None:
    """`edit --each` (one job per image, same prompt) and `--variants N` (each job N
    times), on the batch engine."""
    if "-" in images:
        what = "--each" if each else "--variants"
        raise InputError(T("{option} takes image files, not standard input ('-').", option=what))
    defaults = _defaults(ctx, options, prompt)
    from dmxedit.engine.prepared import resolve_refs

    images = [str(Path(i).resolve()) for i in resolve_refs(images, defaults.settings)]  # @last
    if kind == "generate":
        objects: list[dict[str, Any]] = [{"prompt": prompt}]
    elif each:
        objects = [{"images": [image], "prompt": prompt} for image in images]
    else:
        objects = [{"images": images, "prompt": prompt}]
    _execute(ctx, JobSource(objects=objects, variants=variants), defaults, flags, None)
