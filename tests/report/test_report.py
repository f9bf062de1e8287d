"""`dmxedit report` (SPEC 10, issue 14) without a browser: the page is parsed as HTML.

The page's behaviour in a real browser (filters, keys, the redo export) is in
tests/report/test_report_browser.py; here: what is read, what the page holds, where it goes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fakeserver import FakeDMX, Recorded, Reply
from helpers import Cli, expect
from reports import EVIL, demo, png, write_lines

from dmxedit.report import page as core


class Page(HTMLParser):
    """The parts of a report page the tests look at."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.articles: list[dict[str, Any]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self._in: str | None = None
        self._buffer: list[str] = []
        self._article: dict[str, Any] | None = None
        self._depth = 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag in ("script", "style"):
            self._in, self._buffer = tag, []
            self._attrs = found
        if tag == "article":
            self._article = {"attrs": found, "imgs": [], "links": [], "text": [], "boxes": []}
            self.articles.append(self._article)
            self._depth = 0
        elif self._article is not None:
            if tag == "article":
                self._depth += 1
            if tag == "img":
                self._article["imgs"].append(found)
            if tag == "a":
                self._article["links"].append(found)
            if tag == "input":
                self._article["boxes"].append(found)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            text = "".join(self._buffer)
            if tag == "script":
                self.scripts.append((self._attrs, text))
            else:
                self.styles.append(text)
            self._in = None
        if tag == "article" and self._article is not None:
            self._article = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._buffer.append(data)
        elif self._article is not None:
            self._article["text"].append(data)

    def text_of(self, index: int) -> str:
        return " ".join(" ".join(self.articles[index]["text"]).split())

    def data(self) -> Any:
        (found,) = [t for a, t in self.scripts if a.get("type") == "application/json"]
        return json.loads(found)

    def meta(self, name: str) -> str | None:
        for tag, attrs in self.tags:
            if tag == "meta" and (attrs.get("name") == name or attrs.get("http-equiv") == name):
                return attrs.get("content")
        return None


def build(tmp: Path, **kwargs: Any) -> tuple[str, Page]:
    results = demo(tmp, **kwargs)
    text = core.render(core.read_results([results], cwd=tmp), folder=results.parent)
    return text, Page(text)


# -- what is read ---------------------------------------------------------------------------


def test_each_job_once_the_deciding_line_in_job_order(tmp_path: Path) -> None:
    report = core.read_results([demo(tmp_path)], cwd=tmp_path)
    assert [j.id for j in report.jobs][:2] == ["boot", "mug"]  # by line, not by finishing
    assert [j.status for j in report.jobs] == ["ok", "ok", "failed"]  # the torn line ignored
    boot, mug, third = report.jobs
    assert boot.outputs == [str(tmp_path / "output" / "r0.png")]  # relative to the run
    assert boot.inputs == [str(tmp_path / "shoes" / "in" / "p0.png")]
    assert mug.mismatch and mug.tokens == 2090 and boot.tokens == 1290
    assert mug.requested() == "16:9 4K (5504x3072)"
    assert third.error is not None and "HTTP 400" in third.error
    assert report.counts() == {"jobs": 3, "ok": 2, "failed": 1, "mismatch": 1}


def test_older_results_files_borrow_the_jobs_from_the_jobs_file(tmp_path: Path) -> None:
    # Lines without `job`/`prompt`/`images` (dmxedit before receipts): the jobs file beside
    # the results file (batch's default name) gives them, matched by line and id.
    report = core.read_results([demo(tmp_path, new_fields=False)], cwd=tmp_path)
    boot, mug, third = report.jobs
    assert boot.prompt == "on a white background" and third.prompt == "make it blue"
    assert boot.inputs == [str((tmp_path / "shoes" / "in" / "p0.png").absolute())]
    assert boot.delivered is None and boot.mismatch == []
    assert boot.requested() == "2K"  # the job's own size; no ratio known
    # ... but a jobs file changed since (another job on that line) is not believed
    jobs = tmp_path / "shoes" / "shoes.jsonl"
    lines = jobs.read_text().splitlines()
    lines[0] = json.dumps({"id": "other", "images": ["in/p2.png"], "prompt": "not this"})
    jobs.write_text("\n".join(lines) + "\n")
    boot = core.read_results([tmp_path / "shoes" / "shoes.results.jsonl"], cwd=tmp_path).jobs[0]
    assert boot.prompt is None and boot.inputs == []


