"""Names of saved images: the default stem, or a ``--name`` template's.

A template is Python format syntax over a fixed set of fields (``{stem}``, ``{ts}``, ``{i}``,
``{id}``, ``{variant}``, ``{ratio}``, ``{size}``, ``{model}``); the extension is always
added from the image's own bytes. A template is checked, with the values of the request
it names, before anything is sent: a name that would leave the output folder (a path
separator, ``..``) or that no file system can hold is invalid usage.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T

FIELDS = ("stem", "ts", "i", "id", "variant", "ratio", "size", "model")
_NUMBERS = ("i", "variant")  # formatted as numbers: {i:03d} works
_MAX_BYTES = 200  # leaves room for "-NNNN", the extension and the ".json" of a sidecar
_SAMPLE_TS = "20260101_000000"
_WINDOWS = os.name == "nt"  # its file names cannot hold <>:"|?*, end in a dot, be CON...
_WINDOWS_CHARS = '<>:"|?*'
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{kind}{n}" for kind in ("COM", "LPT") for n in range(1, 10)
}


def _shown(value: str | None, missing: str) -> str:
    return value if value else missing


def stem_of(display: str) -> str:
    """An input's file name without its extension ("stdin" for standard input)."""
    if display in ("-", "<stdin>", "standard input"):
        return "stdin"
    return PurePath(display).stem or "image"


@dataclass(frozen=True)
class Naming:
    """How one request's results are named."""

    prefix: str = "edited"  # the default stem's first word
    template: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)  # every field but ts and i
    variant_in_default: bool = False  # --variants N > 1: the default names carry v<N>
    id_in_default: bool = False  # a batch job: the default names carry its id

    @classmethod
    def make(
        cls,
        prefix: str,
        template: str | None,
        *,
        inputs: list[str],
        ratio: str | None,
        size: str | None,
        model: str,
        job_id: str | None = None,
        variant: int = 1,
        variants: int = 1,
        id_in_default: bool = False,
    ) -> Naming:
        values = {
            "stem": stem_of(inputs[0]) if inputs else prefix,
            "id": job_id,
            "variant": variant,
            "ratio": _shown(ratio, "default").replace(":", "x"),
            "size": _shown(size, "default"),
            "model": model.replace("/", "_").replace("\\", "_"),  # "org/model": one name
        }
        return cls(prefix, template, values, variants > 1, id_in_default and bool(job_id))

    def stem(self, ts: str, i: int) -> str:
        """The file name before its extension, for image ``i`` (from 1) of the answer."""
        if self.template is None:
            base = f"{self.prefix}_{ts}"
            if self.variant_in_default:
                base += f"_v{self.values.get('variant', 1)}"
                return base if i == 1 else f"{base}_{i}"
            if self.id_in_default:
                shown = id_for_name(str(self.values.get("id") or ""))
                base += f"_{shown}" if shown else ""
            return f"{base}_{i}"
        return render(self.template, {**self.values, "ts": ts, "i": i})

    def check(self) -> None:
        """Raise InputError when the template is unusable for this request."""
        if self.template is not None:
            check_template(self.template)
            used = {name for _, name, _, _ in string.Formatter().parse(self.template) if name}
            if "id" in used and not self.values.get("id"):
                raise InputError(
                    T(
                        "--name {template!r} uses {{id}}, which only batch jobs have.",
                        template=self.template,
                    ),
                    hint=T("Use {{stem}}, {{ts}} or {{i}} for a single edit."),
                )
            self.stem(_SAMPLE_TS, 1)


_ID_BYTES = 48  # of a job id in a default name: room for the prefix, time and number


def id_for_name(job_id: str) -> str:
    """A batch job's id as a part of a default file name: letters, digits, ``-`` and
    ``_`` kept, any other run of characters one ``_``, at most 48 bytes."""
    shown = re.sub(r"[^\w-]+", "_", job_id).strip("_")
    while len(shown.encode("utf-8")) > _ID_BYTES:
        shown = shown[:-1]
    return shown.rstrip("_")


