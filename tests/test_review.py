"""Defects found by the review of the merged issues 12-15, one test each."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from conftest import expect


def _gif(pil: Any) -> bytes:
    out = io.BytesIO()
    pil.new("RGB", (30, 20), "red").save(out, "GIF")
    return out.getvalue()


def test_unreadable_input_is_a_sentence_not_a_python_repr(cli, tmp_path: Path, pil: Any) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "cut.gif"
    bad.write_bytes(_gif(pil)[:30])  # a GIF header, then nothing Pillow can read
    run = expect(cli("edit", str(bad), "-p", "x"), 2, "cut.gif", "cannot be read")
    assert "<_io." not in run.stderr and "BufferedReader" not in run.stderr, run.stderr
    assert "cannot identify image file" not in run.stderr, run.stderr


def test_pillow_warnings_never_reach_stderr(cli_process, tmp_path: Path, pil: Any) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\xff" * 100)  # Pillow warns "Corrupt EXIF data"
    run = cli_process("edit", str(bad), "-p", "x")
    assert run.code == 2, run.output
    assert "Warning" not in run.stderr and "warnings.warn" not in run.stderr, run.stderr
    assert "bad.tif" in run.stderr


@pytest.mark.parametrize(
    ("template", "phrase", "python_words"),
    [
        ("{stem", "brace is without its pair", "expected '}'"),
        ("a}b", "brace is without its pair", "Single '}'"),
        ("{i:s}", "does not suit its field", "Unknown format code"),
        ("{ts:%Y}", "does not suit its field", "Invalid format specifier"),
        ("{stem!r}", "no conversions", "'"),
    ],
)
def test_name_template_errors_are_sentences(  # type: ignore[no-untyped-def]
    cli, server, png: Path, template: str, phrase: str, python_words: str
) -> None:
    run = expect(cli("edit", str(png), "-p", "x", "--name", template), 2, phrase)
    first = run.stderr.splitlines()[0]
    assert python_words not in first.replace(repr(template), ""), run.stderr
    assert server.posts() == []  # refused before anything is sent


def test_a_billing_verdict_keeps_the_time_the_request_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`recover --check` and `batch --reconcile` search from the entry's send to a minute
    after ``updated`` (its failure): recording a verdict must not move ``updated``, or
    each later check of an open verdict would search a wider window and count other
    requests' charges as this one's."""
    from dmxedit.engine import billing
    from dmxedit.store import ledger

    book = ledger.Ledger(tmp_path / "ledger.db")
    entry = book.create(kind="edit", status="sent", model="nano-banana-2")
    book.update(entry, status="failed", may_be_billed=True)
    ended = book.get(entry)
    assert ended is not None
    later = ended.updated + 3600.0
    monkeypatch.setattr("dmxedit.store.ledger.time.time", lambda: later)
    billing.record(book, entry, billing.Verdict(None, "unavailable", "no answer", [], later))
    after = book.get(entry)
    assert after is not None and after.billing is not None
    assert after.updated == ended.updated
    book.close()


def test_recover_names_files_by_the_runs_template_and_gives_a_receipt(  # type: ignore[no-untyped-def]
    cli, server, png: Path, tmp_path: Path
) -> None:
    """A result recovered later is named as its run asked (--name) and is checked like
    any saved image (SPEC 9): the warning names both sizes; the ledger records it."""
    from fakeserver import EDITS, PNG_BYTES, Reply

    from dmxedit.store.ledger import Ledger, ledger_path

    url = server.add_file("late.png", PNG_BYTES)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/late.png", Reply(status=404))
    out = tmp_path / "out"
    args = ("-o", str(out), "-r", "16:9", "-s", "4K", "--name", "{stem}_snow_{size}")
    assert cli("edit", str(png), "-p", "x", *args).code == 6
    run = expect(cli("recover"), 0, "asked 4K 16:9 (5504x3072), got 16x16")
    (path,) = run.stdout.split()
    assert Path(path) == out / f"{png.stem}_snow_4K.png"
    book = Ledger(ledger_path())
    (entry,) = book.query(limit=None)
    book.close()
    assert entry.status == "saved"
    assert entry.mismatch == ["asked 4K 16:9 (5504x3072), got 16x16"]
    assert entry.files[-1]["delivered"] == {"format": "png", "width": 16, "height": 16}


def test_the_command_line_secret_warning_says_an_api_key(cli) -> None:  # type: ignore[no-untyped-def]
    run = expect(cli("config", "set", "api-key", "sk-review0000abcd"), 0)
    assert "an API key on the command line" in run.stderr, run.stderr
    token = expect(cli("config", "set", "system-token", "review-token-0000"), 0)
    assert "a system token on the command line" in token.stderr, token.stderr
    assert "review-token-0000" not in token.stdout + token.stderr


def _log_page(items: list[dict[str, Any]], **extra: Any) -> Any:
    from fakeserver import Reply

    return Reply(json={"success": True, "message": "", "data": {"items": items, **extra}})


