"""The durable records of one request (SPEC 7): the :class:`Record` the pipeline tells
as the request goes, the :class:`Tracker` of what is known so far, and the
:class:`LedgerRecord` that keeps the request's ledger entry up to date."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmxedit.api.request import ImageRequest
from dmxedit.core.errors import ConfigError, DmxError, Interrupted
from dmxedit.core.events import Events
from dmxedit.core.i18n import T
from dmxedit.core.text import storable
from dmxedit.engine.result import ImageResult
from dmxedit.media.formats import printable
from dmxedit.media.inputs import InputImage
from dmxedit.media.prepare import input_record
from dmxedit.store.ledger import Ledger, file_items
from dmxedit.store.signatures import SentInputs, Signatures

if TYPE_CHECKING:
    from dmxedit.api.client import Answer
    from dmxedit.store.results import Blob


class Record:
    """The durable record of one request; each method is called as that happens and
    must have recorded it when it returns. These are no-ops: the batch results file
    and (later) the ledger override them."""

    def begin(self, request: ImageRequest) -> None:
        """Before anything is sent."""

    def sent(self) -> None:
        """The whole body is about to go out: from now on it may be billed."""

    def answered(self, answer: Answer[Blob]) -> None:
        """The answer arrived (URLs, or b64 data being kept); before any download."""

    def saved(self, result: ImageResult) -> None:
        """Every image is saved."""

    def failed(self, error: DmxError) -> None:
        """The request ended with this error."""

    def interrupted(self) -> None:
        """Ctrl-C (or SIGTERM, SIGHUP) stopped the request."""

    def trouble(self, step: str, exc: BaseException) -> str:
        """The warning said when this record could not record ``step``."""
        return T(
            "{record} could not record {step!r}: {kind}: {exc}",
            record=type(self).__name__,
            step=step,
            kind=type(exc).__name__,
            exc=exc,
        )


class Records(Record):
    """Several records of one request, told in order (a results file and the ledger).

    A record that fails after ``begin`` never stops the request (the ledger never stands
    between a paid answer and the file): its failure becomes a warning, said at once
    through ``events`` and kept in :attr:`warnings` for the result or the error. A
    record that cannot ``begin`` stops the request before anything is sent."""

    def __init__(self, *records: Record | None, events: Events | None = None) -> None:
        self.records: list[Record] = []
        for r in records:
            if isinstance(r, Records):
                self.records += r.records  # one flat list, one list of warnings
            elif r is not None:
                self.records.append(r)
        self.events = events
        self.warnings: list[str] = []

    def _tell(self, step: str, call: Callable[[Record], None]) -> None:
        for r in self.records:
            try:
                call(r)
            except Exception as exc:  # noqa: BLE001 - any failure of a record is a warning
                message = r.trouble(step, exc)
                self.warnings.append(message)
                if self.events is not None:
                    try:
                        self.events.warn(message)
                    except Exception:  # noqa: BLE001, S110 - stderr gone: kept in warnings
                        pass

    def begin(self, request: ImageRequest) -> None:
        for r in self.records:
            r.begin(request)

    def sent(self) -> None:
        self._tell("sent", lambda r: r.sent())

    def answered(self, answer: Answer[Blob]) -> None:
        self._tell("answered", lambda r: r.answered(answer))

    def saved(self, result: ImageResult) -> None:
        self._tell("saved", lambda r: r.saved(result))

    def failed(self, error: DmxError) -> None:
        self._tell("failed", lambda r: r.failed(error))

    def interrupted(self) -> None:
        self._tell("interrupted", lambda r: r.interrupted())


class Tracker(Record):
    """What is known of a request so far: whether it went out, its result URLs."""

    def __init__(self) -> None:
        self.was_sent = False
        self.urls: list[str] = []

    def sent(self) -> None:
        self.was_sent = True

    def answered(self, answer: Answer[Blob]) -> None:
        self.urls = [item.url for item in answer.items if item.url]

    def interruption(self) -> Interrupted:
        """The error an interrupt of this request ends with."""
        if not self.was_sent:
            message = T(
                "Interrupted before the request was completely sent; nothing was billed.",
            )
        elif self.urls:
            message = T(
                "Interrupted while the result was being saved. The image was "
                "generated (and billed); its URL is printed so it is not lost.",
            )
        else:
            message = T(
                "Interrupted after the request was sent: it may have been billed.",
            )
        hint = None
        if self.was_sent:
            hint = T(
                "`dmxedit recover` fetches results that arrived but were not saved.",
            )
        return Interrupted(
            message,
            hint=hint,
            urls=list(self.urls),
            may_be_billed=self.was_sent,
        )


def _input_item(img: InputImage) -> dict[str, Any]:
    """An input as the ledger keeps it: the user's file (resolved), its size and type,
    and for a prepared input (SPEC 9) what was sent and the changes made."""
    source = img.prepared.source_path if img.prepared is not None else img.path
    item: dict[str, Any] = {
        "path": printable(str(source.resolve())) if source else img.display,
        "bytes": img.size,
        "content_type": img.content_type,
    }
    if img.prepared is not None:
        record = input_record(img)
        item.update({k: v for k, v in record.items() if k != "path"})
    return item


class LedgerRecord(Tracker):
    """A :class:`Record` that keeps one request's entry up to date."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        output: str | None,
        name: str | None = None,
        results_file: str | None = None,
        job_id: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.output = output
        self.name = name
        self.results_file = results_file
        self.job_id = job_id
        self.entry_id: int | None = None
        super().__init__()  # was_sent and urls, as the pipeline's Tracker keeps them

    def trouble(self, step: str, exc: BaseException) -> str:
        entry = (
            T("entry {entry_id}", entry_id=self.entry_id)
            if self.entry_id is not None
            else T("its entry")
        )
        what = {
            "sent": T("that the request went out (it may be billed)"),
            "answered": T("the answer"),
            "saved": T("the saved files"),
            "failed": T("how the request ended"),
            "interrupted": T("the interruption"),
        }.get(step, step)
        if step in ("answered", "failed", "interrupted") and self.urls:
            return T(
                "The ledger could not record {what} in {entry} ({kind}: {exc}); the result "
                "URL(s): {urls}.",
                what=what,
                entry=entry,
                kind=type(exc).__name__,
                exc=exc,
                urls=" ".join(self.urls),
            )
        return T(
            "The ledger could not record {what} in {entry} ({kind}: {exc}).",
            what=what,
            entry=entry,
            kind=type(exc).__name__,
            exc=exc,
        )

    def begin(self, request: ImageRequest) -> None:
        try:
            self._begin(request)
        except DmxError:
            raise
        except Exception as exc:
            raise ConfigError(
                T(
                    "The ledger {path} cannot be written ({name}: {exc}); nothing was sent.",
                    path=self.ledger.path,
                    name=type(exc).__name__,
                    exc=exc,
                ),
                hint=T(
                    "Try again, or turn the ledger off with `dmxedit config set "
                    "history off` (DMXEDIT_NO_HISTORY=1).",
                ),
            ) from exc

    def _begin(self, request: ImageRequest) -> None:
        self.entry_id = self.ledger.create(
            kind=request.kind,
            status="created",
            model=request.model,
            prompt=request.prompt,
            options={
                **{k: v for k, v in request.options().items() if k not in ("prompt", "model")},
                "base_url": request.base_url,  # a thread is never sent to another site
            },
            parent=request.parent,
            inputs=[_input_item(img) for img in request.images],
            output=self.output,
            name=self.name,
            results_file=self.results_file,
            job_id=self.job_id,
        )

    def _update(self, **fields: Any) -> None:
        if self.entry_id is not None:
            self.ledger.update(self.entry_id, **fields)

    def sent(self) -> None:
        super().sent()
        self._update(status="sent", may_be_billed=True)

    def answered(self, answer: Answer[Blob]) -> None:
        super().answered(answer)
        paths = [item.sink.path for item in answer.items if item.sink is not None]
        fields: dict[str, Any] = {
            "status": "answered",
            "urls": self.urls or None,
            "unsaved_urls": self.urls or None,
            "data_paths": paths or None,
            "request_id": answer.request_id,
            # a relay that cut a string (half an emoji) or sent NUL: kept escaped
            "usage": storable(answer.usage),
            "text": storable(answer.text) or None,
            "revised_prompt": storable(
                next((i.revised_prompt for i in answer.items if i.revised_prompt), None)
            ),
        }
        if answer.input_sha256 and self.entry_id is not None:
            entry = self.ledger.get(self.entry_id)
            inputs = list(entry.inputs or []) if entry else []
            for item, digest in zip(inputs, answer.input_sha256, strict=False):
                if not item.get("changes"):  # a prepared input has its original's hash
                    item["sha256"] = digest
                item["sent_sha256"] = digest
            fields["inputs"] = inputs
        self._update(**fields)

    def saved(self, result: ImageResult) -> None:
        files = file_items(result.files)
        for item, got in zip(files, result.delivered, strict=False):
            item["delivered"] = got
        turn = self._turn(result)
        self._update(
            status="saved",
            turn=turn,
            files=files,
            mismatch=result.mismatch or None,
            unsaved_urls=None,
            error=None,
            exit_code=0,
        )

    def _turn(self, result: ImageResult) -> list[dict[str, Any]] | None:
        """The model's turn as the ledger keeps it (SPEC 13): each signature in its own
        file (they can be a megabyte), named by its SHA-256."""
        if not result.turn:
            return None
        sent = SentInputs(self.ledger.path.parent)
        for path in result.sent_files:  # a converted input: the bytes the model saw
            if path is not None:
                sent.put_file(Path(path))
        signatures = Signatures(self.ledger.path.parent)
        kept = []
        for part in result.turn:
            signature = part.get("signature")
            item = {k: v for k, v in part.items() if k != "signature"}
            item["signature"] = signatures.put(signature) if signature is not None else None
            if "text" in item:
                item["text"] = storable(item["text"])
            kept.append(item)
        return kept

    def failed(self, error: DmxError) -> None:
        files = file_items(error.file_list)
        rescued = set(getattr(error, "rescued", ()))  # kept in the rescue folder: saved
        unsaved = [u for u in error.url_list if u not in rescued] if self.urls else []
        fields: dict[str, Any] = {}
        if error.request_id:  # the failing answer's id: the billing check looks it up
            fields["request_id"] = error.request_id
        if files and not unsaved:
            fields["data_paths"] = None  # every result is in a file (maybe the rescue folder)
        self._update(
            status="failed",
            error=error.message,
            exit_code=int(error.exit_code),
            # the pipeline's verdict (SPEC 7): a 4xx or 503 answer was not billed
            may_be_billed=bool(error.may_be_billed),
            files=files or None,
            unsaved_urls=unsaved or None,
            **fields,
        )

    def interrupted(self) -> None:
        self._update(
            status="interrupted",
            error="interrupted",
            exit_code=130,
            may_be_billed=self.was_sent,
            unsaved_urls=self.urls or None,
        )
