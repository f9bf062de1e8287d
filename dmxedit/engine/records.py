"""The durable records of one request (SPEC 7): the :class:`Record` the pipeline tells
as the request goes, the :class:`Tracker` of what is known so far, and the
:class:`LedgerRecord` that keeps the request's ledger entry up to date."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dmxedit.api.request import ImageRequest
from dmxedit.core.errors import DmxError, Interrupted
from dmxedit.engine.result import ImageResult
from dmxedit.media.formats import printable
from dmxedit.media.inputs import InputImage
from dmxedit.media.prepare import input_record
from dmxedit.store.ledger import Ledger, file_items

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


class Records(Record):
    """Several records of one request, told in order (a results file and the ledger)."""

    def __init__(self, *records: Record | None) -> None:
        self.records = [r for r in records if r is not None]

    def begin(self, request: ImageRequest) -> None:
        for r in self.records:
            r.begin(request)

    def sent(self) -> None:
        for r in self.records:
            r.sent()

    def answered(self, answer: Answer[Blob]) -> None:
        for r in self.records:
            r.answered(answer)

    def saved(self, result: ImageResult) -> None:
        for r in self.records:
            r.saved(result)

    def failed(self, error: DmxError) -> None:
        for r in self.records:
            r.failed(error)

    def interrupted(self) -> None:
        for r in self.records:
            r.interrupted()


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
            message = "Interrupted before the request was completely sent; nothing was billed."
        elif self.urls:
            message = (
                "Interrupted while the result was being saved. The image was generated (and "
                "billed); its URL is printed so it is not lost."
            )
        else:
            message = "Interrupted after the request was sent: it may have been billed."
        hint = None
        if self.was_sent:
            hint = "`dmxedit recover` fetches results that arrived but were not saved."
        return Interrupted(
            message,
            hint=hint,
            details={"urls": list(self.urls), "may_be_billed": self.was_sent},
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

    def begin(self, request: ImageRequest) -> None:
        self.entry_id = self.ledger.create(
            kind=request.kind,
            status="created",
            model=request.model,
            prompt=request.prompt,
            options={k: v for k, v in request.options().items() if k not in ("prompt", "model")},
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
            "usage": answer.usage,
            "revised_prompt": next(
                (i.revised_prompt for i in answer.items if i.revised_prompt), None
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
        self._update(
            status="saved",
            files=files,
            mismatch=result.mismatch or None,
            unsaved_urls=None,
            error=None,
            exit_code=0,
        )

    def failed(self, error: DmxError) -> None:
        files = file_items(error.details.get("files") or [])
        unsaved = list(error.details.get("urls") or []) if self.urls else []
        fields: dict[str, Any] = {}
        if error.request_id:  # the failing answer's id: the billing check looks it up
            fields["request_id"] = error.request_id
        self._update(
            status="failed",
            error=error.message,
            exit_code=int(error.exit_code),
            may_be_billed=bool(error.details.get("may_be_billed")) or self.was_sent,
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