def test_progress_lines_alone_show_what_a_rerun_will_do(tmp_path: Path) -> None:
    results = write_lines(tmp_path / "r.results.jsonl", [{"id": "a", "line": 1, "status": "sent"}])
    (job,) = core.read_results([results]).jobs
    assert job.status == "sent" and not job.ok
    assert job.error is not None and "may have been billed" in job.error


def test_an_ok_is_final_as_for_a_rerun(tmp_path: Path) -> None:
    results = write_lines(
        tmp_path / "r.results.jsonl",
        [
            {"id": "a", "line": 1, "status": "ok", "files": []},
            {"id": "a", "line": 1, "status": "sent"},
        ],
    )
    assert [j.status for j in core.read_results([results]).jobs] == ["ok"]


# -- the page -------------------------------------------------------------------------------


def test_the_page_shows_every_job_with_its_receipt(tmp_path: Path) -> None:
    text, page = build(tmp_path)
    assert len(page.articles) == 3
    boot, mug, third = (page.text_of(i) for i in range(3))
    assert "on a white background" in boot and "2048x2048 PNG" in boot and "1290" in boot
    assert "1:1 2K (2048x2048)" in boot and "3.2 s" in boot
    assert "16:9 4K (5504x3072)" in mug and "1376x768 JPEG" in mug
    assert "asked 4K 16:9 (5504x3072), got 1376x768" in mug and "2090" in mug
    assert "HTTP 400" in third and "bad <prompt>." in third and "failed" in third
    assert [a["attrs"]["data-failed"] for a in page.articles] == ["0", "0", "1"]
    assert [a["attrs"]["data-mismatch"] for a in page.articles] == ["0", "1", "0"]
    assert "3 jobs: 2 ok, 1 failed, 1 with a size mismatch" in " ".join(text.split())
    for article in page.articles:  # one redo box per job, labelled
        (box,) = article["boxes"]
        assert box["type"] == "checkbox" and "Redo" in " ".join(article["text"])


def test_images_are_linked_relative_to_the_page_and_load_lazily(tmp_path: Path) -> None:
    _, page = build(tmp_path)
    folder = tmp_path / "shoes"
    boot = page.articles[0]
    sources = [img["src"] for img in boot["imgs"]]
    assert sources == ["in/p0.png", "../output/r0.png"]
    for img in boot["imgs"]:
        assert img["loading"] == "lazy"
        assert (folder / unquote(str(img["src"]))).is_file()
    assert {a["href"] for a in boot["links"]} >= set(sources)  # a click opens the image whole


def test_links_are_percent_escaped(tmp_path: Path) -> None:
    odd = png(tmp_path / "my photos" / "a#1 ?%.png")
    assert core.href(str(odd), tmp_path) == "my%20photos/a%231%20%3F%25.png"
    assert core.href(str(odd), tmp_path / "sub") == "../my%20photos/a%231%20%3F%25.png"


def test_missing_images_are_shown_as_missing(tmp_path: Path) -> None:
    results = demo(tmp_path)
    (tmp_path / "output" / "r1.png").unlink()
    page = Page(core.render(core.read_results([results], cwd=tmp_path), folder=results.parent))
    mug = page.articles[1]
    assert len(mug["imgs"]) == 1  # the input only: no broken <img> for the lost output
    assert "is missing" in page.text_of(1) and "r1.png" in page.text_of(1)


def test_alt_text_comes_from_the_prompt(tmp_path: Path) -> None:
    _, page = build(tmp_path)
    output = page.articles[0]["imgs"][1]
    assert output["alt"] == "Output 1 of job boot: on a white background"
    assert page.articles[0]["imgs"][0]["alt"] == "Input 1 of job boot: p0.png"


