"""What each MCP tool does, in plain synchronous Python (no MCP SDK here).

A tool takes the session, its arguments (already a dict), the progress callbacks and
the roots of this call, and returns an :class:`Output`: content blocks and structured
content. Errors are raised as :class:`~dmxedit.core.errors.DmxError` like everywhere
else; ``dmxedit.mcp.server`` turns them into ``isError`` results. The same engine calls
the CLI makes: ``prepare`` and ``pipeline.run`` for an image, the ledger, ``recover``,
the account API. Nothing billable is sent by list_models, ratios, estimate, history,
recover (downloads of results already paid for) or balance.
"""

from __future__ import annotations

import base64
import mimetypes
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmxedit.api import account
from dmxedit.api.client import Client
from dmxedit.api.request import Kind
from dmxedit.api.retry import Policy, not_sent
from dmxedit.batch.plan import estimate_cost
from dmxedit.core.errors import DmxError, InputError
from dmxedit.core.events import Events
from dmxedit.core.i18n import P, T
from dmxedit.core.modeltable import model_for, nearest
from dmxedit.core.options import ImageOptions
from dmxedit.core.settings import Settings, resolve
from dmxedit.core.temporaries import Temporaries
from dmxedit.engine import pipeline
from dmxedit.engine.history import parse_since, reading
from dmxedit.engine.prepared import Prepared, prepare, resolve_refs
from dmxedit.engine.recover import recover as recover_all
from dmxedit.engine.result import ImageResult
from dmxedit.mcp import schemas
from dmxedit.mcp.confine import Confinement
from dmxedit.mcp.progress import Progress
from dmxedit.report.thumbs import thumbnails

#: The long side of the thumbnail a result carries as image content (SPEC 14).
THUMBNAIL_SIDE = 512


@dataclass
class Block:
    """One content block: text, an image (base64) or a link to a saved file."""

    kind: str  # "text", "image" or "link"
    text: str = ""
    data: str = ""
    mime: str = ""
    uri: str = ""
    name: str = ""
    size: int | None = None


@dataclass
class Output:
    blocks: list[Block]
    structured: dict[str, Any]
    is_error: bool = False


@dataclass
class Session:
    """What every call of one server shares: where it may read and write, its token cap,
    its environment, and the background batches (``dmxedit.mcp.batches``)."""

    confinement: Confinement
    env: Mapping[str, str]
    max_tokens: int | None = None
    inline_full: bool = False
    spent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    batches: dict[str, Any] = field(default_factory=dict)

    def left(self) -> int | None:
        return None if self.max_tokens is None else self.max_tokens - self.spent

    def reserve(self, tokens: int | None, model: str) -> None:
        """Count a call's estimated tokens against the cap before it is sent."""
        with self.lock:
            if self.max_tokens is None:
                self.spent += tokens or 0
                return
            left = self.max_tokens - self.spent
            if tokens is None:
                raise InputError(
                    T(
                        "DMXAPI documents no token count for {model}, and this server "
                        "caps the session at {max_tokens:,} tokens ({left:,} left), so "
                        "the call was refused; nothing was sent.",
                        model=model,
                        max_tokens=self.max_tokens,
                        left=left,
                    ),
                    hint=T(
                        "Pick a model whose tokens are known (see list_models and "
                        "ratios), or start `dmxedit mcp` without --max-tokens.",
                    ),
                )
            if tokens > left:
                raise InputError(
                    T(
                        "This call would use about {tokens:,} tokens and the session "
                        "has {left:,} of its {max_tokens:,} left (--max-tokens); "
                        "nothing was sent.",
                        tokens=tokens,
                        left=left,
                        max_tokens=self.max_tokens,
                    ),
                    hint=T("A smaller size costs fewer tokens (see the ratios tool)."),
                )
            self.spent += tokens

    def refund(self, tokens: int | None) -> None:
        with self.lock:
            self.spent -= tokens or 0

    def secrets(self) -> list[str]:
        """The key and the system token, never to be shown in a result."""
        try:
            settings = resolve(env=self.env)
        except DmxError:
            return []
        return [s for s in (settings.api_key, settings.system_token) if s]


