"""``dmxedit doctor``: every check a first run needs, in the order of SPEC section 11, none
of which generates anything (the only request with the key is ``GET /models``).

Each check returns a :class:`Check`: its name, ``ok`` / ``warn`` / ``fail`` (or ``skip``
when an earlier failure makes it meaningless), what it found and what to do. A failure
carries the exit code of its kind; :func:`exit_code` gives the run's. No check prints the
API key (only its masked form) or the system token.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dmxedit.core.catalog import ENDPOINTS, SITES, is_dmxapi_host
from dmxedit.core.errors import ConfigError, DmxError, ExitCode, InputError
from dmxedit.core.events import Events
from dmxedit.core.settings import (
    DEFAULT,
    ENV,
    ENV_CONFIG,
    ENV_KEY,
    FILE,
    FLAG,
    KEYS,
    Settings,
    config_path,
    default_config_path,
    insecure_permissions,
    key_problem,
    mask,
    plain_http,
    read_config,
    resolve,
)

if TYPE_CHECKING:
    from dmxedit.api.client import ModelInfo

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
#: Read timeout of the model list (a few hundred kB); connecting waits connect-timeout.
MODELS_READ_TIMEOUT = 30.0
#: Below this, a balance gets a warning (CNY).
LOW_BALANCE = 1.0

LOOPBACK = ("localhost", "127.0.0.1", "::1")


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


def _fail(name: str, detail: str, hint: str | None, code: ExitCode) -> Check:
    return Check(name, FAIL, detail, hint, code)


def _skip(name: str, why: str) -> Check:
    return Check(name, SKIP, f"Not checked: {why}.")


def _mode(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"


def _source(settings: Settings, name: str) -> str:
    """Where a setting came from, in words."""
    where = settings.sources.get(name, DEFAULT)
    key = KEYS[name]
    if where == FLAG:
        return f"--{name}" if not key.secret else "the options"
    if where == ENV:
        return key.env or "the environment"
    if where == FILE:
        return "the config file"
    return "the default"


# -- 1. the config file ------------------------------------------------------------------


def check_config(path: Path, env: Mapping[str, str]) -> tuple[Check, dict[str, Any]]:
    """The config file parses, its values are valid, it and its folder are private.
    Returns the check and the file's valid settings (for the checks that follow)."""
    name = "config"
    named = f" (from {ENV_CONFIG})" if env.get(ENV_CONFIG) else ""
    if not path.exists() and not path.is_symlink():
        return (
            Check(
                name,
                OK,
                f"No config file at {path}{named}: settings come from the environment and "
                "the defaults.",
            ),
            {},
        )
    try:
        data = read_config(path)
    except ConfigError as exc:
        return _fail(name, exc.message, exc.hint, exc.exit_code), {}
    valid: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in data.items():
        try:
            KEYS[key].check(f"{key} in {path}", raw)
        except InputError as exc:
            problems.append(exc.message)
        else:
            valid[key] = raw
    if problems:
        return (
            _fail(
                name,
                " ".join(problems),
                "Set it again with `dmxedit config set KEY VALUE`, or remove it with "
                "`dmxedit config unset KEY`.",
                ExitCode.USAGE,
            ),
            valid,
        )
    found = [f"{path}{named} parses ({len(data)} setting{'s' if len(data) != 1 else ''})"]
    warnings: list[str] = []
    fixes: list[str] = []
    if os.name == "posix":
        mode: int | None = None
        folder_mode: int | None = None
        try:
            mode = path.stat().st_mode
            folder_mode = path.parent.stat().st_mode
        except OSError:
            pass
        if mode is not None and folder_mode is not None:
            found.append(f"mode {_mode(mode)}, folder {_mode(folder_mode)}")
            # A file or folder others can write was refused when it was read.
            if insecure_permissions(path, data):
                warnings.append(f"it holds your API key and others can read it ({_mode(mode)})")
                fixes.append(f"chmod 600 {path}")
            own = path.parent == default_config_path().parent
            if own and folder_mode & 0o077:
                warnings.append(f"its folder is {_mode(folder_mode)}, not 0700")
                fixes.append(f"chmod 700 {path.parent}")
    if warnings:
        return Check(
            name, WARN, "; ".join([found[0], *warnings]) + ".", "Run: " + "; ".join(fixes)
        ), valid
    return Check(name, OK, ", ".join(found) + "."), valid


