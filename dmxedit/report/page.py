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
import html
import os
import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dmxedit._version import __version__
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.core.text import dumps
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


def href(path: str, folder: Path) -> str:
    """A URL for ``path`` relative to the page's folder, percent-escaped (a ``file:`` URL
    where no relative path exists, e.g. another drive on Windows)."""
    try:
        relative = os.path.relpath(path, folder)
    except ValueError:
        return Path(path).absolute().as_uri()
    parts = Path(relative).parts
    # The bytes the file system names each part by (a name that is not UTF-8 too).
    return "/".join(quote(os.fsencode(part), safe="") for part in parts) or "."


_UNDECODABLE = re.compile("[\ud800-\udfff]")
_WEB_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f-\x9f]+", re.I)


def web_url(url: str) -> bool:
    """An http(s) URL, the only kind the page links to: a results file may hold anything
    (``javascript:``, ``data:``, a scheme hidden behind spaces or control characters)."""
    return _WEB_URL.fullmatch(url) is not None


def _e(value: object) -> str:
    """Text for the page: HTML-escaped, a file name's undecodable bytes as U+FFFD."""
    return html.escape(_UNDECODABLE.sub("\ufffd", str(value)), quote=True)


def _short(text: str, width: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


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
    title = title or "dmxedit report: " + ", ".join(Path(s).name for s in report.sources)
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
    }
    out: list[str] = [
        "<!doctype html>",
        '<html lang="en">',
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
        '<a class="skip" href="#jobs">Skip to the jobs</a>',
        '<header class="top">',
        f"<h1>{_e(title)}</h1>",
        _summary(report, counts, now),
        '<nav class="controls" aria-label="Filters and redo">',
        '<div class="filters" role="group" aria-label="Show">',
        _filter_button("all", "All", counts["jobs"], pressed=True),
        _filter_button("failed", "Failed", counts["failed"]),
        _filter_button("mismatch", "Mismatch", counts["mismatch"]),
        _filter_button("redo", "Marked for redo", 0),
        "</div>",
        '<div class="actions">',
        '<button type="button" id="export" disabled>Export redo jobs (<span id="redo-count">0'
        "</span>)</button>",
        '<button type="button" id="clear" disabled>Clear marks</button>',
        "</div>",
        "</nav>",
        '<p class="keys" id="keys">Keys: <kbd>j</kbd>/<kbd>k</kbd> next/previous job, '
        "<kbd>r</kbd> mark or unmark for redo, <kbd>a</kbd> all, <kbd>f</kbd> failed, "
        "<kbd>m</kbd> mismatch, <kbd>d</kbd> marked, <kbd>e</kbd> export.</p>",
        '<p class="status-line" id="announce" role="status" aria-live="polite"></p>',
        "</header>",
        '<main id="jobs" tabindex="-1">',
        '<p class="empty" id="empty" hidden>No job matches this filter.</p>',
    ]
    for index, job in enumerate(jobs):
        out.append(_job_html(index, job, folder, pictures if embed else None))
    out += [
        "</main>",
        '<footer class="bottom">',
        '<details id="redo-text-box"><summary>The redo jobs as text (JSON Lines)</summary>',
        '<label for="redo-text">Copy these lines into a file and run <code>dmxedit batch '
        "FILE</code>; the paths are absolute, so it runs from any folder.</label>",
        '<textarea id="redo-text" readonly rows="6" spellcheck="false"></textarea>',
        "</details>",
        f"<p>Made by dmxedit {_e(__version__)}. This page uses no network.</p>",
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
    return (
        '<p class="summary">'
        f"{counts['jobs']} job{'s' if counts['jobs'] != 1 else ''}: "
        f"{counts['ok']} ok, {counts['failed']} failed, {counts['mismatch']} "
        f"with a size mismatch"
        f"{f'; {tokens} tokens' if tokens else ''}{' (some estimated)' if guessed else ''}. "
        f"Written {_e(stamp)} from {', '.join(f'<code>{_e(s)}</code>' for s in report.sources)}."
        "</p>"
    )


def _filter_button(name: str, label: str, count: int, *, pressed: bool = False) -> str:
    return (
        f'<button type="button" class="filter" data-filter="{name}" '
        f'aria-pressed="{"true" if pressed else "false"}">{_e(label)} '
        f'(<span class="count">{count}</span>)</button>'
    )


def _job_html(
    index: int, job: ReportJob, folder: Path, pictures: Mapping[str, str | None] | None
) -> str:
    anchor = f"job-{index + 1}"
    unknown = job.status in ("sent", "answered")  # cut off: may have been billed
    status_class = "ok" if job.ok else ("unknown" if unknown else "failed")
    parts = [
        f'<article class="job {status_class}" id="{anchor}" data-index="{index}" '
        f'data-status="{_e(job.status)}" data-failed="{"0" if job.ok else "1"}" '
        f'data-mismatch="{"1" if job.mismatch else "0"}" tabindex="-1" '
        f'aria-labelledby="{anchor}-title">',
        '<header class="job-head">',
        f'<h2 id="{anchor}-title"><a href="#{anchor}">Job <code>{_e(job.id)}</code></a> '
        f'<span class="badge {status_class}">{_e(job.status)}</span>'
        + (' <span class="badge mismatch">size mismatch</span>' if job.mismatch else "")
        + "</h2>",
        f'<label class="redo"><input type="checkbox" class="redo-box" data-index="{index}"> '
        "Redo</label>",
        "</header>",
    ]
    if job.prompt:
        parts.append(f'<p class="prompt">{_e(job.prompt)}</p>')
    else:
        parts.append('<p class="prompt none">(no prompt recorded)</p>')
    parts.append('<div class="pair">')
    parts.append('<section class="side inputs" aria-label="Inputs"><h3>Input</h3>')
    parts.append('<div class="figs">')
    if job.inputs:
        for n, path in enumerate(job.inputs, 1):
            alt = f"Input {n} of job {job.id}: {Path(path).name}"
            parts.append(_figure(path, alt, f"input {n}", folder, pictures))
    else:
        parts.append('<p class="none">None: generated from the prompt.</p>')
    parts.append("</div></section>")
    parts.append('<section class="side outputs" aria-label="Outputs"><h3>Output</h3>')
    parts.append('<div class="figs">')
    if job.outputs:
        for n, path in enumerate(job.outputs, 1):
            what = _short(job.prompt) if job.prompt else "no prompt recorded"
            alt = f"Output {n} of job {job.id}: {what}"
            parts.append(_figure(path, alt, f"output {n}", folder, pictures))
    else:
        parts.append('<p class="none">No image saved.</p>')
    for url in job.urls if not job.outputs else []:
        if web_url(url):
            shown = f'<a href="{_e(url)}" rel="noreferrer">{_e(url)}</a>'
        else:  # javascript:, data:, file:... from a results file: text, never a link
            shown = f"<code>{_e(url)}</code>"
        parts.append(f'<p class="url">Not saved; its URL: {shown}</p>')
    parts.append("</div></section>")
    parts.append("</div>")
    parts.append(_facts(job))
    parts.append("</article>")
    return "\n".join(parts)


def _figure(
    path: str, alt: str, label: str, folder: Path, pictures: Mapping[str, str | None] | None
) -> str:
    name = _e(Path(path).name)
    exists = os.path.isfile(path)
    if not exists:
        return (
            f'<figure class="missing"><div class="hole" role="img" aria-label="{_e(alt)} '
            f'(missing)">missing</div><figcaption>{_e(label)}: <code>{_e(path)}</code> '
            "is missing</figcaption></figure>"
        )
    if pictures is not None:
        source = pictures.get(path)
        if source is None:
            return (
                f'<figure class="missing"><div class="hole" role="img" aria-label="{_e(alt)} '
                f'(unreadable)">cannot be read</div><figcaption>{_e(label)}: <code>{name}'
                "</code></figcaption></figure>"
            )
        return (
            f'<figure><img src="{_e(source)}" alt="{_e(alt)}" loading="lazy" decoding="async">'
            f"<figcaption>{_e(label)}: <code>{name}</code></figcaption></figure>"
        )
    link = _e(href(path, folder))
    return (
        f'<figure><a href="{link}"><img src="{link}" alt="{_e(alt)}" loading="lazy" '
        f'decoding="async"></a><figcaption>{_e(label)}: <code>{name}</code></figcaption>'
        "</figure>"
    )


def _billing_text(job: ReportJob) -> str | None:
    """The billing verdict in words: billed (with the cost when the check found it), not
    billed, or may have been billed (unchecked)."""
    details = job.billing or {}
    if job.billed is True:
        cost = details.get("cost_cny")
        at = details.get("charged_at")
        said = "billed"
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            said += f": {cost:.4f} CNY"
            if isinstance(at, (int, float)) and not isinstance(at, bool):
                said += f" at {datetime.fromtimestamp(at).strftime('%Y-%m-%d %H:%M')}"
        return said + " (DMXAPI's billing log)"
    if job.billed is False:
        return "not billed (no charge in DMXAPI's billing log)"
    if job.paid is None:
        return "may have been billed (not checked; `batch --reconcile` or `recover --check`)"
    if job.ok:
        return "billed"
    return "not billed" if job.paid is False else "billed (the image was made)"


def _facts(job: ReportJob) -> str:
    rows: list[tuple[str, str]] = [("Status", _e(job.status))]
    if job.error:
        rows.append(("Error", f'<span class="error">{_e(job.error)}</span>'))
    billing = _billing_text(job)
    if billing:
        rows.append(("Billing", _e(billing)))
    rows.append(("Requested", _requested(job)))
    if job.delivered is not None:
        rows.append(("Delivered", _delivered(job.delivered)))
    if job.mismatch:
        items = "".join(f"<li>{_e(m)}</li>" for m in job.mismatch)
        rows.append(("Mismatch", f'<ul class="mismatch">{items}</ul>'))
    rows += _details(job)
    where = _e(job.source) + (f", line {job.line}" if job.line is not None else "")
    where += f", variant {job.variant}" if job.variant is not None else ""
    rows.append(("From", where))
    body = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return f'<dl class="facts">{body}</dl>'


def _requested(job: ReportJob) -> str:
    requested = job.requested()
    if requested:
        return _e(requested)
    return "no ratio or size set (the model's default)" if job.settings_known else "not recorded"


def _delivered(delivered: list[dict[str, Any]]) -> str:
    shown = ", ".join(
        f"{d.get('width', '?')}x{d.get('height', '?')}"
        + (f" {str(d['format']).upper()}" if d.get("format") else "")
        for d in delivered
    )
    return _e(shown) if shown else "nothing"


def _details(job: ReportJob) -> list[tuple[str, str]]:
    """The tokens, model, time taken and date of a job, those known."""
    rows: list[tuple[str, str]] = [("Tokens", _e(job.token_text()[1]))]
    if job.model:
        rows.append(("Model", _e(job.model)))
    if job.elapsed_s is not None:
        rows.append(("Time", f"{job.elapsed_s:.1f} s"))
    if job.created is not None:
        rows.append(("When", _e(datetime.fromtimestamp(job.created).strftime("%Y-%m-%d %H:%M"))))
    return rows


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
    "write_page",
]
