"""Batch jobs for every model of the table (SPEC 12 "Batch jobs", "Counts"): a job's
model and options as keys, checked per job against its own model before anything is
sent; the command's options as defaults; mixed models end to end; results lines that
record the model, the options and the N files of a count job."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from fakeserver import EDITS, GENERATIONS, FakeDMX, Recorded, Reply, make_png
from helpers import Cli, expect, read_records

pytestmark = pytest.mark.e2e

SEEDREAM = "doubao-seedream-4-5-251128"


def write_jobs(path: Path, jobs: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(j) + "\n" for j in jobs), encoding="utf-8")
    return path


def body_of(post: Recorded) -> dict[str, Any]:
    """A request's fields: the JSON body's, or the multipart form's."""
    return dict(post.json) if not post.parts else dict(post.fields)


def answer_by_model(server: FakeDMX) -> None:
    """Answer each image request with as many images as it asked (``n`` or Seedream's
    ``max_images``), b64 for gpt-image, URLs otherwise, with a usage of each model's shape."""

    def reply(recorded: Recorded) -> Reply | None:
        if recorded.method != "POST" or recorded.path not in (EDITS, GENERATIONS):
            return None
        body = body_of(recorded)
        model = str(body.get("model"))
        count = int(body.get("n") or 1)
        options = body.get("sequential_image_generation_options") or {}
        count = int(options.get("max_images") or count)
        png = make_png(1536, 1024) if model.startswith("gpt-image") else make_png(16, 16)
        if model.startswith("gpt-image"):
            data = [{"b64_json": base64.b64encode(png).decode()} for _ in range(count)]
            usage: dict[str, Any] = {"input_tokens": 10, "output_tokens": 90, "total_tokens": 100}
        else:
            data = [server.url_result(png)["data"][0] for _ in range(count)]
            usage = {
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "total_tokens": 16464,
                "output_tokens": 16464,
            }
        return Reply(json={"created": 1, "data": data, "usage": usage})

    server.on_request = reply


def rgba_png(width: int, height: int) -> bytes:
    """A PNG with an alpha channel (colour type 6): a mask."""
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    pixels = zlib.compress((b"\x00" + b"\x00\x00\x00\x00" * width) * height)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def final(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in read_records(path) if r["status"] in ("ok", "failed")}


def test_a_mixed_models_jobs_file_runs_end_to_end(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "a.png").write_bytes(make_png(40, 30))
    jobs = write_jobs(
        folder / "jobs.jsonl",
        [
            {"id": "nb", "images": ["a.png"], "prompt": "p-nb", "ratio": "16:9", "size": "2K"},
            {
                "id": "gpt",
                "prompt": "p-gpt",
                "model": "gpt-image-2",
                "size": "1536x1024",
                "quality": "high",
                "image_format": "jpeg",
                "compression": 80,
                "count": 2,
            },
            {
                "id": "sd",
                "images": ["a.png"],
                "prompt": "p-sd",
                "model": SEEDREAM,
                "size": "2K",
                "count": 3,
            },
        ],
    )
    answer_by_model(server)
    run = expect(cli("batch", str(jobs)))
    sent = {body_of(p)["prompt"]: (p, body_of(p)) for p in server.posts()}
    assert set(sent) == {"p-nb", "p-gpt", "p-sd"}
    post, gpt = sent["p-gpt"]
    assert post.path == GENERATIONS
    assert gpt["model"] == "gpt-image-2" and gpt["quality"] == "high" and gpt["n"] == 2
    assert gpt["output_format"] == "jpeg" and gpt["output_compression"] == 80
    post, sd = sent["p-sd"]
    assert post.path == GENERATIONS and sd["model"] == SEEDREAM  # Seedream edits generate
    assert sd["sequential_image_generation_options"] == {"max_images": 3}
    assert sd["image"][0].startswith("data:image/png;base64,")
    post, nb = sent["p-nb"]
    assert post.path == EDITS and nb["aspect_ratio"] == "16:9" and nb["size"] == "2K"

    out = final(folder / "jobs.results.jsonl")
    assert {k: v["status"] for k, v in out.items()} == {"nb": "ok", "gpt": "ok", "sd": "ok"}
    assert out["gpt"]["model"] == "gpt-image-2"
    assert out["gpt"]["options"] == {
        "quality": "high",
        "image_format": "jpeg",
        "compression": 80,
        "count": 2,
    }
    assert len(out["gpt"]["files"]) == 2 and len(out["sd"]["files"]) == 3  # N files
    assert all(Path(f).is_file() for r in out.values() for f in r["files"])
    assert out["sd"]["options"] == {"count": 3}
    assert "options" not in out["nb"]  # nano-banana-2 takes none
    # the answer's own usage, whatever its shape
    assert out["sd"]["usage"]["output_tokens"] == 16464
    assert out["gpt"]["usage"]["total_tokens"] == 100
    assert len(run.stdout.split()) == 6


