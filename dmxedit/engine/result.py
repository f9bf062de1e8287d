"""What one request produced: the saved files and what the API said."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    #: One per input image: the original and what was sent (``prepare.input_record``).
    inputs: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)  # per file: format, w, h
    mismatch: list[str] = field(default_factory=list)  # what differs from what was asked
    #: What went wrong without losing the result (a ledger write, a sidecar), already said.
    warnings: list[str] = field(default_factory=list)
    #: The model's own words beside its images (the gemini door's text parts).
    text: list[str] = field(default_factory=list)
    #: The request's ledger entry (None without a ledger: DMXEDIT_NO_HISTORY).
    ledger_id: int | None = None
    parent: int | None = None  # the entry it continues (a conversation, SPEC 13)
    #: The model's turn (gemini door) as a conversation sends it back (SPEC 13).
    turn: list[dict[str, Any]] = field(default_factory=list, repr=False)
    #: Per input, the file actually sent when dmxedit converted it (a temporary file,
    #: gone after the request; a conversation keeps a copy): None when sent as it was.
    sent_files: list[str | None] = field(default_factory=list, repr=False)

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
        if self.text:
            out["text"] = list(self.text)
        if self.request_id:
            out["request_id"] = self.request_id
        if self.created is not None:
            out["created"] = self.created
        out["attempts"] = self.attempts
        out["timings"] = self.timings
        out["delivered"] = self.delivered
        out["mismatch"] = self.mismatch
        if self.metadata_files:
            out["metadata_files"] = [str(p) for p in self.metadata_files]
        if self.inputs:
            out["inputs"] = self.inputs
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.ledger_id is not None:
            out["ledger_id"] = self.ledger_id
        if self.parent is not None:
            out["parent"] = self.parent
        return out
