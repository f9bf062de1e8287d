"""`dmxedit report`: one HTML page to look at a batch (or the ledger) instead of reading it.

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
import io
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dmxedit._version import __version__
from dmxedit.core.catalog import DEFAULT_MODEL, RATIOS, SIZES, pixels, tokens_for
from dmxedit.core.errors import InputError
from dmxedit.core.text import dumps

#: The generator tag that marks a page as a dmxedit report (which may be replaced).
GENERATOR = "dmxedit report"
#: The longest side of an embedded thumbnail, in pixels.
THUMBNAIL_SIDE = 512
IMAGES_HINT = "pip install 'dmxedit[images]'"
_STATUS_OF_ENTRY = {"saved": "ok", "interrupted": "failed"}
_FILLED = ("prompt", "ratio", "size", "model")  # taken from the results line when a job omits it


@dataclass
class ReportJob:
    """One job of the page, from a results line or a ledger entry."""

    id: str
    source: str
    status: str
    line: int | None = None
    variant: int | None = None
    settings_known: bool = False  # the line says which ratio and size were asked (None: unset)
    error: str | None = None
    exit_code: int | None = None
    may_be_billed: bool = False
    prompt: str | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    model: str | None = None
    ratio: str | None = None
    size: str | None = None
    delivered: list[dict[str, Any]] | None = None
    mismatch: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    elapsed_s: float | None = None
    created: float | None = None
    redo: dict[str, Any] = field(default_factory=dict)
    billed: bool | None = None  # the billing check's verdict (None: none was made)
    billing: dict[str, Any] | None = None  # the verdict's details (cost, time, note)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def tokens(self) -> int | None:
        return tokens_of(self.usage)

    @property
    def paid(self) -> bool | None:
        """Whether DMXAPI billed the request: True when it made an image (or the billing
        check says so), False when it cannot have (or the check found no charge), None
        when it may have been billed and nobody knows."""
        if self.billed is not None:
            return self.billed
        if self.ok or self.outputs or self.urls or self.status == "answered":
            return True
        if self.may_be_billed or self.status == "sent":
            return None
        return False

    def token_text(self) -> tuple[int | None, str]:
        """The job's tokens and how to say them: the answer's usage, else the documented
        cost of what was asked (estimated), 0 when it was not billed, unknown otherwise."""
        if self.tokens is not None:
            return self.tokens, str(self.tokens)
        paid = self.paid
        if paid is False:
            return 0, "0 (not billed)"
        if paid is None:
            return None, "unknown (may have been billed)"
        if self.model in (None, DEFAULT_MODEL) and (self.size is None or self.size in SIZES):
            count = max(1, len(self.outputs) or len(self.urls))
            estimate = tokens_for(self.size) * count
            return estimate, f"{estimate} (estimated from the size; the API sent no usage)"
        return None, "not recorded (the API sent no usage)"

    def requested(self) -> str | None:
        """``16:9 4K (5504x3072)``, as far as the ratio and size are known."""
        shape = " ".join(x for x in (self.ratio, self.size) if x)
        if self.ratio in RATIOS and self.size in SIZES:
            assert self.ratio is not None and self.size is not None
            width, height = pixels(self.ratio, self.size)
            shape += f" ({width}x{height})"
        return shape or None


@dataclass
class Report:
    """What a page shows: its jobs and where they came from."""

    jobs: list[ReportJob]
    sources: list[str]

    def counts(self) -> dict[str, int]:
        return {
            "jobs": len(self.jobs),
            "ok": sum(j.ok for j in self.jobs),
            "failed": sum(not j.ok for j in self.jobs),
            "mismatch": sum(bool(j.mismatch) for j in self.jobs),
        }


def tokens_of(usage: Any) -> int | None:
    """The tokens a usage object reports (total, else input + output), if any."""
    if not isinstance(usage, Mapping):
        return None
    total = usage.get("total_tokens")
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    for pair in (("input_tokens", "output_tokens"), ("prompt_tokens", "completion_tokens")):
        values = [usage.get(k) for k in pair]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return int(values[0]) + int(values[1])  # type: ignore[arg-type]
    return None


# -- reading ----------------------------------------------------------------------------


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int, float)) and v != ""]
    return []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _locate(path: str, bases: Sequence[Path]) -> str:
    """An absolute path for ``path``: itself, or under the first base where it exists,
    else under the last (a results file records absolute paths; older ones recorded them
    relative to the folder the batch ran in, which the last base stands for)."""
    given = Path(path).expanduser()
    if given.is_absolute():
        return str(given)
    for base in bases:
        if (base / given).exists():
            return str((base / given).absolute())
    return str((bases[-1] / given).absolute())


def _jobs_file_for(results: Path, records: Iterable[Mapping[str, Any]]) -> Path | None:
    """The jobs file a results file came from: named in its lines (``jobs_file``), else
    ``NAME.jsonl`` beside ``NAME.results.jsonl`` (batch's default name), if it exists."""
    for record in records:
        named = record.get("jobs_file")
        if isinstance(named, str) and named:
            return Path(named)
    name = results.name
    if name.endswith(".results.jsonl"):
        sibling = results.with_name(name[: -len(".results.jsonl")] + ".jsonl")
        if sibling.is_file():
            return sibling
    return None


def _job_lines(path: Path, wanted: set[int]) -> dict[int, dict[str, Any]]:
    """The job objects on the ``wanted`` lines of a jobs file (unreadable ones left out)."""
    from dmxedit.batch.jobs import JobSource

    found: dict[int, dict[str, Any]] = {}
    if not wanted:
        return found
    try:
        for number, obj in JobSource(path=path).lines():
            if number in wanted and isinstance(obj, dict):
                found[number] = obj
    except OSError:
        return {}
    return found


def read_results(paths: Sequence[Path], cwd: Path | None = None) -> Report:
    """The jobs of batch results files: per job id the line that decides (as a re-run of
    the batch reads it: the last, except that an ``ok`` is final), in job order."""
    from dmxedit.batch.jobs import job_id
    from dmxedit.batch.resultsfile import ResultsLog

    cwd = Path.cwd() if cwd is None else cwd
    jobs: list[ReportJob] = []
    for path in paths:
        if not path.is_file():
            raise InputError(
                f"The results file {path} does not exist."
                if not path.exists()
                else f"{path} is not a file.",
                hint="Name the JSON Lines file `dmxedit batch` wrote (JOBS.results.jsonl "
                "beside the jobs file, or its --results FILE).",
            )
        records = list(ResultsLog(path).previous().values())
        if not records:
            raise InputError(
                f"{path} holds no batch results (no line with an id and a status).",
                hint="Name the results file (JOBS.results.jsonl), not the jobs file."
                if _looks_like_jobs(path)
                else "Name the JSON Lines file `dmxedit batch` wrote.",
            )
        results_dir = path.parent.absolute()
        jobs_file = _jobs_file_for(path, records)
        base = jobs_file.parent.absolute() if jobs_file is not None else results_dir
        missing = {
            r["line"]
            for r in records
            if not isinstance(r.get("job"), dict) and _is_int(r.get("line"))
        }
        originals = _job_lines(jobs_file, missing) if jobs_file is not None else {}
        order = sorted(
            enumerate(records),
            key=lambda pair: (_line_of(pair[1]) or sys.maxsize, _variant(pair[1]), pair[0]),
        )
        for _, record in order:
            rid = str(record["id"])
            original = record.get("job")
            if not isinstance(original, dict):
                guess = originals.get(_line_of(record) or -1)
                # the jobs file may have changed since: only the job with this id counts
                original = guess if guess is not None and job_id(guess) == rid else None
            # relative paths (older results files): beside the results file, else as
            # recorded (relative to where the batch ran: here, with luck)
            jobs.append(_from_record(record, rid, path, original, base, [results_dir, cwd]))
    return Report(jobs=jobs, sources=[str(p) for p in paths])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _variant(record: Mapping[str, Any]) -> int:
    variant = record.get("variant")
    return variant if isinstance(variant, int) and not isinstance(variant, bool) else 0


def _line_of(record: Mapping[str, Any]) -> int | None:
    line = record.get("line")
    return line if _is_int(line) else None


def _looks_like_jobs(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            first = json.loads(fh.readline().decode("utf-8-sig") or "null")
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and ("images" in first or "prompt" in first)


def _from_record(
    record: Mapping[str, Any],
    rid: str,
    path: Path,
    original: dict[str, Any] | None,
    base: Path,
    bases: list[Path],
) -> ReportJob:
    job = original or {}
    if _texts(record.get("images")):
        inputs = [_locate(p, bases) for p in _texts(record.get("images"))]
    else:
        inputs = [_locate(p, [base]) for p in _texts(job.get("images"))]
    status = str(record.get("status") or "unknown")
    delivered = record.get("delivered")
    item = ReportJob(
        id=rid,
        source=path.name,
        status=status,
        line=_line_of(record),
        variant=_variant(record) or None,
        settings_known="ratio" in record or "size" in record,
        error=_text(record.get("error")),
        exit_code=record.get("exit_code") if _is_int(record.get("exit_code")) else None,
        may_be_billed=bool(record.get("may_be_billed")),
        prompt=_text(record.get("prompt")) or _text(job.get("prompt")),
        inputs=inputs,
        outputs=[_locate(p, bases) for p in _texts(record.get("files"))],
        urls=_texts(record.get("urls")),
        model=_text(record.get("model")) or _text(job.get("model")),
        ratio=_text(record.get("ratio")) or _text(job.get("ratio")),
        size=_text(record.get("size")) or _text(job.get("size")),
        delivered=[d for d in delivered if isinstance(d, dict)]
        if isinstance(delivered, list)
        else None,
        mismatch=_texts(record.get("mismatch")),
        usage=record.get("usage") if isinstance(record.get("usage"), dict) else None,
        elapsed_s=record.get("elapsed_s")
        if isinstance(record.get("elapsed_s"), (int, float))
        else None,
        billed=record["billed"] if isinstance(record.get("billed"), bool) else None,
        billing=record.get("billing") if isinstance(record.get("billing"), dict) else None,
    )
    if status in ("sent", "answered") and not item.error:
        item.error = (
            "The batch stopped after this job's request went out; it may have been billed."
            if status == "sent"
            else "The answer arrived but the images were not saved yet; a re-run of the "
            "batch downloads them."
        )
    item.redo = _redo_line(rid, job, base, item)
    return item


def _redo_line(rid: str, job: Mapping[str, Any], base: Path, item: ReportJob) -> dict[str, Any]:
    """The job again, as a line of a new jobs file that runs from any folder: the original
    object with its id, the input and output paths made absolute, and the prompt, ratio,
    size and model it ran with filled in where the line left them to the command."""
    line: dict[str, Any] = {"id": rid}
    line.update((k, v) for k, v in job.items() if k != "id")
    if item.inputs:
        line["images"] = list(item.inputs)
    output = job.get("output")
    if isinstance(output, str) and output:
        folder = Path(output).expanduser()
        line["output"] = str(folder if folder.is_absolute() else (base / folder).absolute())
    for key in _FILLED:
        value = getattr(item, key)
        if key not in line and value:
            line[key] = value
    return line


def read_history(
    book: Any, *, since: float | None = None, limit: int | None = None
) -> tuple[Report, int | None]:
    """The ledger's entries (newest first), with how many more ``limit`` left out (None:
    none)."""
    entries = book.query(limit=None if limit is None else limit + 1, since=since)
    more = None
    if limit is not None and len(entries) > limit:
        entries = entries[:limit]
        more = 1  # at least one; counting them all is not worth a second query
    jobs = [_from_entry(e) for e in entries]
    return Report(jobs=jobs, sources=[f"ledger {book.path}"]), more


def _from_entry(entry: Any) -> ReportJob:
    options = entry.options if isinstance(entry.options, dict) else {}
    inputs = [str(i["path"]) for i in entry.inputs or [] if isinstance(i, dict) and i.get("path")]
    rid = f"ledger-{entry.id}"
    item = ReportJob(
        id=rid,
        source="ledger",
        status=_STATUS_OF_ENTRY.get(entry.status, entry.status),
        error=entry.error,
        exit_code=entry.exit_code,
        may_be_billed=bool(entry.may_be_billed) and entry.status != "saved",
        prompt=entry.prompt,
        inputs=inputs,
        outputs=list(entry.saved_files),
        urls=list(entry.unsaved_urls or []) if entry.status != "saved" else list(entry.urls or []),
        model=entry.model,
        ratio=_text(options.get("aspect_ratio")),
        size=_text(options.get("size")),
        usage=entry.usage if isinstance(entry.usage, dict) else None,
        created=entry.created,
        settings_known=True,
        billed=None if entry.billed is None else bool(entry.billed),
        billing=entry.billing if isinstance(entry.billing, dict) else None,
    )
    receipts = [f.get("delivered") for f in entry.files or [] if isinstance(f, dict)]
    if any(isinstance(r, dict) for r in receipts):  # a ledger with receipts
        item.delivered = [r for r in receipts if isinstance(r, dict)]
    item.mismatch = _texts(getattr(entry, "mismatch", None))
    redo: dict[str, Any] = {"id": rid}
    if inputs:
        redo["images"] = inputs
    for key, value in (
        ("prompt", entry.prompt),
        ("model", entry.model),
        ("ratio", item.ratio),
        ("size", item.size),
        ("format", _text(options.get("response_format"))),
        ("output", entry.output),
    ):
        if value:
            redo[key] = value
    params = options.get("params")
    if isinstance(params, dict) and params:
        redo["params"] = params
    item.redo = redo
    return item


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
            f"{path} exists and is not a dmxedit report; it was left as it is.",
            hint="Choose another name with -o, or pass --force to replace it.",
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
        raise InputError(f"Cannot write the report {path}: {exc.strerror or exc}.") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- thumbnails (--embed) ---------------------------------------------------------------


def require_pillow() -> None:
    """Pillow is there (the ``images`` extra), or an InputError naming the extra."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        raise InputError(
            "--embed needs Pillow to make the thumbnails, and it is not installed.",
            hint=f"Install the images extra: {IMAGES_HINT} (or leave out --embed: the page "
            "then links the images beside it).",
        ) from None


def thumbnails(paths: Iterable[str], side: int = THUMBNAIL_SIDE) -> dict[str, str | None]:
    """A ``data:`` URI of each image downscaled to ``side`` pixels at most (None for a
    file that is missing or cannot be read), made on a few threads."""
    require_pillow()
    try:  # HEIC/HEIF inputs, when pillow-heif is there too
        from pillow_heif import register_heif_opener

        register_heif_opener()
    except ImportError:
        pass
    from concurrent.futures import ThreadPoolExecutor

    unique = list(dict.fromkeys(paths))
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2))) as pool:
        made = list(pool.map(lambda p: _thumbnail(p, side), unique))
    return dict(zip(unique, made, strict=True))


def _thumbnail(path: str, side: int) -> str | None:
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            image.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced scale
            image.seek(0)
            picture = ImageOps.exif_transpose(image)
            picture.thumbnail((side, side))
            alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
            out = io.BytesIO()
            if alpha:
                picture.convert("RGBA").save(out, "PNG", optimize=True)
                kind = "image/png"
            else:
                picture.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
                kind = "image/jpeg"
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    return f"data:{kind};base64," + base64.b64encode(out.getvalue()).decode("ascii")


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
    counted_tokens = [j.token_text()[0] for j in jobs]
    tokens = sum(t for t in counted_tokens if t is not None)
    guessed = any(j.tokens is None and t for j, t in zip(jobs, counted_tokens, strict=True))
    stamp = datetime.fromtimestamp(time.time() if now is None else now).strftime("%Y-%m-%d %H:%M")
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
        '<p class="summary">'
        f"{counts['jobs']} job{'s' if counts['jobs'] != 1 else ''}: "
        f"{counts['ok']} ok, {counts['failed']} failed, {counts['mismatch']} "
        f"with a size mismatch"
        f"{f'; {tokens} tokens' if tokens else ''}{' (some estimated)' if guessed else ''}. "
        f"Written {_e(stamp)} from {', '.join(f'<code>{_e(s)}</code>' for s in report.sources)}."
        "</p>",
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
    requested = job.requested()
    if requested:
        rows.append(("Requested", _e(requested)))
    else:
        unset = "no ratio or size set (the model's default)"
        rows.append(("Requested", unset if job.settings_known else "not recorded"))
    if job.delivered is not None:
        delivered = ", ".join(
            f"{d.get('width', '?')}x{d.get('height', '?')}"
            + (f" {str(d['format']).upper()}" if d.get("format") else "")
            for d in job.delivered
        )
        rows.append(("Delivered", _e(delivered) if delivered else "nothing"))
    if job.mismatch:
        items = "".join(f"<li>{_e(m)}</li>" for m in job.mismatch)
        rows.append(("Mismatch", f'<ul class="mismatch">{items}</ul>'))
    rows.append(("Tokens", _e(job.token_text()[1])))
    if job.model:
        rows.append(("Model", _e(job.model)))
    if job.elapsed_s is not None:
        rows.append(("Time", f"{job.elapsed_s:.1f} s"))
    if job.created is not None:
        rows.append(("When", _e(datetime.fromtimestamp(job.created).strftime("%Y-%m-%d %H:%M"))))
    where = _e(job.source) + (f", line {job.line}" if job.line is not None else "")
    where += f", variant {job.variant}" if job.variant is not None else ""
    rows.append(("From", where))
    body = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return f'<dl class="facts">{body}</dl>'
