"""--count N (SPEC 12): one request, N files numbered {i}, one ledger entry with N files;
--variants N stays N requests; one-file outputs refuse several results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakeserver import EDITS, GENERATIONS, FakeDMX
from helpers import Cli, expect, ledger_rows

GPT2, SD45 = "gpt-image-2", "doubao-seedream-4-5-251128"


def test_gpt_image_count_is_one_request_and_n_files(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    run = expect(
        cli(
            "generate", "-p", "x", "-m", GPT2, "-n", "3", "--ratio", "3:2",
            "--image-format", "jpeg", "--name", "cat_{i}", "--json",
        ),
        0,
    )  # fmt: skip
    out = json.loads(run.stdout)
    assert out["files"] == ["output/cat_1.jpg", "output/cat_2.jpg", "output/cat_3.jpg"]
    assert all((tmp_path / f).is_file() for f in out["files"])
    (post,) = server.posts(GENERATIONS)
    assert post.json["n"] == 3 and post.json["size"] == "1536x1024"
    assert out["mismatch"] == [] and [d["format"] for d in out["delivered"]] == ["jpeg"] * 3
    (entry,) = ledger_rows(tmp_path)
    assert len(json.loads(entry["files"])) == 3


def test_seedream_count_asks_for_a_series_and_saves_what_comes(
    cli: Cli, server: FakeDMX, tmp_path: Path, png: Path
) -> None:
    run = expect(
        cli("edit", str(png), "-p", "x", "-m", SD45, "--count", "2", "--size", "2K", "--json"), 0
    )
    out = json.loads(run.stdout)
    assert len(out["files"]) == 2 and len(out["urls"]) == 2
    assert [Path(f).name.rsplit("_", 1)[1] for f in out["files"]] == ["1.jpg", "2.jpg"]
    (post,) = server.posts(GENERATIONS)
    assert post.json["sequential_image_generation_options"] == {"max_images": 2}
    assert server.posts(EDITS) == []
    assert out["usage"]["total_tokens"] == 2 * 16464
    assert len(ledger_rows(tmp_path)) == 1


def test_variants_stay_n_requests(cli: Cli, server: FakeDMX) -> None:
    expect(cli("generate", "-p", "x", "-m", GPT2, "--variants", "2"), 0)
    assert len(server.posts(GENERATIONS)) == 2


@pytest.mark.parametrize(
    ("output", "said"),
    [("one.png", "names one file, and --count 2 makes several"), ("-", "-o - writes one image")],
)
def test_one_file_outputs_refuse_a_count(cli: Cli, server: FakeDMX, output: str, said: str) -> None:
    expect(cli("generate", "-p", "x", "-m", GPT2, "-n", "2", "-o", output), 2, said)
    assert server.requests == []


def test_one_file_outputs_take_a_count_of_one(cli: Cli, server: FakeDMX, tmp_path: Path) -> None:
    expect(cli("generate", "-p", "x", "-m", GPT2, "-n", "1", "-o", "one.png"), 0)
    assert (tmp_path / "one.png").is_file()
