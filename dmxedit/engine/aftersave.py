"""What follows a request's saving (SPEC 9): the receipt of each saved image against
what the model's table promises, and the metadata sidecars (``--save-metadata``). Each
step only adds warnings: the images are saved already."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from dmxedit._version import __version__
from dmxedit.api.answers import Answer
from dmxedit.api.request import ImageRequest
from dmxedit.core.events import Events
from dmxedit.core.i18n import N_, T
from dmxedit.engine.result import ImageResult
from dmxedit.media.receipt import mismatches, receipt
from dmxedit.store.results import Blob, SavedImage, Saver, write_metadata


def metadata_files(
    request: ImageRequest,
    answer: Answer[Blob],
    saved: list[SavedImage],
    result: ImageResult,
    events: Events,
    saver: Saver,
    save_metadata: bool,
) -> None:
    """Writing the metadata sidecars"""
    if not save_metadata:
        return
    for image, item in zip(saved, answer.items, strict=False):
        if image.path is None:
            continue
        meta = metadata(request, answer, result, image, item.url)
        written = write_metadata(image.path, meta, saver.temporaries)
        if written is None:
            events.warn(T("{path}.json already exists; metadata not written.", path=image.path))
        else:
            result.metadata_files.append(written)


def check_receipt(
    request: ImageRequest,
    answer: Answer[Blob],
    saved: list[SavedImage],
    result: ImageResult,
    events: Events,
    saver: Saver,
    save_metadata: bool,
) -> None:
    """Checking what was delivered against what was asked"""
    delivered, found = receipt(request.expected(), saved, events.warn)
    result.delivered.extend(delivered)
    result.mismatch.extend(found)


#: The steps' docstrings, which name them in a warning: marked for the catalog.
STEP_WORDS = (
    N_("Writing the metadata sidecars"),
    N_("Checking what was delivered against what was asked"),
)


def mismatch_of(request: ImageRequest, image: SavedImage) -> list[str]:
    return mismatches(request.expected(), image.delivered)


def metadata(
    request: ImageRequest,
    answer: Answer[Blob],
    result: ImageResult,
    image: SavedImage,
    url: str | None,
) -> dict[str, Any]:
    inputs = [{"name": item["path"], **item} for item in result.inputs]
    return {
        "tool": f"dmxedit {__version__}",
        "kind": request.kind,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "file": image.path.name if image.path else None,
        "content_type": image.content_type,
        "bytes": image.size,
        "delivered": image.delivered,
        "mismatch": mismatch_of(request, image),
        **request.options(),
        "inputs": inputs,
        "url": url,
        "revised_prompt": result.revised_prompt,
        "text": result.text or None,
        "usage": answer.usage,
        "request_id": answer.request_id,
        "created": answer.created,
        "attempts": answer.attempts,
        "timings": result.timings,
    }
