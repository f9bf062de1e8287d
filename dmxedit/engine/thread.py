"""A conversation's thread, read back from the ledger for ``--continue`` (SPEC 13).

Each ledger entry of a conversation is one turn pair: the user's prompt and images, and
the model's answer (its parts in order: text, and the image it made, with the
``thoughtSignature`` it came with). An entry names its ``parent``; the thread is the chain
from the first entry to the one continued. Every file it sends again is checked first: a
saved image or an input that is missing or changed (SHA-256), or a signature file that
changed, is exit 2 naming the file and the entry; a thread answered by another site is
never sent elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dmxedit.api.request import Part, Turn
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T
from dmxedit.core.modeltable import door_of
from dmxedit.media.images import load_image
from dmxedit.media.inputs import InputImage
from dmxedit.store.ledger import Entry, Ledger, sha256_of
from dmxedit.store.signatures import SentInputs, Signatures

MAX_TURNS = 1000  # a parent chain longer than this is a broken ledger, not a thread


@dataclass(frozen=True)
class Thread:
    """The entry continued and the turns before the new one (oldest first)."""

    parent: Entry
    entries: tuple[Entry, ...]
    turns: tuple[Turn, ...]

    @property
    def images(self) -> int:
        return sum(len(t.images) for t in self.turns)

    def defaults(self) -> dict[str, Any]:
        """The parent's model and options, as ImageOptions/settings names (SPEC 13: the
        new turn's default)."""
        options = self.parent.options or {}
        out: dict[str, Any] = {"model": self.parent.model}
        for name, key in (("ratio", "aspect_ratio"), ("size", "size"), ("search", "search")):
            if options.get(key) is not None:
                out[name] = options[key]
        return out


def chain(book: Ledger, entry: Entry) -> list[Entry]:
    """The entries of ``entry``'s thread, the first one first."""
    out = [entry]
    seen = {entry.id}
    while out[-1].parent is not None:
        parent = book.get(out[-1].parent)
        if parent is None or parent.id in seen or len(out) >= MAX_TURNS:
            raise InputError(
                T(
                    "Ledger entry {id} continues entry {parent}, which the ledger "
                    "no longer holds; the thread cannot be sent.",
                    id=out[-1].id,
                    parent=out[-1].parent,
                ),
            )
        seen.add(parent.id)
        out.append(parent)
    return out[::-1]


def _checked_file(path: str, sha256: str | None, what: str, entry: Entry) -> InputImage:
    """A file a thread sends again, checked against the SHA-256 the ledger recorded."""
    if not Path(path).is_file():
        raise InputError(
            T(
                "{what} {path} of ledger entry {id} is missing; the thread cannot be sent.",
                what=what,
                path=path,
                id=entry.id,
            ),
            hint=T(
                "Put it back, or start again from it: dmxedit edit @{id} -p ...",
                id=entry.id,
            ),
        )
    if sha256 is not None and sha256_of(Path(path)) != sha256:
        raise InputError(
            T(
                "{what} {path} of ledger entry {id} has changed since it was "
                "sent; the thread cannot be sent as it was.",
                what=what,
                path=path,
                id=entry.id,
            ),
            hint=T("Restore the file, or start a new thread with it as an input."),
        )
    return load_image(path)


def _user_turn(entry: Entry, sent: SentInputs) -> Turn:
    parts = [Part(text=entry.prompt or "")]
    for item in entry.inputs or []:
        path = item.get("path")
        if item.get("changes"):  # converted before it was sent: those bytes, kept
            parts.append(Part(image=_converted(item, sent, entry)))
            continue
        if path in (None, "-"):
            raise InputError(
                T(
                    "An input of ledger entry {id} was read from standard input; "
                    "the thread cannot send it again.",
                    id=entry.id,
                ),
            )
        image = _checked_file(str(path), item.get("sha256"), T("The input"), entry)
        parts.append(Part(image=image))
    return Turn("user", tuple(parts))


def _converted(item: dict[str, Any], sent: SentInputs, entry: Entry) -> InputImage:
    """An input dmxedit converted before sending: the copy of what was sent."""
    sha = item.get("sent_sha256")
    kept = sent.path(sha) if isinstance(sha, str) and len(sha) == 64 else None
    if kept is None or not kept.is_file():
        raise InputError(
            T(
                "The input {path} of ledger entry {id} was converted before it "
                "was sent, and the copy of what was sent is gone; the thread "
                "cannot be sent as it was.",
                path=item.get("path"),
                id=entry.id,
            ),
            hint=T(
                "Start a new thread with the result as an input: dmxedit edit @{id} -p ...",
                id=entry.id,
            ),
        )
    return _checked_file(str(kept), sha, "The converted input", entry)


