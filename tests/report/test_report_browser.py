"""The report page in a real browser (issue 14, point 4): headless Chromium via selenium.

The filters, the keyboard, the redo export (the button's real download, and the text it
holds), a narrow window, dark mode, lazy loading, and a prompt that tries to run a
script. Each test saves a screenshot under its tmp dir.

Without Chromium and its driver these tests skip, saying how to install them; under CI
(``CI=true``) a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reports import EVIL, demo, png, write_lines

from dmxedit.report import page as core

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

INSTALL = (
    "install Chromium and its driver (Debian/Ubuntu: `apt-get install chromium "
    "chromium-driver`) and selenium (`pip install -e '.[dev]'`)"
)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: under CI the browser tests must run; {INSTALL}")
    pytest.skip(f"{reason}; to run these tests, {INSTALL}")


def _binaries() -> tuple[str, str]:
    browser = next(
        (
            found
            for name in ("chromium", "chromium-browser", "google-chrome", "chrome")
            if (found := shutil.which(name))
        ),
        None,
    )
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        _missing("no headless Chromium" if browser is None else "no chromedriver")
    assert browser is not None and driver is not None
    return browser, driver


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[Any]:
    """One headless Chromium for the module (each test loads its own page)."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    binary, driver_path = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(arg)
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "safebrowsing.enabled": False,
        },
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except WebDriverException as exc:
        _missing(f"Chromium did not start ({exc.msg})")
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """The browser, its window and colours reset; a screenshot of the end of each test."""
    browser.set_window_size(1200, 900)
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    yield browser
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 0


def wait_for(driver: Any, script: str, expected: Any = True, timeout: float = 30) -> None:
    """Wait until ``script`` returns ``expected`` (a condition, never a fixed time): a
    busy machine may take its time to load, decode or handle an event."""
    from selenium.webdriver.support.ui import WebDriverWait

    seen: list[Any] = []

    def holds(d: Any) -> bool:
        seen[:] = [d.execute_script(script)]
        return bool(seen[0] == expected)

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        holds, message=f"{script!r} never returned {expected!r}"
    )


def loaded(driver: Any, navigate: Any) -> None:
    """``navigate`` (a get or a reload), then wait for the new page's script to run: the
    old page's window carries a mark the new one lacks."""
    driver.execute_script("window.dmxeditOldPage = true")
    navigate()
    wait_for(
        driver,
        "return window.dmxeditOldPage === undefined && document.readyState === 'complete' "
        "&& typeof window.dmxeditReport === 'object'",
    )


def open_page(driver: Any, path: Path) -> None:
    driver.get(path.absolute().as_uri())
    driver.execute_script("localStorage.clear()")
    loaded(driver, lambda: driver.get(path.absolute().as_uri()))


def write_report(tmp: Path, **kwargs: Any) -> Path:
    results = demo(tmp, **kwargs)
    text = core.render(
        core.read_results([results], cwd=tmp),
        folder=results.parent,
        export_name="shoes.redo.jsonl",
    )
    page = results.with_name("shoes.report.html")
    core.write_page(text, page)
    return page


def shown(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        a.get_attribute("id")
        for a in driver.find_elements(By.CSS_SELECTOR, "article.job")
        if a.is_displayed()
    ]


def press(driver: Any, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver)
    for key in keys:
        chain.send_keys(key)
    chain.perform()


def errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_the_page_loads_its_images_with_no_error(page: Any, tmp_path: Path) -> None:
    open_page(page, write_report(tmp_path))
    # Each image loaded (or failed) and decoded before its width is read.
    wait_for(
        page,
        "return document.images.length === 5 && Array.from(document.images).every("
        "function (i) { return i.complete && i.naturalWidth > 0; })",
    )
    widths = page.execute_script(
        "return Array.from(document.images).map(function (i) { return i.naturalWidth; })"
    )
    assert widths == [30, 60, 31, 60, 32][: len(widths)] and len(widths) == 5
    assert errors(page) == []  # no CSP violation, no script error, nothing fetched


