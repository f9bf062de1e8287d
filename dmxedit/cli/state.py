"""How the current command wants errors shown (set by the command, read by the boundary)."""

from __future__ import annotations


class State:
    """A plain class, not a dataclass: it is built on every start, even for --version."""

    def __init__(self) -> None:
        self.json = False
        self.verbose = False
        self.quiet = False


state = State()
