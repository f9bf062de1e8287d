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

from ._version import __version__

if TYPE_CHECKING:
    from .batch import BatchSummary, run_batch
    from .errors import (
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
    from .events import Events
    from .options import ImageOptions
    from .pipeline import ImageResult, edit_image, generate_image

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
    "edit_image": "pipeline",
    "generate_image": "pipeline",
    "ImageResult": "pipeline",
    "ImageOptions": "options",
    "run_batch": "batch",
    "BatchSummary": "batch",
    "Events": "events",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES or name in __all__:
        import importlib

        module = importlib.import_module(f".{_HOMES.get(name, 'errors')}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
