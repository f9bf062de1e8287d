"""--name TEMPLATE and --variants N (issue 12, points 3 and 4)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from fakeserver import (
    EDITS,
    GENERATIONS,
    JPEG_BYTES,
    PNG_BYTES,
    WEBP_BYTES,
    FakeDMX,
    Recorded,
    Reply,
    make_png,
)
from helpers import Cli, Run, expect, finished

from dmxedit.core.errors import InputError
from dmxedit.store.names import Naming, render

pytestmark = pytest.mark.e2e


def names(run: Run) -> list[str]:
    return [Path(p).name for p in run.stdout.split()]


# -- --name ----------------------------------------------------------------------------


def test_a_template_names_the_file_and_the_bytes_give_the_extension(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    server.script(EDITS, Reply(json=server.url_result(JPEG_BYTES)))
    run = expect(
        cli(
            "edit",
            str(png),
            "-p",
            "x",
            "-r",
            "5:4",
            "-s",
            "4k",
            "--name",
            "{stem}_{ratio}_{size}_{model}_{variant}_{i:02d}",
        )
    )
    assert names(run) == ["photo_5x4_4K_nano-banana-2_1_01.jpg"]


def test_ts_is_the_time_stamp_and_a_taken_name_gets_a_suffix_never_replaced(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "photo.png").write_bytes(b"mine")
    run = expect(cli("edit", str(png), "-p", "x", "--name", "{stem}"))
    assert names(run) == ["photo-2.png"]
    assert (tmp_path / "output" / "photo.png").read_bytes() == b"mine"
    (name,) = names(expect(cli("edit", str(png), "-p", "x", "--name", "at-{ts}")))
    stamp = name[len("at-") : -len(".png")]
    assert len(stamp) == 15 and stamp[8] == "_" and stamp.replace("_", "").isdigit()


def test_generate_has_no_input_so_stem_is_generated(cli: Cli, server: FakeDMX) -> None:
    assert names(expect(cli("generate", "-p", "x", "--name", "{stem}-{i}"))) == ["generated-1.png"]


@pytest.mark.parametrize(
    ("template", "phrase"),
    [
        ("sub/{stem}", "path separator"),
        ("..", "'..'"),
        ("{stem}..x", "'..'"),
        ("a\\b", "path separator"),
        ("{nope}", "{nope}, which is not a name field"),
        ("{stem", "is not valid"),
        ("{id}", "only batch jobs have"),
        ("{id:>8}", "only batch jobs have"),
        ("", "an empty name"),
        ("x" * 300, "longer than"),
        ("{stem.upper}", "no attributes"),
    ],
)
def test_a_bad_template_is_exit_2_before_anything_is_sent(
    cli: Cli, server: FakeDMX, png: Path, template: str, phrase: str
) -> None:
    expect(cli("edit", str(png), "-p", "x", "--name", template), 2, phrase)
    assert server.posts() == []


def test_a_bad_template_is_reported_with_the_other_problems(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    run = expect(cli("edit", str(png), "-p", "x", "-r", "7:3", "--name", "a/b"), 2, "7:3")
    assert "a/b" not in run.stderr or server.posts() == []  # the ratio is named first
    assert server.posts() == []


def test_name_with_stdout_output_is_refused(cli: Cli, server: FakeDMX, png: Path) -> None:
    expect(cli("edit", str(png), "-p", "x", "-o", "-", "--name", "x"), 2, "--name")
    assert server.posts() == []


def test_batch_jobs_take_a_name_key_and_the_command_name_with_id(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(make_png(10, 10))
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"id": "first", "images": ["a.png"], "prompt": "x"})
        + "\n"
        + json.dumps({"id": "second", "images": ["a.png"], "prompt": "y", "name": "own-{stem}"})
        + "\n"
    )
    run = expect(cli("batch", str(jobs), "--name", "{id}-{stem}"))
    assert sorted(names(run)) == ["first-a.png", "own-a.png"]


def test_a_job_whose_name_is_bad_is_named_by_line_and_nothing_is_sent(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(make_png(10, 10))
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"id": "ok", "images": ["a.png"], "prompt": "x"})
        + "\n"
        + json.dumps({"id": "bad", "images": ["a.png"], "prompt": "y", "name": "../{id}"})
        + "\n"
    )
    expect(cli("batch", str(jobs)), 2, "line 2", "'..'")
    assert server.posts() == []


def test_each_names_each_result_after_its_input(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    for stem in ("red", "blue"):
        (tmp_path / f"{stem}.png").write_bytes(make_png(10, 10, filler=len(stem)))
    run = expect(
        cli(
            "edit",
            "--each",
            str(tmp_path / "red.png"),
            str(tmp_path / "blue.png"),
            "-p",
            "x",
            "--name",
            "{stem}-edited",
        )
    )
    assert sorted(names(run)) == ["blue-edited.png", "red-edited.png"]


def test_render_and_naming_directly() -> None:
    assert render("{stem}_{i:03d}", {"stem": "a", "i": 7}) == "a_007"
    assert render("{{literal}}-{stem}", {"stem": "a"}) == "{literal}-a"
    with pytest.raises(InputError):
        render("\x01{stem}", {"stem": "a"})
    naming = Naming.make("edited", None, inputs=[], ratio=None, size=None, model="m")
    assert naming.stem("TS", 2) == "edited_TS_2"  # the default is unchanged
    variant = Naming.make(
        "edited", None, inputs=[], ratio=None, size=None, model="m", variant=3, variants=4
    )
    assert variant.stem("TS", 1) == "edited_TS_v3"
    assert variant.stem("TS", 2) == "edited_TS_v3_2"


# -- --variants --------------------------------------------------------------------------


def test_variants_send_n_requests_at_once_and_save_n_files(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    together = threading.Barrier(6, timeout=20)

    def all_at_once(recorded: Recorded) -> Reply | None:
        if recorded.method != "POST":
            return None
        try:
            together.wait()  # breaks unless six requests (more than the default 4) are in flight
        except threading.BrokenBarrierError:
            return Reply(status=400, json={"error": {"message": "not concurrent"}})
        return None

    server.on_request = all_at_once
    run = expect(cli("edit", str(png), "-p", "x", "--variants", "6", "-s", "2K"), 0, "6 jobs")
    assert "about 7,260 tokens" in run.stderr  # the estimate is shown before sending
    files = run.stdout.split()
    assert len(files) == 6 and len(set(files)) == 6
    assert sorted(Path(f).name.rsplit("_", 1)[1] for f in files) == [
        f"v{n}.png" for n in range(1, 7)
    ]
    posts = server.posts(EDITS)
    assert len(posts) == 6
    assert {p.images[0].sha256 for p in posts} == {posts[0].images[0].sha256}  # the same edit


def test_generate_variants_with_a_template_and_json_in_order(cli: Cli, server: FakeDMX) -> None:
    run = expect(cli("generate", "-p", "x", "--variants", "2", "--name", "cat-{variant}", "--json"))
    out = json.loads(run.stdout)
    assert [j["variant"] for j in out["jobs"]] == [1, 2]
    assert [Path(j["files"][0]).name for j in out["jobs"]] == ["cat-1.png", "cat-2.png"]
    assert out["ok"] == 2 and len(server.posts(GENERATIONS)) == 2


def test_variants_are_resumable_with_a_results_file(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path
) -> None:
    results = tmp_path / "v.jsonl"
    server.script(
        EDITS,
        Reply(json=server.url_result()),
        Reply(status=400, json={"error": {"message": "refused"}}),
        Reply(json=server.url_result()),
    )
    args = ("edit", str(png), "-p", "x", "--variants", "3", "--results", str(results))
    expect(cli(*args, "--concurrency", "1"), 7)
    assert len(server.posts(EDITS)) == 3
    run = expect(cli(*args))
    assert len(run.stdout.split()) == 1  # only the failed variant ran again
    assert len(server.posts(EDITS)) == 4
    assert len(list((tmp_path / "output").glob("*.png"))) == 3


def test_variants_dry_run_plans_without_sending(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = expect(cli("edit", str(png), "-p", "x", "--variants", "4", "--dry-run"))
    assert "4 jobs" in run.stdout and "4,840 tokens" in run.stdout
    assert server.posts() == []


@pytest.mark.parametrize(
    ("args", "code", "phrase"),
    [
        (["--variants", "17"], 2, "17"),
        (["--variants", "0"], 2, "0"),
        (["--variants", "2", "-o", "-"], 2, "-o - writes one image"),
        (["--concurrency", "2"], 2, "go with --each or --variants"),
        (["--results", "r.jsonl"], 2, "go with --each or --variants"),
    ],
)
def test_meaningless_variant_combinations_are_refused(
    cli: Cli, server: FakeDMX, png: Path, args: list[str], code: int, phrase: str
) -> None:
    expect(cli("edit", str(png), "-p", "x", *args), code, phrase)
    assert server.posts() == []


def test_each_with_variants_runs_every_image_n_times(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.png").write_bytes(make_png(10, 10, filler=ord(stem)))
    run = expect(
        cli(
            "edit",
            "--each",
            str(tmp_path / "a.png"),
            str(tmp_path / "b.png"),
            "-p",
            "x",
            "--variants",
            "2",
            "--name",
            "{stem}-{variant}",
        )
    )
    assert sorted(names(run)) == ["a-1.png", "a-2.png", "b-1.png", "b-2.png"]
    assert os.path.isdir(tmp_path / "output")


def test_a_model_with_a_slash_gives_one_file_name(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = expect(cli("edit", str(png), "-p", "x", "-m", "org/model-1", "--name", "{model}_{i}"))
    assert names(run) == ["org_model-1_1.png"]


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


@pytest.mark.parametrize(
    ("data", "ext"), [(PNG_BYTES, "png"), (JPEG_BYTES, "jpg"), (WEBP_BYTES, "webp")]
)
def test_names_come_from_the_stamp_and_the_bytes(tmp_path: Path, data: bytes, ext: str) -> None:
    assert finished(tmp_path, data).name == f"edited_20260101_000000_1.{ext}"
    assert finished(tmp_path, data, prefix="generated").name == f"generated_20260101_000000_1.{ext}"
