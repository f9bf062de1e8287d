"""One edit or generation, from a validated request to saved results.

:func:`execute` is the one path every image request takes: ``edit_image``,
``generate_image``, the CLI's ``edit``/``generate`` and every batch job. It tells a
:class:`Record` what happens as it happens (begun, sent, answered, saved, failed) so
that a durable record of the request (a batch results file, the ledger) is written
before the tool goes on. :func:`prepare` and :func:`run` wrap it for one request: the
library and the CLI use them alike (:func:`prepare` and :class:`Prepared` live in
:mod:`dmxedit.engine.prepared`, the library's entry points in :mod:`dmxedit.engine.library`).

What follows the saving (the receipt, the metadata sidecars) is
:mod:`dmxedit.engine.aftersave`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from dmxedit.api.client import Client
from dmxedit.api.proxies import check_proxy
from dmxedit.api.request import ImageRequest
from dmxedit.api.retry import Policy
from dmxedit.core import interrupts
from dmxedit.core.errors import DmxError, SaveError
from dmxedit.core.events import Events
from dmxedit.core.i18n import T, joined
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings
from dmxedit.core.temporaries import Temporaries
from dmxedit.core.text import storable
from dmxedit.engine.aftersave import check_receipt, metadata_files
from dmxedit.engine.billing import Clock, Sleep, after_failure
from dmxedit.engine.delivery import Delivery, describe, verdict
from dmxedit.engine.fetch import fetch_again
from dmxedit.engine.prepared import Prepared, warnings_for
from dmxedit.engine.records import LedgerRecord, Record, Records, Tracker
from dmxedit.engine.recover import recover_hint
from dmxedit.engine.result import ImageResult
from dmxedit.engine.thread import history_images, with_images
from dmxedit.media.digests import Cache as DigestCache
from dmxedit.media.digests import Digests
from dmxedit.media.prepare import discard, input_record, prepare_images
from dmxedit.store import ledger
from dmxedit.store.names import literal_template
from dmxedit.store.results import (
    Blob,
    SavedImage,
    Saver,
)

if TYPE_CHECKING:
    from dmxedit.api.client import Answer, AnswerItem, Client
    from dmxedit.api.retry import Pacer


def make_client(
    settings: Settings,
    options: ImageOptions,
    *,
    events: Events | None = None,
    pacer: Pacer | None = None,
    stop: Callable[[], bool] | None = None,
) -> Client:
    """A client configured from resolved settings (imports the HTTP machinery); ``stop``
    is asked before each attempt goes out (:func:`dmxedit.api.retry.retrying`)."""
    api_key = settings.require_key()
    check_proxy(settings.base_url)  # a SOCKS proxy without PySocks: said before sending
    return Client(
        api_key=api_key,
        timeout=settings.timeout,
        connect_timeout=settings.connect_timeout,
        download_timeout=settings.download_timeout,
        policy=Policy(settings.retries, options.retry_server_errors),
        events=events,
        pacer=pacer,
        stop=stop,
    )


def execute(
    request: ImageRequest,
    client: Client,
    saver: Saver,
    *,
    events: Events | None = None,
    save_metadata: bool = False,
    record: Record | None = None,
    hash_inputs: bool = False,
    digest_cache: DigestCache | None = None,
) -> ImageResult:
    """Send a checked request and save what comes back; the path every request takes.

    The inputs' SHA-256 are computed beside the send with ``save_metadata`` or
    ``hash_inputs`` (the ledger records them), from ``digest_cache`` when it knows the
    file as it is. Inputs that need preparing (SPEC 9:
    converted, rotated, downscaled) are prepared first, into temporary files that are
    removed when the request is over."""
    events = events or Events()
    record = record or Record()
    for message in warnings_for(request):
        events.warn(message)
    try:
        earlier = history_images(request.history)  # a conversation's (SPEC 13)
        sent_images, made = prepare_images([*request.images, *earlier], saver.temporaries, events)
        count = len(request.images)
        request = replace(
            request,
            images=tuple(sent_images[:count]),
            history=with_images(request.history, sent_images[count:]),
        )
    except DmxError as error:
        record.failed(error)
        raise
    try:
        return _execute(
            request, client, saver, events, save_metadata, record, (hash_inputs, digest_cache)
        )
    finally:
        for name in made:
            discard(name, saver.temporaries)


def _execute(
    request: ImageRequest,
    client: Client,
    saver: Saver,
    events: Events,
    save_metadata: bool,
    record: Record,
    hashing: tuple[bool, DigestCache | None],
) -> ImageResult:
    """The guarded steps: whatever stops them after the body starts going out ends as
    :func:`delivery.verdict` says (URLs kept, "may have been billed" told), recorded."""
    delivery = Delivery()
    records = Records(delivery, record, events=events)
    records.begin(request)  # a record that cannot begin stops here: nothing was sent
    started = time.monotonic()
    # The inputs' SHA-256 on a thread of their own, beside the upload (not in its thread).
    hash_inputs, cache = hashing
    digests = Digests(request.images, cache).start() if save_metadata or hash_inputs else None
    try:
        answer = client.send(request, saver.new_blob, on_sent=records.sent)
        if digests is not None:
            answer.input_sha256 = digests.result()  # done long before the model answers
        records.answered(answer)
        for words in answer.text:
            events.model_text(storable(words))
        received = time.monotonic()
        saved = _save_all(answer, client, saver, events, delivery)
        result = _result(request, answer, saved, started, received)
    except BaseException as exc:
        error = verdict(exc, delivery)
        if error is None:  # KeyboardInterrupt, SystemExit: they keep their meaning
            records.interrupted()
            raise
        records.failed(error)
        error.warnings = [*error.warnings, *records.warnings]
        if error is exc:
            raise
        raise error from exc
    # Every image is saved: what follows can only add warnings, never lose the result.
    for step in (check_receipt, metadata_files):
        try:
            step(request, answer, saved, result, events, saver, save_metadata)
        except Exception as exc:  # noqa: BLE001 - the images are saved; say what failed
            message = T(
                "{step} failed: {problem}",
                step=T(step.__doc__) if step.__doc__ else step.__name__,
                problem=describe(exc),
            )
            records.warnings.append(message)
            events.warn(message)
    records.saved(result)
    result.warnings = list(records.warnings)
    return result


def _result(
    request: ImageRequest,
    answer: Answer[Blob],
    saved: list[SavedImage],
    started: float,
    received: float,
) -> ImageResult:
    elapsed = round(time.monotonic() - started, 3)
    timings = dict(answer.timings)
    timings["download_s"] = round(time.monotonic() - received, 3)
    timings["total_s"] = elapsed
    return ImageResult(
        files=[s.path for s in saved if s.path is not None],
        urls=[item.url for item in answer.items if item.url],
        model=request.model,
        prompt=request.prompt,
        aspect_ratio=request.ratio,
        size=request.size,
        response_format=request.response_format,
        elapsed_s=elapsed,
        kind=request.kind,
        # text a relay cut (half an emoji) is kept escaped: files, terminals and SQLite
        # refuse a lone surrogate
        revised_prompt=storable(
            next((i.revised_prompt for i in answer.items if i.revised_prompt), None)
        ),
        usage=storable(answer.usage),
        text=[storable(words) for words in answer.text],
        turn=list(answer.turn),
        sent_files=[str(i.path) if i.prepared and i.path else None for i in request.images],
        request_id=answer.request_id,
        created=storable(answer.created),
        attempts=answer.attempts,
        timings=timings,
        inputs=[
            input_record(img, answer.input_sha256[i] if i < len(answer.input_sha256) else None)
            for i, img in enumerate(request.images)
        ],
    )


def _save_all(
    answer: Answer[Blob],
    client: Client,
    saver: Saver,
    events: Events,
    delivery: Delivery | None = None,
) -> list[SavedImage]:
    """Save every item; an item that fails (in any way) does not stop the others from
    being saved, and received bytes that cannot be saved go to the rescue folder."""
    saved: list[SavedImage] = []
    failures: list[SaveError] = []
    pending = [item.sink for item in answer.items if item.sink is not None]
    try:
        for item in answer.items:
            try:
                image = _save_one(item, client, saver, pending)
            except SaveError as exc:
                failures.append(exc)
                if delivery is not None:
                    delivery.files += exc.file_list
                    delivery.saved_urls += exc.rescued
                continue
            saved.append(image)
            _tell_saved(image, saver, events, delivery)
    finally:
        for blob in pending:
            blob.discard()
    if failures:
        raise _save_failure(failures, saved)
    return saved


def _save_one(
    item: AnswerItem[Blob], client: Client, saver: Saver, pending: list[Blob]
) -> SavedImage:
    """One item saved: its received bytes, or its URL downloaded (a SaveError if not)."""
    if item.sink is None:
        assert item.url is not None
        return fetch_again(client, saver, item.url)
    pending.remove(item.sink)
    try:
        with interrupts.deferred():  # received and paid for: a Ctrl-C waits for the move
            return saver.finish(item.sink, item.url)
    except (SaveError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - kept, never thrown away
        raise saver.keep(item.sink, item.url, describe(exc)) from exc


def _tell_saved(image: SavedImage, saver: Saver, events: Events, delivery: Delivery | None) -> None:
    if delivery is not None:
        delivery.kept(image)
    if image.path is not None:
        events.saved(str(image.path))
    for note in saver.notes(image):
        events.warn(note)


def _save_failure(failures: list[SaveError], saved: list[SavedImage]) -> SaveError:
    """The one error for the items that could not be saved (what was saved listed)."""
    first = failures[0]
    message = (
        first.message
        if len(failures) == 1
        else T(
            "{count} images could not be saved. {messages}",
            count=len(failures),
            messages=joined((f.message for f in failures), " "),
        )
    )
    return SaveError(
        message,
        urls=[u for f in failures for u in f.url_list],
        files=[str(s.path) for s in saved if s.path] + [p for f in failures for p in f.file_list],
        hint=first.hint,
        rescued=[u for f in failures for u in f.rescued],
    )


def run(
    prepared: Prepared,
    *,
    events: Events | None = None,
    stream: BinaryIO | None = None,
    temporaries: Temporaries | None = None,
    record: Record | None = None,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    stop: Callable[[], bool] | None = None,
) -> ImageResult:
    """Send a prepared request and save its results into the output folder (or
    ``stream``): the client and saver made, used and closed. ``clock`` and ``sleep`` are
    the billing check's (the run's own: tests pass fakes); ``stop``: :func:`make_client`'s."""
    events = events or Events()
    for message in prepared.settings.warnings:
        events.warn(message)
    request, settings = prepared.request, prepared.settings
    saver, folder = _saver(prepared, stream, temporaries)
    client = make_client(settings, prepared.options, events=events, stop=stop)
    saver.prepare()  # after the key check: a missing key creates no folder

    book = ledger.open_ledger(settings.history)
    kept = _ledger_record(book, prepared, folder, saver.exact)
    tracker = Tracker()
    begun = time.time()  # before the upload: the billing check's window starts here
    try:
        result = execute(
            request,
            client,
            saver,
            events=events,
            save_metadata=prepared.options.save_metadata,
            record=Records(tracker, kept, record),
            hash_inputs=kept is not None,
            digest_cache=book,
        )
        result.ledger_id = kept.entry_id if kept is not None else None
        result.parent = request.parent
        return result
    except KeyboardInterrupt:
        saver.temporaries.remove_all()
        raise _interruption(tracker, kept) from None
    except DmxError as error:
        entry_id = kept.entry_id if kept is not None else None
        if isinstance(error, SaveError) and kept is not None:
            recover_hint(error, book, entry_id)
        sent_at = begun if tracker.was_sent else None
        _billing_check(prepared, error, sent_at, book, entry_id, events, (clock, sleep))
        raise
    finally:
        client.close()
        if book is not None:
            book.close()