def test_user_text_cannot_break_out_of_the_page(tmp_path: Path) -> None:
    text, page = build(tmp_path)
    # The prompt is shown as text ...
    assert EVIL in page.text_of(1)
    # ... and adds no element: the only <img> are the job's pictures, no onerror anywhere.
    assert all("onerror" not in attrs for _, attrs in page.tags)
    assert sum(1 for tag, _ in page.tags if tag == "img") == 5
    assert all(
        src in ("in/p0.png", "../output/r0.png", "in/p1.png", "../output/r1.png", "in/p2.png")
        for tag, a in page.tags
        if tag == "img"
        for src in [a["src"]]
    )
    # The data for the script holds it exactly, and no '<' as itself.
    (raw,) = [t for a, t in page.scripts if a.get("type") == "application/json"]
    assert "<" not in raw and ">" not in raw
    assert page.data()["jobs"][1]["redo"]["prompt"] == EVIL
    assert text.count("</script>") == 2  # the data block's and the script's own


def test_the_page_uses_no_network_and_allows_none(tmp_path: Path) -> None:
    text, page = build(tmp_path)
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            if tag == "a" and value.startswith("http://127.0.0.1:9/"):
                continue  # an unsaved result's URL, shown as a link only
            assert not re.match(r"^(https?:)?//", value), (tag, attrs)
        assert not (tag == "link" and attrs.get("rel") == "stylesheet")
        assert not (tag == "script" and attrs.get("src"))
    policy = page.meta("Content-Security-Policy") or ""
    assert "default-src 'none'" in policy and "img-src 'self' file: data:" in policy
    assert "connect-src" not in policy  # default-src 'none' covers it
    # The one script and the one stylesheet are allowed by their hashes, nothing else.
    (script,) = [t for a, t in page.scripts if a.get("type") is None]
    (style,) = page.styles

    def digest(body: str) -> str:
        return base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()

    assert f"script-src 'sha256-{digest(script)}'" in policy
    assert f"style-src 'sha256-{digest(style)}'" in policy
    assert "@import" not in style and "url(" not in style


def test_the_page_is_semantic_and_plain(tmp_path: Path) -> None:
    text, page = build(tmp_path)
    names = [tag for tag, _ in page.tags]
    for tag in ("header", "nav", "main", "article", "h1", "h2", "figure", "figcaption", "dl"):
        assert tag in names
    html_tag = next(a for t, a in page.tags if t == "html")
    assert html_tag["lang"] == "en"
    assert page.meta("viewport") == "width=device-width, initial-scale=1"
    assert page.meta("color-scheme") == "light dark"
    assert "prefers-color-scheme: dark" in page.styles[0]
    assert all(a.get("alt") for t, a in page.tags if t == "img")
    buttons = [a for t, a in page.tags if t == "button"]
    assert {b.get("data-filter") for b in buttons} >= {"all", "failed", "mismatch", "redo"}


def test_redo_lines_are_jobs_batch_runs_from_any_folder(tmp_path: Path) -> None:
    _, page = build(tmp_path, new_fields=False)
    redo = [j["redo"] for j in page.data()["jobs"]]
    folder = tmp_path / "shoes"
    assert redo[0] == {
        "id": "boot",
        "images": [str((folder / "in" / "p0.png").absolute())],
        "prompt": "on a white background",
        "size": "2K",
    }
    # a job without an id keeps the id its results have, so the redo is recognisable
    from dmxedit.batch.jobs import job_id

    assert redo[2]["id"] == job_id({"images": ["in/p2.png"], "prompt": "make it blue"})
    # every line is a valid job for batch, wherever the file is saved
    from dmxedit.batch.jobs import Defaults, build_job
    from dmxedit.core.settings import resolve

    elsewhere = tmp_path / "Downloads"
    elsewhere.mkdir()
    for line in redo:
        job = build_job(json.loads(json.dumps(line)), 1, elsewhere, Defaults(resolve(env={})))
        assert job.id == line["id"]
        assert [str(i.path) for i in job.request.images] == line["images"]


def test_redo_lines_fill_in_what_the_command_gave_and_make_outputs_absolute(
    tmp_path: Path,
) -> None:
    png(tmp_path / "jobs" / "a.png")
    job = {"images": ["a.png"], "output": "out", "id": 7}
    results = write_lines(
        tmp_path / "jobs" / "x.results.jsonl",
        [
            {
                "id": "7",
                "line": 1,
                "status": "failed",
                "job": job,
                "prompt": "from -p",
                "ratio": "5:4",
                "size": "1K",
                "model": "nano-banana-2",
                "jobs_file": str(tmp_path / "jobs" / "x.jsonl"),
            }
        ],
    )
    (only,) = core.read_results([results]).jobs
    assert only.redo == {
        "id": "7",
        "images": [str(tmp_path / "jobs" / "a.png")],
        "output": str(tmp_path / "jobs" / "out"),
        "prompt": "from -p",
        "ratio": "5:4",
        "size": "1K",
        "model": "nano-banana-2",
    }


