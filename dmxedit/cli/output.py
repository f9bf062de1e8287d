"""Data on standard output: JSON objects and path lines (everything else is stderr).

Kept apart from ``common`` so that `ratios` and `config` import nothing more.
"""

from __future__ import annotations

import sys
from typing import Any


def emit_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def emit_lines(lines: list[str]) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")
    sys.stdout.flush()
