"""README.zh-CN.md is the whole of README.md in Chinese, section by section (issue 21,
point 18): the same headings in the same order and at the same levels, and in each
section the same code (inline and in blocks), the same list items, table rows and links.
Prose is compared through what does not depend on the language; the Chinese prose must
really be Chinese (no English sentence left in it).

Code is compared after three normalisations: a ``#`` comment in a code block (and a
remark set off from its line by two spaces and a parenthesis) is prose; a double-quoted
string with a space or a non-ASCII character in it is an example text (a prompt, a
message) and may be translated; and ``[options]`` may be written ``[选项]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EN, ZH = "README.md", "README.zh-CN.md"

_FENCE = re.compile(r"^```")
_HEADING = re.compile(r"^(#{1,6}) (.*)$")
_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_QUOTED = re.compile(r'"([^"\n]*)"')
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


@dataclass
class Section:
    heading: str
    level: int
    prose: list[str] = field(default_factory=list)
    blocks: list[list[str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.prose)


def sections(name: str) -> list[Section]:
    """The file's sections, split at headings outside code blocks."""
    out: list[Section] = []
    block: list[str] | None = None
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            if block is None:
                block = []
                if out:
                    out[-1].blocks.append(block)
            else:
                block = None
            continue
        if block is not None:
            block.append(line)
            continue
        heading = _HEADING.match(line)
        if heading:
            out.append(Section(heading.group(2), len(heading.group(1))))
        elif out:
            out[-1].prose.append(line)
    return out


def _example(match: re.Match[str]) -> str:
    text = match.group(1)
    if " " in text or any(ord(c) > 127 for c in text):
        return '"…"'
    return match.group(0)


def code(text: str) -> str:
    """A piece of code as both READMEs must hold it."""
    text = _QUOTED.sub(_example, " ".join(text.split()))  # a span may wrap
    return text.replace("[选项]", "[options]")


def block_lines(block: list[str]) -> list[str]:
    lines = []
    for line in block:
        if line.lstrip().startswith("#"):
            continue  # a comment line: prose
        line = re.sub(r"\s+#\s.*$", "", line)  # a trailing comment
        line = re.sub(r"\s{2,}[(（].*[)）]$", "", line)  # a remark in parentheses
        if line.strip():
            lines.append(code(line))
    return lines


@dataclass
class Shape:
    """What a section holds that does not depend on its language."""

    spans: list[str]
    blocks: list[list[str]]
    items: int
    rows: int
    links: list[str]


def shape(section: Section) -> Shape:
    prose = section.text
    return Shape(
        spans=sorted({code(m.group(2)) for m in _SPAN.finditer(prose)}),
        blocks=[block_lines(b) for b in section.blocks],
        items=sum(1 for line in section.prose if re.match(r"^\s*(?:-|\d+\.) ", line)),
        rows=sum(1 for line in section.prose if line.startswith("|")),
        links=sorted(
            {
                target
                for target in _LINK.findall(prose)
                if not target.startswith("#") and not target.startswith("README")
            }
        ),
    )


def pairs() -> list[tuple[Section, Section]]:
    en, zh = sections(EN), sections(ZH)
    assert len(en) == len(zh), f"{EN} has {len(en)} sections, {ZH} {len(zh)}:\n" + "\n".join(
        f"  {a.heading if a else '-'}  |  {b.heading if b else '-'}"
        for a, b in _zip_longest(en, zh)
    )
    return list(zip(en, zh, strict=True))


def _zip_longest(a: list[Section], b: list[Section]) -> list[tuple[Section | None, ...]]:
    from itertools import zip_longest

    return list(zip_longest(a, b))


def test_the_same_headings_in_the_same_order_at_the_same_levels() -> None:
    for en, zh in pairs():
        assert en.level == zh.level, (en.heading, zh.heading)
        ours = [code(m.group(2)) for m in _SPAN.finditer(en.heading)]
        theirs = [code(m.group(2)) for m in _SPAN.finditer(zh.heading)]
        assert ours == theirs, (en.heading, zh.heading)
        words = re.findall(r"[A-Za-z]{2,}", _SPAN.sub("", en.heading))
        if len(words) >= 2:  # a heading in words (not a name or a command) is translated
            assert _CJK.search(zh.heading), (en.heading, zh.heading)


def _differences(en: Section, zh: Section) -> list[str]:
    a, b = shape(en), shape(zh)
    out = []
    for name in ("spans", "links"):
        ours, theirs = getattr(a, name), getattr(b, name)
        if ours != theirs:
            out.append(
                f"{name}: only in {EN}: {sorted(set(ours) - set(theirs))}; "
                f"only in {ZH}: {sorted(set(theirs) - set(ours))}"
            )
    if a.blocks != b.blocks:
        out.append(f"code blocks differ:\n    {EN}: {a.blocks}\n    {ZH}: {b.blocks}")
    for name in ("items", "rows"):
        if getattr(a, name) != getattr(b, name):
            out.append(f"{name}: {getattr(a, name)} in {EN}, {getattr(b, name)} in {ZH}")
    return out


def test_each_section_holds_the_same_code_items_rows_and_links() -> None:
    report = {
        f"{en.heading}  |  {zh.heading}": found
        for en, zh in pairs()
        if (found := _differences(en, zh))
    }
    assert report == {}, "\n".join(
        f"== {where}\n  " + "\n  ".join(items) for where, items in report.items()
    )


def _english_runs(section: Section) -> list[str]:
    """Runs of eight or more English words in the prose (code, links and bold words left
    out): a sentence left untranslated."""
    prose = _SPAN.sub(" ", section.text)
    prose = re.sub(r"\]\([^)]*\)", "]", prose)
    return [
        m.group(0)
        for m in re.finditer(r"(?:\b[A-Za-z][A-Za-z'’-]*[,.;:]?\s+){7,}[A-Za-z][A-Za-z'’-]*", prose)
    ]


def test_the_chinese_readme_is_chinese() -> None:
    for zh in sections(ZH):
        words = _SPAN.sub("", zh.text)
        if len(words.strip()) > 40:
            assert _CJK.search(words), f"section {zh.heading!r} has no Chinese prose"
        assert _english_runs(zh) == [], (zh.heading, _english_runs(zh))


@pytest.mark.parametrize("name", [EN, ZH])
def test_the_split_finds_the_sections(name: str) -> None:
    found = sections(name)
    assert len(found) > 30
    assert found[0].level == 1 and all(s.level >= 2 for s in found[1:])
    assert any(s.blocks for s in found) and any(shape(s).rows for s in found)


def test_the_comparison_catches_a_missing_paragraph_of_code() -> None:
    en = sections(EN)
    with_status = next(s for s in en if "--status" in s.text)
    cut = Section(
        with_status.heading,
        with_status.level,
        [line for line in with_status.prose if "--status" not in line],
        with_status.blocks,
    )
    assert _differences(with_status, cut) != []
    assert _differences(with_status, with_status) == []
