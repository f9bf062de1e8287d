"""Where the MCP server may read and write (SPEC 14, confinement).

Input images come only from under the roots (``--root``, narrowed by the client's own
roots when it lists any), outputs go only under ``--output``. Every path is checked on
its real path (``..`` and symlinks resolved), and a path outside is an
:class:`~dmxedit.core.errors.InputError` before anything is sent.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from dmxedit.core.errors import InputError
from dmxedit.core.i18n import T


def real(path: str | os.PathLike[str]) -> Path:
    """The real path: ``~`` expanded, ``..`` and every symlink resolved."""
    return Path(os.path.realpath(Path(path).expanduser()))


def under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def from_uri(uri: str) -> Path | None:
    """A ``file://`` root of the client as a real path (None: not a local file URI)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return real(unquote(parsed.path))


@dataclass(frozen=True)
class Confinement:
    """The server's roots (real paths, the first one first) and its output folder."""

    roots: tuple[Path, ...]
    output: Path

    @classmethod
    def of(cls, roots: Sequence[str], output: str | None, cwd: Path) -> Confinement:
        found = tuple(real(cwd / r) for r in roots) or (real(cwd),)
        for given, root in zip(roots, found, strict=False):
            if not root.is_dir():
                raise InputError(T("--root {given!r} is not a folder.", given=given))
        out = real(found[0] / output) if output is not None else found[0] / "output"
        return cls(found, out)

    def narrowed(self, client_roots: Sequence[str] | None) -> tuple[Path, ...]:
        """The roots a call may read from: the server's, narrowed by the client's roots
        when it lists any (a client root inside a server root, or a server root inside
        a client root)."""
        if not client_roots:
            return self.roots
        theirs = [p for p in (from_uri(u) for u in client_roots) if p is not None]
        out: list[Path] = []
        for mine in self.roots:
            for root in theirs:
                if under(root, mine):
                    out.append(root)
                elif under(mine, root):
                    out.append(mine)
        return tuple(dict.fromkeys(out))

    def image(self, given: str, roots: Sequence[Path], what: str = "image") -> str:
        """An input path checked to be under ``roots``; relative paths resolve against
        the server's first root. Standard input is the protocol: never an image."""
        if given == "-":
            raise InputError(
                T(
                    "The {what} '-' (standard input) is the MCP protocol's here.",
                    what=what,
                )
            )
        path = Path(given).expanduser()
        if not path.is_absolute():
            path = self.roots[0] / path
        found = real(path)
        if not any(under(found, root) for root in roots):
            shown = ", ".join(str(r) for r in roots) or "none (the client's roots leave none)"
            raise InputError(
                T(
                    "The {what} {given!r} is outside the server's roots; nothing was sent.",
                    what=what,
                    given=given,
                ),
                hint=T(
                    "Roots: {shown}. Another folder needs `dmxedit mcp --root DIR`.",
                    shown=shown,
                ),
            )
        return str(found)

    def output_file(self, given: str | None, default: str) -> Path:
        """A file the server writes (a batch's results file), under the output folder."""
        path = Path(given).expanduser() if given else Path(default)
        if not path.is_absolute():
            path = self.output / path
        found = real(path)
        if not under(found, real(self.output)):
            raise InputError(
                T(
                    "{given!r} is outside the output folder {output}; nothing was sent.",
                    given=given,
                    output=self.output,
                )
            )
        return found
