"""`dmxedit report`'s steps: read the results files (and the ledger), decide where the page
goes, render it and write it. The command only parses its options and prints what
:func:`make_report` returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.engine.history import parse_since, reading
from dmxedit.report import page as core


@dataclass(frozen=True)
class Made:
    """A report page: where it is (or would be), its text, its counts, and whether it
    went to standard output instead (``text`` is then for the caller to write)."""

    path: Path
    text: str
    counts: dict[str, int]
    to_stdout: bool
    embedded: bool


def check_arguments(paths: Sequence[Path], *, history: bool, since: str | None) -> None:
    """The combinations of arguments `report` refuses (exit 2)."""
    if not paths and not history:
        raise InputError(
            T("Name the results files to report on, or pass --history for the ledger."),
            hint=T("dmxedit report jobs.results.jsonl (the file `dmxedit batch jobs.jsonl` wrote)"),
        )
    if since is not None and not history:
        raise InputError(T("--since goes with --history (a results file is reported whole)."))


def make_report(
    paths: Sequence[Path],
    *,
    output: str | None = None,
    embed: bool = False,
    history: bool = False,
    since: str | None = None,
    limit: int = 500,
    force: bool = False,
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Made:
    """Read ``paths`` (batch results files) and, with ``history``, the ledger's newest
    ``limit`` entries (``since`` a date); render one page and write it to ``output`` (a
    file or a folder; ``-``: not written, the caller prints ``text``), else beside the
    first results file. ``warn`` hears that the ledger had more entries than ``limit``."""
    if embed:
        core.require_pillow()  # before reading anything: the answer does not depend on it
    parts: list[core.Report] = []
    if paths:
        parts.append(core.read_results(paths))
    if history:
        found, more = _read_ledger(since, limit, env)
        if more and warn is not None:
            warn(T("Showing the newest {limit} ledger entries; --limit N shows more.", limit=limit))
        parts.append(found)
    whole = core.Report(
        jobs=[j for part in parts for j in part.jobs],
        sources=[s for part in parts for s in part.sources],
    )
    default = core.default_output(paths)
    to_stdout = output == "-"
    if to_stdout:
        page = Path.cwd() / default.name
    elif output is not None:
        page = core.target_path(output, default.name)
    else:
        page = default
    stem = page.name[: -len(".report.html")] if page.name.endswith(".report.html") else page.stem
    text = core.render(
        whole, folder=page.parent.absolute(), embed=embed, export_name=f"{stem}.redo.jsonl"
    )
    if not to_stdout:
        core.write_page(text, page, force=force)
    return Made(page, text, whole.counts(), to_stdout, embed)


def _read_ledger(
    since: str | None, limit: int, env: Mapping[str, str] | None
) -> tuple[core.Report, int | None]:

    started = parse_since(since) if since else None
    with reading(env) as book:
        if book is None:
            raise InputError(T("The ledger is empty: dmxedit has sent no request yet."))
        found, more = core.read_history(book, since=started, limit=limit)
    if not found.jobs:
        if since:
            raise InputError(
                T("No ledger entry since {date}.", date=since), hint=T("Try an earlier --since.")
            )
        raise InputError(T("No ledger entry."))
    return found, more


__all__ = ["Made", "check_arguments", "make_report"]