def literal_template(stem: str) -> str:
    """A --name template that gives exactly ``stem`` (so ``recover`` names the file of
    an ``-o NAME.png`` request, and a job's ``output`` file, as asked)."""
    return stem.replace("{", "{{").replace("}", "}}")


def check_template(template: str) -> None:
    """The template's own syntax and fields, before any request is known."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        raise InputError(
            T(
                "The name template {template!r} is not valid: a brace is without its pair.",
                template=template,
            ),
            hint=T(
                "Fields go in braces, e.g. --name '{{stem}}_{{ratio}}_{{i}}'; "
                "write {{{{ for a brace.",
            ),
        ) from None
    unknown = sorted(
        {
            name.split(".")[0].split("[")[0]
            for _, name, _, _ in parsed
            if name is not None and name.split(".")[0].split("[")[0] not in FIELDS
        }
    )
    if unknown:
        shown = ", ".join("{" + n + "}" if n else "{}" for n in unknown)
        raise InputError(
            T(
                "The name template {template!r} uses {shown}, which is not a name field.",
                template=template,
                shown=shown,
            ),
            hint=T("Fields: {fields}.", fields=", ".join("{" + f + "}" for f in FIELDS)),
        )
    if any(name and ("." in name or "[" in name) for _, name, _, _ in parsed):
        raise InputError(
            T(
                "The name template {template!r}: fields take no attributes or indexes.",
                template=template,
            )
        )
    if any(conversion for _, _, _, conversion in parsed):
        raise InputError(
            T(
                "The name template {template!r}: fields take no conversions (!r, !s, !a).",
                template=template,
            ),
            hint=T(
                "Write the field alone, e.g. {{stem}}, or with a format, e.g. {{i:03d}}.",
            ),
        )


def render(template: str, values: Mapping[str, Any]) -> str:
    """The stem a template gives; InputError when it is not a plain file name."""
    check_template(template)
    try:
        name = template.format_map(
            {k: (v if k in _NUMBERS else ("" if v is None else str(v))) for k, v in values.items()}
        )
    except (ValueError, TypeError, KeyError):
        raise InputError(
            T(
                "The name template {template!r} cannot be filled in: a format "
                "after ':' does not suit its field.",
                template=template,
            ),
            hint=T(
                "{{i}} and {{variant}} are numbers (e.g. {{i:03d}}); the other "
                "fields are text (e.g. {{stem:.20}} keeps 20 characters).",
            ),
        ) from None
    problem = _problem(name)
    if problem:
        raise InputError(
            T(
                "The name template {template!r} gives {name!r}, {problem}.",
                template=template,
                name=name,
                problem=problem,
            ),
            hint=T(
                "A name is one file name in the output folder; choose the folder with -o.",
            ),
        )
    return name


def _problem(name: str) -> str | None:
    if not name.strip():
        return T("an empty name")
    if ".." in name:
        return T("which holds '..'")
    if "/" in name or "\\" in name:
        return T("which holds a path separator")
    if name == ".":
        return T("which names the folder itself")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return T("which holds a control character")
    if len(name.encode("utf-8", "surrogateescape")) > _MAX_BYTES:
        return T("longer than {max_bytes} bytes", max_bytes=_MAX_BYTES)
    return _windows_problem(name) if _WINDOWS else None


def _windows_problem(name: str) -> str | None:
    """What Windows would not take in a file name (besides what no system takes)."""
    bad = next((c for c in name if c in _WINDOWS_CHARS), None)
    if bad is not None:
        return T(
            "which holds {bad!r}, a character Windows does not allow in a file name",
            bad=bad,
        )
    if name[-1] in ". ":
        return T(
            "which ends in a dot or a space, which Windows drops from a file name",
        )
    if name.split(".")[0].strip().upper() in _WINDOWS_DEVICES:
        return T("which is a device name on Windows, not a file name")
    return None
