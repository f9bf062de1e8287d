"""Text from outside dmxedit's control: the server's words, headers and URLs, file names.

Three things are done to such text, each in one place:

- :func:`redact`: a secret the server echoes back (the API key in a redirect's
  ``Location``, a request id header, an error message, a result URL) is replaced by its
  masked form before the text is shown, stored or sent anywhere. The client and the
  account API call it on everything they receive.
- :func:`dumps`: JSON that keeps every value exact and can be written anywhere: control
  characters that ``json.dumps`` leaves raw (DEL, C1) and the lone surrogates that stand
  for a file name's undecodable bytes are written as ``\\u`` escapes, so the JSON is valid
  UTF-8 and reads back to the same value (the file name as the file system names it).
- :func:`escaped`: what a terminal is shown. Control characters (C0, DEL, C1, bidi
  overrides) are shown as escapes (``\\x1b``), so a hostile server cannot retitle the
  window, clear the screen or fake a line; a file name's undecodable byte is shown as
  ``\\xNN``. The command line's rendering calls it; ``--json`` output stays exact.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dmxedit.core.settings import mask

# C0 controls, DEL and C1 controls; the invisible marks and overrides that reorder text
# (Trojan Source); the line and paragraph separators; lone surrogates (undecodable bytes
# of a file name, or a broken escape in JSON).
_SHOWN_ESCAPED = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NOT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str], keep_undecodable: bool = False) -> str:
    char = match.group()
    if keep_undecodable and 0xDC80 <= ord(char) <= 0xDCFF:
        return char
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def escaped(text: str, *, keep_newlines: bool = False, keep_undecodable: bool = False) -> str:
    """``text`` safe to show on a terminal: every control character as an escape
    (``\\x1b``, ``\\n``), a file name's undecodable byte as ``\\xNN``. With
    ``keep_newlines`` a newline stays one (for dmxedit's own multi-line messages); with
    ``keep_undecodable`` an undecodable byte stays a surrogate (written out as the byte
    it stands for, where data goes to a file or a pipe)."""
    pattern = _NOT_NEWLINE if keep_newlines else _SHOWN_ESCAPED
    if keep_undecodable:
        return pattern.sub(lambda m: _escape(m, True), text)
    return pattern.sub(_escape, text)


def undecodable(text: str) -> bool:
    """True when ``text`` holds lone surrogates (a file name's undecodable bytes)."""
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, **options)``, exact and valid UTF-8: DEL,
    C1 controls and lone surrogates are written as ``\\u`` escapes (outside strings JSON
    has only ASCII, so this touches string contents only)."""
    text = json.dumps(value, ensure_ascii=False, **options)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def redact(value: Any, *secrets: str | None) -> Any:
    """``value`` with every secret replaced by its masked form (``sk-…abcd``): a text, or
    the texts inside a JSON-like value (dicts and lists, keys too). The one redaction
    every text from a server goes through before it is shown or stored."""

    known = [s for s in dict.fromkeys(secrets) if s]
    if not known:
        return value

    def clean(item: Any) -> Any:
        if isinstance(item, str):
            for secret in known:
                if secret in item:
                    item = item.replace(secret, mask(secret))
            return item
        if isinstance(item, dict):
            return {clean(k): clean(v) for k, v in item.items()}
        if isinstance(item, list):
            return [clean(v) for v in item]
        if isinstance(item, tuple):
            return tuple(clean(v) for v in item)
        return item

    return clean(value)


def storable(value: Any) -> Any:
    """``value`` with every string made storable: a lone surrogate (half an emoji a relay
    cut) and NUL are kept as the escapes ``\\udXXX`` and ``\\u0000`` (SQLite, UTF-8
    files and terminals refuse them raw). Lists and dicts are walked."""
    if isinstance(value, str):
        if "\x00" in value or not _encodable(value):
            return _escape_unstorable(value)
        return value
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, tuple):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escape_unstorable(text: str) -> str:
    out = []
    for char in text:
        code = ord(char)
        if code == 0 or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


__all__ = ["dumps", "escaped", "redact", "storable", "undecodable"]
