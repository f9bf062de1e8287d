"""The local checks of ``dmxedit doctor`` (SPEC section 11): the config file, the key,
the base URL, the output folder and the ledger, none of which sends anything; and the
:class:`Check` every check returns. The checks that reach the network, and the order
they run in, are in :mod:`dmxedit.engine.doctor`.

Over 500 lines because its messages are gettext templates (issue #26): each
``T(...)`` names its fields on lines of their own, so a translator sees them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dmxedit.core import env as environment
from dmxedit.core.catalog import ENDPOINTS, MAX_RESULT_BYTES, SITES, is_dmxapi_host
from dmxedit.core.errors import ConfigError, DmxError, ExitCode, InputError
from dmxedit.core.i18n import P, T, Text, joined
from dmxedit.core.settings import (
    DEFAULT,
    ENV,
    ENV_KEY,
    FILE,
    FLAG,
    KEYS,
    Settings,
    default_config_path,
    insecure_permissions,
    key_problem,
    mask,
    plain_http,
    read_config,
)
from dmxedit.store.ledger import enabled, ledger_path, open_ledger

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass(frozen=True)
class Check:
    """One check's verdict: ``status`` is ok, warn, fail or skip; ``code`` is a failure's
    exit code (the kind of problem)."""

    name: str
    status: str
    detail: str
    hint: str | None = None
    code: ExitCode | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "hint": self.hint}


def exit_code(checks: list[Check]) -> int:
    """0 when nothing failed (warnings allowed), else the first failure's exit code."""
    for check in checks:
        if check.status == FAIL:
            return int(check.code or ExitCode.INTERNAL)
    return 0


def fail(name: str, detail: str, hint: str | None, code: ExitCode) -> Check:
    return Check(name, FAIL, detail, hint, code)


def skip(name: str, why: str) -> Check:
    return Check(name, SKIP, T("Not checked: {why}.", why=why))