# -- 2. the key ----------------------------------------------------------------------------


def check_key(
    settings: Settings, file_data: Mapping[str, Any], invalid: Mapping[str, InputError]
) -> Check:
    """The key is set, can go into a header, has no pasted ``Bearer `` or quotes."""
    name = "key"
    if "api-key" in invalid:
        return _fail(name, invalid["api-key"].message, f"Set {ENV_KEY} to your key.", ExitCode.AUTH)
    key = settings.api_key
    if not key:
        return _fail(
            name,
            "No API key is set.",
            f"Run `dmxedit config set api-key` (it asks without echo), or set {ENV_KEY}. "
            "Keys are made on your DMXAPI site's token page.",
            ExitCode.AUTH,
        )
    source = _source(settings, "api-key")
    fix = f"Set it again (in {source}): `dmxedit config set api-key` asks for it without echo."
    if source == ENV_KEY:
        fix = f"Set {ENV_KEY} again without it (or unset it and use `dmxedit config set api-key`)."
    problem = key_problem(key)
    if problem is not None:
        return _fail(name, f"The key from {source} cannot be sent: {problem}.", fix, ExitCode.AUTH)
    shown = f"{mask(key)} from {source}"
    stored = file_data.get("api-key")
    if settings.sources.get("api-key") == ENV and isinstance(stored, str) and stored != key:
        return Check(
            name,
            WARN,
            f"{shown}; it overrides the config file's other key ({mask(stored)}).",
            f"Unset {ENV_KEY} to use the stored key, or `dmxedit config unset api-key`.",
        )
    if not key.startswith("sk-"):
        return Check(
            name,
            WARN,
            f"{shown} does not start with sk-, as DMXAPI keys do.",
            "Use a key from your site's token page (the system token is another thing).",
        )
    return Check(name, OK, f"{shown}.")


# -- 3. the base URL -----------------------------------------------------------------------


def check_base_url(settings: Settings, invalid: Mapping[str, InputError]) -> Check:
    """An http(s) URL ending in /v1; which DMXAPI site it is."""
    name = "base-url"
    if "base-url" in invalid:
        exc = invalid["base-url"]
        return _fail(name, exc.message, exc.hint, ExitCode.USAGE)
    url = settings.base_url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    origin = f"{parts.scheme}://{parts.netloc}"
    source = _source(settings, "base-url")
    path = parts.path.rstrip("/")
    notes: list[str] = []
    warnings: list[str] = []
    hints: list[str] = []
    for end in ENDPOINTS:
        if path.endswith(end):
            base = origin + path[: -len(end)]
            return _fail(
                name,
                f"{url} (from {source}) is an endpoint's URL, not the base URL.",
                f"Use the part before {end}: dmxedit config set base-url {base}",
                ExitCode.USAGE,
            )
    if not path.endswith("/v1"):  # a DMXAPI site without /v1 is invalid (settings)
        warnings.append("it does not end in /v1, as OpenAI-style base URLs do")
        hints.append(f"If requests get 404: dmxedit config set base-url {origin}{path}/v1")
    if plain_http(url) is not None:
        warnings.append("it is plain http, so the key travels unencrypted")
        hints.append("Use https://.")
    if host in SITES:
        notes.append(SITES[host])
    elif is_dmxapi_host(host):
        warnings.append(f"{host} is not one of DMXAPI's sites ({', '.join(SITES)})")
        hints.append("Use the site that issued your key, e.g. https://www.dmxapi.cn/v1.")
    else:
        notes.append("not a DMXAPI site")
    detail = f"{url} (from {source}; {', '.join(notes)})" if notes else f"{url} (from {source})"
    if warnings:
        return Check(name, WARN, detail + ": " + "; ".join(warnings) + ".", " ".join(hints))
    return Check(name, OK, detail + ".")


# -- 4. proxies ----------------------------------------------------------------------------


