"""Which proxy a request to a URL goes through, and whether it can be used.

requests takes proxies from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``,
``ALL_PROXY``, lower or upper case, minus ``NO_PROXY``) and, when none is set there, from
the system's settings (the Windows registry, macOS's network preferences). A SOCKS proxy
needs PySocks (``pip install 'requests[socks]'``); without it requests fails only when it
sends, with an exception that names no variable. :func:`proxy_for` makes the same
choice requests will make, before anything is sent, so the pipeline, batch and
``dmxedit doctor`` can say which proxy applies and what is wrong with it.

Nothing here is imported by the light commands: requests is imported on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from dmxedit.core import env
from dmxedit.core.errors import ConfigError
from dmxedit.core.i18n import T

SOCKS_SCHEMES = ("socks4", "socks4a", "socks5", "socks5h")
SOCKS_INSTALL = "pip install 'requests[socks]'"
SYSTEM_SETTINGS = T("the system's proxy settings")


@dataclass(frozen=True)
class Proxy:
    """The proxy a URL goes through."""

    url: str  #: the proxy's URL, any password masked
    source: str  #: the variable it came from (``HTTPS_PROXY``...), or SYSTEM_SETTINGS
    problem: str | None = None  #: why requests cannot use it (a sentence), None if it can
    hint: str | None = None  #: what to do about the problem

    @property
    def usable(self) -> bool:
        return self.problem is None


def masked(proxy_url: str) -> str:
    """The proxy URL with its password (if any) replaced by ``***``."""
    parts = urlsplit(proxy_url if "://" in proxy_url else f"http://{proxy_url}")
    if parts.password is None:
        return proxy_url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _source(key: str, value: str, environ: Mapping[str, str]) -> str:
    """The environment variable that gave requests ``value`` for ``key`` (``https``,
    ``all``...): urllib prefers the lower-case name when both are set."""
    wanted = f"{key}_proxy"
    names = [n for n, v in environ.items() if n.lower() == wanted and v == value]
    if not names:
        return SYSTEM_SETTINGS
    return min(names, key=lambda n: (n != n.lower(), n))


def _socks_installed() -> bool:
    import importlib

    try:
        importlib.import_module("socks")  # PySocks, what urllib3's SOCKS support needs
    except ImportError:
        return False
    return True


def proxy_for(url: str) -> Proxy | None:
    """The proxy requests will use for ``url`` (None: it connects directly), with the
    variable it comes from and, when requests cannot use it, why and what to do.

    It asks requests itself (``get_environ_proxies``, ``select_proxy``: the process's
    environment, ``NO_PROXY``, then the system's settings), so the answer is the
    choice requests makes when it sends.
    """
    import requests.utils

    proxies = requests.utils.get_environ_proxies(url)
    chosen = requests.utils.select_proxy(url, proxies)
    if not chosen:
        return None
    key = next(k for k, v in proxies.items() if v == chosen)
    source = _source(key.split("://")[0], chosen, env.given(None))
    shown = masked(chosen)
    where = f"{source} ({shown})"
    full = chosen if "://" in chosen else f"http://{chosen}"  # requests' own default
    parts = urlsplit(full)
    scheme = parts.scheme.lower()
    unset = T("unset {source}", source=source) if source != SYSTEM_SETTINGS else T("change them")
    if scheme in SOCKS_SCHEMES:
        if _socks_installed():
            return Proxy(shown, source)
        return Proxy(
            shown,
            source,
            problem=T(
                "The proxy in {where} is a SOCKS proxy, and SOCKS support is not installed.",
                where=where,
            ),
            hint=T(
                "Install it with {socks_install} (for pipx: pipx inject "
                "dmxedit 'requests[socks]'), or {unset} to connect without it.",
                socks_install=SOCKS_INSTALL,
                unset=unset,
            ),
        )
    if scheme not in ("http", "https"):
        return Proxy(
            shown,
            source,
            problem=T(
                "The proxy in {where} has the scheme {scheme}://, which cannot "
                "be used (http://, https:// and socks5:// can).",
                where=where,
                scheme=scheme,
            ),
            hint=T(
                "Fix the proxy's address, or {unset} to connect without it.",
                unset=unset,
            ),
        )
    try:
        host = parts.hostname
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        host = None
    if not host:
        return Proxy(
            shown,
            source,
            problem=T(
                "The proxy in {where} is not a valid address (no host, or a bad port).",
                where=where,
            ),
            hint=T("Write it like http://proxy.example:8080, or {unset}.", unset=unset),
        )
    return Proxy(shown, source)


#: Result images come from storage hosts, not the API's: a host no NO_PROXY names stands
#: for them (``.invalid`` never resolves, and nothing is sent to it).
DOWNLOAD_HOSTS = ("https://result-host.invalid/", "http://result-host.invalid/")


def proxy_for_downloads() -> Proxy | None:
    """The proxy a result download from another host than the API's goes through: the
    first that cannot be used (https, then http URLs), else the https one."""
    found = [proxy_for(url) for url in DOWNLOAD_HOSTS]
    return next((p for p in found if p is not None and not p.usable), found[0])


def check_proxy(url: str) -> Proxy | None:
    """:func:`proxy_for`, raising :class:`ConfigError` (exit 3) when the proxy that
    applies to ``url`` cannot be used; called before anything is sent."""
    proxy = proxy_for(url)
    if proxy is not None and proxy.problem is not None:
        raise ConfigError(
            proxy.problem,
            hint=proxy.hint,
            details={"proxy": proxy.url, "proxy_source": proxy.source},
        )
    return proxy


def configured(url: str) -> Proxy | None:
    """The proxy set for ``url``'s scheme (or for all) before NO_PROXY is applied: beside
    :func:`proxy_for`, it tells "no proxy" from "a proxy NO_PROXY bypasses" (doctor)."""
    from urllib.request import getproxies

    import requests.utils

    proxies = {k: v for k, v in getproxies().items() if k != "no" and v}
    chosen = requests.utils.select_proxy(url, proxies)
    if not chosen:
        return None
    key = next(k for k, v in proxies.items() if v == chosen)
    return Proxy(masked(chosen), _source(key.split("://")[0], chosen, env.given(None)))


def case_conflicts(environ: Mapping[str, str] | None = None) -> list[str]:
    """Proxy variables set in both cases with different values (the lower-case one wins,
    which surprises whoever changed the other)."""
    set_ = env.proxies(env.given(environ))
    found: list[str] = []
    for key in ("https", "http", "all", "no"):
        lower, upper = (set_.get(name) for name in env.proxy_names(key))
        if lower and upper and lower != upper:
            found.append(
                T(
                    "{key}_proxy and {upper}_PROXY differ; {key}_proxy is used",
                    key=key,
                    upper=key.upper(),
                )
            )
    return found


__all__ = [
    "Proxy",
    "SOCKS_INSTALL",
    "case_conflicts",
    "check_proxy",
    "configured",
    "masked",
    "proxy_for",
    "proxy_for_downloads",
]