def test_two_results_files_with_the_same_ids_export_distinct_ids(tmp_path: Path) -> None:
    lines: list[dict[str, Any] | str] = [{"id": "a", "line": 1, "status": "failed"}]
    first = write_lines(tmp_path / "one.results.jsonl", lines)
    second = write_lines(tmp_path / "two.results.jsonl", lines)
    page = Page(core.render(core.read_results([first, second]), folder=tmp_path))
    assert [j["redo"]["id"] for j in page.data()["jobs"]] == ["a", "a-2"]
    assert [j["id"] for j in page.data()["jobs"]] == ["a", "a"]


def test_hundreds_of_jobs_make_one_page(tmp_path: Path) -> None:
    png(tmp_path / "a.png")
    lines: list[dict[str, Any] | str] = [
        {"id": f"j{i}", "line": i + 1, "status": "ok" if i % 3 else "failed", "files": ["a.png"]}
        for i in range(600)
    ]
    results = write_lines(tmp_path / "big.results.jsonl", lines)
    page = Page(core.render(core.read_results([results]), folder=tmp_path))
    assert len(page.articles) == 600 and len(page.data()["jobs"]) == 600
    assert all(img["loading"] == "lazy" for a in page.articles for img in a["imgs"])


# -- --embed --------------------------------------------------------------------------------


def test_embed_makes_a_self_contained_page_with_small_thumbnails(tmp_path: Path, pil: Any) -> None:
    Image = pil  # Pillow: skipped without the extra, except under CI
    results = demo(tmp_path)
    png(tmp_path / "output" / "r0.png", 2000, 1000)  # a big result: downscaled
    text = core.render(
        core.read_results([results], cwd=tmp_path), folder=results.parent, embed=True
    )
    page = Page(text)
    imgs = [img for a in page.articles for img in a["imgs"]]
    assert len(imgs) == 5
    for img in imgs:
        src = str(img["src"])
        assert src.startswith("data:image/")
        picture = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert max(picture.size) <= core.THUMBNAIL_SIDE
    big = page.articles[0]["imgs"][1]["src"]
    assert Image.open(io.BytesIO(base64.b64decode(str(big).split(",", 1)[1]))).size == (512, 256)
    assert "../output" not in text  # nothing linked: the page can be sent on its own


def test_embed_shows_an_unreadable_image_as_such(tmp_path: Path, pil: Any) -> None:
    results = demo(tmp_path)
    (tmp_path / "output" / "r0.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    page = Page(
        core.render(core.read_results([results], cwd=tmp_path), folder=results.parent, embed=True)
    )
    assert "cannot be read" in page.text_of(0) and len(page.articles[0]["imgs"]) == 1


