"""Where each setting comes from (flag > environment > config file > default), and the
config file itself (TOML, 0600 in a 0700 folder, replaced atomically)."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dmxedit.core.catalog import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    ENDPOINTS,
    FORMATS,
    SIZES,
    is_dmxapi_host,
    normalize_size,
    parse_ratio,
)
from dmxedit.core.errors import ConfigError, InputError

ENV_KEY = "DMXAPI_API_KEY"
ENV_BASE_URL = "DMXAPI_BASE_URL"
ENV_CONFIG = "DMXEDIT_CONFIG"
ENV_SYSTEM_TOKEN = "DMXAPI_SYSTEM_TOKEN"
ENV_USER_ID = "DMXAPI_USER_ID"

#: Sources, in the order they win.
FLAG, ENV, FILE, DEFAULT = "flag", "env", "file", "default"


def _text(key: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(f"{key} must be a non-empty text, not {raw!r}.")
    return raw.strip()


def _base_url(key: str, raw: Any) -> str:
    """An http(s) URL checked whole: host, port range, no spaces, query or fragment."""
    from urllib.parse import urlsplit

    value = _text(key, raw).rstrip("/")
    hint = f"Use a URL like {DEFAULT_BASE_URL} (it includes /v1)."
    problem = None
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        parts, port, problem = None, None, "its port is not a number from 1 to 65535"
    if parts is not None:
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            problem = "it is not an http(s) URL with a host"
        elif any(c.isspace() for c in value):
            problem = "it contains a space"
        elif parts.query or parts.fragment or "?" in value or "#" in value:
            problem = "it has a query or a fragment (?...#...), which an API base cannot have"
        elif port == 0:
            problem = "its port is not a number from 1 to 65535"
    if problem is not None:
        raise InputError(f"{key} {raw!r} is not usable: {problem}.", hint=hint)
    assert parts is not None
    fixed = v1_fix(value)
    if fixed is not None and is_dmxapi_host(parts.hostname or ""):
        # Refused before anything is sent: DMXAPI answers 404 to every request on it.
        if key.startswith("--"):
            hint = f"Use {key} {fixed} (or store it: dmxedit config set base-url {fixed})."
        elif key == ENV_BASE_URL:
            hint = (
                f"Set {ENV_BASE_URL}={fixed}, or unset it and store the URL: "
                f"dmxedit config set base-url {fixed}"
            )
        else:
            hint = f"Run: dmxedit config set base-url {fixed}"
        raise InputError(
            f"{key} {raw!r} is not usable: it does not end in /v1, so DMXAPI answers 404.",
            hint=hint,
            details={"base_url": value, "fixed": fixed},
        )
    return value


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
    size = normalize_size(str(raw)) if isinstance(raw, str) else None
    if size is None:
        raise InputError(f"{key} {raw!r} is not one of {', '.join(SIZES)}.")
    return size


def _format(key: str, raw: Any) -> str:
    if raw not in FORMATS:
        raise InputError(f"{key} {raw!r} is not one of {', '.join(FORMATS)}.")
    return str(raw)


def _positive_float(key: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if isinstance(raw, bool) or not value > 0 or value != value or value == float("inf"):
        raise InputError(f"{key} {raw!r} is not a positive number of seconds.")
    return value


def _count(key: str, raw: Any) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = -1
    if isinstance(raw, bool) or isinstance(raw, float) or not 0 <= value <= 20:
        raise InputError(f"{key} {raw!r} is not a whole number from 0 to 20.")
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
            f"{key} {raw!r} is not a ratio W:H (e.g. 5:4) or auto.",
            hint="See `dmxedit ratios` for the ones nano-banana-2 makes.",
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
    raise InputError(f"{key} {raw!r} is not on or off.")


def _system_token(key: str, raw: Any) -> str:
    """The account API's token: sent alone in Authorization, so header-safe and bare."""
    value = _text(key, raw)
    problem = header_problem(value, "the account API takes the token alone")
    if problem is not None:
        raise InputError(
            f"{key} cannot be sent: {problem}.",
            hint="Copy the system token again from the DMXAPI console (工作台 → 个人设置 → "
            "更多选项 → 系统令牌).",
        )
    return value


def _user_id(key: str, raw: Any) -> str:
    text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not text.isascii() or not text.isdigit():
        raise InputError(
            f"{key} {raw!r} is not a user id (a number, e.g. 12345).",
            hint="It is shown in the DMXAPI console under 工作台 → 个人设置.",
        )
    return text


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
    )
}