def check_proxy(url: str) -> Check:
    """The proxy requests will use for the base URL, and whether it can be used; and the
    one result downloads from other hosts go through, when it is another."""
    from dmxedit.api.proxies import case_conflicts, configured, proxy_for, proxy_for_downloads

    name = "proxy"
    host = urlsplit(url).hostname or url
    conflicts = case_conflicts()
    proxy = proxy_for(url)
    if proxy is not None and proxy.problem is not None:
        return _fail(name, proxy.problem, proxy.hint, ExitCode.AUTH)
    if proxy is not None:
        detail = f"Through {proxy.url} (from {proxy.source})."
    elif (set_for := configured(url)) is not None:
        detail = f"{set_for.source} is set, but NO_PROXY excludes {host}: direct connection."
    else:
        detail = "No proxy is set for it: dmxedit connects directly."
    downloads = proxy_for_downloads()
    if downloads is not None and downloads != proxy:
        if downloads.problem is not None:
            # The request would go out and be paid for; only its download would fail.
            return Check(
                name,
                WARN,
                f"{detail} But result images are downloaded from other hosts, through a "
                f"proxy that cannot be used: {downloads.problem} Each download would fail "
                "after the image is paid for "
                "(exit 6; `dmxedit recover` fetches it once this is fixed).",
                f"{downloads.hint} Or add the result hosts to NO_PROXY, or use --format "
                "b64_json (no download).",
            )
        detail += f" Result downloads from other hosts go through {downloads.url} (from " + (
            f"{downloads.source})."
        )
    if conflicts:
        return Check(name, WARN, detail + " " + "; ".join(conflicts) + ".", "Set one of them.")
    return Check(name, OK, detail)


# -- 5. the site -----------------------------------------------------------------------------


def check_site(url: str, connect_timeout: float) -> Check:
    """The site answers: DNS, proxy, TCP and TLS within the connect timeout."""
    from dmxedit.api.client import reach

    name = "site"
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}/"
    try:
        reached = reach(origin, connect_timeout)
    except DmxError as exc:
        return _fail(name, exc.message, exc.hint, exc.exit_code)
    how = "over HTTPS" if parts.scheme == "https" else "over plain HTTP"
    if reached.status == 407:
        return _fail(
            name,
            f"The proxy between you and {parts.netloc} asks for a user name and password "
            "(HTTP 407).",
            "Put them in the proxy URL: http://USER:PASSWORD@HOST:PORT.",
            ExitCode.AUTH,
        )
    took = f"{reached.seconds * 1000:.0f} ms"
    if reached.status >= 500 and reached.status not in (501, 505):  # not: HEAD unsupported
        return Check(
            name,
            WARN,
            f"{parts.netloc} answered HTTP {reached.status} {how} in {took}: it may be having "
            "trouble.",
            "If edits fail with 5xx, try again later.",
        )
    return Check(name, OK, f"{parts.netloc} answered {how} in {took}.")


# -- 6. the key accepted, 7. the model --------------------------------------------------------


def check_auth(
    settings: Settings, key: str, events: Events | None = None
) -> tuple[Check, list[ModelInfo] | None]:
    """``GET /models`` with the key answers 200: the key is accepted on this site."""
    from dmxedit.api.client import Client
    from dmxedit.api.retry import Policy

    name = "auth"
    client = Client(
        api_key=key,
        timeout=max(settings.connect_timeout, MODELS_READ_TIMEOUT),
        connect_timeout=settings.connect_timeout,
        policy=Policy(retries=0),
        events=events,
    )
    try:
        models = client.list_models(settings.base_url)
    except DmxError as exc:
        return _fail(name, exc.message, exc.hint, exc.exit_code), None
    finally:
        client.close()
    images = sum(1 for m in models if m.image)
    if not models:
        return (
            Check(
                name,
                WARN,
                "The key is accepted, but its model list is empty.",
                "Check the key's group and model limits on your DMXAPI site.",
            ),
            models,
        )
    return (
        Check(
            name,
            OK,
            f"The key is accepted: it can use {len(models)} model{'s' if len(models) != 1 else ''}"
            f", {images} of them for images.",
        ),
        models,
    )


