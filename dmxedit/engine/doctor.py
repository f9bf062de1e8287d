"""``dmxedit doctor``: every check a first run needs, in the order of SPEC section 11, none
of which generates anything (the only request with the key is ``GET /models``).

Each check returns a :class:`Check`: its name, ``ok`` / ``warn`` / ``fail`` (or ``skip``
when an earlier failure makes it meaningless), what it found and what to do. A failure
carries the exit code of its kind; :func:`exit_code` gives the run's. No check prints the
API key (only its masked form) or the system token. The local checks (config file, key,
base URL, output folder, ledger) are in :mod:`dmxedit.engine.checks`; the ones that reach
the network, and :func:`run`, are here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dmxedit.api.account import Account
from dmxedit.api.client import Client, reach
from dmxedit.api.proxies import case_conflicts, configured, proxy_for, proxy_for_downloads
from dmxedit.api.retry import Policy
from dmxedit.core import env as environment
from dmxedit.core.errors import DmxError, ExitCode, InputError
from dmxedit.core.events import Events
from dmxedit.core.i18n import P, T, joined
from dmxedit.core.modelfacts import UNKNOWN_WORDS, door_words, unknown_hint
from dmxedit.core.modelspec import Model
from dmxedit.core.modeltable import model_for, nearest
from dmxedit.core.settings import FLAG, Settings, config_path, resolve
from dmxedit.engine.checks import (
    FAIL,
    OK,
    SKIP,
    WARN,
    Check,
    check_base_url,
    check_config,
    check_key,
    check_ledger,
    check_output,
    exit_code,
    fail,
    skip,
    source_of,
)

if TYPE_CHECKING:
    from dmxedit.api.client import ModelInfo

#: Read timeout of the model list (a few hundred kB); connecting waits connect-timeout.
MODELS_READ_TIMEOUT = 30.0
#: Below this, a balance gets a warning (CNY).
LOW_BALANCE = 1.0


# -- 4. proxies ----------------------------------------------------------------------------


def check_proxy(url: str, env: Mapping[str, str] | None = None) -> Check:
    """The proxy requests will use for the base URL, and whether it can be used; and the
    one result downloads from other hosts go through, when it is another."""

    name = "proxy"
    host = urlsplit(url).hostname or url
    conflicts = case_conflicts(environment.given(env))
    proxy = proxy_for(url)
    if proxy is not None and proxy.problem is not None:
        return fail(name, proxy.problem, proxy.hint, ExitCode.AUTH)
    if proxy is not None:
        detail = T("Through {url} (from {source}).", url=proxy.url, source=proxy.source)
    elif (set_for := configured(url)) is not None:
        detail = T(
            "{source} is set, but NO_PROXY excludes {host}: direct connection.",
            source=set_for.source,
            host=host,
        )
    else:
        detail = T("No proxy is set for it: dmxedit connects directly.")
    downloads = proxy_for_downloads()
    if downloads is not None and downloads != proxy:
        if downloads.problem is not None:
            # The request would go out and be paid for; only its download would fail.
            return Check(
                name,
                WARN,
                T(
                    "{detail} But result images are downloaded from other hosts, "
                    "through a proxy that cannot be used: {problem} Each download "
                    "would fail after the image is paid for (exit 6; `dmxedit "
                    "recover` fetches it once this is fixed).",
                    detail=detail,
                    problem=downloads.problem,
                ),
                T(
                    "{hint} Or add the result hosts to NO_PROXY, or use --format "
                    "b64_json (no download).",
                    hint=downloads.hint,
                ),
            )
        detail = T(
            "{detail} Result downloads from other hosts go through {url} (from {source}).",
            detail=detail,
            url=downloads.url,
            source=downloads.source,
        )
    if conflicts:
        return Check(
            name,
            WARN,
            T("{detail} {conflicts}.", detail=detail, conflicts=joined(conflicts, "; ")),
            T("Set one of them."),
        )
    return Check(name, OK, detail)


# -- 5. the site -----------------------------------------------------------------------------


def check_site(url: str, connect_timeout: float) -> Check:
    """The site answers: DNS, proxy, TCP and TLS within the connect timeout."""

    name = "site"
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}/"
    try:
        reached = reach(origin, connect_timeout)
    except DmxError as exc:
        return fail(name, exc.message, exc.hint, exc.exit_code)
    how = T("over HTTPS") if parts.scheme == "https" else T("over plain HTTP")
    if reached.status == 407:
        return fail(
            name,
            T(
                "The proxy between you and {netloc} asks for a user name and password (HTTP 407).",
                netloc=parts.netloc,
            ),
            T("Put them in the proxy URL: http://USER:PASSWORD@HOST:PORT."),
            ExitCode.AUTH,
        )
    took = f"{reached.seconds * 1000:.0f} ms"
    if reached.status >= 500 and reached.status not in (501, 505):  # not: HEAD unsupported
        return Check(
            name,
            WARN,
            T(
                "{netloc} answered HTTP {status} {how} in {took}: it may be having trouble.",
                netloc=parts.netloc,
                status=reached.status,
                how=how,
                took=took,
            ),
            T("If edits fail with 5xx, try again later."),
        )
    return Check(
        name,
        OK,
        T(
            "{netloc} answered {how} in {took}.",
            netloc=parts.netloc,
            how=how,
            took=took,
        ),
    )


# -- 6. the key accepted, 7. the model --------------------------------------------------------


def check_auth(
    settings: Settings, key: str, events: Events | None = None
) -> tuple[Check, list[ModelInfo] | None]:
    """``GET /models`` with the key answers 200: the key is accepted on this site."""

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
        return fail(name, exc.message, exc.hint, exc.exit_code), None
    finally:
        client.close()
    images = sum(1 for m in models if m.image)
    if not models:
        return (
            Check(
                name,
                WARN,
                T("The key is accepted, but its model list is empty."),
                T("Check the key's group and model limits on your DMXAPI site."),
            ),
            models,
        )
    return (
        Check(
            name,
            OK,
            P(
                "The key is accepted: it can use {count} model, {images} of them for images.",
                "The key is accepted: it can use {count} models, {images} of them for images.",
                len(models),
                images=images,
            ),
        ),
        models,
    )


def check_model(settings: Settings, models: list[ModelInfo] | None, blocked: str = "") -> Check:
    """The configured model is one the key can use (else DMXAPI answers 503 no channel)
    and one dmxedit's model table knows (else its sizes and options go unchecked); its
    door. ``models`` None: the key's list could not be read (``blocked`` says why)."""
    name = "model"
    model = settings.model
    source = source_of(settings, "model")
    spec = model_for(model)
    if models is None:
        if spec is not None:
            return skip(name, blocked)
        return Check(
            name,
            WARN,
            T(
                "{model} (from {source}) is not in dmxedit's model table: "
                "{unknown_words}; its sizes and options are not checked before "
                "sending (the key's list was not read: {blocked}).",
                model=model,
                source=source,
                unknown_words=UNKNOWN_WORDS,
                blocked=blocked,
            ),
            unknown_hint(model),
        )
    ids = [m.id for m in models]
    if model not in ids:
        return _not_listed(model, source, ids, spec)
    info = next(m for m in models if m.id == model)
    if spec is None:
        odd = "" if info.image else T(" It does not look like an image model either.")
        return Check(
            name,
            WARN,
            T(
                "{model} (from {source}) is in the key's list but not in "
                "dmxedit's model table: {unknown_words}; its sizes and options "
                "are not checked before sending.{odd}",
                model=model,
                source=source,
                unknown_words=UNKNOWN_WORDS,
                odd=odd,
            ),
            unknown_hint(model),
        )
    if not info.image:
        return Check(
            name,
            WARN,
            T(
                "{model} (from {source}) is in the key's list but does not "
                "look like an image model.",
                model=model,
                source=source,
            ),
            T("See `dmxedit models` for the image models."),
        )
    return Check(
        name,
        OK,
        T(
            "{model} (from {source}) is one the key can use; dmxedit knows it ({door_words}).",
            model=model,
            source=source,
            door_words=door_words(spec),
        ),
    )


