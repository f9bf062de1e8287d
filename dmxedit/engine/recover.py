"""``dmxedit recover`` as a core function: download every paid result the ledger knows
was answered but never saved, and list the requests sent without an answer whose billing
is not settled (SPEC 7). The CLI only renders a :class:`Recovery`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmxedit.api.client import Client
from dmxedit.core.errors import ExitCode, InputError, SaveError
from dmxedit.core.i18n import T
from dmxedit.core.temporaries import Temporaries
from dmxedit.engine.billing import check_entries
from dmxedit.engine.fetch import fetch_again
from dmxedit.media.receipt import expect, receipt
from dmxedit.store.ledger import Entry, Ledger, file_items
from dmxedit.store.names import Naming
from dmxedit.store.results import SavedImage, Saver

if TYPE_CHECKING:
    from dmxedit.core.events import Events
    from dmxedit.core.settings import Settings
    from dmxedit.engine.billing import Clock, Sleep, Verdict


@dataclass
class Recovered:
    """One entry's results, fetched again: the files saved, the URLs that no longer
    work, the b64 results whose kept file is gone."""

    id: int
    files: list[str] = field(default_factory=list)
    dead_urls: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "files": self.files, "dead_urls": self.dead_urls, "lost": self.lost}


@dataclass
class Recovery:
    """What ``recover`` did: the entries fetched again, and the entries sent without an
    answer (with the billing check's verdicts when ``checked``)."""

    recovered: list[Recovered]
    unanswered: list[Entry]
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    checked: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """6 when a paid result could not be saved (a dead URL, a lost b64 file)."""
        lost = any(r.dead_urls or r.lost for r in self.recovered)
        return int(ExitCode.NOT_SAVED) if lost else 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "recovered": [r.to_dict() for r in self.recovered],
            "unanswered": [e.id for e in self.unanswered],
        }
        if self.checked:
            out["checked"] = [
                {
                    "id": e.id,
                    **(
                        self.verdicts[e.id].to_dict()
                        if e.id in self.verdicts
                        else {
                            "billed": None if e.billed is None else bool(e.billed),
                            "how": "recorded",
                        }
                    ),
                }
                for e in self.unanswered
            ]
        return out


def unanswered_note(entry: Entry, verdict: Verdict | None) -> str:
    """What is known of a request sent without an answer: was it billed?"""
    if verdict is not None:
        return verdict.note
    if entry.billed is not None:
        if entry.billed:
            return T("checked before: DMXAPI billed it.")
        return T("checked before: DMXAPI did not bill it.")
    return T("it may have been billed, and there is nothing to download.")


def recover(
    settings: Settings,
    book: Ledger | None,
    *,
    output: str | None = None,
    check: bool = False,
    settled: bool = False,
    events: Events | None = None,
    temporaries: Temporaries | None = None,
    warn: Callable[[str], None] = lambda text: None,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
) -> Recovery:
    """Fetch every answered, unsaved result again into its folder (or ``output``) and
    mark it saved; ``check`` asks the billing log about the requests sent without an
    answer. ``settled`` lists those a billing verdict settled too (``--all``). The
    billing check reads the time and waits with ``clock`` and ``sleep``."""

    entries = book.unsaved() if book is not None else []
    unanswered = book.unanswered(settled=settled) if book is not None else []
    recovery = Recovery(recovered=[], unanswered=unanswered, checked=check)
    temporaries = temporaries or Temporaries()
    client = Client(
        api_key="",
        connect_timeout=settings.connect_timeout,
        download_timeout=settings.download_timeout,
        events=events,
    )
    try:
        for entry in entries:
            assert book is not None
            recovery.recovered.append(
                _recover_entry(entry, book, client, settings, output, temporaries, warn)
            )
    finally:
        client.close()
    if check and book is not None and unanswered:
        checked = check_entries(settings, book, unanswered, clock=clock, sleep=sleep)
        recovery.verdicts = {e.id: v for e, v in checked}
    elif check:
        settings.require_account()  # says how to set them (exit 3)
    return recovery


def _recover_entry(
    entry: Entry,
    book: Ledger,
    client: Any,
    settings: Settings,
    output: str | None,
    temporaries: Temporaries,
    warn: Callable[[str], None],
) -> Recovered:
    folder = Path(output or entry.output or settings.output).expanduser()
    prefix = "edited" if entry.kind == "edit" else "generated"
    saver = Saver(folder=folder, prefix=prefix, temporaries=temporaries, naming=naming_of(entry))
    saver.prepare()
    done = Recovered(entry.id)
    got, rescued = _download(entry, client, saver, done)
    for kept in entry.data_paths or []:
        if Path(kept).is_file():
            got.append(_adopt(saver, Path(kept)))
        else:
            done.lost.append(kept)
    done.files = [str(image.path) for image in got if image.path is not None] + rescued
    items = file_items(done.files)
    mismatch = _receipt(entry, got, items, warn)
    _record(entry, book, done, items, mismatch, warn)
    return done


