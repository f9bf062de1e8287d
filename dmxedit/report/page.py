"""`dmxedit report`: one HTML page to look at a batch (or the ledger) instead of reading it.
(The jobs it shows are read by :mod:`dmxedit.report.read`; the command's steps are
:func:`dmxedit.report.make.make_report`.)

Per job it shows the inputs and outputs side by side, the prompt, the requested and the
delivered size (the receipt), the status, the error and the tokens, with filters, keyboard
navigation and a "redo" mark per job that exports the marked jobs as a JSON Lines jobs file
for `dmxedit batch` (SPEC section 10).

The page works opened from disk: no server, no network, no external script, font or
stylesheet (its Content-Security-Policy forbids them). Images are linked relative to the
page's folder; ``embed=True`` puts downscaled thumbnails into the page instead (Pillow,
the ``images`` extra, imported only then). All text from the results is HTML-escaped, and
the data the page's script reads is JSON in a ``<script type="application/json">`` with
``<`` escaped.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from dmxedit._version import __version__
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import P, T, active, shown
from dmxedit.core.text import dumps
from dmxedit.report.card import escape as _e
from dmxedit.report.card import href, job_html, web_url
from dmxedit.report.card import marker as _m
from dmxedit.report.card import said as _t
from dmxedit.report.read import Report, ReportJob, read_history, read_results, tokens_of
from dmxedit.report.thumbs import THUMBNAIL_SIDE, require_pillow, thumbnails

#: The generator tag that marks a page as a dmxedit report (which may be replaced).
GENERATOR = "dmxedit report"


# -- where the page goes ----------------------------------------------------------------


def default_output(results: Sequence[Path], cwd: Path | None = None) -> Path:
    """``NAME.report.html`` beside the first results file (``NAME.results.jsonl``), or
    ``history.report.html`` in the current folder for the ledger."""
    if not results:
        return (cwd or Path()) / "history.report.html"
    first = results[0]
    name = first.name
    for suffix in (".results.jsonl", ".jsonl", ".ndjson", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return first.with_name(name + ".report.html")


def is_report(path: Path) -> bool:
    """Whether ``path`` is a page this command wrote (so it may be replaced)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}'.encode() in head


def target_path(output: str, default_name: str) -> Path:
    """``-o``: a file, or a folder to write ``default_name`` into (one that exists, or
    any path ending in a slash)."""
    path = Path(output).expanduser()
    folder = path.is_dir() or output.endswith(("/", os.sep))
    return path / default_name if folder else path


def write_page(text: str, path: Path, *, force: bool = False) -> None:
    """Write the page atomically; an existing file is replaced only when it is a report
    (or with ``force``)."""
    if path.exists() and not force and not is_report(path):
        raise InputError(
            T("{path} exists and is not a dmxedit report; it was left as it is.", path=path),
            hint=T("Choose another name with -o, or pass --force to replace it."),
        )
    import tempfile

    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".dmxedit-report-", suffix=".html", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise InputError(T("Cannot write the report {path}: {why}.", path=path, why=why)) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- the page ---------------------------------------------------------------------------


