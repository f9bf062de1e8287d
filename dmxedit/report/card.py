"""One job of the report page (:mod:`dmxedit.report.page`) as HTML: its inputs and
outputs side by side, the prompt and the facts (status, error, billing, requested and
delivered sizes, tokens); and the page's escaping of text and of messages in the language
of the run that makes it (``core.i18n``)."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dmxedit.core.i18n import N_, T, shown
from dmxedit.report.read import ReportJob


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


def escape(value: object) -> str:
    """Text for the page: HTML-escaped, a file name's undecodable bytes as U+FFFD."""
    return html.escape(_UNDECODABLE.sub("\ufffd", str(value)), quote=True)


def said(text: str, **markup: str) -> str:
    """A message of the page in the language of the run that makes it (core/i18n),
    HTML-escaped; each ``markup`` value takes the place of its :func:`marker`."""
    out = escape(shown(text))
    for name, value in markup.items():
        out = out.replace(marker(name), value)
    return out


def marker(name: str) -> str:
    return f"\x00{name}\x00"


def short(text: str, width: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


#: The statuses a job's badge shows, in words (the page's data keeps them as recorded).
STATUSES = {
    "ok": N_("ok"),
    "failed": N_("failed"),
    "sent": N_("sent"),
    "answered": N_("answered"),
    "interrupted": N_("interrupted"),
}


def job_html(
    index: int, job: ReportJob, folder: Path, pictures: Mapping[str, str | None] | None
) -> str:
    anchor = f"job-{index + 1}"
    unknown = job.status in ("sent", "answered")  # cut off: may have been billed
    status_class = "ok" if job.ok else ("unknown" if unknown else "failed")
    status = said(STATUSES[job.status]) if job.status in STATUSES else escape(job.status)
    title = said(T("Job {id}", id=marker("id")), id=f"<code>{escape(job.id)}</code>")
    mismatch = said(T("size mismatch"))
    parts = [
        f'<article class="job {status_class}" id="{anchor}" data-index="{index}" '
        f'data-status="{escape(job.status)}" data-failed="{"0" if job.ok else "1"}" '
        f'data-mismatch="{"1" if job.mismatch else "0"}" tabindex="-1" '
        f'aria-labelledby="{anchor}-title">',
        '<header class="job-head">',
        f'<h2 id="{anchor}-title"><a href="#{anchor}">{title}</a> '
        f'<span class="badge {status_class}">{status}</span>'
        + (f' <span class="badge mismatch">{mismatch}</span>' if job.mismatch else "")
        + "</h2>",
        f'<label class="redo"><input type="checkbox" class="redo-box" data-index="{index}"> '
        + said(T("Redo"))
        + "</label>",
        "</header>",
    ]
    if job.prompt:
        parts.append(f'<p class="prompt">{escape(job.prompt)}</p>')
    else:
        parts.append('<p class="prompt none">' + said(T("(no prompt recorded)")) + "</p>")
    parts.append('<div class="pair">')
    parts.append(
        '<section class="side inputs" aria-label="'
        + said(T("Inputs"))
        + '"><h3>'
        + said(T("Input"))
        + "</h3>"
    )
    parts.append('<div class="figs">')
    for n, path in enumerate(job.inputs, 1):
        alt = T("Input {n} of job {id}: {name}", n=n, id=job.id, name=Path(path).name)
        parts.append(_figure(path, alt, T("input {n}", n=n), folder, pictures))
    if not job.inputs:
        parts.append('<p class="none">' + said(T("None: generated from the prompt.")) + "</p>")
    parts.append("</div></section>")
    parts.append(
        '<section class="side outputs" aria-label="'
        + said(T("Outputs"))
        + '"><h3>'
        + said(T("Output"))
        + "</h3>"
    )
    parts.append('<div class="figs">')
    parts += _outputs(job, folder, pictures)
    parts.append("</div></section>")
    parts.append("</div>")
    parts.append(facts(job))
    parts.append("</article>")
    return "\n".join(parts)


def _outputs(job: ReportJob, folder: Path, pictures: Mapping[str, str | None] | None) -> list[str]:
    """The job's output images, or what became of them (not saved: the URL)."""
    parts = []
    for n, path in enumerate(job.outputs, 1):
        what = short(job.prompt) if job.prompt else T("no prompt recorded")
        alt = T("Output {n} of job {id}: {what}", n=n, id=job.id, what=what)
        parts.append(_figure(path, alt, T("output {n}", n=n), folder, pictures))
    if not job.outputs:
        parts.append('<p class="none">' + said(T("No image saved.")) + "</p>")
    for url in job.urls if not job.outputs else []:
        if web_url(url):
            link = f'<a href="{escape(url)}" rel="noreferrer">{escape(url)}</a>'
        else:  # javascript:, data:, file:... from a results file: text, never a link
            link = f"<code>{escape(url)}</code>"
        text = said(T("Not saved; its URL: {url}", url=marker("u")), u=link)
        parts.append(f'<p class="url">{text}</p>')
    return parts


def _figure(
    path: str, alt: str, label: str, folder: Path, pictures: Mapping[str, str | None] | None
) -> str:
    name = escape(Path(path).name)
    alt, label = said(alt), said(label)
    if not os.path.isfile(path):
        hole = said(T("{alt} (missing)", alt=alt))
        caption = said(
            T("{label}: {path} is missing", label=label, path=marker("p")),
            p=f"<code>{escape(path)}</code>",
        )
        return (
            f'<figure class="missing"><div class="hole" role="img" aria-label="{hole}">'
            + said(T("missing"))
            + f"</div><figcaption>{caption}</figcaption></figure>"
        )
    if pictures is not None:
        source = pictures.get(path)
        if source is None:
            hole = said(T("{alt} (unreadable)", alt=alt))
            return (
                f'<figure class="missing"><div class="hole" role="img" aria-label="{hole}">'
                + said(T("cannot be read"))
                + f"</div><figcaption>{label}: <code>{name}"
                "</code></figcaption></figure>"
            )
        return (
            f'<figure><img src="{escape(source)}" alt="{alt}" loading="lazy" decoding="async">'
            f"<figcaption>{label}: <code>{name}</code></figcaption></figure>"
        )
    link = escape(href(path, folder))
    return (
        f'<figure><a href="{link}"><img src="{link}" alt="{alt}" loading="lazy" '
        f'decoding="async"></a><figcaption>{label}: <code>{name}</code></figcaption>'
        "</figure>"
    )


def _billing_text(job: ReportJob) -> str | None:
    """The billing verdict in words: billed (with the cost when the check found it), not
    billed, or may have been billed (unchecked)."""
    details = job.billing or {}
    if job.billed is True:
        cost = details.get("cost_cny")
        at = details.get("charged_at")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            if isinstance(at, (int, float)) and not isinstance(at, bool):
                when = datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M")
                return T(
                    "billed: {cny:.4f} CNY at {when} (DMXAPI's billing log)", cny=cost, when=when
                )
            return T("billed: {cny:.4f} CNY (DMXAPI's billing log)", cny=cost)
        return T("billed (DMXAPI's billing log)")
    if job.billed is False:
        return T("not billed (no charge in DMXAPI's billing log)")
    if job.paid is None:
        return T("may have been billed (not checked; `batch --reconcile` or `recover --check`)")
    if job.ok:
        return T("billed")
    return T("not billed") if job.paid is False else T("billed (the image was made)")


def facts(job: ReportJob) -> str:
    shown_status = said(STATUSES[job.status]) if job.status in STATUSES else escape(job.status)
    rows: list[tuple[str, str]] = [(T("Status"), shown_status)]
    if job.error:
        rows.append((T("Error"), f'<span class="error">{escape(job.error)}</span>'))
    billing = _billing_text(job)
    if billing:
        rows.append((T("Billing"), said(billing)))
    rows.append((T("Requested"), _requested(job)))
    if job.delivered is not None:
        rows.append((T("Delivered"), _delivered(job.delivered)))
    if job.mismatch:
        items = "".join(f"<li>{escape(m)}</li>" for m in job.mismatch)
        rows.append((T("Mismatch"), f'<ul class="mismatch">{items}</ul>'))
    rows += _details(job)
    where = escape(job.source)
    if job.line is not None:
        where += said(T(", line {line}", line=job.line))
    if job.variant is not None:
        where += said(T(", variant {n}", n=job.variant))
    rows.append((T("From"), where))
    body = "".join(f"<dt>{said(name)}</dt><dd>{value}</dd>" for name, value in rows)
    return f'<dl class="facts">{body}</dl>'


def _requested(job: ReportJob) -> str:
    requested = job.requested()
    if requested:
        return escape(requested)
    if job.settings_known:
        return said(T("no ratio or size set (the model's default)"))
    return said(T("not recorded"))


def _delivered(delivered: list[dict[str, Any]]) -> str:
    text = ", ".join(
        f"{d.get('width', '?')}x{d.get('height', '?')}"
        + (f" {str(d['format']).upper()}" if d.get("format") else "")
        for d in delivered
    )
    return escape(text) if text else said(T("nothing"))


def _details(job: ReportJob) -> list[tuple[str, str]]:
    """The tokens, model, time taken and date of a job, those known."""
    rows: list[tuple[str, str]] = [(T("Tokens"), said(job.token_text()[1]))]
    if job.model:
        rows.append((T("Model"), escape(job.model)))
    if job.elapsed_s is not None:
        rows.append((T("Time"), f"{job.elapsed_s:.1f} s"))
    if job.created is not None:
        when = datetime.fromtimestamp(job.created).strftime("%Y-%m-%d %H:%M")
        rows.append((T("When"), escape(when)))
    return rows


__all__ = ["escape", "facts", "href", "job_html", "marker", "said", "short", "web_url"]
