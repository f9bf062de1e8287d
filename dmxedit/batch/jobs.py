"""Jobs: what a jobs file line (or an ``--each`` image) asks, checked and given its id."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from dmxedit.api.request import ImageRequest, build_request
from dmxedit.core.errors import InputError, all_problems
from dmxedit.core.i18n import P, T
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings
from dmxedit.media.images import load_images, load_mask
from dmxedit.media.inputs import InputImage
from dmxedit.media.prepare import check_max_side
from dmxedit.store.names import Naming
from dmxedit.store.results import file_target

#: A job's keys that are model options (SPEC 12), each an ImageOptions field of that
#: name, with the JSON type its value takes. ``mask`` is a path, relative to the jobs
#: file's folder like ``images``.
OPTION_KEYS: dict[str, tuple[type, ...]] = {
    "quality": (str,),
    "background": (str,),
    "image_format": (str,),
    "compression": (int,),
    "moderation": (str,),
    "mask": (str,),
    "count": (int,),
    "search": (bool,),
    "api": (str,),
}
JOB_KEYS = {
    "id",
    "images",
    "prompt",
    "ratio",
    "size",
    "model",
    "format",
    "output",
    "params",
    "name",
    *OPTION_KEYS,
}
JOB_KEYS.add("max_side")  # SPEC 9: downscale this job's inputs (overrides --max-side)
MAX_REPORTED = 20
MAX_KEPT_ERRORS = 1000  # messages kept for --json's "invalid" (all are counted)
# O_BINARY (Windows only): without it, os.write turns each "\n" into "\r\n".


@dataclass
class Defaults:
    """What a job leaves out: the command's options, then config, then defaults."""

    settings: Settings
    options: ImageOptions = field(default_factory=ImageOptions)
    prompt: str | None = None
    #: ``options.max_side`` checked once (a job's own ``max_side`` is checked with its line)
    max_side: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.max_side = check_max_side(self.options.max_side)


@dataclass
class Job:
    line: int
    id: str
    request: ImageRequest
    output: Path  # the folder
    naming: Naming | None = None
    exact: Path | None = None  # output NAME.png: the job's one result, under that name
    obj: dict[str, Any] | None = None  # the job as its line wrote it
    jobs_file: str | None = None  # the jobs file's absolute path (None: stdin, --each)
    variant: int | None = None  # 1..N with --variants N

    def fields(self) -> dict[str, Any]:
        """What a results line says of the job besides its outcome."""
        request = self.request
        out: dict[str, Any] = {
            "job": self.obj,
            "jobs_file": self.jobs_file,
            "prompt": request.prompt,
            "images": [
                str(img.path.resolve()) if img.path else img.display for img in request.images
            ],
            "model": request.model,
            "ratio": request.ratio,
            "size": request.size,
        }
        options = dict(request.choices)
        if request.door != "images":
            options["api"] = request.door  # as the ledger records it
        if request.mask is not None:
            options["mask"] = str(request.mask.path.resolve()) if request.mask.path else None
        if options:
            out["options"] = options  # SPEC 12's options in effect (count included)
        if self.variant is not None:
            out["variant"] = self.variant
        return out


def job_id(obj: Mapping[str, Any]) -> str:
    """A job's own ``id``, or a stable hash of its fields."""
    own = obj.get("id")
    if own is not None:
        return str(own)
    canonical = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def entry_id(obj: Mapping[str, Any], variant: int = 1, variants: int = 1) -> str:
    """The id of one job of a line: the line's own id, with ``-vN`` under --variants."""
    return job_id(obj) if variants == 1 else f"{job_id(obj)}-v{variant}"


def job_report(job: Job) -> dict[str, Any]:
    """What identifies a job in a summary: its place, id and inputs."""
    out: dict[str, Any] = {
        "line": job.line,
        "id": job.id,
        "inputs": [i.display for i in job.request.images],
    }
    if job.variant is not None:
        out["variant"] = job.variant
    return out