def key_problem(key: str) -> str | None:
    """What keeps a pasted key from being sent, in words saying what to remove (never
    the key itself). The one check of a key, from any source: option, environment,
    config file, standard input."""
    return header_problem(key, "which dmxedit adds itself")


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
        return "it starts with 'Authorization:', the header's name: remove it, keep the key only"
    if lowered.startswith("bearer ") or lowered == "bearer":
        return f"it starts with 'Bearer ', {bearer}: remove it"
    first, last = key[:1], key[-1:]
    if first in _QUOTES and last in _QUOTES and len(key) > 1:
        return (
            f"it is wrapped in quotes ({_char_name(first)} ... {_char_name(last)}), which "
            "would be sent as part of it: remove them"
        )
    if first and first in _QUOTES:
        return f"it starts with a quote ({_char_name(first)}): remove it"
    if last and last in _QUOTES:
        return f"it ends with a quote ({_char_name(last)}): remove it"
    for position, char in enumerate(key, start=1):
        if char.isspace():
            return (
                f"character {position} is whitespace ({_char_name(char)}), which no key has: "
                "remove it (a key is one word)"
            )
        if not (33 <= ord(char) <= 126):
            return (
                f"character {position} is {_char_name(char)}, which a header cannot carry: "
                "remove it (retype the key if it was copied from a formatted page)"
            )
    return None


def check_api_key(where: str, key: str) -> str:
    """``key`` if it can be sent as it is; InputError (exit 2) saying what to remove."""
    problem = key_problem(key)
    if problem is not None:
        raise InputError(
            f"The API key {where} cannot be used: {problem}.",
            hint="Copy the key again from your DMXAPI site's token page (sk-...), alone.",
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


def default_config_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("dmxedit") / "config.toml"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file: ``$DMXEDIT_CONFIG`` or platformdirs' user config folder."""
    env = os.environ if env is None else env
    override = env.get(ENV_CONFIG)
    if override:
        return Path(override).expanduser()
    return default_config_path()


def read_config(path: Path) -> dict[str, Any]:
    """The config file's table; an empty one when the file does not exist. A file that
    others could have written is refused (:func:`check_trusted`)."""
    check_trusted(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise ConfigError(f"The config file {path} is a folder.") from None
    except OSError as exc:
        raise ConfigError(
            f"The config file {path} cannot be read: {exc.strerror or exc}.",
            hint=f"Fix its permissions, or point {ENV_CONFIG} at another file.",
        ) from None
    tomllib = _tomllib()
    if raw.startswith(b"\xef\xbb\xbf"):
        raise ConfigError(
            f"The config file {path} starts with a byte order mark (BOM), which TOML forbids.",
            hint="Save it as UTF-8 without a BOM (or remove it and use `dmxedit config set`).",
        )
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"The config file {path} cannot be parsed: {exc}.",
            hint="Fix or remove it; dmxedit never overwrites a file it cannot read.",
        ) from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"The config file {path} has unknown keys: {', '.join(unknown)}.",
            hint=f"Known keys: {', '.join(KEYS)}.",
        )
    return data


def _tomllib() -> Any:
    # Imported on first read: `--version`, `--help` and `ratios` never parse TOML.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    return tomllib