def test_filters_show_failed_mismatch_and_all(page: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, write_report(tmp_path))
    assert shown(page) == ["job-1", "job-2", "job-3"]
    page.find_element(By.CSS_SELECTOR, 'button[data-filter="failed"]').click()
    assert shown(page) == ["job-3"]
    pressed = page.find_element(By.CSS_SELECTOR, 'button[data-filter="failed"]')
    assert pressed.get_attribute("aria-pressed") == "true"
    page.find_element(By.CSS_SELECTOR, 'button[data-filter="mismatch"]').click()
    assert shown(page) == ["job-2"]
    page.find_element(By.CSS_SELECTOR, 'button[data-filter="redo"]').click()
    assert shown(page) == [] and page.find_element(By.ID, "empty").is_displayed()
    page.find_element(By.CSS_SELECTOR, 'button[data-filter="all"]').click()
    assert shown(page) == ["job-1", "job-2", "job-3"]
    assert not page.find_element(By.ID, "empty").is_displayed()


def test_the_keyboard_moves_marks_and_filters(page: Any, tmp_path: Path) -> None:
    open_page(page, write_report(tmp_path))
    press(page, "j")
    assert page.execute_script("return document.activeElement.id") == "job-1"
    press(page, "j", "j", "j")  # stops at the last job
    assert page.execute_script("return document.activeElement.id") == "job-3"
    press(page, "k")
    assert page.execute_script("return document.activeElement.id") == "job-2"
    press(page, "r")
    assert page.execute_script("return window.dmxeditReport.marked()") == [1]
    assert page.execute_script("return document.querySelectorAll('.redo-box')[1].checked")
    press(page, "r")  # again: unmarked
    assert page.execute_script("return window.dmxeditReport.marked()") == []
    press(page, "r", "f")  # mark the mismatch job, then show the failed ones
    assert shown(page) == ["job-3"]
    press(page, "j", "r", "d")  # the failed job marked too; show the marked ones
    assert shown(page) == ["job-2", "job-3"]
    press(page, "m")
    assert shown(page) == ["job-2"]
    press(page, "a")
    assert shown(page) == ["job-1", "job-2", "job-3"]
    assert page.execute_script("return document.getElementById('redo-count').textContent") == "2"


def test_keys_typed_into_the_text_box_are_not_commands(page: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, write_report(tmp_path))
    page.find_element(By.CSS_SELECTOR, "#redo-text-box summary").click()
    page.find_element(By.ID, "redo-text").click()
    press(page, "f", "j", "r")
    assert shown(page) == ["job-1", "job-2", "job-3"]
    assert page.execute_script("return window.dmxeditReport.marked()") == []


def test_the_export_button_downloads_the_marked_jobs(
    page: Any, tmp_path: Path, downloads: Path
) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, write_report(tmp_path, new_fields=False))
    boxes = page.find_elements(By.CSS_SELECTOR, "input.redo-box")
    export = page.find_element(By.ID, "export")
    assert not export.is_enabled()  # nothing marked: nothing to export
    boxes[0].click()
    boxes[2].click()
    assert export.is_enabled() and export.text == "Export redo jobs (2)"
    for old in downloads.glob("*"):
        old.unlink()
    export.click()
    target = downloads / "shoes.redo.jsonl"
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, 30, poll_frequency=0.05).until(
        lambda _: target.exists(), message=f"no download: {list(downloads.iterdir())}"
    )
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    folder = tmp_path / "shoes"
    assert [line["id"] for line in lines][0] == "boot" and len(lines) == 2
    assert lines[0]["images"] == [str((folder / "in" / "p0.png").absolute())]
    assert lines[1]["prompt"] == "make it blue"
    # The same lines are in the text box, and batch takes the file as its jobs.
    assert page.find_element(By.ID, "redo-text").get_attribute("value") == target.read_text(
        encoding="utf-8"
    )
    from helpers import run_in_process

    run = run_in_process(["batch", str(target), "--dry-run", "--json"])
    assert run.code == 0, run.output
    assert json.loads(run.stdout)["to_send"] == 2