def check_model(settings: Settings, models: list[ModelInfo]) -> Check:
    """The configured model is one the key can use (else DMXAPI answers 503 no channel)."""
    import difflib

    name = "model"
    model = settings.model
    source = _source(settings, "model")
    ids = [m.id for m in models]
    if model in ids:
        info = next(m for m in models if m.id == model)
        if not info.image:
            return Check(
                name,
                WARN,
                f"{model} (from {source}) is in the key's list but does not look like an image "
                "model.",
                "See `dmxedit models` for the image models.",
            )
        return Check(name, OK, f"{model} (from {source}) is one the key can use.")
    close = [m for m in ids if m.casefold() == model.casefold()]
    close += [m for m in difflib.get_close_matches(model, ids, n=3, cutoff=0.6) if m not in close]
    guess = f"Did you mean {' or '.join(close[:3])}? " if close else ""
    return _fail(
        name,
        f"The key cannot use the model {model} (from {source}): it is not among its "
        f'{len(ids)} models, so an edit gets 503 "no available channel".',
        f"{guess}`dmxedit models` lists them; then `dmxedit config set model NAME`.",
        ExitCode.USAGE,
    )


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
        return f"{base} is not a folder"
    try:
        _probe(base)
    except OSError as exc:
        return f"{base} cannot be written ({exc.strerror or exc})"
    return None


def check_output(settings: Settings) -> Check:
    """The output folder can be written (or created); enough free space for a result."""
    import shutil

    from dmxedit.core.catalog import MAX_RESULT_BYTES

    name = "output"
    folder = Path(settings.output).expanduser()
    shown = str(folder.absolute())
    source = _source(settings, "output")
    fix = "Choose another with -o DIR or `dmxedit config set output DIR`."
    if not folder.exists():
        why = _creatable(folder)
        if why is not None:
            return _fail(
                name, f"{shown} (from {source}) cannot be created: {why}.", fix, ExitCode.USAGE
            )
        return Check(name, OK, f"{shown} (from {source}) does not exist yet; it will be created.")
    if not folder.is_dir():
        return _fail(
            name, f"{shown} (from {source}) exists and is not a folder.", fix, ExitCode.USAGE
        )
    try:
        _probe(folder)
    except OSError as exc:
        return _fail(
            name,
            f"{shown} (from {source}) cannot be written: {exc.strerror or exc}.",
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
            f"{shown} (from {source}) is writable, but only {free / 2**20:.0f} MiB are free.",
            "A 4K result can take tens of MiB: free some space or choose another folder.",
        )
    return Check(name, OK, f"{shown} (from {source}) is writable.")


def check_ledger(settings: Settings, env: Mapping[str, str]) -> Check:
    """The ledger can be written (or created); it is private. Creates nothing."""
    import sqlite3

    from dmxedit.store.ledger import ENV_DATA_DIR, ENV_NO_HISTORY, enabled, ledger_path, open_ledger

    name = "ledger"
    if not enabled(settings.history, env):
        off = f"{ENV_NO_HISTORY} is set" if settings.history else "history is off"
        return Check(name, OK, f"Turned off ({off}): paid requests are not recorded.")
    path = ledger_path(env)
    fix = (
        f"Fix its folder's permissions, point {ENV_DATA_DIR} elsewhere, or turn it off with "
        f"`dmxedit config set history off` ({ENV_NO_HISTORY}=1)."
    )
    if not path.exists():
        blocked = _creatable(path.parent)
        if blocked is not None:
            return _fail(name, f"{path} cannot be created: {blocked}.", fix, ExitCode.AUTH)
        return Check(name, OK, f"No ledger yet; the first paid request creates {path}.")
    try:
        book = open_ledger(settings.history, env, create=False)
    except DmxError as exc:
        return _fail(name, exc.message, exc.hint, exc.exit_code)
    if book is None:  # removed meanwhile
        return Check(name, OK, f"No ledger yet; the first paid request creates {path}.")
    try:
        count = book.check_writable()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc).lower():
            return Check(name, OK, f"{path} is in use by another dmxedit run right now.")
        return _fail(name, f"{path} cannot be written: {exc}.", fix, ExitCode.AUTH)
    except sqlite3.Error as exc:
        return _fail(name, f"{path} cannot be written: {exc}.", fix, ExitCode.AUTH)
    finally:
        book.close()
    detail = f"{path}: {count} entr{'ies' if count != 1 else 'y'}, writable"
    if os.name == "posix":
        mode = path.stat().st_mode
        if mode & 0o077:
            return Check(
                name,
                WARN,
                f"{detail}; others can read it ({_mode(mode)}): it holds your prompts and "
                "result URLs.",
                f"Run: chmod 600 {path}",
            )
    return Check(name, OK, detail + ".")