Tool = Callable[[Session, dict[str, Any], Events, Sequence[Path]], Output]


def options_of(
    session: Session, args: Mapping[str, Any], allowed: Mapping[str, Any]
) -> ImageOptions:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise InputError(
            P(
                "Unknown argument {unknown}; this tool takes {known}.",
                "Unknown arguments {unknown}; this tool takes {known}.",
                len(unknown),
                unknown=", ".join(unknown),
                known=", ".join(sorted(allowed)),
            )
        )
    given = {k: v for k, v in args.items() if k in schemas.option_properties("edit")}
    try:
        options = ImageOptions.of(**given)
    except (TypeError, ValueError) as exc:
        raise InputError(T("Bad arguments: {exc}", exc=exc)) from None
    return options.merged(output=str(session.confinement.output))


def _checked(
    session: Session,
    kind: Kind,
    args: dict[str, Any],
    roots: Sequence[Path],
    allowed: Mapping[str, Any],
) -> Prepared:
    """The call's request checked, every path confined, before anything is sent."""
    images = list(args.get("images") or [])
    if not isinstance(args.get("images", []), list) or not all(isinstance(i, str) for i in images):
        raise InputError(T("images must be a list of file paths."))
    prompt = args.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise InputError(T("prompt must be text."))
    options = options_of(
        session, {k: v for k, v in args.items() if k not in ("images", "prompt")}, allowed
    )
    settings = resolve(options, env=session.env)
    images = [session.confinement.image(i, roots) for i in resolve_refs(images, settings)]
    if options.mask is not None:
        options = options.merged(mask=session.confinement.image(options.mask, roots, "mask"))
    ref = _thread_ref(args.get("continue"))
    prepared = prepare(kind, images, prompt, options, settings=settings, continue_ref=ref)
    for turn in prepared.request.history:  # a thread's files too: the roots or the output
        for img in turn.images:
            session.confinement.image(str(img.path), [*roots, session.confinement.output])
    return prepared


