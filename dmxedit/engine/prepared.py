"""One request checked before anything is sent: :func:`prepare` resolves the settings,
checks the images, the options and the output, and returns a :class:`Prepared` that
:func:`dmxedit.engine.pipeline.run` sends. Every problem found is named at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dmxedit.api.request import ImageRequest, Kind, build_request
from dmxedit.core.errors import InputError, all_problems
from dmxedit.core.i18n import T
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings, resolve
from dmxedit.engine.thread import Thread, history_images, load_thread
from dmxedit.media.images import load_images, load_mask
from dmxedit.media.inputs import InputImage
from dmxedit.media.prepare import check_max_side
from dmxedit.store.ledger import open_ledger
from dmxedit.store.names import Naming
from dmxedit.store.refs import is_ref, resolve_entry_ref, resolve_image_ref
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
    note = request.format_note()
    if note is not None:
        out.append(note)
    earlier = len(history_images(request.history))
    if request.spec is not None and earlier and earlier + len(request.images) > request.spec.inputs:
        out.append(
            T(
                "The thread holds {total} images in all; {model} documents "
                "{inputs} inputs a request.",
                total=earlier + len(request.images),
                model=request.model,
                inputs=request.spec.inputs,
            )
        )
    spec = request.spec
    if spec is not None and spec.warn_inputs is not None and len(request.images) > spec.warn_inputs:
        out.append(
            T(
                "{count} images: the endpoint documents {inputs}, but one "
                "page of the provider's documentation says {warn_inputs}.",
                count=len(request.images),
                inputs=spec.inputs,
                warn_inputs=spec.warn_inputs,
            )
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
    continue_ref: str | None = None,
    unset: tuple[str, ...] = (),
) -> Prepared:
    """Resolve the settings, check the images and options; nothing is sent. With
    ``continue_ref`` (``@last``/``@N``, SPEC 13) the request carries that entry's thread."""
    invalid: dict[str, InputError] = {}
    settings = settings or resolve(options, invalid=invalid)
    problems: list[InputError] = list(invalid.values())
    thread = None
    if continue_ref is not None:
        thread = _thread(continue_ref, settings)
        settings, options = _parent_defaults(thread, settings, options, unset)
    images = resolve_refs(images, settings)
    checked = _checked_images(kind, images, read_stdin, options, problems, thread is not None)
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
    if thread is not None and not problems:
        try:
            request = _continued(request, thread)
        except InputError as exc:
            problems.append(exc)
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


def _thread(ref: str, settings: Settings) -> Thread:
    """The ledger entry ``ref`` names and its thread (every file checked)."""
    book = open_ledger(settings.history, create=False)
    try:
        entry = resolve_entry_ref(ref, book, settings.history)
        assert book is not None  # resolve_entry_ref raised otherwise
        return load_thread(book, entry, settings.base_url)
    finally:
        if book is not None:
            book.close()


def _parent_defaults(
    thread: Thread, settings: Settings, options: ImageOptions, unset: tuple[str, ...] = ()
) -> tuple[Settings, ImageOptions]:
    """The parent's model, ratio, size and --search where this turn gives none (SPEC 13);
    ``unset`` names those the user cleared (chat's ``/ratio none``): not the parent's."""
    defaults = thread.defaults()
    given = {"model": options.model, "ratio": options.ratio, "size": options.size}
    values = {
        k: v for k, v in defaults.items() if k in given and given[k] is None and k not in unset
    }
    if "ratio" in unset:
        settings = replace(settings, ratio=None)
    if "size" in unset:
        settings = replace(settings, size=None)
    settings = settings.overridden(values, f"ledger entry {thread.parent.id}")
    if defaults.get("search") and not options.search:
        options = replace(options, search=True)
    return settings, options


def _continued(request: ImageRequest, thread: Thread) -> ImageRequest:
    """The request with the thread before it; only a gemini-door model keeps one."""
    parent = thread.parent
    if request.door != "gemini":
        raise InputError(
            T(
                "{model} goes through the images door, which keeps no "
                "conversation; --continue needs a gemini-door model (see "
                "`dmxedit models`).",
                model=request.model,
            ),
            hint=T(
                "Give the result as an input image instead: dmxedit edit @{id} -p ...",
                id=parent.id,
            ),
        )
    return replace(request, history=thread.turns, parent=parent.id)


def _each_problem(error: InputError) -> list[InputError]:
    """An error that lists several problems -> one error per problem (its hint kept)."""
    return [InputError(m, hint=error.hint) for m in error.details.get("problems", [])] or [error]


def _checked_images(
    kind: Kind,
    images: Sequence[str],
    read_stdin: Callable[[], bytes] | None,
    options: ImageOptions,
    problems: list[InputError],
    continued: bool = False,
) -> list[InputImage]:
    """The images checked (an edit's; a generation has none; a continued thread's new
    turn may have none); problems appended."""
    max_side = None
    try:
        max_side = check_max_side(options.max_side)
    except InputError as exc:
        problems.append(exc)
    try:
        if kind != "edit" or (continued and not images):
            return []
        return load_images(list(images), read_stdin, max_side=max_side)
    except InputError as exc:  # go on: the options' problems are named too
        problems += _each_problem(exc)
        return []


def _checked_mask(
    mask: str | None, images: Sequence[InputImage], problems: list[InputError]
) -> InputImage | None:
    """--mask FILE: a PNG with an alpha channel, the first image's size; problems appended."""
    if mask is None:
        return None
    first = images[0] if images else None
    if first is not None and first.plan is not None and first.plan.resized:
        plan = first.plan
        problems.append(
            InputError(
                T(
                    "--mask cannot go with {display} being downscaled "
                    "({width}x{height} to {sent_width}x{sent_height}): the mask "
                    "would no longer match the image sent.",
                    display=first.display,
                    width=plan.width,
                    height=plan.height,
                    sent_width=plan.sent_width,
                    sent_height=plan.sent_height,
                ),
                hint=T(
                    "Downscale the image and the mask alike yourself, or leave out --max-side.",
                ),
            )
        )
        return None
    try:
        return load_mask(mask, first)
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
            InputError(
                T(
                    "-o {output!r} names the file already; --name goes with a folder.",
                    output=options.output,
                )
            )
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
                T(
                    "-o {output!r} names one file, and --count {count} makes "
                    "several; give a folder.",
                    output=options.output,
                    count=count,
                )
            )
        ]
    if options.output == "-":
        return [
            InputError(
                T(
                    "--count {count} makes {count} files; -o - writes one image.",
                    count=count,
                )
            )
        ]
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