# -- 10. the balance (with a system token) ----------------------------------------------------


def read_balance(settings: Settings, events: Events | None = None) -> float:
    """The account's balance in CNY, read with the system token and user id (SPEC 8)."""
    from dmxedit.api.account import Account

    with Account(settings, read_timeout=MODELS_READ_TIMEOUT, events=events) as account:
        return account.balance().cny


def check_balance(settings: Settings, events: Events | None = None) -> Check:
    """With a system token: the balance can be read (the user id is set too), and is not
    used up."""
    name = "balance"
    try:
        cny = read_balance(settings, events)
    except DmxError as exc:
        return _fail(name, exc.message, exc.hint, exc.exit_code)
    if cny <= 0:
        return _fail(
            name,
            f"The balance is {cny:.2f} CNY: DMXAPI will refuse paid requests.",
            "Top up on your DMXAPI site.",
            ExitCode.AUTH,
        )
    if cny < LOW_BALANCE:
        return Check(
            name, WARN, f"The balance is {cny:.2f} CNY.", "Top up soon on your DMXAPI site."
        )
    return Check(name, OK, f"The balance is {cny:.2f} CNY.")


# -- all of them ---------------------------------------------------------------------------


@dataclass
class _Run:
    checks: list[Check] = field(default_factory=list)
    on_check: Callable[[Check], None] | None = None

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        if self.on_check is not None:
            self.on_check(check)
        return check


def run(
    options: Any = None,
    *,
    env: Mapping[str, str] | None = None,
    on_check: Callable[[Check], None] | None = None,
    events: Events | None = None,
) -> list[Check]:
    """Every check, in SPEC order; ``on_check`` sees each one as it is made. ``options``
    is any object with Settings-named attributes (None = not given), as for ``resolve``;
    ``events.info`` hears of each request made (``--verbose``)."""
    env = os.environ if env is None else env
    done = _Run(on_check=on_check)
    path = config_path(env)
    config, data = check_config(path, env)
    done.add(config)
    invalid: dict[str, InputError] = {}
    settings = resolve(options, env=env, path=path, invalid=invalid, data=data)
    for name, exc in invalid.items():
        if settings.sources.get(name) == FLAG:
            raise exc  # a bad option is a usage error, as for any command
    key = done.add(check_key(settings, data, invalid))
    base = done.add(check_base_url(settings, invalid))
    url = settings.base_url
    blocked: str | None = "the base URL is not usable" if "base-url" in invalid else None
    wrong = invalid.get("base-url")
    if wrong is not None and wrong.details.get("fixed"):
        url = str(wrong.details["base_url"])  # only its path is wrong: its site can be checked
        blocked = None
    proxy = done.add(check_proxy(url) if blocked is None else _skip("proxy", blocked))
    if proxy.status == FAIL:
        blocked = "the proxy cannot be used"
    site = done.add(
        check_site(url, settings.connect_timeout) if blocked is None else _skip("site", blocked)
    )
    if site.status == FAIL:
        blocked = "the site cannot be reached"
    unreachable = blocked  # the account API is on the same site
    if blocked is None and base.status == FAIL:
        blocked = "the base URL is wrong"  # its host answers; its path would not
    if blocked is None and key.status == FAIL:
        blocked = "there is no key that can be sent"
    models: list[ModelInfo] | None = None
    if blocked is None:
        auth, models = check_auth(settings, settings.api_key or "", events)
        done.add(auth)
        blocked = "the key was not accepted" if models is None else None
    else:
        done.add(_skip("auth", blocked))
    done.add(check_model(settings, models) if models is not None else _skip("model", str(blocked)))
    done.add(check_output(settings))
    done.add(check_ledger(settings, env))
    if settings.system_token:
        check = (
            check_balance(settings, events)
            if unreachable is None
            else _skip("balance", unreachable)
        )
        done.add(check)
    return done.checks


__all__ = ["Check", "exit_code", "read_balance", "run"]