def _thread_ref(value: Any) -> str | None:
    """continue_edit's ``continue``: a ledger id or ``@last``/``@N`` (None: not given)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return f"@{value}"
    if isinstance(value, str) and (value == "@last" or value.lstrip("@").isdigit()):
        return value if value.startswith("@") else f"@{value}"
    raise InputError(T("continue is a ledger id (a number), @N or @last."))


def _links(result: ImageResult, session: Session) -> list[Block]:
    blocks: list[Block] = []
    paths = [str(p) for p in result.files]
    small: dict[str, str | None] = {}
    if not session.inline_full:
        try:
            small = thumbnails(paths, THUMBNAIL_SIDE)
        except Exception:  # noqa: BLE001 - no dmxedit[images] (or no picture): links only
            small = {}
    for path in result.files:
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        size = path.stat().st_size if path.exists() else None
        blocks.append(
            Block("link", uri=path.resolve().as_uri(), name=path.name, mime=mime, size=size)
        )
        if session.inline_full:
            blocks.append(
                Block("image", data=base64.b64encode(path.read_bytes()).decode(), mime=mime)
            )
        elif small.get(str(path)):
            head, data = str(small[str(path)]).split(",", 1)
            blocks.append(Block("image", data=data, mime=head[5:].split(";")[0]))
    return blocks


def _warnings(result: ImageResult, events: Events) -> list[str]:
    """The result's warnings and the engine's (said through the call's events), once each."""
    said = events.warnings if isinstance(events, Progress) else []
    return list(dict.fromkeys([*result.warnings, *said]))


def make_image(kind: Kind, *, continued: bool = False) -> Tool:
    """The tool of an edit, a generation, or (``continued``) a conversation's next turn."""
    if continued:
        allowed = schemas.continue_edit()["properties"]
    elif kind == "edit":
        allowed = schemas.edit_image()["properties"]
    else:
        allowed = schemas.generate_image()["properties"]

    def run(
        session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]
    ) -> Output:
        if kind == "edit" and not args.get("images") and args.get("continue") is None:
            raise InputError(
                T(
                    "edit_image needs images (1-16 paths); generate_image takes none.",
                )
            )
        if not args.get("prompt"):
            raise InputError(T("A prompt is needed."))
        prepared = _checked(session, kind, args, roots, allowed)
        tokens = prepared.request.tokens()
        stop = events.stopped if isinstance(events, Progress) else None
        if stop is not None and stop():
            raise not_sent(1)
        session.reserve(tokens, prepared.request.model)
        try:
            result = pipeline.run(prepared, events=events, stop=stop)
        except DmxError as error:
            if not error.may_be_billed:
                session.refund(tokens)
            raise
        structured: dict[str, Any] = {
            "files": [str(p) for p in result.files],
            "ledger_id": result.ledger_id,
            "parent": result.parent,
            "text": result.text,
            "receipt": {"delivered": result.delivered, "mismatch": result.mismatch},
            "model": result.model,
            "aspect_ratio": result.aspect_ratio,
            "size": result.size,
            "urls": result.urls,
            "request_id": result.request_id,
            "revised_prompt": result.revised_prompt,
            "tokens": tokens,
            "tokens_left": session.left(),
            "elapsed_s": result.elapsed_s,
            "warnings": _warnings(result, events),
        }
        text = (
            f"Saved {len(result.files)} image{'s' if len(result.files) != 1 else ''}: "
            + ", ".join(structured["files"])
        )
        if result.ledger_id is not None:
            text += f" (ledger entry {result.ledger_id})"
        if result.mismatch:
            text += ". Not as asked: " + "; ".join(result.mismatch)
        text += "".join(f"\nWarning: {w}" for w in structured["warnings"])
        return Output([Block("text", text=text), *_links(result, session)], structured)

    return run


def _settings(session: Session, args: Mapping[str, Any] | None = None) -> Settings:
    options = ImageOptions(model=(args or {}).get("model"))
    return resolve(options, env=session.env)


def list_models(
    session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]
) -> Output:
    settings = _settings(session)
    client = Client(
        api_key=settings.require_key(),
        timeout=min(settings.timeout, 60.0),
        connect_timeout=settings.connect_timeout,
        policy=Policy(settings.retries),
        events=events,
    )
    try:
        found = client.list_models(settings.base_url)
    finally:
        client.close()
    shown = sorted((m for m in found if args.get("all") or m.image), key=lambda m: m.id.casefold())
    listed = []
    for m in shown:
        entry = m.to_dict()
        spec = model_for(m.id)
        entry["in_dmxedit_table"] = spec is not None
        if spec is not None:
            entry["pick"] = spec.pick
        listed.append(entry)
    text = "\n".join(m.id for m in shown) or "No image models."
    return Output([Block("text", text=text)], {"models": listed, "default": settings.model})


def ratios(session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]) -> Output:
    settings = _settings(session, args)
    spec = model_for(settings.model)
    if spec is None:
        near = nearest(settings.model)
        raise InputError(
            T(
                "{model} is not in dmxedit's model table, so its ratios are unknown.",
                model=settings.model,
            ),
            hint=T("Did you mean {near}?", near=near) if near else T("See list_models."),
        )
    size = args.get("size")
    tiers = [t for t in spec.tiers if size is None or t.lower() == str(size).lower()]
    if size is not None and not tiers:
        raise InputError(
            T(
                "{id} has no size {size!r}; it has {tiers}.",
                id=spec.id,
                size=size,
                tiers=", ".join(spec.tiers),
            )
        )
    rows: list[dict[str, Any]] = []
    for ratio in spec.ratios:
        sizes: dict[str, dict[str, Any]] = {}
        for tier in tiers:
            made = spec.pixels(ratio, tier)
            if made is not None:
                sizes[tier] = {"width": made[0], "height": made[1], "tokens": spec.tokens_for(tier)}
        rows.append({"ratio": ratio, "sizes": sizes})
    lines = [
        f"{r['ratio']}: "
        + ", ".join(f"{t} {v['width']}x{v['height']}" for t, v in r["sizes"].items())
        for r in rows
    ]
    return Output(
        [Block("text", text="\n".join(lines) or "No ratio table.")],
        {"model": spec.id, "ratios": rows},
    )


