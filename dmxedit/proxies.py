"""The proxy a request to a URL goes through, as requests picks it from the environment
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, in either case; the system's
settings on macOS and Windows), and whether it can be used.

``proxy_problem`` is the one place that knows what makes a proxy unusable (a SOCKS proxy
without PySocks): ``dmxedit doctor`` reports it, and a request that fails on it can say it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

SOCKS_SCHEMES = ("socks4", "socks4a", "socks5", "socks5h")
SCHEMES = ("http", "https", *SOCKS_SCHEMES)
SOCKS_INSTALL = "pip install 'requests[socks]'"


@dataclass(frozen=True)
class Proxy:
    """The proxy chosen for a URL: its URL (credentials included) and where it came from."""

    url: str
    source: str  # the variable (``HTTPS_PROXY``, ``all_proxy``...) or the system's settings

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme.lower()

    @property
    def shown(self) -> str:
        """The URL with any password replaced by ``***``, for messages."""
        return redacted(self.url)


def redacted(url: str) -> str:
    """A proxy URL without its password (``http://user:***@host:3128``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a proxy URL that cannot be parsed)"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _variable(key: str, value: str, env: Mapping[str, str]) -> str:
    """The environment variable a proxy of urllib's ``getproxies()`` came from (the
    lower-case one wins when both are set, as urllib reads them)."""
    for name in (f"{key}_proxy", f"{key.upper()}_PROXY"):
        if env.get(name) == value:
            return name
    return "the system's proxy settings"


def _choose(url: str, proxies: Mapping[str, str]) -> Proxy | None:
    import requests.utils

    chosen = requests.utils.select_proxy(url, dict(proxies))
    if not chosen:
        return None
    key = next((k for k in proxies if proxies[k] == chosen), "all")
    full = requests.utils.prepend_scheme_if_needed(chosen, "http")  # type: ignore[no-untyped-call]
    return Proxy(full, _variable(key, chosen, os.environ))


def configured(url: str) -> Proxy | None:
    """The proxy set for ``url``'s scheme (or for all), NO_PROXY not considered."""
    from urllib.request import getproxies

    return _choose(url, {k: v for k, v in getproxies().items() if k != "no" and v})


def proxy_for(url: str) -> Proxy | None:
    """The proxy requests will use for ``url``: None for a direct connection (no proxy
    set, or NO_PROXY lists the host)."""
    import requests.utils

    return _choose(url, requests.utils.get_environ_proxies(url))  # {}: NO_PROXY bypasses


def proxy_problem(proxy_url: str) -> str | None:
    """What keeps requests from using this proxy, in words; None when it can be used."""
    try:
        parts = urlsplit(proxy_url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number
    except ValueError:
        return "its URL cannot be parsed (is the port a number?)"
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        return f"its scheme {scheme}:// is not one requests can use ({', '.join(SCHEMES)})"
    if not parts.hostname:
        return "it names no host"
    if scheme in SOCKS_SCHEMES:
        import importlib

        try:
            importlib.import_module("socks")  # PySocks, which requests needs for SOCKS
        except ImportError:
            return f"a {scheme}:// proxy needs SOCKS support (PySocks), which is not installed"
    return None


def case_conflicts(env: Mapping[str, str] | None = None) -> list[str]:
    """Proxy variables set in both cases with different values (the lower-case one wins)."""
    env = os.environ if env is None else env
    found = []
    for key in ("https", "http", "all", "no"):
        lower, upper = env.get(f"{key}_proxy"), env.get(f"{key.upper()}_PROXY")
        if lower and upper and lower != upper:
            found.append(f"{key}_proxy and {key.upper()}_PROXY differ; {key}_proxy is used")
    return found


__all__ = [
    "Proxy",
    "SOCKS_INSTALL",
    "case_conflicts",
    "configured",
    "proxy_for",
    "proxy_problem",
    "redacted",
]
