"""Chinese on a GBK console (issue #26, point 4): a terminal whose encoding is GBK (cp936,
a Chinese Windows console in legacy mode, a zh_CN.GBK locale) shows the Chinese messages,
and a character GBK lacks (an emoji in a prompt or a file name) is replaced, never a
crash; a GBK pipe gets UTF-8."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EMOJI = "\U0001f600"


class Console(io.TextIOWrapper):
    """A terminal that encodes as GBK, strictly (Python's default for stdout)."""

    def __init__(self, errors: str = "strict") -> None:
        super().__init__(io.BytesIO(), encoding="gbk", errors=errors, write_through=True)

    def isatty(self) -> bool:
        return True

    def text(self) -> str:
        raw = self.buffer
        assert isinstance(raw, io.BytesIO)
        return raw.getvalue().decode("gbk")


@pytest.fixture(autouse=True)
def english_after() -> Iterator[None]:
    yield
    from dmxedit.core import i18n

    i18n.activate(i18n.ENGLISH)


def console(monkeypatch: pytest.MonkeyPatch) -> tuple[Console, Console]:
    """GBK terminals for stdout and stderr (set in the test: pytest puts its own capture
    back between a fixture and the test)."""
    out, err = Console(), Console(errors="backslashreplace")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO()))
    monkeypatch.delenv("PYTHONIOENCODING", raising=False)
    monkeypatch.setenv("LANG", "zh_CN.GBK")
    return out, err


def test_a_gbk_terminal_shows_chinese_and_replaces_what_gbk_lacks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dmxedit.cli.app import run

    out, err = console(monkeypatch)
    folder = f"输出{EMOJI}"
    assert run(["config", "set", "output", folder]) == 0
    assert run(["config", "get", "output"]) == 0  # data with an emoji, on a GBK terminal
    assert out.text().strip() == "输出?"
    assert "已保存到" in err.text()
    missing = tmp_path / f"照片{EMOJI}.png"
    assert run(["edit", str(missing), "-p", f"下雪{EMOJI}"]) == 2
    shown = err.text()
    assert "Traceback" not in shown and "输入无效" in shown  # the panel, in Chinese


def test_a_gbk_pipe_gets_utf8(monkeypatch: pytest.MonkeyPatch) -> None:
    from dmxedit.cli.context import portable_streams

    out = io.TextIOWrapper(io.BytesIO(), encoding="gbk", write_through=True)
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.delenv("PYTHONIOENCODING", raising=False)
    portable_streams({})
    assert out.encoding == "utf-8"
    out.write(f"下雪{EMOJI}\n")
    raw = out.buffer
    assert isinstance(raw, io.BytesIO) and raw.getvalue().decode("utf-8") == f"下雪{EMOJI}\n"