def _not_listed(model: str, source: str, ids: list[str], spec: Model | None) -> Check:
    close = [m for m in ids if m.casefold() == model.casefold()]
    close += [m for m in difflib.get_close_matches(model, ids, n=3, cutoff=0.6) if m not in close]
    guess = T("Did you mean {names}? ", names=" or ".join(close[:3])) if close else ""
    known = nearest(model)
    if spec is not None:
        table = T(
            " dmxedit knows it ({door_words}), but the key's list lacks it.",
            door_words=door_words(spec),
        )
    elif known is not None:
        table = T(
            " Nor is it in dmxedit's model table: the nearest known model is {known}.",
            known=known,
        )
    else:
        table = T(" Nor is it in dmxedit's model table.")
    # A warning (SPEC 12): the key's list can lag behind what DMXAPI serves it.
    return Check(
        "model",
        WARN,
        T(
            "The key may not be able to use the model {model} (from "
            "{source}): it is not among its {n_ids} models, so an edit may "
            'get 503 "no available channel".{table}',
            model=model,
            source=source,
            n_ids=len(ids),
            table=table,
        ),
        T(
            "{guess}`dmxedit models` lists them; then `dmxedit config set model NAME`.",
            guess=guess,
        ),
    )


# -- 10. the balance (with a system token) ----------------------------------------------------


