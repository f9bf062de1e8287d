"""The doors DMXAPI serves image models through, and the one a request takes.

A door is a module with the same functions (:mod:`dmxedit.api.images`,
:mod:`dmxedit.api.gemini`): where the request goes (``url``), how the key travels
(``AUTH_HEADER``, ``auth_value``), its body (``body``), and what ``--dry-run`` shows
(``describe``, ``curl``); none imports the HTTP machinery. How a door's answer is read
is the client's (:data:`dmxedit.api.client.READERS`: :mod:`dmxedit.api.answers`,
:mod:`dmxedit.api.gemini_answers`). Adding a door is a module, a line here and one
there (docs/ARCHITECTURE.md, "Add a door").
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from dmxedit.api import gemini, images
from dmxedit.api.request import ImageRequest

DOORS: dict[str, ModuleType] = {"images": images, "gemini": gemini}


def door_for(request: ImageRequest) -> ModuleType:
    """The module of the door ``request`` goes through."""
    return DOORS[request.door]


def url(request: ImageRequest) -> str:
    result: str = door_for(request).url(request)
    return result


def describe(request: ImageRequest, api_key: str | None) -> dict[str, Any]:
    """The request for ``--dry-run``, the key masked."""
    result: dict[str, Any] = door_for(request).describe(request, api_key)
    return result


def curl(request: ImageRequest) -> str:
    """An equivalent curl command; the key comes from $DMXAPI_API_KEY, never inline."""
    result: str = door_for(request).curl(request)
    return result


__all__ = ["DOORS", "curl", "describe", "door_for", "url"]
