"""Every setting's key (its name, the :class:`Settings` attribute, its check, its
environment variable) and the checks of their values, including the one check of a
secret that goes into a header (:func:`header_problem`) and its masked form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dmxedit.core import env as environment
from dmxedit.core.catalog import (
    DEFAULT_BASE_URL,
    ENDPOINTS,
    FORMATS,
    TIERS,
    is_dmxapi_host,
    parse_ratio,
)
from dmxedit.core.catalog import normalize_size as normalize_any_size
from dmxedit.core.errors import InputError
from dmxedit.core.i18n import LANGUAGES, T, normalize

if TYPE_CHECKING:
    from urllib.parse import SplitResult

ENV_KEY = environment.API_KEY
ENV_BASE_URL = environment.BASE_URL
ENV_SYSTEM_TOKEN = environment.SYSTEM_TOKEN
ENV_USER_ID = environment.USER_ID


def _text(key: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(T("{key} must be a non-empty text, not {raw!r}.", key=key, raw=raw))
    return raw.strip()


def _base_url(key: str, raw: Any) -> str:
    """An http(s) URL checked whole: host, port range, no spaces, query or fragment."""
    value = _text(key, raw).rstrip("/")
    parts, problem = _url_problem(value)
    if problem is not None:
        hint = f"Use a URL like {DEFAULT_BASE_URL} (it includes /v1)."
        raise InputError(
            T(
                "{key} {raw!r} is not usable: {problem}.",
                key=key,
                raw=raw,
                problem=problem,
            ),
            hint=hint,
        )
    assert parts is not None
    fixed = v1_fix(value)
    if fixed is not None and is_dmxapi_host(parts.hostname or ""):
        # Refused before anything is sent: DMXAPI answers 404 to every request on it.
        raise InputError(
            T(
                "{key} {raw!r} is not usable: it does not end in /v1, so DMXAPI answers 404.",
                key=key,
                raw=raw,
            ),
            hint=_v1_hint(key, fixed),
            details={"base_url": value, "fixed": fixed},
        )
    return value


def _url_problem(value: str) -> tuple[SplitResult | None, str | None]:
    """The URL's parts, and what keeps it from being an API base (None: nothing)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        return None, "its port is not a number from 1 to 65535"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return parts, "it is not an http(s) URL with a host"
    if any(c.isspace() for c in value):
        return parts, "it contains a space"
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return parts, "it has a query or a fragment (?...#...), which an API base cannot have"
    if port == 0:
        return parts, "its port is not a number from 1 to 65535"
    return parts, None


def _v1_hint(key: str, fixed: str) -> str:
    """How to give the base URL ``fixed`` where ``key`` (an option, the environment
    variable, the config file) gave a wrong one."""
    if key.startswith("--"):
        return f"Use {key} {fixed} (or store it: dmxedit config set base-url {fixed})."
    if key == ENV_BASE_URL:
        return (
            f"Set {ENV_BASE_URL}={fixed}, or unset it and store the URL: "
            f"dmxedit config set base-url {fixed}"
        )
    return f"Run: dmxedit config set base-url {fixed}"


def v1_fix(url: str) -> str | None:
    """The base URL to use instead of ``url`` when it does not end in /v1 (None when it
    does): without a pasted endpoint path (``/images/edits``...) and with ``/v1``; on a
    DMXAPI site always the site's own ``/v1``."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.lower().endswith("/v1"):
        return None
    origin = f"{parts.scheme}://{parts.netloc}"
    if is_dmxapi_host(parts.hostname or ""):
        return origin + "/v1"
    for end in ENDPOINTS:
        if path.endswith(end):
            path = path[: -len(end)]
            break
    return origin + (path if path.lower().endswith("/v1") else path + "/v1")


def _size(key: str, raw: Any) -> str:
    """A tier, WxH or auto written as dmxedit writes them; any other text is kept as
    given (a model not in the table gets it as is, SPEC 1) and the model's table refuses
    it once the model is known."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InputError(
            T(
                "{key} {raw!r} is not a size: {tiers}, WxH (e.g. 1536x1024) or auto.",
                key=key,
                raw=raw,
                tiers=", ".join(TIERS),
            ),
            hint=T("`dmxedit ratios --model MODEL` lists a model's sizes."),
        )
    return normalize_any_size(text) or text


