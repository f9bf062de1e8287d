"""The gemini door end to end against the fake server: the request each gemini model
sends (URL, headers, body), every answer shape DMXAPI documents saved with the right
extension, the model's words, usage, refusals, Google's errors, and safe retries."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from pathlib import Path

import fakegemini
import pytest
from fakegemini import blocked, google_error, inline_answer, no_image, pro_answer, pro_text_quirk
from fakeserver import JPEG_BYTES, PNG_BYTES, SYSTEM_TOKEN, USER_ID, FakeDMX, Reply, make_png
from helpers import KEY, Cli

FLASH = "gemini-3.1-flash-image"
PRO = "gemini-3-pro-image"
LITE = "gemini-3.1-flash-lite-image"
pytestmark = pytest.mark.e2e


def _inputs(tmp_path: Path, count: int = 2) -> list[Path]:
    paths = []
    for i in range(count):
        path = tmp_path / f"in{i}.png"
        path.write_bytes(make_png(20 + i, 10, filler=i))
        paths.append(path)
    return paths


@pytest.mark.parametrize(
    ("model", "extra", "config", "tools"),
    [
        (
            FLASH,
            ["--ratio", "8:1", "--size", "2k", "--search"],
            {"aspectRatio": "8:1", "imageSize": "2K"},
            [{"google_search": {"search_types": {"web_search": {}, "image_search": {}}}}],
        ),
        (
            PRO,
            ["--ratio", "16:9", "--size", "4K", "--search"],
            {"aspectRatio": "16:9", "imageSize": "4K"},
            [{"google_search": {}}],
        ),
        (LITE, ["--ratio", "3:4"], {"aspectRatio": "3:4"}, None),
        (FLASH, [], None, None),
    ],
)
def test_each_gemini_model_sends_its_url_headers_and_body(
    cli: Cli,
    server: FakeDMX,
    tmp_path: Path,
    model: str,
    extra: list[str],
    config: dict[str, str] | None,
    tools: list[object] | None,
) -> None:
    inputs = _inputs(tmp_path)
    run = cli(
        "edit",
        *map(str, inputs),
        "-p",
        "add a hat",
        "-m",
        model,
        *extra,
        "-o",
        str(tmp_path / "out"),
    )
    assert run.code == 0, run.output
    (post,) = server.posts()
    assert post.path == f"/v1beta/models/{model}:generateContent"
    assert post.headers["x-goog-api-key"] == KEY
    assert "authorization" not in post.headers
    assert post.headers["content-type"] == "application/json"
    assert fakegemini.problems(post) == []
    body = post.json
    parts = body["contents"][0]["parts"]
    assert body["contents"][0]["role"] == "user"
    assert parts[0] == {"text": "add a hat"}
    assert [p["inline_data"]["mime_type"] for p in parts[1:]] == ["image/png", "image/png"]
    assert [img.data for img in post.images] == [p.read_bytes() for p in inputs]
    generation = body["generationConfig"]
    assert generation["responseModalities"] == ["TEXT", "IMAGE"]
    assert generation.get("imageConfig") == config
    assert body.get("tools") == tools
    assert set(body) <= {"contents", "generationConfig", "tools"}


def test_generate_sends_only_the_prompt(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    run = cli("generate", "-p", "a cat", "-m", FLASH, "-o", str(tmp_path))
    assert run.code == 0, run.output
    assert server.posts()[0].json["contents"][0]["parts"] == [{"text": "a cat"}]


@pytest.mark.parametrize(
    ("model", "answer", "ext", "data"),
    [
        (FLASH, inline_answer(PNG_BYTES), ".png", PNG_BYTES),
        (FLASH, inline_answer(PNG_BYTES, snake=True), ".png", PNG_BYTES),
        (PRO, pro_answer(), ".jpg", JPEG_BYTES),
        (PRO, pro_text_quirk(PNG_BYTES), ".png", PNG_BYTES),
        (LITE, inline_answer(JPEG_BYTES, "image/png"), ".jpg", JPEG_BYTES),  # named by bytes
    ],
)
def test_each_answer_shape_is_saved_by_its_bytes(
    cli: Cli,
    server: FakeDMX,
    tmp_path: Path,
    model: str,
    answer: dict[str, object],
    ext: str,
    data: bytes,
) -> None:
    server.script(fakegemini.path(model), Reply(json=answer))
    run = cli("generate", "-p", "x", "-m", model, "-o", str(tmp_path / "out"), "--json")
    assert run.code == 0, run.output
    out = json.loads(run.stdout)
    (saved,) = out["files"]
    assert saved.endswith(ext) and Path(saved).read_bytes() == data
    assert out["urls"] == []
    assert "data:image" not in run.stdout + run.stderr
    assert out["usage"]["total_tokens"] == 2552
    assert out["usage"]["usageMetadata"]["thoughtsTokenCount"] == 748


def test_the_default_pro_answer_is_a_jpeg(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    run = cli("generate", "-p", "x", "-m", PRO, "-o", str(tmp_path))
    assert run.code == 0, run.output
    assert run.stdout.strip().endswith(".jpg")


def test_the_model_text_travels(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    words = "Here is your cat, now wearing a hat 🎩."
    server.script(fakegemini.path(FLASH), Reply(json=inline_answer(text=words)))
    out = tmp_path / "out"
    run = cli("generate", "-p", "x", "-m", FLASH, "-o", str(out), "--json", "--save-metadata")
    assert run.code == 0, run.output
    result = json.loads(run.stdout)
    assert result["text"] == [words]
    assert words in run.stderr
    assert result["usage"] == {
        "prompt_tokens": 32,
        "candidates_tokens": 1772,
        "thoughts_tokens": 748,
        "total_tokens": 2552,
        "usageMetadata": fakegemini.USAGE,
    }
    (sidecar,) = result["metadata_files"]
    assert json.loads(Path(sidecar).read_text())["text"] == [words]
    shown = cli("history", "show", "1", "--json")
    assert shown.code == 0, shown.output
    entry = json.loads(shown.stdout)
    assert entry["text"] == [words] and entry["usage"]["total_tokens"] == 2552
    quiet = cli("generate", "-p", "x", "-m", FLASH, "-o", str(out), "-q")
    assert quiet.code == 0 and "Here is the edited image." not in quiet.stderr


def test_the_ledger_migration_adds_the_text_column(tmp_path: Path) -> None:
    from dmxedit.store.ledger import Ledger

    book = Ledger(tmp_path / "ledger.db")
    book.close()
    db = sqlite3.connect(tmp_path / "ledger.db")
    try:
        names = {row[0] for row in db.execute("SELECT name FROM migrations")}
        columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
    finally:
        db.close()  # Python 3.13 warns of an unclosed connection (and the suite fails on it)
    assert "0006-model-text" in names and "text" in columns


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (
            no_image("IMAGE_SAFETY", "I can't draw that person."),
            ["finishReason: IMAGE_SAFETY", "I can't draw that person."],
        ),
        (no_image("STOP", "Which cat do you mean?"), ["finishReason: STOP", "Which cat"]),
        (blocked("PROHIBITED_CONTENT"), ["blockReason: PROHIBITED_CONTENT"]),
        ({"candidates": []}, ["no candidates"]),
    ],
)
def test_an_answer_without_an_image_is_exit_4_with_the_reasons(
    cli: Cli, server: FakeDMX, tmp_path: Path, answer: dict[str, object], said: list[str]
) -> None:
    server.script(fakegemini.path(FLASH), Reply(json=answer))
    run = cli("generate", "-p", "x", "-m", FLASH, "-o", str(tmp_path), "--json")
    assert run.code == 4, run.output
    error = json.loads(run.stdout)["error"]
    for words in said:
        assert words in error["message"]
    assert len(server.posts()) == 1
    assert list(tmp_path.glob("*.png")) == []


@pytest.mark.parametrize(
    ("reply", "code", "posts"),
    [
        (google_error(400, "Image input is not supported."), 4, 1),
        (google_error(401, "API key not valid."), 3, 1),
        (google_error(404, "models/x is not found for API version v1beta"), 4, 1),
    ],
)
def test_google_errors_are_shown_like_openai_ones(
    cli: Cli, server: FakeDMX, tmp_path: Path, reply: Reply, code: int, posts: int
) -> None:
    server.script(fakegemini.path(FLASH), reply)
    run = cli("generate", "-p", "x", "-m", FLASH, "-o", str(tmp_path))
    assert run.code == code, run.output
    message = reply.json["error"]["message"]
    assert message.split(" ")[0] in run.stderr
    assert f"HTTP {reply.status}" in run.stderr
    assert len(server.posts()) == posts


def test_a_google_error_under_200_is_an_error(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    error = {
        "error": {
            "code": 400,
            "message": "Request contains an invalid argument.",
            "status": "INVALID_ARGUMENT",
        }
    }
    server.script(fakegemini.path(FLASH), Reply(json=error))
    run = cli("generate", "-p", "x", "-m", FLASH, "-o", str(tmp_path))
    assert run.code == 4, run.output
    assert "Request contains an invalid argument." in run.stderr


@pytest.mark.parametrize("status", [429, 503])
def test_busy_answers_are_sent_again(
    cli: Cli, server: FakeDMX, tmp_path: Path, status: int
) -> None:
    busy = google_error(status, "The model is overloaded.")
    busy.headers["Retry-After"] = "0"
    server.script(fakegemini.path(FLASH), busy)
    run = cli("generate", "-p", "x", "-m", FLASH, "-o", str(tmp_path))
    assert run.code == 0, run.output
    assert len(server.posts()) == 2


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (google_error(500, "Internal error encountered."), 5),
        (Reply(drop=True), 5),
        (Reply(json=inline_answer(), truncate_to=200), 5),
    ],
)
def test_what_may_have_been_billed_is_not_sent_again(
    cli: Cli, server: FakeDMX, tmp_path: Path, reply: Reply, code: int
) -> None:
    server.script(fakegemini.path(FLASH), reply)
    run = cli("generate", "-p", "x", "-m", FLASH, "-o", str(tmp_path), "--json")
    assert run.code == code, run.output
    assert len(server.posts()) == 1
    error = json.loads(run.stdout)["error"]
    assert error["may_be_billed"] is True
    assert "may have" in error["message"]
    entry = json.loads(cli("history", "show", "1", "--json").stdout)
    assert entry["status"] == "failed" and entry["may_be_billed"] is True


def test_a_file_uri_part_is_a_result_url(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    url = server.add_file("g.png", PNG_BYTES)
    answer = {
        "candidates": [
            {
                "content": {"parts": [{"fileData": {"fileUri": url, "mimeType": "image/png"}}]},
                "finishReason": "STOP",
            }
        ]
    }
    server.script(fakegemini.path(FLASH), Reply(json=answer))
    run = cli("generate", "-p", "x", "-m", FLASH, "-o", str(tmp_path), "--json")
    assert run.code == 0, run.output
    result = json.loads(run.stdout)
    assert result["urls"] == [url]
    assert Path(result["files"][0]).read_bytes() == PNG_BYTES


class _FakeTime:
    """The billing check's clock and sleep: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.offset = 0.0

    def clock(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += seconds


@pytest.mark.parametrize("bill", [True, False])
def test_the_billing_check_reads_a_gemini_500(
    cli: Cli, server: FakeDMX, tmp_path: Path, bill: bool
) -> None:
    server.script(fakegemini.path(FLASH), dataclasses.replace(google_error(500, "boom"), bill=bill))
    fake = _FakeTime()
    account = {"DMXAPI_SYSTEM_TOKEN": SYSTEM_TOKEN, "DMXAPI_USER_ID": USER_ID}
    run = cli(
        "generate",
        "-p",
        "x",
        "-m",
        FLASH,
        "-o",
        str(tmp_path),
        "--json",
        env=account,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert run.code == 5, run.output
    error = json.loads(run.stdout)["error"]
    assert error["billed"] is bill
    assert len(server.posts()) == 1
    if bill:
        assert error["billing"]["how"] == "request_id"
        assert server.log[0]["model_name"] == FLASH


def test_the_billing_log_knows_a_gemini_request(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    run = cli("generate", "-p", "x", "-m", PRO, "--size", "4K", "-o", str(tmp_path))
    assert run.code == 0, run.output
    (item,) = server.log
    assert item["model_name"] == PRO and item["token_name"] == "dmxedit-test"


def test_the_fake_decodes_big_inputs_and_keeps_long_prompts(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(make_png(8, 8) + bytes(range(256)) * 8192)  # 2 MiB: streamed by the fake
    prompt = "a long prompt " * 2000
    run = cli("edit", str(big), "-p", prompt, "-m", FLASH, "-o", str(tmp_path / "out"))
    assert run.code == 0, run.output
    (post,) = server.posts()
    assert post.json["contents"][0]["parts"][0]["text"] == prompt.strip()
    assert post.json["contents"][0]["parts"][1]["inline_data"]["data"].startswith("<inline_data 0")
    assert post.images[0].data == big.read_bytes()
