"""The jobs a `dmxedit report` page shows, read from batch results files (with the jobs
files they came from) or from the ledger's entries; each job also carries its "redo"
line, the job again as a line of a jobs file. The page itself is :mod:`dmxedit.report.page`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmxedit.batch.jobs import OPTION_KEYS, JobSource, job_id
from dmxedit.batch.resultsfile import ResultsLog
from dmxedit.core.catalog import DEFAULT_MODEL
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.core.modelspec import Model
from dmxedit.core.modeltable import model_for

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
    options: dict[str, Any] | None = None  # the model options in effect (SPEC 12)

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
            return 0, T("0 (not billed)")
        if paid is None:
            return None, T("unknown (may have been billed)")
        spec = self.spec
        one = None
        if spec is not None and (self.size is None or self.size in spec.tiers):
            one = spec.tokens_for(self.size)  # documented tokens only, never a guess
        if one is not None:
            estimate = one * max(1, len(self.outputs) or len(self.urls))
            return estimate, T(
                "{estimate} (estimated from the size; the API sent no usage)", estimate=estimate
            )
        if spec is None or spec.tokens is None:
            return None, T("unknown (the API sent no usage; DMXAPI documents no tokens for it)")
        return None, T("not recorded (the API sent no usage)")

    @property
    def spec(self) -> Model | None:
        """The model table's entry of the job's model (None: not in the table)."""
        return model_for(self.model or DEFAULT_MODEL)

    def requested(self) -> str | None:
        """``16:9 4K (5504x3072)``, as far as the ratio and size are known (the pixels
        from the model's own table)."""
        shape = " ".join(x for x in (self.ratio, self.size) if x)
        spec = self.spec
        pixels = spec.pixels(self.ratio, self.size) if spec and self.ratio and self.size else None
        if pixels is not None:
            shape += f" ({pixels[0]}x{pixels[1]})"
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
    for key in ("total_tokens", "totalTokenCount"):  # OpenAI-style, Google's usageMetadata
        total = usage.get(key)
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

    cwd = Path.cwd() if cwd is None else cwd
    jobs: list[ReportJob] = []
    for path in paths:
        jobs += _read_one(path, cwd)
    return Report(jobs=jobs, sources=[str(p) for p in paths])


def _read_one(path: Path, cwd: Path) -> list[ReportJob]:
    """The jobs of one results file, in job order."""

    records = _records(path)
    results_dir = path.parent.absolute()
    jobs_file = _jobs_file_for(path, records)
    base = jobs_file.parent.absolute() if jobs_file is not None else results_dir
    missing = {
        r["line"] for r in records if not isinstance(r.get("job"), dict) and _is_int(r.get("line"))
    }
    originals = _job_lines(jobs_file, missing) if jobs_file is not None else {}
    jobs: list[ReportJob] = []
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
    return jobs


def _records(path: Path) -> list[dict[str, Any]]:
    """The deciding record of each job id in a results file; InputError when there is
    no such file or it holds none."""

    if not path.is_file():
        raise InputError(
            T("The results file {path} does not exist.", path=path)
            if not path.exists()
            else T("{path} is not a file.", path=path),
            hint=T(
                "Name the JSON Lines file `dmxedit batch` wrote (JOBS.results.jsonl beside the "
                "jobs file, or its --results FILE)."
            ),
        )
    records = list(ResultsLog(path).previous().values())
    if not records:
        raise InputError(
            T("{path} holds no batch results (no line with an id and a status).", path=path),
            hint=T("Name the results file (JOBS.results.jsonl), not the jobs file.")
            if _looks_like_jobs(path)
            else T("Name the JSON Lines file `dmxedit batch` wrote."),
        )
    return records


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
    item = ReportJob(
        id=rid,
        source=path.name,
        status=status,
        line=_line_of(record),
        variant=_variant(record) or None,
        settings_known="ratio" in record or "size" in record,
        error=_text(record.get("error")) or _stopped(status),
        exit_code=_int(record.get("exit_code")),
        may_be_billed=bool(record.get("may_be_billed")),
        prompt=_either(record, job, "prompt"),
        inputs=inputs,
        outputs=[_locate(p, bases) for p in _texts(record.get("files"))],
        urls=_texts(record.get("urls")),
        model=_either(record, job, "model"),
        ratio=_either(record, job, "ratio"),
        size=_either(record, job, "size"),
        delivered=_dicts(record.get("delivered")),
        mismatch=_texts(record.get("mismatch")),
        usage=_dict(record.get("usage")),
        elapsed_s=_number(record.get("elapsed_s")),
        billed=record["billed"] if isinstance(record.get("billed"), bool) else None,
        billing=_dict(record.get("billing")),
        options=_dict(record.get("options")),
    )
    item.redo = _redo_line(rid, job, base, item)
    return item


def _int(value: Any) -> int | None:
    return value if _is_int(value) else None


def _number(value: Any) -> float | None:
    return value if isinstance(value, (int, float)) else None


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _dicts(value: Any) -> list[dict[str, Any]] | None:
    """The objects of a list (None when it is not a list)."""
    return [d for d in value if isinstance(d, dict)] if isinstance(value, list) else None


def _either(record: Mapping[str, Any], job: Mapping[str, Any], key: str) -> str | None:
    """A text of the results line, else of the job's line in the jobs file."""
    return _text(record.get(key)) or _text(job.get(key))


def _stopped(status: str) -> str | None:
    """What a job the batch left half done means (``sent``, ``answered``), else None."""
    if status == "sent":
        return "The batch stopped after this job's request went out; it may have been billed."
    if status == "answered":
        return (
            "The answer arrived but the images were not saved yet; a re-run of the "
            "batch downloads them."
        )
    return None


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
    for key, value in (item.options or {}).items():  # the command's model options too
        if key in OPTION_KEYS and key not in line and value is not None:
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
    saved = entry.status == "saved"
    item = ReportJob(
        id=f"ledger-{entry.id}",
        source="ledger",
        status=_STATUS_OF_ENTRY.get(entry.status, entry.status),
        error=entry.error,
        exit_code=entry.exit_code,
        may_be_billed=bool(entry.may_be_billed) and not saved,
        prompt=entry.prompt,
        inputs=inputs,
        outputs=list(entry.saved_files),
        urls=list(entry.urls or []) if saved else list(entry.unsaved_urls or []),
        model=entry.model,
        ratio=_text(options.get("aspect_ratio")),
        size=_text(options.get("size")),
        usage=_dict(entry.usage),
        created=entry.created,
        settings_known=True,
        delivered=_receipts(entry.files),
        mismatch=_texts(getattr(entry, "mismatch", None)),
        billed=None if entry.billed is None else bool(entry.billed),
        billing=_dict(entry.billing),
        options={k: options[k] for k in OPTION_KEYS if options.get(k) is not None},
    )
    item.redo = _entry_redo(item, entry, options)
    return item


def _receipts(files: Any) -> list[dict[str, Any]] | None:
    """The receipts of a ledger entry's files (None for a ledger without receipts)."""
    receipts = [f.get("delivered") for f in files or [] if isinstance(f, dict)]
    if any(isinstance(r, dict) for r in receipts):
        return [r for r in receipts if isinstance(r, dict)]
    return None


def _entry_redo(item: ReportJob, entry: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """A ledger entry's request again, as a jobs file's line."""
    redo: dict[str, Any] = {"id": item.id}
    if item.inputs:
        redo["images"] = list(item.inputs)
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
    redo.update((k, options[k]) for k in OPTION_KEYS if options.get(k) is not None)  # SPEC 12
    return redo


__all__ = ["Report", "ReportJob", "read_history", "read_results", "tokens_of"]
