"""``dmxedit chat``: a conversation with a gemini-door image model (SPEC section 13).

Each line is a turn: the first sends the images given (or none: a generation), each
later one continues the thread of the turn before it (``--continue @N``, the ledger
keeps the thread). On a terminal the line is read with the standard library's
``readline`` (editing and the typed history) where Python has it; from a pipe each line
is one turn and each saved path goes to standard output. A failed turn is shown and the
prompt comes back (on a terminal); from a pipe it ends the run with its exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dmxedit.cli import options as o
from dmxedit.cli.context import RunContext
from dmxedit.core import interrupts
from dmxedit.core.errors import DmxError, InputError
from dmxedit.core.i18n import N_, P, T
from dmxedit.core.options import ImageOptions

if TYPE_CHECKING:
    from dmxedit.api.request import Kind
    from dmxedit.engine.prepared import Prepared
    from dmxedit.engine.result import ImageResult

#: The model chat uses when neither -m nor the configured model goes through the gemini door.
CHAT_MODEL = "gemini-3.1-flash-image"
PROMPT = "dmxedit> "
HELP = N_(
    "Type what to change; each line is a turn (the model sees the earlier ones).\n"
    "  /image PATH   add an input image to the next turn\n"
    "  /ratio R      the aspect ratio from now on (e.g. 16:9; 'none' to leave it to the model)\n"
    "  /size S       the size from now on (1K, 2K, 4K)\n"
    "  /undo         drop the last turn from the conversation (the ledger keeps it)\n"
    "  /history      the turns so far\n"
    "  /help         this help\n"
    "  /quit         leave (Ctrl-D too)"
)


ChatModel = Annotated[
    str | None,
    typer.Option(
        "-m",
        "--model",
        help=f"A gemini-door model [default: the configured one if it is, else {CHAT_MODEL}].",
        metavar="NAME",
    ),
]


@dataclass
class Chat:
    """The state of one chat: the thread's last entry, the next turn's images."""

    ctx: RunContext
    options: ImageOptions
    pending: list[str] = field(default_factory=list)  # the next turn's input images
    start: list[str] = field(default_factory=list)  # the first turn's images (/undo to it)
    cleared: set[str] = field(default_factory=set)  # /ratio none, /size none: not the parent's
    last: int | None = None  # the ledger entry the next turn continues
    turns: list[tuple[int, str, list[str]]] = field(default_factory=list)  # id, prompt, files
    parents: dict[int, int | None] = field(default_factory=dict)
    done: bool = False

    # -- slash commands ------------------------------------------------------------

    def command(self, line: str) -> None:
        name, _, arg = line.partition(" ")
        action: Callable[[str], None] | None = {
            "/image": self.add_image,
            "/ratio": self.set_ratio,
            "/size": self.set_size,
            "/undo": lambda _: self.undo(),
            "/history": lambda _: self.history(),
            "/help": lambda _: self.say(HELP),
            "/quit": lambda _: self.quit(),
            "/exit": lambda _: self.quit(),
        }.get(name.lower())
        if action is None:
            self.say(T("Unknown command {name}; /help lists them.", name=name))
            return
        action(arg.strip())

    def say(self, text: str) -> None:
        """A line for the person typing, in their language."""
        from dmxedit.cli.ui import shown

        print(shown(text), file=self.ctx.stderr, flush=True)

    def quit(self) -> None:
        self.done = True

    def add_image(self, path: str) -> None:
        if not path:
            self.say(T("/image needs a path: /image photo.png"))
            return
        from dmxedit.media.images import load_image

        try:
            load_image(path)
        except DmxError as error:
            self.say(T("Not added: {why}", why=error.message))
            return
        self.pending.append(path)
        self.say(T("{path} goes with the next turn.", path=path))

    def set_ratio(self, value: str) -> None:
        ratio = None if value.lower() in ("", "none") else value
        self.options = replace(self.options, ratio=ratio)
        self._clear("ratio", ratio)
        self.say(T("ratio: {ratio}", ratio=ratio or T("the model decides")))

    def set_size(self, value: str) -> None:
        size = None if value.lower() in ("", "none") else value
        self.options = replace(self.options, size=size)
        self._clear("size", size)
        self.say(T("size: {size}", size=size or T("the model decides")))

    def _clear(self, name: str, value: str | None) -> None:
        if value is None:
            self.cleared.add(name)
        else:
            self.cleared.discard(name)

    def undo(self) -> None:
        if not self.turns:
            self.say(T("Nothing to undo."))
            return
        entry, prompt, _ = self.turns.pop()
        self.last = self.parents.get(entry)
        if self.last is None and not self.turns:  # back at the start: its images again
            self.pending = [*self.start, *[p for p in self.pending if p not in self.start]]
        self.say(
            T(
                "Dropped turn {entry} ({prompt!r}) from the conversation; the ledger keeps it.",
                entry=entry,
                prompt=prompt,
            )
        )

    def history(self) -> None:
        if not self.turns:
            self.say(T("No turn yet."))
        for number, (entry, prompt, files) in enumerate(self.turns, 1):
            self.say(f"{number}. [{entry}] {prompt} -> {', '.join(files) or '-'}")

    # -- a turn ----------------------------------------------------------------------

    def prepared(self, prompt: str) -> Prepared:
        from dmxedit.engine.prepared import prepare

        ref = f"@{self.last}" if self.last is not None else None
        kind: Kind = "edit" if self.pending or ref else "generate"
        return prepare(
            kind,
            list(self.pending),
            prompt,
            self.options,
            continue_ref=ref,
            unset=tuple(self.cleared),
        )

    def turn(self, prompt: str) -> ImageResult:
        """Send one turn; its saved paths printed as they arrive (stdout off a terminal)."""
        from dmxedit.cli import ui
        from dmxedit.engine import pipeline

        prepared = self.prepared(prompt)
        self.estimate(prepared)
        events = ui.make_events(self.ctx)
        try:
            result = pipeline.run(
                prepared,
                events=events,
                temporaries=self.ctx.temporaries,
                clock=self.ctx.clock,
                sleep=self.ctx.sleep,
            )
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        self.pending.clear()
        if result.ledger_id is not None:
            self.parents[result.ledger_id] = self.last
            self.last = result.ledger_id
            self.turns.append((result.ledger_id, prompt, [str(p) for p in result.files]))
        return result

    def estimate(self, prepared: Prepared) -> None:
        """Before each turn: what it sends (the context) and its documented tokens."""
        if self.ctx.quiet:
            return
        request = prepared.request
        images = sum(len(t.images) for t in request.history) + len(request.images)
        tokens = request.tokens()
        made = T("about {n:,} tokens for the image", n=tokens) if tokens else T("tokens unknown")
        context = len(request.history) // 2
        self.say(
            T(
                "turn {number} with {model}: {turns} and {images} sent as context; {tokens}.",
                number=context + 1,
                model=request.model,
                turns=P("{count:,} earlier turn", "{count:,} earlier turns", context),
                images=P("{count:,} image", "{count:,} images", images),
                tokens=made,
            )
        )


def _model(ctx: RunContext, options: ImageOptions) -> ImageOptions:
    """-m, else the configured model when it is a gemini-door one, else CHAT_MODEL."""
    from dmxedit.core.modeltable import door_of, model_for
    from dmxedit.core.settings import resolve

    if options.model is not None or options.api is not None:
        if door_of(options.model or "", options.api) != "gemini":
            raise InputError(
                T(
                    "{model} goes through the images door, which keeps no conversation; chat "
                    "needs a gemini-door model.",
                    model=options.model,
                ),
                hint=T(
                    "Use -m {model} (see `dmxedit models --known`), or edit with `dmxedit "
                    "edit` and give @last as an input.",
                    model=CHAT_MODEL,
                ),
            )
        return options
    configured = model_for(resolve(options).model)
    if configured is not None and configured.door == "gemini":
        return options
    return replace(options, model=CHAT_MODEL)


def _lines(ctx: RunContext) -> Callable[[], str | None]:
    """The next line typed (None at the end): ``input`` with readline on a terminal."""
    if ctx.stdin_isatty and ctx.stdin is not None:
        _typed_history(ctx)

        def typed() -> str | None:
            try:
                return input(PROMPT)
            except EOFError:
                return None

        return typed
    stream = ctx.claim_stdin(N_("chat's turns"))

    def piped() -> str | None:
        raw = stream.readline()
        return raw.decode("utf-8", "surrogateescape") if raw else None

    return piped


def _typed_history(ctx: RunContext) -> None:
    """Line editing and the prompts typed before (this chat's and earlier ones'), with
    the standard library's readline where Python has it (not on Windows: input() still
    works, without editing). The history file lives in the data folder, mode 0600."""
    try:
        import readline
    except ImportError:
        return
    import atexit
    import os

    from dmxedit.store.ledger import data_folder

    path = data_folder(ctx.env) / "chat_history"
    try:
        readline.read_history_file(path)
    except OSError:
        pass  # none yet
    readline.set_history_length(1000)

    def save() -> None:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            readline.write_history_file(path)
            os.chmod(path, 0o600)
        except OSError:
            pass  # a history that cannot be kept is no reason to fail

    atexit.register(save)


def _deliver(ctx: RunContext, result: ImageResult) -> None:
    if ctx.json:  # JSON Lines: one object a turn, read line by line
        ctx.emit_json(result.to_dict(), compact=True)
    elif not ctx.stdin_isatty:
        ctx.emit_lines([str(p) for p in result.files])


def _one(chat: Chat, line: str) -> None:
    """One line: a command, or a turn (its failure shown; off a terminal it ends the run)."""
    from dmxedit.cli import ui

    text = line.strip()
    if not text:
        return
    if text.startswith("/"):
        chat.command(text)
        return
    try:
        _deliver(chat.ctx, chat.turn(text))
    except (DmxError, KeyboardInterrupt) as error:
        if not chat.ctx.stdin_isatty:
            raise
        interrupts.forget()  # handled: the next turn's upload must not stop on it
        if isinstance(error, KeyboardInterrupt):  # before the request began: nothing sent
            chat.say(T("Interrupted; nothing was sent."))
        else:
            ui.error_panel(chat.ctx, error)


def _loop(chat: Chat, read: Callable[[], str | None]) -> None:
    interrupted = False
    while not chat.done:
        try:
            line = read()
        except KeyboardInterrupt:  # at the prompt: a second one quits
            if interrupted:
                return
            interrupted = True
            chat.say("")  # past the ^C the terminal shows
            chat.say(T("(Ctrl-C again, /quit or Ctrl-D to leave)"))
            continue
        interrupted = False
        if line is None:
            return
        _one(chat, line)


@o.command(
    image_options=True,
    json=True,
    quiet=True,
    skip=("prompt", "prompt_file", "dry_run", "max_side", "count", "mask", "response_format"),
    replace={"output": (o.FolderOnly, None), "model": (ChatModel, None)},
)
def chat(
    ctx: RunContext,
    options: ImageOptions,
    images: Annotated[
        list[str] | None,
        typer.Argument(
            help="Images the first turn edits (none: it generates).",
            metavar="IMAGE...",
            show_default=False,
        ),
    ] = None,
    continue_ref: o.Continue = None,
) -> None:
    """Edit an image in conversation with a gemini model: each line is a turn.

    Example: dmxedit chat photo.png -m gemini-3.1-flash-image
    """
    _check_ledger()
    chosen = options if continue_ref is not None else _model(ctx, options)  # the parent's
    state = Chat(ctx, chosen, pending=list(images or []), start=list(images or []))
    if continue_ref is not None:
        state.last = _entry_number(continue_ref)
    if ctx.stdin_isatty:
        model = state.options.model or CHAT_MODEL
        state.say(T("Chatting with {model}; /help for commands.", model=model))
    _loop(state, _lines(ctx))


def _check_ledger() -> None:
    from dmxedit.core.settings import resolve
    from dmxedit.store.ledger import enabled

    if not enabled(resolve(ImageOptions()).history):
        raise InputError(
            T("chat keeps its conversation in the ledger, which is turned off."),
            hint=T(
                "Turn it on with `dmxedit config set history on` (or unset DMXEDIT_NO_HISTORY)."
            ),
        )


def _entry_number(ref: str) -> int:
    """``@N`` or ``@last`` -> the ledger entry the chat continues."""
    from dmxedit.core.settings import resolve
    from dmxedit.store.ledger import open_ledger
    from dmxedit.store.refs import resolve_entry_ref

    settings = resolve(ImageOptions())
    book = open_ledger(settings.history, create=False)
    try:
        return resolve_entry_ref(ref, book, settings.history).id
    finally:
        if book is not None:
            book.close()


__all__: list[Any] = ["chat"]