def _download(
    entry: Entry, client: Any, saver: Saver, done: Recovered
) -> tuple[list[SavedImage], list[str]]:
    """The entry's unsaved URLs downloaded: the saved images and the files rescued (a
    URL that worked but could not be saved); a dead URL goes to ``done.dead_urls``."""
    got: list[SavedImage] = []
    rescued: list[str] = []
    for url in entry.unsaved_urls or []:
        try:
            got.append(fetch_again(client, saver, url))
        except SaveError as exc:
            if exc.rescued:  # the URL worked: kept in the rescue folder (a full disk)
                rescued += exc.file_list
            else:
                done.dead_urls.append(url)
    return got, rescued


def _record(
    entry: Entry,
    book: Ledger,
    done: Recovered,
    items: list[dict[str, Any]],
    mismatch: list[str],
    warn: Callable[[str], None],
) -> None:
    """The ledger entry updated with what the recovery saved (a failure only warns)."""
    ok = not done.dead_urls and not done.lost
    try:
        book.update(
            entry.id,
            status="saved" if ok else "failed",
            files=[*(entry.files or []), *items] or None,
            mismatch=[*(entry.mismatch or []), *mismatch] or None,
            unsaved_urls=done.dead_urls or None,
            data_paths=None,
            error=None if ok else entry.error,
            exit_code=0 if ok else ExitCode.NOT_SAVED,
        )
    except Exception as exc:  # noqa: BLE001 - the files are saved; the ledger lags behind
        warn(
            T(
                "entry {id}: the ledger could not record the saved files ({exc}).",
                id=entry.id,
                exc=exc,
            )
        )


def naming_of(entry: Entry) -> Any:
    """The names the entry's own run would have given: its --name template, else the
    default names with its variant (``--variants``) or its batch job's id; None (the
    default names of a single request) when it had neither."""

    if not entry.name and not entry.job_id:
        return None
    prefix = "edited" if entry.kind == "edit" else "generated"
    variant = re.fullmatch(r"[0-9a-f]{16}-v(\d+)", entry.job_id or "")  # --variants ids
    inputs = [str(item.get("path")) for item in entry.inputs or [] if isinstance(item, dict)]
    options = entry.options or {}
    number = int(variant.group(1)) if variant else 1
    naming = Naming.make(
        prefix,
        entry.name or None,
        inputs=inputs,
        ratio=options.get("aspect_ratio"),
        size=options.get("size"),
        model=entry.model or "",
        job_id=entry.job_id,
        variant=number,
        variants=max(number, 2) if variant else 1,  # the default names carry v<N>
        id_in_default=True,
    )
    try:
        naming.check()
    except InputError:
        return None  # a template this entry cannot fill in any more: the default names
    return naming


def _receipt(
    entry: Entry, saved: list[SavedImage], items: list[dict[str, Any]], warn: Callable[[str], None]
) -> list[str]:
    """SPEC 9's receipt for recovered images: what was delivered against what was asked,
    a warning for each difference; the ledger's file items get what was delivered."""

    options = entry.options or {}
    expected = expect(
        entry.model or "",
        options.get("aspect_ratio"),
        options.get("size"),
        options.get("params") or {},
        image_format=options.get("image_format"),
    )
    delivered, found = receipt(
        expected,
        saved,
        lambda text: warn(T("entry {id}: {text}", id=entry.id, text=text)),
    )
    for item, got in zip(items, delivered, strict=False):
        item["delivered"] = got
    return found


def _adopt(saver: Saver, kept: Path) -> SavedImage:
    """A b64 result left in a temporary file by an interrupted run, saved properly."""
    blob = saver.new_blob()
    with open(kept, "rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            blob.write(piece)
    saved = saver.finish(blob)
    kept.unlink()
    return saved


def recover_hint(error: SaveError, book: Any, entry_id: int | None) -> None:
    """A paid result the ledger kept for `dmxedit recover` (a URL, or b64 data set
    aside): the error's hint names that fix first, before "open the URL yourself"."""
    entry = book.get(entry_id) if entry_id is not None else None
    if entry is None or not (entry.unsaved_urls or entry.data_paths):
        return
    fix = T(
        "Run `dmxedit recover` to download it again (ledger entry {id}; "
        "-o DIR saves it elsewhere).",
        id=entry.id,
    )
    error.hint = T("{fix} {hint}", fix=fix, hint=error.hint) if error.hint else fix
    error.details.setdefault("ledger_id", entry.id)
