"""Make docs/report.png, the README's picture of `dmxedit report`.

    python scripts/report_screenshot.py            # writes docs/report.png
    python scripts/report_screenshot.py --keep DIR # and keeps the demo batch in DIR

It builds a small demo batch (product photos drawn with Pillow, a results file as
`dmxedit batch` writes it: two good results, one size mismatch, one failure), renders
the report with dmxedit itself and photographs it in headless Chromium (selenium and
Debian's chromium / chromium-driver, as the browser tests use).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "report.png"

PRODUCTS = [  # (id, colour of the product, background, prompt, outcome)
    ("boot-1", (120, 72, 40), (200, 200, 200), "on a plain white background, soft shadow", "ok"),
    ("mug-2", (200, 40, 40), (150, 170, 190), "make the mug blue, keep the logo", "mismatch"),
    ("lamp-3", (230, 190, 60), (90, 90, 100), "studio light, 4K product shot", "failed"),
    ("bag-4", (40, 90, 60), (210, 190, 160), "on a wooden table by a window", "ok"),
]


def _photo(
    path: Path,
    colour: tuple[int, int, int],
    background: tuple[int, int, int],
    size: tuple[int, int],
    shape: int,
) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    w, h = size
    box = (w * 0.3, h * 0.25, w * 0.7, h * 0.8)
    if shape % 2:
        draw.ellipse(box, fill=colour)
    else:
        draw.rounded_rectangle(box, radius=int(w * 0.05), fill=colour)
    draw.ellipse((w * 0.3, h * 0.78, w * 0.7, h * 0.86), fill=tuple(c // 2 for c in background))
    image.save(path)


def demo(folder: Path) -> Path:
    """The demo batch in ``folder``; returns its results file."""
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    (folder / "output").mkdir(exist_ok=True)
    jobs, records = [], []
    for n, (job_id, colour, background, prompt, outcome) in enumerate(PRODUCTS, 1):
        source = folder / "photos" / f"{job_id}.jpg"
        _photo(source, colour, (235, 235, 235) if n % 2 else background, (640, 480), n)
        job = {"id": job_id, "images": [f"photos/{job_id}.jpg"], "prompt": prompt, "size": "2K"}
        jobs.append(job)
        record: dict[str, Any] = {
            "id": job_id,
            "line": n,
            "job": job,
            "prompt": prompt,
            "ratio": "4:3",
            "size": "2K",
            "images": [str(source)],
            "model": "nano-banana-2",
            "jobs_file": str(folder / "photos.jsonl"),
        }
        if outcome == "failed":
            record.update(
                status="failed",
                files=[],
                urls=[],
                exit_code=4,
                usage=None,
                error="The API refused the request (HTTP 400): the prompt was flagged.",
            )
        else:
            result = folder / "output" / f"edited_{job_id}.png"
            shown = (1376, 768) if outcome == "mismatch" else (2400, 1792)
            _photo(
                result,
                (40, 90, 200) if outcome == "mismatch" else colour,  # the mug made blue
                (250, 250, 250),
                (shown[0] // 4, shown[1] // 4),
                n + 1,
            )
            record.update(
                status="ok",
                files=[str(result)],
                urls=[],
                error=None,
                exit_code=0,
                elapsed_s=21.4 + n,
                usage={"total_tokens": 1290},
                delivered=[{"format": "png", "width": shown[0], "height": shown[1]}],
                mismatch=["asked 4:3 2K (2400x1792), got 1376x768"]
                if outcome == "mismatch"
                else [],
            )
        records.append(record)
    (folder / "photos.jsonl").write_text("".join(json.dumps(j) + "\n" for j in jobs))
    results = folder / "photos.results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records))
    return results


def shoot(page: Path, out: Path, width: int = 1200, height: int = 1000) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    driver_path = shutil.which("chromedriver")
    service = Service(driver_path) if driver_path else Service()
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.get(page.absolute().as_uri())
        driver.execute_script(
            "localStorage.clear();"
            "document.querySelectorAll('.redo-box')[1].click();"  # one job marked for redo
            "document.querySelectorAll('.redo-box')[2].click();"
        )
        body = driver.find_element("tag name", "body")
        body.send_keys("k")  # the keyboard: back to the job with the size mismatch
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="Keep the demo batch in this folder.")
    parser.add_argument("-o", "--output", type=Path, default=OUT, help="The PNG to write.")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from dmxedit.report import page as report

    with tempfile.TemporaryDirectory() as temp:
        folder = (args.keep or Path(temp) / "demo").absolute()
        results = demo(folder)
        page = folder / "photos.report.html"
        here = Path.cwd()
        os.chdir(folder)  # the results file named as a user would: photos.results.jsonl
        try:
            found = report.read_results([Path(results.name)], cwd=folder)
        finally:
            os.chdir(here)
        text = report.render(found, folder=folder, export_name="photos.redo.jsonl", now=1796025600)
        report.write_page(text, page)
        shoot(page, args.output)
    from PIL import Image

    with Image.open(args.output) as image:  # keep the repository small: a palette PNG
        image.convert("RGB").quantize(colors=128).save(args.output, optimize=True)
    print(f"{args.output} ({args.output.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
