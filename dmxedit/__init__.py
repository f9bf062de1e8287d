"""dmxedit: edit and generate images with DMXAPI's nano-banana-2.

Library use::

    from dmxedit import edit_image
    result = edit_image(["photo.png"], "make it snow", ratio="5:4", size="4K")
    print(result.files)

The public names are loaded on first use, so ``import dmxedit`` (and the CLI's
``--version``) stays fast and pulls in no HTTP machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dmxedit._version import __version__

if TYPE_CHECKING:
    from dmxedit.batch.run import BatchSummary, run_batch
    from dmxedit.core.errors import (
        ApiError,
        AuthError,
        BatchError,
        ConfigError,
        DmxError,
        ExitCode,
        InputError,
        Interrupted,
        NetworkError,
        SaveError,
    )
    from dmxedit.core.events import Events
    from dmxedit.core.options import ImageOptions
    from dmxedit.engine.pipeline import edit_image, generate_image
    from dmxedit.engine.result import ImageResult

__all__ = [
    "__version__",
    "edit_image",
    "generate_image",
    "run_batch",
    "ImageResult",
    "ImageOptions",
    "BatchSummary",
    "Events",
    "ExitCode",
    "DmxError",
    "InputError",
    "ConfigError",
    "AuthError",
    "ApiError",
    "NetworkError",
    "SaveError",
    "BatchError",
    "Interrupted",
]

_HOMES = {
    "edit_image": "engine.pipeline",
    "generate_image": "engine.pipeline",
    "ImageResult": "engine.result",
    "ImageOptions": "core.options",
    "run_batch": "batch.run",
    "BatchSummary": "batch.run",
    "Events": "core.events",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES or name in __all__:
        import importlib

        module = importlib.import_module(f".{_HOMES.get(name, 'core.errors')}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
