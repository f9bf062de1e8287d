"""How the current command wants errors shown (set by the command, read by the boundary)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class State:
    json: bool = False
    verbose: bool = False
    quiet: bool = False


state = State()