def _items(first: int, count: int) -> list[dict[str, Any]]:
    import time

    now = int(time.time()) - 120
    return [
        {
            "id": first + i,
            "created_at": now - i,
            "model_name": "nano-banana-2",
            "token_name": "t",
            "quota": 50000,
            "prompt_tokens": 0,
            "completion_tokens": 1210,
            "use_time": 9,
            "request_id": f"r{first + i}",
        }
        for i in range(count)
    ]


ACCOUNT = {"DMXAPI_SYSTEM_TOKEN": "systok-fake-0123456789abcdef", "DMXAPI_USER_ID": "4242"}
PERIOD = ("--since", "2020-01-01", "--until", "2099-12-31")


def test_usage_reads_every_page_of_a_log_that_gives_no_total(cli, server) -> None:  # type: ignore[no-untyped-def]
    import json

    from fakeserver import LOG_SELF

    server.script(LOG_SELF, _log_page(_items(0, 100)), _log_page(_items(100, 7)))
    run = expect(cli("usage", *PERIOD, "--json", env=ACCOUNT))
    assert json.loads(run.stdout)["total"]["requests"] == 107
    assert len([r for r in server.requests if r.path == LOG_SELF]) == 2


def test_usage_stops_when_a_site_answers_the_same_page_again(cli, server) -> None:  # type: ignore[no-untyped-def]
    import json

    from fakeserver import LOG_SELF

    same = _items(0, 100)
    server.script(LOG_SELF, *[_log_page(same, total=1000)] * 600)
    run = cli("usage", *PERIOD, "--json", env=ACCOUNT)
    assert len([r for r in server.requests if r.path == LOG_SELF]) == 2, run.output
    assert json.loads(run.stdout)["complete"] is False


@pytest.mark.parametrize(
    ("template", "phrase"),
    [("shot:{i}", "Windows does not allow"), ("{stem}.", "ends in a dot"), ("nul", "device")],
)
def test_on_windows_a_name_windows_cannot_hold_is_refused_before_sending(  # type: ignore[no-untyped-def]
    cli, server, png: Path, monkeypatch: pytest.MonkeyPatch, template: str, phrase: str
) -> None:
    """Else the request is paid for and then cannot be saved (exit 6)."""
    from dmxedit.store import names

    monkeypatch.setattr(names, "_WINDOWS", True)
    expect(cli("edit", str(png), "-p", "x", "--name", template), 2, phrase)
    assert server.posts() == []


