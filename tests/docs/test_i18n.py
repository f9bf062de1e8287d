"""The message catalogs (issue #26, point 3): every marked message has a Chinese
translation whose placeholders are the English ones, the committed catalogs are what
scripts/i18n.py makes, and a user-facing message left unmarked is caught."""

from __future__ import annotations

import ast
import importlib.util
import string
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "i18n.py"
PACKAGE = ROOT / "dmxedit"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dmxedit_i18n_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dmxedit_i18n_script", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    pytest.importorskip("babel")
    return _script()


@pytest.fixture(scope="module")
def catalog(script: ModuleType) -> Any:
    merged, _ = script.merged(script.extract(), "zh_CN")
    return merged


def test_the_extraction_finds_the_messages(script: ModuleType) -> None:
    ids = {m.id for m in script.extract() if m.id}
    # one of each marker: T, P (singular and plural), N_
    assert "Waiting for the model" in ids
    assert ("Uploading {count} image", "Uploading {count} images") in ids
    assert "Invalid input" in ids
    assert len(ids) > 100


def test_every_message_has_a_chinese_translation(catalog: Any) -> None:
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(s and s.strip() for s in strings):
            missing.append(message.id)
    assert not missing, (
        f"{len(missing)} messages have no zh_CN translation (python scripts/i18n.py "
        f"--missing lists them as .po entries for a parts/*.po): {missing[:20]}"
    )


def _fields(text: str) -> set[str]:
    """The placeholders of a template: ``{name}``, ``{n:.1f}`` and ``{x!r}`` as written."""
    out = set()
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            out.add(f"{name}!{conversion or ''}:{spec or ''}")
    return out


def test_the_placeholders_of_each_translation_are_the_english_ones(catalog: Any) -> None:
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set().union(*(_fields(i) for i in ids))
        for translated in strings:
            if translated and _fields(translated) != wanted:
                wrong.append((message.id, translated))
    assert not wrong


def test_the_committed_catalogs_are_current(script: ModuleType) -> None:
    files, problems = script.build()
    assert not problems, problems
    for path, data in files.items():
        assert path.exists() and path.read_bytes() == data, (
            f"{path.relative_to(ROOT)} is stale: python scripts/i18n.py"
        )


def test_check_mode_notices_a_stale_catalog(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files, _ = script.build()
    moved = {}
    for path, data in files.items():
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        moved[path] = target
    monkeypatch.setattr(script, "build", lambda: ({moved[p]: d for p, d in files.items()}, []))
    assert script.main(["--check"]) == 0
    mo = next(t for p, t in moved.items() if p.suffix == ".mo")
    mo.write_bytes(mo.read_bytes() + b"\0")
    assert script.main(["--check"]) == 1


def test_an_obsolete_translation_in_a_part_is_a_problem(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    part = tmp_path / "parts" / "old.po"
    part.parent.mkdir()
    part.write_text('msgid "A message no code says"\nmsgstr "没有代码说的话"\n', encoding="utf-8")
    monkeypatch.setattr(script, "parts", lambda language: [part])
    _, problems = script.merged(script.extract(), "zh_CN")
    assert any("obsolete" in p for p in problems)


def test_the_wheel_ships_the_compiled_catalog() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"locale/*/LC_MESSAGES/*.mo"' in text
    assert (PACKAGE / "locale" / "zh_CN" / "LC_MESSAGES" / "dmxedit.mo").is_file()


# -- unmarked messages --------------------------------------------------------------------

#: The exceptions whose first argument is a message a person reads (core/errors.py).
ERRORS = {
    "DmxError",
    "InternalError",
    "InputError",
    "ConfigError",
    "AuthError",
    "ApiError",
    "NetworkError",
    "SaveError",
    "OutputError",
    "BatchError",
    "Interrupted",
}
#: The CLI's own ways of showing a message (cli/ui.py), by the argument that is one.
SHOWN = {"warn": 1, "note": 1, "plain_error": 1}


def _unmarked(node: ast.expr | None) -> bool:
    """A message written as a literal or an f-string (or built from one): not T(...)."""
    if node is None:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(node.value.strip())
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _unmarked(node.left) or _unmarked(node.right)
    if isinstance(node, ast.IfExp):
        return _unmarked(node.body) or _unmarked(node.orelse)
    return False


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def unmarked_messages(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            args: list[ast.expr | None] = []
            if name in ERRORS:
                args = [node.args[0] if node.args else None]
                args += [k.value for k in node.keywords if k.arg in ("message", "hint")]
            elif name in SHOWN and len(node.args) > SHOWN[name]:
                args = [node.args[SHOWN[name]]]
                if name == "plain_error" and len(node.args) > 3:
                    args.append(node.args[3])
            if any(_unmarked(arg) for arg in args):
                where = path.relative_to(folder).as_posix()
                found.append(f"{where}:{node.lineno}: {name}(...)")
    return found


@pytest.mark.parametrize("area", ["cli", "report"])
def test_every_message_of_the_command_line_is_marked(area: str) -> None:
    assert unmarked_messages(PACKAGE / area) == []


def test_every_message_in_dmxedit_is_marked() -> None:
    assert unmarked_messages(PACKAGE) == []


def test_the_walk_catches_an_unmarked_message(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text(
        "from dmxedit.core.i18n import T\n"
        "raise InputError(f'bad {x}')\n"
        "raise ConfigError('No key.', hint='Set one.')\n"
        "raise InputError(T('Fine {x}.', x=1), hint=T('Also fine.'))\n"
        "ui.warn(ctx, 'not marked')\n"
        "ui.warn(ctx, message)\n",
        encoding="utf-8",
    )
    assert [line.split(": ", 1)[1] for line in unmarked_messages(tmp_path)] == [
        "InputError(...)",
        "ConfigError(...)",
        "warn(...)",
    ]


def markers_in_fstrings(folder: Path) -> list[str]:
    """T(...)/P(...)/N_(...) written inside an f-string: Babel's extraction of those
    depends on the Python version's tokenizer (3.12 splits f-strings), so the catalog
    would differ from one Python to the next."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Call) and _name(inner.func) in ("T", "P", "N_"):
                        found.append(f"{path.relative_to(folder).as_posix()}:{inner.lineno}")
    return found


def test_no_message_is_marked_inside_an_f_string(tmp_path: Path) -> None:
    assert markers_in_fstrings(PACKAGE) == []
    (tmp_path / "x.py").write_text("x = f'<p>{said(T(\"Hello\"))}</p>'\n", encoding="utf-8")
    assert markers_in_fstrings(tmp_path) == ["x.py:1"]