def _mode(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"


def check_trusted(path: Path) -> None:
    """Refuse a config file that someone else could have written (POSIX; like ssh's
    StrictModes): its ``base-url`` would receive the key. ConfigError (exit 3), with the
    fix, when the file is writable by group or others or owned by another user, or when
    its folder is: dmxedit's own folder always, a folder named through DMXEDIT_CONFIG
    unless it is sticky (like /tmp, where others cannot replace a file of yours). Nothing
    is checked when the file does not exist."""
    if os.name == "posix":  # Windows has ACLs, not these modes
        _check_trusted_posix(path)


def _check_trusted_posix(path: Path) -> None:
    try:
        info = os.stat(path)
    except OSError:
        return  # missing (or unreadable: reading it says so)
    me = os.geteuid()
    problem = _untrusted(info, me)
    if problem is not None:
        fix = f"chmod go-w {path}" if problem.startswith("writable") else None
        raise ConfigError(
            f"The config file {path} is {problem}: dmxedit does not use it, because "
            "whoever can change it can point base-url elsewhere and receive your API key.",
            hint=f"Run: {fix}" if fix else f"Use a config file of your own (see {ENV_CONFIG}).",
        )
    own = default_config_path().parent
    folders = dict.fromkeys([path.parent, Path(os.path.realpath(path)).parent])
    for folder in folders:
        try:
            info = os.stat(folder)
        except OSError:
            continue
        mine = os.path.realpath(folder) == os.path.realpath(own)
        if not mine and info.st_mode & stat.S_ISVTX:
            continue  # a sticky folder: nobody else can replace the file
        problem = _untrusted(info, me)
        if problem is not None:
            fix = f"chmod {'700' if mine else 'go-w'} {folder}"
            raise ConfigError(
                f"The folder of the config file {path} is {problem}: dmxedit does not use "
                "the file, because whoever can replace it can point base-url elsewhere and "
                "receive your API key.",
                hint=f"Run: {fix}" if problem.startswith("writable") else None,
            )


def _untrusted(info: os.stat_result, me: int) -> str | None:
    """Why a file or folder with this stat is not the user's alone, or None."""
    if info.st_uid not in (me, 0):
        return f"owned by another user (uid {info.st_uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "group and others" if info.st_mode & stat.S_IWOTH else "its group"
        if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_IWGRP:
            who = "others"
        return f"writable by {who} (mode {_mode(info.st_mode)})"
    return None


def insecure_permissions(path: Path, data: Mapping[str, Any]) -> bool:
    """True when the file holds a key (or system token) and group or others may read it."""
    if not any(k in data for k in ("api-key", "system-token")) or os.name != "posix":
        return False
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))


def write_config(path: Path, data: Mapping[str, Any]) -> None:
    """Replace the config file atomically: 0600 from creation, in a 0700 folder.

    The TOML is written by tomli-w (any character, outside the BMP too, stays parsable).
    dmxedit's own config folder gets mode 0700 even when it already existed; a folder
    named through DMXEDIT_CONFIG is the user's and keeps its mode.
    """
    import tempfile

    import tomli_w

    path = Path(os.path.realpath(path))  # through a symlink: update its target, keep the link
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix" and folder == default_config_path().parent:
            if stat.S_IMODE(folder.stat().st_mode) != 0o700:
                os.chmod(folder, 0o700)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ConfigError(f"Cannot write the config file {path}: {exc.strerror or exc}.") from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        ordered = {key: data[key] for key in KEYS if key in data}
        body = "# dmxedit settings; edit with `dmxedit config set KEY VALUE`\n"
        body += tomli_w.dumps(ordered)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@dataclass(frozen=True)