def test_every_problem_of_every_job_is_named_with_its_line_and_nothing_is_sent(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(make_png(40, 30))
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"prompt": "fine", "model": "gpt-image-2", "quality": "low"},
            {"prompt": "p2", "quality": "high"},  # nano-banana-2 takes no --quality
            {"prompt": "p3", "model": "gpt-image-2", "quality": "best", "count": 11},
            {"prompt": "p4", "model": SEEDREAM, "search": True},
            {"prompt": "p5", "images": ["a.png"], "model": "gpt-image-2", "mask": "nope.png"},
            {"prompt": "p6", "model": "gpt-image-2", "count": "2"},
        ],
    )
    run = expect(cli("batch", str(jobs)), 2)
    err = run.stderr
    assert "line 2: nano-banana-2 takes no --quality" in err
    assert "line 3: --quality 'best'" in err and "line 3: --count 11" in err
    assert f"line 4: {SEEDREAM} takes no --search" in err
    assert "line 5:" in err and "nope.png" in err
    assert "line 6: count must be a whole number" in err
    assert "line 1" not in err
    assert server.posts() == []


def test_command_line_options_are_defaults_and_a_jobs_key_wins(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": "a", "prompt": "pa"},
            {"id": "b", "prompt": "pb", "quality": "low", "count": 2},
            {"id": "c", "prompt": "pc", "model": SEEDREAM, "quality": None},  # null: unset
        ],
    )
    answer_by_model(server)
    expect(cli("batch", str(jobs), "-m", "gpt-image-2", "--quality", "high"))
    sent = {body_of(p)["prompt"]: body_of(p) for p in server.posts()}
    assert sent["pa"]["quality"] == "high" and sent["pa"]["n"] == 1
    assert sent["pb"]["quality"] == "low" and sent["pb"]["n"] == 2
    assert "quality" not in sent["pc"] and sent["pc"]["model"] == SEEDREAM


def test_a_jobs_mask_is_relative_to_the_jobs_file(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "a.png").write_bytes(make_png(32, 32))
    (folder / "m.png").write_bytes(rgba_png(32, 32))
    jobs = write_jobs(
        folder / "jobs.jsonl",
        [{"images": ["a.png"], "prompt": "masked", "model": "gpt-image-2", "mask": "m.png"}],
    )
    answer_by_model(server)
    expect(cli("batch", str(jobs)))
    (post,) = server.posts()
    masks = [p for p in post.parts if p.name == "mask"]
    assert masks and masks[0].data == (folder / "m.png").read_bytes()
    (record,) = final(folder / "jobs.results.jsonl").values()
    assert record["options"]["mask"] == str((folder / "m.png").resolve())


def test_each_and_variants_carry_the_options(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(make_png(40, 30))
    b.write_bytes(make_png(30, 40, filler=1))
    answer_by_model(server)
    expect(
        cli("edit", "--each", str(a), str(b), "-p", "e", "-m", "gpt-image-2", "--quality", "low")
    )
    expect(cli("generate", "--variants", "2", "-p", "v", "-m", SEEDREAM, "--count", "2"))
    each = [body_of(p) for p in server.posts() if body_of(p)["prompt"] == "e"]
    assert [f["quality"] for f in each] == ["low", "low"]
    variants = [body_of(p) for p in server.posts() if body_of(p)["prompt"] == "v"]
    assert len(variants) == 2
    assert all(v["sequential_image_generation_options"] == {"max_images": 2} for v in variants)


def test_gemini_door_jobs_take_search_and_their_own_ratios(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    jobs = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"prompt": "g", "model": "gemini-3.1-flash-image", "ratio": "8:1", "search": True},
            {"prompt": "u", "model": "my-new-image-model", "api": "gemini", "search": True},
            {"prompt": "x", "model": "gemini-3.1-flash-lite-image", "search": True},
        ],
    )
    run = expect(cli("batch", str(jobs), "--dry-run"), 2)
    assert "line 3: gemini-3.1-flash-lite-image takes no --search" in run.stderr
    assert "line 1" not in run.stderr and "line 2" not in run.stderr
    write_jobs(jobs, read_records(jobs)[:2])
    run = expect(cli("batch", str(jobs), "--dry-run"))
    assert "about 1,120 tokens, plus 1 job of unknown tokens" in run.stdout
    assert server.posts() == []
