"""Every environment variable dmxedit reads, named once.

The environment is read from a mapping passed down from the entry point (the CLI's
``RunContext.env``, or ``os.environ`` when a library call gives none: :func:`given`),
never from ``os.environ`` deep inside the core, so tests pass a dict and patch nothing.
Each function here reads one variable from that mapping and says what it means.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

Env = Mapping[str, str]

# -- the names -------------------------------------------------------------------------

API_KEY = "DMXAPI_API_KEY"  #: the API key (a setting: flag > env > file)
BASE_URL = "DMXAPI_BASE_URL"  #: the API base (a setting)
SYSTEM_TOKEN = "DMXAPI_SYSTEM_TOKEN"  #: the account API's system token (a setting)
USER_ID = "DMXAPI_USER_ID"  #: the account API's user id (a setting)
CONFIG = "DMXEDIT_CONFIG"  #: the config file's path
DATA_DIR = "DMXEDIT_DATA_DIR"  #: the folder of the ledger
NO_HISTORY = "DMXEDIT_NO_HISTORY"  #: set (not "0") turns the ledger off
RESCUE_DIR = "DMXEDIT_RESCUE_DIR"  #: where results that cannot be saved go
RETRY_DELAY = "DMXEDIT_RETRY_DELAY"  #: the first retry's delay in seconds (tests set 0)
DEBUG = "DMXEDIT_DEBUG"  #: set (not "0") shows tracebacks
JOB_COMPLETION_INDEX = "JOB_COMPLETION_INDEX"  #: Kubernetes Indexed Jobs' index (zero-based)
NO_COLOR = "NO_COLOR"  #: https://no-color.org
PYTHONIOENCODING = "PYTHONIOENCODING"  #: the user chose the streams' encoding
LANG_OVERRIDE = "DMXEDIT_LANG"  #: the language of messages (zh_CN, en), over the locale
#: The locale variables that name the language of messages, in the order gettext reads them.
LOCALE_NAMES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
#: The proxy variables requests reads (``http_proxy``, ``HTTPS_PROXY``, ``NO_PROXY``, ...;
#: either case), by scheme.
PROXY_SCHEMES = ("http", "https", "all", "no")


def proxy_names(scheme: str) -> tuple[str, str]:
    """The lower and upper case variables of one proxy scheme (``https_proxy``, ...)."""
    return f"{scheme}_proxy", f"{scheme.upper()}_PROXY"


# -- the mapping -----------------------------------------------------------------------


def given(env: Env | None) -> Env:
    """``env``, or the process's environment when the caller (a library entry) gave none."""
    return os.environ if env is None else env


def _flag(env: Env, name: str) -> bool:
    """A switch: set to anything but "" or "0"."""
    return env.get(name, "") not in ("", "0")


# -- the readings ----------------------------------------------------------------------


def language_override(env: Env) -> str | None:
    """``$DMXEDIT_LANG`` when it is set and not empty."""
    return env.get(LANG_OVERRIDE) or None


def locale_names(env: Env) -> list[str | None]:
    """``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and ``LANG``, in that order (None: unset)."""
    return [env.get(name) or None for name in LOCALE_NAMES]


def config_file(env: Env) -> str | None:
    """``$DMXEDIT_CONFIG`` when it is set and not empty."""
    return env.get(CONFIG) or None


def data_dir(env: Env) -> str | None:
    """``$DMXEDIT_DATA_DIR`` when it is set and not empty."""
    return env.get(DATA_DIR) or None


def no_history(env: Env) -> bool:
    return _flag(env, NO_HISTORY)


def rescue_dir(env: Env) -> str | None:
    return env.get(RESCUE_DIR) or None


def retry_delay(env: Env) -> str:
    """The text of ``$DMXEDIT_RETRY_DELAY`` ("1" when unset); the caller parses it."""
    return env.get(RETRY_DELAY, "1")


def debug(env: Env) -> bool:
    return _flag(env, DEBUG)


def no_color(env: Env) -> bool:
    """NO_COLOR: any non-empty value turns colour off."""
    return bool(env.get(NO_COLOR))


def io_encoding_chosen(env: Env) -> bool:
    return bool(env.get(PYTHONIOENCODING))


def job_index(env: Env) -> str | None:
    """``$JOB_COMPLETION_INDEX`` as given (None when unset); the caller checks it."""
    return env.get(JOB_COMPLETION_INDEX)


def setting(env: Env, name: str | None) -> str | None:
    """The value of a setting's variable (``DMXAPI_API_KEY``, ...) when set and not empty."""
    return (env.get(name) or None) if name else None


def has_key(env: Env) -> bool:
    return bool(env.get(API_KEY))


def proxies(env: Env) -> dict[str, str]:
    """Every proxy variable that is set, by its name as given."""
    wanted = {n for scheme in PROXY_SCHEMES for n in proxy_names(scheme)}
    return {name: value for name, value in env.items() if name in wanted}


__all__ = [
    "API_KEY",
    "BASE_URL",
    "CONFIG",
    "DATA_DIR",
    "DEBUG",
    "JOB_COMPLETION_INDEX",
    "NO_COLOR",
    "NO_HISTORY",
    "PROXY_SCHEMES",
    "PYTHONIOENCODING",
    "RESCUE_DIR",
    "RETRY_DELAY",
    "SYSTEM_TOKEN",
    "USER_ID",
    "Env",
    "config_file",
    "data_dir",
    "debug",
    "given",
    "has_key",
    "io_encoding_chosen",
    "job_index",
    "no_color",
    "no_history",
    "proxies",
    "proxy_names",
    "rescue_dir",
    "retry_delay",
    "setting",
]
