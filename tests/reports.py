"""Results files and images for the report's tests (test_report, test_report_browser)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fakeserver import make_png

EVIL = '</script><img src=x onerror="window.pwned=1"> & "quotes" <b>bold</b>'


def write_lines(path: Path, records: list[dict[str, Any] | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def png(path: Path, width: int = 40, height: int = 30, filler: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_png(width, height, filler=filler))
    return path


def demo(tmp: Path, *, new_fields: bool = True) -> Path:
    """A results file as batch writes it: three jobs (ok, ok with a mismatch, failed), a
    progress line and a torn last line; with ``new_fields`` the receipt fields too."""
    folder = tmp / "shoes"
    for i in range(3):
        png(folder / "in" / f"p{i}.png", 30 + i, 20, filler=i)
    png(tmp / "output" / "r0.png", 60, 40)
    png(tmp / "output" / "r1.png", 60, 40, filler=3)
    jobs = [
        {"id": "boot", "images": ["in/p0.png"], "prompt": "on a white background", "size": "2K"},
        {"id": "mug", "images": ["in/p1.png"], "prompt": EVIL, "ratio": "16:9", "size": "4K"},
        {"images": ["in/p2.png"], "prompt": "make it blue"},
    ]
    write_lines(folder / "shoes.jsonl", list(jobs))
    from dmxedit.batch.jobs import job_id

    third = job_id(jobs[2])
    records: list[dict[str, Any] | str] = [
        {"id": "mug", "line": 2, "status": "sent"},
        {
            "id": "boot",
            "line": 1,
            "status": "ok",
            "files": ["output/r0.png"],
            "urls": ["http://127.0.0.1:9/files/r0.png"],
            "error": None,
            "exit_code": 0,
            "elapsed_s": 3.25,
        },
        {
            "id": "mug",
            "line": 2,
            "status": "ok",
            "files": ["output/r1.png"],
            "urls": [],
            "error": None,
            "exit_code": 0,
            "elapsed_s": 4.0,
        },
        {
            "id": third,
            "line": 3,
            "status": "failed",
            "files": [],
            "urls": [],
            "error": "The API refused the request (HTTP 400): bad <prompt>.",
            "exit_code": 4,
        },
        '{"id": "torn", "line": 9, "sta',
    ]
    if new_fields:
        extra = {
            "boot": {
                "size": "2K",
                "ratio": "1:1",
                "delivered": [{"format": "png", "width": 2048, "height": 2048}],
                "mismatch": [],
                "usage": {"total_tokens": 1290},
            },
            "mug": {
                "size": "4K",
                "ratio": "16:9",
                "delivered": [{"format": "jpeg", "width": 1376, "height": 768}],
                "mismatch": ["asked 4K 16:9 (5504x3072), got 1376x768"],
                "usage": {"input_tokens": 90, "output_tokens": 2000},
            },
        }
        for record in records:
            if isinstance(record, dict) and record.get("status") in ("ok", "failed"):
                index = int(record["line"]) - 1
                record.update(
                    job=jobs[index],
                    jobs_file=str((folder / "shoes.jsonl").absolute()),
                    prompt=jobs[index]["prompt"],
                    images=[str((folder / p).absolute()) for p in jobs[index]["images"]],
                    model="nano-banana-2",
                    **extra.get(str(record["id"]), {}),
                )
    return write_lines(folder / "shoes.results.jsonl", records)
