"""The messages made below the command line (issue #26, part B) speak Chinese at the edge:
``shown()`` translates them with the zh_CN catalog, while ``str()``, ``--json`` and the
ledger keep the English text. The catalog is compiled here from the part's PO file, so
the test does not depend on a built ``.mo``."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dmxedit.api.models import site_hint
from dmxedit.api.network import connection_problem
from dmxedit.batch.summary import BatchSummary
from dmxedit.core import i18n
from dmxedit.core.errors import ConfigError, InputError, all_problems, counted
from dmxedit.core.i18n import Text, shown
from dmxedit.core.settings import Settings
from dmxedit.engine.records import Tracker
from dmxedit.media.images import load_image
from dmxedit.store.names import Naming

PART = Path(i18n.LOCALE_DIR) / "zh_CN" / "LC_MESSAGES" / "parts" / "core.po"


def _read_po() -> object:
    pofile = pytest.importorskip("babel.messages.pofile")
    with PART.open("rb") as fh:
        return pofile.read_po(fh, locale="zh_CN")


@pytest.fixture
def chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    mofile = pytest.importorskip("babel.messages.mofile")
    folder = tmp_path / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / f"{i18n.DOMAIN}.mo").open("wb") as fh:
        mofile.write_mo(fh, _read_po())
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.activate("zh_CN")
    yield
    i18n.activate(i18n.ENGLISH)


def test_an_error_of_the_core_is_shown_in_chinese_and_kept_in_english(chinese: None) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings().require_account()
    error = caught.value
    assert shown(error.message).startswith("没有设置 DMXAPI 系统令牌，也没有设置用户 ID")
    assert "系统令牌" in shown(error.hint or "")
    assert str(error.message).startswith("No DMXAPI system token and no user id is set")
    said = json.dumps(error.to_dict(), ensure_ascii=False)
    assert "系统令牌 (system token)" in said and "没有设置" not in said
    assert shown(ConfigError.title) == "配置问题"


def test_an_image_that_does_not_exist(chinese: None, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.png")
    with pytest.raises(InputError) as caught:
        load_image(missing)
    assert shown(caught.value.message) == f"图片 {missing!r} 不存在。"
    assert caught.value.message == f"Image {missing!r} does not exist."
    assert shown(caught.value.hint or "") == "请检查路径。"


def test_network_words_and_the_key_site(chinese: None) -> None:
    problem, hint = connection_problem(requests.exceptions.ConnectTimeout(), "www.dmxapi.cn", 10.0)
    assert shown(problem) == "10 秒内没有连上 www.dmxapi.cn"
    assert problem == "no connection to www.dmxapi.cn within 10 s"
    words = site_hint("https://www.dmxapi.cn/v1")
    assert shown(words).startswith("令牌只在签发它的 DMXAPI 站点上有效")
    assert "https://www.dmxapi.com/v1" in shown(words)  # the server's address stays as it is


def test_a_file_name_problem_of_the_store(chinese: None) -> None:
    with pytest.raises(InputError) as caught:
        Naming(template="{id}").check()
    assert "只有批处理任务才有它" in shown(caught.value.message)
    assert "{id}" in shown(caught.value.message)
    assert "which only batch jobs have" in caught.value.message


def test_an_interruption_of_the_engine(chinese: None) -> None:
    tracker = Tracker()
    tracker.sent()
    error = tracker.interruption()
    assert shown(error.message) == "请求发出后被中断：可能已计费。"
    assert error.to_dict()["message"] == (
        "Interrupted after the request was sent: it may have been billed."
    )


def test_plurals_and_nested_texts_of_a_batch(chinese: None) -> None:
    summary = BatchSummary(retry=2, refetch=1)
    said = summary.next_run()
    assert shown(said) == (
        "重新运行会跳过已完成的任务，并且会发送 2 个失败或未启动的任务, "
        "下载 1 个已付费的结果，不再重新生成。"
    )
    assert said == (
        "A re-run skips finished jobs and will send 2 jobs that failed or did not start, "
        "download 1 paid result without generating it again."
    )
    assert shown(counted(1234, "job")) == "1,234 个任务"
    assert counted(1, "job") == "1 job"


def test_a_nested_text_is_translated_inside_its_message(chinese: None) -> None:
    error = all_problems([InputError(i18n.T("No image given.")), InputError("server words")])
    assert shown(error.message) == "2 个问题；什么都没有发送：\n- 没有给出图片。\n- server words"
    assert error.message == "2 problems; nothing was sent:\n- No image given.\n- server words"
    assert isinstance(error.message, Text)


def test_english_is_spoken_without_a_language() -> None:
    i18n.activate(i18n.ENGLISH)
    assert shown(Tracker().interruption().message) == (
        "Interrupted before the request was completely sent; nothing was billed."
    )


def _fields(template: str) -> list[tuple[str, str, str]]:
    return sorted(
        {
            (n, s or "", c or "")
            for _, n, s, c in string.Formatter().parse(template)
            if n is not None
        }
    )


def test_every_translation_keeps_the_fields_of_its_template() -> None:
    catalog = _read_po()
    checked = 0
    for message in catalog:  # type: ignore[attr-defined]
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(texts), f"no translation of {ids[0]!r}"
        for text in texts:
            assert _fields(text) == _fields(ids[0]), ids[0]
        checked += 1
    assert checked > 500