def _mode(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"


def source_of(settings: Settings, name: str) -> str:
    """Where a setting came from, in words."""
    where = settings.sources.get(name, DEFAULT)
    key = KEYS[name]
    if where == FLAG:
        return T("--{name}", name=name) if not key.secret else T("the options")
    if where == ENV:
        return key.env or T("the environment")
    if where == FILE:
        return T("the config file")
    return T("the default")


# -- 1. the config file ------------------------------------------------------------------


def check_config(path: Path, env: Mapping[str, str]) -> tuple[Check, dict[str, Any]]:
    """The config file parses, its values are valid, it and its folder are private.
    Returns the check and the file's valid settings (for the checks that follow)."""
    name = "config"
    named = T(" (from {config})", config=environment.CONFIG) if environment.config_file(env) else ""
    if not path.exists() and not path.is_symlink():
        return (
            Check(
                name,
                OK,
                T(
                    "No config file at {path}{named}: settings come from the "
                    "environment and the defaults.",
                    path=path,
                    named=named,
                ),
            ),
            {},
        )
    try:
        data = read_config(path)
    except ConfigError as exc:
        return fail(name, exc.message, exc.hint, exc.exit_code), {}
    valid, problems = _valid_settings(path, data)
    if problems:
        return (
            fail(
                name,
                " ".join(problems),
                T(
                    "Set it again with `dmxedit config set KEY VALUE`, or remove "
                    "it with `dmxedit config unset KEY`.",
                ),
                ExitCode.USAGE,
            ),
            valid,
        )
    found: list[str] = [
        P(
            "{path}{named} parses ({count} setting)",
            "{path}{named} parses ({count} settings)",
            len(data),
            path=path,
            named=named,
        )
    ]
    modes, warnings, fixes = _config_permissions(path, data)
    found += modes
    if warnings:
        return Check(
            name,
            WARN,
            T("{found}; {warnings}.", found=found[0], warnings=joined(warnings, "; ")),
            T("Run: {fixes}", fixes="; ".join(fixes)),
        ), valid
    return Check(name, OK, T("{found}.", found=joined(found, ", "))), valid


def _valid_settings(path: Path, data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The config file's valid settings, and what is wrong with the others."""
    valid: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in data.items():
        try:
            KEYS[key].check(f"{key} in {path}", raw)
        except InputError as exc:
            problems.append(exc.message)
        else:
            valid[key] = raw
    return valid, problems


def _config_permissions(
    path: Path, data: Mapping[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    """The config file's and its folder's modes (found, warnings, fixes); POSIX only."""
    if os.name != "posix":
        return [], [], []
    try:
        mode = path.stat().st_mode
        folder_mode = path.parent.stat().st_mode
    except OSError:
        return [], [], []
    warnings: list[str] = []
    fixes: list[str] = []
    # A file or folder others can write was refused when it was read.
    if insecure_permissions(path, data):
        warnings.append(
            T(
                "it holds your API key and others can read it ({mode})",
                mode=_mode(mode),
            )
        )
        fixes.append(f"chmod 600 {path}")
    own = path.parent == default_config_path().parent
    if own and folder_mode & 0o077:
        warnings.append(T("its folder is {mode}, not 0700", mode=_mode(folder_mode)))
        fixes.append(f"chmod 700 {path.parent}")
    modes = T("mode {mode}, folder {folder_mode}", mode=_mode(mode), folder_mode=_mode(folder_mode))
    return [modes], warnings, fixes


# -- 2. the key ----------------------------------------------------------------------------


def check_key(
    settings: Settings, file_data: Mapping[str, Any], invalid: Mapping[str, InputError]
) -> Check:
    """The key is set, can go into a header, has no pasted ``Bearer `` or quotes."""
    name = "key"
    if "api-key" in invalid:
        return fail(
            name,
            invalid["api-key"].message,
            T("Set {env_key} to your key.", env_key=ENV_KEY),
            ExitCode.AUTH,
        )
    key = settings.api_key
    if not key:
        return fail(
            name,
            T("No API key is set."),
            T(
                "Run `dmxedit config set api-key` (it asks without echo), or "
                "set {env_key}. Keys are made on your DMXAPI site's token page.",
                env_key=ENV_KEY,
            ),
            ExitCode.AUTH,
        )
    source = source_of(settings, "api-key")
    fix = T(
        "Set it again (in {source}): `dmxedit config set api-key` asks for it without echo.",
        source=source,
    )
    if source == ENV_KEY:
        fix = T(
            "Set {env_key} again without it (or unset it and use `dmxedit config set api-key`).",
            env_key=ENV_KEY,
        )
    problem = key_problem(key)
    if problem is not None:
        return fail(
            name,
            T(
                "The key from {source} cannot be sent: {problem}.",
                source=source,
                problem=problem,
            ),
            fix,
            ExitCode.AUTH,
        )
    shown = T("{key} from {source}", key=mask(key), source=source)
    stored = file_data.get("api-key")
    if settings.sources.get("api-key") == ENV and isinstance(stored, str) and stored != key:
        return Check(
            name,
            WARN,
            T(
                "{shown}; it overrides the config file's other key ({mask}).",
                shown=shown,
                mask=mask(stored),
            ),
            T(
                "Unset {env_key} to use the stored key, or `dmxedit config unset api-key`.",
                env_key=ENV_KEY,
            ),
        )
    if not key.startswith("sk-"):
        return Check(
            name,
            WARN,
            T("{shown} does not start with sk-, as DMXAPI keys do.", shown=shown),
            T(
                "Use a key from your site's token page (the system token is another thing).",
            ),
        )
    return Check(name, OK, T("{shown}.", shown=shown))


# -- 3. the base URL -----------------------------------------------------------------------


def check_base_url(settings: Settings, invalid: Mapping[str, InputError]) -> Check:
    """An http(s) URL ending in /v1; which DMXAPI site it is."""
    name = "base-url"
    if "base-url" in invalid:
        exc = invalid["base-url"]
        return fail(name, exc.message, exc.hint, ExitCode.USAGE)
    url = settings.base_url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    origin = f"{parts.scheme}://{parts.netloc}"
    source = source_of(settings, "base-url")
    path = parts.path.rstrip("/")
    notes: list[str] = []
    warnings: list[str] = []
    hints: list[str] = []
    for end in ENDPOINTS:
        if path.endswith(end):
            base = origin + path[: -len(end)]
            return fail(
                name,
                T(
                    "{url} (from {source}) is an endpoint's URL, not the base URL.",
                    url=url,
                    source=source,
                ),
                T(
                    "Use the part before {end}: dmxedit config set base-url {base}",
                    end=end,
                    base=base,
                ),
                ExitCode.USAGE,
            )
    if not path.endswith("/v1"):  # a DMXAPI site without /v1 is invalid (settings)
        warnings.append(T("it does not end in /v1, as OpenAI-style base URLs do"))
        hints.append(
            T(
                "If requests get 404: dmxedit config set base-url {origin}{path}/v1",
                origin=origin,
                path=path,
            )
        )
    if plain_http(url) is not None:
        warnings.append(T("it is plain http, so the key travels unencrypted"))
        hints.append(T("Use https://."))
    if host in SITES:
        notes.append(Text(SITES[host]))  # marked in core/catalog with N_
    elif is_dmxapi_host(host):
        warnings.append(
            T(
                "{host} is not one of DMXAPI's sites ({sites})",
                host=host,
                sites=", ".join(SITES),
            )
        )
        hints.append(
            T(
                "Use the site that issued your key, e.g. https://www.dmxapi.cn/v1.",
            )
        )
    else:
        notes.append(T("not a DMXAPI site"))
    detail = (
        T("{url} (from {source}; {notes})", url=url, source=source, notes=joined(notes, ", "))
        if notes
        else T("{url} (from {source})", url=url, source=source)
    )
    if warnings:
        return Check(
            name,
            WARN,
            T("{detail}: {warnings}.", detail=detail, warnings=joined(warnings, "; ")),
            joined(hints, " "),
        )
    return Check(name, OK, T("{detail}.", detail=detail))


# -- 8. the output folder, 9. the ledger ------------------------------------------------------


def _probe(folder: Path) -> None:
    """Create and remove a temporary file in ``folder`` (OSError when it cannot)."""
    import tempfile

    with tempfile.TemporaryFile(prefix=".dmxedit-doctor-", dir=folder):
        pass


def _nearest(path: Path) -> Path:
    """The nearest part of ``path`` that exists (itself, or an ancestor)."""
    current = path
    while not current.exists() and current.parent != current:
        current = current.parent
    return current


def _creatable(path: Path) -> str | None:
    """Why the missing folder ``path`` could not be created, or None."""
    base = _nearest(path)
    if not base.is_dir():
        return T("{base} is not a folder", base=base)
    try:
        _probe(base)
    except OSError as exc:
        return T(
            "{base} cannot be written ({strerror})",
            base=base,
            strerror=exc.strerror or exc,
        )
    return None


def check_output(settings: Settings) -> Check:
    """The output folder can be written (or created); enough free space for a result."""
    import shutil

    name = "output"
    folder = Path(settings.output).expanduser()
    shown = str(folder.absolute())
    source = source_of(settings, "output")
    fix = T("Choose another with -o DIR or `dmxedit config set output DIR`.")
    if not folder.exists():
        why = _creatable(folder)
        if why is not None:
            return fail(
                name,
                T(
                    "{shown} (from {source}) cannot be created: {why}.",
                    shown=shown,
                    source=source,
                    why=why,
                ),
                fix,
                ExitCode.USAGE,
            )
        return Check(
            name,
            OK,
            T(
                "{shown} (from {source}) does not exist yet; it will be created.",
                shown=shown,
                source=source,
            ),
        )
    if not folder.is_dir():
        return fail(
            name,
            T(
                "{shown} (from {source}) exists and is not a folder.",
                shown=shown,
                source=source,
            ),
            fix,
            ExitCode.USAGE,
        )
    try:
        _probe(folder)
    except OSError as exc:
        return fail(
            name,
            T(
                "{shown} (from {source}) cannot be written: {strerror}.",
                shown=shown,
                source=source,
                strerror=exc.strerror or exc,
            ),
            fix,
            ExitCode.USAGE,
        )
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < MAX_RESULT_BYTES:
        return Check(
            name,
            WARN,
            T(
                "{shown} (from {source}) is writable, but only {value:.0f} MiB are free.",
                shown=shown,
                source=source,
                value=free / 2**20,
            ),
            T(
                "A 4K result can take tens of MiB: free some space or choose another folder.",
            ),
        )
    return Check(name, OK, T("{shown} (from {source}) is writable.", shown=shown, source=source))


def check_ledger(settings: Settings, env: Mapping[str, str]) -> Check:
    """The ledger can be written (or created); it is private. Creates nothing."""
    import sqlite3

    name = "ledger"
    if not enabled(settings.history, env):
        off = (
            T("{no_history} is set", no_history=environment.NO_HISTORY)
            if settings.history
            else T("history is off")
        )
        return Check(name, OK, T("Turned off ({off}): paid requests are not recorded.", off=off))
    path = ledger_path(env)
    fix = T(
        "Fix its folder's permissions, point {data_dir} elsewhere, or "
        "turn it off with `dmxedit config set history off` "
        "({no_history}=1).",
        data_dir=environment.DATA_DIR,
        no_history=environment.NO_HISTORY,
    )
    if not path.exists():
        blocked = _creatable(path.parent)
        if blocked is not None:
            return fail(
                name,
                T("{path} cannot be created: {blocked}.", path=path, blocked=blocked),
                fix,
                ExitCode.AUTH,
            )
        return Check(
            name, OK, T("No ledger yet; the first paid request creates {path}.", path=path)
        )
    try:
        book = open_ledger(settings.history, env, create=False)
    except DmxError as exc:
        return fail(name, exc.message, exc.hint, exc.exit_code)
    if book is None:  # removed meanwhile
        return Check(
            name, OK, T("No ledger yet; the first paid request creates {path}.", path=path)
        )
    try:
        count = book.check_writable()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc).lower():
            return Check(
                name, OK, T("{path} is in use by another dmxedit run right now.", path=path)
            )
        return fail(
            name, T("{path} cannot be written: {exc}.", path=path, exc=exc), fix, ExitCode.AUTH
        )
    except sqlite3.Error as exc:
        return fail(
            name, T("{path} cannot be written: {exc}.", path=path, exc=exc), fix, ExitCode.AUTH
        )
    finally:
        book.close()
    detail = P(
        "{path}: {count} entry, writable", "{path}: {count} entries, writable", count, path=path
    )
    if os.name == "posix":
        mode = path.stat().st_mode
        if mode & 0o077:
            return Check(
                name,
                WARN,
                T(
                    "{detail}; others can read it ({mode}): it holds your prompts and result URLs.",
                    detail=detail,
                    mode=_mode(mode),
                ),
                T("Run: chmod 600 {path}", path=path),
            )
    return Check(name, OK, T("{detail}.", detail=detail))
