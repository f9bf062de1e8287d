"""Progress callbacks: how the core tells a front end what it is doing.

The core never prints. It calls these methods; the CLI's ``ui`` module turns them into
rich progress bars on a terminal or one plain line per stage elsewhere, and a library
user may subclass :class:`Events` (every method is a no-op here) to follow along.
"""

from __future__ import annotations


class Events:
    """No-op progress callbacks; override what you need."""

    def upload_start(self, total: int, parts: int) -> None:
        """The request body (``total`` bytes, ``parts`` images) starts going out."""

    def upload_progress(self, sent: int) -> None:
        """``sent`` bytes of the body have been handed to the network so far."""

    def waiting(self) -> None:
        """The request is sent; the model is working."""

    def answered(self, status: int) -> None:
        """The API's answer arrived with this HTTP status."""

    def download_start(self, total: int | None, what: str) -> None:
        """A result starts coming in (``total`` bytes when known)."""

    def download_progress(self, received: int) -> None:
        """``received`` bytes of the result so far."""

    def download_done(self) -> None:
        """The result is fully received."""

    def saved(self, path: str) -> None:
        """An image was saved to ``path``."""

    def retry(self, attempt: int, delay: float, reason: str) -> None:
        """Attempt ``attempt`` failed for ``reason``; the next starts in ``delay`` s."""

    def warn(self, message: str) -> None:
        """Something the user should know that is not an error."""

    def model_text(self, text: str) -> None:
        """The model's own words beside its image (the gemini door's text parts)."""

    def info(self, message: str) -> None:
        """A detail shown with ``--verbose``."""

    def note(self, message: str) -> None:
        """A message for the user that is neither a warning nor a detail (what the tool
        is doing now, e.g. checking the billing log)."""
