"""The command line in Chinese (issue #26, points 2 and 6): the main flows speak zh_CN
when the locale or DMXEDIT_LANG asks for it, and what scripts read does not change:
--json, the results file, the ledger, exit codes, ``dmxedit: error:`` and ``hint:``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import FakeDMX
from helpers import Cli, expect, jobs_file, ledger_rows

ZH = {"LANG": "zh_CN.UTF-8"}


@pytest.fixture(autouse=True)
def english_after() -> object:
    yield None
    from dmxedit.core import i18n

    i18n.activate(i18n.ENGLISH)  # the process's language, for the tests that follow


def test_a_plain_error_in_chinese_keeps_its_english_prefixes(cli: Cli) -> None:
    run = cli("edit", env=ZH)
    assert run.code == 2
    assert run.stderr.splitlines() == [
        "dmxedit: error: 没有给出图片。",
        "  hint: 请给出 1 到 16 个 PNG、JPEG 或 WebP 文件。",
    ]
    english = cli("edit")
    assert english.stderr.startswith("dmxedit: error: No image given.")


def test_an_error_panel_on_a_terminal_in_chinese(cli: Cli) -> None:
    run = cli("edit", env={"DMXEDIT_LANG": "zh_CN"}, stderr_isatty=True)
    assert run.code == 2
    assert "输入无效（退出码 2）" in run.stderr  # the panel's title
    assert "没有给出图片。" in run.stderr and "请给出 1 到 16 个" in run.stderr


def test_the_language_follows_the_environment_and_the_setting(cli: Cli) -> None:
    assert "没有给出图片" in cli("edit", env={"LC_ALL": "zh_CN.UTF-8"}).stderr
    assert "没有给出图片" in cli("edit", env={"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}).stderr
    assert "No image given" in cli("edit", env={"LANGUAGE": "zh_CN", "LANG": "C.UTF-8"}).stderr
    assert "No image given" in cli("edit", env={"LANG": "C"}).stderr
    assert "No image given" in cli("edit", env={"LANG": "POSIX"}).stderr
    assert "No image given" in cli("edit", env={"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}).stderr
    # DMXEDIT_LANG first, then the setting, then the locale
    assert "No image given" in cli("edit", env={"LANG": "zh_CN.UTF-8", "DMXEDIT_LANG": "en"}).stderr
    expect(cli("config", "set", "language", "zh_CN"))
    assert "没有给出图片" in cli("edit").stderr
    assert "No image given" in cli("edit", env={"DMXEDIT_LANG": "en"}).stderr
    expect(cli("config", "set", "language", "auto"))
    assert "No image given" in cli("edit").stderr
    assert "没有给出图片" in cli("edit", env=ZH).stderr


def test_a_language_dmxedit_does_not_speak_is_refused_as_a_setting(cli: Cli) -> None:
    run = cli("config", "set", "language", "klingon")
    assert run.code == 2 and "is not a language dmxedit speaks" in run.stderr
    assert "No image given" in cli("edit", env={"DMXEDIT_LANG": "fr_FR.UTF-8"}).stderr


def test_a_batch_summary_in_chinese_and_its_data_in_english(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, 2)
    run = expect(cli("batch", str(jobs), env=ZH))
    lines = run.stderr.strip().splitlines()
    assert lines[0].startswith("dmxedit: 2 个任务；发送 2 个"), run.output
    assert lines[-1].startswith("dmxedit: 2 个任务完成，用时 ")
    assert "结果在" in lines[-1]
    results = jobs.with_name("jobs.results.jsonl").read_text(encoding="utf-8")
    assert '"status": "ok"' in results or '"status":"ok"' in results
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in results)  # no Chinese in the data
    again = cli("batch", str(jobs), "--json", env=ZH)
    summary = json.loads(again.stdout)
    english = json.loads(cli("batch", str(jobs), "--json").stdout)
    assert summary.keys() == english.keys() and summary["skipped"] == english["skipped"] == 2


def test_a_failed_batch_keeps_its_exit_code_and_json_in_chinese(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "bad.jsonl"
    jobs.write_text('{"id": "x", "images": ["missing.png"], "prompt": "p"}\n', encoding="utf-8")
    zh = cli("batch", str(jobs), "--json", env=ZH)
    en = cli("batch", str(jobs), "--json")
    assert zh.code == en.code != 0
    assert json.loads(zh.stdout)["error"] == json.loads(en.stdout)["error"]


def test_doctor_in_chinese(cli: Cli, server: FakeDMX) -> None:
    run = cli("doctor", env=ZH)
    lines = run.stdout.splitlines()
    assert lines and all(line.split()[0] in ("正常", "警告", "失败", "跳过") for line in lines)
    assert "dmxedit doctor: " in run.stderr
    english = cli("doctor", "--json")
    chinese = cli("doctor", "--json", env=ZH)
    assert english.code == chinese.code == run.code
    assert [c["status"] for c in json.loads(chinese.stdout)] == [
        c["status"] for c in json.loads(english.stdout)
    ]


def test_chat_help_in_chinese(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = cli("chat", str(png), "-m", "gemini-3.1-flash-image", input=b"/help\n/quit\n", env=ZH)
    assert run.code == 0, run.output
    assert "输入想要的修改；每一行是一轮" in run.stderr
    assert "/image PATH   为下一轮添加一张输入图片" in run.stderr


def test_an_edit_in_chinese_writes_the_same_json_and_ledger(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    zh = expect(cli("edit", str(png), "-p", "下雪", "--json", env=ZH))
    en = expect(cli("edit", str(png), "-p", "下雪", "--json"))
    assert json.loads(zh.stdout).keys() == json.loads(en.stdout).keys()
    assert "已保存" not in zh.stdout
    statuses = [row["status"] for row in ledger_rows(tmp_path)]
    assert statuses[0] == statuses[1]
    plain = expect(cli("edit", str(png), "-p", "x", env=ZH))
    assert "dmxedit: 已保存 " in plain.stderr  # a progress line, translated
    assert Path(plain.stdout.strip()).is_file()  # the saved path: data, as it was


def test_the_report_page_speaks_the_language_of_the_run(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = jobs_file(tmp_path, 1)
    expect(cli("batch", str(jobs)))
    results = jobs.with_name("jobs.results.jsonl")
    page = Path(expect(cli("report", str(results), env=ZH)).stdout.strip())
    text = page.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in text and "标记为重做" in text and '"showing"' in text
    english = Path(expect(cli("report", str(results), "-o", "en.html")).stdout.strip())
    assert "Marked for redo" in english.read_text(encoding="utf-8")


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_doctor_names_its_checks_in_chinese_and_its_json_keeps_them(
    cli: Cli, server: FakeDMX
) -> None:
    run = cli("doctor", env=ZH)
    names = [line.split("  ")[1].strip() for line in run.stdout.splitlines()]
    assert names[:3] == ["配置", "令牌", "基础 URL"], run.stdout
    assert "代理" in names and "站点" in names and "账本" in names
    assert "sk-…abcd，来自 DMXAPI_API_KEY" in run.stdout
    assert "通过明文 HTTP" in run.stdout and "over plain HTTP" not in run.stdout
    zh, en = cli("doctor", "--json", env=ZH), cli("doctor", "--json")
    checks = json.loads(zh.stdout)
    assert [(c["name"], c["status"]) for c in checks] == [
        (c["name"], c["status"]) for c in json.loads(en.stdout)
    ]
    assert [c["name"] for c in checks][:3] == ["config", "key", "base-url"]
    assert not _chinese(zh.stdout)  # the data: English (a time in ms may differ)
    assert "over plain HTTP" in zh.stdout


def test_doctor_says_which_dmxapi_site_in_chinese() -> None:
    from dmxedit.core import i18n
    from dmxedit.core.settings import resolve
    from dmxedit.engine.checks import check_base_url

    settings = resolve(env={"DMXAPI_BASE_URL": "https://www.dmxapi.cn/v1"}, invalid={})
    check = check_base_url(settings, {})
    assert "DMXAPI's China site, prices in CNY" in check.detail  # the data: English
    i18n.activate("zh_CN")
    assert "DMXAPI 中国站，以人民币计价" in i18n.shown(check.detail)


def test_history_in_chinese_and_its_json_unchanged(cli: Cli, server: FakeDMX, png: Path) -> None:
    expect(cli("edit", str(png), "-p", "x"))
    run = expect(cli("history", env=ZH))
    assert "已保存" in run.stdout and "saved" not in run.stdout
    shown = expect(cli("history", "show", "1", env=ZH)).stdout
    assert "状态" in shown and "已保存" in shown and "提示词" in shown and "status" not in shown
    zh, en = cli("history", "--json", env=ZH), cli("history", "--json")
    assert json.loads(zh.stdout) == json.loads(en.stdout)
    assert json.loads(zh.stdout)[0]["status"] == "saved"
    one = json.loads(cli("history", "show", "1", "--json", env=ZH).stdout)
    assert one["status"] == "saved" and "prompt" in one


def test_config_list_sources_in_chinese_and_its_json_unchanged(cli: Cli) -> None:
    run = expect(cli("config", "list", env=ZH))
    assert "(环境变量)" in run.stdout and "(默认值)" in run.stdout
    assert "(env)" not in run.stdout and "(default)" not in run.stdout
    zh, en = cli("config", "list", "--json", env=ZH), cli("config", "list", "--json")
    assert json.loads(zh.stdout) == json.loads(en.stdout)
    assert json.loads(zh.stdout)["settings"]["model"]["source"] == "default"


def test_verbose_request_dump_in_chinese(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = expect(cli("edit", "-v", str(png), "-p", "x", env=ZH))
    err = run.stderr
    assert "dmxedit: 设置 model = nano-banana-2（默认值）" in err
    assert "dmxedit:   字段 prompt = 'x'" in err
    assert "dmxedit:   图片部分：" in err and " 字节" in err
    assert "dmxedit: 应答：HTTP 200，请求 ID " in err
    assert "dmxedit: 用时：上传 " in err and "总计 " in err
    for english in ("setting ", "field ", "part image", "timings:", "answer: HTTP"):
        assert english not in err, english
    assert "dmxedit: POST http" in err  # the method and URL: as they are


def test_models_ratios_and_refusals_in_chinese(cli: Cli, server: FakeDMX, png: Path) -> None:
    listed = expect(cli("models", env=ZH)).stdout
    assert "images 接口  输入图片 0-16（超过 14 张时警告）；10 种比例" in listed
    assert " door " not in listed and "ratios;" not in listed
    known = expect(cli("models", "--known", env=ZH)).stdout
    assert "编辑, 生成" in known
    assert json.loads(cli("models", "--known", "--json", env=ZH).stdout) == json.loads(
        cli("models", "--known", "--json").stdout
    )
    ratios = expect(cli("ratios", "--model", "gpt-image-2", env=ZH)).stdout
    assert "边长为 16 的倍数" in ratios and "sides multiples" not in ratios
    zh = cli("ratios", "--model", "gpt-image-2", "--json", env=ZH).stdout
    assert json.loads(zh) == json.loads(cli("ratios", "--model", "gpt-image-2", "--json").stdout)
    assert "sides multiples of 16" in json.loads(zh)["rule"]
    bad = cli("edit", str(png), "-p", "x", "-m", "gpt-image-2", "--size", "1000x1000", env=ZH)
    assert bad.code == 2
    assert "两边都必须是 16 的倍数" in bad.stderr and "gpt-image-2 接受 --size" in bad.stderr
    quality = cli("edit", str(png), "-p", "x", "-m", "gpt-image-2", "--quality", "ultra", env=ZH)
    assert quality.code == 2 and "不是 low, medium, high, auto 之一" in quality.stderr
    assert not _chinese(cli("edit", str(png), "-p", "x", "--quality", "ultra").stderr)


def test_the_option_parsers_errors_speak_chinese_too(cli: Cli) -> None:
    run = cli("edit", "--bogus", env=ZH)
    assert run.code == 2
    assert run.stderr.startswith("dmxedit: error: 没有这个选项：--bogus"), run.stderr
    english = cli("edit", "--bogus")
    assert english.stderr.startswith("dmxedit: error: No such option: --bogus")


def test_language_is_ignored_when_the_locale_is_c_as_gettext_does() -> None:
    from dmxedit.core.i18n import choose

    assert choose({"LANG": "C", "LANGUAGE": "zh_CN"}) == "en"
    assert choose({"LC_ALL": "POSIX", "LANGUAGE": "zh_CN:en"}) == "en"
    assert choose({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN"}) == "zh_CN"
    assert choose({"LANG": "C", "LANGUAGE": "zh_CN", "DMXEDIT_LANG": "zh_CN"}) == "zh_CN"


def test_chinese_sentences_are_joined_without_a_space() -> None:
    from dmxedit.core import i18n
    from dmxedit.core.i18n import T, joined

    i18n.activate("zh_CN")
    both = joined([T("No image given."), T("The prompt is empty.")], " ")
    assert "。 " not in i18n.shown(both) and "。" in i18n.shown(both)
    i18n.activate(i18n.ENGLISH)
    assert i18n.shown(both) == "No image given. The prompt is empty."


def test_the_report_pages_tokens_and_statuses_are_in_chinese(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    from fakeserver import Reply

    jobs = jobs_file(tmp_path, 1)
    server.script("/v1/images/edits", Reply(status=400, json={"error": {"message": "bad"}}))
    server.script("/v1/images/generations", Reply(status=400, json={"error": {"message": "bad"}}))
    cli("batch", str(jobs))
    results = jobs.with_name("jobs.results.jsonl")
    page = Path(expect(cli("report", str(results), env=ZH)).stdout.strip())
    text = page.read_text(encoding="utf-8")
    assert "0（未计费）" in text and "0 (not billed)" not in text
