"""Messages in the user's language, with the standard library's ``gettext``.

A message the core makes is a :class:`Text`: a ``str`` whose value is the English text
(what ``--json``, results files, the ledger and tests see, whatever the language), which
also keeps its template and values, so that the command line can show it translated at
the edge (:func:`shown`). Mark a message with :func:`T` (a template and its values, the
template being the catalog's msgid: ``T("Size {size!r} is not one of {tiers}.", ...)``),
:func:`P` (singular and plural) or :func:`N_` (a constant translated where it is shown).
``scripts/i18n.py`` extracts them with Babel into ``dmxedit/locale/dmxedit.pot`` and
compiles the catalogs; ``tests/docs/test_i18n.py`` fails when a message is missing.

The language is chosen once by the command line (:func:`choose`, :func:`activate`):
``DMXEDIT_LANG``, then the ``language`` setting, then ``LANGUAGE``, ``LC_ALL``,
``LC_MESSAGES``, ``LANG``; ``C``, ``POSIX`` or nothing means English. The catalog is
loaded on the first translation only, so start-up does not pay for it; the library
(without the command line) stays in English.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from dmxedit.core import env as environment

DOMAIN = "dmxedit"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
#: The languages dmxedit has catalogs for (besides English, its own).
LANGUAGES = ("zh_CN",)
ENGLISH = "en"

_state: dict[str, Any] = {"language": ENGLISH, "catalog": None, "chooser": None}


class Text(str):
    """A message: its English text as the string, and its template and values so the
    command line can show it in the user's language."""

    template: str
    values: dict[str, Any]
    plural: str | None
    number: int | None

    def __new__(cls, template: str, /, **values: Any) -> Text:
        english = _format(template, values) if values else template
        made = super().__new__(cls, english)
        made.template, made.values, made.plural, made.number = template, values, None, None
        return made

    def translated(self) -> str:
        """The message in the active language (English when there is no translation)."""
        catalog = _catalog()
        if catalog is None:
            return str(self)
        if self.plural is not None and self.number is not None:
            wanted = catalog.ngettext(self.template, self.plural, self.number)
        else:
            wanted = catalog.gettext(self.template)
        values = {k: v.translated() if isinstance(v, Text) else v for k, v in self.values.items()}
        try:
            return _format(wanted, values) if values or wanted != self.template else wanted
        except (KeyError, IndexError, ValueError, AttributeError):  # a broken translation
            return str(self)


def _format(template: str, values: Mapping[str, Any]) -> str:
    return string.Formatter().vformat(template, (), dict(values))


def T(template: str, /, **values: Any) -> Text:  # noqa: N802 - gettext's style of marker
    """A message to translate: ``template`` (the catalog's msgid) filled with ``values``."""
    return Text(template, **values)


def P(singular: str, plural: str, count: int, /, **values: Any) -> Text:  # noqa: N802
    """A message with a count (``{count}`` in the templates): singular or plural."""
    values = {"count": count, **values}
    made = Text(singular if count == 1 else plural, **values)
    made.template, made.plural, made.number = singular, plural, count
    return made


def joined(items: Iterable[str], sep: str = "\n") -> Text:
    """``sep.join(items)`` as a :class:`Text`: each item that is a Text is shown in the
    active language, the rest (the server's words, paths) as they are."""
    parts = list(items) or [""]
    values = {f"item{i}": part for i, part in enumerate(parts)}
    glue = sep.replace("{", "{{").replace("}", "}}")
    return Text(glue.join("{" + name + "}" for name in values), **values)


def N_(text: str) -> str:  # noqa: N802
    """Marks a constant for the catalog; :func:`shown` translates it where it is shown."""
    return text


#: In Chinese a sentence ends without a space after it: the spaces English puts between
#: joined sentences (and after a closing bracket) go after full-width punctuation.
_CJK_SPACE = re.compile(r"(?<=[。！？；：，、）」』])[ ]+")


def shown(text: str) -> str:
    """``text`` in the active language: a :class:`Text` translated, a plain string looked
    up as it is (a constant marked with :func:`N_`), anything else unchanged."""
    if isinstance(text, Text):
        out = text.translated()
    else:
        catalog = _catalog()
        out = catalog.gettext(text) if catalog is not None and text else text
    if _state["language"] == "zh_CN":
        out = _CJK_SPACE.sub("", out)
    return out


# -- the language ------------------------------------------------------------------------


def normalize(value: str | None) -> str | None:
    """A locale name as dmxedit's catalogs are named: ``zh_CN.UTF-8`` -> ``zh_CN``,
    ``zh`` -> ``zh_CN``, ``C``/``POSIX``/``en_US`` -> ``en``; None when empty."""
    if value is None or not value.strip():
        return None
    name = value.strip().split(":")[0].split(".")[0].split("@")[0].replace("-", "_")
    if name in ("C", "POSIX") or name.lower().startswith("en"):
        return ENGLISH
    lowered = name.lower()
    for language in LANGUAGES:
        if lowered == language.lower() or lowered == language.split("_")[0].lower():
            return language
    if lowered in ("zh_sg", "zh_hans", "zh_hans_cn"):
        return "zh_CN"
    return name


def choose(env: Mapping[str, str], setting: str | None = None) -> str:
    """The language to speak: ``DMXEDIT_LANG``, the ``language`` setting, then the usual
    locale variables (the first set one decides; ``LANGUAGE`` is ignored when the locale
    is ``C`` or ``POSIX``, as GNU gettext does); English when none names a catalog."""
    names = environment.locale_names(env)  # LANGUAGE, LC_ALL, LC_MESSAGES, LANG
    locale = next((v for v in names[1:] if v), None)
    if locale is not None and locale.split(".")[0] in ("C", "POSIX"):
        names = names[1:]  # as GNU gettext: LANGUAGE counts only when the locale is not C
    for value in (environment.language_override(env), setting, *names):
        if value is not None and value.strip().lower() == "auto":  # follow what comes next
            continue
        language = normalize(value)
        if language is not None:
            return language if language in LANGUAGES else ENGLISH
    return ENGLISH


def activate(language: str) -> None:
    """Speak ``language`` from now on (its catalog is loaded when first needed)."""
    _state["language"] = language if language in LANGUAGES else ENGLISH
    _state["catalog"] = None
    _state["chooser"] = None


def defer(chooser: Callable[[], str]) -> None:
    """Speak the language ``chooser`` names, asked when a message is first translated
    (the command line's choice may read the config file: a run that shows no message,
    ``--version`` or ``--help``, does not pay for it)."""
    activate(ENGLISH)
    _state["chooser"] = chooser


def active() -> str:
    """The language spoken (a deferred choice is made now)."""
    chooser = _state["chooser"]
    if chooser is not None:
        _state["chooser"] = None
        activate(chooser())
    return str(_state["language"])


def loaded() -> bool:
    """Whether a catalog has been read (start-up tests: --help and --version read none)."""
    return _state["catalog"] is not None


def _catalog() -> Any:
    """The active language's catalog (None for English), loaded on first use."""
    if active() == ENGLISH:
        return None
    if _state["catalog"] is None:
        import gettext

        _state["catalog"] = gettext.translation(
            DOMAIN, localedir=str(LOCALE_DIR), languages=[_state["language"]], fallback=True
        )
    return _state["catalog"]


__all__ = [
    "DOMAIN",
    "ENGLISH",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "P",
    "T",
    "Text",
    "activate",
    "active",
    "choose",
    "defer",
    "joined",
    "loaded",
    "normalize",
    "shown",
]