def test_marks_survive_a_reload_and_clear_removes_them(page: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    report = write_report(tmp_path)
    open_page(page, report)
    marked = "return window.dmxeditReport.marked()"
    page.find_elements(By.CSS_SELECTOR, "input.redo-box")[1].click()
    wait_for(page, marked, [1])  # the click handled (and the mark stored)
    stored_everywhere(page, True)
    loaded(page, page.refresh)
    assert page.execute_script(marked) == [1]  # read back at the page's start
    page.find_element(By.ID, "clear").click()
    wait_for(page, marked, [])
    stored_everywhere(page, False)
    loaded(page, page.refresh)
    assert page.execute_script(marked) == []


def stored_everywhere(page: Any, present: bool) -> None:
    """Wait until another tab of the page sees the marks stored (or gone): Chromium
    passes a page's storage writes to the browser process on their own channel, so a
    reload at once can read the storage before the write has arrived (seen under load)."""
    key = "'dmxedit-report:' + location.pathname"
    url, here = page.current_url, page.current_window_handle
    page.switch_to.new_window("tab")
    try:
        page.get(url)
        wait_for(page, f"return localStorage.getItem({key}) !== null", present)
    finally:
        page.close()
        page.switch_to.window(here)


def test_a_prompt_with_markup_stays_text(page: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    open_page(page, write_report(tmp_path))
    assert page.execute_script("return window.pwned === undefined")
    assert page.execute_script("return document.querySelectorAll('img[src=x], b').length") == 0
    prompt = page.find_elements(By.CSS_SELECTOR, "article.job .prompt")[1].text
    assert prompt == " ".join(EVIL.split())
    page.find_elements(By.CSS_SELECTOR, "input.redo-box")[1].click()
    exported = page.execute_script("return window.dmxeditReport.exportText()")
    assert json.loads(exported)["prompt"] == EVIL


def test_a_narrow_window_stacks_inputs_over_outputs(page: Any, tmp_path: Path) -> None:
    open_page(page, write_report(tmp_path))
    columns = "return getComputedStyle(document.querySelector('.pair')).gridTemplateColumns"
    assert len(page.execute_script(columns).split()) == 2
    page.set_window_size(380, 800)
    assert len(page.execute_script(columns).split()) == 1
    overflow = "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert page.execute_script(overflow) <= 0  # nothing wider than the window


def test_dark_mode_is_dark(page: Any, tmp_path: Path) -> None:
    open_page(page, write_report(tmp_path))
    background = "return getComputedStyle(document.documentElement).backgroundColor"
    assert page.execute_script(background) == "rgb(255, 255, 255)"
    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    assert page.execute_script(background) == "rgb(13, 17, 23)"
    text = "return getComputedStyle(document.querySelector('.prompt')).color"
    assert page.execute_script(text) == "rgb(230, 237, 243)"


def test_hundreds_of_jobs_load_their_images_lazily(page: Any, tmp_path: Path) -> None:
    for i in range(300):  # each image its own file: none is in the cache already
        png(tmp_path / f"in{i}.png", 200, 150, filler=i)
        png(tmp_path / f"out{i}.png", 200, 150, filler=i + 1)
    lines: list[dict[str, Any] | str] = [
        {
            "id": f"j{i}",
            "line": i + 1,
            "status": "ok",
            "files": [f"out{i}.png"],
            "images": [str(tmp_path / f"in{i}.png")],
        }
        for i in range(300)
    ]
    results = write_lines(tmp_path / "big.results.jsonl", lines)
    report = tmp_path / "big.report.html"
    core.write_page(core.render(core.read_results([results]), folder=tmp_path), report)
    open_page(page, report)
    last = "var i = document.images; return i[i.length - 1]"
    assert page.execute_script(last + ".complete") is False  # far below: not loaded yet
    page.execute_script(last + ".scrollIntoView()")
    wait_for(page, last + ".complete")
    assert page.execute_script(last + ".naturalWidth") == 200
    press(page, "j")
    assert len(shown(page)) == 300
