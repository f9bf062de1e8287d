"""Receipts (issue 12, point 1): every saved image's format and pixel size are read from
its bytes and compared with what was asked; a difference is a warning and is recorded in
--json, the metadata sidecar, the ledger and the batch results line. Exit code stays 0.

The fake server answers deliberately wrong sizes and formats.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from fakeserver import EDITS, GENERATIONS, JPEG_BYTES, WEBP_BYTES, FakeDMX, Reply
from helpers import Cli, expect

from dmxedit.media import receipt

pytestmark = pytest.mark.e2e


def png_of(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (no pixel data: the receipt reads headers)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def answer_with(server: FakeDMX, data: bytes, path: str = EDITS) -> None:
    server.script(path, Reply(json=server.url_result(data)))


def test_a_4k_request_answered_at_1k_warns_naming_both_sizes_and_exits_0(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    answer_with(server, png_of(1376, 768))
    run = expect(
        cli("edit", str(png), "-p", "x", "-r", "16:9", "-s", "4K", "--json"),
        0,
        "asked 4K 16:9 (5504x3072), got 1376x768",
    )
    out = json.loads(run.stdout)
    assert out["delivered"] == [{"format": "png", "width": 1376, "height": 768}]
    assert out["mismatch"] == ["asked 4K 16:9 (5504x3072), got 1376x768"]
    assert Path(out["files"][0]).is_file()  # paid, so saved all the same


def test_a_delivery_that_matches_is_recorded_without_a_warning(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    answer_with(server, png_of(5504, 3072))
    run = expect(cli("edit", str(png), "-p", "x", "-r", "16:9", "-s", "4K", "--json"))
    out = json.loads(run.stdout)
    assert out["delivered"] == [{"format": "png", "width": 5504, "height": 3072}]
    assert out["mismatch"] == []
    assert "asked" not in run.stderr


@pytest.mark.parametrize(
    ("args", "size", "expected"),
    [
        (["-s", "2K"], (1024, 1024), "asked 2K, got 1024x1024"),  # a 1K size for 2K
        (["-r", "16:9"], (1024, 1024), "asked 16:9, got 1024x1024"),  # the wrong shape
        (["-r", "16:9"], (2752, 1536), None),  # 16:9 at some size: what was asked
        (["-s", "1K"], (768, 1376), None),  # 9:16 at 1K
        ([], (333, 222), None),  # nothing asked, nothing to compare
    ],
)
def test_size_or_ratio_alone_is_compared_with_what_it_allows(
    cli: Cli,
    server: FakeDMX,
    png: Path,
    args: list[str],
    size: tuple[int, int],
    expected: str | None,
) -> None:
    answer_with(server, png_of(*size))
    out = json.loads(expect(cli("edit", str(png), "-p", "x", *args, "--json")).stdout)
    assert out["mismatch"] == ([expected] if expected else [])


def test_jpeg_bytes_when_png_was_asked_are_saved_as_jpg_and_reported(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    answer_with(server, JPEG_BYTES)
    run = expect(
        cli("edit", str(png), "-p", "x", "--param", "output_format=png", "--json"),
        0,
        "asked for PNG, got JPEG",
    )
    out = json.loads(run.stdout)
    assert out["files"][0].endswith(".jpg")
    assert out["delivered"] == [{"format": "jpeg", "width": 2, "height": 1}]


def test_webp_dimensions_are_read_and_another_model_is_not_compared(
    cli: Cli, server: FakeDMX
) -> None:
    answer_with(server, WEBP_BYTES, GENERATIONS)
    run = expect(cli("generate", "-p", "x", "-m", "other-model", "-s", "4K", "--json"))
    out = json.loads(run.stdout)
    assert out["delivered"] == [{"format": "webp", "width": 3, "height": 2}]
    assert out["mismatch"] == []  # no size table for that model: nothing to compare


def test_the_sidecar_and_the_ledger_record_the_receipt(
    cli: Cli, server: FakeDMX, png: Path
) -> None:
    answer_with(server, png_of(1376, 768))
    out = json.loads(
        expect(
            cli("edit", str(png), "-p", "x", "-r", "16:9", "-s", "4K", "--save-metadata", "--json")
        ).stdout
    )
    meta = json.loads(Path(out["metadata_files"][0]).read_text())
    assert meta["delivered"] == {"format": "png", "width": 1376, "height": 768}
    assert meta["mismatch"] == ["asked 4K 16:9 (5504x3072), got 1376x768"]
    entry = json.loads(expect(cli("history", "show", "1", "--json")).stdout)
    assert entry["mismatch"] == ["asked 4K 16:9 (5504x3072), got 1376x768"]
    assert entry["files"][0]["delivered"] == {"format": "png", "width": 1376, "height": 768}


def test_an_image_written_to_stdout_is_measured_too(cli: Cli, server: FakeDMX, png: Path) -> None:
    answer_with(server, png_of(1376, 768))
    run = expect(
        cli("edit", str(png), "-p", "x", "-s", "4K", "-o", "-"), 0, "asked 4K, got 1376x768"
    )
    assert run.stdout_bytes.startswith(b"\x89PNG")


def test_the_batch_results_line_records_the_receipt(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(png_of(40, 30))
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"id": "a", "images": ["a.png"], "prompt": "x", "ratio": "16:9", "size": "4K"})
        + "\n"
    )
    answer_with(server, png_of(1376, 768))
    expect(cli("batch", str(jobs)), 0, "asked 4K 16:9 (5504x3072), got 1376x768")
    lines = [json.loads(x) for x in (tmp_path / "jobs.results.jsonl").read_text().splitlines()]
    final = lines[-1]
    assert final["status"] == "ok"
    assert final["delivered"] == [{"format": "png", "width": 1376, "height": 768}]
    assert final["mismatch"] == ["asked 4K 16:9 (5504x3072), got 1376x768"]
    # what the report and a redo need: the job as written and what it resolved to
    assert final["job"] == {
        "id": "a",
        "images": ["a.png"],
        "prompt": "x",
        "ratio": "16:9",
        "size": "4K",
    }
    assert final["jobs_file"] == str(jobs.resolve())
    assert final["images"] == [str((tmp_path / "a.png").resolve())]
    assert (final["prompt"], final["model"], final["ratio"], final["size"]) == (
        "x",
        "nano-banana-2",
        "16:9",
        "4K",
    )


def test_a_result_downloaded_again_on_a_rerun_gets_its_receipt(
    cli: Cli, server: FakeDMX, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(png_of(40, 30))
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"id": "a", "images": ["a.png"], "prompt": "x", "size": "2K"}))
    url = server.add_file("late.png", png_of(1024, 1024))
    server.script(EDITS, Reply(json={"data": [{"url": url}]}))
    server.script("/files/late.png", Reply(status=404, json={"error": {"message": "gone"}}))
    expect(cli("batch", str(jobs), "--retries", "0"), 7)
    expect(cli("batch", str(jobs)), 0, "asked 2K, got 1024x1024")
    final = json.loads((tmp_path / "jobs.results.jsonl").read_text().splitlines()[-1])
    assert final["status"] == "ok" and final["mismatch"] == ["asked 2K, got 1024x1024"]
    assert len(server.posts(EDITS)) == 1  # downloaded again, not generated again


def test_mismatch_rules_directly() -> None:
    got = {"format": "png", "width": 2752, "height": 1536}
    assert receipt.mismatches(receipt.expect("nano-banana-2", "16:9", "2K", ()), got) == []
    assert receipt.mismatches(receipt.expect("nano-banana-2", "16:9", "4K", ()), got) == [
        "asked 4K 16:9 (5504x3072), got 2752x1536"
    ]
    assert receipt.mismatches(
        receipt.expect("nano-banana-2", "16:9", "2K", [("output_format", "webp")]), got
    ) == ["asked for WEBP, got PNG"]
    unknown = {"format": "png", "width": None, "height": None}
    assert receipt.mismatches(receipt.expect("nano-banana-2", "16:9", "2K", ()), unknown) == []
