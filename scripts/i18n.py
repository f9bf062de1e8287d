"""Build the message catalogs (issue #26) with Babel.

    python scripts/i18n.py            # extract, merge the translations, compile
    python scripts/i18n.py --check    # exit 1 when a file below is stale
    python scripts/i18n.py --missing  # the messages no part translates, as .po entries

1. Extract every message marked with ``T(template, ...)``, ``P(singular, plural, n,
   ...)`` or ``N_(constant)`` in dmxedit/ into ``dmxedit/locale/dmxedit.pot`` (no line
   numbers, so that an edit elsewhere in a file does not change it).
2. For each language, merge the translations of every
   ``dmxedit/locale/<lang>/LC_MESSAGES/parts/*.po`` (the sources translators edit: one
   part per area of the code, so that two branches translating different areas do not
   touch the same file) into ``dmxedit.po`` against the template: every message of the
   template, its translation where a part has one. ``dmxedit.po`` is generated: edit the
   parts.
3. Compile ``dmxedit.mo`` (shipped in the wheel as package data), which ``gettext``
   reads at run time (``dmxedit/core/i18n.py``).

``--check`` regenerates all three in memory and fails when a committed file differs, or
when a part translates a message that is no longer extracted (obsolete). CI runs it;
``tests/docs/test_i18n.py`` also fails on a message with no translation.
"""

from __future__ import annotations

import io
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from babel.messages import catalog as babel_catalog
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dmxedit"
LOCALE = PACKAGE / "locale"
TEMPLATE = LOCALE / "dmxedit.pot"
LANGUAGES = ("zh_CN",)
#: The markers of dmxedit/core/i18n.py: T(msgid, ...), P(singular, plural, n), N_(msgid).
KEYWORDS: dict[str, Any] = {"T": None, "P": (1, 2), "N_": None}
#: A fixed date, so that the files change only when the messages do.
STAMP = datetime(2026, 1, 1, tzinfo=timezone.utc)
PROJECT = "dmxedit"
# The headers name no Babel release ("Generated-By: Babel 2"): --check compares files
# made with any 2.x, not only with the one installed here.
setattr(babel_catalog, "VERSION", "2")  # noqa: B010


def messages_dir(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES"


def extract() -> Catalog:
    """The template: every marked message in dmxedit/, with where it is used."""
    catalog = Catalog(
        project=PROJECT,
        creation_date=STAMP,
        revision_date=STAMP,
        msgid_bugs_address="https://github.com/dmxedit/dmxedit/issues",
        copyright_holder="dmxedit developers",
        fuzzy=False,
    )
    found = extract_from_dir(
        str(PACKAGE),
        method_map=[("**.py", "python")],
        keywords=KEYWORDS,
        comment_tags=("i18n:",),
        strip_comment_tags=True,
    )
    for filename, lineno, message, comments, context in found:
        path = f"dmxedit/{Path(filename).as_posix()}"
        catalog.add(message, None, [(path, lineno)], auto_comments=comments, context=context)
    return catalog


def read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def parts(language: str) -> list[Path]:
    return sorted((messages_dir(language) / "parts").glob("*.po"))


def merged(template: Catalog, language: str) -> tuple[Catalog, list[str]]:
    """The language's catalog: the template's messages with the parts' translations;
    and the problems (a message translated by two parts differently, an obsolete one)."""
    catalog = Catalog(
        locale=language,
        project=PROJECT,
        creation_date=STAMP,
        revision_date=STAMP,
        msgid_bugs_address=template.msgid_bugs_address,
        copyright_holder="dmxedit developers",
        language_team=f"{language} <https://github.com/dmxedit/dmxedit/issues>",
        last_translator="dmxedit developers",
        fuzzy=False,
    )
    translations: dict[Any, tuple[Any, str]] = {}
    problems: list[str] = []
    for part in parts(language):
        for message in read(part, language):
            if not message.id:
                continue
            if message.id in translations and translations[message.id][0] != message.string:
                problems.append(
                    f"{part.name}: {message.id!r} is also translated differently in "
                    f"{translations[message.id][1]}"
                )
            translations[message.id] = (message.string, part.name)
    for message in template:
        if not message.id:
            continue
        string = translations.get(message.id, (None, ""))[0]
        catalog.add(
            message.id,
            string,
            message.locations,
            auto_comments=message.auto_comments,
            context=message.context,
        )
    wanted = {m.id for m in template if m.id}
    for key, (_, name) in translations.items():
        if key not in wanted:
            problems.append(f"parts/{name}: obsolete (no longer in dmxedit/): {key!r}")
    return catalog, problems


def po_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, width=100, sort_output=True, include_lineno=False)
    return out.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def build() -> tuple[dict[Path, bytes], list[str]]:
    """Every file this script writes, with its content; and the problems found."""
    template = extract()
    files = {TEMPLATE: po_bytes(template)}
    problems: list[str] = []
    for language in LANGUAGES:
        catalog, found = merged(template, language)
        problems += found
        files[messages_dir(language) / "dmxedit.po"] = po_bytes(catalog)
        files[messages_dir(language) / "dmxedit.mo"] = mo_bytes(catalog)
    return files, problems


def missing(language: str) -> list[str]:
    """The messages of the template no part of ``language`` translates, as .po text."""
    catalog, _ = merged(extract(), language)
    out: list[str] = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if all(strings):
            continue
        for where, _ in message.locations:
            out.append(f"#: {where}")
        if isinstance(message.id, tuple):
            out += [f"msgid {_quoted(message.id[0])}", f"msgid_plural {_quoted(message.id[1])}"]
            out += ['msgstr[0] ""', ""]
        else:
            out += [f"msgid {_quoted(str(message.id))}", 'msgstr ""', ""]
    return out


def _quoted(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def main(argv: list[str]) -> int:
    if "--missing" in argv:
        for language in LANGUAGES:
            print("\n".join(missing(language)))
        return 0
    files, problems = build()
    for problem in problems:
        print(f"i18n: {problem}", file=sys.stderr)
    if "--check" in argv:
        stale = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
        for path in stale:
            print(
                f"i18n: {_shown(path)} is stale: run python scripts/i18n.py",
                file=sys.stderr,
            )
        return 1 if stale or problems else 0
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"wrote {_shown(path)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