def _format(key: str, raw: Any) -> str:
    if raw not in FORMATS:
        raise InputError(
            T(
                "{key} {raw!r} is not one of {formats}.",
                key=key,
                raw=raw,
                formats=", ".join(FORMATS),
            )
        )
    return str(raw)


def _positive_float(key: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if isinstance(raw, bool) or not value > 0 or value != value or value == float("inf"):
        raise InputError(
            T(
                "{key} {raw!r} is not a positive number of seconds.",
                key=key,
                raw=raw,
            )
        )
    return value


def _count(key: str, raw: Any) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = -1
    if isinstance(raw, bool) or isinstance(raw, float) or not 0 <= value <= 20:
        raise InputError(T("{key} {raw!r} is not a whole number from 0 to 20.", key=key, raw=raw))
    return value


def _ratio(key: str, raw: Any) -> str:
    # W:H of positive whole numbers, or auto; checked against the model's ratio table
    # once the model is known (request.check_ratio).
    text = _text(key, raw)
    if text.lower() == "auto":
        return "auto"
    shape = parse_ratio(text)
    if shape is None:
        raise InputError(
            T(
                "{key} {raw!r} is not a ratio W:H (e.g. 5:4) or auto.",
                key=key,
                raw=raw,
            ),
            hint=T("See `dmxedit ratios` for the ones nano-banana-2 makes."),
        )
    return f"{shape[0]}:{shape[1]}"


def _onoff(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    raise InputError(T("{key} {raw!r} is not on or off.", key=key, raw=raw))


def _system_token(key: str, raw: Any) -> str:
    """The account API's token: sent alone in Authorization, so header-safe and bare."""
    value = _text(key, raw)
    problem = header_problem(value, T("the account API takes the token alone"))
    if problem is not None:
        raise InputError(
            T("{key} cannot be sent: {problem}.", key=key, problem=problem),
            hint=T(
                "Copy the system token again from the DMXAPI console (工作台 → "
                "个人设置 → 更多选项 → 系统令牌).",
            ),
        )
    return value


def _user_id(key: str, raw: Any) -> str:
    text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not text.isascii() or not text.isdigit():
        raise InputError(
            T(
                "{key} {raw!r} is not a user id (a number, e.g. 12345).",
                key=key,
                raw=raw,
            ),
            hint=T("It is shown in the DMXAPI console under 工作台 → 个人设置."),
        )
    return text


def _language(key: str, raw: Any) -> str:
    """The language of messages: a catalog's (``zh_CN``; ``zh``, ``zh_CN.UTF-8`` too),
    ``en``, or ``auto`` (the environment's: LANGUAGE, LC_ALL, LC_MESSAGES, LANG)."""
    text = _text(key, raw)
    if text.lower() == "auto":
        return "auto"
    language = normalize(text)
    if language == "en" or language in LANGUAGES:
        return str(language)
    raise InputError(
        T(
            "{key} {raw!r} is not a language dmxedit speaks: {languages} or auto.",
            key=key,
            raw=raw,
            languages=", ".join(["en", *LANGUAGES]),
        )
    )


@dataclass(frozen=True)
class Key:
    """One setting: its name in the config file and on the command line, the
    :class:`Settings` attribute that holds it, how it is checked."""

    name: str
    attr: str
    check: Callable[[str, Any], Any]
    help: str
    env: str | None = None
    secret: bool = False


KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("api-key", "api_key", _text, "your DMXAPI key (sk-...)", ENV_KEY, secret=True),
        Key("base-url", "base_url", _base_url, "API base URL, including /v1", ENV_BASE_URL),
        Key("model", "model", _text, "model name"),
        Key("output", "output", _text, "output folder"),
        Key("ratio", "ratio", _ratio, "default aspect ratio (e.g. 5:4, auto)"),
        Key("size", "size", _size, "default size: 1K, 2K or 4K"),
        Key("format", "response_format", _format, "response format: url or b64_json"),
        Key("timeout", "timeout", _positive_float, "seconds to wait for the answer"),
        Key("connect-timeout", "connect_timeout", _positive_float, "seconds to connect"),
        Key(
            "download-timeout",
            "download_timeout",
            _positive_float,
            "seconds a result download may take",
        ),
        Key("retries", "retries", _count, "retries of calls that are safe to retry"),
        Key("history", "history", _onoff, "keep the ledger of paid requests: on or off"),
        Key(
            "system-token",
            "system_token",
            _system_token,
            "DMXAPI system token, for balance, usage and billing checks",
            ENV_SYSTEM_TOKEN,
            secret=True,
        ),
        Key("user-id", "user_id", _user_id, "your DMXAPI user id (a number)", ENV_USER_ID),
        Key(
            "language",
            "language",
            _language,
            # DMXEDIT_LANG is read by core/i18n.choose (before this setting), not here:
            # a language dmxedit does not speak there falls back to English, never fails.
            "the language of messages: zh_CN, en or auto (the locale's)",
        ),
    )
}


