"""The batch engine's glue for `dmxedit batch` and `edit --each`: events and runs.

Imported only when a batch runs, so the light commands stay fast.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..batch import BatchEvents, BatchSummary, Defaults, JobSource, run_batch, spool_stdin
from ..errors import BatchError, ExitCode, InputError
from .common import ImageOptions, Stdin, emit_json, emit_lines, read_prompt
from .state import state


def _data_lines(record: Mapping[str, Any]) -> list[str]:
    """What a finished job puts on stdout: its saved files, or the URLs of a paid result
    that could not be saved (exit 6), so that a script never loses one."""
    if record["status"] == "ok":
        return list(record["files"])
    if record.get("exit_code") == ExitCode.NOT_SAVED:
        return list(record.get("files") or []) + list(record.get("urls") or [])
    return []


def _failure(record: Mapping[str, Any]) -> str:
    text = f"job {record['id']} (line {record['line']}) failed: {record['error']}"
    urls = record.get("urls") or []
    if record.get("exit_code") == ExitCode.NOT_SAVED and urls:
        text += " Result URL: " + " ".join(urls)
    return text


class PlainBatchEvents(BatchEvents):
    """Plain lines: the plan, each finished job, and a status line every 10 s."""

    def __init__(self, quiet: bool, print_files: bool) -> None:
        self.quiet = quiet
        self.print_files = print_files
        self.lock = threading.Lock()
        self.total = 0
        self.done = 0
        self.failed = 0
        self.running = 0
        self.started = time.monotonic()
        self.last_status = self.started

    def _say(self, message: str) -> None:
        if not self.quiet:
            print(f"dmxedit: {message}", file=sys.stderr, flush=True)

    def plan(self, summary: BatchSummary) -> None:
        self.total = summary.to_send
        extra = []
        if summary.skipped:
            extra.append(f"{summary.skipped} already done")
        if summary.unknown:
            extra.append(f"{summary.unknown} not resent")
        note = f" ({', '.join(extra)})" if extra else ""
        self._say(
            f"{summary.total} jobs{note}; sending {summary.to_send}, about "
            f"{summary.estimated_tokens:,} tokens"
        )

    def job_started(self, job_id: str) -> None:
        with self.lock:
            self.running += 1

    def eta(self) -> str:
        finished = self.done + self.failed
        if not finished:
            return "?"
        per_job = (time.monotonic() - self.started) / finished
        return f"{per_job * (self.total - finished):.0f} s"

    def job_finished(self, record: Mapping[str, Any]) -> None:
        with self.lock:
            self.running -= 1
            if record["status"] == "ok":
                self.done += 1
            else:
                self.failed += 1
            position = self.done + self.failed
            if self.print_files:
                emit_lines(_data_lines(record))
            if record["status"] != "ok":
                print(f"dmxedit: {_failure(record)}", file=sys.stderr, flush=True)
            now = time.monotonic()
            if now - self.last_status >= 10 or position == self.total:
                self.last_status = now
                self._say(
                    f"done {self.done}, failed {self.failed}, running {self.running}, "
                    f"total {self.total}, ETA {self.eta()}"
                )

    def warn(self, message: str) -> None:
        print(f"dmxedit: warning: {message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


class LiveBatchEvents(PlainBatchEvents):
    """On a terminal: one live line with done / failed / running / total and an ETA."""

    def __init__(self, quiet: bool, print_files: bool) -> None:
        super().__init__(quiet, print_files)
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from .. import ui

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeRemainingColumn(),
            console=ui.console(),
            transient=False,
            # Standard output carries data (the saved paths): never through the display.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.task = self.progress.add_task("Batch", total=None, counts="")

    def plan(self, summary: BatchSummary) -> None:
        super().plan(summary)
        self.progress.update(self.task, total=summary.to_send, counts=self._counts())
        if summary.to_send:
            self.progress.start()

    def _counts(self) -> str:
        return f"done {self.done}  failed {self.failed}  running {self.running}  total {self.total}"

    def job_started(self, job_id: str) -> None:
        super().job_started(job_id)
        self.progress.update(self.task, counts=self._counts())

    def job_finished(self, record: Mapping[str, Any]) -> None:
        with self.lock:
            self.running -= 1
            if self.print_files:
                emit_lines(_data_lines(record))
            if record["status"] == "ok":
                self.done += 1
            else:
                self.failed += 1
                self.progress.console.print(_failure(record), style="red", highlight=False)
            self.progress.update(
                self.task, completed=self.done + self.failed, counts=self._counts()
            )

    def warn(self, message: str) -> None:
        from .. import ui

        ui.warn(message)

    def close(self) -> None:
        self.progress.stop()


def _execute(
    source: JobSource,
    defaults: Defaults,
    opts: ImageOptions,
    *,
    results: Path | None,
    concurrency: int,
    resend_unknown: bool,
) -> None:
    from .. import ui

    live = ui.stderr_is_terminal() and not opts.quiet and not opts.dry_run
    kind = LiveBatchEvents if live else PlainBatchEvents
    events = kind(opts.quiet or opts.dry_run, not opts.json_out)
    try:
        summary = run_batch(
            source,
            defaults,
            results=results,
            concurrency=concurrency,
            dry_run=opts.dry_run,
            retry_server_errors=opts.retry_server_errors,
            resend_unknown=resend_unknown,
            events=events,
        )
    except BatchError as error:
        events.close()
        if opts.json_out:
            emit_json({**error.details["summary"], "error": error.to_dict()})
            state.json = False  # the summary is printed; the boundary adds only the panel
        raise
    events.close()
    if opts.json_out:
        emit_json(summary.to_dict())
    elif opts.dry_run:
        emit_lines(
            [
                f"{summary.total} jobs: {summary.to_send} to send, {summary.skipped} already "
                f"done, {summary.unknown} not resent; about {summary.estimated_tokens:,} "
                "tokens. Dry run: nothing sent."
            ]
        )


def _defaults(opts: ImageOptions, text: str | None) -> Defaults:
    return Defaults(
        settings=opts.settings(),
        prompt=text,
        params=tuple(opts.param or []),
        output=opts.output,
        save_metadata=opts.save_metadata,
    )


def run_jobs_file(
    jobs: str,
    opts: ImageOptions,
    *,
    concurrency: int,
    results: str | None,
    resend_unknown: bool,
) -> None:
    """`dmxedit batch JOBS.jsonl`: the jobs file (or standard input) on the batch engine."""
    opts.begin()
    if opts.output == "-":
        raise InputError("A batch cannot write images to standard output (-o -).")
    stdin = Stdin()
    defaults = _defaults(opts, read_prompt(opts.prompt, opts.prompt_file, stdin))
    if jobs == "-":
        stdin.claim("jobs")
        path = spool_stdin(sys.stdin.buffer)
        base = Path.cwd()
        default_results = Path("stdin.results.jsonl")
    else:
        path = Path(jobs).expanduser()
        if not path.is_file():
            raise InputError(f"Jobs file {jobs!r} does not exist or is not a file.")
        base = path.parent
        name = path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.name
        default_results = path.with_name(f"{name}.results.jsonl")
    try:
        _execute(
            JobSource(path=path, base=base),
            defaults,
            opts,
            results=Path(results) if results else default_results,
            concurrency=concurrency,
            resend_unknown=resend_unknown,
        )
    finally:
        if jobs == "-":
            path.unlink(missing_ok=True)


def run_each(
    images: list[str],
    opts: ImageOptions,
    *,
    concurrency: int,
    results: str | None,
    resend_unknown: bool,
) -> None:
    """`edit --each`: one job per image with the same prompt, on the batch engine."""
    opts.begin()
    if opts.output == "-":
        raise InputError("--each cannot write images to standard output (-o -).")
    if "-" in images:
        raise InputError("--each takes image files, not standard input ('-').")
    defaults = _defaults(opts, read_prompt(opts.prompt, opts.prompt_file, Stdin()))
    objects = [
        {"images": [str(Path(image).resolve())], "prompt": defaults.prompt} for image in images
    ]
    _execute(
        JobSource(objects=objects),
        defaults,
        opts,
        results=Path(results) if results else None,
        concurrency=concurrency,
        resend_unknown=resend_unknown,
    )
