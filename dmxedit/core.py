"""One edit or generation from start to finish: the library's entry points.

``edit_image`` and ``generate_image`` need neither Typer nor rich. They resolve
settings (arguments > environment > config file > defaults), check everything, send
one request, save the results and return an :class:`ImageResult`; every failure is a
:class:`dmxedit.errors.DmxError` carrying the CLI's exit code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ._version import __version__
from .errors import SaveError
from .events import Events
from .images import InputImage, load_images
from .request import ImageRequest, Kind, request_from_settings
from .results import SavedImage, Saver, write_metadata
from .settings import Settings, resolve

if TYPE_CHECKING:
    from .client import Answer, Client
    from .transfer import Pacer


@dataclass
class ImageResult:
    """What one request produced: the saved files and what the API said."""

    files: list[Path]
    urls: list[str]
    model: str
    prompt: str
    aspect_ratio: str | None
    size: str | None
    response_format: str
    elapsed_s: float
    kind: str = "edit"
    revised_prompt: str | None = None
    usage: Any = None
    request_id: str | None = None
    created: Any = None
    attempts: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    metadata_files: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The object ``--json`` prints."""
        out: dict[str, Any] = {
            "files": [str(p) for p in self.files],
            "urls": list(self.urls),
            "model": self.model,
            "prompt": self.prompt,
            "aspect_ratio": self.aspect_ratio,
            "size": self.size,
            "response_format": self.response_format,
            "elapsed_s": self.elapsed_s,
        }
        if self.revised_prompt is not None:
            out["revised_prompt"] = self.revised_prompt
        if self.usage is not None:
            out["usage"] = self.usage
        if self.request_id:
            out["request_id"] = self.request_id
        if self.created is not None:
            out["created"] = self.created
        out["attempts"] = self.attempts
        out["timings"] = self.timings
        if self.metadata_files:
            out["metadata_files"] = [str(p) for p in self.metadata_files]
        return out


def make_client(
    settings: Settings,
    *,
    events: Events | None = None,
    retry_server_errors: bool = False,
    pacer: Pacer | None = None,
) -> Client:
    """A client configured from resolved settings (imports the HTTP machinery)."""
    from .client import Client

    return Client(
        api_key=settings.require_key(),
        timeout=float(settings.get("timeout")),
        connect_timeout=float(settings.get("connect-timeout")),
        retries=int(settings.get("retries")),
        retry_server_errors=retry_server_errors,
        events=events,
        pacer=pacer,
    )


def execute(
    request: ImageRequest,
    client: Client,
    saver: Saver,
    *,
    events: Events | None = None,
    save_metadata: bool = False,
    on_sent: Callable[[], None] | None = None,
) -> ImageResult:
    """Send a checked request and save what comes back; the path every command shares."""
    events = events or Events()
    started = time.monotonic()
    answer = client.send(request, saver, on_sent=on_sent, hash_inputs=save_metadata)
    saved = _save_all(answer, client, saver, events)
    elapsed = round(time.monotonic() - started, 3)
    result = ImageResult(
        files=[s.path for s in saved if s.path is not None],
        urls=[item.url for item in answer.items if item.url],
        model=request.model,
        prompt=request.prompt,
        aspect_ratio=request.ratio,
        size=request.size,
        response_format=request.response_format,
        elapsed_s=elapsed,
        kind=request.kind,
        revised_prompt=next((i.revised_prompt for i in answer.items if i.revised_prompt), None),
        usage=answer.usage,
        request_id=answer.request_id,
        created=answer.created,
        attempts=answer.attempts,
        timings=dict(answer.timings, total_s=elapsed),
    )
    if save_metadata:
        for image, item in zip(saved, answer.items, strict=False):
            if image.path is None:
                continue
            meta = _metadata(request, answer, result, image, item.url)
            written = write_metadata(image.path, meta)
            if written is None:
                events.warn(f"{image.path}.json already exists; metadata not written.")
            else:
                result.metadata_files.append(written)
    return result


def _save_all(answer: Answer, client: Client, saver: Saver, events: Events) -> list[SavedImage]:
    """Save every item; an item that fails does not stop the others from being saved."""
    saved: list[SavedImage] = []
    failures: list[SaveError] = []
    pending = [item.blob for item in answer.items if item.blob is not None]
    try:
        for item in answer.items:
            try:
                if item.blob is not None:
                    pending.remove(item.blob)
                    image = saver.finish(item.blob, item.url)
                else:
                    assert item.url is not None
                    blob = client.download(item.url, saver)
                    image = saver.finish(blob, item.url)
            except SaveError as exc:
                failures.append(exc)
                continue
            saved.append(image)
            if image.path is not None:
                events.saved(str(image.path))
    finally:
        for blob in pending:
            blob.discard()
    if failures:
        first = failures[0]
        error = SaveError(
            first.message
            if len(failures) == 1
            else f"{len(failures)} images could not be saved: "
            + "; ".join(f.message for f in failures),
            urls=[u for f in failures for u in f.urls],
            files=[str(s.path) for s in saved if s.path] + [p for f in failures for p in f.files],
            hint=first.hint,
        )
        raise error
    return saved