def _asset(name: str) -> str:
    return resources.files("dmxedit.report").joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def script_json(data: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: no ``<``, ``>``, ``&`` or line
    separators as themselves (``</script>`` in a prompt cannot end the element)."""
    text = dumps(data, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def script_labels() -> dict[str, str]:
    """The page script's sentences (report.js fills in the ``{name}`` fields)."""
    return {
        "showing": shown(T("Showing {shown} of {total} jobs.")),
        "choose": shown(T("Choose a job first (j / k).")),
        "marked": shown(T("Marked job {id}; {count} marked for redo.")),
        "unmarked": shown(T("Unmarked job {id}; {count} marked for redo.")),
        "exported": shown(
            T("Exported {count} job(s) as {file}; run it with: dmxedit batch {file}")
        ),
        "cleared": shown(T("No job is marked for redo.")),
    }


def unique_redo_ids(jobs: Sequence[ReportJob]) -> None:
    """Give every redo line an id of its own (two results files may share ids)."""
    seen: set[str] = set()
    for job in jobs:
        rid = str(job.redo.get("id", job.id))
        candidate, n = rid, 1
        while candidate in seen:
            n += 1
            candidate = f"{rid}-{n}"
        seen.add(candidate)
        job.redo["id"] = candidate


def render(
    report: Report,
    *,
    folder: Path,
    embed: bool = False,
    export_name: str = "redo.jsonl",
    title: str | None = None,
    now: float | None = None,
) -> str:
    """The whole page as one string; image links are relative to ``folder``."""
    jobs = report.jobs
    unique_redo_ids(jobs)
    pictures: dict[str, str | None] = {}
    if embed:
        pictures = thumbnails(p for j in jobs for p in (*j.inputs, *j.outputs))
    counts = report.counts()
    names = ", ".join(Path(s).name for s in report.sources)
    title = title or shown(T("dmxedit report: {names}", names=names))
    css = _asset("report.css")
    js = _asset("report.js")
    policy = (
        "default-src 'none'; img-src 'self' file: data:; "
        f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
        "base-uri 'none'; form-action 'none'"
    )
    data = {
        "export_name": export_name,
        "jobs": [{"id": j.id, "redo": j.redo} for j in jobs],
        "labels": script_labels(),
    }
    out: list[str] = [
        "<!doctype html>",
        f'<html lang="{active().replace("_", "-")}">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(policy)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f'<meta name="generator" content="{GENERATOR} {_e(__version__)}">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{_e(title)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
        '<a class="skip" href="#jobs">' + _t(T("Skip to the jobs")) + "</a>",
        '<header class="top">',
        f"<h1>{_e(title)}</h1>",
        _summary(report, counts, now),
        '<nav class="controls" aria-label="' + _t(T("Filters and redo")) + '">',
        '<div class="filters" role="group" aria-label="' + _t(T("Show")) + '">',
        _filter_button("all", T("All"), counts["jobs"], pressed=True),
        _filter_button("failed", T("Failed"), counts["failed"]),
        _filter_button("mismatch", T("Mismatch"), counts["mismatch"]),
        _filter_button("redo", T("Marked for redo"), 0),
        "</div>",
        '<div class="actions">',
        '<button type="button" id="export" disabled>'
        + _t(T("Export redo jobs ({count})", count=_m("n")), n='<span id="redo-count">0</span>')
        + "</button>",
        '<button type="button" id="clear" disabled>' + _t(T("Clear marks")) + "</button>",
        "</div>",
        "</nav>",
        '<p class="keys" id="keys">' + _keys() + "</p>",
        '<p class="status-line" id="announce" role="status" aria-live="polite"></p>',
        "</header>",
        '<main id="jobs" tabindex="-1">',
        '<p class="empty" id="empty" hidden>' + _t(T("No job matches this filter.")) + "</p>",
    ]
    for index, job in enumerate(jobs):
        out.append(job_html(index, job, folder, pictures if embed else None))
    out += [
        "</main>",
        '<footer class="bottom">',
        '<details id="redo-text-box"><summary>'
        + _t(T("The redo jobs as text (JSON Lines)"))
        + "</summary>",
        '<label for="redo-text">'
        + _t(
            T(
                "Copy these lines into a file and run {command}; the paths are absolute, so it "
                "runs from any folder.",
                command=_m("c"),
            ),
            c="<code>dmxedit batch FILE</code>",
        )
        + "</label>",
        '<textarea id="redo-text" readonly rows="6" spellcheck="false"></textarea>',
        "</details>",
        "<p>"
        + _t(T("Made by dmxedit {version}. This page uses no network.", version=__version__))
        + "</p>",
        "</footer>",
        f'<script type="application/json" id="dmxedit-data">{script_json(data)}</script>',
        f"<script>{js}</script>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(out)


def _summary(report: Report, counts: Mapping[str, int], now: float | None) -> str:
    """The page's summary line: the counts, the tokens, when and from what."""
    counted_tokens = [j.token_text()[0] for j in report.jobs]
    tokens = sum(t for t in counted_tokens if t is not None)
    guessed = any(j.tokens is None and t for j, t in zip(report.jobs, counted_tokens, strict=True))
    stamp = datetime.fromtimestamp(time.time() if now is None else now).strftime("%Y-%m-%d %H:%M")
    text = _t(
        T(
            "{jobs}: {ok} ok, {failed} failed, {mismatch} with a size mismatch",
            jobs=P("{count} job", "{count} jobs", counts["jobs"]),
            ok=counts["ok"],
            failed=counts["failed"],
            mismatch=counts["mismatch"],
        )
    )
    if tokens:
        text += _t(T("; {tokens} tokens", tokens=tokens))
    if guessed:
        text += _t(T(" (some estimated)"))
    sources = ", ".join(f"<code>{_e(s)}</code>" for s in report.sources)
    text += _t(T(". Written {when} from {sources}.", when=stamp, sources=_m("s")), s=sources)
    return f'<p class="summary">{text}</p>'


def _keys() -> str:
    """The keyboard's keys, each in a <kbd>."""
    keys = {k: f"<kbd>{k}</kbd>" for k in "jkrafmde"}
    return _t(
        T(
            "Keys: {j}/{k} next/previous job, {r} mark or unmark for redo, {a} all, {f} failed, "
            "{m} mismatch, {d} marked, {e} export.",
            **{k: _m(k) for k in keys},
        ),
        **keys,
    )


def _filter_button(name: str, label: str, count: int, *, pressed: bool = False) -> str:
    return (
        f'<button type="button" class="filter" data-filter="{name}" '
        f'aria-pressed="{"true" if pressed else "false"}">{_t(label)} '
        f'(<span class="count">{count}</span>)</button>'
    )


__all__ = [
    "GENERATOR",
    "THUMBNAIL_SIDE",
    "Report",
    "ReportJob",
    "default_output",
    "href",
    "is_report",
    "read_history",
    "read_results",
    "render",
    "require_pillow",
    "script_json",
    "target_path",
    "thumbnails",
    "tokens_of",
    "unique_redo_ids",
    "web_url",
    "write_page",
]