class Settings:
    """Resolved settings, typed: each value, and (in ``sources``) where it came from."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    output: str = "output"
    ratio: str | None = None
    size: str | None = None
    response_format: str = "url"
    timeout: float = 600.0
    connect_timeout: float = 10.0
    retries: int = 2
    history: bool = True
    system_token: str | None = field(default=None, repr=False)
    user_id: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None
    warnings: tuple[str, ...] = ()

    def value(self, name: str) -> Any:
        """A setting by its config name (``base-url``), for `config get` and `list`."""
        return getattr(self, known_key(name).attr)

    def overridden(self, values: Mapping[str, Any], source: str) -> Settings:
        """A copy with some settings (by config name; None = keep) given by ``source``,
        checked as any value is (a batch job's ``model``, ``ratio``...)."""
        changes: dict[str, Any] = {}
        sources = dict(self.sources)
        for name, raw in values.items():
            if raw is None:
                continue
            key = known_key(name)
            changes[key.attr] = key.check(name, raw)
            sources[name] = source
        return replace(self, **changes, sources=sources) if changes else self

    def require_key(self) -> str:
        """The key, checked to be sendable in an HTTP header (ConfigError, exit 3)."""
        if not self.api_key:
            raise ConfigError(
                "No API key is set.",
                hint=f"Run `dmxedit config set api-key` (it asks without echo), or set "
                f"{ENV_KEY}. Keys are made on your DMXAPI site's token page.",
            )
        problem = key_problem(self.api_key)
        if problem is not None:
            where = self.sources.get("api-key", "")
            source = {ENV: ENV_KEY, FILE: f"the config file {self.path}"}.get(where, "it")
            raise ConfigError(
                f"The API key cannot be sent: {problem}.",
                hint=f"Set it again without it (from {source}): "
                "`dmxedit config set api-key` asks for it without echo.",
            )
        return self.api_key

    @property
    def has_account(self) -> bool:
        """A system token and a user id are set: the account API can be asked."""
        return bool(self.system_token and self.user_id)

    def require_account(self) -> tuple[str, str]:
        """The system token and the user id (ConfigError, exit 3, saying how to set them)."""
        missing = [
            what
            for what, value in (("system token", self.system_token), ("user id", self.user_id))
            if not value
        ]
        if missing:
            raise ConfigError(
                f"No DMXAPI {' and no '.join(missing)} is set; the account API needs both "
                "(the API key does not open it).",
                hint="Run `dmxedit config set system-token` (it asks without echo) and "
                f"`dmxedit config set user-id NUMBER`, or set {ENV_SYSTEM_TOKEN} and "
                f"{ENV_USER_ID}. Both are in the DMXAPI console: 工作台 → 个人设置 (user id) "
                "→ 更多选项 → 系统令牌 (system token).",
            )
        assert self.system_token is not None and self.user_id is not None
        return self.system_token, self.user_id


def resolve(
    options: Any = None,
    *,
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
    invalid: dict[str, InputError] | None = None,
    data: Mapping[str, Any] | None = None,
) -> Settings:
    """Every setting from option > environment > config file > default, with its source.

    ``options`` is any object whose attributes are named like the :class:`Settings`
    attributes (an :class:`dmxedit.core.options.ImageOptions`); a None attribute is "not given".
    With ``invalid``, a value that fails its check is put there (by setting name) and the
    default stands in for it, instead of raising. ``data`` is the config file's table when
    the caller has read (and checked) it already.
    """
    env = os.environ if env is None else env
    path = config_path(env) if path is None else path
    data = read_config(path) if data is None else data
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, key in KEYS.items():
        flag = getattr(options, key.attr, None) if options is not None else None
        if flag is not None:
            try:
                values[key.attr] = key.check(f"--{name}", flag)
            except InputError as exc:
                if invalid is None:
                    raise
                invalid[name] = exc  # the caller reports it with the others it finds
            sources[name] = FLAG
        elif key.env and env.get(key.env):
            try:
                values[key.attr] = key.check(key.env, env[key.env])
            except InputError as exc:
                if invalid is None:
                    raise
                invalid[name] = exc  # `config list` shows it, marked invalid
            sources[name] = ENV
        elif name in data:
            values[key.attr] = key.check(f"{name} in {path}", data[name])
            sources[name] = FILE
        else:
            sources[name] = DEFAULT
    warnings: list[str] = []
    if insecure_permissions(path, data):
        held = "API key" if "api-key" in data else "system token"
        warnings.append(
            f"The config file {path} holds your {held} and is readable by others; "
            f"run: chmod 600 {path}",
        )
    base_url = values.get("base_url", DEFAULT_BASE_URL)
    fixed = v1_fix(base_url)
    if fixed is not None:  # not DMXAPI (refused above): maybe a relay with other paths
        warnings.append(
            f"The base URL {base_url} does not end in /v1, as OpenAI-style base URLs do; "
            f"if requests get 404, use {fixed}."
        )
    unencrypted = plain_http(values.get("base_url", DEFAULT_BASE_URL))
    if unencrypted is not None:
        warnings.append(unencrypted)
    return Settings(**values, sources=sources, path=path, warnings=tuple(warnings))


def plain_http(base_url: str) -> str | None:
    """A warning when ``base_url`` is plain http:// to another machine (the key would
    cross the network unencrypted); None for https and for this machine (loopback)."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    if parts.scheme.lower() != "http":
        return None
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return None
    import ipaddress

    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"The base URL {base_url} is plain http:// to {host}: your API key (and system "
        "token) would cross the network unencrypted, readable by anyone on the way. "
        "Use https://."
    )


def set_value(path: Path, name: str, raw: str) -> Any:
    """Check a value and store it in the config file; returns the stored value."""
    key = known_key(name)
    value = key.check(name, raw)
    if key.attr == "api_key":
        check_api_key("given", value)  # never stored as it could not be sent
    data = read_config(path)
    data[name] = value
    write_config(path, data)
    return value


def unset_value(path: Path, name: str) -> bool:
    """Remove a key from the config file; False when it was not there."""
    known_key(name)
    data = read_config(path)
    if name not in data:
        return False
    del data[name]
    write_config(path, data)
    return True


def known_key(name: str) -> Key:
    try:
        return KEYS[name]
    except KeyError:
        raise InputError(
            f"Unknown setting {name!r}.", hint=f"Known settings: {', '.join(KEYS)}."
        ) from None
