"""`dmxedit report` links a result URL from a results file only when it is http(s): a
``javascript:`` (or ``data:``, ``file:``, a scheme hidden behind spaces or control
characters) URL is shown as text, never as a link."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import Cli, expect

HOSTILE = [
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example/x.png",
    "https:evil.example",
]


class Links(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src", "action", "formaction") and value is not None:
                self.hrefs.append(value)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _results(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "r.results.jsonl"
    lines = [
        {
            "id": f"j{i}",
            "line": i + 1,
            "status": "failed",
            "exit_code": 6,
            "files": [],
            "urls": [url],
            "error": "The image was generated but its download failed.",
        }
        for i, url in enumerate(urls)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("url", HOSTILE)
def test_a_url_that_is_not_http_is_text_never_a_link(cli: Cli, tmp_path: Path, url: str) -> None:
    results = _results(tmp_path, [url])
    expect(cli("report", str(results), "-o", str(tmp_path / "page.html")))
    page = Links((tmp_path / "page.html").read_text(encoding="utf-8"))
    for href in page.hrefs:
        assert href.startswith(("#", "data:image/")) or ":" not in href.split("/")[0], href
    assert "alert" not in " ".join(page.hrefs) and "evil" not in " ".join(page.hrefs)
    shown = url.strip().split("\t")[0].split("\n")[0][:8]
    assert shown.strip("\x01") in "".join(page.text)  # the URL is still there to read


def test_an_http_url_is_still_a_link(cli: Cli, tmp_path: Path) -> None:
    good = ["https://cdn.example/a.png?sig=1&x=2", "http://cdn.example/b.png"]
    results = _results(tmp_path, [*good, "javascript:alert(1)"])
    expect(cli("report", str(results), "-o", str(tmp_path / "page.html")))
    page = Links((tmp_path / "page.html").read_text(encoding="utf-8"))
    assert [h for h in page.hrefs if h.startswith("http")] == good
    assert not [h for h in page.hrefs if "javascript" in h.lower()]


def test_web_url_unit() -> None:
    from dmxedit.report.page import web_url

    assert web_url("https://a.example/x.png") and web_url("HTTP://a.example/x")
    for url in HOSTILE:
        assert not web_url(url), url
