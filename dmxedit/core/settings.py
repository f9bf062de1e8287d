"""Where each setting comes from (flag > environment > config file > default), and the
config file itself (TOML, 0600 in a 0700 folder, replaced atomically)."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dmxedit.core import env as environment
from dmxedit.core.catalog import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
)
from dmxedit.core.errors import ConfigError, InputError
from dmxedit.core.i18n import N_, T
from dmxedit.core.keys import KEYS as KEYS
from dmxedit.core.keys import Key as Key
from dmxedit.core.keys import check_api_key as check_api_key
from dmxedit.core.keys import display as display
from dmxedit.core.keys import header_problem as header_problem
from dmxedit.core.keys import key_problem as key_problem
from dmxedit.core.keys import known_key as known_key
from dmxedit.core.keys import mask as mask
from dmxedit.core.keys import v1_fix as v1_fix

ENV_KEY = environment.API_KEY
ENV_BASE_URL = environment.BASE_URL
ENV_CONFIG = environment.CONFIG
ENV_SYSTEM_TOKEN = environment.SYSTEM_TOKEN
ENV_USER_ID = environment.USER_ID

#: Sources, in the order they win.
FLAG, ENV, FILE, DEFAULT = "flag", "env", "file", "default"
#: The sources as a person reads them (`config list`, `-v`; --json keeps the names above).
SOURCE_WORDS = {FLAG: N_("flag"), ENV: N_("env"), FILE: N_("file"), DEFAULT: N_("default")}


def default_config_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("dmxedit") / "config.toml"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file: ``$DMXEDIT_CONFIG`` or platformdirs' user config folder."""
    override = environment.config_file(environment.given(env))
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
        raise ConfigError(T("The config file {path} is a folder.", path=path)) from None
    except OSError as exc:
        raise ConfigError(
            T(
                "The config file {path} cannot be read: {strerror}.",
                path=path,
                strerror=exc.strerror or exc,
            ),
            hint=T(
                "Fix its permissions, or point {env_config} at another file.",
                env_config=ENV_CONFIG,
            ),
        ) from None
    tomllib = _tomllib()
    if raw.startswith(b"\xef\xbb\xbf"):
        raise ConfigError(
            T(
                "The config file {path} starts with a byte order mark (BOM), which TOML forbids.",
                path=path,
            ),
            hint=T(
                "Save it as UTF-8 without a BOM (or remove it and use `dmxedit config set`).",
            ),
        )
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            T("The config file {path} cannot be parsed: {exc}.", path=path, exc=exc),
            hint=T(
                "Fix or remove it; dmxedit never overwrites a file it cannot read.",
            ),
        ) from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            T(
                "The config file {path} has unknown keys: {unknown}.",
                path=path,
                unknown=", ".join(unknown),
            ),
            hint=T("Known keys: {keys}.", keys=", ".join(KEYS)),
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
            T(
                "The config file {path} is {problem}: dmxedit does not use it, "
                "because whoever can change it can point base-url elsewhere "
                "and receive your API key.",
                path=path,
                problem=problem,
            ),
            hint=T("Run: {fix}", fix=fix)
            if fix
            else T(
                "Use a config file of your own (see {env_config}).",
                env_config=ENV_CONFIG,
            ),
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
                T(
                    "The folder of the config file {path} is {problem}: dmxedit "
                    "does not use the file, because whoever can replace it can "
                    "point base-url elsewhere and receive your API key.",
                    path=path,
                    problem=problem,
                ),
                hint=T("Run: {fix}", fix=fix) if problem.startswith("writable") else None,
            )