def _signature(sha: str | None, signatures: Signatures, entry: Entry) -> tuple[Path | None, int]:
    if not sha:
        return None, 0
    path = signatures.checked(sha, entry.id)
    data = path.read_bytes()
    if any(b < 0x20 or b > 0x7E or b in b'"\\' for b in data):
        raise InputError(
            T(
                "The signature of ledger entry {id} holds characters dmxedit "
                "does not send verbatim; the thread cannot be continued.",
                id=entry.id,
            ),
        )
    return path, len(data)


def _model_turn(entry: Entry, signatures: Signatures) -> Turn:
    files = entry.files or []
    parts = []
    for part in entry.turn or []:
        signature, size = _signature(part.get("signature"), signatures, entry)
        if "image" in part:
            index = int(part["image"])
            if index >= len(files):
                raise InputError(T("Ledger entry {id} lost the image of its answer.", id=entry.id))
            saved = files[index]
            image = _checked_file(saved["path"], saved.get("sha256"), T("The image"), entry)
            parts.append(Part(image=image, signature=signature, signature_size=size))
        else:
            parts.append(
                Part(text=str(part.get("text", "")), signature=signature, signature_size=size)
            )
    return Turn("model", tuple(parts))


def _same_site(entry: Entry, base_url: str) -> None:
    answered = (entry.options or {}).get("base_url")
    if answered is None or answered.rstrip("/") != base_url.rstrip("/"):
        raise InputError(
            T(
                "Ledger entry {id} was answered by {answered}; its thread is "
                "never sent to another ({base_url}).",
                id=entry.id,
                answered=answered or T("an unrecorded site"),
                base_url=base_url,
            ),
            hint=T("Continue it with --base-url {answered}.", answered=answered)
            if answered
            else None,
        )


def history_images(turns: tuple[Turn, ...]) -> list[InputImage]:
    """Every image of the earlier turns, in order."""
    return [img for turn in turns for img in turn.images]


def with_images(turns: tuple[Turn, ...], images: list[InputImage]) -> tuple[Turn, ...]:
    """The turns with their images replaced in order (the prepared ones, SPEC 9)."""
    given = iter(images)
    return tuple(
        Turn(
            turn.role,
            tuple(replace(p, image=next(given)) if p.image is not None else p for p in turn.parts),
        )
        for turn in turns
    )


def _no_turn(entry: Entry) -> InputError:
    """Why an entry cannot be continued, and what to do instead."""
    options = entry.options or {}
    door = door_of(entry.model or "", options.get("api"))
    if entry.status == "saved" and door != "gemini":
        return InputError(
            T(
                "Ledger entry {id} was made by {model} through the images "
                "door, which keeps no conversation; such models take the "
                "result as an input image instead.",
                id=entry.id,
                model=entry.model,
            ),
            hint=T("dmxedit edit @{id} -p ...", id=entry.id),
        )
    if entry.status != "saved":
        back = f" Continue the turn before it: --continue @{entry.parent}." if entry.parent else ""
        return InputError(
            T(
                "Ledger entry {id} saved no result ({status}); there is no "
                "model turn to continue from it.{back}",
                id=entry.id,
                status=entry.status,
                back=back,
            ),
            hint=T(
                "`dmxedit history` lists the entries; `dmxedit recover` "
                "fetches a paid result that was not saved.",
            ),
        )
    return InputError(
        T(
            "Ledger entry {id} holds no model turn to continue (its image "
            "went to standard output, or it was made before dmxedit kept "
            "conversations).",
            id=entry.id,
        ),
        hint=T(
            "Give its result as an input image instead: dmxedit edit @{id} -p ...",
            id=entry.id,
        ),
    )


def load_thread(book: Ledger, entry: Entry, base_url: str) -> Thread:
    """The thread ending at ``entry``, every file checked; InputError (exit 2) otherwise."""
    signatures = Signatures(book.path.parent)
    sent = SentInputs(book.path.parent)
    entries = chain(book, entry)
    turns: list[Turn] = []
    for each in entries:
        if each.status != "saved" or not each.turn:
            raise _no_turn(each)
        _same_site(each, base_url)
        turns += [_user_turn(each, sent), _model_turn(each, signatures)]
    return Thread(entry, tuple(entries), tuple(turns))


__all__ = ["MAX_TURNS", "Thread", "chain", "history_images", "load_thread", "with_images"]