def test_embed_without_pillow_is_exit_2_naming_the_extra(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = demo(tmp_path)
    for name in [n for n in sys.modules if n == "PIL" or n.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now raises ImportError
    run = expect(cli("report", str(results), "--embed"), 2, "pip install 'dmxedit[images]'")
    assert run.stdout == ""
    assert not (tmp_path / "shoes" / "shoes.report.html").exists()
    expect(cli("report", str(results)))  # without --embed it needs no Pillow


# -- the command ----------------------------------------------------------------------------


def test_the_default_page_is_beside_the_results_file(cli: Cli, tmp_path: Path) -> None:
    results = demo(tmp_path).relative_to(tmp_path)  # the current folder
    run = expect(cli("report", str(results)))
    page = tmp_path / "shoes" / "shoes.report.html"
    assert run.stdout == f"{Path('shoes') / 'shoes.report.html'}\n"  # as it was named
    assert page.is_file() and "3 jobs: 2 ok, 1 failed" in run.stderr
    assert "file://" in run.stderr  # where to open it
    assert Page(page.read_text(encoding="utf-8")).articles
    assert list(page.parent.glob(".dmxedit-report-*")) == []  # written whole, no leftover


def test_o_names_the_page_or_its_folder_and_links_follow_it(cli: Cli, tmp_path: Path) -> None:
    results = demo(tmp_path)
    expect(cli("report", str(results), "-o", "pages/today.html"))
    page = Page((tmp_path / "pages" / "today.html").read_text(encoding="utf-8"))
    assert page.articles[0]["imgs"][0]["src"] == "../shoes/in/p0.png"
    assert page.data()["export_name"] == "today.redo.jsonl"
    (tmp_path / "folder").mkdir()
    run = expect(cli("report", str(results), "-o", "folder"))
    assert run.stdout.strip() == str(Path("folder") / "shoes.report.html")
    page = Page((tmp_path / "folder" / "shoes.report.html").read_text(encoding="utf-8"))
    assert page.articles[0]["imgs"][1]["src"] == "../output/r0.png"
    assert page.data()["export_name"] == "shoes.redo.jsonl"
    expect(cli("report", str(results), "-o", "new/"))  # a slash: a folder, made for it
    assert (tmp_path / "new" / "shoes.report.html").is_file()


def test_o_dash_writes_the_page_to_stdout_linked_from_here(cli: Cli, tmp_path: Path) -> None:
    results = demo(tmp_path)
    run = expect(cli("report", str(results), "-o", "-"))
    page = Page(run.stdout)
    assert page.articles[0]["imgs"][0]["src"] == "shoes/in/p0.png"
    assert not (tmp_path / "shoes" / "shoes.report.html").exists()


def test_a_report_is_replaced_but_no_other_file(cli: Cli, tmp_path: Path) -> None:
    results = demo(tmp_path)
    expect(cli("report", str(results)))
    page = tmp_path / "shoes" / "shoes.report.html"
    page.write_text(page.read_text(encoding="utf-8").replace("on a white", "OLD"))
    expect(cli("report", str(results)))  # its own earlier page: regenerated
    assert "OLD" not in page.read_text(encoding="utf-8")
    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>")
    run = expect(cli("report", str(results), "-o", str(mine)), 2, "not a dmxedit report", "--force")
    assert run.stdout == "" and mine.read_text() == "<p>my notes</p>"
    expect(cli("report", str(results), "-o", str(mine), "--force"))
    assert core.is_report(mine)


def test_json_prints_the_path_and_the_counts(cli: Cli, tmp_path: Path) -> None:
    results = demo(tmp_path).relative_to(tmp_path)
    out = json.loads(expect(cli("report", str(results), "--json")).stdout)
    assert out == {
        "path": str(Path("shoes") / "shoes.report.html"),
        "jobs": 3,
        "ok": 2,
        "failed": 1,
        "mismatch": 1,
        "embedded": False,
    }


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        ([], "--history"),
        (["missing.results.jsonl"], "does not exist"),
        (["--since", "3d", "x.jsonl"], "--since goes with --history"),
        (["--history", "--since", "yesterday"], "is not a date"),
    ],
)
def test_usage_errors_are_exit_2(cli: Cli, args: list[str], phrase: str) -> None:
    run = expect(cli("report", *args), 2, phrase)
    assert run.stdout == ""


def test_a_jobs_file_given_by_mistake_is_named_as_such(cli: Cli, tmp_path: Path) -> None:
    demo(tmp_path)
    expect(cli("report", str(tmp_path / "shoes" / "shoes.jsonl")), 2, "not the jobs file")


