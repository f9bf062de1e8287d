"""One request checked before anything is sent: :func:`prepare` resolves the settings,
checks the images, the options and the output, and returns a :class:`Prepared` that
:func:`dmxedit.engine.pipeline.run` sends. Every problem found is named at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dmxedit.api.request import ImageRequest, Kind, build_request
from dmxedit.core.errors import InputError, all_problems
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings, resolve
from dmxedit.media.images import load_images, load_mask
from dmxedit.media.inputs import InputImage
from dmxedit.media.prepare import check_max_side
from dmxedit.store.ledger import open_ledger
from dmxedit.store.names import Naming
from dmxedit.store.refs import is_ref, resolve_image_ref
from dmxedit.store.results import check_file_target, file_target


def resolve_refs(images: Sequence[str], settings: Settings) -> list[str]:
    """``@last`` and ``@N`` image arguments -> the saved files they name (via the ledger)."""

    if not any(is_ref(arg) for arg in images):
        return list(images)

    book = open_ledger(settings.history, create=False)  # reading makes no ledger
    try:
        return [resolve_image_ref(a, book, settings.history) if is_ref(a) else a for a in images]
    finally:
        if book is not None:
            book.close()


def warnings_for(request: ImageRequest) -> list[str]:
    """What the user should know about a request before it is sent."""
    out = [img.warning for img in request.images if img.warning]
    spec = request.spec
    if spec is not None and spec.warn_inputs is not None and len(request.images) > spec.warn_inputs:
        out.append(
            f"{len(request.images)} images: the endpoint documents {spec.inputs}, but one page "
            f"of the provider's documentation says {spec.warn_inputs}."
        )
    return out


@dataclass(frozen=True)
class Prepared:
    """A checked request with the settings and options it was made from."""

    request: ImageRequest
    settings: Settings
    options: ImageOptions
    naming: Naming | None = None
    target: Path | None = None  # -o NAME.png: the one result's file (SPEC 2)


def prepare(
    kind: Kind,
    images: Sequence[str],
    prompt: str | None,
    options: ImageOptions,
    *,
    read_stdin: Callable[[], bytes] | None = None,
    settings: Settings | None = None,
) -> Prepared:
    """Resolve the settings, check the images and options; nothing is sent."""
    invalid: dict[str, InputError] = {}
    settings = settings or resolve(options, invalid=invalid)
    problems: list[InputError] = list(invalid.values())
    images = resolve_refs(images, settings)
    checked = _checked_images(kind, images, read_stdin, options, problems)
    mask = _checked_mask(options.mask, checked, problems)
    shape_from = settings
    if problems and (settings.ratio or "").lower() == "auto":
        shape_from = replace(settings, ratio=None)  # no image to take a shape from
    try:
        request = build_request(
            kind,
            shape_from,
            prompt=prompt,
            params=options.params,
            images=checked,
            options=options,
            mask=mask,
        )
    except InputError as exc:
        problems += _each_problem(exc)
    naming = None
    if not problems:
        try:
            naming = _naming(request, options.name)
        except InputError as exc:
            problems.append(exc)
    target = _checked_target(options, problems)
    problems += _count_target(options, target)
    if problems:
        raise all_problems(problems)
    return Prepared(request, settings, options, naming, target)


def _each_problem(error: InputError) -> list[InputError]:
    """An error that lists several problems -> one error per problem (its hint kept)."""
    return [InputError(m, hint=error.hint) for m in error.details.get("problems", [])] or [error]


def _checked_images(
    kind: Kind,
    images: Sequence[str],
    read_stdin: Callable[[], bytes] | None,
    options: ImageOptions,
    problems: list[InputError],
) -> list[InputImage]:
    """The images checked (an edit's; a generation has none); problems appended."""
    max_side = None
    try:
        max_side = check_max_side(options.max_side)
    except InputError as exc:
        problems.append(exc)
    try:
        return load_images(list(images), read_stdin, max_side=max_side) if kind == "edit" else []
    except InputError as exc:  # go on: the options' problems are named too
        problems += _each_problem(exc)
        return []


def _checked_mask(
    mask: str | None, images: Sequence[InputImage], problems: list[InputError]
) -> InputImage | None:
    """--mask FILE: a PNG with an alpha channel, the first image's size; problems appended."""
    if mask is None:
        return None
    try:
        return load_mask(mask, images[0] if images else None)
    except InputError as exc:
        problems.append(exc)
        return None


def _checked_target(options: ImageOptions, problems: list[InputError]) -> Path | None:
    """-o NAME.png: the one file to save into, checked; problems appended."""
    target = file_target(options.output)  # given here (a flag), not a configured folder
    if target is None:
        return None
    try:
        check_file_target(target)
    except InputError as exc:
        problems.append(exc)
    if options.name is not None:
        problems.append(
            InputError(f"-o {options.output!r} names the file already; --name goes with a folder.")
        )
    return target


def _count_target(options: ImageOptions, target: Path | None) -> list[InputError]:
    """--count N (N > 1) makes several files: -o NAME.png and -o - take one."""
    count = options.count or 1
    if count <= 1:
        return []
    if target is not None:
        return [
            InputError(
                f"-o {options.output!r} names one file, and --count {count} makes "
                "several; give a folder."
            )
        ]
    if options.output == "-":
        return [InputError(f"--count {count} makes {count} files; -o - writes one image.")]
    return []


def _naming(request: ImageRequest, template: str | None) -> Naming | None:
    """The names of a single request's results, checked now (before anything is sent)."""
    if template is None:
        return None
    naming = Naming.make(
        request.prefix,
        template,
        inputs=[img.display for img in request.images],
        ratio=request.ratio,
        size=request.size,
        model=request.model,
    )
    naming.check()
    return naming
