"""`dmxedit history` and `dmxedit recover`: read the ledger, fetch paid results again."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from dmxedit.cli.common import deliver
from dmxedit.cli.context import RunContext
from dmxedit.cli.options import command
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import ENGLISH, N_, T, active, shown
from dmxedit.engine.history import parse_since, reading

app = typer.Typer(
    help="Every paid request dmxedit made (newest first); `history show ID` for one.",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)


#: The ledger's statuses as a person reads them (--json and the ledger keep them as is).
STATUSES = {
    "created": N_("created"),
    "sent": N_("sent"),
    "answered": N_("answered"),
    "saved": N_("saved"),
    "failed": N_("failed"),
    "interrupted": N_("interrupted"),
}
#: `history show`'s field names as a person reads them (--json keeps the keys).
FIELDS = {
    "id": N_("id"),
    "created": N_("created at"),
    "updated": N_("updated at"),
    "kind": N_("kind"),
    "status": N_("status"),
    "model": N_("model"),
    "prompt": N_("prompt"),
    "options": N_("options"),
    "inputs": N_("inputs"),
    "output": N_("output folder"),
    "name": N_("file name"),
    "results_file": N_("results file"),
    "job_id": N_("job id"),
    "urls": N_("result URLs"),
    "data_paths": N_("data paths"),
    "request_id": N_("request id"),
    "usage": N_("usage"),
    "revised_prompt": N_("revised prompt"),
    "files": N_("files"),
    "error": N_("error"),
    "exit_code": N_("exit code"),
    "may_be_billed": N_("may have been billed"),
    "billed": N_("billed"),
    "unsaved_urls": N_("unsaved URLs"),
    "mismatch": N_("differences"),
    "billing": N_("billing check"),
    "text": N_("model's text"),
    "parent": N_("continues"),
    "turn": N_("turn"),
}


def status_word(status: str) -> str:
    """A ledger status in the user's language."""
    return shown(STATUSES[status]) if status in STATUSES else status


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _short(text: str | None, width: int = 40) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _line(entry: Any) -> str:
    from dmxedit.cli.ui import pad

    options = entry.options or {}
    shape = "/".join(x for x in (options.get("aspect_ratio"), options.get("size")) if x) or "-"
    outputs = entry.saved_files or entry.urls or []
    out = outputs[0] + (f" (+{len(outputs) - 1})" if len(outputs) > 1 else "") if outputs else ""
    return (
        f"{entry.id:>5}  {_when(entry.created)}  {entry.kind:<8}  {entry.model or '-'}  "
        f"{shape:<9}  {pad(status_word(entry.status), 11)}  {_short(entry.prompt)}  {out}".rstrip()
    )


@app.callback(invoke_without_command=True)
@command(json=True)
def history(
    ctx: RunContext,
    typer_ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="Show at most N entries.", metavar="N", min=1)
    ] = 20,
    failed: Annotated[
        bool, typer.Option("--failed", help="Only failed or interrupted requests.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only since DATE (2026-11-30, or 3d, 12h).", metavar="DATE"),
    ] = None,
    grep: Annotated[
        str | None, typer.Option("--grep", help="Only prompts containing TEXT.", metavar="TEXT")
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file", help="The entry that made this file (by path or SHA-256).", metavar="PATH"
        ),
    ] = None,
) -> None:
    """Every paid request dmxedit made, newest first (the ledger)."""
    if typer_ctx.invoked_subcommand is not None:
        return
    with reading(ctx.env) as book:
        if file is not None:
            path = Path(file).expanduser()
            if not path.is_file():
                raise InputError(T("{path!r} is not a file.", path=file))
            entry = book.by_file(path) if book is not None else None
            if entry is None:
                raise InputError(T("No ledger entry made {path!r}.", path=file))
            _show(ctx, entry)
            return
        started = parse_since(since) if since else None
        if grep is not None:
            from dmxedit.api.params import check_text

            check_text("--grep text", grep)  # prompts are UTF-8 text; bytes match none
        entries = book.query(limit=limit, failed=failed, since=started, grep=grep) if book else []
        if ctx.json:
            ctx.emit_json([e.to_dict() for e in entries])
        else:
            ctx.emit_lines([_line(e) for e in entries])
            if not entries:
                from dmxedit.cli import ui

                ui.note(ctx, _nothing(failed, since, grep))


def _nothing(failed: bool, since: str | None, grep: str | None) -> str:
    """What `history` says when no entry is shown, naming the filters that left none."""
    if failed:
        text = shown(T("No failed or interrupted request in the ledger"))
    else:
        text = shown(T("No request in the ledger"))
    where = [shown(T("since {date}", date=since))] if since else []
    if grep:
        where.append(shown(T("with {text!r} in the prompt", text=grep)))
    if where:
        text += shown(T(" {filters}", filters=shown(AND).join(where)))
    return text + shown(T("."))


AND = N_(" and ")