def key_problem(key: str) -> str | None:
    """What keeps a pasted key from being sent, in words saying what to remove (never
    the key itself). The one check of a key, from any source: option, environment,
    config file, standard input."""
    return header_problem(key, T("which dmxedit adds itself"))


# Quotes a shell, a .env file or a chat window wraps a pasted secret in: straight, curly,
# CJK corner brackets.
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u300c\u300d\u300e\u300f"


def _char_name(char: str) -> str:
    import unicodedata

    return f"U+{ord(char):04X} {unicodedata.name(char, 'a control character')}"


def header_problem(key: str, bearer: str) -> str | None:
    """What keeps a secret from going into an HTTP header as it should, in words that say
    what to remove (never the secret): quotes around it, a pasted ``Bearer `` or header
    name (``bearer`` says why that is wrong), whitespace or a character a header cannot
    carry."""
    lowered = key.lower()
    if lowered.startswith("authorization:"):
        return T(
            "it starts with 'Authorization:', the header's name: remove it, keep the key only",
        )
    if lowered.startswith("bearer ") or lowered == "bearer":
        return T("it starts with 'Bearer ', {bearer}: remove it", bearer=bearer)
    first, last = key[:1], key[-1:]
    if first in _QUOTES and last in _QUOTES and len(key) > 1:
        return T(
            "it is wrapped in quotes ({first} ... {last}), which "
            "would be sent as part of it: remove them",
            first=_char_name(first),
            last=_char_name(last),
        )
    if first and first in _QUOTES:
        return T(
            "it starts with a quote ({char_name}): remove it",
            char_name=_char_name(first),
        )
    if last and last in _QUOTES:
        return T(
            "it ends with a quote ({char_name}): remove it",
            char_name=_char_name(last),
        )
    for position, char in enumerate(key, start=1):
        if char.isspace():
            return T(
                "character {position} is whitespace ({char_name}), which no "
                "key has: remove it (a key is one word)",
                position=position,
                char_name=_char_name(char),
            )
        if not (33 <= ord(char) <= 126):
            return T(
                "character {position} is {char_name}, which a header cannot "
                "carry: remove it (retype the key if it was copied from a "
                "formatted page)",
                position=position,
                char_name=_char_name(char),
            )
    return None


def check_api_key(where: str, key: str) -> str:
    """``key`` if it can be sent as it is; InputError (exit 2) saying what to remove."""
    problem = key_problem(key)
    if problem is not None:
        raise InputError(
            T(
                "The API key {where} cannot be used: {problem}.",
                where=where,
                problem=problem,
            ),
            hint=T(
                "Copy the key again from your DMXAPI site's token page (sk-...), alone.",
            ),
        )
    return key


def mask(secret: str | None) -> str:
    """``sk-abcdef1234`` -> ``sk-…1234``: enough to recognise, never enough to use."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "…" * 3
    prefix = secret[:3] if secret.startswith("sk-") else ""
    return f"{prefix}…{secret[-4:]}"


def display(name: str, value: object) -> str:
    """A setting's value as the user writes it (``config list``, ``-v``): secrets masked,
    switches ``on``/``off``, nothing set ``""``."""
    if value is None:
        return ""
    if KEYS[name].secret:
        return mask(str(value))
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def known_key(name: str) -> Key:
    try:
        return KEYS[name]
    except KeyError:
        raise InputError(
            T("Unknown setting {name!r}.", name=name),
            hint=T("Known settings: {keys}.", keys=", ".join(KEYS)),
        ) from None


__all__ = [
    "KEYS",
    "Key",
    "check_api_key",
    "header_problem",
    "key_problem",
    "known_key",
    "mask",
    "v1_fix",
]
