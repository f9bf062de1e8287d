"""The ledger, interrupts, `history`, `recover`, `@last` and the batch's results file
(issue 10), end to end against the fake server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from fakeserver import EDITS, PNG_BYTES, FakeDMX, Reply, make_big_png, make_png
from helpers import (
    KEY,
    Cli,
    expect,
    jobs_file,
    partial_files,
    run_in_process,
    start,
    wait_until,
)

from dmxedit.store.ledger import Entry, Ledger

pytestmark = pytest.mark.e2e


def ledger_file() -> Path:
    return Path(os.environ["DMXEDIT_DATA_DIR"]) / "ledger.db"


def entries() -> list[Entry]:
    book = Ledger(ledger_file())
    try:
        return list(reversed(book.query(limit=None)))
    finally:
        book.close()


# -- the entry of a request ---------------------------------------------------------------


def test_an_edit_is_recorded_from_send_to_save(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = expect(cli("edit", str(png), "-p", "make it snow", "--ratio", "5:4", "--size", "4k"))
    (saved,) = run.stdout.split()
    (entry,) = entries()
    assert (entry.kind, entry.status, entry.model, entry.prompt) == (
        "edit",
        "saved",
        "nano-banana-2",
        "make it snow",
    )
    assert entry.options["aspect_ratio"] == "5:4" and entry.options["size"] == "4K"
    assert entry.inputs[0]["path"] == str(png.resolve()) and len(entry.inputs[0]["sha256"]) == 64
    assert entry.urls and entry.urls[0].startswith(server.origin)
    assert entry.saved_files == [str(Path(saved).resolve())]
    assert entry.files[0]["sha256"] is not None and entry.may_be_billed == 1


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_the_ledger_is_private_and_never_holds_the_key(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    expect(cli("edit", str(png), "-p", "x"))
    path = ledger_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for part in path.parent.iterdir():
        assert KEY.encode() not in part.read_bytes()
        assert KEY[-12:].encode() not in part.read_bytes()


def test_a_failure_is_recorded_with_its_exit_code_and_billing(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(status=500, json={"error": {"message": "upstream 无可用渠道"}}))
    expect(cli("edit", str(png), "-p", "x"), 5)
    (entry,) = entries()
    assert (entry.status, entry.exit_code, entry.may_be_billed) == ("failed", 5, 1)
    assert "无可用渠道" in (entry.error or "")


@pytest.mark.parametrize("how", ["config", "env"])
def test_the_ledger_can_be_turned_off(cli: Cli, server: FakeDMX, png: Path, how: str) -> None:
    env = {}
    if how == "config":
        assert run_in_process(["config", "set", "history", "off"]).code == 0
    else:
        env["DMXEDIT_NO_HISTORY"] = "1"
    expect(cli("edit", str(png), "-p", "x", env=env))
    assert not ledger_file().exists()
    run = cli("history", env=env)
    assert run.code == 2 and "turned off" in run.stderr


def test_commands_that_send_nothing_do_not_open_the_ledger(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    for args in (["ratios"], ["config", "list"], ["edit", str(png), "-p", "x", "--dry-run"]):
        assert cli(*args).code == 0
    assert not ledger_file().exists()


# -- history --------------------------------------------------------------------------------


def test_history_lists_newest_first_with_filters(cli: Cli, server: FakeDMX, png: Path) -> None:
    expect(cli("edit", str(png), "-p", "a red fox"))
    server.script(EDITS, Reply(status=400, json={"error": {"message": "refused"}}))
    expect(cli("edit", str(png), "-p", "a blue whale"), 4)
    expect(cli("generate", "-p", "a green frog", "--ratio", "16:9"))
    lines = expect(cli("history")).stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["3", "2", "1"]
    assert "generate" in lines[0] and "16:9" in lines[0] and "a green frog" in lines[0]
    assert "failed" in lines[1]
    assert "saved" in lines[2] and "edited_" in lines[2]
    assert expect(cli("history", "--limit", "1")).stdout.splitlines() == lines[:1]
    assert [ln.split()[0] for ln in cli("history", "--failed").stdout.splitlines()] == ["2"]
    assert [ln.split()[0] for ln in cli("history", "--grep", "fox").stdout.splitlines()] == ["1"]
    assert cli("history", "--grep", "%").stdout == ""  # LIKE's wildcards are plain text
    assert len(cli("history", "--since", "1d").stdout.splitlines()) == 3
    assert cli("history", "--since", "2999-01-01").stdout == ""
    assert cli("history", "--since", "yesterday-ish").code == 2
    listed = json.loads(expect(cli("history", "--json")).stdout)
    assert [e["id"] for e in listed] == [3, 2, 1] and listed[1]["exit_code"] == 4


def test_history_show_and_file_provenance(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    (saved,) = expect(cli("edit", str(png), "-p", "the one")).stdout.split()
    shown = json.loads(expect(cli("history", "show", "1", "--json")).stdout)
    assert shown["prompt"] == "the one" and shown["urls"]
    text = expect(cli("history", "show", "1")).stdout
    assert "the one" in text and shown["urls"][0] in text
    assert cli("history", "show", "9").code == 2
    found = expect(cli("history", "--file", saved, "--json")).stdout
    assert json.loads(found)["id"] == 1
    moved = tmp_path / "elsewhere.png"
    shutil.move(saved, moved)  # found again by its SHA-256
    assert json.loads(expect(cli("history", "--file", str(moved), "--json")).stdout)["id"] == 1
    other = tmp_path / "other.png"
    other.write_bytes(make_png(3, 3, filler=9))
    assert cli("history", "--file", str(other)).code == 2


# -- @last and @N ---------------------------------------------------------------------------


def test_at_last_and_at_n_edit_the_saved_results(cli: Cli, server: FakeDMX, png: Path) -> None:
    (first,) = expect(cli("edit", str(png), "-p", "one")).stdout.split()
    dry = expect(cli("edit", "@last", "-p", "now at night", "--dry-run")).stdout
    assert f"image = @{Path(first).resolve()}" in dry
    expect(cli("edit", "@last", "-p", "now at night"))
    (post,) = server.posts()[1:]
    assert post.images[0].size == len(PNG_BYTES)  # the saved result went up, not photo.png
    expect(cli("edit", "@1", "-p", "again"))
    assert server.posts()[2].images[0].size == len(PNG_BYTES)
    Path(first).unlink()
    run = cli("edit", "@1", "-p", "gone")
    assert run.code == 2 and "entry 1" in run.stderr
    assert cli("edit", "@77", "-p", "x").code == 2
    assert len(server.posts()) == 3


# -- interrupts of a single edit, at every stage, by every signal ----------------------------

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL]


def _spawn(server: FakeDMX, cwd: Path, *args: str, base_url: str | None = None) -> Any:
    return start(server, cwd, *args, base_url=base_url)


def _stop(proc: Any, sig: int) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=15)
    return proc.returncode, out.decode(), err.decode()


def _expected_code(sig: int) -> int:
    return -signal.SIGKILL if sig == signal.SIGKILL else 130


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_interrupt_while_the_model_works(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, sig: int
) -> None:
    server.script(EDITS, Reply(delay=60))
    proc = _spawn(server, tmp_path, "edit", str(png), "-p", "x")
    wait_until(lambda: len(server.posts()) == 1 and server.posts()[0].complete)
    wait_until(lambda: ledger_file().exists() and entries()[0].status == "sent")
    code, out, err = _stop(proc, sig)
    assert code == _expected_code(sig), err
    if sig != signal.SIGKILL:
        assert "may have been billed" in err and "Traceback" not in err
    (entry,) = entries()
    assert entry.may_be_billed == 1 and entry.status in ("interrupted", "sent")
    assert partial_files(tmp_path) == []
    recovered = expect(cli("recover"))
    assert "may have been billed" in recovered.stderr and "nothing to download" in recovered.stderr
    assert len(server.posts()) == 1


def _slow_download(server: FakeDMX) -> tuple[str, bytes]:
    big = make_big_png(3 * 1024 * 1024)
    url = server.add_file("slow.png", big)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script(
        "/files/slow.png", Reply(body=big, chunked=True, chunk_size=8192, chunk_pause=0.05)
    )
    return url, big


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_interrupt_during_the_download_keeps_the_paid_result(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, sig: int
) -> None:
    url, big = _slow_download(server)
    proc = _spawn(server, tmp_path, "edit", str(png), "-p", "x")
    wait_until(
        lambda: (
            partial_files(tmp_path / "output") != [] if (tmp_path / "output").exists() else False
        )
    )
    code, out, err = _stop(proc, sig)
    assert code == _expected_code(sig), err
    if sig != signal.SIGKILL:
        assert out.split() == [url]  # the URL of the paid result, on standard output
        assert url in err and "Traceback" not in err
        assert partial_files(tmp_path) == []
    (entry,) = entries()
    assert entry.urls == [url] and entry.files is None
    # recover fetches it into the intended folder, and nothing is generated again.
    recovered = expect(cli("recover"))
    (path,) = recovered.stdout.split()
    assert Path(path).parent == tmp_path / "output" and Path(path).read_bytes() == big
    assert len(server.posts()) == 1
    assert entries()[0].status == "saved"
    assert expect(cli("recover")).stdout == ""  # nothing left


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", SIGNALS[:3], ids=lambda s: signal.Signals(s).name)
def test_interrupt_while_a_b64_answer_streams_in(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, sig: int
) -> None:
    data = make_big_png(2_000_000)
    server.script(
        EDITS,
        Reply(json=server.b64_result(data), chunked=True, chunk_size=50_000, chunk_pause=0.1),
    )
    proc = _spawn(server, tmp_path, "edit", str(png), "-p", "x", "--format", "b64_json", "--json")
    wait_until(lambda: any(p.stat().st_size > 0 for p in partial_files(tmp_path)))
    code, out, err = _stop(proc, sig)
    assert code == 130, err
    error = json.loads(out)["error"]  # --json prints its error object
    assert error["exit_code"] == 130 and error["may_be_billed"] is True
    assert partial_files(tmp_path) == []
    assert entries()[0].status == "interrupted"


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_interrupt_during_the_upload_was_not_billed(
    cli: Cli, png: Path, server: FakeDMX, tmp_path: Path, sig: int
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(make_big_png(40 * 1024 * 1024))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    base = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    proc = _spawn(server, tmp_path, "edit", str(big), "-p", "x", base_url=base)
    try:
        listener.settimeout(20)
        conn, _ = listener.accept()
        conn.recv(65536)  # a little of the body, then the upload stalls
        code, out, err = _stop(proc, sig)
        conn.close()
    finally:
        listener.close()
    assert code == _expected_code(sig), err
    if sig != signal.SIGKILL:
        assert "nothing was billed" in err
    (entry,) = entries()
    assert entry.may_be_billed in (0, None)  # the body never all went out
    assert entry.status == ("created" if sig == signal.SIGKILL else "interrupted")
    assert partial_files(tmp_path) == []
    assert "sent without an answer" not in expect(cli("recover")).stderr


# -- the batch's results file -------------------------------------------------------------------


_jobs = jobs_file


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().decode().splitlines() if line.strip()]


@pytest.mark.parametrize(
    "torn",
    [b'{"id": "j1", "status": "fai', '{"id": "j1", "error": "无可用'.encode()[:-1]],
    ids=["ascii", "mid-character"],
)
def test_a_torn_last_line_is_ignored_and_the_next_starts_on_its_own(
    cli: Cli, server: FakeDMX, tmp_path: Path, torn: bytes
) -> None:
    jobs = _jobs(tmp_path, 2)
    log = jobs.with_name("jobs.results.jsonl")
    expect(cli("batch", str(jobs)))
    kept = [line for line in log.read_bytes().splitlines(keepends=True) if b'"j0"' in line]
    log.write_bytes(b"".join(kept) + torn)  # j1's lines lost, a fragment at the end
    run = expect(cli("batch", str(jobs)))
    assert "1 already done" in run.stderr
    raw = log.read_bytes()
    assert torn not in raw  # the fragment is cut off before appending (valid JSON Lines)
    lines = raw.split(b"\n")
    assert all(json.loads(line.decode("utf-8")) for line in lines if line)
    assert [p.fields["prompt"] for p in server.posts()].count("job-1") == 2


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_second_batch_on_the_same_results_file_is_refused(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 2)
    server.default_delay = 30
    proc = _spawn(server, tmp_path, "batch", str(jobs), "--concurrency", "1")
    try:
        wait_until(lambda: len(server.posts()) == 1)
        run = cli("batch", str(jobs))
        assert run.code == 2 and "Another dmxedit batch" in run.stderr, run.output
        assert len(server.posts()) == 1
    finally:
        proc.kill()
        proc.communicate(timeout=15)
    server.default_delay = 0
    # Its process is gone: so is the lock (the job it had sent is held back, not resent).
    run = cli("batch", str(jobs))
    assert run.code == 7 and "hold back 1 job" in run.stderr, run.output


def test_a_possibly_billed_failure_is_held_back_like_a_single_edit(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 3)
    server.on_request = lambda r: Reply(status=502) if r.fields.get("prompt") == "job-1" else None
    first = cli("batch", str(jobs))
    assert first.code == 7 and "hold back 1 job that may have been billed" in first.stderr
    (failed,) = [r for r in _lines(jobs.with_name("jobs.results.jsonl")) if r["status"] == "failed"]
    assert failed["id"] == "j1" and failed["may_be_billed"] is True
    server.on_request = None
    again = cli("batch", str(jobs))
    assert again.code == 7, again.output
    assert [p.fields["prompt"] for p in server.posts()].count("job-1") == 1
    expect(cli("batch", str(jobs), "--resend-unknown"))
    assert [p.fields["prompt"] for p in server.posts()].count("job-1") == 2


def test_the_closing_message_says_what_a_re_run_will_do(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 3)
    dead = server.add_file("dead.png", PNG_BYTES)
    server.script("/files/dead.png", *[Reply(status=500)] * 4)

    def hook(recorded: Any) -> Reply | None:
        prompt = recorded.fields.get("prompt")
        if prompt == "job-0":
            return Reply(json={"data": [{"url": dead}]})
        if prompt == "job-2":
            return Reply(status=400, json={"error": {"message": "no"}})
        return None

    server.on_request = hook
    run = cli("batch", str(jobs))
    assert run.code == 7
    assert "send 1 job that failed or did not start" in run.stderr
    assert "download 1 paid result without generating it again" in run.stderr
    server.on_request = None
    again = expect(cli("batch", str(jobs)))
    assert "sending 1, downloading 1 already paid" in again.stderr
    assert len(again.stdout.split()) == 2
    assert len(server.posts()) == 4


def test_batch_jobs_are_in_the_ledger_with_their_results_file(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 2)
    expect(cli("batch", str(jobs)))
    found = entries()
    assert sorted(e.job_id or "" for e in found) == ["j0", "j1"]
    assert {e.results_file for e in found} == {str(jobs.with_name("jobs.results.jsonl"))}
    assert all(e.status == "saved" for e in found)


# -- found in review ------------------------------------------------------------------------


def test_a_paid_b64_job_that_could_not_be_saved_is_never_generated_again(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 1)
    server.script(EDITS, Reply(json=server.b64_result(b"not an image at all")))
    first = cli("batch", str(jobs), "--format", "b64_json")
    assert first.code == 7 and "hold back 1 job" in first.stderr, first.output
    again = cli("batch", str(jobs), "--format", "b64_json")
    assert again.code == 7 and len(server.posts()) == 1, again.output


def test_a_batch_re_run_that_downloads_marks_the_ledger_entry_saved(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 1)
    url = server.add_file("later.png", PNG_BYTES)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/later.png", *[Reply(status=404)])
    assert cli("batch", str(jobs)).code == 7
    (saved,) = expect(cli("batch", str(jobs))).stdout.split()
    (entry,) = entries()
    assert entry.status == "saved" and entry.saved_files == [str(Path(saved).resolve())]
    assert expect(cli("recover")).stdout == ""  # nothing left to fetch twice


def test_recover_fetches_the_unsaved_part_of_a_multi_image_result(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    first = server.add_file("a.png", PNG_BYTES)
    second = server.add_file("b.png", PNG_BYTES)
    server.script(EDITS, Reply(json={"data": [{"url": first}, {"url": second}]}))
    server.script("/files/b.png", Reply(status=404))
    run = cli("edit", str(png), "-p", "x")
    assert run.code == 6 and second in run.stdout
    (path,) = expect(cli("recover")).stdout.split()
    assert Path(path).read_bytes() == PNG_BYTES
    (entry,) = entries()
    assert entry.status == "saved" and len(entry.saved_files) == 2
    assert all(f["sha256"] for f in entry.files)
    assert [g.path for g in server.gets()].count("/files/a.png") == 1


def test_recover_says_when_a_b64_result_was_not_kept(cli: Cli, server: FakeDMX, png: Path) -> None:
    book = Ledger(ledger_file())
    gone = book.create(kind="edit", status="failed", data_paths=["/nonexistent/x.part"])
    book.close()
    run = cli("recover", "--json")
    assert run.code == 6 and "was not kept" in run.stderr
    assert json.loads(run.stdout)["recovered"][0]["lost"] == ["/nonexistent/x.part"]
    assert entries()[0].id == gone and expect(cli("recover")).stdout == ""


def test_each_resolves_at_last(cli: Cli, server: FakeDMX, png: Path) -> None:
    expect(cli("edit", str(png), "-p", "one"))
    expect(cli("edit", "--each", "@last", "-p", "two"))
    assert len(server.posts()) == 2 and server.posts()[1].images[0].size == len(PNG_BYTES)


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_the_results_lock_holds_through_a_symlink(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 2)
    log = jobs.with_name("jobs.results.jsonl")
    link = tmp_path / "link.jsonl"
    log.touch()
    link.symlink_to(log)
    server.default_delay = 30
    proc = _spawn(server, tmp_path, "batch", str(jobs), "--concurrency", "1")
    try:
        wait_until(lambda: len(server.posts()) == 1)
        run = cli("batch", str(jobs), "--results", str(link))
        assert run.code == 2 and "Another dmxedit batch" in run.stderr, run.output
    finally:
        proc.kill()
        proc.communicate(timeout=15)


def test_a_dry_run_with_at_last_makes_no_ledger(png: Path) -> None:
    run = run_in_process(["edit", "@last", "-p", "x", "--dry-run"])
    assert run.code == 2 and "no result yet" in run.stderr
    assert not ledger_file().exists()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_after_a_first_ctrl_c_the_message_counts_jobs_not_started(
    server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 5)
    server.default_delay = 0.5
    proc = _spawn(server, tmp_path, "batch", str(jobs), "--concurrency", "1", "--json")
    wait_until(lambda: len(server.posts()) == 1)
    code, out, err = _stop(proc, signal.SIGINT)
    assert code == 130, err
    summary = json.loads(out)
    assert summary["ok"] == 1 and summary["retry"] == 4, summary
    assert "send 4 jobs that failed or did not start" in err


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