def read_balance(settings: Settings, events: Events | None = None) -> float:
    """The account's balance in CNY, read with the system token and user id (SPEC 8)."""

    with Account(settings, read_timeout=MODELS_READ_TIMEOUT, events=events) as account:
        return account.balance().cny


def check_balance(settings: Settings, events: Events | None = None) -> Check:
    """With a system token: the balance can be read (the user id is set too), and is not
    used up."""
    name = "balance"
    try:
        cny = read_balance(settings, events)
    except DmxError as exc:
        return fail(name, exc.message, exc.hint, exc.exit_code)
    if cny <= 0:
        return fail(
            name,
            T(
                "The balance is {cny:.2f} CNY: DMXAPI will refuse paid requests.",
                cny=cny,
            ),
            T("Top up on your DMXAPI site."),
            ExitCode.AUTH,
        )
    if cny < LOW_BALANCE:
        return Check(
            name,
            WARN,
            T("The balance is {cny:.2f} CNY.", cny=cny),
            T("Top up soon on your DMXAPI site."),
        )
    return Check(name, OK, T("The balance is {cny:.2f} CNY.", cny=cny))


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


def _reach(
    done: _Run, settings: Settings, invalid: Mapping[str, InputError], env: Mapping[str, str]
) -> str | None:
    """The proxy and site checks; why the site cannot be used (None: it can)."""
    url = settings.base_url
    blocked: str | None = T("the base URL is not usable") if "base-url" in invalid else None
    wrong = invalid.get("base-url")
    if wrong is not None and wrong.details.get("fixed"):
        url = str(wrong.details["base_url"])  # only its path is wrong: its site can be checked
        blocked = None
    proxy = done.add(check_proxy(url, env) if blocked is None else skip("proxy", blocked))
    if proxy.status == FAIL:
        blocked = T("the proxy cannot be used")
    site = done.add(
        check_site(url, settings.connect_timeout) if blocked is None else skip("site", blocked)
    )
    if site.status == FAIL:
        blocked = T("the site cannot be reached")
    return blocked


def _auth_and_model(
    done: _Run, settings: Settings, blocked: str | None, events: Events | None
) -> None:
    """The key accepted (``GET /models``) and the model among the key's, unless
    ``blocked`` says why they cannot be checked."""
    models: list[ModelInfo] | None = None
    if blocked is None:
        auth, models = check_auth(settings, settings.api_key or "", events)
        done.add(auth)
        blocked = T("the key was not accepted") if models is None else None
    else:
        done.add(skip("auth", blocked))
    done.add(check_model(settings, models, str(blocked)))


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
    env = environment.given(env)
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
    unreachable = _reach(done, settings, invalid, env)
    blocked = unreachable  # the account API is on the same site
    if blocked is None and base.status == FAIL:
        blocked = T("the base URL is wrong")  # its host answers; its path would not
    if blocked is None and key.status == FAIL:
        blocked = T("there is no key that can be sent")
    _auth_and_model(done, settings, blocked, events)
    done.add(check_output(settings))
    done.add(check_ledger(settings, env))
    if settings.system_token:
        check = (
            check_balance(settings, events) if unreachable is None else skip("balance", unreachable)
        )
        done.add(check)
    return done.checks


__all__ = [
    "FAIL",
    "OK",
    "SKIP",
    "WARN",
    "Check",
    "check_base_url",
    "check_config",
    "check_key",
    "check_ledger",
    "check_output",
    "exit_code",
    "read_balance",
    "run",
]