def estimate(
    session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]
) -> Output:
    args = dict(args)
    kind: Kind = "edit" if args.get("images") else "generate"
    args.setdefault("prompt", "(estimate)")
    prepared = _checked(session, kind, args, roots, schemas.estimate()["properties"])
    request = prepared.request
    tokens = request.tokens()
    cny = estimate_cost(
        prepared.settings, {(request.model, request.size): request.count}, session.env
    )
    structured = {
        "model": request.model,
        "aspect_ratio": request.ratio,
        "size": request.size,
        "images_made": request.count,
        "tokens": tokens,
        "cny": cny,
        "tokens_left": session.left(),
        "sent": False,
    }
    words = (
        f"about {tokens:,} tokens" if tokens is not None else "tokens not documented for this model"
    )
    if cny is not None:
        words += f", about {cny:.2f} CNY"
    left = session.left()
    if left is not None:
        words += f"; {left:,} tokens left in this session"
    return Output(
        [Block("text", text=f"{request.model} {request.size or ''}: {words}. Nothing sent.")],
        structured,
    )


def history(
    session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]
) -> Output:
    with reading(session.env) as book:
        if args.get("id") is not None:
            entry = book.get(int(args["id"])) if book is not None else None
            if entry is None:
                raise InputError(T("There is no ledger entry {id}.", id=args["id"]))
            entries = [entry]
        else:
            since = parse_since(str(args["since"])) if args.get("since") else None
            entries = (
                book.query(
                    limit=int(args.get("limit") or 20),
                    failed=bool(args.get("failed")),
                    since=since,
                    grep=args.get("grep"),
                )
                if book is not None
                else []
            )
        listed = [e.to_dict() for e in entries]
    lines = [
        f"{e['id']}  {e.get('status')}  {e.get('model')}  {e.get('prompt') or ''}"[:160]
        for e in listed
    ]
    return Output([Block("text", text="\n".join(lines) or "No entries.")], {"entries": listed})


def recover(
    session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]
) -> Output:
    settings = resolve(env=session.env)
    warnings: list[str] = []
    with reading(session.env) as book:
        done = recover_all(
            settings,
            book,
            output=str(session.confinement.output),
            check=bool(args.get("check")),
            settled=False,
            events=events,
            temporaries=Temporaries(),
            warn=warnings.append,
        )
    files = [f for item in done.recovered for f in item.files]
    structured = {**done.to_dict(), "warnings": warnings}
    text = (
        f"Recovered {len(files)} file{'s' if len(files) != 1 else ''}: {', '.join(files)}"
        if files
        else "Nothing to recover: every answered request was saved."
    )
    blocks = [Block("text", text=text)]
    for f in files:
        path = Path(f)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        size = path.stat().st_size if path.exists() else None
        blocks.append(
            Block("link", uri=path.resolve().as_uri(), name=path.name, mime=mime, size=size)
        )
    return Output(blocks, structured)


def balance(
    session: Session, args: dict[str, Any], events: Events, roots: Sequence[Path]
) -> Output:
    found = account.balance(resolve(env=session.env), events=events)
    return Output([Block("text", text=f"balance {found.cny:.4f} CNY")], found.to_dict())