def test_elsewhere_a_colon_in_a_name_is_fine(cli, server, png: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dmxedit.store import names

    assert names._WINDOWS is False
    run = expect(cli("edit", str(png), "-p", "x", "--name", "shot:{i}", "-o", str(tmp_path)))
    assert run.stdout.strip() == str(tmp_path / "shot:1.png")


def test_a_photo_over_pillows_limit_is_refused_in_words_of_its_own(  # type: ignore[no-untyped-def]
    cli, server, tmp_path: Path, pil: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pil, "MAX_IMAGE_PIXELS", 1000)  # 2,000 pixels is the hard limit
    big = tmp_path / "big.gif"
    pil.new("RGB", (100, 100), "red").save(big)
    run = expect(
        cli("edit", str(big), "-p", "x"), 2, "too many pixels to decode safely (more than 2,000)"
    )
    assert "DOS attack" not in run.stderr and "decompression bomb" not in run.stderr
    assert server.posts() == []


def test_messages_count_in_words_not_with_s_in_brackets(cli) -> None:  # type: ignore[no-untyped-def]
    one = expect(cli("balance", "extra"), 2, "Unexpected extra argument: extra.")
    two = expect(cli("ratios", "a", "b"), 2, "Unexpected extra arguments: a b.")
    bare = expect(cli("report"), 2, "Name the results files")
    for run in (one, two, bare):
        assert "(s)" not in run.stderr, run.stderr


def test_a_batch_re_run_that_downloads_records_the_receipt_in_the_ledger(  # type: ignore[no-untyped-def]
    cli, server, tmp_path: Path, png: Path
) -> None:
    import json

    from fakeserver import EDITS, PNG_BYTES, Reply

    from dmxedit.store.ledger import Ledger, ledger_path

    jobs = tmp_path / "jobs.jsonl"
    job = {"id": "j1", "images": [str(png)], "prompt": "x", "ratio": "16:9", "size": "4K"}
    jobs.write_text(json.dumps(job) + "\n")
    url = server.add_file("later.png", PNG_BYTES)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/later.png", Reply(status=404))
    assert cli("batch", str(jobs)).code == 7
    again = expect(
        cli("batch", str(jobs)), 0, "asked 4K 16:9 (5504x3072), got 16x16", "saved as delivered"
    )
    (saved,) = again.stdout.split()
    assert saved in again.stderr  # the warning names the file
    book = Ledger(ledger_path())
    (entry,) = book.query(limit=None)
    book.close()
    assert entry.status == "saved"
    assert entry.mismatch == ["asked 4K 16:9 (5504x3072), got 16x16"]
    assert entry.files[-1]["delivered"] == {"format": "png", "width": 16, "height": 16}


def test_a_32_bit_grey_tiff_is_converted_not_an_internal_error(  # type: ignore[no-untyped-def]
    cli, server, tmp_path: Path, pil: Any
) -> None:
    grey = tmp_path / "depth.tif"
    pil.new("I", (300, 200), 1000).save(grey)  # Pillow cannot write mode I as PNG
    run = expect(cli("edit", str(grey), "-p", "x", "-o", str(tmp_path / "out")), 0)
    assert "internal error" not in run.stderr
    (post,) = server.posts()
    (part,) = post.images
    sent = pil.open(io.BytesIO(part.data))
    assert (sent.format, sent.size) == ("PNG", (300, 200))
    assert sent.getextrema() == (1000, 1000)


def test_report_json_with_the_page_on_stdout_is_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    results = tmp_path / "jobs.results.jsonl"
    results.write_text('{"id": "a", "line": 1, "status": "ok", "files": [], "urls": []}\n')
    import json

    run = expect(cli("report", str(results), "--json", "-o", "-"), 2, "choose one")
    assert json.loads(run.stdout)["error"]["exit_code"] == 2  # not a page, then nothing


def test_variants_without_results_do_not_promise_a_re_run_skips_finished_ones(  # type: ignore[no-untyped-def]
    cli, server, png: Path, tmp_path: Path
) -> None:
    """Nothing records which variant succeeded: a re-run would pay for them again."""
    from fakeserver import EDITS, Reply

    server.script(EDITS, Reply(status=400, json={"error": {"message": "bad"}}))
    run = cli("edit", str(png), "-p", "x", "--variants", "2", "-o", str(tmp_path / "o"))
    assert run.code == 7, run.output
    assert "skips finished jobs" not in run.stderr, run.stderr
    assert "sends every job again" in run.stderr and "--results FILE" in run.stderr
    recorded = tmp_path / "r.jsonl"
    server.script(EDITS, Reply(status=400, json={"error": {"message": "bad"}}))
    again = cli("edit", str(png), "-p", "y", "--variants", "2", "--results", str(recorded))
    assert again.code == 7 and "A re-run skips finished jobs" in again.stderr, again.output


def test_batch_lines_on_stderr_are_written_whole(tmp_path: Path) -> None:
    """Job threads write notes, warnings and failures at once: each line must go out in
    one write, or two of them run into each other ("...443 bytes)dmxedit: job ...")."""
    from dmxedit.cli.batch_run import PlainBatchEvents
    from dmxedit.cli.context import RunContext

    class Writes(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        def write(self, text: str) -> int:
            self.calls.append(text)
            return super().write(text)

    err = Writes()
    ctx = RunContext(stdin=None, stdout=io.StringIO(), stdout_bytes=io.BytesIO(), stderr=err)
    events = PlainBatchEvents(ctx, quiet=False, print_files=False)
    events.note("a note")
    events.warn("a warning")
    events.total = 1
    events.job_finished({"id": "j", "line": 1, "status": "failed", "error": "boom"})
    lines = [c for c in err.calls if c]
    assert lines[:3] == [
        "dmxedit: a note\n",
        "dmxedit: warning: a warning\n",
        "dmxedit: job j (line 1) failed: boom\n",
    ]


def test_recover_names_variants_by_their_number(cli, server, png: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fakeserver import EDITS, GENERATIONS, PNG_BYTES, Reply

    urls = [server.add_file(f"late{i}.png", PNG_BYTES) for i in (1, 2)]
    server.script(EDITS, *[Reply(json={"data": [{"url": u}]}) for u in urls])
    for i in (1, 2):
        server.script(f"/files/late{i}.png", Reply(status=404))
    out = tmp_path / "out"
    run = cli(
        "edit", str(png), "-p", "x", "--variants", "2", "--name", "cand-{variant}", "-o", str(out)
    )
    assert run.code == 7, run.output
    recovered = expect(cli("recover")).stdout.split()
    assert sorted(Path(p).name for p in recovered) == ["cand-1.png", "cand-2.png"]
    # a batch job whose own id merely ends in -v2 is not a variant
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"id": "shot-v2", "prompt": "y", "name": "n{variant}"}\n')
    server.script(GENERATIONS, Reply(json={"data": [{"url": urls[0]}]}))
    server.script("/files/late1.png", Reply(status=404))
    assert cli("batch", str(jobs), "-o", str(out)).code == 7
    (again,) = expect(cli("recover")).stdout.split()
    assert Path(again).name == "n1.png"


def test_warnings_are_named_alike_with_and_without_quiet(cli, server, png: Path) -> None:  # type: ignore[no-untyped-def]
    args = ("edit", str(png), "-p", "x", "-r", "16:9", "-s", "4K")
    for run in (expect(cli(*args)), expect(cli(*args, "-q"))):
        (line,) = [x for x in run.stderr.splitlines() if "asked 4K 16:9" in x]
        assert line.startswith("dmxedit: warning: "), run.stderr