def _show(ctx: RunContext, entry: Any) -> None:
    if ctx.json:
        ctx.emit_json(entry.to_dict())
        return
    from dmxedit.cli.ui import pad

    data = entry.to_dict()
    english = active() == ENGLISH
    lines = []
    for key, value in data.items():
        if value in (None, [], {}):
            continue
        if key in ("created", "updated"):
            value = datetime.fromtimestamp(value).isoformat(timespec="seconds")
        if isinstance(value, (list, dict)):
            import json

            value = json.dumps(value, ensure_ascii=False)
        elif english:  # the keys and values as the ledger has them
            pass
        elif key == "status":
            value = status_word(str(value))
        elif isinstance(value, bool):
            value = shown(N_("yes") if value else N_("no"))
        label = key if english else shown(FIELDS.get(key, key))
        lines.append(f"{pad(label, 14)} {value}")
    ctx.emit_lines(lines)


@app.command("show")
@command(json=True, quiet=True)
def show(
    ctx: RunContext,
    entry_id: Annotated[int, typer.Argument(help="The entry's number.", metavar="ID")],
) -> None:
    """Print one ledger entry whole (URLs included)."""
    with reading(ctx.env) as book:
        entry = book.get(entry_id) if book is not None else None
        if entry is None:
            raise InputError(T("There is no ledger entry {id}.", id=entry_id))
        thread = _thread_of(book, entry)
        if ctx.json:
            data = entry.to_dict()
            if thread:
                data["thread"] = [_turn_dict(e) for e in thread]
            ctx.emit_json(data)
            return
        _show(ctx, entry)
        if thread:
            head = shown(T("thread (oldest first):"))
            ctx.emit_lines(["", head, *_thread_lines(thread, entry.id)])


def _thread_of(book: Any, entry: Any) -> list[Any]:
    """The conversation ``entry`` belongs to (SPEC 13), up to it; [] when it has none."""
    from dmxedit.engine.thread import chain

    if entry.parent is None and not entry.turn:
        return []
    try:
        return chain(book, entry)
    except InputError:  # a parent the ledger lost: show what is left
        return [entry]


def _turn_dict(entry: Any) -> dict[str, Any]:
    texts = [p["text"] for p in entry.turn or [] if "text" in p]
    return {"id": entry.id, "prompt": entry.prompt, "files": entry.saved_files, "text": texts}


def _thread_lines(thread: list[Any], current: int) -> list[str]:
    lines = []
    you, model, image = shown(T("you: ")), shown(T("model: ")), shown(T("image: "))
    for number, each in enumerate(thread, 1):
        mark = "*" if each.id == current else " "
        lines.append(f"{mark}{number:>3}. [{each.id}] {you}{each.prompt}")
        for part in each.turn or []:
            if "text" in part:
                lines.append(f"        {model}{part['text']}")
        for path in each.saved_files:
            lines.append(f"        {image}{path}")
    return lines


@command(json=True, quiet=True)
def recover(
    ctx: RunContext,
    output: Annotated[
        str | None,
        typer.Option(
            "-o", "--output", help="Save into DIR instead of each entry's folder.", metavar="DIR"
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Also ask DMXAPI's billing log whether each request sent without an answer "
            "was billed (needs the system token), and record the verdict.",
        ),
    ] = False,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also list the requests sent without an answer whose billing is settled.",
        ),
    ] = False,
) -> None:
    """Download every paid result that arrived but was never saved (from the ledger)."""
    from dmxedit.cli import ui
    from dmxedit.core.settings import resolve
    from dmxedit.engine.recover import recover as recover_all
    from dmxedit.engine.recover import unanswered_note

    with reading(ctx.env) as book:
        settings = resolve(env=ctx.env)
        events = ui.make_events(ctx)
        try:
            done = recover_all(
                settings,
                book,
                output=output,
                check=check,
                settled=show_all,
                events=events,
                temporaries=ctx.temporaries,
                warn=lambda text: ui.warn(ctx, text),
                clock=ctx.clock,
                sleep=ctx.sleep,
            )
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        for item in done.recovered:
            for url in item.dead_urls:
                gone = T(
                    "entry {id}: the result URL no longer works: {url}",
                    id=item.id,
                    url=ui.field(url),
                )
                ui.warn(ctx, gone)
            for kept in item.lost:
                ui.warn(
                    ctx,
                    T(
                        "entry {id}: its b64 result was not kept ({path} is gone); there is "
                        "nothing to download.",
                        id=item.id,
                        path=kept,
                    ),
                )
        for entry in done.unanswered:
            ui.note(
                ctx,
                T(
                    "entry {id} ({when}, {prompt}): sent without an answer; {note}",
                    id=entry.id,
                    when=_when(entry.created),
                    prompt=_short(entry.prompt, 30),
                    note=unanswered_note(entry, done.verdicts.get(entry.id)),
                ),
            )
        lines = [f for item in done.recovered for f in item.files] + [
            u for item in done.recovered for u in item.dead_urls
        ]
        if ctx.json:
            deliver(ctx, lambda: ctx.emit_json(done.to_dict()), lines)
        else:
            deliver(ctx, lambda: ctx.emit_lines(lines), lines)
        if not done.recovered and not done.unanswered:
            ui.note(ctx, T("Nothing to recover: every answered request was saved."))
        if done.exit_code:
            raise typer.Exit(done.exit_code)