def test_a_real_batch_reported_end_to_end(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    for i in range(3):
        png(tmp_path / "jobs" / f"i{i}.png", 20 + i, 10, filler=i)
    jobs = write_lines(
        tmp_path / "jobs" / "jobs.jsonl",
        [{"id": f"j{i}", "images": [f"i{i}.png"], "prompt": f"job-{i}"} for i in range(3)],
    )

    def refuse(recorded: Recorded) -> Reply | None:
        if recorded.fields.get("prompt") == "job-1":
            return Reply(status=400, json={"error": {"message": "refused job"}})
        return None

    server.on_request = refuse
    expect(cli("batch", str(jobs), "-r", "1:1", "-s", "1K"), 7)
    expect(cli("report", str(tmp_path / "jobs" / "jobs.results.jsonl")))
    page = Page((tmp_path / "jobs" / "jobs.report.html").read_text(encoding="utf-8"))
    assert [a["attrs"]["data-status"] for a in page.articles] == ["ok", "failed", "ok"]
    assert "refused job" in page.text_of(1) and "job-1" in page.text_of(1)
    for article in (page.articles[0], page.articles[2]):
        (inp, out) = article["imgs"]
        assert (tmp_path / "jobs" / unquote(str(out["src"]))).is_file()
        assert (tmp_path / "jobs" / unquote(str(inp["src"]))).is_file()
    assert page.data()["jobs"][1]["redo"]["prompt"] == "job-1"
    # batch's receipt: the fake server's 16x16 PNG is not the 1K 1:1 asked for
    assert "16x16 PNG" in page.text_of(0) and page.articles[0]["attrs"]["data-mismatch"] == "1"
    assert "1:1 1K (1024x1024)" in page.text_of(0)


def test_variants_are_each_a_job_of_their_own(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    photo = png(tmp_path / "photo.png")
    expect(cli("edit", str(photo), "-p", "two takes", "--variants", "2", "--results", "v.jsonl"))
    expect(cli("report", "v.jsonl"))
    page = Page((tmp_path / "v.report.html").read_text(encoding="utf-8"))
    assert len(page.articles) == 2
    assert "variant 1" in page.text_of(0) and "variant 2" in page.text_of(1)
    assert "no ratio or size set" in page.text_of(0)
    ids = [j["redo"]["id"] for j in page.data()["jobs"]]
    assert len(set(ids)) == 2 and all(
        j["redo"]["prompt"] == "two takes" for j in page.data()["jobs"]
    )


def test_history_reports_the_ledger(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    photo = png(tmp_path / "photo.png")
    expect(cli("edit", str(photo), "-p", "first edit", "-r", "5:4", "-s", "2K"))
    server.script("/v1/images/edits", Reply(status=400, json={"error": {"message": "nope"}}))
    expect(cli("edit", str(photo), "-p", "second edit"), 4)
    run = expect(cli("report", "--history"))
    assert run.stdout.strip() == "history.report.html"
    page = Page((tmp_path / "history.report.html").read_text(encoding="utf-8"))
    assert [a["attrs"]["data-status"] for a in page.articles] == ["failed", "ok"]  # newest first
    assert "nope" in page.text_of(0) and "5:4 2K (2304x1856)" in page.text_of(1)
    assert page.articles[1]["imgs"][0]["src"] == "photo.png"
    redo = page.data()["jobs"][1]["redo"]
    assert redo["images"] == [str(photo.resolve())] and redo["prompt"] == "first edit"
    assert redo["ratio"] == "5:4" and redo["size"] == "2K"
    assert "16x16 PNG" in page.text_of(1)  # the ledger's receipt
    assert page.articles[1]["attrs"]["data-mismatch"] == "1"
    # --since in the future: nothing to show is an error saying so
    expect(cli("report", "--history", "--since", "2999-01-01"), 2, "No ledger entry since")
    # --limit keeps the newest and says that some were left out
    run = expect(cli("report", "--history", "-n", "1", "-o", "one.html"))
    assert "--limit" in run.stderr
    assert len(Page((tmp_path / "one.html").read_text(encoding="utf-8")).articles) == 1


def test_history_with_no_ledger_is_explained(cli: Cli) -> None:
    expect(cli("report", "--history"), 2, "ledger is empty")


def test_report_is_in_the_help_and_its_help_names_the_options(cli: Cli) -> None:
    listing = expect(cli("--help")).stdout
    assert "report" in listing
    own = expect(cli("report", "--help")).stdout
    for option in ("--embed", "--history", "--since", "--output", "--force"):
        assert option in own


def test_report_help_starts_light() -> None:
    from helpers import probe_imports

    result = probe_imports("report", "--help")
    assert result["code"] == 0 and result["heavy"] == []


def test_report_json_with_the_page_on_stdout_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    results = tmp_path / "jobs.results.jsonl"
    results.write_text('{"id": "a", "line": 1, "status": "ok", "files": [], "urls": []}\n')
    import json

    run = expect(cli("report", str(results), "--json", "-o", "-"), 2, "choose one")
    assert json.loads(run.stdout)["error"]["exit_code"] == 2  # not a page, then nothing
