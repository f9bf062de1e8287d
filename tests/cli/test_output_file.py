"""`-o NAME.png` saves the one result as exactly that file (issue 21, point 15; SPEC 2's
`-o` row), and a batch job's `output` key does the same for its job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakeserver import JPEG_BYTES, PNG_BYTES, FakeDMX, Recorded, Reply, make_png
from helpers import KEY, Cli, expect

from dmxedit import edit_image
from dmxedit.api.client import DOWNLOAD_ATTEMPTS
from dmxedit.core.errors import InputError

EDITS = "/v1/images/edits"


def test_the_one_result_is_saved_as_that_file(cli: Cli, server: FakeDMX, png: Path) -> None:
    run = expect(cli("edit", str(png), "-p", "x", "-o", "final.png"))
    assert run.stdout.strip() == "final.png"
    assert Path("final.png").is_file() and Path("final.png").read_bytes() == PNG_BYTES
    assert not Path("output").exists()


def test_its_folder_is_made_and_json_and_metadata_name_it(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    run = expect(cli("edit", str(png), "-p", "x", "-o", "shots/a.PNG", "--json", "--save-metadata"))
    out = json.loads(run.stdout)
    assert out["files"] == [str(Path("shots") / "a.PNG")]
    assert Path("shots/a.PNG").read_bytes() == PNG_BYTES
    assert Path("shots/a.PNG.json").is_file()


def test_generate_takes_it_too(cli: Cli, server: FakeDMX) -> None:
    expect(cli("generate", "-p", "x", "-o", "g.webp"), 0, "not what the name g.webp says")
    assert Path("g.webp").read_bytes() == PNG_BYTES  # saved under the name, as asked


def test_bytes_of_another_format_get_a_warning(cli: Cli, server: FakeDMX, png: Path) -> None:
    server.result = JPEG_BYTES
    run = expect(cli("edit", str(png), "-p", "x", "-o", "shot.png"), 0, "the image is JPEG")
    assert run.stdout.strip() == "shot.png"
    assert Path("shot.png").read_bytes() == JPEG_BYTES
    quiet = expect(cli("edit", str(png), "-p", "x", "-o", "shot.jpeg"))
    assert "the image is" not in quiet.stderr  # .jpeg is JPEG


def test_an_existing_file_is_refused_before_sending(cli: Cli, server: FakeDMX, png: Path) -> None:
    Path("taken.png").write_bytes(b"mine")
    expect(cli("edit", str(png), "-p", "x", "-o", "taken.png"), 2, "exists", "never replaces")
    expect(cli("edit", str(png), "-p", "x", "-o", "taken.png", "--dry-run"), 2, "exists")
    assert Path("taken.png").read_bytes() == b"mine"
    assert server.requests == []


def test_an_existing_folder_with_such_a_name_is_a_folder(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    Path("album.png").mkdir()
    run = expect(cli("edit", str(png), "-p", "x", "-o", "album.png"))
    assert Path(run.stdout.strip()).parent == Path("album.png")


@pytest.mark.parametrize(
    "extra",
    [["--variants", "2"], ["--each"], ["--name", "n{i}"]],
    ids=["variants", "each", "name"],
)
def test_several_results_or_a_name_are_refused(
    cli: Cli, server: FakeDMX, png: Path, tmp_path: Path, extra: list[str]
) -> None:
    other = tmp_path / "b.png"
    other.write_bytes(make_png(5, 5))
    expect(cli("edit", str(png), str(other), "-p", "x", "-o", "one.png", *extra), 2)
    assert server.requests == [] and not Path("one.png").exists()


def test_a_name_taken_meanwhile_is_kept_and_the_result_saved_beside_it(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    def squat(recorded: Recorded) -> Reply | None:
        if recorded.path == EDITS:
            Path("late.png").write_bytes(b"someone else's")
        return None

    server.on_request = squat
    run = expect(cli("edit", str(png), "-p", "x", "-o", "late.png"), 0, "appeared")
    assert run.stdout.strip() == "late-2.png"
    assert Path("late.png").read_bytes() == b"someone else's"
    assert Path("late-2.png").read_bytes() == PNG_BYTES


def test_recover_saves_it_under_that_name(cli: Cli, server: FakeDMX, png: Path) -> None:
    url = server.add_file("r.png", PNG_BYTES)
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/r.png", *[Reply(status=500)] * DOWNLOAD_ATTEMPTS)
    expect(cli("edit", str(png), "-p", "x", "-o", "kept/wanted.png"), 6)
    run = expect(cli("recover"))
    assert Path(run.stdout.strip()) == Path("kept/wanted.png").resolve()


def test_the_library_takes_a_file_name(
    server: FakeDMX, png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DMXAPI_BASE_URL", server.base_url)
    result = edit_image([png], "x", output=tmp_path / "lib.png", api_key=KEY)
    assert result.files == [tmp_path / "lib.png"]
    with pytest.raises(InputError, match="exists"):
        edit_image([png], "x", output=tmp_path / "lib.png", api_key=KEY)


# -- batch ------------------------------------------------------------------------------


def _jobs(folder: Path, jobs: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(len(jobs)):
        (folder / f"i{i}.png").write_bytes(make_png(10 + i, 8, filler=i))
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs), encoding="utf-8")
    return path


def test_a_jobs_output_file_is_that_jobs_file(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    jobs = _jobs(
        folder,
        [
            {"id": "a", "images": ["i0.png"], "prompt": "x", "output": "out/front.png"},
            {"id": "b", "images": ["i1.png"], "prompt": "y", "output": "out"},
        ],
    )
    expect(cli("batch", str(jobs)))
    assert (folder / "out" / "front.png").read_bytes() == PNG_BYTES
    names = sorted(p.name for p in (folder / "out").iterdir())
    assert len(names) == 2 and names[0].startswith("edited_") and names[1] == "front.png"
    # a re-run skips the done job: its file existing is no error
    expect(cli("batch", str(jobs)))
    assert len(server.posts()) == 2


@pytest.mark.parametrize(
    ("jobs", "phrase"),
    [
        (
            [
                {"id": "a", "images": ["i0.png"], "prompt": "x", "output": "same.png"},
                {"id": "b", "images": ["i1.png"], "prompt": "y", "output": "same.png"},
            ],
            "line 2: output 'same.png' is line 1's output too",
        ),
        (
            [{"id": "a", "images": ["i0.png"], "prompt": "x", "output": "i0.png"}],
            "line 1: output 'i0.png' exists",
        ),
        (
            [{"id": "a", "images": ["i0.png"], "prompt": "x", "output": "o.png", "name": "n"}],
            "names the file already",
        ),
    ],
    ids=["shared", "exists", "name"],
)
def test_job_output_files_are_checked_before_sending(
    cli: Cli, server: FakeDMX, tmp_path: Path, jobs: list[dict[str, Any]], phrase: str
) -> None:
    path = _jobs(tmp_path / "proj", jobs)
    expect(cli("batch", str(path)), 2, phrase)
    assert server.requests == []


def test_batch_o_with_a_file_name_is_refused(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    path = _jobs(tmp_path / "proj", [{"id": "a", "images": ["i0.png"], "prompt": "x"}])
    expect(cli("batch", str(path), "-o", "all.png"), 2, "names one file", "output key")
    assert server.requests == []


def test_an_answer_with_two_images_keeps_both(cli: Cli, server: FakeDMX, png: Path) -> None:
    two = {"data": [{"b64_json": server.b64_result()["data"][0]["b64_json"]}] * 2}
    server.script(EDITS, Reply(json=two))
    run = expect(cli("edit", str(png), "-p", "x", "-o", "pair.png"), 0, "held several images")
    assert run.stdout.split() == ["pair.png", "pair-2.png"]
