"""``dmxedit recover``: the paid results the ledger says arrived but were never saved,
downloaded again (or adopted from the temporary file an interrupted run left) and saved
under the names their own run would have given; and what is known of the requests sent
without an answer."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmxedit.core.errors import ExitCode, InputError, SaveError

if TYPE_CHECKING:
    from dmxedit.api.client import Client
    from dmxedit.core.settings import Settings
    from dmxedit.core.temporaries import Temporaries
    from dmxedit.engine.billing import Verdict
    from dmxedit.store.ledger import Entry, Ledger
    from dmxedit.store.names import Naming
    from dmxedit.store.results import Saver


@dataclass
class Recovered:
    """What became of one entry's results: the files saved, the URLs that no longer
    work, the kept b64 results that are gone."""

    id: int
    files: list[Path] = field(default_factory=list)
    dead_urls: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.dead_urls and not self.lost

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "files": [str(p) for p in self.files],
            "dead_urls": self.dead_urls,
            "lost": self.lost,
        }


def recover_entry(
    book: Ledger,
    entry: Entry,
    client: Client,
    *,
    settings: Settings,
    output: str | None,
    temporaries: Temporaries,
    warn: Callable[[str], None],
) -> Recovered:
    """Save one entry's unsaved results into ``output`` (else its own folder, else the
    configured one) and record the outcome in the ledger. ``warn`` hears the receipt's
    differences."""
    from dmxedit.store.ledger import file_items
    from dmxedit.store.results import Saver

    folder = Path(output or entry.output or settings.output).expanduser()
    prefix = "edited" if entry.kind == "edit" else "generated"
    saver = Saver(
        folder=folder, prefix=prefix, temporaries=temporaries, naming=_naming(entry, prefix)
    )
    saver.prepare()
    done = Recovered(entry.id)
    got = _collect(entry, saver, client, done)
    done.files = [_path(image) for image in got]
    items = file_items(done.files)
    mismatch = _receipt(entry, got, items, warn)
    _record(book, entry, done, items, mismatch)
    return done


def _collect(entry: Entry, saver: Saver, client: Client, done: Recovered) -> list[Any]:
    """The entry's results saved: its URLs downloaded, its kept b64 results adopted;
    ``done`` gets the URLs that no longer work and the kept files that are gone."""
    got: list[Any] = []
    for url in entry.unsaved_urls or []:
        try:
            got.append(saver.finish(client.download(url, saver.new_blob), url))
        except SaveError:
            done.dead_urls.append(url)
    for kept in entry.data_paths or []:
        if Path(kept).is_file():
            got.append(_adopt(saver, Path(kept)))
        else:
            done.lost.append(kept)
    return got


def _record(
    book: Ledger, entry: Entry, done: Recovered, items: list[dict[str, Any]], mismatch: list[str]
) -> None:
    """The ledger entry after recovering: saved, or failed with what is left."""
    book.update(
        entry.id,
        status="saved" if done.complete else "failed",
        files=[*(entry.files or []), *items] or None,
        mismatch=[*(entry.mismatch or []), *mismatch] or None,
        unsaved_urls=done.dead_urls or None,
        data_paths=None,
        error=None if done.complete else entry.error,
        exit_code=0 if done.complete else ExitCode.NOT_SAVED,
    )


def unanswered_note(entry: Entry, verdict: Verdict | None) -> str:
    """What is known of a request sent without an answer: was it billed?"""
    if verdict is not None:
        return verdict.note
    if entry.billed is not None:
        return "checked before: " + (
            "DMXAPI billed it." if entry.billed else "DMXAPI did not bill it."
        )
    return "it may have been billed, and there is nothing to download."


def checked(entry: Entry, verdict: Verdict | None) -> dict[str, Any]:
    """An unanswered entry's billing verdict for ``--json``: this run's, else the one
    recorded before."""
    if verdict is not None:
        return {"id": entry.id, **verdict.to_dict()}
    billed = None if entry.billed is None else bool(entry.billed)
    return {"id": entry.id, "billed": billed, "how": "recorded"}


def _naming(entry: Entry, prefix: str) -> Naming | None:
    """The names the entry's own run would have given (its --name template, its variant):
    None (the default names) when it had no template."""
    from dmxedit.store.names import Naming

    if not entry.name:
        return None
    variant = re.fullmatch(r"[0-9a-f]{16}-v(\d+)", entry.job_id or "")  # --variants ids
    inputs = [str(item.get("path")) for item in entry.inputs or [] if isinstance(item, dict)]
    options = entry.options or {}
    naming = Naming.make(
        prefix,
        entry.name,
        inputs=inputs,
        ratio=options.get("aspect_ratio"),
        size=options.get("size"),
        model=entry.model or "",
        job_id=entry.job_id,
        variant=int(variant.group(1)) if variant else 1,
    )
    try:
        naming.check()
    except InputError:
        return None  # a template this entry cannot fill in any more: the default names
    return naming


def _receipt(
    entry: Entry, saved: list[Any], items: list[dict[str, Any]], warn: Callable[[str], None]
) -> list[str]:
    """SPEC 9's receipt for recovered images: what was delivered against what was asked,
    a warning for each difference; the ledger's file items get what was delivered."""
    from dmxedit.media.receipt import receipt

    options = entry.options or {}
    delivered, found = receipt(
        entry.model or "",
        options.get("aspect_ratio"),
        options.get("size"),
        options.get("params") or {},
        saved,
        lambda text: warn(f"entry {entry.id}: {text}"),
    )
    for item, got in zip(items, delivered, strict=False):
        item["delivered"] = got
    return found


def _path(saved: Any) -> Path:
    assert saved.path is not None
    return Path(saved.path)


def _adopt(saver: Saver, kept: Path) -> Any:
    """A b64 result left in a temporary file by an interrupted run, saved properly."""
    blob = saver.new_blob()
    with open(kept, "rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            blob.write(piece)
    saved = saver.finish(blob)
    kept.unlink()
    return saved


__all__ = ["Recovered", "checked", "recover_entry", "unanswered_note"]