def _saver(
    prepared: Prepared, stream: BinaryIO | None, temporaries: Temporaries | None
) -> tuple[Saver, Path | None]:
    """The saver of a request's results and the folder they go to (None: ``stream``)."""
    target = prepared.target if stream is None else None
    folder_path = (
        target.parent if target is not None else Path(prepared.settings.output).expanduser()
    )
    folder = None if stream is not None else folder_path
    saver = Saver(
        folder=folder,
        prefix=prepared.request.prefix,
        stream=stream,
        temporaries=temporaries or Temporaries(),
        naming=prepared.naming,
        exact=target,
    )
    return saver, folder


def _interruption(tracker: Tracker, kept: LedgerRecord | None) -> DmxError:
    """Ctrl-C during a request: the error that says what became of it."""
    error = tracker.interruption()
    if kept is not None and kept.entry_id is not None:
        error.details["ledger_id"] = kept.entry_id
    return error


def _ledger_record(
    book: Any, prepared: Prepared, folder: Path | None, target: Path | None
) -> LedgerRecord | None:
    """The ledger's record of the request (none without a ledger); ``folder`` is None
    for a stream. The name template it keeps for -o NAME.png is that name, literally."""
    if book is None:
        return None
    name = literal_template(target.stem) if target is not None else prepared.options.name
    output = str(folder.resolve()) if folder is not None else None
    return LedgerRecord(book, output=output, name=name)


def _billing_check(
    prepared: Prepared,
    error: DmxError,
    sent_at: float | None,
    book: Any,
    entry_id: int | None,
    events: Events,
    clocks: tuple[Clock, Sleep],
) -> None:
    """A failure that may have been billed: the account's log says (when there is one)."""
    settings = prepared.settings
    if not (error.may_be_billed and settings.has_account):
        return

    try:
        after_failure(
            settings,
            error,
            model=prepared.request.model,
            sent_at=sent_at,
            book=book,
            entry_id=entry_id,
            events=events,
            clock=clocks[0],
            sleep=clocks[1],
        )
    except Exception as exc:  # noqa: BLE001 - the check is extra; the error stands
        events.warn(T("The billing check failed: {describe}", describe=describe(exc)))