def _metadata(
    request: ImageRequest, answer: Answer, result: ImageResult, image: SavedImage, url: str | None
) -> dict[str, Any]:
    inputs = [
        {
            "name": img.display,
            "bytes": img.size,
            "content_type": img.content_type,
            "sha256": answer.input_sha256[i] if i < len(answer.input_sha256) else None,
        }
        for i, img in enumerate(request.images)
    ]
    return {
        "tool": f"dmxedit {__version__}",
        "kind": request.kind,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "file": image.path.name if image.path else None,
        "content_type": image.content_type,
        "bytes": image.size,
        **request.options(),
        "inputs": inputs,
        "url": url,
        "revised_prompt": result.revised_prompt,
        "usage": answer.usage,
        "request_id": answer.request_id,
        "created": answer.created,
        "attempts": answer.attempts,
        "timings": result.timings,
    }


def _settings(
    api_key: str | None,
    base_url: str | None,
    model: str | None,
    output: str | os.PathLike[str] | None,
    ratio: str | None,
    size: str | None,
    response_format: str | None,
    timeout: float | None,
    retries: int | None,
) -> Settings:
    flags = {
        "api-key": api_key,
        "base-url": base_url,
        "model": model,
        "output": os.fspath(output) if output is not None else None,
        "ratio": ratio,
        "size": size,
        "format": response_format,
        "timeout": timeout,
        "retries": retries,
    }
    return resolve(flags)


def _run(
    kind: Kind,
    images: Sequence[str | os.PathLike[str]],
    prompt: str,
    *,
    ratio: str | None,
    size: str | None,
    model: str | None,
    response_format: str | None,
    output: str | os.PathLike[str] | BinaryIO | None,
    api_key: str | None,
    base_url: str | None,
    timeout: float | None,
    retries: int | None,
    retry_server_errors: bool,
    params: Sequence[str] | dict[str, str],
    save_metadata: bool,
    events: Events | None,
) -> ImageResult:
    stream: BinaryIO | None = None
    folder_arg: str | os.PathLike[str] | None = None
    if output is not None and hasattr(output, "write"):
        stream = output  # type: ignore[assignment]
    else:
        folder_arg = output
    settings = _settings(
        api_key, base_url, model, folder_arg, ratio, size, response_format, timeout, retries
    )
    pairs = [f"{k}={v}" for k, v in params.items()] if isinstance(params, dict) else list(params)
    checked: list[InputImage] = (
        load_images([os.fspath(p) for p in images]) if kind == "edit" else []
    )
    request = request_from_settings(kind, settings, prompt=prompt, params=pairs, images=checked)
    saver = Saver(
        folder=None if stream is not None else Path(settings.get("output")),
        prefix=request.prefix,
        stream=stream,
    )
    client = make_client(settings, events=events, retry_server_errors=retry_server_errors)
    saver.prepare()  # after the key check: a missing key creates no folder
    try:
        return execute(request, client, saver, events=events, save_metadata=save_metadata)
    finally:
        client.close()


def edit_image(
    images: Sequence[str | os.PathLike[str]],
    prompt: str,
    *,
    ratio: str | None = None,
    size: str | None = None,
    model: str | None = None,
    response_format: str | None = None,
    output: str | os.PathLike[str] | BinaryIO | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    retry_server_errors: bool = False,
    params: Sequence[str] | dict[str, str] = (),
    save_metadata: bool = False,
    events: Events | None = None,
) -> ImageResult:
    """Edit 1-16 images with a prompt and save the result.

    Arguments left as None come from the environment (``DMXAPI_API_KEY``,
    ``DMXAPI_BASE_URL``), then the config file, then the defaults. ``output`` is a
    folder (default ``output``) or a binary stream. Raises a
    :class:`dmxedit.errors.DmxError` subclass whose ``exit_code`` is the CLI's.
    """
    return _run(
        "edit",
        images,
        prompt,
        ratio=ratio,
        size=size,
        model=model,
        response_format=response_format,
        output=output,
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        retries=retries,
        retry_server_errors=retry_server_errors,
        params=params,
        save_metadata=save_metadata,
        events=events,
    )


def generate_image(
    prompt: str,
    *,
    ratio: str | None = None,
    size: str | None = None,
    model: str | None = None,
    response_format: str | None = None,
    output: str | os.PathLike[str] | BinaryIO | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    retry_server_errors: bool = False,
    params: Sequence[str] | dict[str, str] = (),
    save_metadata: bool = False,
    events: Events | None = None,
) -> ImageResult:
    """Make an image from a prompt alone; arguments as for :func:`edit_image`."""
    return _run(
        "generate",
        (),
        prompt,
        ratio=ratio,
        size=size,
        model=model,
        response_format=response_format,
        output=output,
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        retries=retries,
        retry_server_errors=retry_server_errors,
        params=params,
        save_metadata=save_metadata,
        events=events,
    )