def _check_fields(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(T("a job must be a JSON object"))
    unknown = sorted(set(obj) - JOB_KEYS)
    if unknown:
        raise InputError(
            P(
                "unknown key {unknown}; known: {known}",
                "unknown keys {unknown}; known: {known}",
                len(unknown),
                unknown=", ".join(unknown),
                known=", ".join(sorted(JOB_KEYS)),
            )
        )
    if "id" in obj and not isinstance(obj["id"], (str, int)) or obj.get("id") == "":
        raise InputError(T("id must be a non-empty text or a number"))
    _check_types(obj)
    return obj


def _check_types(obj: dict[str, Any]) -> None:
    """The job's values are of the types their keys take."""
    for key in ("prompt", "ratio", "size", "model", "format", "output", "name"):
        if key in obj and not isinstance(obj[key], str):
            raise InputError(T("{key} must be a text", key=key))
    _check_option_types(obj)
    images = obj.get("images")
    if images is not None and (
        not isinstance(images, list) or not all(isinstance(i, str) for i in images)
    ):
        raise InputError(T("images must be a list of paths"))
    params = obj.get("params")
    if params is not None and (
        not isinstance(params, dict)
        or not all(isinstance(v, (str, int, float, bool)) for v in params.values())
    ):
        raise InputError(T("params must be an object of texts, numbers or booleans"))


def _check_option_types(obj: dict[str, Any]) -> None:
    """The model options' values are of their types (null: not for this job)."""
    words = {str: T("a text"), int: T("a whole number"), bool: T("true or false")}
    for key, kinds in OPTION_KEYS.items():
        value = obj.get(key)
        if value is None:
            continue
        # a JSON true is a Python int too: a whole number must not be a boolean
        wrong = not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool))
        if wrong:
            raise InputError(T("{key} must be {words}", key=key, words=words[kinds[0]]))


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ImageChecks:
    """Each list of images checked once, however many jobs name it (the last 1,024 lists
    are kept): a million jobs over a handful of images read a handful of files."""

    def __init__(self, keep: int = 1024) -> None:
        self.keep = keep
        self._checked: OrderedDict[
            tuple[tuple[str, ...], int | None], list[InputImage] | InputError
        ] = OrderedDict()

    def load(self, args: list[str], max_side: int | None = None) -> list[InputImage]:
        key = (tuple(args), max_side)
        found = self._checked.get(key)
        if found is None:
            try:
                found = load_images(args, max_side=max_side)
            except InputError as exc:
                found = exc
            self._checked[key] = found
            if len(self._checked) > self.keep:
                self._checked.popitem(last=False)
        else:
            self._checked.move_to_end(key)
        if isinstance(found, InputError):
            raise found.with_traceback(None)  # a traceback would grow with every raise
        return found


def _job_images(
    obj: dict[str, Any], base: Path, defaults: Defaults, checks: ImageChecks | None
) -> list[InputImage]:
    """A job's input images (relative paths are relative to ``base``), checked."""
    image_args = [
        str(base / p) if not os.path.isabs(p) and p != "-" else p for p in obj.get("images") or []
    ]
    if "-" in image_args:
        raise InputError(T("a job's image cannot be '-' (standard input)"))
    if obj.get("images") == []:
        raise InputError(T("images is empty; leave it out for a generate job"))
    max_side = check_max_side(obj["max_side"]) if "max_side" in obj else defaults.max_side
    if not image_args:
        return []
    if checks is not None:
        return checks.load(image_args, max_side)
    return load_images(image_args, max_side=max_side)


def _job_output(
    obj: dict[str, Any], base: Path, default: str, variants: int
) -> tuple[Path, Path | None]:
    """A job's output folder: its own (relative to ``base``), else the setting; and its
    one result's own file when its ``output`` names one (SPEC 2's -o NAME.png)."""
    if "output" not in obj:
        return Path(default).expanduser(), None
    output = Path(obj["output"]).expanduser()
    output = output if output.is_absolute() else base / output
    if file_target(obj["output"]) is None or output.is_dir():
        return output, None
    if variants > 1:
        raise InputError(
            T(
                "output {output!r} names one file, and --variants {variants} "
                "saves several; give a folder",
                output=obj["output"],
                variants=variants,
            )
        )
    if "name" in obj:
        raise InputError(
            T(
                "output {output!r} names the file already; name goes with a folder",
                output=obj["output"],
            )
        )
    return output.parent, output


def build_job(
    obj: Any,
    line: int,
    base: Path,
    defaults: Defaults,
    *,
    variant: int = 1,
    variants: int = 1,
    jobs_file: str | None = None,
    checks: ImageChecks | None = None,
) -> Job:
    """Check one job against the defaults; raises InputError (without the line number).
    With ``variants`` > 1 it is variant ``variant`` of that many copies of the job;
    ``checks`` checks each list of images once."""
    obj = _check_fields(obj)
    images = _job_images(obj, base, defaults, checks)
    params = list(defaults.options.params)
    params += [f"{k}={_param_text(v)}" for k, v in (obj.get("params") or {}).items()]
    settings = defaults.settings.overridden(
        {key: obj.get(name) for name, key in _JOB_SETTINGS.items()}, "job"
    )
    options = _job_options(obj, base, defaults.options)
    request = _job_request(obj, settings, params, images, options, defaults.prompt)
    output, exact = _job_output(obj, base, settings.output, variants)
    own_id = entry_id(obj, variant, variants)
    template = obj.get("name", defaults.options.name)
    naming = Naming.make(
        request.prefix,
        template,
        inputs=[img.display for img in images],
        ratio=request.ratio,
        size=request.size,
        model=request.model,
        job_id=own_id,
        variant=variant,
        variants=variants,
        id_in_default=True,  # which job made a file shows in its default name
    )
    naming.check()
    return Job(
        line=line,
        id=own_id,
        request=request,
        output=output,
        naming=naming,
        exact=exact,
        obj=obj,
        jobs_file=jobs_file,
        variant=variant if variants > 1 else None,
    )