def _untrusted(info: os.stat_result, me: int) -> str | None:
    """Why a file or folder with this stat is not the user's alone, or None."""
    if info.st_uid not in (me, 0):
        return T("owned by another user (uid {st_uid})", st_uid=info.st_uid)
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = T("group and others") if info.st_mode & stat.S_IWOTH else T("its group")
        if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_IWGRP:
            who = T("others")
        return T("writable by {who} (mode {mode})", who=who, mode=_mode(info.st_mode))
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
        raise ConfigError(
            T(
                "Cannot write the config file {path}: {strerror}.",
                path=path,
                strerror=exc.strerror or exc,
            )
        ) from None
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
    download_timeout: float = 300.0
    retries: int = 2
    history: bool = True
    system_token: str | None = field(default=None, repr=False)
    user_id: str | None = None
    language: str = "auto"
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
                T("No API key is set."),
                hint=T(
                    "Run `dmxedit config set api-key` (it asks without echo), or "
                    "set {env_key}. Keys are made on your DMXAPI site's token page.",
                    env_key=ENV_KEY,
                ),
            )
        problem = key_problem(self.api_key)
        if problem is not None:
            where = self.sources.get("api-key", "")
            source = {ENV: ENV_KEY, FILE: T("the config file {path}", path=self.path)}.get(
                where, T("it")
            )
            raise ConfigError(
                T("The API key cannot be sent: {problem}.", problem=problem),
                hint=T(
                    "Set it again without it (from {source}): `dmxedit config set "
                    "api-key` asks for it without echo.",
                    source=source,
                ),
            )
        return self.api_key

    @property
    def has_account(self) -> bool:
        """A system token and a user id are set: the account API can be asked."""
        return bool(self.system_token and self.user_id)

    def require_account(self) -> tuple[str, str]:
        """The system token and the user id (ConfigError, exit 3, saying how to set them)."""
        if not self.system_token or not self.user_id:
            if not self.system_token and not self.user_id:
                missing = T("system token and no user id")
            else:
                missing = T("system token") if not self.system_token else T("user id")
            raise ConfigError(
                T(
                    "No DMXAPI {missing} is set; the account API needs both (the "
                    "API key does not open it).",
                    missing=missing,
                ),
                hint=T(
                    "Run `dmxedit config set system-token` (it asks without echo) "
                    "and `dmxedit config set user-id NUMBER`, or set "
                    "{env_system_token} and {env_user_id}. Both are in the DMXAPI "
                    "console: 工作台 → 个人设置 (user id) → 更多选项 → 系统令牌 (system token).",
                    env_system_token=ENV_SYSTEM_TOKEN,
                    env_user_id=ENV_USER_ID,
                ),
            )
        assert self.system_token is not None and self.user_id is not None
        return self.system_token, self.user_id


def _source(
    name: str, key: Key, options: Any, env: Mapping[str, str], data: Mapping[str, Any], path: Path
) -> tuple[str, Any, str]:
    """Where one setting comes from: (source, raw value, the name its errors give)."""
    flag = getattr(options, key.attr, None) if options is not None else None
    if flag is not None:
        return FLAG, flag, f"--{name}"
    value = environment.setting(env, key.env)
    if value is not None and key.env:
        return ENV, value, key.env
    if name in data:
        return FILE, data[name], f"{name} in {path}"
    return DEFAULT, None, ""


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
    env = environment.given(env)
    path = config_path(env) if path is None else path
    data = read_config(path) if data is None else data
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, key in KEYS.items():
        source, raw, label = _source(name, key, options, env, data, path)
        sources[name] = source
        if source == DEFAULT:
            continue
        try:
            values[key.attr] = key.check(label, raw)
        except InputError as exc:
            if invalid is None or source == FILE:
                raise
            # the caller reports it with the others it finds (`config list` marks it
            # invalid); the default stands in for it
            invalid[name] = exc
    warnings: list[str] = []
    if insecure_permissions(path, data):
        held = T("API key") if "api-key" in data else T("system token")
        warnings.append(
            T(
                "The config file {path} holds your {held} and is readable by "
                "others; run: chmod 600 {path}",
                path=path,
                held=held,
            ),
        )
    base_url = values.get("base_url", DEFAULT_BASE_URL)
    fixed = v1_fix(base_url)
    if fixed is not None:  # not DMXAPI (refused above): maybe a relay with other paths
        warnings.append(
            T(
                "The base URL {base_url} does not end in /v1, as OpenAI-style "
                "base URLs do; if requests get 404, use {fixed}.",
                base_url=base_url,
                fixed=fixed,
            )
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
    return T(
        "The base URL {base_url} is plain http:// to {host}: your API "
        "key (and system token) would cross the network unencrypted, "
        "readable by anyone on the way. Use https://.",
        base_url=base_url,
        host=host,
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
