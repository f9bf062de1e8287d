"""Behaviours the redesign (issue 9) protects: each test names what it keeps true.

Some were mutations of the code that survived the old suite (point 6), the others the
small defects found in the same read (point 7).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import responses
from conftest import (
    KEY,
    Run,
    close_pipes,
    expect,
    jobs_file,
    partial_files,
    run_in_process,
    start,
    wait_until,
)
from fakeserver import EDITS, GENERATIONS, PNG_BYTES, FakeDMX, Reply, make_png

from dmxedit.api.client import Client
from dmxedit.api.request import build_request
from dmxedit.api.retry import Pacer, Policy
from dmxedit.batch import jobs as batch_module
from dmxedit.core.events import Events
from dmxedit.core.settings import Settings
from dmxedit.core.temporaries import Temporaries
from dmxedit.media.images import load_images
from dmxedit.store.results import Blob, Saver, write_metadata

Cli = Callable[..., Run]


def _blob(folder: Path, data: bytes = PNG_BYTES) -> Blob:
    blob = Blob(folder, Temporaries())
    blob.write(data)
    return blob


# -- saving never replaces a file ---------------------------------------------------------


def test_a_file_appearing_under_the_chosen_name_before_the_link_is_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = Saver(folder=tmp_path, prefix="edited", stamp="20260101_000000")
    real_link = os.link

    def racing_link(src: str, dst: Any) -> None:
        # Someone else creates the very name dmxedit is about to take (once).
        if Path(dst).name == "edited_20260101_000000_1.png":
            Path(dst).write_bytes(b"theirs")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    saved = saver.finish(_blob(tmp_path))
    assert (tmp_path / "edited_20260101_000000_1.png").read_bytes() == b"theirs"
    assert saved.path == tmp_path / "edited_20260101_000000_1-2.png"
    assert saved.path.read_bytes() == PNG_BYTES
    assert partial_files(tmp_path) == []


def test_without_hard_links_a_name_that_appears_is_not_replaced_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "edited_20260101_000000_1.png").write_bytes(b"theirs")

    def no_links(src: str, dst: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    saved = Saver(folder=tmp_path, stamp="20260101_000000").finish(_blob(tmp_path))
    assert (tmp_path / "edited_20260101_000000_1.png").read_bytes() == b"theirs"
    assert saved.path is not None and saved.path.read_bytes() == PNG_BYTES
    # Metadata too works there (it lost the image's path with exit 1 before).
    meta = write_metadata(saved.path, {"a": 1}, Temporaries())
    assert meta == saved.path.with_name(saved.path.name + ".json")
    assert write_metadata(saved.path, {"a": 2}, Temporaries()) is None
    assert json.loads(meta.read_text()) == {"a": 1}
    assert partial_files(tmp_path) == []


def test_metadata_without_hard_links_end_to_end(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: str, dst: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    run = expect(cli("edit", str(png), "-p", "x", "--save-metadata"))
    (saved,) = run.stdout.split()
    assert Path(saved).read_bytes() == PNG_BYTES
    assert json.loads(Path(saved + ".json").read_text())["prompt"] == "x"


def test_temporaries_made_after_an_interrupt_are_removed_at_once(tmp_path: Path) -> None:
    temporaries = Temporaries()
    first = Blob(tmp_path, temporaries)
    temporaries.remove_all()
    late = Blob(tmp_path, temporaries)  # a worker still finishing its download
    late.write(PNG_BYTES)
    assert not Path(first.path).exists() and not Path(late.path).exists()
    assert partial_files(tmp_path) == []


# -- the shared pause -----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_429_seen_by_one_client_pauses_another_sharing_the_pause(tmp_path: Path) -> None:
    clock = Clock()
    base = "https://api.example.test/v1"
    image = tmp_path / "in.png"
    image.write_bytes(make_png(8, 8))
    request = build_request(
        "edit", Settings(base_url=base), prompt="x", images=load_images([str(image)])
    )
    posted_at: dict[str, float] = {}
    other: list[Client] = []

    class Shared(Pacer):
        def pause(self, seconds: float) -> None:
            super().pause(seconds)
            # While the first client holds off, the second one starts its request.
            assert other[0].send(request, lambda: _blob(tmp_path, b"")) is not None

    pacer = Shared(sleep=clock.sleep, clock=clock)
    first = Client(api_key=KEY, policy=Policy(retries=1), pacer=pacer)
    other.append(Client(api_key=KEY, pacer=pacer))
    first.events = Events()

    def answer(req: Any) -> tuple[int, dict[str, str], str]:
        who = "first" if "first" not in posted_at else "second"
        posted_at.setdefault(who, clock.now)
        if who == "first" and len(posted_at) == 1:
            return 429, {"Retry-After": "7"}, "{}"
        return 200, {}, json.dumps({"data": [{"url": "https://cdn.example.test/a.png"}]})

    with responses.RequestsMock() as mocked:
        mocked.add_callback(responses.POST, base + "/images/edits", callback=answer)
        first.send(request, lambda: _blob(tmp_path, b""))
    assert posted_at["first"] == 0.0
    assert posted_at["second"] >= 7.0  # it waited for the pause the 429 asked for


# -- batches: interrupts and kills ----------------------------------------------------------


_jobs = jobs_file


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.e2e
def test_a_batch_killed_after_a_request_went_out_does_not_resend_it(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 3)
    log = jobs.with_name("jobs.results.jsonl")
    server.on_request = lambda r: Reply(delay=60) if r.fields.get("prompt") == "job-1" else None
    proc = start(server, tmp_path, "batch", str(jobs), "--concurrency", "1")
    posts = server.posts
    wait_until(lambda: any(p.fields.get("prompt") == "job-1" and p.complete for p in posts()))
    wait_until(lambda: any(r.get("id") == "j1" for r in _records(log)) if log.exists() else False)
    proc.kill()
    proc.wait(timeout=10)
    close_pipes(proc)
    sent = [{k: r[k] for k in ("id", "line", "status")} for r in _records(log)]
    assert {"id": "j1", "line": 2, "status": "sent"} in sent
    server.on_request = None
    run = cli("batch", str(jobs), "--concurrency", "1")
    assert run.code == 7, run.output
    assert "--resend-unknown" in run.stderr
    prompts = [p.fields.get("prompt") for p in server.posts()]
    assert prompts.count("job-1") == 1  # not paid twice
    assert prompts.count("job-0") == 1 and prompts.count("job-2") == 1


def _batch_process(server: FakeDMX, tmp_path: Path, *args: str) -> tuple[Any, Path]:
    """A batch as a real process, its stderr going to a file the test can watch."""
    err = tmp_path / "stderr.txt"
    with open(err, "wb") as sink:
        proc = start(server, tmp_path, "batch", *args, stderr=sink)
    return proc, err


def _slow_results(server: FakeDMX, count: int) -> tuple[list[str], bytes]:
    big = PNG_BYTES + os.urandom(2 * 1024 * 1024)
    urls = [server.add_file(f"slow{i}.png", big) for i in range(count)]
    server.script(EDITS, *[Reply(json={"data": [{"url": url}]}) for url in urls])
    for i in range(count):
        server.script(
            f"/files/slow{i}.png", Reply(body=big, chunked=True, chunk_size=8192, chunk_pause=0.05)
        )
    return urls, big


@pytest.mark.e2e
def test_a_second_ctrl_c_abandons_a_batch_download_and_leaves_no_temporary_file(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 2)
    urls, big = _slow_results(server, 2)
    output = tmp_path / "output"
    proc, err = _batch_process(server, tmp_path, str(jobs), "--concurrency", "2")
    wait_until(lambda: output.exists() and len(partial_files(output)) == 2)
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: "Ctrl-C again" in err.read_text())
    assert proc.poll() is None  # the first Ctrl-C lets the running jobs finish
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130, err.read_text()
    assert "abandoned" in err.read_text()
    assert partial_files(tmp_path) == []
    # Both answers arrived before the interrupt: their URLs are in the results file, and a
    # re-run downloads them without paying again.
    log = jobs.with_name("jobs.results.jsonl")
    answered = {r["id"]: r["urls"] for r in _records(log) if r["status"] == "answered"}
    assert sorted(u for found in answered.values() for u in found) == sorted(urls)
    for i in range(2):
        server.script(f"/files/slow{i}.png", Reply(body=big))
    run = expect(cli("batch", str(jobs)))
    assert len(server.posts()) == 2
    assert "downloading 2 already paid" in run.stderr
    assert sorted(Path(p).read_bytes() == big for p in run.stdout.split()) == [True, True]


@pytest.mark.e2e
def test_a_first_ctrl_c_lets_running_jobs_finish_and_starts_no_new_one(
    server: FakeDMX, tmp_path: Path
) -> None:
    jobs = _jobs(tmp_path, 4)
    server.default_delay = 0.5
    proc, err = _batch_process(server, tmp_path, str(jobs), "--concurrency", "1")
    wait_until(lambda: len(server.posts()) == 1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130, err.read_text()
    text = err.read_text()
    assert "1 running job will finish and save (it is paid for)" in text
    assert len(server.posts()) == 1  # nothing new started after the Ctrl-C
    log = jobs.with_name("jobs.results.jsonl")
    assert [r["id"] for r in _records(log) if r["status"] == "ok"] == ["j0"]
    assert len(out.split()) == 1 and Path(tmp_path, out.split()[0].decode()).is_file()
    assert partial_files(tmp_path) == []


# -- small defects (point 7) ----------------------------------------------------------------


def test_config_output_outside_the_bmp_stays_parsable() -> None:
    assert run_in_process(["config", "set", "output", "pics-😀"]).code == 0
    listed = run_in_process(["config", "list", "--json"])
    assert listed.code == 0, listed.output
    assert json.loads(listed.stdout)["settings"]["output"]["value"] == "pics-😀"


@pytest.mark.parametrize("value", ["²:1", "1:²", "٣:٤", "wide", "0:1", "5:"])
def test_bad_ratios_are_exit_2_on_the_command_line_and_in_config(png: Path, value: str) -> None:
    run = run_in_process(["edit", str(png), "-p", "x", "--ratio", value, "--dry-run"])
    assert run.code == 2, run.output
    assert "Traceback" not in run.stderr and "ratio" in run.stderr.lower()
    stored = run_in_process(["config", "set", "ratio", value])
    assert stored.code == 2, stored.output


def test_config_ratio_auto_and_w_h_are_accepted() -> None:
    assert run_in_process(["config", "set", "ratio", "auto"]).code == 0
    assert run_in_process(["config", "set", "ratio", " 16:9 "]).code == 0
    assert run_in_process(["config", "get", "ratio"]).stdout == "16:9\n"


def test_batch_without_a_key_creates_no_folder(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, 1)
    run = run_in_process(["batch", str(jobs), "-o", str(tmp_path / "made")])
    assert run.code == 3, run.output
    assert not (tmp_path / "made").exists()


def test_help_before_the_command_shows_that_commands_help() -> None:
    run = run_in_process(["--help", "ratios"])
    assert run.code == 0 and "Usage: dmxedit ratios" in run.stdout


def test_each_batch_job_is_built_once(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    real = batch_module.load_images  # type: ignore[attr-defined]

    def counting(args: list[str], *rest: Any, **given: Any) -> Any:
        calls.append(args)
        return real(args, *rest, **given)

    monkeypatch.setattr(batch_module, "load_images", counting)
    expect(cli("batch", str(_jobs(tmp_path, 3))))
    assert len(calls) == 3


def test_a_bug_inside_a_batch_job_is_exit_1_not_a_failed_job(
    cli: Cli, server: FakeDMX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dmxedit.engine import pipeline

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(pipeline, "execute", broken)
    jobs = _jobs(tmp_path, 2)
    run = cli("batch", str(jobs), "--concurrency", "1")
    assert run.code == 1, run.output
    assert "ZeroDivisionError" in run.stderr and "bug" in run.stderr
    assert "Traceback" not in run.stderr
    failed = [r for r in _records(jobs.with_name("jobs.results.jsonl")) if r["status"] == "failed"]
    assert failed and failed[0]["exit_code"] == 1
    debug = cli("batch", str(jobs), env={"DMXEDIT_DEBUG": "1"})
    assert debug.code == 1 and "Traceback" in debug.stderr


@pytest.mark.parametrize(
    ("raw", "sent"),
    [
        ("007", "007"),
        ("1_000", "1_000"),
        ("7", 7),
        ("-3", -3),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("0x10", "0x10"),
        ("+1", "+1"),
        (" 8 ", 8),
        ("nan", "nan"),
        ("Infinity", "Infinity"),
        ("true", True),
        ("False", False),
    ],
)
def test_generate_params_are_numbers_only_in_json_syntax(
    cli: Cli, server: FakeDMX, raw: str, sent: Any
) -> None:
    expect(cli("generate", "-p", "x", "--param", f"seed={raw}"))
    (post,) = server.posts(GENERATIONS)
    assert post.json["seed"] == sent and type(post.json["seed"]) is type(sent)


def _fifteen(tmp_path: Path) -> list[str]:
    paths = []
    for i in range(15):
        path = tmp_path / f"m{i}.png"
        path.write_bytes(make_png(8, 8, filler=i))
        paths.append(str(path))
    return paths


def test_more_than_14_images_is_warned_about_by_the_library(
    server: FakeDMX, tmp_path: Path
) -> None:
    from dmxedit import edit_image

    warned: list[str] = []

    class Seen(Events):
        def warn(self, message: str) -> None:
            warned.append(message)

    edit_image(_fifteen(tmp_path), "x", api_key=KEY, base_url=server.base_url, events=Seen())
    assert any("15 images" in w and "says 14" in w for w in warned)


def test_more_than_14_images_is_warned_about_in_a_batch(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = tmp_path / "many.jsonl"
    jobs.write_text(json.dumps({"images": _fifteen(tmp_path), "prompt": "x"}) + "\n")
    run = expect(cli("batch", str(jobs)))
    assert "15 images" in run.stderr and "says 14" in run.stderr


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_the_config_folder_mode_is_corrected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dmxedit.core.settings import default_config_path

    monkeypatch.delenv("DMXEDIT_CONFIG")
    folder = default_config_path().parent
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    assert str(folder).startswith(str(tmp_path))
    assert run_in_process(["config", "set", "model", "m"]).code == 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "config.toml").stat().st_mode) == 0o600


def test_a_folder_named_by_dmxedit_config_keeps_its_mode(tmp_path: Path) -> None:
    folder = Path(os.environ["DMXEDIT_CONFIG"]).parent
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    assert run_in_process(["config", "set", "model", "m"]).code == 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_in_process_runs_share_no_state(cli: Cli, server: FakeDMX, png: Path) -> None:
    # --json in one run must not leak into the next (the old module-global state did).
    failing = cli("edit", str(png), "-p", "x", "--json", "--ratio", "7:3")
    assert failing.code == 2 and json.loads(failing.stdout)["error"]["exit_code"] == 2
    plain = cli("edit", str(png), "-p", "x", "--ratio", "7:3")
    assert plain.code == 2 and plain.stdout == ""


@pytest.mark.skipif(os.name != "posix", reason="process ids")
def test_a_killed_runs_temporary_files_are_removed_by_the_next_run_not_a_live_ones(
    tmp_path: Path,
) -> None:
    from dmxedit.store.results import _host

    host = _host()

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".dmxedit-{dead.pid}.{host}-abc.part"
    live = tmp_path / f".dmxedit-{os.getpid()}.{host}-def.part"
    elsewhere = tmp_path / f".dmxedit-{dead.pid}.00000000-ghi.part"
    for path in (stale, live, elsewhere):
        path.write_bytes(b"x")
    Saver(folder=tmp_path).prepare()
    assert not stale.exists()
    assert live.exists() and elsewhere.exists()  # a running run's, another machine's