def _job_options(obj: dict[str, Any], base: Path, defaults: ImageOptions) -> ImageOptions:
    """The command's options with the job's own model options over them (a job's key
    wins; its ``mask`` is relative to ``base``, the jobs file's folder)."""
    own = {key: obj[key] for key in OPTION_KEYS if key in obj}  # null unsets a default
    if "search" in own:
        own["search"] = bool(own["search"])
    mask = own.get("mask")
    if isinstance(mask, str) and mask != "-" and not os.path.isabs(mask):
        own["mask"] = str(base / mask)
    return replace(defaults, **own)


def _job_request(
    obj: dict[str, Any],
    settings: Settings,
    params: list[str],
    images: list[InputImage],
    options: ImageOptions,
    prompt: str | None,
) -> ImageRequest:
    """The job's request checked against its own model; every problem named at once
    (the mask's too)."""
    problems: list[InputError] = []
    mask = None
    if options.mask is not None:
        try:
            mask = load_mask(options.mask, images[0] if images else None)
        except InputError as exc:
            problems.append(exc)
    try:
        request = build_request(
            "edit" if images else "generate",
            settings,
            prompt=obj.get("prompt", prompt),
            params=params,
            images=images,
            options=options,
            mask=mask,
        )
    except InputError as exc:
        problems += [InputError(m) for m in exc.details.get("problems", [])] or [exc]
    if problems:
        raise all_problems(problems)
    return request


#: A job's keys that are settings, with the setting each stands for.
_JOB_SETTINGS = {"model": "model", "ratio": "ratio", "size": "size", "format": "format"}


@dataclass
class JobSource:
    """Where jobs come from: a JSON Lines file, read line by line (never all at once)."""

    path: Path | None = None  # a jobs file
    objects: list[dict[str, Any]] | None = None  # --each: jobs made on the command line
    base: Path = field(default_factory=Path.cwd)
    variants: int = 1  # --variants N: each job N times, saved as N files
    stdin: bool = False  # the jobs file is a copy of standard input
    #: the jobs file ``path`` is a private copy of (``dmxedit mcp`` runs the content it
    #: checked): results lines name this one
    named: Path | None = None

    @property
    def jobs_file(self) -> str | None:
        """The jobs file's absolute path, for results lines (None: stdin, --each)."""
        if self.path is None or self.stdin:
            return None
        return str((self.named or self.path).resolve())

    def entries(self) -> Iterator[tuple[int, Any, int]]:
        """(line number, parsed object or an InputError, variant) for every job: each
        line ``variants`` times."""
        for line, obj in self.lines():
            for variant in range(1, self.variants + 1):
                yield line, obj, variant

    def lines(self) -> Iterator[tuple[int, Any]]:
        """(line number, parsed object or an InputError) for every non-blank line."""
        if self.objects is not None:
            yield from enumerate(self.objects, start=1)
            return
        assert self.path is not None
        with open(self.path, "rb") as fh:
            for number, data in enumerate(fh, start=1):
                if number == 1 and data.startswith(b"\xef\xbb\xbf"):
                    data = data[3:]  # a UTF-8 BOM (Windows editors write one)
                try:
                    raw = data.decode("utf-8")
                except UnicodeDecodeError:
                    yield number, InputError(T("not UTF-8 text (save the jobs file as UTF-8)"))
                    continue
                if not raw.strip():
                    continue
                try:
                    yield number, json.loads(raw)
                except ValueError as exc:
                    yield (
                        number,
                        InputError(
                            T("not valid JSON ({value})", value=exc.args[0] if exc.args else exc)
                        ),
                    )


def spool_stdin(stream: IO[bytes]) -> Path:
    """Copy jobs from standard input to a temporary file so they can be read twice."""
    fd, name = tempfile.mkstemp(prefix="dmxedit-jobs-", suffix=".jsonl")
    with os.fdopen(fd, "wb") as fh:
        shutil.copyfileobj(stream, fh)
    return Path(name)
